"""Benchmark: per_trade_tick NORMAL backtests against a bare NautilusTrader ``BacktestEngine``.

Requirement: the real window and a synthetic one-hour window of one instrument, per_trade_tick
with NORMAL: wall time, events/s, peak memory, and the ratio to a bare NautilusTrader
``BacktestEngine`` fed the same ticks and submitting the same orders, measured in the same run.
Target: ratio <= 1.25.

This is a benchmark, not a test: it prints figures and PASS/MISS, it asserts nothing about time.

    .venv/bin/python benchmarks/backtest_throughput.py [--synthetic-minutes 60] [--repeat 2]

Steps:

1. Prepare the catalogs (not timed, each in a subprocess): the real days 2023-04-04 and
   2023-04-05 of BINANCE-FUTURES:PERPETUAL:BTC-USDT (``../shared/data/real`` beside the repo, or
   ``$ODUM_REAL_DATA``) converted with ``convert_day``; and a synthetic window of the same
   instrument on 2023-05-23 from 19:00 UTC (``generate_day`` + ``convert_day``).
2. Record ours' venue orders (not timed, ``--worker record``): ours runs once with its
   ``on_order_submitted`` and data callbacks wrapped (monkeypatched in that worker only) and writes
   every order it sent to the venue - side, quantity, type, time in force, reduce-only, time - with
   what triggered it: a trade (its trade id: the per-trade parents), a book update (its ts_init:
   NORMAL's re-sends of market remainders) or anything else (its time: the close-out at the
   window end). That is the order plan the baseline replays: "the same orders".
3. For each dataset, in fresh subprocesses (this script with ``--worker``), alternating,
   ``--repeat`` times each, best time counts:

   * ours: ``run_backtest(config)`` with submission_mode per_trade_tick, algorithm NORMAL,
     snapshot_mode both, mode fast - end to end: config validation, node build, catalog load,
     run, metrics, summary JSON write, node dispose. Every timed run must give the recorded run's
     figures (orders, fills, rejected, denied, events), so the plan is this run's;
   * baseline: a bare ``BacktestEngine`` with the same engine/venue settings as
     ``engine._engine_config``/``engine._venue_config`` (NETTING, MARGIN, USDT 1,000,000,
     leverage 1, L2_MBP, trade_execution on, risk engine on with the same unthrottled submit
     rate) and the same market model (the config's preset, ``realistic`` by default: the same
     ``LatencyModel`` base latency, ``liquidity_consumption`` and ``queue_position`` flags), the
     same instrument (registry fees), the same TradeTick + OrderBookDepth10 over the same range as
     ours (the window plus the close-out grace, ``config.replay_end``) loaded from the same catalog
     (``ParquetDataCatalog.trade_ticks``/``order_book_depth10``, loading timed), book before trades
     at equal timestamps as ours' streams, and, with queue position, the depth turned into the same
     book deltas as ours (``book_deltas``, off the clock: in ours that conversion is part of its own
     overhead); its minimal strategy submits exactly the recorded orders, each at the data event
     that triggered it in ours (the trade with that trade id, the book update at that ts_init, else
     a time alert at its time), nothing else. The plan is parsed before the clock. Ours' own fill
     model (the replay's visible-depth rules) and ours' per-command arrival alerts are not given
     to the baseline: they are part of what the ratio measures; so the baseline's fills and
     rejections differ from ours (printed).

   Imports happen before the clock. The driver imports only the standard library, so each
   worker's ``ru_maxrss`` is its own (see ``convert_full_day.py`` for why that matters).
4. Prints a table per dataset (events, orders, seconds, events/s, ratio, peak RSS) and, if the
   ratio target is missed (or with ``--profile``), profiles ours under cProfile (top functions by
   cumulative time and a stage breakdown) and measures, without the profiler, what ours costs
   with single features switched off by monkeypatching inside the worker (``--attribute``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import sys
import time
from pathlib import Path

import harness

INSTRUMENT_KEY = "BINANCE-FUTURES:PERPETUAL:BTC-USDT"
REPO_ROOT = Path(__file__).resolve().parents[1]
REAL_DATA = Path(os.environ.get("ODUM_REAL_DATA", REPO_ROOT.parent / "shared" / "data" / "real"))
REAL_DAYS = (dt.date(2023, 4, 4), dt.date(2023, 4, 5))
REAL_WINDOW = ("2023-04-05T00:00:00+00:00", "2023-04-05T00:06:00+00:00")
SYNTHETIC_DAY = dt.date(2023, 5, 23)
SYNTHETIC_START = dt.time(19, 0)
RATIO_TARGET = 1.25
MIB = 1024**2


# ------------------------------------------------------------------------------ worker side


def _config_dict(dataset: dict) -> dict:
    """The backtest config of ours: per_trade_tick, NORMAL, snapshot_mode both, fast mode."""
    return {
        "name": f"bench-{dataset['name']}",
        "instrument": {"id": INSTRUMENT_KEY},
        "time_window": {"start": dataset["start"], "end": dataset["end"]},
        "data_catalog": {"path": dataset["catalog"], "snapshot_mode": "both"},
        "strategy": {"submission_mode": "per_trade_tick"},
        "execution": {"algorithms": [{"name": "NORMAL"}]},
        "environment": {"mode": "fast"},
    }


def _worker_prepare(dataset: dict) -> dict:
    """Convert (and for the synthetic dataset first generate) the raw days into a fresh catalog,
    then read what both sides need, untimed: event counts, instrument and venue settings."""
    from odum_pipeline.catalog.convert import convert_day

    raw_root, catalog = Path(dataset["raw_root"]), Path(dataset["catalog"])
    started = time.perf_counter()
    generated = None
    if dataset["kind"] == "synthetic":
        from odum_pipeline.catalog.sample import generate_day

        start = dt.datetime.combine(SYNTHETIC_DAY, SYNTHETIC_START)
        end = start + dt.timedelta(minutes=dataset["minutes"])
        end_time = dt.time(23, 59, 59, 999999) if end.date() != SYNTHETIC_DAY else end.time()
        files = generate_day(raw_root, SYNTHETIC_DAY, INSTRUMENT_KEY, start_time=SYNTHETIC_START, end_time=end_time)
        generated = {"trades": files.trades_rows, "book_snapshot_5": files.book_rows}
        days = [SYNTHETIC_DAY]
    else:
        days = list(REAL_DAYS)
    converted = {}
    for day in days:
        result = convert_day(raw_root, catalog, day, INSTRUMENT_KEY)
        converted[day.isoformat()] = result.rows
    prepare_seconds = time.perf_counter() - started

    from nautilus_trader.model.data import OrderBookDepth10, TradeTick
    from nautilus_trader.model.enums import AggressorSide
    from nautilus_trader.persistence.catalog import ParquetDataCatalog

    from odum_pipeline.backtests.config import parse_config
    from odum_pipeline.backtests.engine import UNTHROTTLED, _configured_instrument, effective_book_type

    config = parse_config(_config_dict(dataset))
    instrument = _configured_instrument(config)
    window = config.time_window
    parquet = ParquetDataCatalog(str(catalog))
    ids = [instrument.id.value]
    trades = parquet.query(data_cls=TradeTick, identifiers=ids, start=window.start, end=window.end)
    depth = parquet.query(data_cls=OrderBookDepth10, identifiers=ids, start=window.start, end=window.end)
    known = sum(t.aggressor_side != AggressorSide.NO_AGGRESSOR for t in trades)
    venue = config.venue
    from odum_pipeline.backtests.config import replay_end
    return {
        "prepare_seconds": prepare_seconds,
        "generated": generated,
        "converted": converted,
        "trades": len(trades),
        "depth": len(depth),
        "known_aggressor_trades": known,
        "first_ts": min(t.ts_init for t in trades) if trades else None,
        "last_ts": max(t.ts_init for t in trades) if trades else None,
        # Ours replays past the window end for the close-out (config.replay_end); so does the baseline.
        "replay_end": replay_end(config).isoformat(),
        # What the bare baseline is given: plain values, so it imports nothing of the project.
        "baseline": {
            "instrument": type(instrument).to_dict(instrument),
            "instrument_class": type(instrument).__name__,
            "venue": venue.name,
            "oms_type": venue.oms_type.value,
            "account_type": venue.account_type.value,
            "base_currency": venue.base_currency,
            "starting_balance": f"{venue.starting_balance} {venue.base_currency}",
            "leverage": str(venue.leverage),
            "book_type": effective_book_type(config).value,
            "trade_execution": True,  # snapshot_mode both
            "risk_bypass": config.risk.bypass,
            "max_order_submit_rate": UNTHROTTLED,
            "log_level": config.environment.log_level,
            # The market model of ours' run (the config's preset, "realistic" by default): the same
            # venue flags and order latency, and with queue position the same book deltas.
            "liquidity_consumption": bool(config.market.liquidity_consumption) and not config.market.impact,
            "queue_position": bool(config.market.queue_position),
            "order_latency_ns": config.market.order_latency_ns,
            "preset": config.market.preset.value,
        },
    }


def _worker_ours(dataset: dict, results_root: Path) -> dict:
    from odum_pipeline.backtests.config import parse_config
    from odum_pipeline.backtests.engine import AlgorithmSpec, run_backtest

    rss_before = harness.peak_rss_bytes()
    started = time.perf_counter()
    config = parse_config(_config_dict(dataset))
    outcome = run_backtest(
        config, algorithm=AlgorithmSpec(), catalog_root=dataset["catalog"], results_root=results_root, mode="fast"
    )
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        **_ours_figures(outcome),
        "peak_rss": harness.peak_rss_bytes(),
        "rss_after_imports": rss_before,
    }


def _ours_figures(outcome) -> dict:
    summary = outcome.summary["summary"]
    return {
        "orders": summary["orders"],
        "close_orders": summary["close_orders"],
        "fills": summary["fills"],
        "rejected": summary["rejected"],
        "denied": summary["denied"],
        "skipped_rows": summary["skipped_rows"],
        "events": outcome.summary["replay"]["events"],
        "equity_points": len(outcome.equity_curve),
        "result_path": str(outcome.result_path),
    }


def _worker_record(dataset: dict, results_root: Path, orders_path: Path) -> dict:
    """Ours, untimed, recording every order it sends to the venue (each ``OrderSubmitted``) with what
    triggered it: a trade (its trade id), a book update (its ts_init) or anything else (a time alert,
    an order event: its time). Monkeypatched here only; the timed runs of ours are unpatched."""
    from odum_pipeline.algorithms.base import SlicingExecAlgorithm
    from odum_pipeline.backtests.config import parse_config
    from odum_pipeline.backtests.engine import AlgorithmSpec, run_backtest
    from odum_pipeline.backtests.strategy import ExecutionBacktestStrategy

    trigger: list = [None]  # the data callback being handled, if any
    recorded: list[dict] = []

    def during(method, of):
        def wrapper(self, data):
            outer, trigger[0] = trigger[0], of(data)
            try:
                return method(self, data)
            finally:
                trigger[0] = outer

        return wrapper

    by_trade = lambda tick: ("trade", tick.trade_id.value)  # noqa: E731
    ExecutionBacktestStrategy.on_trade_tick = during(ExecutionBacktestStrategy.on_trade_tick, by_trade)
    SlicingExecAlgorithm.on_trade_tick = during(SlicingExecAlgorithm.on_trade_tick, by_trade)
    SlicingExecAlgorithm.on_order_book_depth = during(
        SlicingExecAlgorithm.on_order_book_depth, lambda depth: ("book", depth.ts_init)
    )
    submitted = ExecutionBacktestStrategy.on_order_submitted

    def on_order_submitted(self, event):
        order = self.cache.order(event.client_order_id)
        kind, key = trigger[0] or ("time", event.ts_event)
        recorded.append(
            {
                "trigger": kind,
                "key": key,
                "ts": event.ts_event,
                "side": order.side_string(),
                "quantity": str(order.quantity),
                "type": order.type_string(),
                "price": str(order.price) if order.has_price else None,
                "time_in_force": order.tif_string(),
                "reduce_only": order.is_reduce_only,
            }
        )
        submitted(self, event)

    ExecutionBacktestStrategy.on_order_submitted = on_order_submitted
    config = parse_config(_config_dict(dataset))
    outcome = run_backtest(
        config, algorithm=AlgorithmSpec(), catalog_root=dataset["catalog"], results_root=results_root, mode="fast"
    )
    orders_path.write_text(json.dumps(recorded))
    counts: dict[str, int] = {}
    for row in recorded:
        counts[row["trigger"]] = counts.get(row["trigger"], 0) + 1
    kinds = sorted({(r["type"], r["time_in_force"]) for r in recorded})
    return {**_ours_figures(outcome), "venue_orders": len(recorded), "by_trigger": counts, "order_kinds": kinds}


def _worker_baseline(dataset: dict, settings: dict, orders_path: Path) -> dict:
    """A bare BacktestEngine; imports NautilusTrader only (no project code, except the delta
    conversion, off the clock)."""
    from decimal import Decimal

    from nautilus_trader.backtest.config import BacktestEngineConfig
    from nautilus_trader.backtest.engine import BacktestEngine
    from nautilus_trader.config import LoggingConfig, RiskEngineConfig, StrategyConfig
    from nautilus_trader.model import instruments as nautilus_instruments
    from nautilus_trader.model.currencies import Currency
    from nautilus_trader.model.enums import AccountType, BookType, OmsType, OrderSide, OrderStatus, TimeInForce
    from nautilus_trader.model.identifiers import InstrumentId, Venue
    from nautilus_trader.model.objects import Money, Quantity
    from nautilus_trader.persistence.catalog import ParquetDataCatalog
    from nautilus_trader.trading.strategy import Strategy

    class ReplayOrdersConfig(StrategyConfig, frozen=True):
        instrument_id: InstrumentId
        book_deltas: bool

    class ReplayOrdersStrategy(Strategy):
        """Sends ours' recorded venue orders at the same data events; nothing else."""

        def __init__(self, config: ReplayOrdersConfig, by_trade: dict, by_book: dict, by_time: dict) -> None:
            super().__init__(config)
            self.by_trade, self.by_book, self.by_time = by_trade, by_book, by_time
            self.submitted = 0

        def on_start(self) -> None:
            iid = self.config.instrument_id
            self.subscribe_trade_ticks(iid)
            if self.config.book_deltas:
                self.subscribe_order_book_deltas(iid, managed=False)
            else:
                self.subscribe_order_book_depth(iid)
            for ts in self.by_time:
                self.clock.set_time_alert_ns(f"orders-{ts}", ts, self.on_time)

        def on_trade_tick(self, tick) -> None:
            orders = self.by_trade.pop(tick.trade_id.value, None)
            if orders:
                self.send(orders)

        def on_order_book_deltas(self, deltas) -> None:
            orders = self.by_book.pop(deltas.ts_init, None)
            if orders:
                self.send(orders)

        def on_order_book_depth(self, depth) -> None:
            orders = self.by_book.pop(depth.ts_init, None)
            if orders:
                self.send(orders)

        def on_time(self, event) -> None:
            self.send(self.by_time.pop(event.ts_event))

        def send(self, orders) -> None:
            iid, factory = self.config.instrument_id, self.order_factory
            for side, quantity, time_in_force, reduce_only in orders:
                self.submit_order(factory.market(iid, side, quantity, time_in_force=time_in_force, reduce_only=reduce_only))
            self.submitted += len(orders)

    # Ours' recorded orders, keyed by what triggered them (off the clock: this is the order plan).
    by_trigger: dict[str, dict] = {"trade": {}, "book": {}, "time": {}}
    recorded = json.loads(Path(orders_path).read_text())
    for row in recorded:
        if row["type"] != "MARKET":
            raise SystemExit(f"the baseline replays market orders only, ours sent a {row['type']}")
        order = (OrderSide[row["side"]], Quantity.from_str(row["quantity"]), TimeInForce[row["time_in_force"]],
                 row["reduce_only"])  # fmt: skip
        by_trigger[row["trigger"]].setdefault(row["key"], []).append(order)
    del recorded

    instrument_cls = getattr(nautilus_instruments, settings["instrument_class"])
    rss_before = harness.peak_rss_bytes()
    started = time.perf_counter()

    instrument = instrument_cls.from_dict(settings["instrument"])
    engine = BacktestEngine(
        config=BacktestEngineConfig(
            trader_id="BACKTESTER-001",
            logging=LoggingConfig(log_level=settings["log_level"], bypass_logging=False),
            risk_engine=RiskEngineConfig(
                bypass=settings["risk_bypass"], max_order_submit_rate=settings["max_order_submit_rate"]
            ),
        )
    )
    latency = {}
    if settings["order_latency_ns"]:
        from nautilus_trader.backtest.models import LatencyModel

        latency["latency_model"] = LatencyModel(base_latency_nanos=settings["order_latency_ns"])
    engine.add_venue(
        venue=Venue(settings["venue"]),
        oms_type=OmsType[settings["oms_type"]],
        account_type=AccountType[settings["account_type"]],
        base_currency=Currency.from_str(settings["base_currency"]),
        starting_balances=[Money.from_str(settings["starting_balance"])],
        default_leverage=Decimal(settings["leverage"]),
        book_type=BookType[settings["book_type"]],
        trade_execution=settings["trade_execution"],
        liquidity_consumption=settings["liquidity_consumption"],
        queue_position=settings["queue_position"],
        **latency,
    )
    engine.add_instrument(instrument)
    catalog = ParquetDataCatalog(dataset["catalog"])
    ids = [instrument.id.value]
    end = dataset["replay_end"]
    trades = catalog.trade_ticks(instrument_ids=ids, start=dataset["start"], end=end)
    depth = catalog.order_book_depth10(instrument_ids=ids, start=dataset["start"], end=end)
    off_clock = 0.0
    if settings["queue_position"]:
        # The same book deltas as ours (ours converts them inside its timed run: that is its overhead).
        converting = time.perf_counter()
        from odum_pipeline.backtests.book_deltas import depth_to_deltas

        book = depth_to_deltas(depth)
        off_clock = time.perf_counter() - converting
    else:
        book = depth
    engine.add_data(book, sort=False)  # book first: ours' streams break timestamp ties that way
    engine.add_data(trades, sort=False)
    engine.sort_data()
    strategy = ReplayOrdersStrategy(
        ReplayOrdersConfig(instrument_id=instrument.id, book_deltas=bool(settings["queue_position"])),
        by_trigger["trade"], by_trigger["book"], by_trigger["time"],
    )  # fmt: skip
    engine.add_strategy(strategy)
    engine.run(start=dataset["start"], end=end)
    run_seconds = time.perf_counter() - started - off_clock
    # Counted off the clock (ours counts its orders in its metrics, which is part of its time).
    events = engine.iteration
    orders = engine.cache.orders(instrument_id=instrument.id)
    filled = sum(o.filled_qty.as_double() > 0 for o in orders)
    rejected = sum(o.status == OrderStatus.REJECTED for o in orders)
    unsent = sum(len(v) for table in by_trigger.values() for v in table.values())
    del trades, depth, book, orders
    disposing = time.perf_counter()
    engine.dispose()  # ours disposes its node inside run_backtest
    seconds = run_seconds + time.perf_counter() - disposing
    return {
        "seconds": seconds,
        "orders": strategy.submitted,
        "unsent": unsent,
        "filled_orders": filled,
        "rejected": rejected,
        "events": events,
        "peak_rss": harness.peak_rss_bytes(),
        "rss_after_imports": rss_before,
    }


# Stages of run_backtest, located in the profile by (module file suffix, function name).
_STAGES = [
    ("run_backtest (total)", "backtests/engine.py", "run_backtest"),
    ("node.build", "backtest/node.py", "build"),
    ("node.run", "backtest/node.py", "run"),
    ("  catalog load (load_data_config)", "backtest/node.py", "load_data_config"),
    ("  engine loop, self time (Cython)", "backtest/node.py", "_run_oneshot", "tottime"),
    ("strategy.on_trade_tick", "backtests/strategy.py", "on_trade_tick"),
    ("  of which _submit_market", "backtests/strategy.py", "_submit_market"),
    ("  of which NORMAL.on_order (hop)", "algorithms/normal.py", "on_order"),
    ("algorithm._flush_shortfalls", "algorithms/base.py", "_flush_shortfalls"),
    ("algorithm.on_order_canceled", "algorithms/base.py", "on_order_canceled"),
    ("algorithm.on_order_rejected", "algorithms/base.py", "on_order_rejected"),
    ("fill model (ReplayFillModel)", "backtests/fill_model.py", "get_orderbook_for_fill_simulation"),
    ("DepthRelay.on_order_book_deltas", "backtests/book_deltas.py", "on_order_book_deltas"),
    ("Depth10 -> deltas (convert)", "backtests/book_deltas.py", "convert"),
    ("strategy.on_order_submitted", "backtests/strategy.py", "on_order_submitted"),
    ("strategy.on_order_book_depth", "backtests/strategy.py", "on_order_book_depth"),
    ("strategy.on_order_filled", "backtests/strategy.py", "on_order_filled"),
    ("strategy._on_progress_timer", "backtests/strategy.py", "_on_progress_timer"),
    ("strategy._mark (all equity marks)", "backtests/strategy.py", "_mark"),
    ("strategy._record (timeline)", "backtests/strategy.py", "_record"),
    ("strategy._on_window_end", "backtests/strategy.py", "_on_window_end"),
    ("collect_run_data (metrics)", "backtests/metrics.py", "collect_run_data"),
    ("  generate_fills_report", "trading/trader.py", "generate_fills_report"),
    ("  generate_orders_report", "trading/trader.py", "generate_orders_report"),
    ("  generate_positions_report", "trading/trader.py", "generate_positions_report"),
    ("  fills_table", "backtests/metrics.py", "fills_table"),
    ("  _orders_table", "backtests/metrics.py", "_orders_table"),
    ("summarize", "backtests/metrics.py", "summarize"),
    ("write_fast", "backtests/results.py", "write_fast"),
    ("node.dispose", "backtest/node.py", "dispose"),
]


def _worker_profile(dataset: dict, results_root: Path, top: int) -> dict:
    from odum_pipeline.backtests.config import parse_config
    from odum_pipeline.backtests.engine import AlgorithmSpec, run_backtest

    def run() -> None:
        config = parse_config(_config_dict(dataset))
        run_backtest(config, algorithm=AlgorithmSpec(), catalog_root=dataset["catalog"], results_root=results_root)

    return harness.profiled(run, _STAGES, top)


# Features of ours switched off one at a time by monkeypatching inside the worker (no file is
# changed): what each one costs, measured without the profiler.
VARIANTS = {
    "full": "as shipped",
    "no-fill-marks": "on_order_filled does nothing (fees, filled quantity, impact, timeline)",
    "no-timer-marks": "no progress timer",
    "no-book-callback": "strategy not subscribed to depth (no on_order_book_depth / last_mid)",
    "no-window-check": "on_trade_tick without the window/mode checks and last_trade_price",
    "no-metrics": "collect_run_data/summarize/write_fast replaced by stubs",
    "all-off": "all of the above together",
}


def _apply_variant(variant: str) -> None:
    from odum_pipeline.backtests import engine as engine_module
    from odum_pipeline.backtests import strategy as strategy_module

    cls = strategy_module.ExecutionBacktestStrategy
    bare = variant == "all-off"
    if variant == "no-fill-marks" or bare:
        cls.on_order_filled = lambda self, event: None
    if variant == "no-timer-marks" or bare:
        cls._schedule_progress = lambda self: None
    if variant == "no-book-callback" or bare:
        original_config = engine_module._strategy_config

        def _strategy_config(*args, **kwargs):
            config = original_config(*args, **kwargs)
            return type(config)(**{**config.dict(), "subscribe_book": False})

        engine_module._strategy_config = _strategy_config
    if variant == "no-window-check" or bare:
        from nautilus_trader.model.enums import AggressorSide, OrderSide

        def on_trade_tick(self, tick):
            if tick.aggressor_side == AggressorSide.NO_AGGRESSOR:
                self.skipped_rows += 1
                return
            self._submit_market(OrderSide.BUY if tick.aggressor_side == AggressorSide.BUYER else OrderSide.SELL, tick.size)

        cls.on_trade_tick = on_trade_tick
    if variant == "no-metrics" or bare:
        import dataclasses

        from odum_pipeline.backtests.metrics import RunData

        def collect_run_data(engine, strategy, instrument, **_):
            required = [
                f.name
                for f in dataclasses.fields(RunData)
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
            ]
            return RunData(**{name: [] for name in required})  # whatever fields RunData has today

        engine_module.collect_run_data = collect_run_data
        engine_module._equity_curve = lambda *args, **kwargs: None  # it reads the metrics' balances
        # run_backtest reads the market block back (the look-ahead statement)
        engine_module.summarize = lambda **kwargs: {"market": kwargs["market"]}
        engine_module.write_fast = lambda root, run_id, summary: Path(root) / "stub.json"


def _worker_variant(dataset: dict, results_root: Path, variant: str) -> dict:
    from odum_pipeline.backtests.config import parse_config
    from odum_pipeline.backtests.engine import AlgorithmSpec, run_backtest

    _apply_variant(variant)
    started = time.perf_counter()
    config = parse_config(_config_dict(dataset))
    run_backtest(config, algorithm=AlgorithmSpec(), catalog_root=dataset["catalog"], results_root=results_root)
    return {"seconds": time.perf_counter() - started, "peak_rss": harness.peak_rss_bytes()}


def _run_worker(args: argparse.Namespace) -> None:
    dataset = json.loads(args.dataset)
    out = Path(args.out) if args.out else None
    if args.worker == "prepare":
        report = _worker_prepare(dataset)
    elif args.worker == "ours":
        report = _worker_ours(dataset, out)
    elif args.worker == "record":
        report = _worker_record(dataset, out, Path(args.orders))
    elif args.worker == "baseline":
        report = _worker_baseline(dataset, json.loads(args.settings), Path(args.orders))
    elif args.worker == "profile":
        report = _worker_profile(dataset, out, args.top)
    else:
        report = _worker_variant(dataset, out, args.variant)
    harness.emit(report)


# ------------------------------------------------------------------------------ driver side


def _spawn(kind: str, dataset: dict, out: Path | None = None, *extra: str) -> dict:
    """One measurement in a fresh interpreter (see ``harness``: the driver stays light)."""
    return harness.spawn(__file__, kind, ["--dataset", json.dumps(dataset), *extra], out=out, cwd=REPO_ROOT)


def _datasets(args: argparse.Namespace, workdir: Path) -> list[dict]:
    datasets = []
    if "real" in args.datasets:
        datasets.append(
            {
                "name": "real",
                "kind": "real",
                "label": f"real {INSTRUMENT_KEY} {REAL_WINDOW[0][:19]}Z -> {REAL_WINDOW[1][11:19]}Z",
                "raw_root": str(REAL_DATA),
                "catalog": str(workdir / "catalog-real"),
                "start": REAL_WINDOW[0],
                "end": REAL_WINDOW[1],
            }
        )
    if "synthetic" in args.datasets:
        start = dt.datetime.combine(SYNTHETIC_DAY, SYNTHETIC_START, tzinfo=dt.UTC)
        end = start + dt.timedelta(minutes=args.synthetic_minutes)
        datasets.append(
            {
                "name": "synthetic",
                "kind": "synthetic",
                "label": f"synthetic {INSTRUMENT_KEY} {start.isoformat()[:19]}Z -> {end.isoformat()[11:19]}Z "
                f"({args.synthetic_minutes:g} min)",
                "raw_root": str(workdir / "raw-synthetic"),
                "catalog": str(workdir / "catalog-synthetic"),
                "start": start.isoformat(),
                "end": end.isoformat(),
                "minutes": args.synthetic_minutes,
            }
        )
    return datasets


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--synthetic-minutes", type=float, default=60.0, help="synthetic window length (default 60)")
    parser.add_argument("--repeat", type=int, default=2, help="runs of each side per dataset; the best time counts")
    parser.add_argument("--datasets", default="real,synthetic", help="comma-separated: real, synthetic")
    parser.add_argument("--workdir", type=Path, help="catalogs and results (default: a new temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the workdir afterwards")
    parser.add_argument("--profile", action="store_true", help="profile ours even if the ratio target is met")
    parser.add_argument("--attribute", action="store_true", help="time ours with single features switched off even if the target is met")
    parser.add_argument("--attribute-repeat", type=int, default=1, help="runs of each variant (default 1, best counts)")
    parser.add_argument("--no-diagnostics", action="store_true", help="no automatic profile/attribution on a miss")
    parser.add_argument("--top", type=int, default=20, help="profile lines to print (default 20)")
    parser.add_argument("--worker", choices=("prepare", "record", "ours", "baseline", "profile", "variant"), help=argparse.SUPPRESS)
    parser.add_argument("--dataset", help=argparse.SUPPRESS)
    parser.add_argument("--settings", help=argparse.SUPPRESS)
    parser.add_argument("--variant", help=argparse.SUPPRESS)
    parser.add_argument("--orders", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        _run_worker(args)
        return 0
    args.datasets = {name.strip() for name in args.datasets.split(",") if name.strip()}

    with harness.workdir(args.workdir, prefix="odum-bench-backtest-", keep=args.keep) as workdir:
        return _benchmark(args, workdir)


def _benchmark(args: argparse.Namespace, workdir: Path) -> int:
    print(f"workdir: {workdir}")
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, repeat {args.repeat} (best time counts)")
    datasets = _datasets(args, workdir)
    ok = True
    for dataset in datasets:
        for path in (dataset["catalog"],):
            shutil.rmtree(path, ignore_errors=True)
        print(f"\n=== {dataset['label']}")
        print("preparing the catalog (not timed) ...", flush=True)
        prepared = _spawn("prepare", dataset)
        if prepared["generated"]:
            gen = prepared["generated"]
            print(f"  generated {gen['trades']:,} trades + {gen['book_snapshot_5']:,} book rows")
        for day, rows in prepared["converted"].items():
            print(f"  converted {day}: " + ", ".join(f"{k} {v:,}" for k, v in rows.items()))
        print(f"  window: {prepared['trades']:,} trades ({prepared['known_aggressor_trades']:,} with a known aggressor) "
              f"+ {prepared['depth']:,} depth rows; prepared in {prepared['prepare_seconds']:.1f} s", flush=True)
        dataset["replay_end"] = prepared["replay_end"]
        print("recording the orders ours sends to the venue (not timed) ...", flush=True)
        orders_path = workdir / f"orders-{dataset['name']}.json"
        recorded = _spawn("record", dataset, workdir / f"results-record-{dataset['name']}", "--orders", str(orders_path))
        print(f"  {recorded['venue_orders']:,} venue orders (by trigger: "
              + ", ".join(f"{k} {v:,}" for k, v in sorted(recorded["by_trigger"].items()))
              + f"; kinds {recorded['order_kinds']}) for {recorded['orders']:,} entry parents "
              f"+ {recorded['close_orders']} close; {recorded['rejected']:,} rejected", flush=True)
        ok &= _measure(args, workdir, dataset, prepared, recorded, orders_path)
    return 0 if ok else 1


def _measure(
    args: argparse.Namespace, workdir: Path, dataset: dict, prepared: dict, recorded: dict, orders_path: Path
) -> bool:
    settings = json.dumps(prepared["baseline"])
    ours_runs, base_runs = [], []
    for run in range(1, args.repeat + 1):
        base_runs.append(_spawn("baseline", dataset, None, "--settings", settings, "--orders", str(orders_path)))
        print(f"  run {run}: baseline {base_runs[-1]['seconds']:8.2f} s, {base_runs[-1]['orders']:,} orders, "
              f"peak RSS {base_runs[-1]['peak_rss'] / MIB:,.0f} MiB", flush=True)
        ours_runs.append(_spawn("ours", dataset, workdir / f"results-{dataset['name']}"))
        print(f"  run {run}: ours     {ours_runs[-1]['seconds']:8.2f} s, {ours_runs[-1]['orders']:,} orders, "
              f"peak RSS {ours_runs[-1]['peak_rss'] / MIB:,.0f} MiB", flush=True)

    events = recorded["events"]  # the engine's data events in ours' replay (window + close-out grace)
    ours_s = min(r["seconds"] for r in ours_runs)
    base_s = min(r["seconds"] for r in base_runs)
    ours_peak = max(r["peak_rss"] for r in ours_runs)
    base_peak = max(r["peak_rss"] for r in base_runs)
    figures = ("orders", "close_orders", "fills", "rejected", "denied", "events")
    ours_same = all({r[k] for r in ours_runs} == {recorded[k]} for k in figures)
    base_sent = {(r["orders"], r["unsent"]) for r in base_runs}
    orders_ok = ours_same and base_sent == {(recorded["venue_orders"], 0)}
    base_events = {r["events"] for r in base_runs}
    events_ok = base_events == {events}
    ratio = ours_s / base_s
    ratio_ok = ratio <= RATIO_TARGET
    last, base_last = ours_runs[-1], base_runs[-1]

    width = 40
    print()
    print(f"Backtest throughput: {dataset['label']}, per_trade_tick NORMAL, snapshot_mode both, best of {args.repeat}")
    print("-" * 100)
    print(f"{'engine data events (ours = baseline)':<{width}} {events:>12,}   "
          f"{'same' if events_ok else f'MISMATCH: baseline {sorted(base_events)}'}   "
          f"(window: {prepared['trades']:,} trades + {prepared['depth']:,} book rows; + close-out grace)")
    print(f"{'venue orders (ours = baseline)':<{width}} {recorded['venue_orders']:>12,}   "
          f"{'same' if orders_ok else 'DIFFERENT: baseline (sent, unsent) ' + str(sorted(base_sent))}   "
          f"(ours: {last['orders']:,} parents + {last['close_orders']} close, the rest NORMAL's re-sends)")
    print(f"{'ours: every timed run = recorded run':<{width}} {'yes' if ours_same else 'NO':>12}   "
          f"(orders, close orders, fills, rejected, denied, events)")
    print(f"{'fills / rejected, ours':<{width}} {last['fills']:>12,}   / {last['rejected']:,}")
    print(f"{'filled / rejected orders, baseline':<{width}} {base_last['filled_orders']:>12,}   / "
          f"{base_last['rejected']:,}   (no visible-depth fill model: levels beyond the top 5 fill)")
    print(f"{'ours: run_backtest, seconds':<{width}} {ours_s:>12.2f}   ({events / ours_s:,.0f} events/s)")
    print(f"{'baseline: bare BacktestEngine, seconds':<{width}} {base_s:>12.2f}   ({events / base_s:,.0f} events/s)")
    print(f"{'ratio ours / baseline':<{width}} {ratio:>12.2f}   target <= {RATIO_TARGET:g}   {harness.verdict(ratio_ok)}")
    print(f"{'peak RSS, ours':<{width}} {ours_peak / MIB:>8,.0f} MiB   (after imports {ours_runs[0]['rss_after_imports'] / MIB:,.0f} MiB)")
    print(f"{'peak RSS, baseline':<{width}} {base_peak / MIB:>8,.0f} MiB   (after imports {base_runs[0]['rss_after_imports'] / MIB:,.0f} MiB)")
    print("-" * 100)
    print("all runs (s):  ours " + ", ".join(f"{r['seconds']:.2f}" for r in ours_runs)
          + "   baseline " + ", ".join(f"{r['seconds']:.2f}" for r in base_runs))
    print(f"ours' summary JSON (last run): {last['result_path']}")

    diagnose = not ratio_ok and not args.no_diagnostics
    if diagnose or args.profile:
        _profile(args, workdir, dataset, ratio_ok)
    if diagnose or args.attribute:
        _attribute(args, workdir, dataset, base_s)
    return orders_ok and events_ok


def _profile(args: argparse.Namespace, workdir: Path, dataset: dict, ratio_ok: bool) -> None:
    print()
    print(("ratio target missed: " if not ratio_ok else "") + "profiling ours (cProfile, separate subprocess) ...",
          flush=True)
    profile = _spawn("profile", dataset, workdir / f"results-profile-{dataset['name']}", "--top", str(args.top))
    total = profile["seconds"]
    print(f"\nrun_backtest under cProfile: {total:.2f} s (profiler overhead included)")
    print("stage breakdown (cumulative; nested lines are part of the line above):")
    for label, calls, seconds in profile["stages"]:
        print(f"  {label:<36} {calls:>9,} calls {seconds:8.2f} s  {100 * seconds / total:5.1f} %")
    print(f"\ntop {args.top} by cumulative time:")
    print(profile["top"].rstrip())


def _attribute(args: argparse.Namespace, workdir: Path, dataset: dict, base_s: float) -> None:
    print()
    print(f"cost of single features of ours (no profiler; monkeypatched in the worker, best of "
          f"{args.attribute_repeat}; baseline {base_s:.2f} s):", flush=True)
    best: dict[str, float] = {}
    for _ in range(args.attribute_repeat):  # rounds, so slow phases of a noisy machine hit every variant
        for variant in VARIANTS:
            result = _spawn("variant", dataset, workdir / f"results-variant-{dataset['name']}", "--variant", variant)
            best[variant] = min(best.get(variant, float("inf")), result["seconds"])
            print(f"  ... {variant:<17} {result['seconds']:7.2f} s", flush=True)
    rows = [(variant, description, best[variant]) for variant, description in VARIANTS.items()]
    full = rows[0][2]
    for variant, description, seconds in rows:
        saved = full - seconds
        print(f"  {variant:<17} {seconds:7.2f} s  ratio {seconds / base_s:5.2f}  saves {saved:+6.2f} s  ({description})")


if __name__ == "__main__":
    raise SystemExit(main())
