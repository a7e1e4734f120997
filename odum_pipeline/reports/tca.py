"""Transaction cost analysis (TCA) of a backtest run: the run folder and the market data it is measured
against. Dagster-free.

A report-mode run's ``parents.parquet`` / ``orders.parquet`` / ``fills.parquet`` / ``timeline.parquet``
give the parents (:mod:`.parents`); the NautilusTrader catalog gives the market (book snapshots give
the mid, trades give the market's volume and VWAP); :mod:`.costs` computes every figure (its module
docstring defines them). :func:`write_tca` stores the per-parent table as ``tca.parquet`` and the
aggregate as the ``tca`` section of ``summary.json``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from odum_pipeline.backtests.run_folder import SUMMARY_FILE, TCA_FILE, read_run
from odum_pipeline.catalog.market_data import Market, load_market
from odum_pipeline.files import atomic_write
from odum_pipeline.reports.costs import MARKOUT_SECS, MIN_INTERVAL_SECS, NS, TCA_VERSION, TcaResult, compute_tca
from odum_pipeline.reports.parents import parents_from_results, recorded_parents

#: Market data loaded before the first arrival (to know the mid at arrival) and after the last fill.
LOOKBACK_NS = 120 * NS


# --- a run's report directory --------------------------------------------------------------------


def run_tca(report_dir: str | Path, catalog_root: str | Path, **kwargs) -> TcaResult:
    """TCA of one report-mode run against the catalog's market data (nothing written)."""
    run = read_run(report_dir)
    fills = run["fills"]
    window_end_ns = _window_end_ns(run["summary"])
    if len(run["parents"]):
        parents = recorded_parents(run["parents"], window_end_ns)
    else:  # runs written before parents.parquet existed
        parents = parents_from_results(run["orders"], run["timeline"], fills)
        parents["end_ns"] = window_end_ns if window_end_ns is not None else parents["arrival_ns"]
    instrument_id = run["summary"]["instrument"]["instrument_id"]
    kwargs.setdefault("inverse", _is_inverse(run["summary"]))
    if parents.empty:
        return compute_tca(parents, fills, Market.from_arrays([], []), **kwargs)
    times = [int(parents["arrival_ns"].min()), int(parents["arrival_ns"].max()), int(parents["end_ns"].max())]
    if len(fills):
        times += [int(fills["ts_event"].min()), int(fills["ts_event"].max())]
    horizon = max(kwargs.get("markout_secs", MARKOUT_SECS), default=0)
    start = min(times) - LOOKBACK_NS
    end = max(times) + int((max(horizon, kwargs.get("min_interval_secs", MIN_INTERVAL_SECS)) + 1) * NS)
    market = load_market(catalog_root, instrument_id, start, end)
    return compute_tca(parents, fills, market, **kwargs)


def _is_inverse(summary: dict[str, Any]) -> bool:
    from odum_pipeline.instruments.registry import UnknownInstrumentError, resolve

    try:
        return bool(resolve((summary.get("instrument") or {}).get("key", "")).is_inverse)
    except UnknownInstrumentError:
        return False


def _window_end_ns(summary: dict[str, Any]) -> int | None:
    end = (summary.get("window") or {}).get("end")
    return int(pd.Timestamp(end).value) if end else None


def has_current_tca(report_dir: str | Path) -> bool:
    report_dir = Path(report_dir)
    try:
        summary = json.loads((report_dir / SUMMARY_FILE).read_text())
    except (OSError, ValueError):
        return False
    return (summary.get("tca") or {}).get("version") == TCA_VERSION and (report_dir / TCA_FILE).is_file()


def write_tca(report_dir: str | Path, catalog_root: str | Path, **kwargs) -> TcaResult:
    """Compute the run's TCA, write ``tca.parquet`` (per parent) and a ``tca`` section into its
    ``summary.json`` (both written to a temporary file and renamed: readers never see half a file)."""
    report_dir = Path(report_dir)
    result = run_tca(report_dir, catalog_root, **kwargs)
    table = pa.Table.from_pandas(result.per_parent, preserve_index=False)
    atomic_write(report_dir / TCA_FILE, lambda temporary: pq.write_table(table, temporary))
    summary_path = report_dir / SUMMARY_FILE
    summary = json.loads(summary_path.read_text())
    summary["tca"] = {**result.aggregate, "catalog": str(catalog_root)}
    atomic_write(summary_path, json.dumps(summary, indent=2, sort_keys=True, default=str))
    return result


def read_tca(report_dir: str | Path) -> pd.DataFrame:
    return pq.read_table(Path(report_dir) / TCA_FILE).to_pandas()
