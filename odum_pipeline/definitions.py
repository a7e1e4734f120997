"""The one Dagster ``Definitions`` of odum-pipeline (``workspace.yaml`` points ``dagster dev`` here)."""

from pathlib import Path

from dagster import Definitions, in_process_executor

from odum_pipeline.backtests.assets import backtest_run
from odum_pipeline.backtests.automation import backtest_automation_sensor
from odum_pipeline.backtests.jobs import adhoc_backtest_job, publish_config_job, save_algorithm_job
from odum_pipeline.backtests.resources import AlgorithmsResource, ConfigsResource, ResultsResource
from odum_pipeline.backtests.sensors import backtest_sources_sensor
from odum_pipeline.backtests.source_assets import algorithm_registry, backtest_configs
from odum_pipeline.catalog.assets import raw_ticks, tick_catalog
from odum_pipeline.catalog.resources import CatalogResource, RawDataResource
from odum_pipeline.catalog.sensors import raw_files_sensor
from odum_pipeline.reports.assets import comparison_report
from odum_pipeline.reports.automation import report_automation_sensor
from odum_pipeline.reports.schedules import comparison_reports_job, daily_comparison_reports

ALL_ASSETS = [raw_ticks, tick_catalog, backtest_configs, algorithm_registry, backtest_run, comparison_report]


def storage_resources(
    raw_root: Path | str | None = None,
    catalog_root: Path | str | None = None,
    results_root: Path | str | None = None,
    configs_root: Path | str | None = None,
    algorithms_root: Path | str | None = None,
) -> dict:
    """The resources every asset, sensor and job binds, by key; a root left out takes the resource's
    default (the environment variables, else ./var). The definitions, ``odum main`` and the tests share it."""
    roots = {
        "raw_data": (RawDataResource, raw_root),
        "catalog": (CatalogResource, catalog_root),
        "results": (ResultsResource, results_root),
        "configs": (ConfigsResource, configs_root),
        "algorithms": (AlgorithmsResource, algorithms_root),
    }
    return {key: cls() if root is None else cls(root=str(root)) for key, (cls, root) in roots.items()}


def build_definitions(resources: dict | None = None) -> Definitions:
    """The project's definitions; tests pass resources pointing at temporary roots."""
    return Definitions(
        assets=ALL_ASSETS,
        jobs=[publish_config_job, save_algorithm_job, adhoc_backtest_job, comparison_reports_job],
        sensors=[raw_files_sensor, backtest_sources_sensor, backtest_automation_sensor, report_automation_sensor],
        schedules=[daily_comparison_reports],
        resources=resources if resources is not None else storage_resources(),
        # Each run executes its steps in the run's own process. A backtest_run or conversion run is one
        # step, so Dagster's default (multiprocess) executor only added a second interpreter per run,
        # importing Dagster and NautilusTrader again (~4 s): in a backfill of short backtests that start-up
        # was a large part of every run. Parallelism comes from the run queue and the `nautilus` pool.
        executor=in_process_executor,
    )


defs = build_definitions()
