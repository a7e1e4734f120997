"""What the Dagster benchmarks share: a real instance in a folder, its daemon, backfills through the run queue.

The driver calls :func:`environment` (standard library only) and runs a worker with that environment;
the worker (which imports Dagster and the project) registers partitions, stops the sensors and
schedules (:func:`stop_automation`), starts ``dagster-daemon`` (:func:`daemon`) and submits backfills
(:func:`submit_backfill`, :func:`wait_for_backfill`), as the UI's "Materialize" of many partitions does.

The sensors are stopped because they would request the same partitions on their own (a fresh
instance's cursors see every config and raw file as new), doubling the work the backfill measures.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
WORKSPACE = REPO_ROOT / "workspace.yaml"


def environment(home: Path, *, limit: int | None = None, **roots: Path) -> dict:
    """The environment of a worker using a fresh instance in ``home``: this repo's ``dagster.yaml``
    (its run and pool limits set to ``limit`` when given) and the project's roots (env var -> path)."""
    home.mkdir(parents=True, exist_ok=True)
    text = (REPO_ROOT / "dagster.yaml").read_text()
    if limit is not None:
        text = re.sub(r"max_concurrent_runs: \d+", f"max_concurrent_runs: {limit}", text)
        text = re.sub(r"default_limit: \d+", f"default_limit: {limit}", text)
    (home / "dagster.yaml").write_text(text)
    return {**os.environ, "DAGSTER_HOME": str(home), **{name: str(path) for name, path in roots.items()}}


# --- worker side (imports Dagster) ---------------------------------------------------------------


def stop_automation(instance, *, sensors: bool = True) -> None:
    """Stop every schedule (and, unless ``sensors`` is False, every sensor) of the workspace in ``instance``."""
    from dagster._cli.workspace.cli_target import get_repository_from_cli_opts
    from dagster.version import __version__
    from dagster_shared.cli import WorkspaceOpts

    with get_repository_from_cli_opts(instance, __version__, WorkspaceOpts(workspace=(str(WORKSPACE),)), None) as repo:
        for sensor in repo.get_sensors() if sensors else ():
            instance.stop_sensor(sensor.get_remote_origin_id(), sensor.selector_id, sensor)
        for schedule in repo.get_schedules():
            instance.stop_schedule(schedule.get_remote_origin_id(), schedule.selector_id, schedule)


@contextmanager
def daemon():
    """A ``dagster-daemon`` for the instance of ``$DAGSTER_HOME``, stopped (SIGINT to its group) on exit."""
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "dagster-daemon"), "run", "-w", str(WORKSPACE)],
        cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        yield process
    finally:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def submit_backfill(instance, asset: str, partition_keys: list[str], label: str) -> str:
    """One backfill of ``partition_keys`` of ``asset`` (a run per partition, as the UI submits it)."""
    return submit_chain_backfill(instance, {asset: partition_keys}, label)


def submit_chain_backfill(instance, partitions_by_asset: dict[str, list[str]], label: str) -> str:
    """One backfill of the given partitions of several assets (the UI's "Materialize" of a selection
    across partitionings, GraphQL ``partitionsByAssets``): the daemon launches a run per partition and
    each downstream partition once the upstream partitions it depends on in the backfill are done."""
    from dagster import AssetKey, partition_loading_context
    from dagster._core.definitions.selector import PartitionRangeSelector, PartitionsByAssetSelector, PartitionsSelector
    from dagster._core.execution.backfill import PartitionBackfill

    from odum_pipeline.definitions import defs

    backfill_id = f"{label}{int(time.time() * 1000) % 10**9}"
    selectors = [
        PartitionsByAssetSelector(
            asset_key=AssetKey(asset),
            partitions=PartitionsSelector(ranges=[PartitionRangeSelector(start=key, end=key) for key in keys]),
        )
        for asset, keys in partitions_by_asset.items()
    ]
    with partition_loading_context(dynamic_partitions_store=instance):
        backfill = PartitionBackfill.from_partitions_by_assets(
            backfill_id=backfill_id,
            asset_graph=defs.resolve_asset_graph(),
            backfill_timestamp=time.time(),
            tags={},
            dynamic_partitions_store=instance,
            partitions_by_assets=selectors,
            title=None,
            description=None,
            run_config=None,
        )
    instance.add_backfill(backfill)
    return backfill_id


def wait_for_backfill(instance, backfill_id: str, expected_runs: int, poll_secs: float = 1.0) -> list:
    """The run records of the backfill once it is done and each of its ``expected_runs`` runs ended."""
    from dagster import DagsterRunStatus, RunsFilter
    from dagster._core.execution.backfill import BulkActionStatus

    ended = (DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED)
    while True:
        time.sleep(poll_secs)
        status = instance.get_backfill(backfill_id).status
        runs = instance.get_run_records(RunsFilter(tags={"dagster/backfill": backfill_id}))
        if status != BulkActionStatus.REQUESTED and len(runs) >= expected_runs and all(
            r.dagster_run.status in ended for r in runs
        ):
            return runs


def wait_for_asset_run(instance, asset: str, partition: str, timeout_secs: float = 3600, poll_secs: float = 1.0) -> list:
    """Every run record of the instance once a run of ``asset``'s ``partition`` ended and no run is left
    queued or running (the sensors' path: the last stage's run ends the day)."""
    from dagster import DagsterRunStatus

    ended = (DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED)
    deadline = time.time() + timeout_secs
    while time.time() < deadline:
        time.sleep(poll_secs)
        runs = instance.get_run_records()
        last = [r for r in runs_of(runs, asset) if r.dagster_run.tags.get("dagster/partition") == partition]
        if last and all(r.dagster_run.status in ended for r in runs):
            return runs
    raise TimeoutError(f"no run of {asset} {partition} ended within {timeout_secs:.0f} s")


def runs_of(runs, asset: str) -> list:
    """The records among ``runs`` that materialize ``asset``."""
    from dagster import AssetKey

    return [r for r in runs if AssetKey(asset) in (r.dagster_run.asset_selection or ())]


def run_span(runs, instance=None, slots: int | None = None) -> dict:
    """Wall time from the first run's start to the last run's end, and the sum of the runs' durations
    (a run starts executing once its process has imported the code). With ``instance`` and ``slots``
    also the occupancy: the share of ``slots`` x (first launch .. last end) in which runs were
    launching or executing, i.e. how well the queue kept the slots filled whatever the CPU did."""
    from dagster import DagsterEventType, DagsterRunStatus

    starts = [r.start_time for r in runs if r.start_time]
    ends = [r.end_time for r in runs if r.end_time]
    span = {
        "runs": len(runs),
        "failed": sum(r.dagster_run.status != DagsterRunStatus.SUCCESS for r in runs),
        "wall": max(ends) - min(starts),
        "sum": sum(r.end_time - r.start_time for r in runs if r.start_time and r.end_time),
    }
    if instance is not None and slots:
        launched = {}
        for r in runs:
            records = instance.get_records_for_run(r.dagster_run.run_id, of_type=DagsterEventType.RUN_STARTING).records
            launched[r.dagster_run.run_id] = records[0].event_log_entry.timestamp if records else r.start_time
        busy = sum(r.end_time - launched[r.dagster_run.run_id] for r in runs if r.end_time)
        span["occupancy"] = busy / (slots * (max(ends) - min(launched.values())))
    return span
