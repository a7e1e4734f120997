"""Bytes read from GCS for a five-minute window, against the size of the day's files.

Starts a local ``gcp-storage-emulator``, uploads the real data (``../shared/data/real``) and a
synthetic 24-hour day, and measures (``odum_pipeline.gcs.READ_STATS``, counted in the ranged-read
layers) the pre-flight coverage of a window on the raw objects and a backtest of the window on a
gs:// catalog. Run: ``.venv/bin/python benchmarks/gcs_window_reads.py``.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from odum_pipeline import gcs  # noqa: E402
from odum_pipeline.backtests.config import parse_config  # noqa: E402
from odum_pipeline.backtests.engine import AlgorithmSpec, run_backtest  # noqa: E402
from odum_pipeline.catalog.convert import convert_day  # noqa: E402
from odum_pipeline.catalog.preflight import check_raw_coverage  # noqa: E402
from odum_pipeline.catalog.raw_sources import GcsRawSource  # noqa: E402
from odum_pipeline.catalog.sample import generate_sample  # noqa: E402
from odum_pipeline_tests.conftest import REAL_DATA, REPO_ROOT  # noqa: E402
from odum_pipeline_tests.gcs_emulator import running_emulator, upload_tree  # noqa: E402

KEY = "BINANCE-FUTURES:PERPETUAL:BTC-USDT"


def measure(label: str, source, catalog: str, day: dt.date, start: dt.datetime, tmp: Path) -> None:
    end = start + dt.timedelta(minutes=5)
    day_bytes = sum(f.meta[0] for f in source.discover() if f.day == day)
    gcs.READ_STATS.reset()
    report = check_raw_coverage(source, KEY, start, end, "both")
    read = gcs.READ_STATS.reset()
    rows = [item.rows_in_window for d in report.days for item in d.data]
    print(f"{label}: raw day files {day_bytes:,} B; pre-flight of {start:%H:%M}-{end:%H:%M} read {read.bytes:,} B "
          f"in {read.requests} ranged reads ({read.bytes / day_bytes:.1%}), rows in window {rows}")
    convert_day(source, catalog, day, KEY)
    fs = gcs.filesystem()
    catalog_bytes = sum(size for path, size in fs.du(f"{catalog}/data", total=False).items() if f"{day}T" in path)
    data = json.loads((REPO_ROOT / "configs" / "real_btc_20230405.json").read_text())
    data["time_window"] = {"start": start.isoformat(), "end": end.isoformat()}
    data["strategy"]["parent_orders"][0]["arrival"] = (start + dt.timedelta(seconds=30)).isoformat()
    data["environment"] = {"mode": "fast"}
    gcs.READ_STATS.reset()
    outcome = run_backtest(parse_config(data, source=label), algorithm=AlgorithmSpec(), catalog_root=catalog,
                           results_root=tmp / "results")
    read = gcs.READ_STATS.reset()
    print(f"{label}: catalog day files {catalog_bytes:,} B; backtest of the window read {read.bytes:,} B in "
          f"{read.requests} requests ({read.bytes / catalog_bytes:.1%}); fills {outcome.summary['summary']['fills']}")


def main() -> None:
    with running_emulator(), tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        client = gcs.storage_client()
        client.create_bucket("bench")
        upload_tree(client, "bench", REAL_DATA, prefix="real")
        generate_sample(tmp / "raw", days=[dt.date(2023, 4, 5)], instrument_keys=[KEY],
                        start_time=dt.time(0, 0), end_time=dt.time(23, 59))
        upload_tree(client, "bench", tmp / "raw", prefix="synthetic")
        measure("real 2023-04-05", GcsRawSource(client, "bench", "real"), "gs://bench/real-catalog",
                dt.date(2023, 4, 5), dt.datetime(2023, 4, 5, 0, 0, tzinfo=dt.UTC), tmp)
        measure("synthetic 24 h day", GcsRawSource(client, "bench", "synthetic"), "gs://bench/synthetic-catalog",
                dt.date(2023, 4, 5), dt.datetime(2023, 4, 5, 12, 0, tzinfo=dt.UTC), tmp)


if __name__ == "__main__":
    main()
