"""Sensor that registers (day, instrument) partitions for new raw files and converts new or changed ones.

The cursor holds each cell's file signatures (size + mtime, or the GCS generation), so an unchanged
file costs one stat per tick. A cell whose signature is new to the cursor (a new file, a re-delivered
one, or every cell after the cursor was reset, e.g. a new ``dagster dev``) is converted unless its
catalog partition's latest materialization was made by the current code from these very files:
the signature it recorded is the same, or (a file touched or re-delivered with the same bytes) the
content version it recorded is (``catalog.versions``, ``odum_pipeline.materialized``).
"""

import json

from dagster import DefaultSensorStatus, RunRequest, SensorEvaluationContext, SensorResult, SkipReason, sensor

from odum_pipeline.catalog.assets import tick_catalog
from odum_pipeline.catalog.partitions import (
    catalog_partition_key,
    day_partitions,
    instrument_partitions,
    unregistered,
)
from odum_pipeline.catalog.resources import RawDataResource
from odum_pipeline.catalog.versions import raw_cell_signature, raw_cell_version
from odum_pipeline.materialized import materialization_is_current


def already_converted(instance, partition: str, source, files, signature: str) -> bool:
    """The partition's latest conversion is by the current code from the same files (hashed only if touched)."""
    if materialization_is_current(instance, tick_catalog, partition, {"raw_signature": signature}):
        return True
    if not materialization_is_current(instance, tick_catalog, partition, {}):
        return False  # never converted, or by older code: no need to hash
    return materialization_is_current(instance, tick_catalog, partition, {"raw_version": raw_cell_version(source, files)})


@sensor(
    minimum_interval_seconds=10,
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
    current = {cell: raw_cell_signature(source, files) for cell, files in cells.items()}
    changed = sorted(cell for cell, signature in current.items() if seen.get(cell) != signature)
    new_days, new_instruments = unregistered(context.instance, raw_files)
    run_requests, converted = [], []
    for cell in changed:
        key = catalog_partition_key(*cell.split("|", 1))
        if already_converted(context.instance, str(key), source, cells[cell], current[cell]):
            converted.append(cell)
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
        cursor=json.dumps(current, sort_keys=True),
        skip_reason=SkipReason(f"{len(converted)} raw cell(s) already converted from the same files")
        if converted and not run_requests
        else None,
    )
