"""Pre-flight coverage of a backtest window: which days have the data a run needs.

The window is judged on ``ts_init`` (the local receive time), the timestamp NautilusTrader
orders and queries data by, so "rows in the window" here are the rows a backtest replays.
Only timestamp columns are read, with row-group pruning, never whole files: locally through
pyarrow's filters, in GCS through ranged reads of the footer and of the one column's chunks
(:meth:`odum_pipeline.catalog.raw_sources.GcsRawSource.ts_init_in_window`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from odum_pipeline.catalog import store
from odum_pipeline.catalog.convert import CATALOG_CLASSES
from odum_pipeline.catalog.layout import BOOK, TRADES, RawFile
from odum_pipeline.catalog.raw_sources import RawSource, as_raw_source
from odum_pipeline.catalog.readers import RawDataError
from odum_pipeline.errors import OdumError
from odum_pipeline.gcs import filesystem, is_remote, join, location
from odum_pipeline.instruments import resolve
from odum_pipeline.timestamps import ns_to_iso, to_ns, utc


class PreflightError(OdumError, ValueError):
    """A pre-flight question that cannot be asked: an unknown snapshot mode, an empty or absurd window."""


SNAPSHOT_MODES = ("trades", "book", "both")
_NS = 1_000_000_000
#: "A few years": a longer window is a typo (year 9999), refused before a day is listed.
MAX_WINDOW_DAYS = 3 * 366


def required_data_types(snapshot_mode: str) -> tuple[str, ...]:
    if snapshot_mode not in SNAPSHOT_MODES:
        raise PreflightError(f"snapshot mode {snapshot_mode!r} is not one of {SNAPSHOT_MODES}")
    # Trades are always needed: per_trade_tick submissions and the trade-driven marks use them.
    return {"trades": (TRADES,), "book": (TRADES, BOOK), "both": (TRADES, BOOK)}[snapshot_mode]


def window_days(start: dt.datetime, end: dt.datetime) -> list[dt.date]:
    """UTC days touched by [start, end); a window longer than MAX_WINDOW_DAYS is refused before any work."""
    if end - start > dt.timedelta(days=MAX_WINDOW_DAYS):
        raise PreflightError(
            f"window {start.isoformat()} -> {end.isoformat()} spans {(end - start).days:,} days, more than "
            f"{MAX_WINDOW_DAYS // 365} years (the longest window is {MAX_WINDOW_DAYS:,} days); check its dates"
        )
    last = (end - dt.timedelta(microseconds=1)).date()
    return [start.date() + dt.timedelta(days=i) for i in range((last - start.date()).days + 1)]


@dataclass
class DataCoverage:
    data_type: str
    path: str | None
    rows_in_window: int = 0
    first_ts: str | None = None
    last_ts: str | None = None
    largest_gap_secs: float = 0.0
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.path is not None and self.problem is None and self.rows_in_window > 0


@dataclass
class DayCoverage:
    day: dt.date
    data: list[DataCoverage] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(item.ok for item in self.data)


@dataclass
class CoverageReport:
    instrument_key: str
    start: dt.datetime
    end: dt.datetime
    snapshot_mode: str
    days: list[DayCoverage]

    @property
    def covered(self) -> bool:
        return all(day.ok for day in self.days)

    def to_dict(self) -> dict:
        return {
            "instrument_key": self.instrument_key,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "snapshot_mode": self.snapshot_mode,
            "covered": self.covered,
            "days": [
                {"day": day.day.isoformat(), "ok": day.ok, "data": [asdict(item) for item in day.data]}
                for day in self.days
            ],
        }

    def describe(self) -> str:
        lines = [
            f"{self.instrument_key} {self.start.isoformat()} -> {self.end.isoformat()} ({self.snapshot_mode}): "
            + ("covered" if self.covered else "NOT covered")
        ]
        lines.append(
            "  (coverage only: rows present in the window per day and type; the blocking data-quality "
            "checks run at conversion, `odum data convert`)"
        )
        for day in self.days:
            for item in day.data:
                status = "ok" if item.ok else f"MISSING: {item.problem or 'no rows in the window'}"
                lines.append(
                    f"  {day.day} {item.data_type:<16} rows={item.rows_in_window:<8} "
                    f"first={item.first_ts} last={item.last_ts} largest_gap={item.largest_gap_secs:.1f}s  {status}"
                )
        return "\n".join(lines)


def check_raw_coverage(
    raw_root: Path | str | RawSource, instrument_key: str, start: dt.datetime, end: dt.datetime, snapshot_mode: str = "both"
) -> CoverageReport:
    """Coverage of the raw files for the window, per day and data type."""
    resolve(instrument_key)  # unknown keys fail here with the registry's message
    start, end = utc(start), utc(end)
    if end <= start:
        raise PreflightError(f"window end {end.isoformat()} is not after its start {start.isoformat()}")
    source = as_raw_source(raw_root)
    days = []
    for day in window_days(start, end):
        coverage = DayCoverage(day)
        day_start = dt.datetime.combine(day, dt.time(), dt.UTC)
        part_start, part_end = max(start, day_start), min(end, day_start + dt.timedelta(days=1))
        for data_type in required_data_types(snapshot_mode):
            raw_file = source.find(day, data_type, instrument_key)
            coverage.data.append(_file_coverage(source, raw_file, data_type, part_start, part_end))
        days.append(coverage)
    return CoverageReport(instrument_key, start, end, snapshot_mode, days)


def missing_catalog_partitions(
    catalog_root: Path | str, instrument_key: str, start: dt.datetime, end: dt.datetime, snapshot_mode: str = "both"
) -> list[tuple[dt.date, str]]:
    """The (day, instrument) catalog partitions the window needs but the catalog lacks.

    Readers call this first: it finishes an interrupted swap and removes stray day files, and
    raises CatalogError for a window day whose manifest is damaged."""
    spec = resolve(instrument_key)
    root = location(catalog_root)
    days = window_days(utc(start), utc(end))
    directories = [
        store.data_directory(root, CATALOG_CLASSES[data_type], spec.instrument_id)
        for data_type in required_data_types(snapshot_mode)
    ]
    store.prepare_for_reading(root, directories, days)  # a crashed swap or a stray file: one version of each day
    present = [store.days_present(directory) for directory in directories]
    return [(day, instrument_key) for day in days if any(day.isoformat() not in found for found in present)]


def _file_coverage(
    source: RawSource, raw_file: RawFile | None, data_type: str, start: dt.datetime, end: dt.datetime
) -> DataCoverage:
    if raw_file is None:
        return DataCoverage(data_type, None, problem="file not present")
    path = raw_file.path
    try:
        ts_init = source.ts_init_in_window(raw_file, to_ns(start), to_ns(end))
    except RawDataError as exc:
        return DataCoverage(data_type, str(path), problem=exc.problem)
    coverage = DataCoverage(data_type, str(path), rows_in_window=len(ts_init))
    if len(ts_init):
        coverage.first_ts = ns_to_iso(ts_init[0])
        coverage.last_ts = ns_to_iso(ts_init[-1])
        edges = np.concatenate([[to_ns(start)], ts_init, [to_ns(end)]])
        coverage.largest_gap_secs = float(np.diff(edges).max()) / _NS
    return coverage


def catalog_days(catalog_root: Path | str, instrument_key: str, snapshot_mode: str = "both") -> list[dt.date]:
    """The days the catalog holds every required data type of, sorted."""
    spec = resolve(instrument_key)
    root = location(catalog_root)
    held = [
        store.days_present(store.data_directory(root, CATALOG_CLASSES[data_type], spec.instrument_id))
        for data_type in required_data_types(snapshot_mode)
    ]
    return sorted(dt.date.fromisoformat(day) for day in set.intersection(*held))


def require_market_data(
    catalog_root: Path | str, instrument_key: str, start: dt.datetime, end: dt.datetime, snapshot_mode: str = "both"
) -> None:
    """Raise when the catalog has no trade and no book update of the instrument in [start, end).

    Reads only ``ts_init`` of the window's day files, pruned by row-group statistics."""
    spec = resolve(instrument_key)
    root = location(catalog_root)
    start, end = utc(start), utc(end)
    bounds = [("ts_init", ">=", to_ns(start)), ("ts_init", "<", to_ns(end))]
    for data_type in required_data_types(snapshot_mode):
        directory = store.data_directory(root, CATALOG_CLASSES[data_type], spec.instrument_id)
        manifest = store.read_manifest(directory)
        days = window_days(start, end)
        for day in [days[0] - dt.timedelta(days=1), *days]:  # a day's file may run past midnight in ts_init
            entry = manifest.get(day.isoformat())
            if entry and _rows_in(join(directory, entry["file"]), bounds):
                return
    raise store.CatalogError(
        f"no market data between {start.isoformat()} and {end.isoformat()}: the catalog {root} has no "
        f"{instrument_key} trades or book updates in the window; check the window's times"
    )


def _rows_in(path: Path | str, bounds: list) -> int:
    if is_remote(path):
        return pq.read_table(str(path).split("://", 1)[1], columns=["ts_init"], filters=bounds, filesystem=filesystem()).num_rows
    return pq.read_table(path, columns=["ts_init"], filters=bounds).num_rows
