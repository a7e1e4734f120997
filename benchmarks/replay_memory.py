"""Benchmark: peak memory of a full replay, one-shot vs streamed, on a long synthetic window.

Requirement (issue 13, item 2): a full replay streams the catalog so that its peak memory does not
grow with the window: a 4-hour synthetic window under 1 GiB.

    .venv/bin/python benchmarks/replay_memory.py [--hours 4] [--workdir DIR --keep]

Steps: generate ``--hours`` of BINANCE-FUTURES:PERPETUAL:BTC-USDT on 2023-05-23 from 08:00 UTC (from
00:00 when that does not fit in the day, e.g. ``--hours 24 --streamed-only`` for a full day)
(``generate_day``) and convert it (``convert_day``), not timed; then, each in a fresh subprocess,
``run_backtest`` of a parent_orders config (four 2-minute TWAP parents spread over the window,
realistic market: delta batches, queue position, latency; fast mode) with ``stream=False`` (the
whole window loaded first) and ``stream=True`` (``backtests.streaming``: 5-minute chunks). Prints
wall seconds, engine events, peak RSS (``ru_maxrss``) and whether both produced the same summary.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from pathlib import Path

import harness

INSTRUMENT_KEY = "BINANCE-FUTURES:PERPETUAL:BTC-USDT"
DAY = dt.date(2023, 5, 23)
START = dt.time(8, 0)
GIB = 1024**3


def _config(hours: float) -> dict:
    start, end = _window(hours)
    arrivals = [start + (end - start) * share for share in (0.1, 0.35, 0.6, 0.85)]
    return {
        "instrument": {"id": INSTRUMENT_KEY},
        "venue": {"book_type": "L2_MBP", "starting_balance": 10_000_000},
        "data_catalog": {"snapshot_mode": "both"},
        "time_window": {"start": start.isoformat(), "end": end.isoformat()},
        "strategy": {
            "submission_mode": "parent_orders",
            "parent_orders": [
                {"side": "BUY" if i % 2 == 0 else "SELL", "quantity": "1", "arrival": t.isoformat()}
                for i, t in enumerate(arrivals)
            ],
        },
        "market": {"preset": "realistic"},
        # A full replay on both sides: active replay (the default for parents) reads only the
        # parents' intervals, and the one-shot path is always full.
        "environment": {"replay": "full"},
    }


def _window(hours: float) -> tuple[dt.datetime, dt.datetime]:
    """From 08:00 UTC, or the whole day (to 23:59:59) when the hours would not fit after 08:00."""
    midnight = dt.datetime.combine(DAY, dt.time(0), tzinfo=dt.UTC)
    start = midnight + dt.timedelta(hours=START.hour) if hours <= 24 - START.hour else midnight
    return start, min(start + dt.timedelta(hours=hours), midnight + dt.timedelta(days=1, seconds=-1))


def prepare(workdir: Path, hours: float) -> None:
    from odum_pipeline.catalog.convert import convert_day
    from odum_pipeline.catalog.sample import generate_day

    start, end = _window(hours)
    end_time = None if end.date() > DAY or end.time() == dt.time(23, 59, 59) else end.time()
    generate_day(workdir / "raw", DAY, INSTRUMENT_KEY, start_time=start.time(), end_time=end_time)
    convert_day(workdir / "raw", workdir / "catalog", DAY, INSTRUMENT_KEY)
    harness.emit({"ok": True})


def replay(workdir: Path, hours: float, stream: bool) -> None:
    from odum_pipeline.backtests.config import parse_config
    from odum_pipeline.backtests.engine import AlgorithmSpec, run_backtest

    config = parse_config(_config(hours))
    events = {"n": 0}
    started = time.perf_counter()
    outcome = run_backtest(
        config,
        algorithm=AlgorithmSpec("TWAP", {"horizon_secs": 120, "interval_secs": 10}),
        algorithms_root=Path(__file__).resolve().parents[1] / "algorithms",
        catalog_root=workdir / "catalog",
        results_root=workdir / f"results_{stream}",
        mode="fast",
        progress_events=lambda share, n: events.update(n=n),
        stream=stream,
    )
    seconds = time.perf_counter() - started
    summary = {k: v for k, v in outcome.summary.items() if k not in ("run_id", "created_at")}
    harness.emit(
        {
            "seconds": seconds,
            "events": events["n"],
            "peak_rss": harness.peak_rss_bytes(),
            "summary": json.dumps(summary, sort_keys=True, default=str),
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=4.0)
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--worker")
    parser.add_argument("--stream", type=int, default=1)
    parser.add_argument("--streamed-only", action="store_true", help="skip the one-shot replay (e.g. a full day)")
    args = parser.parse_args()
    if args.worker == "prepare":
        return prepare(args.workdir, args.hours)
    if args.worker == "replay":
        return replay(args.workdir, args.hours, bool(args.stream))

    with harness.workdir(args.workdir, prefix="replay_memory_", keep=args.keep) as workdir:
        common = ["--workdir", str(workdir), "--hours", str(args.hours)]
        if not (workdir / "catalog").exists():
            harness.spawn(__file__, "prepare", common)
        modes = (True,) if args.streamed_only else (False, True)
        results = {stream: harness.spawn(__file__, "replay", [*common, "--stream", str(int(stream))]) for stream in modes}
        print(f"\n{args.hours:g}-hour synthetic window, four 2-minute TWAP parents, realistic market, full replay")
        print(f"{'replay':<10}{'seconds':>10}{'events':>12}{'events/s':>12}{'peak RSS':>12}")
        for stream, r in results.items():
            label = "streamed" if stream else "one-shot"
            print(f"{label:<10}{r['seconds']:>10.1f}{r['events']:>12,}{r['events'] / r['seconds']:>12,.0f}{r['peak_rss'] / GIB:>10.2f} GiB")
        limit = GIB if args.hours <= 4 else 2 * GIB
        print(f"streamed under {limit / GIB:g} GiB: {harness.verdict(results[True]['peak_rss'] < limit)}")
        if False in results:
            same = results[False]["summary"] == results[True]["summary"]
            print(f"same summary: {same}")
            if not same:
                sys.exit(1)


if __name__ == "__main__":
    main()
