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
sensors (they would request the same partitions themselves) and starts ``dagster-daemon``. Each stage
is one backfill, submitted when the previous one is done: ``tick_catalog`` (the day), ``backtest_run``
(the five algorithms of config ``desk_day``), ``comparison_report`` (``desk_day``), and, when the
config schema has ``environment.replay``, ``backtest_run`` of ``desk_day_full`` (the same config with
``replay: full``). A stage's time runs from its first run's start to its last run's end; the daemon's
backfill loop picks a new backfill up every 30 s (Dagster's fixed interval), shown apart as "waiting".
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


def write_configs(workdir: Path, minutes: int) -> bool:
    """The desk_day config (and desk_day_full when the schema knows ``environment.replay``)."""
    from odum_pipeline.backtests.config import EnvironmentSection

    has_replay = "replay" in EnvironmentSection.model_fields
    folder = workdir / "configs"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{CONFIG}.json").write_text(json.dumps(config(minutes, "active" if has_replay else None), indent=1))
    if has_replay:
        (folder / f"{FULL_CONFIG}.json").write_text(json.dumps(config(minutes, "full"), indent=1))
    return has_replay


def desk(workdir: Path, minutes: int, full: bool) -> None:
    """Worker: the whole day through a fresh instance and daemon, one backfill per stage."""
    from dagster import DagsterInstance
    from dagster._core.definitions.observe import observe

    from odum_pipeline.backtests.partitions import algorithm_partitions, backtest_partition_key, config_partitions
    from odum_pipeline.backtests.source_assets import algorithm_registry, backtest_configs
    from odum_pipeline.catalog.assets import raw_ticks
    from odum_pipeline.catalog.partitions import catalog_partition_key, register_partitions
    from odum_pipeline.definitions import storage_resources

    has_replay = write_configs(workdir, minutes)
    instance = DagsterInstance.get()
    resources = storage_resources()
    register_partitions(instance, resources["raw_data"].source().discover())
    names = [a["name"] for a in ALGORITHMS]
    configs = [CONFIG, FULL_CONFIG] if has_replay and full else [CONFIG]
    instance.add_dynamic_partitions(config_partitions.name, configs)
    instance.add_dynamic_partitions(algorithm_partitions.name, names)
    for source in (raw_ticks, backtest_configs, algorithm_registry):
        observe([source], instance=instance, resources=resources)
    dagster_bench.stop_automation(instance)

    stages = [("catalog", "tick_catalog", [str(catalog_partition_key(DAY, INSTRUMENT_KEY))])]
    stages.append(("backtests", "backtest_run", [str(backtest_partition_key(CONFIG, n)) for n in names]))
    stages.append(("report", "comparison_report", [CONFIG]))
    if FULL_CONFIG in configs:
        stages.append(("full replay", "backtest_run", [str(backtest_partition_key(FULL_CONFIG, n)) for n in names]))
    report = {"stages": [], "replay_field": has_replay}
    with dagster_bench.daemon():
        for label, asset, keys in stages:
            submitted = time.time()
            backfill_id = dagster_bench.submit_backfill(instance, asset, keys, re.sub(r"\W", "", label))
            runs = dagster_bench.wait_for_backfill(instance, backfill_id, len(keys))
            span = dagster_bench.run_span(runs)
            span["waiting"] = min(r.start_time for r in runs if r.start_time) - submitted
            span.update(label=label, **_run_figures(instance, runs))
            report["stages"].append(span)
    harness.emit(report)


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
    waiting = sum(s["waiting"] for s in desk_stages)
    print(f"desk day: {work:.1f} s of runs + {waiting:.1f} s waiting for the daemon's backfill loop = {work + waiting:.1f} s "
          f"(target < {TARGET_SECONDS:.0f} s: runs {harness.verdict(work < TARGET_SECONDS)}, end to end {harness.verdict(work + waiting < TARGET_SECONDS)})")  # fmt: skip
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
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--worker")
    args = parser.parse_args()
    if args.quick:
        args.minutes = QUICK_MINUTES
    if args.worker == "generate":
        return generate(args.workdir, args.minutes)
    if args.worker == "desk":
        return desk(args.workdir, args.minutes, not args.no_full)

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
        command = [sys.executable, __file__, "--worker", "desk", *flags] + (["--no-full"] if args.no_full else [])
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
