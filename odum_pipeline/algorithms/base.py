"""NautilusTrader glue shared by the algorithm files in ``algorithms/`` (the math is in ``slicing``).

:class:`SlicingExecAlgorithm` is an ``ExecAlgorithm`` with:

- ``parameters(order)``: the config's values overridden by the order's ``exec_algorithm_params``,
  resolved against the file's ``PARAMETERS`` (defaults, types, bounds);
- ``send_slice(primary, qty)``: a child of the primary's type (market, or limit at the primary's
  price); the slice that completes the order is the primary itself, submitted with what is left
  (its quantity has been reduced by every child spawned), so nothing is ever lost or sent twice;
- ``run_schedule(primary, slices)``: timed slices on clock alerts (first one immediately);
- market slices keep working: when an IOC/FOK market slice (child or the primary) is cancelled by
  the venue with quantity left (the visible book levels were exhausted), that quantity is re-sent
  as a market child (tag ``RESEND``) at the next book update (the next trade when the run replays
  trades only), until the parent's deadline or the window end (the strategy's ``UNTIL:<ns>`` tag),
  at most ``MAX_RESENDS`` times per parent. What is left then is the parent's unfilled remainder
  (reported and charged as opportunity cost by the TCA);
- ``record(primary, payload)``: the schedule actually used, kept on ``schedule_records``, written
  to the cache (key ``odum.algorithm.<ID>.<client order id>``, JSON) and logged;
- placement (``placement`` parameter, rules in ``odum_pipeline.algorithms.placement``): with
  ``passive``/``adaptive`` a slice is *released* (``execute_slice``) instead of sent: one limit child
  (tag ``PASSIVE``, post-only) rests at the near touch for everything released and unfilled, is
  cancelled and replaced when a new slice arrives or the touch moves away, and adaptive catch-ups
  cross (tag ``CROSS``: market, or a limit at a limit parent's price). Children never reduce the
  primary, which stays unsent; a cancel the algorithm did not ask for (deadline, window end) stops
  the parent.

Algorithm files subclass it; only classes *defined* in a file count as that file's algorithm.
"""

from __future__ import annotations

import json
import sys
from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from nautilus_trader.execution.algorithm import ExecAlgorithm
from nautilus_trader.model.enums import OrderSide, OrderStatus, OrderType, TimeInForce
from nautilus_trader.model.orders import Order

from odum_pipeline.algorithms.placement import AGGRESSIVE, catch_up_quantity, moved_away, passive_price
from odum_pipeline.algorithms.schema import resolve, validate_schema
from odum_pipeline.algorithms.slicing import Slice

CACHE_PREFIX = "odum.algorithm"
RESEND_TAG = "RESEND"
PASSIVE_TAG = "PASSIVE"
CROSS_TAG = "CROSS"
MAX_RESENDS = 100_000
UNTIL_TAG = "UNTIL:"
NEVER_NS = 2**63 - 1


@dataclass
class Working:
    """A parent worked with passive or adaptive placement."""

    placement: str
    total: Decimal
    catch_up_pct: float
    released: Decimal = Decimal(0)  # scheduled quantity handed over so far
    cross: Decimal = Decimal(0)  # to cross at the next rebalance
    final: bool = False  # the last slice was released: adaptive crosses whatever is left
    finished: bool = False  # filled, or stopped by its owner (deadline, window end): nothing more is sent
    events: list = field(default_factory=list)  # releases and crosses, for the record
    counts: dict = field(default_factory=dict)  # how many children rested, crossed, were rejected


class SlicingExecAlgorithm(ExecAlgorithm):
    """Base of the shipped algorithms (see the module docstring)."""

    #: ``True`` declares that between its own clock alerts the algorithm neither reacts to market data
    #: nor reads any but the current book and last trade (no tick history, no counters of ticks): what
    #: it does at an alert depends only on the time, its own orders and the market *at* the alert. An
    #: active replay may then skip the market data between two alerts of a parent while nothing of it
    #: works at the venue (``idle_until_ns``). Leave it ``False`` in an algorithm that counts volume
    #: or follows the book between alerts (POV, ICEBERG): it is then replayed from arrival to done.
    acts_only_at_alerts: bool = False

    def __init__(self, config=None) -> None:
        super().__init__(config)
        self.schedule_records: dict[str, dict[str, Any]] = {}
        self._queues: dict[str, deque[Slice]] = {}
        self._shortfalls: dict[str, Decimal] = {}
        self._resends: dict[str, int] = {}
        self._data_subscriptions: set = set()
        self._book_seen = False
        self._working: dict[str, Working] = {}
        self._cancels_requested: set[str] = set()
        self._until: dict[str, int] = {}  # primary key -> until_ns(primary), read once per parent

    # --- parameters and instrument ---------------------------------------------------------------

    def parameter_specs(self):
        module = sys.modules[type(self).__module__]
        return validate_schema(getattr(module, "PARAMETERS"), source=f"{self.id}.PARAMETERS")

    def parameters(self, order: Order) -> dict[str, Any]:
        specs = self.parameter_specs()
        values = {s.name: getattr(self.config, s.name) for s in specs if hasattr(self.config, s.name)}
        values.update(order.exec_algorithm_params or {})
        return resolve(self.id.value, specs, values)

    def sizing(self, order: Order) -> tuple[Any, Decimal, Decimal | None]:
        """``(instrument, size increment, min quantity)`` of the order's instrument."""
        instrument = self.cache.instrument(order.instrument_id)
        if instrument is None:
            raise ValueError(f"{self.id}: instrument {order.instrument_id} not in the cache")
        min_qty = instrument.min_quantity.as_decimal() if instrument.min_quantity is not None else None
        return instrument, instrument.size_increment.as_decimal(), min_qty

    # --- sending ---------------------------------------------------------------------------------

    def supports(self, order: Order) -> bool:
        if order.order_type in (OrderType.MARKET, OrderType.LIMIT):
            return True
        self.log.error(f"{self.id}: {order.order_type.name} primaries are not sliced; sent unchanged")
        self.submit_order(order)
        return False

    def send_slice(self, primary: Order, quantity: Decimal) -> bool:
        """Send ``quantity`` of ``primary``; ``True`` when that completed the order (primary sent)."""
        if primary.is_closed or primary.status != OrderStatus.INITIALIZED:
            return True  # cancelled (deadline, window end) or already sent in full
        remaining = primary.quantity.as_decimal()
        if quantity >= remaining:
            self.submit_order(primary)
            return True
        instrument = self.cache.instrument(primary.instrument_id)
        qty = instrument.make_qty(quantity)
        if primary.order_type == OrderType.LIMIT:
            child = self.spawn_limit(
                primary=primary,
                quantity=qty,
                price=primary.price,
                time_in_force=primary.time_in_force,
                reduce_only=primary.is_reduce_only,
                tags=primary.tags,
            )
        else:
            child = self.spawn_market(
                primary=primary,
                quantity=qty,
                time_in_force=primary.time_in_force,
                reduce_only=primary.is_reduce_only,
                tags=primary.tags,
            )
        self.submit_order(child)
        return False

    def execute_slice(self, primary: Order, quantity: Decimal, *, final: bool = False) -> bool:
        """Send (aggressive) or release (passive, adaptive) one slice; ``True`` when the parent is done
        or stopped. ``final``: the last slice (an aggressive one sends all that is left)."""
        key = primary.client_order_id.value
        if key not in self._working:
            return self.send_slice(primary, primary.quantity.as_decimal() if final else quantity)
        return self.release(primary, quantity, final=final)

    def unreleased(self, primary: Order) -> Decimal:
        """What the schedule has not handed over yet."""
        working = self._working.get(primary.client_order_id.value)
        if working is None:
            return primary.quantity.as_decimal()
        return Decimal(0) if working.finished else working.total - working.released

    # --- passive and adaptive placement -----------------------------------------------------------

    def start_placement(self, primary: Order, params: dict[str, Any]) -> None:
        """Work ``primary`` with its ``placement`` parameter (nothing to do for aggressive)."""
        placement = params.get("placement") or AGGRESSIVE
        if placement == AGGRESSIVE:
            return
        self._working[primary.client_order_id.value] = Working(
            placement=placement, total=primary.quantity.as_decimal(), catch_up_pct=params.get("catch_up_pct") or 0.0
        )
        self._subscribe_market_data(primary.instrument_id)

    def release(self, primary: Order, quantity: Decimal, *, final: bool = False) -> bool:
        key = primary.client_order_id.value
        working = self._working.get(key)
        if working is None or working.finished or primary.is_closed:
            return True
        filled = self._family_filled(key)
        before = working.released
        working.released = min(working.total, working.released + quantity)
        working.final = working.final or final
        working.cross += catch_up_quantity(
            working.placement, before, filled, working.total, working.catch_up_pct,
            final=final, released_after=working.released,
        )  # fmt: skip
        self._note(working, "release", quantity)
        self._rebalance(key)
        return False

    def _children(self, key: str) -> list[Order]:
        from nautilus_trader.model.identifiers import ClientOrderId

        return [o for o in self.cache.orders_for_exec_spawn(ClientOrderId(key)) if o.client_order_id.value != key]

    def _family_filled(self, key: str) -> Decimal:
        return sum((o.filled_qty.as_decimal() for o in self._children(key)), Decimal(0))

    def _rebalance(self, key: str) -> None:
        """Bring the working children in line with what is released: cancel the resting child when it
        must change (then wait for the cancel), cross what is owed, rest the rest at the touch."""
        working, primary = self._working.get(key), self._order(key)
        if working is None or working.finished:
            return
        if primary is None or primary.is_closed:
            working.finished = True
            return
        children = self._children(key)
        resting = [o for o in children if not o.is_closed and PASSIVE_TAG in (o.tags or [])]
        if any(o.is_pending_cancel for o in resting):
            return  # the replacement waits for the cancel
        filled = sum((o.filled_qty.as_decimal() for o in children), Decimal(0))
        if filled >= working.total:  # done: stop following the book for it
            working.finished = True
            return
        in_flight = sum((o.leaves_qty.as_decimal() for o in children if not o.is_closed), Decimal(0))
        in_flight += self._shortfalls.get(key, Decimal(0))
        outstanding = working.released - filled - in_flight
        if resting and (outstanding > 0 or working.cross > 0 or self._away(primary, resting[0])):
            for order in resting:
                self._cancel_child(order)
            return
        if outstanding <= 0:
            return
        cross = min(working.cross, outstanding)
        if cross > 0:
            working.cross -= cross
            self._send_cross(primary, cross)
            outstanding -= cross
        if outstanding > 0:
            self._send_passive(primary, outstanding)

    def _touch(self, instrument_id) -> tuple[Decimal | None, Decimal | None]:
        book = self.cache.order_book(instrument_id)
        bid = book.best_bid_price() if book is not None else None
        ask = book.best_ask_price() if book is not None else None
        if bid is None or ask is None:  # no book (trades only): the last trade stands for both sides
            tick = self.cache.trade_tick(instrument_id)
            last = tick.price if tick is not None else None
            bid, ask = bid or last, ask or last
        return (bid.as_decimal() if bid is not None else None, ask.as_decimal() if ask is not None else None)

    def _desired_price(self, primary: Order) -> Decimal | None:
        bid, ask = self._touch(primary.instrument_id)
        limit = primary.price.as_decimal() if primary.order_type == OrderType.LIMIT else None
        return passive_price(primary.side == OrderSide.BUY, bid, ask, limit)

    def _away(self, primary: Order, child: Order) -> bool:
        if child.status not in (OrderStatus.ACCEPTED, OrderStatus.PARTIALLY_FILLED):
            return False  # not at the venue yet: re-pricing waits for its acceptance
        return moved_away(primary.side == OrderSide.BUY, child.price.as_decimal(), self._desired_price(primary))

    def _send_passive(self, primary: Order, quantity: Decimal) -> None:
        price = self._desired_price(primary)
        if price is None:  # no price at all yet: try again on the next market data
            return
        instrument = self.cache.instrument(primary.instrument_id)
        child = self.spawn_limit(
            primary=primary,
            quantity=instrument.make_qty(quantity),
            price=instrument.make_price(price),
            time_in_force=TimeInForce.GTC,
            post_only=True,
            reduce_only=primary.is_reduce_only,
            tags=list(primary.tags or []) + [PASSIVE_TAG],
            reduce_primary=False,
        )
        self._note(self._working[primary.client_order_id.value], "rest", quantity, price)
        self.submit_order(child)

    def _send_cross(self, primary: Order, quantity: Decimal) -> None:
        instrument = self.cache.instrument(primary.instrument_id)
        tags = list(primary.tags or []) + [CROSS_TAG]
        if primary.order_type == OrderType.LIMIT:  # the parent's limit bounds every child
            child = self.spawn_limit(
                primary=primary, quantity=instrument.make_qty(quantity), price=primary.price,
                time_in_force=TimeInForce.GTC, reduce_only=primary.is_reduce_only, tags=tags, reduce_primary=False,
            )  # fmt: skip
        else:
            child = self.spawn_market(
                primary=primary, quantity=instrument.make_qty(quantity), time_in_force=TimeInForce.IOC,
                reduce_only=primary.is_reduce_only, tags=tags, reduce_primary=False,
            )  # fmt: skip
        self._note(self._working[primary.client_order_id.value], "cross", quantity)
        self.submit_order(child)

    def _cancel_child(self, order: Order) -> None:
        self._cancels_requested.add(order.client_order_id.value)
        self.cancel_order(order)

    def _note(self, working: Working, what: str, quantity: Decimal, price: Decimal | None = None) -> None:
        working.counts[what] = working.counts.get(what, 0) + 1
        if what in ("release", "cross"):  # a resting child per re-price would flood the record: counted only
            working.events.append({"ts_ns": self.clock.timestamp_ns(), "event": what, "quantity": str(quantity)})

    def placement_record(self, primary: Order) -> dict[str, Any]:
        """The placement decisions (live objects: the record follows them until the run ends)."""
        working = self._working.get(primary.client_order_id.value)
        if working is None:
            return {"placement": AGGRESSIVE}
        return {"placement": working.placement, "placement_events": working.events, "placement_counts": working.counts}

    def _on_placement_cancel(self, order: Order) -> None:
        key = (order.exec_spawn_id or order.client_order_id).value
        if key not in self._working:
            return
        if order.client_order_id.value in self._cancels_requested:
            self._cancels_requested.discard(order.client_order_id.value)
            self._rebalance(key)
        elif PASSIVE_TAG in (order.tags or []) or CROSS_TAG in (order.tags or []):
            if order.order_type == OrderType.LIMIT:  # cancelled by its owner (deadline, window end): stop
                self._working[key].finished = True
                self._queues.pop(key, None)

    def _reprice_all(self, instrument_id) -> None:
        for key, working in list(self._working.items()):
            if working.finished:
                continue
            primary = self._order(key)
            if primary is not None and primary.instrument_id == instrument_id:
                self._rebalance(key)

    # --- timed schedules -------------------------------------------------------------------------

    def idle_until_ns(self) -> int | None:
        """When nothing of this algorithm works until its next alert: that alert's time (``NEVER_NS``
        when none is pending); ``None`` when it may act on the next market data (it does not declare
        ``acts_only_at_alerts``, a market remainder waits for the next book update, or a passive or
        adaptive parent follows the book)."""
        if not self.acts_only_at_alerts or self._shortfalls:
            return None
        if any(not working.finished for working in self._working.values()):
            return None
        clock = self.clock
        return min((clock.next_time_ns(name) for name in clock.timer_names), default=NEVER_NS)

    def run_schedule(self, primary: Order, slices: list[Slice]) -> None:
        self._queues[primary.client_order_id.value] = deque(slices)
        self._process_due(primary.client_order_id.value)

    def _process_due(self, key: str) -> None:
        queue = self._queues.get(key)
        if queue is None:
            return
        primary = self._order(key)
        now = self.clock.timestamp_ns()
        while queue and queue[0].ts_ns <= now:
            piece = queue.popleft()
            if self.execute_slice(primary, piece.quantity, final=not queue):
                queue.clear()
        if queue:
            self.clock.set_time_alert_ns(f"{key}|{queue[0].ts_ns}", queue[0].ts_ns, self._on_slice_alert)
        else:
            self._queues.pop(key, None)

    def _on_slice_alert(self, event) -> None:
        self._process_due(event.name.rsplit("|", 1)[0])

    def _order(self, key: str) -> Order:
        from nautilus_trader.model.identifiers import ClientOrderId

        return self.cache.order(ClientOrderId(key))

    # --- completing market slices ---------------------------------------------------------------

    def on_order_canceled(self, event) -> None:
        order = self.cache.order(event.client_order_id)
        if order is not None and self._working:
            self._on_placement_cancel(order)
        if order is None or order.order_type != OrderType.MARKET or order.leaves_qty.as_decimal() <= 0:
            return
        if order.time_in_force not in (TimeInForce.IOC, TimeInForce.FOK):
            return
        if order.account_id is None:  # set by OrderSubmitted only (which always carries one), so:
            return  # an unsent primary cancelled by its owner (deadline, window end): not a shortfall
        key = (order.exec_spawn_id or order.client_order_id).value
        self._shortfalls[key] = self._shortfalls.get(key, Decimal(0)) + order.leaves_qty.as_decimal()
        self._subscribe_market_data(order.instrument_id)

    def _subscribe_market_data(self, instrument_id) -> None:
        if instrument_id in self._data_subscriptions:
            return
        self._data_subscriptions.add(instrument_id)
        self.subscribe_order_book_depth(instrument_id)
        self.subscribe_trade_ticks(instrument_id)

    def _flush_shortfalls(self) -> None:
        now = self.clock.timestamp_ns()
        for key in list(self._shortfalls):
            quantity = self._shortfalls.pop(key)
            primary = self._order(key)
            count = self._resends.get(key, 0)
            if primary is not None and now >= self._until_of(key, primary):
                self.log.info(f"{self.id}: {quantity} of {key} left unexecuted at its deadline / the window end")
                continue
            if primary is None or count >= MAX_RESENDS:
                self.log.error(f"{self.id}: {quantity} of {key} left unexecuted after {count} re-sends")
                continue
            self._resends[key] = count + 1
            instrument = self.cache.instrument(primary.instrument_id)
            child = self.spawn_market(
                primary=primary,
                quantity=instrument.make_qty(quantity),
                time_in_force=TimeInForce.IOC,
                reduce_only=primary.is_reduce_only,
                tags=list(primary.tags or []) + [RESEND_TAG],
                reduce_primary=False,
            )
            self.submit_order(child)

    def _until_of(self, key: str, primary: Order) -> int:
        """``until_ns(primary)``, parsed once per parent (its tags do not change)."""
        until = self._until.get(key)
        if until is None:
            until = self._until[key] = until_ns(primary)
        return until

    def on_order_book_depth(self, depth) -> None:
        self._book_seen = True
        if self._shortfalls:
            self._flush_shortfalls()
        if self._working:
            self._reprice_all(depth.instrument_id)

    def on_trade_tick(self, tick) -> None:
        # With book data, only a book update brings fresh liquidity (consumption resets there).
        if self._shortfalls and not self._book_seen:
            self._flush_shortfalls()

    def on_order_rejected(self, event) -> None:
        """A post-only child that would have crossed: noted; the next book update re-posts it. A market
        order the venue had no liquidity left for (every visible level consumed): like an IOC remainder."""
        order = self.cache.order(event.client_order_id)
        working = self._working.get(order.exec_spawn_id.value) if order is not None and order.exec_spawn_id else None
        if working is not None:
            self._note(working, "rejected", order.quantity.as_decimal())
        if "no market" in str(event.reason):
            self.on_order_canceled(event)

    # --- records ---------------------------------------------------------------------------------

    def record(self, primary: Order, payload: dict[str, Any]) -> None:
        key = primary.client_order_id.value
        payload = {"algorithm": self.id.value, "primary": key, **self.placement_record(primary), **payload}
        self.schedule_records[key] = payload
        text = json.dumps(payload, default=str, sort_keys=True)
        self.cache.add(f"{CACHE_PREFIX}.{self.id.value}.{key}", text.encode("utf-8"))
        self.log.info(f"schedule {text}")

    def on_start(self) -> None:
        """Passive placement needs the book from the first order on: subscribing when the first
        parent arrives would replace the data engine's managed book with an empty one."""
        if self.places_passively():
            for instrument in self.cache.instruments():
                self._subscribe_market_data(instrument.id)

    def places_passively(self) -> bool:
        """Whether children may rest at the touch (then the book is followed from the start)."""
        return getattr(self.config, "placement", AGGRESSIVE) != AGGRESSIVE

    def on_stop(self) -> None:
        self.clock.cancel_timers()

    def on_reset(self) -> None:
        self.schedule_records.clear()
        self._queues.clear()
        self._shortfalls.clear()
        self._resends.clear()
        self._data_subscriptions.clear()
        self._book_seen = False
        self._working.clear()
        self._cancels_requested.clear()
        self._until.clear()


def until_ns(order: Order) -> int:
    """The time after which none of the order's remainder may be sent (its ``UNTIL:`` tag; no tag: never)."""
    for tag in order.tags or []:
        if tag.startswith(UNTIL_TAG):
            return int(tag[len(UNTIL_TAG) :])
    return NEVER_NS


def slices_payload(slices: list[Slice]) -> list[dict[str, Any]]:
    return [{"ts_ns": s.ts_ns, "quantity": str(s.quantity)} for s in slices]
