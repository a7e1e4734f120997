"""POV: every interval, participate in the market volume traded since the last slice.

Every ``interval_secs`` after arrival the algorithm sends ``participation_rate`` x the volume of the
trade ticks observed since its last decision, capped at ``max_slice``, floored to the size increment
(rounding and minimum-quantity leftovers carry to the next interval; what the cap cuts is dropped),
until the order is done. At ``horizon_secs`` what is left is sent at once when
``complete_at_horizon`` (the parent completes by the horizon), else it is left unexecuted.
Market primaries give market children; a limit primary gives limit children at its price.
``placement`` passive/adaptive rests each slice at the near touch (leftovers roll into the next
one); adaptive crosses what the parent lags behind the released slices by more than
``catch_up_pct`` %, and everything left at the horizon (``odum_pipeline.algorithms.placement``).
"""

from __future__ import annotations

from decimal import Decimal

from nautilus_trader.config import ExecAlgorithmConfig
from nautilus_trader.model.identifiers import ExecAlgorithmId

from odum_pipeline.algorithms.base import SlicingExecAlgorithm
from odum_pipeline.algorithms.slicing import NS_PER_SEC, pov_slice

PARAMETERS = [
    {"name": "participation_rate", "type": "float", "default": 0.1, "min": 0, "max": 1, "exclusive_min": True,
     "doc": "Fraction of the market volume traded since the last slice to execute."},
    {"name": "max_slice", "type": "float", "default": None, "min": 0, "exclusive_min": True,
     "doc": "Largest slice in base units (default: no cap)."},
    {"name": "interval_secs", "type": "int", "default": 10, "min": 1, "max": 3600,
     "doc": "Seconds between two participation decisions."},
    {"name": "horizon_secs", "type": "int", "default": 300, "min": 1, "max": 86400,
     "doc": "Seconds after arrival at which participation stops."},
    {"name": "complete_at_horizon", "type": "bool", "default": True,
     "doc": "Send what is left at the horizon (else leave it unexecuted)."},
    {"name": "placement", "type": "str", "default": "aggressive", "choices": ["aggressive", "passive", "adaptive"],
     "doc": "aggressive: cross the spread; passive: rest at the near touch; adaptive: passive, crossing when behind."},
    {"name": "catch_up_pct", "type": "float", "default": 10.0, "min": 0, "max": 100,
     "doc": "adaptive: cross when the fills lag the released schedule by more than this % of the parent."},
]


class POVConfig(ExecAlgorithmConfig, frozen=True):
    exec_algorithm_id: ExecAlgorithmId | None = ExecAlgorithmId("POV")
    participation_rate: float = 0.1
    max_slice: float | None = None
    interval_secs: int = 10
    horizon_secs: int = 300
    complete_at_horizon: bool = True
    placement: str = "aggressive"
    catch_up_pct: float = 10.0


class POV(SlicingExecAlgorithm):
    def __init__(self, config: POVConfig | None = None) -> None:
        super().__init__(config or POVConfig())
        self._states: dict[str, dict] = {}
        self._subscribed: set = set()

    def on_order(self, order) -> None:
        if not self.supports(order):
            return
        params = self.parameters(order)
        _, increment, min_qty = self.sizing(order)
        if order.instrument_id not in self._subscribed:
            self.subscribe_trade_ticks(order.instrument_id)
            self._subscribed.add(order.instrument_id)
        now = self.clock.timestamp_ns()
        key = order.client_order_id.value
        self._states[key] = {
            "params": params,
            "instrument_id": order.instrument_id,
            "increment": increment,
            "min_qty": min_qty,
            "volume": Decimal(0),
            "carry": Decimal(0),
            "deadline": now + params["horizon_secs"] * NS_PER_SEC,
            "next": now,
            "steps": [],
        }
        self.start_placement(order, params)
        self._record(order)
        self._schedule_next(key)

    def _schedule_next(self, key: str) -> None:
        state = self._states[key]
        state["next"] = min(state["next"] + state["params"]["interval_secs"] * NS_PER_SEC, state["deadline"])
        self.clock.set_time_alert_ns(f"{key}|{state['next']}", state["next"], self._on_interval)

    def on_trade_tick(self, tick) -> None:
        super().on_trade_tick(tick)
        for state in self._states.values():
            if state["instrument_id"] == tick.instrument_id:
                state["volume"] += tick.size.as_decimal()

    def _on_interval(self, event) -> None:
        key = event.name.rsplit("|", 1)[0]
        state = self._states.get(key)
        primary = self._order(key)
        if state is None or primary is None or primary.is_closed:
            self._states.pop(key, None)
            return
        params, remaining = state["params"], self.unreleased(primary)
        if remaining <= 0:  # everything handed over (passive/adaptive): nothing left to decide
            self._states.pop(key, None)
            return
        at_horizon = event.ts_event >= state["deadline"]
        quantity, carry = pov_slice(
            state["volume"],
            params["participation_rate"],
            remaining,
            state["increment"],
            state["min_qty"],
            params["max_slice"],
            state["carry"],
        )
        if at_horizon and params["complete_at_horizon"]:
            quantity = remaining
        state["steps"].append(
            {"ts_ns": event.ts_event, "volume": str(state["volume"]), "quantity": str(quantity), "horizon": at_horizon}
        )
        state["volume"], state["carry"] = Decimal(0), carry
        final = at_horizon and params["complete_at_horizon"]
        done = self.execute_slice(primary, quantity, final=final) if quantity > 0 else False
        self._record(primary)
        if done or at_horizon:
            self._states.pop(key, None)
        else:
            self._schedule_next(key)

    def _record(self, primary) -> None:
        state = self._states[primary.client_order_id.value]
        self.record(primary, {"params": state["params"], "steps": list(state["steps"])})

    def on_reset(self) -> None:
        super().on_reset()
        self._states.clear()
        self._subscribed.clear()
