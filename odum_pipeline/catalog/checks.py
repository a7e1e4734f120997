"""Data-quality checks on normalised raw ticks (vectorised, Dagster-free).

ERROR problems block the conversion (the catalog is left as it was); WARN problems (long gaps)
are reported but do not block. The Dagster asset checks of the catalog are built on these.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from nautilus_trader.model.objects import PRICE_MAX, QUANTITY_MAX

from odum_pipeline.catalog.layout import BOOK_DEPTH, BOOK_PRICE_COLUMNS, BOOK_SIZE_COLUMNS, TRADES

DEFAULT_MAX_GAP_SECS = 60.0
_NS = 1_000_000_000


class Severity(enum.StrEnum):
    ERROR = "ERROR"
    WARN = "WARN"


@dataclass(frozen=True)
class Problem:
    check: str
    severity: Severity
    message: str
    rows: int = 0

    def __str__(self) -> str:
        return f"[{self.severity}] {self.check}: {self.message}"


@dataclass
class QualityReport:
    """What the checks found in one file, with the statistics the catalog reports as metadata."""

    data_type: str
    rows: int
    first_ts: int | None
    last_ts: int | None
    largest_gap_ns: int
    problems: list[Problem] = field(default_factory=list)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity is Severity.WARN]


def check_ticks(
    table: pa.Table,
    data_type: str,
    *,
    price_precision: int | None = None,
    size_precision: int | None = None,
    max_gap_secs: float = DEFAULT_MAX_GAP_SECS,
    day: dt.date | None = None,
) -> QualityReport:
    """Run every check that applies to ``data_type`` on a normalised table (of the file for ``day``)."""
    missing_time = _missing_timestamps(table)
    if missing_time:
        report = QualityReport(data_type, table.num_rows, None, None, 0, missing_time)
        return report
    ts_event = _int64(table, "ts_event")
    report = QualityReport(
        data_type=data_type,
        rows=table.num_rows,
        first_ts=int(ts_event[0]) if len(ts_event) else None,
        last_ts=int(ts_event[-1]) if len(ts_event) else None,
        largest_gap_ns=int(np.diff(ts_event).max()) if len(ts_event) > 1 else 0,
    )
    if table.num_rows == 0:
        report.problems.append(Problem("not_empty", Severity.ERROR, "the file has no rows"))
        return report
    report.problems += _monotonic_time(table) + _positive_timestamps(table)
    if day is not None:
        report.problems += _rows_in_day(table, day)
    if data_type == TRADES:
        prices, sizes = ["price"], ["size"]
        report.problems += _duplicate_trade_ids(table)
    else:
        prices, sizes = list(BOOK_PRICE_COLUMNS), list(BOOK_SIZE_COLUMNS)
        report.problems += _crossed_or_unordered_book(table)
    report.problems += _positive(table, prices, "price", price_precision, PRICE_MAX)
    report.problems += _positive(table, sizes, "size", size_precision, QUANTITY_MAX)
    if price_precision is not None:
        report.problems += _on_grid(table, prices, price_precision, "price")
    if size_precision is not None:
        report.problems += _on_grid(table, sizes, size_precision, "size")
    report.problems += _gaps(ts_event, max_gap_secs)
    return report


def _int64(table: pa.Table, name: str) -> np.ndarray:
    return table.column(name).to_numpy().astype(np.int64, copy=False)


def _float(table: pa.Table, name: str) -> np.ndarray:
    return table.column(name).to_numpy(zero_copy_only=False).astype(np.float64, copy=False)


def _first_rows(mask: np.ndarray, limit: int = 3) -> str:
    return ", ".join(str(i) for i in np.flatnonzero(mask)[:limit])


def _monotonic_time(table: pa.Table) -> list[Problem]:
    problems = []
    for name in ("ts_event", "ts_init"):
        decreasing = np.diff(_int64(table, name)) < 0
        if decreasing.any():
            problems.append(
                Problem(
                    "monotonic_time",
                    Severity.ERROR,
                    f"{name} goes back in time {int(decreasing.sum())} time(s), first at row(s) "
                    f"{_first_rows(np.append(False, decreasing))}",
                    int(decreasing.sum()),
                )
            )
    return problems


def _missing_timestamps(table: pa.Table) -> list[Problem]:
    return [
        Problem("monotonic_time", Severity.ERROR, f"{name} is missing in {table.column(name).null_count} row(s)")
        for name in ("ts_event", "ts_init")
        if table.column(name).null_count
    ]


def _positive_timestamps(table: pa.Table) -> list[Problem]:
    problems = []
    for name in ("ts_event", "ts_init"):
        bad = _int64(table, name) <= 0
        if bad.any():
            problems.append(
                Problem(
                    "monotonic_time",
                    Severity.ERROR,
                    f"{name} has {int(bad.sum())} timestamp(s) at or before 1970-01-01, first at row(s) {_first_rows(bad)}",
                    int(bad.sum()),
                )
            )
    return problems


def _rows_in_day(table: pa.Table, day: dt.date) -> list[Problem]:
    """A row belongs to the file's day when its exchange or its receive time falls on that day."""
    start = (day - dt.date(1970, 1, 1)).days * 86_400 * _NS
    end = start + 86_400 * _NS
    outside = np.ones(table.num_rows, dtype=bool)
    for name in ("ts_event", "ts_init"):
        values = _int64(table, name)
        outside &= (values < start) | (values >= end)
    if not outside.any():
        return []
    return [
        Problem(
            "rows_in_day",
            Severity.ERROR,
            f"{int(outside.sum())} row(s) are not from {day.isoformat()} (the file's day folder), "
            f"first at row(s) {_first_rows(outside)}",
            int(outside.sum()),
        )
    ]


def _duplicate_trade_ids(table: pa.Table) -> list[Problem]:
    ids = table.column("trade_id")
    nulls = ids.null_count
    duplicates = table.num_rows - nulls - len(pc.unique(pc.drop_null(ids)))
    problems = []
    if nulls:
        problems.append(Problem("trade_ids", Severity.ERROR, f"{nulls} trade(s) without a trade id", nulls))
    if duplicates:
        counts = pc.value_counts(ids)
        repeated = pc.filter(counts.field("values"), pc.greater(counts.field("counts"), 1)).to_pylist()[:3]
        problems.append(
            Problem("trade_ids", Severity.ERROR, f"{duplicates} duplicate trade id(s), e.g. {repeated}", duplicates)
        )
    return problems


def _largest_allowed(precision: int | None, nautilus_max: float) -> float:
    """NautilusTrader's own maximum, and what keeps the fixed-point mantissa inside 63 bits."""
    return nautilus_max if precision is None else min(nautilus_max, 9.2e18 / 10.0**precision)


def _kind(value: float, largest: float) -> str:
    if np.isnan(value):
        return "NaN"
    if value > largest:
        return "infinite" if np.isinf(value) else f"above the maximum {largest:g}"
    return "zero" if value == 0 else "negative"


def _positive(table: pa.Table, names: list[str], what: str, precision: int | None, nautilus_max: float) -> list[Problem]:
    problems = []
    largest = _largest_allowed(precision, nautilus_max)
    for name in names:
        values = _float(table, name)
        bad = ~((values > 0) & (values <= largest))  # NaN, zero, negative, infinite and too large alike
        if bad.any():
            kinds = sorted({_kind(v, largest) for v in values[bad][:1000]})
            problems.append(
                Problem(
                    f"positive_{what}",
                    Severity.ERROR,
                    f"column {name!r} has {int(bad.sum())} invalid value(s) ({', '.join(kinds)}), "
                    f"first at row(s) {_first_rows(bad)}",
                    int(bad.sum()),
                )
            )
    return problems


def _on_grid(table: pa.Table, names: list[str], precision: int, what: str) -> list[Problem]:
    problems = []
    scale = 10.0**precision
    for name in names:
        scaled = _float(table, name) * scale
        finite = np.isfinite(scaled)  # NaN and inf are reported by the positive-value check
        off = np.zeros(len(scaled), dtype=bool)
        off[finite] = np.abs(scaled[finite] - np.rint(scaled[finite])) > 1e-6  # float noise of x * 10**p ~1e-10
        if off.any():
            problems.append(
                Problem(
                    f"{what}_precision",
                    Severity.ERROR,
                    f"column {name!r} has {int(off.sum())} value(s) finer than the instrument's {what} precision "
                    f"{precision}, first at row(s) {_first_rows(off)}",
                    int(off.sum()),
                )
            )
    return problems


def _crossed_or_unordered_book(table: pa.Table) -> list[Problem]:
    bids = [_float(table, f"bid_price_{i}") for i in range(BOOK_DEPTH)]
    asks = [_float(table, f"ask_price_{i}") for i in range(BOOK_DEPTH)]
    problems = []
    crossed = bids[0] >= asks[0]
    if crossed.any():
        problems.append(
            Problem(
                "crossed_book",
                Severity.ERROR,
                f"{int(crossed.sum())} snapshot(s) with best bid >= best ask, first at row(s) {_first_rows(crossed)}",
                int(crossed.sum()),
            )
        )
    unordered = np.zeros(table.num_rows, dtype=bool)
    for level in range(BOOK_DEPTH - 1):
        unordered |= (bids[level + 1] >= bids[level]) | (asks[level + 1] <= asks[level])
    if unordered.any():
        problems.append(
            Problem(
                "book_levels_ordered",
                Severity.ERROR,
                f"{int(unordered.sum())} snapshot(s) whose levels are not strictly ordered away from the top, "
                f"first at row(s) {_first_rows(unordered)}",
                int(unordered.sum()),
            )
        )
    return problems


def _gaps(ts_event: np.ndarray, max_gap_secs: float) -> list[Problem]:
    deltas = np.diff(ts_event)
    long = deltas > max_gap_secs * _NS
    if not long.any():
        return []
    return [
        Problem(
            "gaps",
            Severity.WARN,
            f"{int(long.sum())} gap(s) longer than {max_gap_secs:g} s, the largest {deltas.max() / _NS:.1f} s",
            int(long.sum()),
        )
    ]
