"""A smoke run of one execution algorithm on built-in synthetic ticks (no files needed).

A ``BacktestEngine`` with BTCUSDT-PERP.BINANCE from the instrument registry, an L2 book of
``OrderBookDepth10`` snapshots (5 levels each side, 0.5 BTC a level, one snapshot a second) and
trades at the touch every half second, both generated in code from a seeded random walk. One
marketable limit BUY parent order is handed to the algorithm; the run reports the quantity filled,
the child orders and the fill times. Two days of the same clock window are also written to a
temporary ``ParquetDataCatalog`` (the previous day first) so algorithms that read volume profiles
from a catalog (``catalog_path`` config field) have real-shaped history to read.

Used by ``validation`` inside its subprocess: algorithm code never runs in the caller.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import numpy as np

INSTRUMENT_KEY = "BINANCE-FUTURES:PERPETUAL:BTC-USDT"
DAY = dt.date(2024, 1, 2)
ARRIVAL_OFFSET_SECS = 10
PARENT_QTY = Decimal("0.050")
MIN_SPAN_SECS = 600
NS = 1_000_000_000
TICK = 0.1
BOOK_LEVELS = 5


@dataclass
class SmokeResult:
    parent_qty: str
    filled_qty: str
    children: int
    orders: list[dict] = field(default_factory=list)
    first_fill_ns: int | None = None
    last_fill_ns: int | None = None
    arrival_ns: int = 0
    end_ns: int = 0
    fills: list[dict] = field(default_factory=list)  # {"order", "ts", "price", "qty"} per fill


def _day_start_ns(day: dt.date) -> int:
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp()) * NS


def smoke_window(horizon_secs: float | None) -> tuple[int, int, int]:
    """``(start_ns, arrival_ns, span_secs)`` of the smoke run for an algorithm with this horizon."""
    span = int(max(MIN_SPAN_SECS, (horizon_secs or 0) + ARRIVAL_OFFSET_SECS + 120))
    start_ns = _day_start_ns(DAY)
    return start_ns, start_ns + ARRIVAL_OFFSET_SECS * NS, span


def synthetic_mids(rng: np.random.Generator, span_secs: int) -> np.ndarray:
    """The mid of each second: a random walk of 0.5 steps around 30 000 (draws from ``rng`` first)."""
    return 30_000 + np.cumsum(rng.choice([-1, 0, 1], size=span_secs + 1)) * TICK * 5


def synthetic_touch(span_secs: int, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """``(bids, asks)`` at the touch of each second's snapshot, as ``synthetic_market`` builds them."""
    bids = np.round(synthetic_mids(np.random.default_rng(seed), span_secs) - TICK / 2, 1)
    return bids, np.round(bids + TICK, 1)


def synthetic_market(instrument, start_ns: int, span_secs: int, seed: int = 7):
    """``(depths, trades)``: one depth snapshot a second, a trade every half second."""
    from nautilus_trader.model.data import BookOrder, OrderBookDepth10, TradeTick
    from nautilus_trader.model.enums import AggressorSide, OrderSide, RecordFlag
    from nautilus_trader.model.identifiers import TradeId

    rng = np.random.default_rng(seed)
    tick = TICK
    mids = synthetic_mids(rng, span_secs)
    flags = int(RecordFlag.F_SNAPSHOT) | int(RecordFlag.F_LAST)
    depths, trades = [], []
    for second in range(span_secs + 1):
        ts = start_ns + second * NS
        bid = round(mids[second] - tick / 2, 1)
        ask = round(bid + tick, 1)
        bids = [BookOrder(OrderSide.BUY, instrument.make_price(bid - i * tick), instrument.make_qty(0.5), 0) for i in range(5)]
        asks = [BookOrder(OrderSide.SELL, instrument.make_price(ask + i * tick), instrument.make_qty(0.5), 0) for i in range(5)]
        pad_b = [BookOrder(OrderSide.BUY, instrument.make_price(0), instrument.make_qty(0), 0)] * 5
        pad_a = [BookOrder(OrderSide.SELL, instrument.make_price(0), instrument.make_qty(0), 0)] * 5
        depths.append(
            OrderBookDepth10(instrument.id, bids + pad_b, asks + pad_a, [1] * 5 + [0] * 5, [1] * 5 + [0] * 5, flags, 0, ts, ts)
        )
        for half in (0, 1):
            buyer = rng.random() < 0.5
            size = round(float(rng.uniform(0.01, 0.2)) * (1.5 if (second // 60) % 2 else 1.0), 3)
            trades.append(
                TradeTick(
                    instrument.id,
                    instrument.make_price(ask if buyer else bid),
                    instrument.make_qty(max(size, 0.001)),
                    AggressorSide.BUYER if buyer else AggressorSide.SELLER,
                    TradeId(f"S{second}-{half}"),
                    ts + half * NS // 2 + 1,
                    ts + half * NS // 2 + 1,
                )
            )
    return depths, trades


def write_catalog(path: Path, instrument, span_secs: int) -> tuple[list, list]:
    """The previous day and ``DAY`` (same clock window) in a ``ParquetDataCatalog``; ``DAY``'s
    (depths, trades), which the smoke run replays."""
    from nautilus_trader.persistence.catalog import ParquetDataCatalog

    catalog = ParquetDataCatalog(str(path))
    catalog.write_data([instrument])
    for offset, seed in ((1, 11), (0, 7)):
        depths, trades = synthetic_market(instrument, _day_start_ns(DAY) - offset * 86_400 * NS, span_secs, seed)
        catalog.write_data(trades)
        catalog.write_data(depths)
    return depths, trades


def smoke_run(
    make_algorithm, *, horizon_secs: float | None = None, quantity: Decimal = PARENT_QTY, workdir: Path | None = None
) -> SmokeResult:
    """Run one parent order through ``make_algorithm(catalog_path)`` on synthetic ticks."""
    from nautilus_trader.backtest.engine import BacktestEngine, BacktestEngineConfig
    from nautilus_trader.config import LoggingConfig, RiskEngineConfig, StrategyConfig
    from nautilus_trader.model.currencies import USDT
    from nautilus_trader.model.enums import AccountType, BookType, OmsType, OrderSide, TimeInForce
    from nautilus_trader.model.identifiers import ExecAlgorithmId, Venue
    from nautilus_trader.model.objects import Money
    from nautilus_trader.trading.strategy import Strategy

    from odum_pipeline.instruments.registry import build_instrument

    instrument = build_instrument(INSTRUMENT_KEY)
    start_ns, arrival_ns, span = smoke_window(horizon_secs)
    tmp = tempfile.TemporaryDirectory(dir=workdir)
    catalog_path = Path(tmp.name) / "catalog"
    depths, trades = write_catalog(catalog_path, instrument, span)
    algorithm = make_algorithm(str(catalog_path))

    class Parent(Strategy):
        def on_start(self) -> None:
            self.subscribe_order_book_depth(instrument.id)
            self.subscribe_trade_ticks(instrument.id)
            self.clock.set_time_alert_ns("parent", arrival_ns, self._submit)
            self.primary_id = None

        def _submit(self, event) -> None:
            book = self.cache.order_book(instrument.id)
            ask = book.best_ask_price() if book is not None and book.best_ask_price() is not None else None
            price = instrument.make_price((ask.as_double() if ask else 30_000) + 50)
            order = self.order_factory.limit(
                instrument.id,
                OrderSide.BUY,
                instrument.make_qty(quantity),
                price,
                time_in_force=TimeInForce.GTC,
                exec_algorithm_id=ExecAlgorithmId(algorithm.id.value),
                exec_algorithm_params={},
            )
            self.primary_id = order.client_order_id
            self.submit_order(order)

    engine = BacktestEngine(
        BacktestEngineConfig(
            trader_id="SMOKE-001",
            logging=LoggingConfig(bypass_logging=True),
            risk_engine=RiskEngineConfig(max_order_submit_rate="1000000/00:00:01"),
        )
    )
    try:
        engine.add_venue(
            Venue("BINANCE"),
            oms_type=OmsType.NETTING,
            account_type=AccountType.MARGIN,
            starting_balances=[Money(1_000_000, USDT)],
            base_currency=USDT,
            book_type=BookType.L2_MBP,
        )
        engine.add_instrument(instrument)
        engine.add_data(depths)
        engine.add_data(trades)
        engine.add_exec_algorithm(algorithm)
        strategy = Parent(StrategyConfig(strategy_id="SMOKE-001"))
        engine.add_strategy(strategy)
        engine.run()
        orders = engine.cache.orders(instrument_id=instrument.id)
        primary_id = strategy.primary_id
        family = [o for o in orders if primary_id is not None and (o.client_order_id == primary_id or o.exec_spawn_id == primary_id)]
        fills = engine.trader.generate_fills_report()
        fill_ts = sorted(int(ts.value) for ts in fills["ts_event"]) if len(fills) else []
        filled = sum((o.filled_qty.as_decimal() for o in family), Decimal(0))
        return SmokeResult(
            parent_qty=str(quantity),
            filled_qty=str(filled.quantize(quantity)),
            children=sum(o.client_order_id != primary_id for o in family),
            orders=[
                {"id": o.client_order_id.value, "type": o.order_type.name, "qty": str(o.quantity),
                 "filled": str(o.filled_qty), "status": o.status.name}
                for o in family
            ],
            first_fill_ns=fill_ts[0] if fill_ts else None,
            last_fill_ns=fill_ts[-1] if fill_ts else None,
            arrival_ns=arrival_ns,
            end_ns=start_ns + span * NS,
            fills=_fills(family),
        )
    finally:
        engine.dispose()
        tmp.cleanup()


def _fills(orders) -> list[dict]:
    from nautilus_trader.model.events import OrderFilled

    return [
        {"order": order.client_order_id.value, "ts": event.ts_event, "price": str(event.last_px), "qty": str(event.last_qty)}
        for order in orders
        for event in order.events
        if isinstance(event, OrderFilled)
    ]


def implausible_facts(result: dict, horizon_secs: float | None) -> list[str]:
    """What in a reported smoke result the synthetic market could not have produced ([] if none).

    The validator's parent runs this on what the child reported, against its own copy of the
    market (seeded, so identical) and its own window: a forged "filled" without matching fills,
    fills outside the window or at prices the book never showed, are not a pass.
    """
    start_ns, arrival_ns, span = smoke_window(horizon_secs)
    end_ns = start_ns + span * NS
    bids, asks = synthetic_touch(span)
    fills = result.get("fills") or []
    problems = []
    try:
        filled = sum((Decimal(f["qty"]) for f in fills), Decimal(0))
        per_order: dict[str, Decimal] = {}
        for fill in fills:
            per_order[fill["order"]] = per_order.get(fill["order"], Decimal(0)) + Decimal(fill["qty"])
            ts, price = int(fill["ts"]), float(fill["price"])
            if not arrival_ns <= ts <= end_ns:
                problems.append(f"fill at {ts} ns is outside the smoke window")
                continue
            second = (ts - start_ns) // NS
            around = slice(max(0, second - 1), min(span, second) + 1)
            low, high = bids[around].min() - BOOK_LEVELS * TICK, asks[around].max() + BOOK_LEVELS * TICK
            if not low - 1e-9 <= price <= high + 1e-9:
                problems.append(f"fill at {price} is outside the book ({low:.1f} .. {high:.1f}) at {ts} ns")
        if filled != Decimal(result.get("filled_qty", "0")):
            problems.append(f"reported filled {result.get('filled_qty')} but the fills add up to {filled}")
        for order in result.get("orders") or []:
            if Decimal(order["filled"]) != per_order.get(order["id"], Decimal(0)):
                problems.append(f"order {order['id']} reports {order['filled']} filled, its fills add up to "
                                f"{per_order.get(order['id'], Decimal(0))}")
    except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
        problems.append(f"malformed smoke result ({type(exc).__name__}: {exc})")
    return problems
