"""Convert one (day, instrument) of raw ticks into the NautilusTrader ``ParquetDataCatalog``.

Read -> check -> encode happen before the catalog is touched: a file that fails a blocking
check leaves the catalog as it was. The write itself is a journaled swap (see
:mod:`odum_pipeline.catalog.store`), so re-converting a day replaces that day's files and a
kill mid-way leaves either the old or the new day, never both or neither.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
from nautilus_trader.model.data import OrderBookDepth10, TradeTick

from odum_pipeline.catalog import store
from odum_pipeline.catalog.depth_index import build_index
from odum_pipeline.catalog.checks import DEFAULT_MAX_GAP_SECS, Problem, QualityReport, Severity, check_ticks
from odum_pipeline.catalog.layout import BOOK, RAW_DIR, TRADES, relative_name
from odum_pipeline.catalog.nautilus_arrow import depth10_table, trades_table
from odum_pipeline.catalog.raw_sources import RawSource, as_raw_source, file_sha256
from odum_pipeline.catalog.readers import RawDataError
from odum_pipeline.errors import OdumError
from odum_pipeline.gcs import location
from odum_pipeline.instruments import InstrumentSpec, build_instrument, resolve

CATALOG_CLASSES = {TRADES: TradeTick, BOOK: OrderBookDepth10}
_MISSING_TYPE = f"file missing; a day converts only with both its {TRADES} and {BOOK} files"


class ConversionError(OdumError, ValueError):
    """Raw data that must not enter the catalog; lists every blocking problem with its file."""

    def __init__(self, day: dt.date, instrument_key: str, problems: list[tuple[str, Problem]]) -> None:
        self.day = day
        self.instrument_key = instrument_key
        self.problems = problems
        lines = "\n".join(f"  {path}: {problem}" for path, problem in problems)
        super().__init__(f"cannot convert {instrument_key} on {day}; the catalog was left as it was:\n{lines}")


@dataclass
class ConversionResult:
    day: dt.date
    instrument_key: str
    instrument_id: str
    reports: dict[str, QualityReport] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)  # data type -> raw file path
    source_sha256: dict[str, str] = field(default_factory=dict)
    catalog_files: dict[str, str] = field(default_factory=dict)  # data type -> catalog file

    @property
    def rows(self) -> dict[str, int]:
        return {data_type: report.rows for data_type, report in self.reports.items()}


__all__ = ["CATALOG_CLASSES", "ConversionError", "ConversionResult", "convert_day", "file_sha256"]


def convert_day(
    raw_root: Path | str | RawSource,
    catalog_root: Path | str,
    day: dt.date,
    instrument_key: str,
    *,
    max_gap_secs: float = DEFAULT_MAX_GAP_SECS,
    log: Callable[[str], None] = lambda message: None,
) -> ConversionResult:
    """Convert the raw trades and book snapshots of ``instrument_key`` on ``day``.

    ``raw_root``: a folder, a ``gs://bucket/prefix`` URI or a :class:`RawSource`; ``catalog_root``:
    a folder or a ``gs://`` URI (see :mod:`odum_pipeline.catalog.remote`).
    """
    spec = resolve(instrument_key)
    source = as_raw_source(raw_root)
    catalog_root = location(catalog_root)
    store.recover(catalog_root)
    result = ConversionResult(day, instrument_key, spec.instrument_id)
    tables, blocking = _read_and_check(source, day, instrument_key, spec, max_gap_secs, result, log)
    if blocking:
        raise ConversionError(day, instrument_key, blocking)
    _write_instrument(catalog_root, spec)
    replacements, indexes = {}, {}
    for data_type in CATALOG_CLASSES:
        info = {"source": result.sources.get(data_type), "source_sha256": result.source_sha256.get(data_type)}
        table = _encode(data_type, tables[data_type], spec) if data_type in tables else None
        directory = store.data_directory(catalog_root, CATALOG_CLASSES[data_type], spec.instrument_id)
        replacements[directory] = (table, info)
        if data_type == BOOK:  # the active replay's restart state (catalog.depth_index)
            indexes[directory] = build_index
    written = store.replace_day(catalog_root, day, replacements, indexes)
    for data_type, cls in CATALOG_CLASSES.items():
        directory = store.data_directory(catalog_root, cls, spec.instrument_id)
        if written.get(directory):
            result.catalog_files[data_type] = str(written[directory])
    log(f"converted {instrument_key} {day}: " + ", ".join(f"{k} {v:,} rows" for k, v in result.rows.items()))
    return result


def _read_and_check(source: RawSource, day, instrument_key, spec, max_gap_secs, result, log):
    tables: dict[str, pa.Table] = {}
    blocking: list[tuple[str, Problem]] = []
    for data_type in CATALOG_CLASSES:
        raw_file = source.find(day, data_type, instrument_key)
        if raw_file is None:  # converting the other type alone would drop this one from the catalog's day
            expected = f"{source.label}/{RAW_DIR}/{relative_name(day, data_type, instrument_key)}"
            blocking.append((expected, Problem("files_present", Severity.ERROR, _MISSING_TYPE)))
            continue
        path = raw_file.path
        result.sources[data_type] = str(path)
        try:
            table, result.source_sha256[data_type] = source.read(raw_file)
        except RawDataError as exc:
            blocking.append((str(path), Problem("schema", Severity.ERROR, exc.problem)))
            continue
        report = check_ticks(
            table,
            data_type,
            price_precision=spec.price_precision,
            size_precision=spec.size_precision,
            max_gap_secs=max_gap_secs,
            day=day,
        )
        result.reports[data_type] = report
        blocking += [(str(path), problem) for problem in report.errors]
        log(f"read {str(path).rsplit('/', 1)[-1]} ({data_type}): {table.num_rows:,} rows, {len(report.problems)} problem(s)")
        tables[data_type] = table
    return tables, blocking


def _encode(data_type: str, table: pa.Table, spec: InstrumentSpec) -> pa.Table:
    encoder = trades_table if data_type == TRADES else depth10_table
    return encoder(table, spec.instrument_id, spec.price_precision, spec.size_precision)


def _write_instrument(catalog_root: Path | str, spec: InstrumentSpec) -> None:
    """The instrument definition, written once (NautilusTrader skips an identical existing file)."""
    catalog = store.open_catalog(catalog_root)
    if not catalog.instruments(instrument_ids=[spec.instrument_id]):
        catalog.write_data([build_instrument(spec)])
