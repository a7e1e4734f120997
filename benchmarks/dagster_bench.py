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


def stop_automation(instance) -> None:
    """Stop every sensor and schedule of the workspace in ``instance`` (before its daemon starts)."""
    from dagster._cli.workspace.cli_target import get_repository_from_cli_opts
    from dagster.version import __version__
    from dagster_shared.cli import WorkspaceOpts

    with get_repository_from_cli_opts(instance, __version__, WorkspaceOpts(workspace=(str(WORKSPACE),)), None) as repo:
        for sensor in repo.get_sensors():
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
    from dagster import AssetKey
    from dagster._core.execution.backfill import PartitionBackfill

    from odum_pipeline.definitions import defs

    backfill_id = f"{label}{int(time.time() * 1000) % 10**9}"
    instance.add_backfill(
        PartitionBackfill.from_asset_partitions(
            backfill_id=backfill_id,
            asset_graph=defs.resolve_asset_graph(),
            partition_names=partition_keys,
            asset_selection=[AssetKey(asset)],
            backfill_timestamp=time.time(),
            tags={},
            dynamic_partitions_store=instance,
            all_partitions=False,
            title=None,
            description=None,
            run_config=None,
        )
    )
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
