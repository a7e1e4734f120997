"""Benchmark: a desk's day through Dagster: raw files -> catalog -> five backtests -> comparison report.

Requirement (issue 13, item 5): a synthetic full day of one instrument (~3M trades, ~3M book rows), a
config of 50 parent orders spread over the day and five algorithms, run through a real Dagster
instance and its daemon (the backfill path: run queue and ``nautilus`` pool); the wall time of each
stage, events/s, peak memory of the run workers, and the same five backtests in full replay for the
ratio. Targets: the whole desk day in under 3 minutes on 2 cores; active replay >= 20x faster than full.

    .venv/bin/python benchmarks/desk_day.py                 # full day (generation ~1 min, not counted)
    .venv/bin/python benchmarks/desk_day.py --quick         # 10 minutes, 4 parents: proves the path works
    .venv/bin/python benchmarks/desk_day.py --no-full       # skip the full-replay backtests (no ratio)
    .venv/bin/python benchmarks/desk_day.py --minutes 60    # the first hour only, still 50 parents

Steps: generate the day (``generate_day``, 35 trades/s, snapshots every 15-60 ms; not counted) into a
raw root; then a worker with a fresh instance in the workdir (this repo's ``dagster.yaml``) and the
project's roots pointed at the workdir registers the partitions, observes the sources, stops the
sensors (they would request the same partitions themselves), submits the day as ONE backfill of
``tick_catalog`` (the day), ``backtest_run`` (the five algorithms of config ``desk_day``) and
``comparison_report`` (``desk_day``), as the UI's "Materialize selected" over the three assets does,
and starts ``dagster-daemon``: its backfill loop launches each stage once the one before it is done.
The end to end time runs from the submission to the last run's end; a stage's wall time from its
first run's start to its last run's end; "waiting" is the gap before a stage's first run starts
(launching, and the backfill loop's fixed 30 s interval between passes). When the config schema has
``environment.replay``, a second backfill then runs ``backtest_run`` of ``desk_day_full`` (the same
config with ``replay: full``) for the ratio.
Events come from the runs' progress lines, peak memory from each run's ``worker_peak_rss_mib``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import dagster_bench
import harness

INSTRUMENT_KEY = "BINANCE-FUTURES:PERPETUAL:BTC-USDT"
DAY = dt.date(2023, 5, 23)
CONFIG = "desk_day"
FULL_CONFIG = "desk_day_full"
TARGET_SECONDS = 180.0
QUICK_MINUTES = 10
DAY_MINUTES = 24 * 60
QUICK_PARENTS = 4
TARGET_RATIO = 20.0
ALGORITHMS = [
    {"name": "NORMAL"},
    {"name": "TWAP", "params": {"horizon_secs": 120, "interval_secs": 20}},
    {"name": "VWAP", "params": {"horizon_secs": 120, "intervals": 6}},
    {"name": "POV", "params": {"participation_rate": 0.1, "horizon_secs": 120}},
    {"name": "ICEBERG"},
]


def _day_span(minutes: int) -> tuple[dt.datetime, dt.datetime]:
    """From 00:00 UTC, ``minutes`` long (a full day ends at 23:59:59)."""
    start = dt.datetime.combine(DAY, dt.time(0), tzinfo=dt.UTC)
    return start, start + min(dt.timedelta(minutes=minutes), dt.timedelta(days=1, seconds=-1))


def parent_orders(minutes: int) -> list[dict]:
    """50 parents spread evenly over the window, alternating sides, 2-10 minute deadlines (a quick
    window: 4 parents, 1-2 minutes)."""
    start, end = _day_span(minutes)
    quick = minutes <= QUICK_MINUTES
    count = QUICK_PARENTS if quick else 50
    first = start + dt.timedelta(minutes=1)
    step = (end - dt.timedelta(minutes=3 if quick else 12) - first) / count
    horizons = [1, 2] if quick else [2, 4, 6, 8, 10]
    orders = []
    for index in range(count):
        arrival = first + step * index
        horizon = dt.timedelta(minutes=horizons[index % len(horizons)])
        orders.append(
            {
                "side": "BUY" if index % 2 == 0 else "SELL",
                "quantity": str(0.5 + (index % 4) * 0.5),
                "arrival": arrival.isoformat(),
                "deadline": (arrival + horizon).isoformat(),
            }
        )
    return orders


def config(minutes: int, replay: str | None) -> dict:
    start, end = _day_span(minutes)
    environment = {"mode": "report", "model_risk": False}
    if replay is not None:
        environment["replay"] = replay
    return {
        "instrument": {"id": INSTRUMENT_KEY},
        "venue": {"book_type": "L2_MBP", "starting_balance": 10_000_000},
        "data_catalog": {"snapshot_mode": "both"},
        "time_window": {"start": start.isoformat(), "end": end.isoformat()},
        "strategy": {"submission_mode": "parent_orders", "parent_orders": parent_orders(minutes)},
        "execution": {"algorithms": ALGORITHMS},
        "market": {"preset": "realistic"},
        "environment": environment,
    }


# --- workers ---------------------------------------------------------------------------------------


def generate(workdir: Path, minutes: int) -> None:
    from odum_pipeline.catalog.sample import generate_day

    start, end = _day_span(minutes)
    full_day = end.time() == dt.time(23, 59, 59)
    started = time.perf_counter()
    files = generate_day(
        workdir / "raw", DAY, INSTRUMENT_KEY, start_time=start.time(), end_time=None if full_day else end.time(),
        trades_per_second=35, snapshot_interval_ms=(15.0, 60.0),
    )  # fmt: skip
    harness.emit({"seconds": time.perf_counter() - started, "trades": files.trades_rows, "book": files.book_rows})


def write_configs(workdir: Path, minutes: int, names: tuple[str, ...]) -> bool:
    """The configs ``names`` (desk_day, and desk_day_full only when the schema knows ``environment.replay``);
    whether it does."""
    from odum_pipeline.backtests.config import EnvironmentSection

    has_replay = "replay" in EnvironmentSection.model_fields
    folder = workdir / "configs"
    folder.mkdir(parents=True, exist_ok=True)
    replay = {CONFIG: "active" if has_replay else None, FULL_CONFIG: "full"}
    for name in names:
        if name == CONFIG or has_replay:
            (folder / f"{name}.json").write_text(json.dumps(config(minutes, replay[name]), indent=1))
    return has_replay


DAY_STAGES = {"catalog": "tick_catalog", "backtests": "backtest_run", "report": "comparison_report"}


def desk(workdir: Path, minutes: int, full: bool, path: str) -> None:
    """Worker: the whole day through a fresh instance and its daemon (``path``: the sensors, or one
    backfill), then, for the ratio, the full-replay backtests as one backfill."""
    from dagster import DagsterInstance

    has_replay = write_configs(workdir, minutes, (CONFIG,))
    instance = DagsterInstance.get()
    names = [a["name"] for a in ALGORITHMS]
    report = {"stages": [], "replay_field": has_replay, "path": path}
    if path == "backfill":
        _register_sources(instance, CONFIG, names)
        dagster_bench.stop_automation(instance)
        keys = _day_partition_keys(names)
        # Submitted before the daemon starts: its backfill loop's first pass picks the day up at once.
        backfill_id = dagster_bench.submit_chain_backfill(instance, {DAY_STAGES[s]: keys[s] for s in keys}, "deskday")
    else:
        dagster_bench.stop_automation(instance, sensors=False)  # the 06:00 report schedule stays out of it
    started = time.time()
    with dagster_bench.daemon():
        if path == "backfill":
            runs = dagster_bench.wait_for_backfill(instance, backfill_id, sum(len(k) for k in keys.values()))
        else:
            runs = dagster_bench.wait_for_asset_run(instance, "comparison_report", CONFIG)
        previous_end = started
        for label, asset in DAY_STAGES.items():
            stage_runs = dagster_bench.runs_of(runs, asset)
            span = dagster_bench.run_span(stage_runs)
            span["waiting"] = min(r.start_time for r in stage_runs if r.start_time) - previous_end
            previous_end = max(r.end_time for r in stage_runs if r.end_time)
            span.update(label=label, **_run_figures(instance, stage_runs))
            report["stages"].append(span)
        report["end_to_end"] = previous_end - started
        if has_replay and full:
            report["stages"].append(_full_replay_stage(instance, workdir, minutes, names))
    harness.emit(report)


def _day_partition_keys(names: list[str]) -> dict[str, list[str]]:
    from odum_pipeline.backtests.partitions import backtest_partition_key
    from odum_pipeline.catalog.partitions import catalog_partition_key

    return {
        "catalog": [str(catalog_partition_key(DAY, INSTRUMENT_KEY))],
        "backtests": [str(backtest_partition_key(CONFIG, n)) for n in names],
        "report": [CONFIG],
    }


def _register_sources(instance, config_name: str, names: list[str]) -> None:
    """What the sensors would do before a backfill: partitions registered, sources observed."""
    from dagster._core.definitions.observe import observe

    from odum_pipeline.backtests.partitions import algorithm_partitions, config_partitions
    from odum_pipeline.backtests.source_assets import algorithm_registry, backtest_configs
    from odum_pipeline.catalog.assets import raw_ticks
    from odum_pipeline.catalog.partitions import register_partitions
    from odum_pipeline.definitions import storage_resources

    resources = storage_resources()
    register_partitions(instance, resources["raw_data"].source().discover())
    instance.add_dynamic_partitions(config_partitions.name, [config_name])
    instance.add_dynamic_partitions(algorithm_partitions.name, names)
    for source in (raw_ticks, backtest_configs, algorithm_registry):
        observe([source], instance=instance, resources=resources)


def _full_replay_stage(instance, workdir: Path, minutes: int, names: list[str]) -> dict:
    """The five backtests of desk_day_full (``replay: full``) as one backfill, the sensors stopped."""
    from odum_pipeline.backtests.partitions import backtest_partition_key

    dagster_bench.stop_automation(instance)
    write_configs(workdir, minutes, (FULL_CONFIG,))
    _register_sources(instance, FULL_CONFIG, names)
    keys = [str(backtest_partition_key(FULL_CONFIG, n)) for n in names]
    submitted = time.time()
    runs = dagster_bench.wait_for_backfill(
        instance, dagster_bench.submit_backfill(instance, "backtest_run", keys, "fullreplay"), len(keys)
    )
    span = dagster_bench.run_span(runs)
    span["waiting"] = min(r.start_time for r in runs if r.start_time) - submitted
    span.update(label="full replay", **_run_figures(instance, runs))
    return span


def _run_figures(instance, runs) -> dict:
    """Events replayed (the runs' last progress lines) and the highest worker peak RSS (materializations)."""
    from dagster import DagsterEventType

    events, peaks = 0, []
    for record in runs:
        run_events = 0
        for entry in instance.all_logs(record.dagster_run.run_id):
            match = re.search(r"replayed, ([\d,]+) events", entry.user_message or "")
            if match:
                run_events = max(run_events, int(match.group(1).replace(",", "")))
            if entry.is_dagster_event and entry.dagster_event.event_type == DagsterEventType.ASSET_MATERIALIZATION:
                peak = entry.dagster_event.materialization.metadata.get("worker_peak_rss_mib")
                if peak is not None:
                    peaks.append(peak.value)
        events += run_events
    return {"events": events, "peak_rss_mib": max(peaks, default=None)}


# --- driver ----------------------------------------------------------------------------------------


def _print(report: dict, generated: dict, minutes: int) -> None:
    stages = {s["label"]: s for s in report["stages"]}
    day = "full day" if minutes >= DAY_MINUTES else f"{minutes}-minute window"
    print(f"\ndesk day ({day}): {generated['trades']:,} trades + {generated['book']:,} book rows, "
          f"{len(parent_orders(minutes))} parents, {len(ALGORITHMS)} algorithms; generated in {generated['seconds']:.1f} s (not counted)")  # fmt: skip
    print(f"{'stage':<13}{'runs':>5}{'failed':>7}{'wall s':>9}{'sum of runs s':>15}{'waiting s':>11}{'events':>12}{'events/s':>11}{'peak RSS MiB':>14}")  # fmt: skip
    for s in report["stages"]:
        rate = f"{s['events'] / s['wall']:,.0f}" if s["events"] else "-"
        peak = f"{s['peak_rss_mib']:,.0f}" if s["peak_rss_mib"] else "-"
        events = f"{s['events']:,}" if s["events"] else "-"
        print(f"{s['label']:<13}{s['runs']:>5}{s['failed']:>7}{s['wall']:>9.1f}{s['sum']:>15.1f}{s['waiting']:>11.1f}{events:>12}{rate:>11}{peak:>14}")  # fmt: skip
    desk_stages = [stages[name] for name in ("catalog", "backtests", "report")]
    work = sum(s["wall"] for s in desk_stages)
    end_to_end = report["end_to_end"]
    via = "the sensors" if report["path"] == "sensors" else "one backfill"
    print(f"desk day, end to end through {via}: {end_to_end:.1f} s = {work:.1f} s of runs + {end_to_end - work:.1f} s "
          f"launching runs and waiting for the daemon (target < {TARGET_SECONDS:.0f} s: {harness.verdict(end_to_end < TARGET_SECONDS)})")  # fmt: skip
    if "full replay" in stages:
        ratio = stages["full replay"]["wall"] / stages["backtests"]["wall"]
        print(f"active vs full replay (five backtests, wall): {ratio:.1f}x (target >= {TARGET_RATIO:.0f}x): {harness.verdict(ratio >= TARGET_RATIO)}")  # fmt: skip
    elif not report["replay_field"]:
        print("active vs full replay: n/a (this version's config has no environment.replay: every run is a full replay)")
    else:
        print("active vs full replay: not run (--no-full)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"a {QUICK_MINUTES}-minute window and {QUICK_PARENTS} parents instead of a full day")
    parser.add_argument("--minutes", type=int, default=DAY_MINUTES, help="window length from 00:00 (default: the whole day)")
    parser.add_argument("--no-full", action="store_true", help="skip the full-replay backtests (no ratio)")
    parser.add_argument("--path", choices=("sensors", "backfill"), default="sensors",
                        help="how the day reaches the daemon: its files picked up by the sensors (default), or one backfill")
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--worker")
    args = parser.parse_args()
    if args.quick:
        args.minutes = QUICK_MINUTES
    if args.worker == "generate":
        return generate(args.workdir, args.minutes)
    if args.worker == "desk":
        return desk(args.workdir, args.minutes, not args.no_full, args.path)

    with harness.workdir(args.workdir, prefix="desk_day_", keep=args.keep) as workdir:
        flags = ["--workdir", str(workdir), "--minutes", str(args.minutes)]
        generated = harness.spawn(__file__, "generate", flags)
        env = dagster_bench.environment(
            workdir / "dagster_home",
            UNIFIED_CLOUD_LOCAL_PATH=workdir / "raw",
            DATA_CATALOG_PATH=workdir / "catalog",
            BACKTEST_RESULTS_PATH=workdir / "results",
            ODUM_CONFIGS_PATH=workdir / "configs",
            ODUM_VAR_ROOT=workdir / "var",
        )
        command = [sys.executable, __file__, "--worker", "desk", "--path", args.path, *flags] + (["--no-full"] if args.no_full else [])
        completed = subprocess.run(command, capture_output=True, text=True, env=env, cwd=dagster_bench.REPO_ROOT)
        lines = [line for line in completed.stdout.splitlines() if line.startswith(harness.RESULT_MARK)]
        if completed.returncode or not lines:
            sys.stderr.write(completed.stdout[-4000:] + completed.stderr[-4000:])
            raise SystemExit("desk worker failed")
        report = json.loads(lines[0][len(harness.RESULT_MARK) :])
        _print(report, generated, args.minutes)
        harness.emit({**report, "generated": generated})  # for scripts and the test
        if any(s["failed"] for s in report["stages"]):
            sys.exit(1)


if __name__ == "__main__":
    main()
