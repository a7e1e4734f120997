"""Sensor that registers (day, instrument) partitions for new raw files and converts new or changed ones.

The cursor holds each cell's file signatures (size + mtime, or the GCS generation), so an unchanged
file costs one stat per tick. A cell whose signature is new to the cursor (a new file, a re-delivered
one, or every cell after the cursor was reset) is observed: its content version is reported on
``raw_ticks``, and its conversion is requested only if the catalog partition's latest materialization
was not already made from these very files by the current code (``odum_pipeline.materialized``).
"""

import json

from dagster import (
    AssetObservation,
    DefaultSensorStatus,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)
from dagster._core.definitions.data_version import DATA_VERSION_TAG

from odum_pipeline.catalog.assets import tick_catalog
from odum_pipeline.catalog.partitions import (
    catalog_partition_key,
    day_partitions,
    instrument_partitions,
    unregistered,
)
from odum_pipeline.catalog.versions import raw_cell_version
from odum_pipeline.materialized import materialization_is_current
from odum_pipeline.resources import RawDataResource


@sensor(
    minimum_interval_seconds=30,
    default_status=DefaultSensorStatus.RUNNING,
    asset_selection=[tick_catalog],
    description=(
        "Scans the raw root: registers new days/instruments and requests conversion of new or changed files "
        "(skipping cells whose catalog partition was already converted from the same files by the same code)."
    ),
)
def raw_files_sensor(context: SensorEvaluationContext, raw_data: RawDataResource) -> SensorResult:
    source = raw_data.source()  # a local/mounted folder or a GCS bucket
    raw_files = source.discover()
    seen: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
    cells: dict[str, list] = {}
    for raw_file in raw_files:
        cells.setdefault(raw_file.partition_key, []).append(raw_file)
    current = {cell: ";".join(sorted(source.signature(f) for f in files)) for cell, files in cells.items()}
    changed = sorted(cell for cell, signature in current.items() if seen.get(cell) != signature)
    new_days, new_instruments = unregistered(context.instance, raw_files)
    versions = {cell: raw_cell_version(source, cells[cell]) for cell in changed}
    run_requests, already_converted = [], []
    for cell in changed:
        key = catalog_partition_key(*cell.split("|", 1))
        if materialization_is_current(context.instance, tick_catalog, str(key), {"raw_version": versions[cell]}):
            already_converted.append(cell)
            context.log.info(f"{cell} skipped: its catalog partition was converted from these files by this code")
            continue
        run_requests.append(
            RunRequest(partition_key=key, run_key=f"{cell}@{current[cell]}", tags={"odum/trigger": "raw_files_sensor"})
        )
    return SensorResult(
        run_requests=run_requests,
        dynamic_partitions_requests=[
            request
            for request in (
                day_partitions.build_add_request(new_days) if new_days else None,
                instrument_partitions.build_add_request(new_instruments) if new_instruments else None,
            )
            if request is not None
        ],
        asset_events=[
            AssetObservation("raw_ticks", partition=cell, tags={DATA_VERSION_TAG: version})
            for cell, version in versions.items()
        ],
        cursor=json.dumps(current, sort_keys=True),
        skip_reason=SkipReason(f"{len(already_converted)} raw cell(s) already converted from the same files")
        if already_converted and not run_requests
        else None,
    )
