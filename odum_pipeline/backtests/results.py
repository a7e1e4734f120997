"""Writing a run's results under the results root.

- fast mode: ``fast/<run_id>.json`` (the summary only);
- report mode: ``report/<run_id>/`` with ``summary.json``, ``parents.parquet`` (each parent order as
  submitted: side, requested quantity, arrival), ``orders.parquet``, ``fills.parquet``,
  ``positions.parquet``, ``equity_curve.parquet``, ``timeline.parquet`` and, when asked,
  ``ticks.parquet`` (the window's trades).

Files are written to a temporary name and renamed, so a reader never sees half a file.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from odum_pipeline.backtests.metrics import RunData

FAST_DIR = "fast"
REPORT_DIR = "report"
SUMMARY_FILE = "summary.json"


def write_fast(results_root: Path, run_id: str, summary: dict[str, Any]) -> Path:
    path = Path(results_root) / FAST_DIR / f"{run_id}.json"
    _write_json(path, summary)
    return path


def write_report(
    results_root: Path, run_id: str, summary: dict[str, Any], run_data: RunData, *, ticks: list | None = None
) -> Path:
    directory = Path(results_root) / REPORT_DIR / run_id
    directory.mkdir(parents=True, exist_ok=True)
    _write_parquet(directory / "parents.parquet", run_data.parents)
    _write_parquet(directory / "orders.parquet", run_data.orders)
    _write_parquet(directory / "fills.parquet", run_data.fills)
    _write_parquet(directory / "positions.parquet", run_data.positions)
    _write_parquet(directory / "equity_curve.parquet", pd.DataFrame([asdict(p) for p in run_data.equity_curve]))
    _write_parquet(directory / "timeline.parquet", pd.DataFrame([asdict(e) for e in run_data.timeline]))
    if ticks is not None:
        _write_parquet(directory / "ticks.parquet", ticks_frame(ticks))
    _write_json(directory / SUMMARY_FILE, summary)  # last: its presence marks a complete report
    return directory


def read_summary(result_path: Path) -> dict[str, Any]:
    path = Path(result_path)
    return json.loads((path / SUMMARY_FILE if path.is_dir() else path).read_text())


def ticks_frame(ticks: list) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "ts_event": [t.ts_event for t in ticks],
            "ts_init": [t.ts_init for t in ticks],
            "price": [t.price.as_decimal() for t in ticks],
            "size": [t.size.as_decimal() for t in ticks],
            "aggressor_side": [int(t.aggressor_side) for t in ticks],
            "trade_id": [t.trade_id.value for t in ticks],
        }
    )


def _write_json(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(json.dumps(payload, indent=2, sort_keys=True, default=_json_default))
    os.replace(temporary, path)


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    return str(value)


def _write_parquet(path: Path, frame: pd.DataFrame) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    pq.write_table(_to_arrow(frame), temporary)
    os.replace(temporary, path)


def _to_arrow(frame: pd.DataFrame) -> pa.Table:
    """Decimal columns stay exact (Arrow decimal128 at the column's own scale)."""
    columns = {}
    for name in frame.columns:
        values = list(frame[name])
        if values and all(isinstance(v, Decimal) for v in values):
            scale = max(max(-v.as_tuple().exponent, 0) for v in values)
            columns[name] = pa.array(values, type=pa.decimal128(38, scale))
        else:
            columns[name] = pa.array(frame[name].tolist() if frame[name].dtype == object else frame[name])
    return pa.table(columns) if columns else pa.table({})
