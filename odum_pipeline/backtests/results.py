"""Writing a run's results under the results root.

- fast mode: ``fast/<run_id>.json`` (the summary only);
- report mode: ``report/<run_id>/`` with ``summary.json``, ``parents.parquet`` (each parent order as
  submitted: side, requested quantity, arrival), ``orders.parquet``, ``fills.parquet``,
  ``positions.parquet``, ``equity_curve.parquet``, ``timeline.parquet`` and, when asked,
  ``ticks.parquet`` (the window's trades).

Files are written to a temporary name and renamed, so a reader never sees half a file; a local
report is assembled in ``<root>/.partial/`` and renamed into ``report/`` whole, so a failed write
(disk full, file too large) leaves no half report folder and raises ``ResultsWriteError`` naming
the path. ``check_results_root`` (run before a backtest) refuses a root that is a file or not
writable. A ``gs://`` results root is written through fsspec (gcsfs): each file is one object
upload, which GCS makes atomic per object (no temporary name needed); ``summary.json`` still comes last.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
from dataclasses import asdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from odum_pipeline.backtests.metrics import RunData
from odum_pipeline.files import atomic_write
from odum_pipeline.gcs import is_remote

FAST_DIR = "fast"
REPORT_DIR = "report"
SUMMARY_FILE = "summary.json"
PARTIAL_DIR = ".partial"


class ResultsWriteError(ValueError):
    """The results root cannot take this run's results; the message names the path and the problem."""


def check_results_root(results_root: Path | str) -> None:
    """Before a backtest: the root is (or can be made) a writable folder, else ``ResultsWriteError``."""
    if is_remote(results_root):
        from odum_pipeline.gcs import check_remote_root

        check_remote_root(str(results_root))
        return
    root = Path(results_root)
    if root.exists() and not root.is_dir():
        raise ResultsWriteError(f"results root {root} is a file, not a folder")
    try:
        root.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=root, prefix=".write-check-"):
            pass
    except OSError as error:
        raise ResultsWriteError(f"results root {root} is not writable ({error.strerror or error})") from None


def write_fast(results_root: Path | str, run_id: str, summary: dict[str, Any]) -> Path | str:
    if is_remote(results_root):
        path = f"{str(results_root).rstrip('/')}/{FAST_DIR}/{run_id}.json"
        _remote_fs(str(results_root)).pipe_file(path, _json_bytes(summary))
        return path
    path = Path(results_root) / FAST_DIR / f"{run_id}.json"
    try:
        _write_json(path, summary)
    except OSError as error:
        raise ResultsWriteError(f"cannot write {path}: {error.strerror or error}") from None
    return path


def write_report(
    results_root: Path | str, run_id: str, summary: dict[str, Any], run_data: RunData, *, ticks: list | None = None
) -> Path | str:
    if is_remote(results_root):
        return _write_remote_report(str(results_root), run_id, summary, run_data, ticks)
    directory = Path(results_root) / REPORT_DIR / run_id
    staging = Path(results_root) / PARTIAL_DIR / f"{run_id}.{os.getpid()}"
    try:
        staging.mkdir(parents=True)
        for name, frame in _report_frames(run_data, ticks).items():
            _write_parquet(staging / name, frame)
        _write_json(staging / SUMMARY_FILE, summary)  # last: its presence marks a complete report
        directory.parent.mkdir(parents=True, exist_ok=True)
        os.rename(staging, directory)
    except OSError as error:
        raise ResultsWriteError(f"cannot write the report {directory}: {error.strerror or error}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        _remove_if_empty(staging.parent)
    return directory


def _remove_if_empty(directory: Path) -> None:
    try:
        directory.rmdir()
    except OSError:
        pass


def _report_frames(run_data: RunData, ticks: list | None) -> dict[str, pd.DataFrame]:
    """The Parquet files of a report-mode run, by file name."""
    frames = {
        "parents.parquet": run_data.parents,
        "orders.parquet": run_data.orders,
        "fills.parquet": run_data.fills,
        "positions.parquet": run_data.positions,
        "equity_curve.parquet": pd.DataFrame([asdict(p) for p in run_data.equity_curve]),
        "timeline.parquet": pd.DataFrame([asdict(e) for e in run_data.timeline]),
    }
    if ticks is not None:
        frames["ticks.parquet"] = ticks_frame(ticks)
    return frames


def read_summary(result_path: Path | str) -> dict[str, Any]:
    if is_remote(result_path):
        fs = _remote_fs()
        path = str(result_path).rstrip("/")
        return json.loads(fs.cat_file(path if path.endswith(".json") else f"{path}/{SUMMARY_FILE}"))
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


def _remote_fs(root: str | None = None):
    from odum_pipeline.gcs import check_remote_root, filesystem

    if root is not None:
        check_remote_root(root)  # one line naming the bucket, not gcsfs's upload URL
    return filesystem()


def _json_bytes(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, indent=2, sort_keys=True, default=_json_default).encode()


def _write_remote_report(root: str, run_id: str, summary, run_data: RunData, ticks) -> str:
    fs = _remote_fs(root)
    directory = f"{root.rstrip('/')}/{REPORT_DIR}/{run_id}"
    for name, frame in _report_frames(run_data, ticks).items():
        buffer = io.BytesIO()
        pq.write_table(_to_arrow(frame), buffer)
        fs.pipe_file(f"{directory}/{name}", buffer.getvalue())
    fs.pipe_file(f"{directory}/{SUMMARY_FILE}", _json_bytes(summary))  # last: marks a complete report
    return directory


def _write_json(path: Path, payload: dict[str, Any]) -> None:
    atomic_write(path, _json_bytes(payload))


def _json_default(value: Any) -> Any:
    return str(value)  # Decimal (exact), datetimes and enums alike


def _write_parquet(path: Path, frame: pd.DataFrame) -> None:
    table = _to_arrow(frame)
    atomic_write(path, lambda temporary: pq.write_table(table, temporary))


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
