"""The main job on the embedded defaults: sample data -> catalog -> backtests, recorded in a Dagster instance.

Each step is a real Dagster materialization on the given instance, so every run shows in the UI
(`dagster dev` on the same DAGSTER_HOME) with its lineage, metadata and checks.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from dagster import DagsterInstance, materialize
from dagster._core.definitions.observe import observe

from odum_pipeline.catalog.assets import raw_ticks, tick_catalog
from odum_pipeline.catalog.layout import discover_raw_files
from odum_pipeline.catalog.partitions import catalog_partition_key, register_partitions
from odum_pipeline.catalog.sample import generate_default_sample
from odum_pipeline.resources import CatalogResource, RawDataResource, ResultsResource


# Keep the console to warnings: the CLI prints its own progress; the instance still records every event.
QUIET_CONSOLE = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def storage_resources(raw_root: Path, catalog_root: Path, results_root: Path) -> dict:
    return {
        "raw_data": RawDataResource(root=str(raw_root)),
        "catalog": CatalogResource(root=str(catalog_root)),
        "results": ResultsResource(root=str(results_root)),
    }


def build_catalog(
    instance: DagsterInstance, resources: dict, *, log: Callable[[str], None] = print
) -> list[str]:
    """Register every (day, instrument) on disk, observe the raw files, materialize each catalog partition."""
    raw_files = discover_raw_files(resources["raw_data"].path)
    if not raw_files:
        raise FileNotFoundError(f"no raw files under {resources['raw_data'].path / 'raw_tick_data/by_date'}")
    new_days, new_instruments = register_partitions(instance, raw_files)
    log(f"registered {len(new_days)} new day(s), {len(new_instruments)} new instrument(s)")
    observe([raw_ticks], instance=instance, resources=resources, run_config=QUIET_CONSOLE)
    cells = sorted({(f.day, f.instrument_key) for f in raw_files})
    done = []
    for index, (day, instrument) in enumerate(cells, 1):
        key = catalog_partition_key(day, instrument)
        result = materialize(
            [raw_ticks, tick_catalog],
            selection=[tick_catalog],
            partition_key=key,
            instance=instance,
            resources=resources,
            raise_on_error=False,
            run_config=QUIET_CONSOLE,
        )
        status = "ok" if result.success else "FAILED"
        log(f"[{index}/{len(cells)}] tick_catalog {key}: {status} (run {result.run_id[:8]})")
        if result.success:
            done.append(str(key))
    return done


def run_main(
    instance: DagsterInstance,
    raw_root: Path,
    catalog_root: Path,
    results_root: Path,
    *,
    sample_if_empty: bool = True,
    log: Callable[[str], None] = print,
) -> dict:
    if sample_if_empty and not discover_raw_files(raw_root):
        log(f"no raw data under {raw_root}: writing the default synthetic sample")
        for item in generate_default_sample(raw_root):
            log(f"  {item.day} {item.instrument_key}: {item.trades_rows:,} trades, {item.book_rows:,} snapshots")
    resources = storage_resources(raw_root, catalog_root, results_root)
    catalog_partitions_done = build_catalog(instance, resources, log=log)
    return {"catalog_partitions": catalog_partitions_done}
