"""ICEBERG: one visible limit clip at a time, replenished when it has filled, until done.

The clip is ``display_qty`` (else ``visible_pct`` % of the parent), floored to the size increment
and at least the minimum quantity. Clips are limit orders at the parent's limit price; the next
clip is sent when the current one is completely filled (a partial fill keeps the rest showing).
The last clip is the primary itself with what is left (a remainder under the minimum quantity is
merged into the last clip). A market parent has no price of its own: its clips rest passively at
the near touch (best bid for a buy), re-priced when the touch moves away (cancel, then replace),
the next clip shown once the current one has filled (``odum_pipeline.algorithms.placement``).
"""

from __future__ import annotations

from nautilus_trader.config import ExecAlgorithmConfig
from nautilus_trader.model.enums import OrderType
from nautilus_trader.model.identifiers import ExecAlgorithmId

from odum_pipeline.algorithms.base import SlicingExecAlgorithm
from odum_pipeline.algorithms.slicing import display_quantity, iceberg_clips, next_clip

PARAMETERS = [
    {"name": "display_qty", "type": "float", "default": None, "min": 0, "exclusive_min": True,
     "doc": "Visible quantity per clip in base units; overrides visible_pct."},
    {"name": "visible_pct", "type": "float", "default": 10.0, "min": 0, "max": 100, "exclusive_min": True,
     "doc": "Visible quantity per clip as a percentage of the parent quantity."},
]


class ICEBERGConfig(ExecAlgorithmConfig, frozen=True):
    exec_algorithm_id: ExecAlgorithmId | None = ExecAlgorithmId("ICEBERG")
    display_qty: float | None = None
    visible_pct: float = 10.0


class ICEBERG(SlicingExecAlgorithm):
    def __init__(self, config: ICEBERGConfig | None = None) -> None:
        super().__init__(config or ICEBERGConfig())
        self._clips: dict[str, object] = {}

    def on_order(self, order) -> None:
        if not self.supports(order):
            return
        params = self.parameters(order)
        _, increment, min_qty = self.sizing(order)
        total = order.quantity.as_decimal()
        clip = display_quantity(
            total, increment, min_qty, display_qty=params["display_qty"], visible_pct=params["visible_pct"]
        )
        planned = iceberg_clips(total, clip, increment, min_qty)
        if order.order_type == OrderType.MARKET:  # clips rest at the touch
            self.start_placement(order, {"placement": "passive"})
        self.record(order, {"params": params, "clip": str(clip), "planned_clips": [str(c) for c in planned]})
        self._clips[order.client_order_id.value] = (clip, increment, min_qty)
        self._show_next(order)

    def places_passively(self) -> bool:
        return True  # a market parent's clips rest at the touch

    def _show_next(self, primary) -> None:
        key = primary.client_order_id.value
        clip, increment, min_qty = self._clips[key]
        remaining = self.unreleased(primary)
        quantity = next_clip(remaining, clip, increment, min_qty)
        if self.execute_slice(primary, quantity, final=quantity >= remaining) or quantity >= remaining:
            self._clips.pop(key, None)

    def on_order_filled(self, event) -> None:
        order = self.cache.order(event.client_order_id)
        if order is None or order.exec_spawn_id is None or order.exec_spawn_id == order.client_order_id:
            return  # the primary's own fills: the last clip
        working = self._working.get(order.exec_spawn_id.value)
        if working is not None:  # passive clips: the next one once everything shown has filled
            key = order.exec_spawn_id.value
            if self._family_filled(key) >= working.released and key in self._clips:
                self._show_next(self.cache.order(order.exec_spawn_id))
            return
        if not order.is_closed:
            return  # partially filled: the rest of the clip is still showing
        primary = self.cache.order(order.exec_spawn_id)
        if primary is not None and primary.client_order_id.value in self._clips:
            self._show_next(primary)

    def on_reset(self) -> None:
        super().on_reset()
        self._clips.clear()
