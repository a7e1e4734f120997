"""The main job on the embedded defaults: sample data -> catalog -> backtests, recorded in a Dagster instance.

Each step is a real Dagster materialization on the given instance, so every run shows in the UI
(`dagster dev` on the same DAGSTER_HOME) with its lineage, metadata and checks.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from dagster import DagsterInstance, materialize
from dagster._core.definitions.observe import observe

from odum_pipeline.backtests.assets import backtest_run
from odum_pipeline.backtests.config import ConfigError, list_configs, load_config
from odum_pipeline.backtests.engine import BacktestSetupError
from odum_pipeline.backtests.partitions import (
    algorithm_partitions,
    backtest_partition_key,
    config_partitions,
    parse_backtest_partition,
)
from odum_pipeline.backtests.runs import check_window_covered
from odum_pipeline.backtests.sensors import new_source_partitions
from odum_pipeline.backtests.source_assets import algorithm_registry, backtest_configs
from odum_pipeline.catalog.assets import raw_ticks, tick_catalog
from odum_pipeline.catalog.layout import discover_raw_files
from odum_pipeline.catalog.partitions import catalog_partition_key, register_partitions
from odum_pipeline.catalog.sample import generate_default_sample
from odum_pipeline.definitions import ALL_ASSETS, storage_resources
from odum_pipeline.reports.assets import comparison_report

# Keep the console to warnings: the CLI prints its own progress; the instance still records every event.
QUIET_CONSOLE = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def materialize_partition(instance: DagsterInstance, resources: dict, asset, partition_key):
    """One recorded Dagster run materializing one partition of ``asset``; failures are returned, not raised."""
    return materialize(
        ALL_ASSETS,
        selection=[asset],
        partition_key=partition_key,
        instance=instance,
        resources=resources,
        raise_on_error=False,
        run_config=QUIET_CONSOLE,
    )


def build_catalog(
    instance: DagsterInstance, resources: dict, *, log: Callable[[str], None] = print
) -> list[str]:
    """Register every (day, instrument) on disk, observe the raw files, materialize each catalog partition."""
    raw_files = resources["raw_data"].source().discover()  # local folder, mount or bucket
    if not raw_files:
        raise FileNotFoundError(f"no raw files under {resources['raw_data'].path / 'raw_tick_data/by_date'}")
    new_days, new_instruments = register_partitions(instance, raw_files)
    log(f"registered {len(new_days)} new day(s), {len(new_instruments)} new instrument(s)")
    observe([raw_ticks], instance=instance, resources=resources, run_config=QUIET_CONSOLE)
    cells = sorted({(f.day, f.instrument_key) for f in raw_files})
    done = []
    for index, (day, instrument) in enumerate(cells, 1):
        key = catalog_partition_key(day, instrument)
        result = materialize_partition(instance, resources, tick_catalog, key)
        status = "ok" if result.success else "FAILED"
        log(f"[{index}/{len(cells)}] tick_catalog {key}: {status} (run {result.run_id[:8]})")
        if result.success:
            done.append(str(key))
    return done


def runnable_backtests(resources: dict, *, log: Callable[[str], None] = print) -> list[tuple[str, str]]:
    """(config, algorithm) pairs of every valid config whose window the catalog covers."""
    pairs = []
    for path in list_configs(resources["configs"].path):
        try:
            config = load_config(path)
            check_window_covered(config, resources["catalog"].path)
        except (ConfigError, BacktestSetupError) as error:  # WindowNotCoveredError, no market data, a damaged day
            log(f"skipping config {path.stem}: {str(error).splitlines()[0]}")
            continue
        pairs += [(path.stem, name) for name in config.execution.names()]
    return pairs


def run_backtests(instance: DagsterInstance, resources: dict, *, log: Callable[[str], None] = print) -> list[str]:
    """Register config and algorithm partitions, observe them, materialize each runnable backtest."""
    new_configs, new_algorithms = new_source_partitions(
        instance, resources["configs"].path, resources["algorithms"].path
    )
    instance.add_dynamic_partitions(config_partitions.name, new_configs)
    instance.add_dynamic_partitions(algorithm_partitions.name, new_algorithms)
    for source in (backtest_configs, algorithm_registry):  # one observation job per partitions definition
        observe([source], instance=instance, resources=resources, run_config=QUIET_CONSOLE)
    pairs = runnable_backtests(resources, log=log)
    done = []
    for index, (config_name, algorithm_name) in enumerate(pairs, 1):
        key = backtest_partition_key(config_name, algorithm_name)
        result = materialize_partition(instance, resources, backtest_run, key)
        if result.success:
            metadata = result.asset_materializations_for_node("backtest_run")[0].metadata
            log(
                f"[{index}/{len(pairs)}] backtest_run {key}: ok  run id {metadata['run_id'].value}  "
                f"{metadata['money'].value if 'money' in metadata else ''}  filled {metadata['filled_qty'].value:g}"
            )
            done.append(str(key))
        else:
            log(f"[{index}/{len(pairs)}] backtest_run {key}: FAILED (run {result.run_id[:8]}; see the Dagster UI)")
    return done


def build_reports(instance: DagsterInstance, resources: dict, configs: list[str], *, log=print) -> list[str]:
    """Materialize the comparison report of each config."""
    done = []
    for config_name in configs:
        result = materialize_partition(instance, resources, comparison_report, config_name)
        if result.success:
            metadata = result.asset_materializations_for_node("comparison_report")[0].metadata
            html = metadata.get("html_report")
            log(f"comparison_report {config_name}: ok" + (f"  {html.value}" if html else "  (no report-mode runs)"))
            done.append(config_name)
        else:
            log(f"comparison_report {config_name}: FAILED (run {result.run_id[:8]}; see the Dagster UI)")
    return done


def run_main(
    instance: DagsterInstance,
    raw_root: Path,
    catalog_root: Path | str,
    results_root: Path | str,
    configs_root: Path,
    algorithms_root: Path,
    *,
    sample_if_empty: bool = True,
    log: Callable[[str], None] = print,
) -> dict:
    if sample_if_empty and not discover_raw_files(raw_root):
        log(f"no raw data under {raw_root}: writing the default synthetic sample")
        for item in generate_default_sample(raw_root):
            log(f"  {item.day} {item.instrument_key}: {item.trades_rows:,} trades, {item.book_rows:,} snapshots")
    resources = storage_resources(raw_root, catalog_root, results_root, configs_root, algorithms_root)
    catalog_partitions_done = build_catalog(instance, resources, log=log)
    backtests_done = run_backtests(instance, resources, log=log)
    configs_run = sorted({parse_backtest_partition(key)[0] for key in backtests_done})
    reports_done = build_reports(instance, resources, configs_run, log=log)
    return {"catalog_partitions": catalog_partitions_done, "backtests": backtests_done, "reports": reports_done}
