"""Depth snapshots replayed as book deltas, so that NautilusTrader's queue position works.

NautilusTrader's matching engine forgets every queue position at each ``OrderBookDepth10`` (a
depth snapshot replaces the whole book), and snapshots arrive every few tens of milliseconds, so
with snapshots ``queue_position=True`` fills a resting order as soon as a trade prints at its price.
Fed as ``OrderBookDeltas`` it keeps them: only the first batch is a snapshot (CLEAR + ADDs), then
each snapshot becomes the difference to the previous one:

- a price present in both with another size: UPDATE; a new price: ADD;
- a price gone from inside the new snapshot's visible range: DELETE; a price gone because it merely
  scrolled out of the 5 visible levels is kept (a DELETE would reset the queue of an order resting
  there to zero: the level still exists, we just no longer see it). Such a deeper level is deleted
  as soon as a later snapshot shows the range it lies in without it;
- a snapshot equal to the previous one still yields one batch (an UPDATE of its best level with the
  same size), so there is exactly one batch per snapshot, with the snapshot's timestamps.

Two consequences of NautilusTrader's queue model (measured, see DESIGN.md): an UPDATE that shrinks
a level does not shrink the queue ahead (pessimistic), and trades through the price count once the
level is deleted.

Actors and algorithms subscribe to depth snapshots (``on_order_book_depth``): :class:`DepthRelay`
publishes the original snapshot on the depth topic when its batch of deltas has been processed,
so they see the same snapshots at the same times as with a snapshot replay.
"""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Iterable

from nautilus_trader.common.actor import Actor
from nautilus_trader.config import ActorConfig
from nautilus_trader.model.data import BookOrder, OrderBookDelta, OrderBookDeltas, OrderBookDepth10
from nautilus_trader.model.enums import BookAction, OrderSide, RecordFlag
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.model.objects import Price, Quantity

F_LAST = RecordFlag.F_LAST
F_SNAPSHOT = RecordFlag.F_SNAPSHOT


def _levels(orders) -> dict[int, BookOrder]:
    """Visible levels of one side, price raw -> BookOrder (padding levels have no side or size)."""
    return {o.price.raw: o for o in orders if o.side != OrderSide.NO_ORDER_SIDE and o.size.raw > 0}


def _side_deltas(previous: _HeldSide, current: dict[int, BookOrder]) -> list[tuple]:
    """(action, BookOrder) turning ``previous`` into ``current`` on one side (see the module docstring)."""
    out = [(BookAction.DELETE, previous.orders[p]) for p in previous.visible_prices(current) if p not in current]
    for price, order in current.items():
        old = previous.orders.get(price)
        if old is None:
            out.append((BookAction.ADD, order))
        elif old.size.raw != order.size.raw:
            out.append((BookAction.UPDATE, order))
    return out


class _HeldSide:
    """The levels of one side the matching book holds: price raw -> BookOrder, with the prices kept
    sorted, so that a snapshot touches only its visible range (not every deeper level still held)."""

    def __init__(self, side: OrderSide, orders: dict[int, BookOrder] | None = None) -> None:
        self.side = side
        self.orders: dict[int, BookOrder] = dict(orders or {})
        self.prices: list[int] = sorted(self.orders)  # ascending

    def _split(self, current: dict[int, BookOrder]) -> int:
        """Index into ``prices`` between the deeper levels and the range the snapshot shows."""
        if not current:  # an empty side shows everything: nothing is left on it
            return 0 if self.side == OrderSide.BUY else len(self.prices)
        if self.side == OrderSide.BUY:  # visible: prices >= the worst bid shown
            return bisect.bisect_left(self.prices, min(current))
        return bisect.bisect_right(self.prices, max(current))  # visible: prices <= the worst ask shown

    def visible_prices(self, current: dict[int, BookOrder]) -> list[int]:
        """The held prices inside the range ``current`` shows, best first."""
        split = self._split(current)
        return self.prices[split:][::-1] if self.side == OrderSide.BUY else self.prices[:split]

    def apply(self, current: dict[int, BookOrder]) -> None:
        """Hold ``current`` plus the deeper, scrolled-out levels that were not deleted."""
        if not current:
            self.orders, self.prices = {}, []
            return
        split = self._split(current)
        if self.side == OrderSide.BUY:
            gone, deeper = self.prices[split:], self.prices[:split]
            self.prices = deeper + sorted(current)
        else:
            gone, deeper = self.prices[:split], self.prices[split:]
            self.prices = sorted(current) + deeper
        for price in gone:
            del self.orders[price]
        self.orders.update(current)


class DepthToDeltas:
    """Turns a time-ordered stream of depth snapshots of one instrument into delta batches."""

    def __init__(self) -> None:
        self._bids = _HeldSide(OrderSide.BUY)
        self._asks = _HeldSide(OrderSide.SELL)
        self._started = False
        self._pending_state: tuple[dict, dict] | None = None

    def convert(self, depth: OrderBookDepth10) -> OrderBookDeltas:
        bids, asks = _levels(depth.bids), _levels(depth.asks)
        iid, ts_event, ts_init, seq = depth.instrument_id, depth.ts_event, depth.ts_init, depth.sequence
        if not self._started:
            self._started = True
            actions = [(BookAction.ADD, o) for o in (*bids.values(), *asks.values())]
            flags = F_SNAPSHOT
            deltas = [OrderBookDelta.clear(iid, seq, ts_event, ts_init)]
        else:
            actions = _side_deltas(self._bids, bids) + _side_deltas(self._asks, asks)
            flags = 0
            deltas = []
            if not actions:
                best = next(iter(bids.values()), None) or next(iter(asks.values()), None)
                actions = [(BookAction.UPDATE, best)] if best is not None else []
        self._bids.apply(bids)
        self._asks.apply(asks)
        deltas += [OrderBookDelta(iid, action, order, flags, seq, ts_event, ts_init) for action, order in actions]
        if not deltas:  # an empty first snapshot: a bare CLEAR
            deltas = [OrderBookDelta.clear(iid, seq, ts_event, ts_init)]
        return OrderBookDeltas(iid, _flag_last(deltas))

    # --- active-interval replay (``active_replay``): resuming after snapshots that were not replayed ---

    def state(self) -> tuple[dict, dict]:
        """The levels held per side, price raw -> (price, size raw)."""
        if self._pending_state is not None:
            return self._pending_state
        return tuple({p: (o.price.as_double(), o.size.raw) for p, o in side.orders.items()} for side in (self._bids, self._asks))

    def set_state(self, bids: dict, asks: dict) -> None:
        """The levels a full replay's converter holds after the snapshots skipped (``state`` form)."""
        self._pending_state = (bids, asks)

    def resume(self, depth: OrderBookDepth10) -> OrderBookDeltas:
        """A full batch (CLEAR + every level held, flagged as a snapshot) for ``depth``: the matching
        book becomes exactly the book of a converter that saw every snapshot before it."""
        price_precision = next((o.price.precision for o in (*depth.bids, *depth.asks) if o.size.raw > 0), 0)
        size_precision = next((o.size.precision for o in (*depth.bids, *depth.asks) if o.size.raw > 0), 0)
        held = self.state()
        self._bids, self._asks = (
            _HeldSide(side, {p: BookOrder(side, Price.from_raw(p, price_precision), Quantity.from_raw(size, size_precision), 0)
                             for p, (_, size) in levels.items()})
            for side, levels in zip((OrderSide.BUY, OrderSide.SELL), held)
        )  # fmt: skip
        self._pending_state = None
        self._bids.apply(_levels(depth.bids))
        self._asks.apply(_levels(depth.asks))
        self._started = True
        iid, ts_event, ts_init, seq = depth.instrument_id, depth.ts_event, depth.ts_init, depth.sequence
        orders = [*self._bids.orders.values(), *self._asks.orders.values()]
        deltas = [OrderBookDelta.clear(iid, seq, ts_event, ts_init)]
        deltas += [OrderBookDelta(iid, BookAction.ADD, o, F_SNAPSHOT, seq, ts_event, ts_init) for o in orders]
        return OrderBookDeltas(iid, _flag_last(deltas))


def _flag_last(deltas: list[OrderBookDelta]) -> list[OrderBookDelta]:
    last = deltas[-1]
    deltas[-1] = OrderBookDelta(
        last.instrument_id, last.action, last.order if last.action != BookAction.CLEAR else None,
        last.flags | F_LAST, last.sequence, last.ts_event, last.ts_init,
    )  # fmt: skip
    return deltas


def depth_to_deltas(snapshots: Iterable[OrderBookDepth10]) -> list[OrderBookDeltas]:
    """One delta batch per snapshot, in order (snapshots of one instrument, sorted by ``ts_init``)."""
    converter = DepthToDeltas()
    return [converter.convert(depth) for depth in snapshots]


class DepthRelayConfig(ActorConfig, frozen=True, kw_only=True):
    instrument_id: InstrumentId
    component_id: str = "DepthRelay"


class DepthRelay(Actor):
    """Publishes each original depth snapshot once its batch of deltas has been processed."""

    def __init__(self, config: DepthRelayConfig, snapshots: list[OrderBookDepth10]) -> None:
        super().__init__(config)
        self._pending = deque(snapshots)
        self._topic = f"data.book.depth.{config.instrument_id.venue}.{config.instrument_id.symbol.topic()}"

    def add_snapshots(self, snapshots: list[OrderBookDepth10]) -> None:
        """More snapshots to relay (a streamed replay hands them over chunk by chunk, ahead of their deltas)."""
        self._pending.extend(snapshots)

    def on_start(self) -> None:
        self.subscribe_order_book_deltas(self.config.instrument_id, managed=False)

    def on_order_book_deltas(self, deltas: OrderBookDeltas) -> None:
        while self._pending and self._pending[0].ts_init < deltas.ts_init:
            self._pending.popleft()  # before the replayed range (the engine starts at the window)
        if self._pending and self._pending[0].ts_init == deltas.ts_init:
            self.msgbus.publish(self._topic, self._pending.popleft())
