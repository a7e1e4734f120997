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
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from odum_pipeline.reports.costs import MARKOUT_SECS, MIN_INTERVAL_SECS, NS, TCA_VERSION, TcaResult, compute_tca
from odum_pipeline.reports.parents import parents_from_results, recorded_parents

TCA_FILE = "tca.parquet"
SUMMARY_FILE = "summary.json"
#: Market data loaded before the first arrival (to know the mid at arrival) and after the last fill.
LOOKBACK_NS = 120 * NS


# --- market data ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Market:
    """Market data on sorted ``ts_init`` axes: book mids and trades."""

    book_ts: np.ndarray  # int64 ns, sorted
    mid: np.ndarray  # float
    trade_ts: np.ndarray  # int64 ns, sorted
    trade_px: np.ndarray
    trade_qty: np.ndarray

    @classmethod
    def from_arrays(cls, book_ts, mid, trade_ts=(), trade_px=(), trade_qty=()) -> Market:
        book_ts, mid = np.asarray(book_ts, dtype=np.int64), np.asarray(mid, dtype=np.float64)
        trade_ts = np.asarray(trade_ts, dtype=np.int64)
        trade_px, trade_qty = np.asarray(trade_px, dtype=np.float64), np.asarray(trade_qty, dtype=np.float64)
        book_order, trade_order = np.argsort(book_ts, kind="stable"), np.argsort(trade_ts, kind="stable")
        return cls(book_ts[book_order], mid[book_order], trade_ts[trade_order], trade_px[trade_order], trade_qty[trade_order])

    def mid_at(self, ts) -> np.ndarray:
        """Mid of the last snapshot received at or before each ``ts`` (NaN before the first)."""
        ts = np.asarray(ts, dtype=np.int64)
        index = np.searchsorted(self.book_ts, ts, side="right") - 1
        out = np.full(ts.shape, np.nan)
        valid = index >= 0
        out[valid] = self.mid[index[valid]]
        return out

    def mid_after(self, ts) -> np.ndarray:
        """``mid_at`` but NaN when ``ts`` lies past the last snapshot (the data ended before it)."""
        ts = np.asarray(ts, dtype=np.int64)
        out = self.mid_at(ts)
        if len(self.book_ts):
            out[ts > self.book_ts[-1]] = np.nan
        else:
            out[:] = np.nan
        return out

    def volume_vwap(self, start, end) -> tuple[np.ndarray, np.ndarray]:
        """Market volume and VWAP of the trades with ``start <= ts_init <= end``, per interval."""
        start, end = np.asarray(start, dtype=np.int64), np.asarray(end, dtype=np.int64)
        # Prices centred on the first trade's before the running sums: differences of large
        # cumulative notionals would otherwise lose digits over a long window.
        reference = self.trade_px[0] if len(self.trade_px) else 0.0
        cum_qty = np.concatenate([[0.0], np.cumsum(self.trade_qty)])
        cum_offset = np.concatenate([[0.0], np.cumsum((self.trade_px - reference) * self.trade_qty)])
        lo = np.searchsorted(self.trade_ts, start, side="left")
        hi = np.searchsorted(self.trade_ts, end, side="right")
        volume = cum_qty[hi] - cum_qty[lo]
        notional = cum_offset[hi] - cum_offset[lo] + reference * volume
        with np.errstate(invalid="ignore", divide="ignore"):
            vwap = np.where(volume > 0, notional / np.where(volume > 0, volume, 1.0), np.nan)
        return volume, vwap


def load_market(catalog_root: str | Path, instrument_id: str, start_ns: int, end_ns: int) -> Market:
    """Trades and depth snapshots of ``instrument_id`` with ``start_ns <= ts_init <= end_ns``.

    The catalog's own file index (``ParquetDataCatalog.filter_files``) picks the files; pyarrow
    reads only the needed columns and the fixed-point raws are decoded with numpy.
    """
    from nautilus_trader.model.data import OrderBookDepth10, TradeTick

    from odum_pipeline.catalog.store import open_catalog

    catalog = open_catalog(catalog_root)
    trades = _read_catalog(catalog, TradeTick, instrument_id, start_ns, end_ns, ["price", "size", "ts_init"])
    book = _read_catalog(
        catalog, OrderBookDepth10, instrument_id, start_ns, end_ns, ["bid_price_0", "ask_price_0", "ts_init"]
    )
    if book is None or book.num_rows == 0:
        raise ValueError(f"{catalog_root}: no order book snapshots of {instrument_id} around the run (TCA needs mids)")
    bid, ask = _decode_column(book, "bid_price_0", "price"), _decode_column(book, "ask_price_0", "price")
    usable = (bid > 0) & (ask > 0)
    book_ts = book.column("ts_init").to_numpy().astype(np.int64)
    if trades is None:
        trade_ts, trade_px, trade_qty = np.empty(0, np.int64), np.empty(0), np.empty(0)
    else:
        trade_ts = trades.column("ts_init").to_numpy().astype(np.int64)
        trade_px, trade_qty = _decode_column(trades, "price", "price"), _decode_column(trades, "size", "size")
    return Market.from_arrays(book_ts[usable], (bid[usable] + ask[usable]) / 2, trade_ts, trade_px, trade_qty)


def _read_catalog(catalog, cls, instrument_id: str, start_ns: int, end_ns: int, columns: list[str]) -> pa.Table | None:
    files = catalog.filter_files(cls, catalog.get_file_list_from_data_cls(cls), [instrument_id], start_ns, end_ns)
    tables = []
    for path in sorted(files):
        table = pq.read_table(path, columns=columns, filesystem=catalog.fs)
        ts = table.column("ts_init")
        mask = pc.and_(pc.greater_equal(ts, pa.scalar(start_ns, ts.type)), pc.less_equal(ts, pa.scalar(end_ns, ts.type)))
        tables.append(table.filter(mask).replace_schema_metadata(table.schema.metadata))
    if not tables:
        return None
    metadata = tables[0].schema.metadata
    return pa.concat_tables(tables).combine_chunks().replace_schema_metadata(metadata)


def _decode_column(table: pa.Table, name: str, kind: str) -> np.ndarray:
    """NautilusTrader fixed-point raws (64- or 128-bit little endian, value x 10**FIXED_PRECISION) -> floats
    rounded to the column's precision (the schema metadata's ``price_precision``/``size_precision``)."""
    from nautilus_trader.model.objects import FIXED_PRECISION

    array = table.column(name).combine_chunks()
    width = array.type.byte_width
    words = np.frombuffer(array.buffers()[1], dtype="<u8")[array.offset * (width // 8) :][: len(array) * (width // 8)]
    if width == 16:
        pairs = words.reshape(-1, 2)
        values = pairs[:, 1].view(np.int64).astype(np.float64) * 2.0**64 + pairs[:, 0].astype(np.float64)
    else:
        values = words.view(np.int64).astype(np.float64)
    values = values / 10.0**FIXED_PRECISION
    precision = (table.schema.metadata or {}).get(f"{kind}_precision".encode())
    return np.round(values, int(precision)) if precision is not None else values


# --- a run's report directory --------------------------------------------------------------------


def read_run(report_dir: str | Path) -> dict[str, Any]:
    """summary, orders, fills and timeline of a report-mode run directory."""
    report_dir = Path(report_dir)
    summary = json.loads((report_dir / SUMMARY_FILE).read_text())

    def frame(name: str) -> pd.DataFrame:
        path = report_dir / name
        return pq.read_table(path).to_pandas() if path.is_file() else pd.DataFrame()

    return {
        "summary": summary,
        "parents": frame("parents.parquet"),
        "orders": frame("orders.parquet"),
        "fills": frame("fills.parquet"),
        "timeline": frame("timeline.parquet"),
    }


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
    temporary = report_dir / f".{TCA_FILE}.tca-tmp"
    pq.write_table(table, temporary)
    os.replace(temporary, report_dir / TCA_FILE)
    summary_path = report_dir / SUMMARY_FILE
    summary = json.loads(summary_path.read_text())
    summary["tca"] = {**result.aggregate, "catalog": str(catalog_root)}
    temporary = report_dir / f".{SUMMARY_FILE}.tca-tmp"
    temporary.write_text(json.dumps(summary, indent=2, sort_keys=True, default=str))
    os.replace(temporary, summary_path)
    return result


def read_tca(report_dir: str | Path) -> pd.DataFrame:
    return pq.read_table(Path(report_dir) / TCA_FILE).to_pandas()
