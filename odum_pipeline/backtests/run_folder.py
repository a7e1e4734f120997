"""The layout of a results root: where each run's files live and how they are read back.

One owner for the names the writers (:mod:`~odum_pipeline.backtests.results`, TCA, the comparison)
and the readers (TCA, the comparison, its working copy of a ``gs://`` root, the API) share:

- ``fast/<run_id>.json``: a fast-mode run (its summary only);
- ``report/<run_id>/``: a report-mode run: ``summary.json`` (written last: it marks a complete run),
  the ``*.parquet`` files of :data:`REPORT_FILES`, and ``tca.parquet`` once its TCA is computed;
- ``comparison/<config>.html``: the comparison reports;
- ``.partial/``: where a local report is assembled before it is renamed into ``report/`` whole.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from odum_pipeline.files import files_for

FAST_DIR = "fast"
REPORT_DIR = "report"
COMPARISON_DIR = "comparison"
PARTIAL_DIR = ".partial"
SUMMARY_FILE = "summary.json"
TCA_FILE = "tca.parquet"
PARENTS_FILE = "parents.parquet"
ORDERS_FILE = "orders.parquet"
FILLS_FILE = "fills.parquet"
POSITIONS_FILE = "positions.parquet"
EQUITY_CURVE_FILE = "equity_curve.parquet"
TIMELINE_FILE = "timeline.parquet"
TICKS_FILE = "ticks.parquet"
#: The data files a report-mode run writes (``ticks.parquet`` only when asked for).
REPORT_FILES = (PARENTS_FILE, ORDERS_FILE, FILLS_FILE, POSITIONS_FILE, EQUITY_CURVE_FILE, TIMELINE_FILE, TICKS_FILE)
#: What the comparison reads of a run (``ticks``, ``positions`` and ``equity_curve`` are not needed).
COMPARED_FILES = (PARENTS_FILE, ORDERS_FILE, FILLS_FILE, TIMELINE_FILE, TCA_FILE)


def read_summary(result_path: Path | str) -> dict[str, Any]:
    """The summary of a run: a report folder or a fast-mode ``.json``, local or ``gs://``."""
    files = files_for(result_path)
    path = files.path(result_path)
    if not path.endswith(".json"):
        path = f"{path}/{SUMMARY_FILE}"
    return json.loads(files.fs.cat_file(path))


def read_run(report_dir: str | Path) -> dict[str, Any]:
    """summary, parents, orders, fills and timeline of a local report-mode run folder (missing files: empty)."""
    report_dir = Path(report_dir)
    summary = json.loads((report_dir / SUMMARY_FILE).read_text())

    def frame(name: str) -> pd.DataFrame:
        path = report_dir / name
        return pq.read_table(path).to_pandas() if path.is_file() else pd.DataFrame()

    return {
        "summary": summary,
        "parents": frame(PARENTS_FILE),
        "orders": frame(ORDERS_FILE),
        "fills": frame(FILLS_FILE),
        "timeline": frame(TIMELINE_FILE),
    }
