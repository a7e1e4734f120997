"""Where a child order goes: the pure price and catch-up rules of the placement modes.

- ``aggressive``: children cross the spread (market orders, or limits at a limit parent's price).
- ``passive``: one limit child rests at the near touch (best bid for a buy, best ask for a sell),
  bounded by the parent's limit; it is re-priced (cancel, then replace) when the touch moves *away*
  from it (a buy's bid rises above it); what a slice leaves unfilled rolls into the next one.
- ``adaptive``: passive while on schedule; when, at a new slice, the quantity released by the
  earlier slices exceeds the filled quantity by more than ``catch_up_pct`` % of the parent, that
  shortfall crosses the spread; the last slice (the last interval before the horizon) crosses all
  that is left, so the parent completes by its horizon.

Plain functions (no NautilusTrader); ``odum_pipeline.algorithms.base`` applies them.
"""

from __future__ import annotations

from decimal import Decimal

AGGRESSIVE, PASSIVE, ADAPTIVE = "aggressive", "passive", "adaptive"
PLACEMENTS = (AGGRESSIVE, PASSIVE, ADAPTIVE)

#: The ``PARAMETERS`` entries every placement-aware algorithm declares (defaults: today's behaviour).
PLACEMENT_PARAMETERS = [
    {"name": "placement", "type": "str", "default": AGGRESSIVE, "choices": list(PLACEMENTS),
     "doc": "aggressive: cross the spread; passive: rest at the near touch; adaptive: passive, crossing when behind."},
    {"name": "catch_up_pct", "type": "float", "default": 10.0, "min": 0, "max": 100,
     "doc": "adaptive: cross when the fills lag the released schedule by more than this % of the parent."},
]


def passive_price(is_buy: bool, bid: Decimal | None, ask: Decimal | None, limit: Decimal | None) -> Decimal | None:
    """The near touch (bid for a buy, ask for a sell), never beyond the parent's limit; ``None``
    when the near side of the book is unknown."""
    touch = bid if is_buy else ask
    if touch is None:
        return limit
    if limit is None:
        return touch
    return min(touch, limit) if is_buy else max(touch, limit)


def moved_away(is_buy: bool, resting: Decimal, desired: Decimal | None) -> bool:
    """Has the touch moved away from a resting child (a better price to rest at now exists)?"""
    if desired is None:
        return False
    return desired > resting if is_buy else desired < resting


def catch_up_quantity(placement: str, released_before, filled, total, catch_up_pct, *, final: bool, released_after) -> Decimal:
    """How much to cross at a new slice: adaptive only. In the last interval all that is released
    and unfilled; otherwise the lag behind the earlier slices when it exceeds ``catch_up_pct`` %."""
    if placement != ADAPTIVE:
        return Decimal(0)
    if final:
        return max(Decimal(released_after) - Decimal(filled), Decimal(0))
    behind = Decimal(released_before) - Decimal(filled)
    threshold = Decimal(str(catch_up_pct)) / 100 * Decimal(total)
    return behind if behind > threshold else Decimal(0)
