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
  to the cache (key ``odum.algorithm.<ID>.<client order id>``, JSON) and logged.

Algorithm files subclass it; only classes *defined* in a file count as that file's algorithm.
"""

from __future__ import annotations

import json
import sys
from collections import deque
from decimal import Decimal
from typing import Any

from nautilus_trader.execution.algorithm import ExecAlgorithm
from nautilus_trader.model.enums import OrderStatus, OrderType, TimeInForce
from nautilus_trader.model.events import OrderSubmitted
from nautilus_trader.model.orders import Order

from odum_pipeline.algorithms.schema import resolve, validate_schema
from odum_pipeline.algorithms.slicing import Slice

CACHE_PREFIX = "odum.algorithm"
RESEND_TAG = "RESEND"
MAX_RESENDS = 100_000
UNTIL_TAG = "UNTIL:"


class SlicingExecAlgorithm(ExecAlgorithm):
    """Base of the shipped algorithms (see the module docstring)."""

    def __init__(self, config=None) -> None:
        super().__init__(config)
        self.schedule_records: dict[str, dict[str, Any]] = {}
        self._queues: dict[str, deque[Slice]] = {}
        self._shortfalls: dict[str, Decimal] = {}
        self._resends: dict[str, int] = {}
        self._data_subscriptions: set = set()
        self._book_seen = False

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

    # --- timed schedules -------------------------------------------------------------------------

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
            quantity = piece.quantity if queue else primary.quantity.as_decimal()  # the last one: all that is left
            if self.send_slice(primary, quantity):
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

    def on_order_rejected(self, event) -> None:
        # The venue had no liquidity left for it (every visible level consumed): like an IOC remainder.
        if "no market" in str(event.reason):
            self.on_order_canceled(event)

    def on_order_canceled(self, event) -> None:
        order = self.cache.order(event.client_order_id)
        if order is None or order.order_type != OrderType.MARKET or order.leaves_qty.as_decimal() <= 0:
            return
        if order.time_in_force not in (TimeInForce.IOC, TimeInForce.FOK):
            return
        if not any(isinstance(e, OrderSubmitted) for e in order.events):
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
        for key in list(self._shortfalls):
            quantity = self._shortfalls.pop(key)
            primary = self._order(key)
            count = self._resends.get(key, 0)
            if primary is not None and self.clock.timestamp_ns() >= until_ns(primary):
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

    def on_order_book_depth(self, depth) -> None:
        self._book_seen = True
        if self._shortfalls:
            self._flush_shortfalls()

    def on_trade_tick(self, tick) -> None:
        # With book data, only a book update brings fresh liquidity (consumption resets there).
        if self._shortfalls and not self._book_seen:
            self._flush_shortfalls()

    # --- records ---------------------------------------------------------------------------------

    def record(self, primary: Order, payload: dict[str, Any]) -> None:
        key = primary.client_order_id.value
        payload = {"algorithm": self.id.value, "primary": key, **payload}
        self.schedule_records[key] = payload
        text = json.dumps(payload, default=str, sort_keys=True)
        self.cache.add(f"{CACHE_PREFIX}.{self.id.value}.{key}", text.encode("utf-8"))
        self.log.info(f"schedule {text}")

    def on_stop(self) -> None:
        self.clock.cancel_timers()

    def on_reset(self) -> None:
        self.schedule_records.clear()
        self._queues.clear()
        self._shortfalls.clear()
        self._resends.clear()
        self._data_subscriptions.clear()
        self._book_seen = False


def until_ns(order: Order) -> int:
    """The time after which none of the order's remainder may be sent (its ``UNTIL:`` tag; no tag: never)."""
    for tag in order.tags or []:
        if tag.startswith(UNTIL_TAG):
            return int(tag[len(UNTIL_TAG) :])
    return 2**63 - 1


def slices_payload(slices: list[Slice]) -> list[dict[str, Any]]:
    return [{"ts_ns": s.ts_ns, "quantity": str(s.quantity)} for s in slices]
