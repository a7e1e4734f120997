"""The book an aggressive order is matched against: the visible depth, shifted by our impact.

Installed as the venue's NautilusTrader ``FillModel`` (``get_orderbook_for_fill_simulation``) when
the run replays the book as deltas (queue position) or the impact overlay is on. For an order that
takes liquidity (a market order, or a limit order crossing on arrival) it returns a copy of the
matching book's side the order takes:

- only the ``VISIBLE_LEVELS`` best levels: a deltas replay keeps levels that scrolled out of the
  recorded top 5 (for the queues of orders resting there), but nobody saw them, so nobody fills
  against them: a market order bigger than the visible book fills what is visible, and its
  remainder keeps working on the next book updates (``SlicingExecAlgorithm``);
- shifted against us by the impact overlay (``impact.ImpactSession``), rounded to the price grid
  against the order (up for a buy, down for a sell);
- without what our own orders already consumed since the last book update, when the overlay is on
  (NautilusTrader's consumption would look the shifted prices up in the recorded book, so it is
  off then and this model keeps it); without the overlay NautilusTrader's own consumption applies
  to the (unshifted) fills. With the overlay, once our orders have consumed every visible level a
  market order's remainder meets one level a whole visible depth beyond the worst one (a
  conservative stand-in for the unseen book) rather than nothing.

Resting limit orders get ``None``: NautilusTrader's own matching (queue position against the
recorded trades). ``shifts`` records the price shift applied per order, for the fills table.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import Decimal

from nautilus_trader.backtest.config import FillModelConfig, SimulationModuleConfig
from nautilus_trader.backtest.models import FillModel
from nautilus_trader.backtest.modules import SimulationModule
from nautilus_trader.model.book import OrderBook
from nautilus_trader.model.data import BookOrder, OrderBookDeltas, OrderBookDepth10
from nautilus_trader.model.enums import BookType, LiquiditySide, OrderSide, OrderType
from nautilus_trader.model.objects import Price, Quantity

from odum_pipeline.backtests.impact import ImpactSession

#: Levels of the recorded book (top 5 per side): what an aggressive order may fill against.
VISIBLE_LEVELS = 5


@dataclass
class MatchingSession:
    """What the fill model of one run shares with the engine, the strategy and the module."""

    impact: ImpactSession | None = None
    exchange: object = None  # the SimulatedExchange (set by MatchingModule): the book to copy
    fill_model: object = None  # the ReplayFillModel the venue built
    shifts: dict[str, float] = field(default_factory=dict)  # client order id -> price shift applied

    @property
    def own_consumption(self) -> bool:
        return self.impact is not None


#: Live sessions by key: the node builds the fill model and module from their configs.
SESSIONS: dict[str, MatchingSession] = {}


class ReplayFillModelConfig(FillModelConfig, frozen=True, kw_only=True):
    session_key: str


class ReplayFillModel(FillModel):
    def __init__(self, config: ReplayFillModelConfig) -> None:
        super().__init__()
        self._session = SESSIONS[config.session_key]
        self._session.fill_model = self
        self._consumed: dict[tuple[int, int], int] = {}  # (side, recorded price raw) -> size raw taken
        # Without the overlay: the visible books built at one book state (book, update_count), by (side, limit).
        self._unshifted_of, self._unshifted_state = None, -1
        self._unshifted: dict[tuple[bool, int | None], OrderBook | None] = {}

    def reset_consumption(self) -> None:
        self._consumed.clear()

    def get_orderbook_for_fill_simulation(self, instrument, order, best_bid, best_ask):
        if order.order_type != OrderType.MARKET and order.liquidity_side != LiquiditySide.TAKER:
            return None  # a resting limit order: NautilusTrader's own matching (queue, recorded trades)
        book = self._session.exchange.get_book(instrument.id)
        taking_asks = order.side == OrderSide.BUY
        if self._session.impact is None:  # no shift, no own consumption: the visible book as it is
            return self._unshifted_book(instrument, order, book, taking_asks)
        levels = (book.asks() if taking_asks else book.bids())[:VISIBLE_LEVELS]
        if not levels:
            return None
        shift = self._shift(instrument, book, taking_asks)
        self._session.shifts[order.client_order_id.value] = float(shift)
        return self._book_for(instrument, order, levels, shift, taking_asks)

    def _shift(self, instrument, book, taking_asks: bool) -> Decimal:
        impact = self._session.impact
        if impact is None:
            return Decimal(0)
        now = impact.clock.timestamp_ns() if impact.clock is not None else 0
        fraction = impact.impact_fraction(now)
        mid = book.midpoint()
        if not fraction or mid is None:
            return Decimal(0)
        tick = instrument.price_increment.as_decimal()
        ticks = Decimal(repr(fraction * float(mid))) / tick
        return (math.ceil(ticks) if taking_asks else math.floor(ticks)) * tick  # against the order

    def _unshifted_book(self, instrument, order, book, taking_asks: bool) -> OrderBook | None:
        """The visible levels of the side the order takes (None when that side is empty), built once per
        book state, side and limit: without the overlay the copy depends on nothing else, the engine
        only reads it (``simulate_fills``), and every change of the book bumps its ``update_count``."""
        state = book.update_count
        if book is not self._unshifted_of or state != self._unshifted_state:
            self._unshifted_of, self._unshifted_state = book, state
            self._unshifted.clear()
        limit = order.price if order.order_type != OrderType.MARKET else None
        key = (taking_asks, None if limit is None else limit.raw)
        if key not in self._unshifted:
            levels = (book.asks() if taking_asks else book.bids())[:VISIBLE_LEVELS]
            self._unshifted[key] = self._visible_book(instrument, limit, levels, taking_asks) if levels else None
        return self._unshifted[key]

    def _book_for(self, instrument, order, levels, shift: Decimal, taking_asks: bool) -> OrderBook:
        side = OrderSide.SELL if taking_asks else OrderSide.BUY
        limit = order.price.as_decimal() if order.order_type != OrderType.MARKET else None
        out = OrderBook(instrument_id=instrument.id, book_type=BookType.L2_MBP)
        price_prec, size_prec = instrument.price_precision, instrument.size_precision
        leaves = order.leaves_qty.raw
        for index, level in enumerate(levels, start=1):
            price = level.price.as_decimal() + shift
            if limit is not None and (price > limit if taking_asks else price < limit):
                break
            available = sum(o.size.raw for o in level.orders())
            if self._session.own_consumption:
                available, leaves = self._consume(level.price.raw, taking_asks, available, leaves)
            if available > 0:
                out.add(BookOrder(side, Price(price, price_prec), Quantity.from_raw(available, size_prec), index), 0, 0)
        if self._session.own_consumption and leaves > 0 and limit is None:
            worst, best = levels[-1].price.as_decimal(), levels[0].price.as_decimal()
            span = abs(worst - best) or instrument.price_increment.as_decimal()
            beyond = (worst + span if taking_asks else worst - span) + shift
            out.add(BookOrder(side, Price(beyond, price_prec), Quantity.from_raw(leaves, size_prec), 0), 0, 0)
        return out

    def _visible_book(self, instrument, limit: Price | None, levels, taking_asks: bool) -> OrderBook:
        """``_book_for`` without a shift or own consumption (no impact overlay): the visible levels as
        they are, up to ``limit``. The same book, built without a Decimal round trip per level: a level's
        ``Price`` is reused when it has the instrument's precision (else rebuilt as ``_book_for`` does),
        and the limit is compared as ``Price`` values (fixed-point raw: exact, like the Decimals)."""
        side = OrderSide.SELL if taking_asks else OrderSide.BUY
        out = OrderBook(instrument_id=instrument.id, book_type=BookType.L2_MBP)
        price_prec, size_prec = instrument.price_precision, instrument.size_precision
        for index, level in enumerate(levels, start=1):
            price = level.price
            if limit is not None and (price > limit if taking_asks else price < limit):
                break
            if price.precision != price_prec:
                price = Price(price.as_decimal(), price_prec)
            available = sum(o.size.raw for o in level.orders())
            if available > 0:
                out.add(BookOrder(side, price, Quantity.from_raw(available, size_prec), index), 0, 0)
        return out

    def _consume(self, price_raw: int, taking_asks: bool, size_raw: int, leaves: int) -> tuple[int, int]:
        """What is left at a level after our earlier takes, and the order's own take from it."""
        key = (1 if taking_asks else 2, price_raw)
        available = size_raw - self._consumed.get(key, 0)
        take = max(0, min(available, leaves))
        if take:
            self._consumed[key] = self._consumed.get(key, 0) + take
        return available, leaves - take


class MatchingModuleConfig(SimulationModuleConfig, frozen=True, kw_only=True):
    session_key: str


class MatchingModule(SimulationModule):
    """Hands its venue (the book to copy) to the session; resets the model's consumption on book data."""

    def __init__(self, config: MatchingModuleConfig) -> None:
        super().__init__(config)
        self._session = SESSIONS[config.session_key]

    def register_venue(self, exchange) -> None:
        super().register_venue(exchange)
        self._session.exchange = exchange

    def pre_process(self, data) -> None:
        if self._session.fill_model is not None and isinstance(data, (OrderBookDepth10, OrderBookDeltas)):
            self._session.fill_model.reset_consumption()

    def process(self, ts_now: int) -> None:
        pass

    def log_diagnostics(self, logger) -> None:
        pass

    def reset(self) -> None:
        if self._session.fill_model is not None:
            self._session.fill_model.reset_consumption()
