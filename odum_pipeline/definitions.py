"""The one Dagster ``Definitions`` of odum-pipeline (``workspace.yaml`` points ``dagster dev`` here)."""

from dagster import Definitions, in_process_executor

from odum_pipeline.backtests.assets import backtest_run
from odum_pipeline.backtests.automation import backtest_automation_sensor
from odum_pipeline.backtests.jobs import adhoc_backtest_job, publish_config_job, save_algorithm_job
from odum_pipeline.backtests.sensors import backtest_sources_sensor
from odum_pipeline.backtests.sources import algorithm_registry, backtest_configs
from odum_pipeline.catalog.assets import raw_ticks, tick_catalog
from odum_pipeline.catalog.sensors import raw_files_sensor
from odum_pipeline.reports.assets import comparison_report
from odum_pipeline.reports.schedules import comparison_reports_job, daily_comparison_reports
from odum_pipeline.resources import (
    AlgorithmsResource,
    CatalogResource,
    ConfigsResource,
    RawDataResource,
    ResultsResource,
)


ALL_ASSETS = [raw_ticks, tick_catalog, backtest_configs, algorithm_registry, backtest_run, comparison_report]


def default_resources() -> dict:
    return {
        "raw_data": RawDataResource(),
        "catalog": CatalogResource(),
        "results": ResultsResource(),
        "configs": ConfigsResource(),
        "algorithms": AlgorithmsResource(),
    }


def build_definitions(resources: dict | None = None) -> Definitions:
    """The project's definitions; tests pass resources pointing at temporary roots."""
    return Definitions(
        assets=ALL_ASSETS,
        jobs=[publish_config_job, save_algorithm_job, adhoc_backtest_job, comparison_reports_job],
        sensors=[raw_files_sensor, backtest_sources_sensor, backtest_automation_sensor],
        schedules=[daily_comparison_reports],
        resources=resources if resources is not None else default_resources(),
        # Each run executes its steps in the run's own process. A backtest_run or conversion run is one
        # step, so Dagster's default (multiprocess) executor only added a second interpreter per run,
        # importing Dagster and NautilusTrader again (~4 s): in a backfill of short backtests that start-up
        # was a large part of every run. Parallelism comes from the run queue and the `nautilus` pool.
        executor=in_process_executor,
    )


defs = build_definitions()
