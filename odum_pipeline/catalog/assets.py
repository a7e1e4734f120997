"""Dagster definitions of the market data: observed raw ticks -> the NautilusTrader tick catalog."""

import time
from collections import defaultdict

import pyarrow.parquet as pq
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    DataVersion,
    DataVersionsByPartition,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
    observable_source_asset,
)

from odum_pipeline.catalog.checks import Problem, QualityReport
from odum_pipeline.catalog.convert import ConversionError, ConversionResult, convert_day
from odum_pipeline.catalog.partitions import catalog_partition_key, catalog_partitions, parse_catalog_partition
from odum_pipeline.catalog.resources import CatalogResource, RawDataResource
from odum_pipeline.catalog.versions import raw_cell_signature, raw_cell_version
from odum_pipeline.gcs import is_remote
from odum_pipeline.timestamps import ns_to_iso

# Each Dagster check gathers the problems of the plain checks it stands for.
CHECK_GROUPS: dict[str, tuple[tuple[str, ...], str]] = {
    "schema": (("schema", "not_empty", "files_present"), "Files readable, with the columns of a known raw schema."),
    "monotonic_time": (("monotonic_time", "rows_in_day"), "Timestamps present, after 1970, never going back, on the file's day."),
    "book_not_crossed": (("crossed_book", "book_levels_ordered"), "Best bid < best ask; levels ordered."),
    "positive_prices_and_sizes": (
        ("positive_price", "positive_size", "price_precision", "size_precision"),
        "Prices and sizes positive, finite and on the instrument's grid.",
    ),
    "unique_trade_ids": (("trade_ids",), "Every trade has a unique id."),
    "no_long_gaps": (("gaps",), "No gap between ticks longer than the configured threshold (WARN)."),
    "row_counts": (("row_counts",), "Catalog rows equal raw rows, per data type."),
}
_GROUP_OF = {check: group for group, (checks, _) in CHECK_GROUPS.items() for check in checks}

raw_ticks_description = (
    "Raw trades and top-5 book snapshots per (day, instrument) under raw_tick_data/by_date/, observed, "
    "never written. Data version = SHA-256 of the files' content (GCS objects: generation + md5/crc32c)."
)


@observable_source_asset(partitions_def=catalog_partitions, group_name="market_data", description=raw_ticks_description)
def raw_ticks(context, raw_data: RawDataResource) -> DataVersionsByPartition:
    registered = set(context.instance.get_dynamic_partitions("day")), set(
        context.instance.get_dynamic_partitions("instrument")
    )
    files_by_cell = defaultdict(list)
    source = raw_data.source()
    for raw_file in source.discover():
        if raw_file.day.isoformat() in registered[0] and raw_file.instrument_key in registered[1]:
            files_by_cell[(raw_file.day, raw_file.instrument_key)].append(raw_file)
    return DataVersionsByPartition(
        {
            catalog_partition_key(day, instrument): DataVersion(raw_cell_version(source, files))
            for (day, instrument), files in files_by_cell.items()
        }
    )


@asset(
    partitions_def=catalog_partitions,
    deps=[raw_ticks],
    group_name="market_data",
    code_version="catalog-v1",
    check_specs=[
        AssetCheckSpec(name, asset="tick_catalog", description=description, blocking=name != "no_long_gaps")
        for name, (_, description) in CHECK_GROUPS.items()
    ],
    description=(
        "NautilusTrader ParquetDataCatalog for one (day, instrument): TradeTick and OrderBookDepth10 "
        "snapshots. Re-materializing replaces the day atomically."
    ),
)
def tick_catalog(context: AssetExecutionContext, raw_data: RawDataResource, catalog: CatalogResource):
    day, instrument_key = parse_catalog_partition(context.partition_key)
    started = time.monotonic()
    source = raw_data.source()
    # Taken before converting: a file re-delivered meanwhile leaves an older version here (re-converted later).
    cell_files = [f for f in source.discover() if (f.day, f.instrument_key) == (day, instrument_key)]
    raw_versions = {
        "raw_signature": raw_cell_signature(source, cell_files),
        "raw_version": raw_cell_version(source, cell_files),
    }
    try:
        result = convert_day(
            source, catalog.path, day, instrument_key, max_gap_secs=catalog.max_gap_secs, log=context.log.info
        )
    except ConversionError as error:
        for check_result in _check_results_for_failure(error.problems):
            yield check_result
        raise Failure(description=str(error)) from error
    elapsed = max(time.monotonic() - started, 1e-9)
    rows = sum(result.rows.values())
    context.log.info(f"{instrument_key} {day}: {rows:,} rows converted in {elapsed:.1f} s ({rows / elapsed:,.0f} rows/s)")
    yield MaterializeResult(
        metadata={**_metadata(result), "rows_per_sec": MetadataValue.float(rows / elapsed), **raw_versions},
        check_results=_check_results(result),
    )


def _check_results_for_failure(problems: list[tuple[str, Problem]]) -> list[AssetCheckResult]:
    by_group = defaultdict(list)
    for path, problem in problems:
        by_group[_GROUP_OF.get(problem.check, "schema")].append(f"{path}: {problem}")
    return [
        AssetCheckResult(
            check_name=group,
            passed=False,
            severity=AssetCheckSeverity.ERROR,
            description="\n".join(messages)[:4000],
            metadata={"problems": len(messages)},
        )
        for group, messages in by_group.items()
    ]


def _check_results(result: ConversionResult) -> list[AssetCheckResult]:
    problems = defaultdict(list)
    for data_type, report in result.reports.items():
        for problem in report.problems:
            problems[_GROUP_OF[problem.check]].append(f"{result.sources[data_type]}: {problem}")
    for data_type, path in result.catalog_files.items():
        catalog_rows = _parquet_rows(path)
        if catalog_rows != result.reports[data_type].rows:
            problems["row_counts"].append(
                f"{data_type}: {result.reports[data_type].rows} raw rows but {catalog_rows} in {path}"
            )
    return [
        AssetCheckResult(
            check_name=group,
            passed=not problems[group],
            severity=AssetCheckSeverity.WARN if group == "no_long_gaps" else AssetCheckSeverity.ERROR,
            description="\n".join(problems[group])[:4000] or "ok",
        )
        for group in CHECK_GROUPS
    ]


def _parquet_rows(path: str) -> int:
    if is_remote(path):
        from odum_pipeline.gcs import filesystem

        with filesystem().open(path, "rb") as handle:
            return pq.ParquetFile(handle).metadata.num_rows
    return pq.ParquetFile(path).metadata.num_rows


def _metadata(result: ConversionResult) -> dict:
    metadata: dict = {"instrument_id": result.instrument_id}
    for data_type, report in result.reports.items():
        metadata.update(_report_metadata(data_type, report))
        source = result.sources[data_type]
        metadata[f"{data_type}_source"] = _location_value(source)
        metadata[f"{data_type}_source_sha256"] = result.source_sha256[data_type]
        if data_type in result.catalog_files:
            metadata[f"{data_type}_catalog_file"] = _location_value(result.catalog_files[data_type])
    metadata["rows"] = sum(report.rows for report in result.reports.values())
    return metadata


def _location_value(location) -> MetadataValue:
    """A gs:// URI as a link, a local file as a path."""
    return MetadataValue.url(location) if is_remote(location) else MetadataValue.path(location)


def _report_metadata(data_type: str, report: QualityReport) -> dict:
    def iso(ns):
        return ns_to_iso(ns) if ns is not None else "-"

    return {
        f"{data_type}_rows": MetadataValue.int(report.rows),
        f"{data_type}_first_ts": iso(report.first_ts),
        f"{data_type}_last_ts": iso(report.last_ts),
        f"{data_type}_largest_gap_secs": MetadataValue.float(report.largest_gap_ns / 1e9),
        f"{data_type}_warnings": len(report.warnings),
    }
