"""Benchmark: a backfill of backtest_run partitions through the run queue and the `nautilus` pool.

Requirement (issue 13, item 3): on 2 cores a backfill of many ``backtest_run`` partitions finishes at
least 1.7x faster than the same partitions run one after another.

    .venv/bin/python benchmarks/backfill_cores.py [--configs 4] [--workdir DIR --keep]

Steps: convert the real days (``../shared/data/real``) into a catalog and write ``--configs`` configs
(the real 2023-04-05 window, one parent each, NORMAL and TWAP, fast mode), so 2 x configs partitions.
Then, for a limit of 1 and of 2, each in a fresh Dagster instance (this repo's ``dagster.yaml`` with
``max_concurrent_runs`` and the pool's ``default_limit`` set to the limit) and a fresh
``dagster-daemon``: register and observe the sources, submit one backfill of every partition (a run
per partition, as the UI's backfill does), wait for it, and report the wall time from the first run's
start to the last run's end, and the sum of the runs' durations. The ratio is wall(1) / wall(2).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import dagster_bench
import harness

REPO_ROOT = Path(__file__).resolve().parents[1]
REAL_DATA = Path(os.environ.get("ODUM_REAL_DATA", REPO_ROOT.parent / "shared" / "data" / "real"))
INSTRUMENT_KEY = "BINANCE-FUTURES:PERPETUAL:BTC-USDT"
TARGET = 1.7


def _config(quantity: int) -> dict:
    return {
        "instrument": {"id": INSTRUMENT_KEY},
        "venue": {"book_type": "L2_MBP"},
        "time_window": {"start": "2023-04-05T00:00:00Z", "end": "2023-04-05T00:06:00Z"},
        "strategy": {
            "submission_mode": "parent_orders",
            "parent_orders": [{"side": "BUY", "quantity": str(quantity), "arrival": "2023-04-05T00:00:30Z"}],
        },
        "execution": {"algorithms": [{"name": "NORMAL"}, {"name": "TWAP", "params": {"horizon_secs": 120}}]},
        "environment": {"mode": "fast"},
    }


def prepare(workdir: Path, configs: int) -> None:
    from odum_pipeline.catalog.convert import convert_day
    from odum_pipeline.catalog.layout import discover_raw_files

    for day, key in sorted({(f.day, f.instrument_key) for f in discover_raw_files(REAL_DATA)}):
        convert_day(REAL_DATA, workdir / "catalog", day, key)
    (workdir / "configs").mkdir(parents=True, exist_ok=True)
    for index in range(configs):
        (workdir / "configs" / f"bench_{index}.json").write_text(json.dumps(_config(index + 1)))


def backfill(limit: int) -> None:
    """Worker (its environment names the instance and roots): one backfill through a fresh daemon."""
    from dagster import DagsterInstance
    from dagster._core.definitions.observe import observe

    from odum_pipeline.backtests.config import list_configs, load_config
    from odum_pipeline.backtests.partitions import algorithm_partitions, backtest_partition_key, config_partitions
    from odum_pipeline.backtests.source_assets import algorithm_registry, backtest_configs
    from odum_pipeline.definitions import storage_resources

    instance = DagsterInstance.get()
    resources = storage_resources()
    pairs = [(p.stem, name) for p in list_configs(resources["configs"].path) for name in load_config(p).execution.names()]
    instance.add_dynamic_partitions(config_partitions.name, sorted({c for c, _ in pairs}))
    instance.add_dynamic_partitions(algorithm_partitions.name, sorted({a for _, a in pairs}))
    for source in (backtest_configs, algorithm_registry):
        observe([source], instance=instance, resources=resources)
    dagster_bench.stop_automation(instance)
    keys = [str(backtest_partition_key(c, a)) for c, a in pairs]
    backfill_id = dagster_bench.submit_backfill(instance, "backtest_run", keys, f"bench{limit}")
    with dagster_bench.daemon():
        runs = dagster_bench.wait_for_backfill(instance, backfill_id, len(pairs))
    harness.emit({**dagster_bench.run_span(runs, instance, limit), "all_runs": len(instance.get_run_records())})


def _measure(workdir: Path, limit: int, round_: int) -> dict:
    """One backfill with ``limit`` slots in a fresh instance (its own results and var roots)."""
    name = f"{limit}_{round_}"
    env = dagster_bench.environment(
        workdir / f"home_{name}",
        limit=limit,
        DATA_CATALOG_PATH=workdir / "catalog",
        BACKTEST_RESULTS_PATH=workdir / f"results_{name}",
        ODUM_CONFIGS_PATH=workdir / "configs",
        ODUM_VAR_ROOT=workdir / f"var_{name}",
    )
    load_before = os.getloadavg()[0]
    command = [sys.executable, __file__, "--worker", "backfill", "--limit", str(limit)]
    completed = subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO_ROOT)
    lines = [line for line in completed.stdout.splitlines() if line.startswith(harness.RESULT_MARK)]
    if completed.returncode or not lines:
        sys.stderr.write(completed.stdout[-4000:] + completed.stderr[-4000:])
        raise SystemExit(f"backfill worker (limit {limit}) failed")
    return {**json.loads(lines[0][len(harness.RESULT_MARK) :]), "load": (load_before, os.getloadavg()[0])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2, help="pairs of backfills (1 slot, 2 slots), order alternating")
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--worker")
    parser.add_argument("--limit", type=int, default=2)
    args = parser.parse_args()
    if args.worker == "backfill":
        return backfill(args.limit)

    with harness.workdir(args.workdir, prefix="backfill_cores_", keep=args.keep) as workdir:
        prepare(workdir, args.configs)
        rows = []
        for round_ in range(args.rounds):
            # Interleaved (1, 2), (2, 1), ...: on a shared machine both sides see the same load drift.
            for limit in (1, 2) if round_ % 2 == 0 else (2, 1):
                rows.append((round_, limit, _measure(workdir, limit, round_)))
        print(f"\nbackfill of {rows[0][2]['runs']} backtest_run partitions (real 6-minute window, fast mode), "
              f"{os.cpu_count()} CPUs")  # fmt: skip
        print(f"{'round':>6}{'limit':>6}{'wall s':>10}{'sum of runs s':>15}{'slots busy':>12}{'failed':>8}{'runs in instance':>18}{'load 1 min before/after':>26}")  # fmt: skip
        for round_, limit, r in rows:
            load = f"{r['load'][0]:.1f} / {r['load'][1]:.1f}"
            print(f"{round_:>6}{limit:>6}{r['wall']:>10.1f}{r['sum']:>15.1f}{r['occupancy']:>12.0%}{r['failed']:>8}{r['all_runs']:>18}{load:>26}")  # fmt: skip
        walls = {limit: [r["wall"] for _, slots, r in rows if slots == limit] for limit in (1, 2)}
        for round_ in range(args.rounds):
            pair = {slots: r["wall"] for n, slots, r in rows if n == round_}
            print(f"round {round_}: speed-up {pair[1] / pair[2]:.2f}x")
        ratio = sum(walls[1]) / sum(walls[2])
        print(f"speed-up on 2 slots (total wall, all rounds): {ratio:.2f}x (target >= {TARGET}): {harness.verdict(ratio >= TARGET)}")


if __name__ == "__main__":
    main()
