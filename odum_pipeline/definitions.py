"""The one Dagster ``Definitions`` of odum-pipeline (``workspace.yaml`` points ``dagster dev`` here)."""

from dagster import Definitions

from odum_pipeline.catalog.assets import raw_ticks, tick_catalog
from odum_pipeline.catalog.sensors import raw_files_sensor
from odum_pipeline.resources import CatalogResource, RawDataResource, ResultsResource

defs = Definitions(
    assets=[raw_ticks, tick_catalog],
    asset_checks=[],
    sensors=[raw_files_sensor],
    resources={
        "raw_data": RawDataResource(),
        "catalog": CatalogResource(),
        "results": ResultsResource(),
    },
)
