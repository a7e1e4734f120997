"""TWAP: the parent order in equal slices every ``interval_secs`` over ``horizon_secs``.

``n = ceil(horizon / interval)`` slices at arrival + k * interval (k = 0..n-1), so the last slice is
sent before the horizon and completes the order. Every slice is a whole number of size increments
and at least the minimum quantity: the rounding remainder is carried to later slices (cumulative
flooring), never lost, and the last slice is the primary itself with whatever is left.
Market primaries give market children; a limit primary gives limit children at its price.
``placement`` passive/adaptive rests the slices at the near touch instead (see
``odum_pipeline.algorithms.placement``).
"""

from __future__ import annotations

from nautilus_trader.config import ExecAlgorithmConfig
from nautilus_trader.model.identifiers import ExecAlgorithmId

from odum_pipeline.algorithms.base import SlicingExecAlgorithm, slices_payload
from odum_pipeline.algorithms.slicing import twap_schedule

PARAMETERS = [
    {"name": "horizon_secs", "type": "int", "default": 300, "min": 1, "max": 86400,
     "doc": "Seconds over which the whole parent order is executed."},
    {"name": "interval_secs", "type": "int", "default": 60, "min": 1, "max": 86400,
     "doc": "Seconds between two slices (not more than horizon_secs)."},
    {"name": "placement", "type": "str", "default": "aggressive", "choices": ["aggressive", "passive", "adaptive"],
     "doc": "aggressive: cross the spread; passive: rest at the near touch; adaptive: passive, crossing when behind."},
    {"name": "catch_up_pct", "type": "float", "default": 10.0, "min": 0, "max": 100,
     "doc": "adaptive: cross when the fills lag the released schedule by more than this % of the parent."},
]


class TWAPConfig(ExecAlgorithmConfig, frozen=True):
    exec_algorithm_id: ExecAlgorithmId | None = ExecAlgorithmId("TWAP")
    horizon_secs: int = 300
    interval_secs: int = 60
    placement: str = "aggressive"
    catch_up_pct: float = 10.0


class TWAP(SlicingExecAlgorithm):
    acts_only_at_alerts = True  # a timed schedule: nothing happens between slices

    def __init__(self, config: TWAPConfig | None = None) -> None:
        super().__init__(config or TWAPConfig())

    def on_order(self, order) -> None:
        if not self.supports(order):
            return
        params = self.parameters(order)
        _, increment, min_qty = self.sizing(order)
        slices = twap_schedule(
            self.clock.timestamp_ns(),
            order.quantity.as_decimal(),
            params["horizon_secs"],
            params["interval_secs"],
            increment,
            min_qty,
        )
        self.start_placement(order, params)
        self.record(order, {"params": params, "slices": slices_payload(slices)})
        self.run_schedule(order, slices)
