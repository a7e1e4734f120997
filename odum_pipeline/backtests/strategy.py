"""The NautilusTrader strategy that submits a backtest's orders (its equity curve is computed after the run).

Two submission modes:

- ``per_trade_tick``: one market order per historical trade in the window, side = the trade's
  aggressor, size = the trade's size. Trades without a known aggressor are skipped and counted,
  never turned into buys.
- ``parent_orders``: an explicit list of parent orders, each submitted at its arrival time
  (a clock alert), as a market or limit order, cancelled at its deadline.

Every order is handed to the execution algorithm under test by setting ``exec_algorithm_id`` and
``exec_algorithm_params`` (NautilusTrader's ExecAlgorithm mechanism); ``NORMAL`` is the built-in
one that sends the whole order at once. Each entry order carries ``UNTIL:<ns>`` (its deadline, else
the window end): the algorithms stop working its remainder then. At the window end working orders
are cancelled and, when ``close_positions``, the remaining position is closed with real market
orders (the replay runs a grace period past the window for them, see ``config.replay_end``).

With an order latency (the market model), every submit, modify and cancel also sets a no-op time
alert at its arrival, so the engine hands it to the venue at exactly sent + latency.

The equity curve is not marked here: it is computed after the run on a fixed 1-second grid from
the fills and the catalog (``equity_grid``), so that it does not depend on which events the engine
saw (an active-interval replay skips the hours in which nothing works). A timer reports progress
about ``PROGRESS_STEPS`` times over the window (at most once a second).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from nautilus_trader.config import StrategyConfig
from nautilus_trader.model.data import OrderBookDepth10, TradeTick
from nautilus_trader.model.enums import AggressorSide, OrderSide, TimeInForce
from nautilus_trader.model.events import OrderFilled
from nautilus_trader.model.identifiers import ClientOrderId, ExecAlgorithmId, InstrumentId
from nautilus_trader.model.objects import Price, Quantity
from nautilus_trader.trading.strategy import Strategy

from odum_pipeline.algorithms.base import UNTIL_TAG

ENTRY_TAG = "ENTRY"
CLOSE_TAG = "CLOSE"
PROGRESS_TIMER = "progress"
#: The progress timer fires about this many times over the window, at most once a second: a timer
#: event costs the engine as much as a data event, and a day at one per second is 86,400 of them.
PROGRESS_STEPS = 1000
WINDOW_END_ALERT = "window-end"
MAX_CLOSE_ATTEMPTS = 1000

ProgressCallback = Callable[[float], None]


@dataclass(frozen=True)
class ParentOrderPlan:
    """One parent order of the ``parent_orders`` mode, times in UNIX nanoseconds."""

    side: str  # "BUY" | "SELL"
    quantity: str
    arrival_ns: int
    limit_price: str | None = None
    deadline_ns: int | None = None


class ExecutionBacktestConfig(StrategyConfig, frozen=True):
    instrument_id: InstrumentId
    submission_mode: str  # "per_trade_tick" | "parent_orders"
    window_start_ns: int
    window_end_ns: int
    parent_orders: tuple[ParentOrderPlan, ...] = ()
    exec_algorithm_id: str | None = None  # the ExecAlgorithm every entry order goes through (NORMAL is one too)
    exec_algorithm_params: dict | None = None
    close_positions: bool = True
    subscribe_trades: bool = True
    subscribe_book: bool = True
    record_tables: bool = True  # report mode only: the parents and timeline rows cost time on big replays
    order_latency_ns: int = 0  # one-way order latency of the venue's LatencyModel (0: none)


@dataclass(frozen=True)
class TimelineEvent:
    ts: int
    event: str
    client_order_id: str
    detail: str


class ExecutionBacktestStrategy(Strategy):
    """Submits the plan's orders through the selected execution algorithm and marks equity."""

    def __init__(
        self, config: ExecutionBacktestConfig, progress: ProgressCallback | None = None, impact_session=None
    ) -> None:
        super().__init__(config)
        self._progress = progress
        self._impact = impact_session  # backtests.impact.ImpactSession when the impact overlay is on
        self._latency_alerts = 0
        self._last_arrival_ns = -1  # the latest arrival alert set (see _arrive_after_latency)
        self._exec_algorithm_id = ExecAlgorithmId(config.exec_algorithm_id) if config.exec_algorithm_id else None
        self.instrument = None
        self.skipped_rows = 0
        self.window_closed = False
        self._close_attempts = 0
        self.last_mid: Decimal | None = None
        self.last_trade_price: Decimal | None = None
        self.timeline: list[TimelineEvent] = []
        self.fill_count = 0
        self.fees = Decimal(0)  # commissions of every fill, from the OrderFilled events
        self.filled_entry_qty = Decimal(0)  # filled quantity of entry orders (not the close-out)
        self._account = None
        self.parents: list[dict] = []  # one row per parent: what was asked, when, before any algorithm
        # Plan index -> (primary id, requested quantity, working until): what the active replay asks.
        self.submitted_parents: dict[int, tuple[ClientOrderId, Decimal, int]] = {}
        # Requested before any algorithm touches the order (ExecAlgorithms shrink the primary's quantity).
        self.requested_qty = Decimal(0)

    # --- lifecycle -------------------------------------------------------------------------------

    def on_start(self) -> None:
        self.instrument = self.cache.instrument(self.config.instrument_id)
        if self.instrument is None:
            raise RuntimeError(f"instrument {self.config.instrument_id} not in the cache")
        self._settlement = self.instrument.get_settlement_currency()
        if self._impact is not None:
            self._impact.clock = self.clock
        if self.config.subscribe_trades:
            self.subscribe_trade_ticks(self.config.instrument_id)
        if self.config.subscribe_book:
            self.subscribe_order_book_depth(self.config.instrument_id)
        self._schedule_progress()
        self._schedule_parent_orders()
        self.clock.set_time_alert_ns(WINDOW_END_ALERT, self.config.window_end_ns, self._on_window_end)

    def _schedule_progress(self) -> None:
        start, end = self.config.window_start_ns, self.config.window_end_ns
        self.clock.set_timer_ns(PROGRESS_TIMER, progress_interval_ns(start, end), start, end, self._on_progress_timer)

    def _schedule_parent_orders(self) -> None:
        if self.config.submission_mode != "parent_orders":
            return
        for index, plan in enumerate(self.config.parent_orders):
            self.clock.set_time_alert_ns(
                f"parent-{index}", plan.arrival_ns, lambda event, plan=plan, index=index: self._submit_parent(plan, index)
            )

    # --- market data -----------------------------------------------------------------------------

    def on_order_book_depth(self, depth: OrderBookDepth10) -> None:
        bid, ask = depth.bids[0].price, depth.asks[0].price
        if bid.as_double() > 0 and ask.as_double() > 0:
            self.last_mid = (bid.as_decimal() + ask.as_decimal()) / 2

    def on_trade_tick(self, tick: TradeTick) -> None:
        self.last_trade_price = tick.price.as_decimal()
        if self.config.submission_mode != "per_trade_tick" or self.window_closed:
            return
        if not self.config.window_start_ns <= tick.ts_init <= self.config.window_end_ns:
            return
        if tick.aggressor_side == AggressorSide.NO_AGGRESSOR:
            self.skipped_rows += 1
            return
        side = OrderSide.BUY if tick.aggressor_side == AggressorSide.BUYER else OrderSide.SELL
        self._submit_market(side, tick.size)

    # --- order submission ------------------------------------------------------------------------

    def _algorithm_kwargs(self) -> dict:
        if self._exec_algorithm_id is None:
            return {}
        return {"exec_algorithm_id": self._exec_algorithm_id, "exec_algorithm_params": self.config.exec_algorithm_params}

    def _entry_tags(self, deadline_ns: int | None = None) -> list[str]:
        """ENTRY, and when the order's remainder stops being worked: its deadline, else the window end."""
        until = self.config.window_end_ns if deadline_ns is None else min(deadline_ns, self.config.window_end_ns)
        return [ENTRY_TAG, f"{UNTIL_TAG}{until}"]

    def _submit_market(self, side: OrderSide, quantity: Quantity, deadline_ns: int | None = None) -> ClientOrderId:
        order = self.order_factory.market(
            self.config.instrument_id,
            side,
            quantity,
            time_in_force=TimeInForce.IOC,
            tags=self._entry_tags(deadline_ns),
            **self._algorithm_kwargs(),
        )
        self._submit_entry(order)
        return order.client_order_id

    def _submit_entry(self, order) -> None:
        self.requested_qty += order.quantity.as_decimal()
        if self.config.record_tables:
            self.parents.append(
                {
                    "client_order_id": order.client_order_id.value,
                    "side": order.side_string(),
                    "requested_qty": str(order.quantity),
                    "arrival_ns": self.clock.timestamp_ns(),
                    "order_type": order.type_string(),
                    "limit_price": str(order.price) if order.has_price else None,
                    "end_ns": _until(order),  # the end mark's time: deadline, else the window end
                }
            )
        self.submit_order(order)

    def _submit_parent(self, plan: ParentOrderPlan, index: int = -1) -> None:
        if self.window_closed:
            self.submitted_parents[index] = (None, Decimal(0), 0)  # never submitted: nothing to work
            return
        side = OrderSide[plan.side]
        quantity = self.instrument.make_qty(Decimal(plan.quantity))
        if plan.limit_price is None:
            client_order_id = self._submit_market(side, quantity, plan.deadline_ns)
        else:
            price = self.instrument.make_price(Decimal(plan.limit_price))
            client_order_id = self._submit_limit(side, quantity, price, plan.deadline_ns)
        self._record(self.clock.timestamp_ns(), "parent_submitted", client_order_id, f"{plan.side} {plan.quantity}")
        until = self.config.window_end_ns if plan.deadline_ns is None else min(plan.deadline_ns, self.config.window_end_ns)
        self.submitted_parents[index] = (client_order_id, quantity.as_decimal(), until)
        if plan.deadline_ns is not None:
            self.clock.set_time_alert_ns(
                f"deadline-{client_order_id}", plan.deadline_ns, lambda event: self._cancel_family(client_order_id)
            )

    def _submit_limit(self, side: OrderSide, quantity: Quantity, price: Price, deadline_ns: int | None = None) -> ClientOrderId:
        order = self.order_factory.limit(
            self.config.instrument_id,
            side,
            quantity,
            price,
            time_in_force=TimeInForce.GTC,
            tags=self._entry_tags(deadline_ns),
            **self._algorithm_kwargs(),
        )
        self._submit_entry(order)
        return order.client_order_id

    def _cancel_family(self, primary_id: ClientOrderId) -> None:
        """Cancel a parent order and every child order an execution algorithm spawned from it."""
        family = self.cache.orders_for_exec_spawn(primary_id) or [self.cache.order(primary_id)]
        for order in family:
            if order is not None and not order.is_closed:
                self.cancel_order(order)
        self._record(self.clock.timestamp_ns(), "deadline", primary_id, "remaining quantity cancelled")

    # --- window end ------------------------------------------------------------------------------

    def _on_window_end(self, event) -> None:
        self.window_closed = True
        self.cancel_all_orders(self.config.instrument_id)
        for order in self.cache.orders_open(instrument_id=self.config.instrument_id) + self.cache.orders_emulated():
            self.cancel_order(order)
        if self.config.close_positions:
            self._close_remaining_position()
        self._record(event.ts_event, "window_end", "", "close" if self.config.close_positions else "mark")
        self._report_progress(event.ts_event)

    def _close_remaining_position(self) -> None:
        """IOC market order(s) until flat: the visible book holds 5 levels, so one close order may
        not suffice; each re-send meets the book as it is then (the close-out replays a grace period past
        the window end, see ``config.replay_end``)."""
        if self._close_attempts >= MAX_CLOSE_ATTEMPTS:
            self.log.error(f"position still open after {MAX_CLOSE_ATTEMPTS} close orders")
            return
        if self.cache.positions_open(instrument_id=self.config.instrument_id):
            self._close_attempts += 1
            self.close_all_positions(self.config.instrument_id, tags=[CLOSE_TAG], time_in_force=TimeInForce.IOC)

    def on_order_canceled(self, event) -> None:
        if not (self.window_closed and self.config.close_positions):
            return
        order = self.cache.order(event.client_order_id)
        if CLOSE_TAG in (order.tags or []):
            self._close_remaining_position()

    # --- progress --------------------------------------------------------------------------------

    def _on_progress_timer(self, event) -> None:
        if self.window_closed:
            return
        self._report_progress(event.ts_event)

    # --- order latency ---------------------------------------------------------------------------

    def on_order_submitted(self, event) -> None:
        self._arrive_after_latency(event.ts_event)

    def on_order_pending_update(self, event) -> None:
        self._arrive_after_latency(event.ts_event)

    def on_order_pending_cancel(self, event) -> None:
        self._arrive_after_latency(event.ts_event)

    def _arrive_after_latency(self, sent_ns: int) -> None:
        """A no-op alert at the command's arrival: the engine then processes the venue's in-flight
        commands at exactly sent + latency, not at the next market data event after it.

        One alert per distinct arrival time: the engine settles its venues once per alert timestamp
        (after every alert due then), so a second no-op alert at the same time changes nothing but
        costs a timer event. Commands are sent in time order with one fixed latency, so arrivals never
        decrease, and the last one scheduled is still pending (it lies after now) when it repeats."""
        latency = self.config.order_latency_ns
        if latency <= 0:
            return
        arrival = sent_ns + latency
        if arrival == self._last_arrival_ns:
            return
        self._last_arrival_ns = arrival
        self._latency_alerts += 1
        self.clock.set_time_alert_ns(f"latency-{self._latency_alerts}", arrival, _no_op)

    def on_order_filled(self, event: OrderFilled) -> None:
        if self._impact is not None:
            signed = event.last_qty.as_double() * (1.0 if event.order_side == OrderSide.BUY else -1.0)
            self._impact.on_fill(event.ts_event, signed)
        self.fill_count += 1
        self.fees += event.commission.as_decimal()
        order = self.cache.order(event.client_order_id)
        if CLOSE_TAG not in (order.tags or []):
            self.filled_entry_qty += event.last_qty.as_decimal()
        if self.config.record_tables:
            self._record(event.ts_event, "fill", event.client_order_id.value, f"{event.last_qty} @ {event.last_px}")

    def on_order_rejected(self, event) -> None:
        self._record(event.ts_event, "rejected", event.client_order_id.value, event.reason)

    def on_order_denied(self, event) -> None:
        self._record(event.ts_event, "denied", event.client_order_id.value, event.reason)

    def mark_price(self) -> Decimal | None:
        return self.last_mid if self.last_mid is not None else self.last_trade_price

    def unrealized_pnl(self, positions=None) -> Decimal:
        """Unrealized PnL of the open positions at the last mid (else the last trade price)."""
        mark = self.mark_price()
        if positions is None:
            positions = self.cache.positions_open(instrument_id=self.config.instrument_id)
        if mark is None or not positions:
            return Decimal(0)
        price = self.instrument.make_price(mark)
        return sum((p.unrealized_pnl(price).as_decimal() for p in positions), Decimal(0))

    def balance(self) -> Decimal:
        if self._account is None:
            self._account = self.portfolio.account(self.config.instrument_id.venue)
        money = self._account.balance_total(self._settlement)
        return Decimal(0) if money is None else money.as_decimal()

    def holdings_value(self) -> Decimal:
        """A multi-currency (spot cash) account's equity in the quote currency: the quote balance plus
        the base currency traded since the start at the mark (like a margin account's balance plus
        unrealized PnL: the inventory held from the start is not the algorithm's risk)."""
        account = self._account
        currency = self.instrument.base_currency
        base, start = account.balance_total(currency), account.starting_balances().get(currency)
        mark = self.mark_price()
        traded = (base.as_decimal() if base else Decimal(0)) - (start.as_decimal() if start else Decimal(0))
        return self.balance() + (traded * mark if mark is not None else Decimal(0))

    def _record(self, ts: int, event: str, client_order_id, detail: str) -> None:
        self.timeline.append(TimelineEvent(ts, event, str(client_order_id), detail))

    def _report_progress(self, ts: int) -> None:
        if self._progress is None:
            return
        start, end = self.config.window_start_ns, self.config.window_end_ns
        self._progress(min(1.0, max(0.0, (ts - start) / (end - start))))

    def on_stop(self) -> None:
        self.clock.cancel_timers()


def progress_interval_ns(start_ns: int, end_ns: int) -> int:
    """Whole seconds between progress reports: one a second, fewer on a window of over
    ``PROGRESS_STEPS`` seconds."""
    seconds = max(1, -(-(end_ns - start_ns) // (PROGRESS_STEPS * 1_000_000_000)))
    return seconds * 1_000_000_000


def _until(order) -> int:
    return next(int(t[len(UNTIL_TAG) :]) for t in order.tags if t.startswith(UNTIL_TAG))


def _no_op(event) -> None:
    pass
