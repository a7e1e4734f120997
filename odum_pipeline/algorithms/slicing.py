"""Pure scheduling math of the execution algorithms: plain functions, no NautilusTrader.

Quantities are ``Decimal`` in base units; times are UNIX nanoseconds. Every function respects the
instrument's size increment (every slice is a whole number of increments) and its minimum quantity
(a slice below it is carried to later slices, never lost), so the slices always sum to exactly the
parent quantity.

- :func:`split_quantity`: a total split along weights (equal weights = TWAP, a volume profile = VWAP)
  by flooring *cumulative* targets to the increment: the rounding remainder is carried to later
  slices and the last slice closes the total exactly.
- :func:`time_schedule`: those slices at ``start + k * horizon / n`` (k = 0..n-1): the last one is
  sent before the horizon, so the order completes by it.
- :func:`twap_schedule`: ``n = ceil(horizon / interval)`` equal-weight slices every ``interval``.
- :func:`iceberg_clips`: the visible clips of an iceberg.
- :func:`pov_slice` / :func:`pov_schedule`: participation-of-volume slices given observed volumes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from fractions import Fraction

from odum_pipeline.errors import OdumError

NS_PER_SEC = 1_000_000_000


class ScheduleError(OdumError, ValueError):
    """Inputs no schedule can satisfy (non-positive quantity, bad weights, misaligned quantity)."""


@dataclass(frozen=True)
class Slice:
    """One scheduled child: when it is sent and how much."""

    ts_ns: int
    quantity: Decimal


def _dec(value) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value))


def _units(quantity: Decimal, increment: Decimal, what: str = "quantity") -> int:
    units = quantity / increment
    if units != units.to_integral_value():
        raise ScheduleError(f"{what} {quantity} is not a multiple of the size increment {increment}")
    return int(units)


def _min_units(min_qty: Decimal | None, increment: Decimal) -> int:
    if min_qty is None or min_qty <= 0:
        return 1
    return max(1, int((min_qty / increment).to_integral_value(rounding=ROUND_CEILING)))


def round_down(quantity, increment) -> Decimal:
    """``quantity`` floored to a whole number of ``increment``."""
    quantity, increment = _dec(quantity), _dec(increment)
    return (quantity / increment).to_integral_value(rounding=ROUND_FLOOR) * increment


def split_quantity(
    total, weights: Sequence[float | Decimal | int], increment, min_qty=None
) -> list[Decimal]:
    """Split ``total`` along ``weights``: one quantity per weight (zero for a skipped interval).

    Slice k is ``floor(total * W_k / W) - floor(total * W_{k-1} / W)`` in increments, where ``W_k`` is
    the cumulative weight (exact rational arithmetic): remainders move to later slices and the last
    non-zero weight closes the total exactly. A slice under ``min_qty`` is carried forward into the
    next one; a final carry under ``min_qty`` is merged into the previous non-zero slice.
    """
    total, increment = _dec(total), _dec(increment)
    if total <= 0:
        raise ScheduleError(f"total quantity must be positive, got {total}")
    if increment <= 0:
        raise ScheduleError(f"size increment must be positive, got {increment}")
    if not weights:
        raise ScheduleError("at least one weight is needed")
    fractions = [Fraction(_dec(w)) for w in weights]
    if any(f < 0 for f in fractions):
        raise ScheduleError(f"weights must be non-negative, got {list(weights)}")
    weight_sum = sum(fractions, Fraction(0))
    if weight_sum <= 0:
        raise ScheduleError("weights must not all be zero")
    units = _units(total, increment, "total quantity")
    minimum = _min_units(None if min_qty is None else _dec(min_qty), increment)

    raw: list[int] = []
    cumulative_weight, previous = Fraction(0), 0
    for fraction in fractions:
        cumulative_weight += fraction
        target = math.floor(units * cumulative_weight / weight_sum)
        raw.append(target - previous)
        previous = target
    assert previous == units

    out = [0] * len(raw)
    pending = 0
    for index, amount in enumerate(raw):
        pending += amount
        if pending >= minimum:
            out[index], pending = pending, 0
    if pending:  # a tail under the minimum quantity: merge it into the last slice sent
        nonzero = [i for i, amount in enumerate(out) if amount]
        if nonzero:
            out[nonzero[-1]] += pending
        else:  # the whole order is under the minimum: one slice at the last non-zero weight
            last = max(i for i, f in enumerate(fractions) if f > 0)
            out[last] = pending
    assert sum(out) == units
    return [increment * amount for amount in out]


def slice_times(start_ns: int, horizon_ns: int, count: int) -> list[int]:
    """``count`` instants ``start + k * horizon / count`` (k = 0..count-1), integer nanoseconds."""
    if count <= 0:
        raise ScheduleError(f"count must be positive, got {count}")
    if horizon_ns <= 0:
        raise ScheduleError(f"horizon must be positive, got {horizon_ns} ns")
    return [start_ns + (k * horizon_ns) // count for k in range(count)]


def time_schedule(
    start_ns: int, horizon_ns: int, total, weights: Sequence, increment, min_qty=None
) -> list[Slice]:
    """The non-zero slices of ``split_quantity`` at their interval starts (see :func:`slice_times`)."""
    quantities = split_quantity(total, weights, increment, min_qty)
    times = slice_times(start_ns, horizon_ns, len(quantities))
    return [Slice(ts, qty) for ts, qty in zip(times, quantities, strict=True) if qty > 0]


def twap_interval_count(horizon_secs: float, interval_secs: float) -> int:
    if interval_secs <= 0 or horizon_secs <= 0:
        raise ScheduleError(f"horizon_secs and interval_secs must be positive, got {horizon_secs}, {interval_secs}")
    if interval_secs > horizon_secs:
        raise ScheduleError(f"interval_secs ({interval_secs}) must not exceed horizon_secs ({horizon_secs})")
    return math.ceil(Fraction(str(horizon_secs)) / Fraction(str(interval_secs)))


def twap_schedule(
    start_ns: int, total, horizon_secs: float, interval_secs: float, increment, min_qty=None
) -> list[Slice]:
    """Equal slices every ``interval_secs`` from ``start``: ``ceil(horizon / interval)`` of them, the
    last at ``start + (n - 1) * interval`` (before the horizon)."""
    count = twap_interval_count(horizon_secs, interval_secs)
    interval_ns = int(Fraction(str(interval_secs)) * NS_PER_SEC)
    quantities = split_quantity(total, [1] * count, increment, min_qty)
    return [Slice(start_ns + k * interval_ns, q) for k, q in enumerate(quantities) if q > 0]


def vwap_schedule(start_ns: int, total, horizon_secs: float, profile: Sequence, increment, min_qty=None) -> list[Slice]:
    """Slices proportional to ``profile`` (one weight per interval of ``horizon / len(profile)``)."""
    horizon_ns = int(Fraction(str(horizon_secs)) * NS_PER_SEC)
    return time_schedule(start_ns, horizon_ns, total, profile, increment, min_qty)


def normalize_profile(volumes: Sequence) -> list[float]:
    """Volumes per interval as weights summing to 1 (rounded to 12 decimals for the record)."""
    values = [Fraction(_dec(v)) for v in volumes]
    total = sum(values, Fraction(0))
    if total <= 0:
        raise ScheduleError("a volume profile needs some traded volume")
    return [round(float(v / total), 12) for v in values]


# --- iceberg -------------------------------------------------------------------------------------


def display_quantity(total, increment, min_qty=None, *, display_qty=None, visible_pct=None) -> Decimal:
    """The visible clip: ``display_qty``, else ``visible_pct`` % of ``total``; floored to the increment
    and raised to the minimum quantity; never more than ``total``."""
    total, increment = _dec(total), _dec(increment)
    if display_qty is not None:
        clip = _dec(display_qty)
    elif visible_pct is not None:
        clip = total * _dec(visible_pct) / 100
    else:
        raise ScheduleError("an iceberg needs display_qty or visible_pct")
    if clip <= 0:
        raise ScheduleError(f"the visible quantity must be positive, got {clip}")
    units = max(int((clip / increment).to_integral_value(rounding=ROUND_FLOOR)), _min_units(
        None if min_qty is None else _dec(min_qty), increment
    ))
    return min(increment * units, total)


def iceberg_clips(total, clip, increment, min_qty=None) -> list[Decimal]:
    """The clips shown one after the other: ``clip`` each, the last one the remainder (a remainder
    under the minimum quantity is merged into the clip before it)."""
    total, clip, increment = _dec(total), _dec(clip), _dec(increment)
    units, clip_units = _units(total, increment, "total quantity"), _units(clip, increment, "clip")
    if clip_units <= 0:
        raise ScheduleError(f"clip must be positive, got {clip}")
    full, rest = divmod(units, clip_units)
    clips = [clip_units] * full
    if rest:
        if clips and rest < _min_units(None if min_qty is None else _dec(min_qty), increment):
            clips[-1] += rest
        else:
            clips.append(rest)
    return [increment * c for c in clips]


def next_clip(remaining, clip, increment, min_qty=None) -> Decimal:
    """The next visible clip given what is left (the first element of :func:`iceberg_clips`)."""
    return iceberg_clips(remaining, clip, increment, min_qty)[0]


# --- participation of volume ---------------------------------------------------------------------


def pov_slice(
    volume, participation_rate, remaining, increment, min_qty=None, max_slice=None, carry=Decimal(0)
) -> tuple[Decimal, Decimal]:
    """One POV decision: ``(slice, carry)``.

    Owed = ``participation_rate * volume`` (the market volume since the last slice) + ``carry``;
    the slice is the owed quantity capped at ``max_slice`` and at ``remaining``, floored to the size
    increment, and zero when under the minimum quantity. What rounding and the minimum quantity left
    out is carried to the next interval; what the cap cut off is dropped (participation never
    catches up above the cap).
    """
    volume, rate, remaining, increment = _dec(volume), _dec(participation_rate), _dec(remaining), _dec(increment)
    owed = rate * volume + _dec(carry)
    capped = owed if max_slice is None else min(owed, _dec(max_slice))
    capped = min(capped, remaining)
    quantity = round_down(capped, increment)
    if quantity < (increment if min_qty is None else max(_dec(min_qty), increment)) and quantity < remaining:
        quantity = Decimal(0)
    return quantity, capped - quantity


def pov_schedule(
    total, volumes: Sequence, participation_rate, increment, min_qty=None, max_slice=None
) -> list[Decimal]:
    """The slice after each interval's observed ``volumes`` (zeros included) until ``total`` is done."""
    remaining, carry, out = _dec(total), Decimal(0), []
    for volume in volumes:
        if remaining <= 0:
            break
        quantity, carry = pov_slice(volume, participation_rate, remaining, increment, min_qty, max_slice, carry)
        out.append(quantity)
        remaining -= quantity
    return out


# --- arrival price (Almgren-Chriss) --------------------------------------------------------------


def almgren_chriss_kappa(risk_aversion: float, sigma: float, eta: float, tau_secs: float) -> float:
    """The urgency kappa (1/s) of the discrete Almgren-Chriss trajectory.

    ``kappa_tilde^2 = lambda * sigma^2 / eta`` and ``2 (cosh(kappa tau) - 1) / tau^2 = kappa_tilde^2``
    (Almgren & Chriss 2000, eq. 19, with the permanent-impact correction of eta left out);
    ``lambda = 0`` (or no volatility) gives 0: the straight line.
    """
    if risk_aversion < 0 or sigma < 0 or eta <= 0 or tau_secs <= 0:
        raise ScheduleError(
            f"risk_aversion and sigma must be >= 0, eta and tau > 0; got {risk_aversion}, {sigma}, {eta}, {tau_secs}"
        )
    kappa_tilde_sq = risk_aversion * sigma * sigma / eta
    if kappa_tilde_sq == 0:
        return 0.0
    return math.acosh(1 + kappa_tilde_sq * tau_secs * tau_secs / 2) / tau_secs


def almgren_chriss_holdings(kappa: float, horizon_secs: float, intervals: int) -> list[float]:
    """The share of the order still held at ``t_k = k T / N`` (k = 0..N):
    ``x_k / Q = sinh(kappa (T - t_k)) / sinh(kappa T)``; ``1 - k / N`` when ``kappa = 0``."""
    if intervals <= 0 or horizon_secs <= 0:
        raise ScheduleError(f"intervals and horizon must be positive, got {intervals}, {horizon_secs}")
    if kappa == 0:
        return [1 - k / intervals for k in range(intervals + 1)]
    total = math.sinh(kappa * horizon_secs)
    if not math.isfinite(total):
        raise ScheduleError(f"kappa * T = {kappa * horizon_secs:g} is too large (the whole order would go at once)")
    return [math.sinh(kappa * (horizon_secs - k * horizon_secs / intervals)) / total for k in range(intervals + 1)]


def is_schedule(
    start_ns: int, total, horizon_secs: float, intervals: int, kappa: float, increment, min_qty=None
) -> list[Slice]:
    """The Almgren-Chriss trade list as slices: interval k (sent at ``t_k``) trades ``x_k - x_{k+1}``.

    Quantities follow the holdings exactly up to the size increment (cumulative flooring, as
    :func:`split_quantity`); ``kappa = 0`` uses equal weights, so it *is* the TWAP schedule with
    ``interval = horizon / intervals``.
    """
    if kappa == 0:
        weights: list = [1] * intervals
    else:
        holdings = almgren_chriss_holdings(kappa, horizon_secs, intervals)
        weights = [Decimal(repr(max(holdings[k] - holdings[k + 1], 0.0))) for k in range(intervals)]
    horizon_ns = int(Fraction(str(horizon_secs)) * NS_PER_SEC)
    return time_schedule(start_ns, horizon_ns, total, weights, increment, min_qty)
