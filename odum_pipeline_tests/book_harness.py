"""A BacktestEngine on a hand-built book: the exact children an algorithm sends, for schedule tests.

Snapshots are given as ``(second, bid, ask)`` with 1 BTC on each of five levels 0.1 apart, repeated
every ``step`` seconds until the next change; trades as ``(second, price, size, "BUY"|"SELL")``.
One parent order arrives at ``arrival`` seconds (market, or limit when ``limit`` is given).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import pandas as pd

from odum_pipeline.algorithms.slicing import NS_PER_SEC

T0 = 1_704_153_600 * NS_PER_SEC  # 2024-01-02T00:00:00Z
KEY = "BINANCE-FUTURES:PERPETUAL:BTC-USDT"


@dataclass
class BookRun:
    orders: pd.DataFrame  # one row per order of the parent's family: id, type, side, price, qty, filled, status, tags, ts_init
    fills: pd.DataFrame  # ts, client_order_id, price, qty, liquidity
    record: dict


def secs(ts_ns: int) -> float:
    return (ts_ns - T0) / NS_PER_SEC


def depth(instrument, ts: int, bid: float, ask: float):
    from nautilus_trader.model.data import BookOrder, OrderBookDepth10
    from nautilus_trader.model.enums import OrderSide, RecordFlag

    tick = 0.1
    bids = [BookOrder(OrderSide.BUY, instrument.make_price(bid - i * tick), instrument.make_qty(1), 0) for i in range(5)]
    asks = [BookOrder(OrderSide.SELL, instrument.make_price(ask + i * tick), instrument.make_qty(1), 0) for i in range(5)]
    pad_b = [BookOrder(OrderSide.BUY, instrument.make_price(0), instrument.make_qty(0), 0)] * 5
    pad_a = [BookOrder(OrderSide.SELL, instrument.make_price(0), instrument.make_qty(0), 0)] * 5
    flags = int(RecordFlag.F_SNAPSHOT) | int(RecordFlag.F_LAST)
    return OrderBookDepth10(instrument.id, bids + pad_b, asks + pad_a, [1] * 5 + [0] * 5, [1] * 5 + [0] * 5, flags, 0, ts, ts)


def run_on_book(
    algorithm, books, trades=(), *, arrival: float, quantity: str, side: str = "BUY", limit: str | None = None,
    end: float = 60.0, step: float = 0.5,
) -> BookRun:  # fmt: skip
    from nautilus_trader.backtest.engine import BacktestEngine, BacktestEngineConfig
    from nautilus_trader.config import LoggingConfig, RiskEngineConfig, StrategyConfig
    from nautilus_trader.model.currencies import USDT
    from nautilus_trader.model.data import TradeTick
    from nautilus_trader.model.enums import AccountType, AggressorSide, BookType, OmsType, OrderSide, TimeInForce
    from nautilus_trader.model.identifiers import ExecAlgorithmId, TradeId, Venue
    from nautilus_trader.model.objects import Money
    from nautilus_trader.trading.strategy import Strategy

    from odum_pipeline.instruments.registry import build_instrument

    instrument = build_instrument(KEY)
    changes = sorted(books)
    depths, t, index = [], 0.0, 0
    while t <= end:
        while index + 1 < len(changes) and changes[index + 1][0] <= t:
            index += 1
        _, bid, ask = changes[index]
        depths.append(depth(instrument, T0 + round(t * NS_PER_SEC), bid, ask))
        t += step
    ticks = [
        TradeTick(
            instrument.id, instrument.make_price(price), instrument.make_qty(size),
            AggressorSide.BUYER if aggressor == "BUY" else AggressorSide.SELLER, TradeId(f"T{n}"),
            T0 + round(at * NS_PER_SEC), T0 + round(at * NS_PER_SEC),
        )  # fmt: skip
        for n, (at, price, size, aggressor) in enumerate(trades)
    ]

    class Parent(Strategy):
        primary_id = None

        def on_start(self) -> None:
            self.subscribe_order_book_depth(instrument.id)
            self.clock.set_time_alert_ns("parent", T0 + round(arrival * NS_PER_SEC), self._submit)

        def _submit(self, event) -> None:
            kwargs = {"exec_algorithm_id": ExecAlgorithmId(algorithm.id.value), "exec_algorithm_params": {}}
            order_side = OrderSide[side]
            if limit is None:
                order = self.order_factory.market(
                    instrument.id, order_side, instrument.make_qty(Decimal(quantity)), time_in_force=TimeInForce.IOC, **kwargs
                )
            else:
                order = self.order_factory.limit(
                    instrument.id, order_side, instrument.make_qty(Decimal(quantity)), instrument.make_price(Decimal(limit)),
                    time_in_force=TimeInForce.GTC, **kwargs,
                )  # fmt: skip
            Parent.primary_id = order.client_order_id
            self.submit_order(order)

    engine = BacktestEngine(
        BacktestEngineConfig(
            trader_id="BOOK-001", logging=LoggingConfig(bypass_logging=True),
            risk_engine=RiskEngineConfig(max_order_submit_rate="1000000/00:00:01"),
        )  # fmt: skip
    )
    try:
        engine.add_venue(
            Venue("BINANCE"), oms_type=OmsType.NETTING, account_type=AccountType.MARGIN,
            starting_balances=[Money(10_000_000, USDT)], base_currency=USDT, book_type=BookType.L2_MBP,
        )  # fmt: skip
        engine.add_instrument(instrument)
        engine.add_data(depths)
        if ticks:
            engine.add_data(ticks)
        engine.add_exec_algorithm(algorithm)
        engine.add_strategy(Parent(StrategyConfig(strategy_id="BOOK-001")))
        engine.run()
        family = [o for o in engine.cache.orders() if o.exec_spawn_id == Parent.primary_id or o.client_order_id == Parent.primary_id]
        orders = pd.DataFrame(
            [
                {
                    "id": o.client_order_id.value, "type": o.order_type.name, "side": o.side.name,
                    "price": o.price.as_decimal() if o.has_price else None, "qty": o.quantity.as_decimal(),
                    "filled": o.filled_qty.as_decimal(), "status": o.status.name, "tags": list(o.tags or []),
                    "t": secs(o.ts_init), "primary": o.client_order_id == Parent.primary_id,
                }
                for o in family
            ]
        ).sort_values(["t", "id"], kind="stable").reset_index(drop=True)  # fmt: skip
        from nautilus_trader.model.events import OrderFilled

        fills = pd.DataFrame(
            [
                {"t": secs(e.ts_event), "id": e.client_order_id.value, "price": e.last_px.as_decimal(),
                 "qty": e.last_qty.as_decimal(), "liquidity": e.liquidity_side.name}
                for o in family for e in o.events if isinstance(e, OrderFilled)
            ],
            columns=["t", "id", "price", "qty", "liquidity"],
        )  # fmt: skip
        record = dict(next(iter(algorithm.schedule_records.values()), {}))
        return BookRun(orders, fills, record)
    finally:
        engine.dispose()
