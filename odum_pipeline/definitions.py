"""The one Dagster ``Definitions`` of odum-pipeline (``workspace.yaml`` points ``dagster dev`` here)."""

from dagster import Definitions

from odum_pipeline.backtests.assets import backtest_run
from odum_pipeline.backtests.sensors import backtest_sources_sensor
from odum_pipeline.backtests.sources import algorithm_registry, backtest_configs
from odum_pipeline.catalog.assets import raw_ticks, tick_catalog
from odum_pipeline.catalog.sensors import raw_files_sensor
from odum_pipeline.reports.assets import comparison_report
from odum_pipeline.resources import (
    AlgorithmsResource,
    CatalogResource,
    ConfigsResource,
    RawDataResource,
    ResultsResource,
)


def default_resources() -> dict:
    return {
        "raw_data": RawDataResource(),
        "catalog": CatalogResource(),
        "results": ResultsResource(),
        "configs": ConfigsResource(),
        "algorithms": AlgorithmsResource(),
    }


defs = Definitions(
    assets=[raw_ticks, tick_catalog, backtest_configs, algorithm_registry, backtest_run, comparison_report],
    sensors=[raw_files_sensor, backtest_sources_sensor],
    resources=default_resources(),
)
