"""Writing a run's results under the results root.

- fast mode: ``fast/<run_id>.json`` (the summary only);
- report mode: ``report/<run_id>/`` with ``summary.json``, ``parents.parquet`` (each parent order as
  submitted: side, requested quantity, arrival), ``orders.parquet``, ``fills.parquet``,
  ``positions.parquet``, ``equity_curve.parquet``, ``timeline.parquet`` and, when asked,
  ``ticks.parquet`` (the window's trades).

The layout is :mod:`~odum_pipeline.backtests.run_folder`'s. One code path for a folder and a
``gs://`` root, over the root's filesystem (:func:`odum_pipeline.files.files_for`): every file
appears whole (locally a temporary renamed into place; in GCS one object upload, atomic per
object), ``summary.json`` last. A local report is assembled in ``<root>/.partial/`` and renamed
into ``report/`` whole, so a failed write (disk full, file too large) leaves no half report folder
and raises ``ResultsWriteError`` naming the path. ``check_results_root`` (run before a backtest)
refuses a root that is a file, not writable, or in a bucket that does not exist.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import fields
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from odum_pipeline.backtests.equity_grid import EquityCurve
from odum_pipeline.backtests.metrics import RunData
from odum_pipeline.backtests.run_folder import (
    EQUITY_CURVE_FILE,
    FAST_DIR,
    FILLS_FILE,
    ORDERS_FILE,
    PARENTS_FILE,
    PARTIAL_DIR,
    POSITIONS_FILE,
    REPORT_DIR,
    SUMMARY_FILE,
    TICKS_FILE,
    TIMELINE_FILE,
)
from odum_pipeline.errors import OdumError
from odum_pipeline.files import Files, files_for
from odum_pipeline.gcs import join


class ResultsWriteError(OdumError, ValueError):
    """The results root cannot take this run's results; the message names the path and the problem."""


def check_results_root(results_root: Path | str) -> None:
    """Before a backtest: the root is (or can be made) a writable folder, else ``ResultsWriteError``."""
    files = _checked_files(results_root)
    try:
        files.probe_writable(str(results_root))
    except OSError as error:
        raise ResultsWriteError(f"results root {results_root} is not writable ({error.strerror or error})") from None


def write_fast(results_root: Path | str, run_id: str, summary: dict[str, Any]) -> Path | str:
    files = _checked_files(results_root)
    path = join(results_root, FAST_DIR, f"{run_id}.json")
    try:
        files.put(str(path), _json_bytes(summary))
    except OSError as error:
        raise ResultsWriteError(f"cannot write {path}: {error.strerror or error}") from None
    return path


def write_report(
    results_root: Path | str, run_id: str, summary: dict[str, Any], run_data: RunData, *, ticks: list | None = None
) -> Path | str:
    """The run's report folder, complete (``summary.json`` last) or, locally, not there at all."""
    files = _checked_files(results_root)
    directory = join(results_root, REPORT_DIR, run_id)
    staging = join(results_root, PARTIAL_DIR, f"{run_id}.{os.getpid()}")
    try:
        with files.assembled(str(directory), str(staging)) as folder:
            for name, table in _report_tables(run_data, ticks):
                files.put(f"{folder}/{name}", lambda sink, table=table: pq.write_table(table, sink))
            files.put(f"{folder}/{SUMMARY_FILE}", _json_bytes(summary))  # last: its presence marks a complete report
    except OSError as error:
        raise ResultsWriteError(f"cannot write the report {directory}: {error.strerror or error}") from None
    return directory


def _checked_files(results_root: Path | str) -> Files:
    """The root's filesystem; a one-line error for a root that is a file or a bucket that does not exist."""
    files = files_for(results_root)
    try:
        files.check_root(str(results_root))
    except NotADirectoryError:
        raise ResultsWriteError(f"results root {results_root} is a file, not a folder") from None
    return files


def _report_tables(run_data: RunData, ticks: list | None) -> Iterator[tuple[str, pa.Table]]:
    """The Parquet files of a report-mode run, by file name, one table at a time."""
    frames = {
        PARENTS_FILE: run_data.parents,
        ORDERS_FILE: run_data.orders,
        FILLS_FILE: run_data.fills,
        POSITIONS_FILE: run_data.positions,
        EQUITY_CURVE_FILE: run_data.equity_curve,  # columns already (``EquityCurve``): no frame
        TIMELINE_FILE: records_frame(run_data.timeline),
    }
    if ticks is not None:
        frames[TICKS_FILE] = ticks_frame(ticks)
    for name, frame in frames.items():
        yield name, frame.to_arrow() if isinstance(frame, EquityCurve) else _to_arrow(frame)


def records_frame(records: list) -> pd.DataFrame:
    """Flat dataclass records (``TimelineEvent``) as a frame, built column by column: the same frame
    as one ``asdict`` per record, which costs seconds on a long run's records."""
    if not records:
        return pd.DataFrame([])
    return pd.DataFrame({f.name: [getattr(r, f.name) for r in records] for f in fields(records[0])})


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


def _json_bytes(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, indent=2, sort_keys=True, default=_json_default).encode()


def _json_default(value: Any) -> Any:
    return str(value)  # Decimal (exact), datetimes and enums alike


def _to_arrow(frame: pd.DataFrame) -> pa.Table:
    """Decimal columns stay exact (Arrow decimal128 at the column's own scale)."""
    columns = {}
    for name in frame.columns:
        values = list(frame[name])
        if values and all(isinstance(v, Decimal) for v in values):
            distinct = {id(v): v for v in values}.values()  # a day's curve shares its Decimal objects
            scale = max(max(-v.as_tuple().exponent, 0) for v in distinct)
            columns[name] = pa.array(values, type=pa.decimal128(38, scale))
        else:
            columns[name] = pa.array(frame[name].tolist() if frame[name].dtype == object else frame[name])
    return pa.table(columns) if columns else pa.table({})
