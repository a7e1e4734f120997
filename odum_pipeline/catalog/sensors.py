"""Sensor that registers (day, instrument) partitions for new raw files and converts new or changed ones."""


import json

from dagster import DefaultSensorStatus, RunRequest, SensorEvaluationContext, SensorResult, sensor

from odum_pipeline.catalog.assets import tick_catalog
from odum_pipeline.catalog.partitions import (
    catalog_partition_key,
    day_partitions,
    instrument_partitions,
    unregistered,
)
from odum_pipeline.resources import RawDataResource


@sensor(
    minimum_interval_seconds=30,
    default_status=DefaultSensorStatus.RUNNING,
    asset_selection=[tick_catalog],
    description="Scans the raw root: registers new days/instruments and requests conversion of new or changed files.",
)
def raw_files_sensor(context: SensorEvaluationContext, raw_data: RawDataResource) -> SensorResult:
    source = raw_data.source()  # a local/mounted folder or a GCS bucket
    raw_files = source.discover()
    seen: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
    cells: dict[str, list] = {}
    for raw_file in raw_files:
        cells.setdefault(raw_file.partition_key, []).append(raw_file)
    current = {cell: ";".join(sorted(source.signature(f) for f in files)) for cell, files in cells.items()}
    changed = [cell for cell, signature in current.items() if seen.get(cell) != signature]
    new_days, new_instruments = unregistered(context.instance, raw_files)
    run_requests = []
    for cell in sorted(changed):
        day, instrument = cell.split("|", 1)
        run_requests.append(
            RunRequest(
                partition_key=catalog_partition_key(day, instrument),
                run_key=f"{cell}@{current[cell]}",
                tags={"odum/trigger": "raw_files_sensor"},
            )
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
    )
