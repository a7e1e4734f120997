"""The cost maths of the TCA, per fill, per parent order and aggregated. Dagster-free and I/O-free.

Inputs: the parents (:mod:`.parents`), the run's fills and the market (mids and trades on sorted
``ts_init`` axes, ``catalog.market_data.Market``). Everything is vectorised (``np.searchsorted`` on sorted
timestamps, group-bys).

Conventions (every figure in bps is signed so that **positive = a cost / bad for us**, for buys
and sells alike; ``s = +1`` for a BUY, ``-1`` for a SELL):

- **Market time** is the data's ``ts_init`` (when it was received: what the backtest replays by).
  ``mid(t)`` = (best bid + best ask) / 2 of the last book snapshot received at or before ``t``
  (NaN before the first snapshot).
- **Parent order**: the order the strategy submitted (``orders.parquet`` rows whose
  ``client_order_id == parent_order_id``, close-out orders excluded); an execution algorithm's
  child orders belong to it through ``parent_order_id`` (NautilusTrader's ``exec_spawn_id``).
  In ``per_trade_tick`` runs every submitted order is its own parent.
  ``arrival`` = the parent's ``ts_init`` (its submission); ``requested_qty`` = the quantity
  submitted (see :func:`parents_from_results`).
- ``avg_px`` = quantity-weighted mean fill price; ``filled_qty`` F = sum of fill quantities;
  ``requested_qty`` Q; ``unfilled_qty`` = Q - F (what was still unfilled at the end mark).
- ``arrival_mid`` M0 = ``mid(arrival)``; ``end_mid`` M_end = ``mid(end)`` where ``end`` is the
  parent's deadline, else the window end (``end_ns`` of ``parents.parquet``).

**Cost (Perold implementation shortfall)**, in quote currency and in bps of Q·M0 (``*_bps``):

- execution cost = s·Σ q_i (p_i − M0); opportunity cost = s·(Q − F)(M_end − M0);
- ``implementation_shortfall_bps`` = (execution + opportunity) / (Q·M0) · 1e4;
- ``fees_bps`` = Σ commissions / (Q·M0) · 1e4; ``total_cost_bps`` = IS + fees;
- its decomposition, which sums exactly to ``total_cost_bps`` (m_i = ``mid(fill_ts)``, I_i = the
  impact overlay's price shift for the fill's order, 0 without it):
  ``spread_cost_bps`` = s·Σ q_i (p_i − m_i − I_i) (paying the spread and walking the book),
  ``impact_cost_bps`` = s·Σ q_i I_i (the price moved by our own earlier trading),
  ``timing_cost_bps`` = s·Σ q_i (m_i − M0) (the market's drift while working),
  ``opportunity_cost_bps``, ``fees_bps``.
- ``shortfall_bps`` (execution price of the filled part vs the arrival mid) =
  ``s * (avg_px - arrival_mid) / arrival_mid * 1e4``, kept for reference: it ignores what was not filled.

- **Execution interval** = ``[arrival, end]`` with ``end = max(last fill, arrival +
  min_interval_secs)`` (inclusive both ends; default floor 1 s). Arrival-to-completion (not first
  to last fill) so that an algorithm's delay before its first slice counts; the floor keeps the
  interval of an instantaneous market order non-empty (the market over the next second) instead
  of undefined. Orders without a fill have no interval (NaN).
- ``interval_vwap`` = the market trades' VWAP over the interval; ``vwap_slippage_bps`` =
  ``s * (avg_px - interval_vwap) / interval_vwap * 1e4``.
- ``market_volume`` = the market trades' volume over the interval; ``participation_rate`` =
  ``filled_qty / market_volume`` (our fills are simulated, so they are not in the market volume).
- ``spread_paid_bps`` per fill = ``s * (fill_px - mid(fill_ts)) / mid(fill_ts) * 1e4`` (half the
  spread for a top-of-book taker fill, more when walking the book, negative when earning it);
  per parent and per run: quantity-weighted mean over fills.
- ``markout_<h>s_bps`` per fill = ``-s * (mid(fill_ts + h) - mid(fill_ts)) / mid(fill_ts) * 1e4``:
  the mid's move h seconds after the fill, positive when it moved against the position we just
  took (fell after a buy, rose after a sell: adverse selection). NaN when the market data ends
  before ``fill_ts + h``. Per parent and per run: quantity-weighted mean over fills with a value.
- ``fill_ratio`` = ``filled_qty / requested_qty``; ``time_to_complete_secs`` = last fill - arrival
  (NaN without fills); ``completed`` = ``filled_qty >= requested_qty``.

Aggregates: the cost figures (IS, opportunity, fees, total and its parts) are weighted by each
parent's Q·M0 (a ratio of sums); VWAP slippage, spread paid, markouts and participation by filled
quantity. ``mean_total_cost_bps`` (the unweighted per-parent mean) is what the comparison's
bootstrap resamples.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pandas as pd

from odum_pipeline.reports.parents import entry_fills

TCA_VERSION = "tca-v2"
MARKOUT_SECS: tuple[int, ...] = (1, 5, 30)
MIN_INTERVAL_SECS = 1.0
NS = 1_000_000_000
BPS = 10_000.0
#: The figure algorithms are ranked by (lower is better): the total cost in bps of the arrival value.
RANK_METRIC = "total_cost_bps"


class MarketData(Protocol):
    """What the cost maths reads of the market (``catalog.market_data.Market``: book mids and trades on sorted axes)."""

    def mid_at(self, ts) -> np.ndarray: ...  # mid of the last snapshot at or before each ts (NaN before)

    def mid_after(self, ts) -> np.ndarray: ...  # mid_at, but NaN past the data's end

    def volume_vwap(self, start, end) -> tuple[np.ndarray, np.ndarray]: ...  # per interval [start, end]


@dataclass
class TcaResult:
    per_parent: pd.DataFrame
    per_fill: pd.DataFrame
    aggregate: dict[str, Any]


def _side_sign(side: pd.Series) -> np.ndarray:
    side = side.astype(str).str.upper()
    unknown = ~side.isin(["BUY", "SELL"])
    if unknown.any():
        raise ValueError(f"unknown order side(s): {sorted(set(side[unknown]))}")
    return np.where(side == "BUY", 1.0, -1.0)


def _to_float(values) -> np.ndarray:
    return np.asarray([float(v) for v in values], dtype=np.float64) if len(values) else np.empty(0)


def compute_tca(
    parents: pd.DataFrame,
    fills: pd.DataFrame,
    market: MarketData,
    *,
    markout_secs: Sequence[int] = MARKOUT_SECS,
    min_interval_secs: float = MIN_INTERVAL_SECS,
    inverse: bool = False,
) -> TcaResult:
    """Per-fill and per-parent TCA and the run's aggregate (definitions in the module docstring);
    ``inverse``: the instrument is an inverse contract (see ``_add_costs``)."""
    fills = fills if fills is not None else pd.DataFrame(columns=["ts_event", "parent_order_id", "side", "last_px", "last_qty", "commission"])
    fills = entry_fills(fills)
    fills = fills[fills["parent_order_id"].isin(set(parents["parent_order_id"]))]
    per_fill = _per_fill(fills, market, markout_secs)
    per_parent = _per_parent(parents, per_fill, market, markout_secs, min_interval_secs, inverse)
    return TcaResult(per_parent, per_fill, aggregate_tca(per_parent, per_fill, markout_secs))


def _per_fill(fills: pd.DataFrame, market: MarketData, markout_secs: Sequence[int]) -> pd.DataFrame:
    ts = fills["ts_event"].astype(np.int64).to_numpy()
    px, qty = _to_float(fills["last_px"]), _to_float(fills["last_qty"])
    commission = _to_float(fills["commission"]) if "commission" in fills else np.zeros(len(fills))
    impact_px = _to_float(fills["impact_px"]) if "impact_px" in fills else np.zeros(len(fills))
    sign = _side_sign(fills["side"]) if len(fills) else np.empty(0)
    mid = market.mid_at(ts)
    frame = pd.DataFrame(
        {
            "ts_event": ts,
            "client_order_id": fills["client_order_id"].astype(str).to_numpy() if "client_order_id" in fills else "",
            "parent_order_id": fills["parent_order_id"].astype(str).to_numpy(),
            "sign": sign,
            "px": px,
            "qty": qty,
            "notional": px * qty,
            "commission": commission,
            "impact_px": impact_px,
            "mid": mid,
            "spread_paid_bps": sign * (px - mid) / mid * BPS,
        }
    )
    for h in markout_secs:
        later = market.mid_after(ts + int(h * NS))
        frame[f"markout_{h}s_bps"] = -sign * (later - mid) / mid * BPS
    return frame


def _weighted(values: pd.Series, weights: pd.Series, keys: pd.Series) -> pd.Series:
    """Weighted mean of ``values`` per key, ignoring NaN values (NaN when no weight is left)."""
    valid = values.notna() & (weights > 0)
    num = (values.where(valid, 0.0) * weights.where(valid, 0.0)).groupby(keys).sum()
    den = weights.where(valid, 0.0).groupby(keys).sum()
    return (num / den.where(den > 0)).astype(float)


def _per_parent(parents, per_fill, market, markout_secs, min_interval_secs, inverse: bool = False) -> pd.DataFrame:
    parents = parents.reset_index(drop=True)
    out = pd.DataFrame(
        {
            "parent_order_id": parents["parent_order_id"].astype(str),
            "side": parents["side"].astype(str).str.upper(),
            "arrival_ns": parents["arrival_ns"].astype(np.int64),
            "requested_qty": parents["requested_qty"].astype(float),
        }
    )
    sign = _side_sign(out["side"]) if len(out) else np.empty(0)
    keys = per_fill["parent_order_id"]
    grouped = per_fill.groupby(keys)
    by_id = lambda series: out["parent_order_id"].map(series)  # noqa: E731
    filled = by_id(grouped["qty"].sum()).fillna(0.0).to_numpy()
    notional = by_id(grouped["notional"].sum()).fillna(0.0).to_numpy()
    first_fill, last_fill = by_id(grouped["ts_event"].min()), by_id(grouped["ts_event"].max())
    out["fills"] = by_id(grouped.size()).fillna(0).astype(int)
    out["filled_qty"] = filled
    with np.errstate(invalid="ignore", divide="ignore"):
        avg_px = np.where(filled > 0, notional / np.where(filled > 0, filled, 1.0), np.nan)
        out["avg_px"] = avg_px
        out["notional"] = notional
        out["fill_ratio"] = np.where(out["requested_qty"] > 0, filled / out["requested_qty"], np.nan)
        out["completed"] = filled >= out["requested_qty"].to_numpy() - 1e-12
        arrival = out["arrival_ns"].to_numpy()
        out["arrival_mid"] = market.mid_at(arrival)
        out["shortfall_bps"] = sign * (avg_px - out["arrival_mid"]) / out["arrival_mid"] * BPS
        out["shortfall_cost"] = sign * (avg_px - out["arrival_mid"]) * filled
        _add_costs(out, parents, per_fill, market, sign, filled, inverse)
        out["first_fill_ns"] = first_fill.astype("Int64")
        out["last_fill_ns"] = last_fill.astype("Int64")
        out["time_to_complete_secs"] = (last_fill.astype(float) - arrival) / NS
        has_fill = filled > 0
        end = np.maximum(last_fill.fillna(0).astype(np.int64).to_numpy(), arrival + int(min_interval_secs * NS))
        volume, vwap = market.volume_vwap(arrival, end)
        out["interval_start_ns"] = pd.Series(arrival, dtype="Int64").mask(~has_fill)
        out["interval_end_ns"] = pd.Series(end, dtype="Int64").mask(~has_fill)
        out["market_volume"] = np.where(has_fill, volume, np.nan)
        out["interval_vwap"] = np.where(has_fill, vwap, np.nan)
        out["vwap_slippage_bps"] = sign * (avg_px - out["interval_vwap"]) / out["interval_vwap"] * BPS
        out["participation_rate"] = np.where(has_fill & (volume > 0), filled / np.where(volume > 0, volume, 1.0), np.nan)
        out["spread_paid_bps"] = by_id(_weighted(per_fill["spread_paid_bps"], per_fill["qty"], keys)).to_numpy()
        for h in markout_secs:
            column = f"markout_{h}s_bps"
            out[column] = by_id(_weighted(per_fill[column], per_fill["qty"], keys)).to_numpy()
    return out


COST_PARTS = ("spread_cost", "impact_cost", "timing_cost", "opportunity_cost", "fees")


def _add_costs(out, parents, per_fill, market, sign, filled, inverse: bool = False) -> None:
    """Perold implementation shortfall, fees and the decomposition (module docstring), per parent.

    Inverse contracts (sizes in quote units, e.g. USD contracts, fees in the base currency) are
    costed in their base-equivalent quantity q / p and fees valued at the fill price, so every
    cost is in the quote currency and the arrival value Q·M0 is the contracts' quote value Q."""
    keys = per_fill["parent_order_id"]
    by_id = lambda values: out["parent_order_id"].map(  # noqa: E731
        pd.Series(values, index=per_fill.index).groupby(keys).sum()
    ).fillna(0.0).to_numpy()
    fill_sign, px = per_fill["sign"].to_numpy(), per_fill["px"].to_numpy()
    qty = per_fill["qty"].to_numpy() / px if inverse else per_fill["qty"].to_numpy()
    fees = per_fill["commission"].to_numpy() * px if inverse else per_fill["commission"].to_numpy()
    m0 = out["arrival_mid"].to_numpy()
    m0_of_fill = keys.map(dict(zip(out["parent_order_id"], m0))).to_numpy(dtype=float)
    requested = out["requested_qty"].to_numpy(dtype=float)
    end_ns = _end_times(parents, out)
    out["end_ns"] = end_ns
    out["end_mid"] = market.mid_at(end_ns)
    out["unfilled_qty"] = np.maximum(requested - filled, 0.0)
    unfilled = out["unfilled_qty"] / out["end_mid"] if inverse else out["unfilled_qty"]
    out["execution_cost"] = by_id(fill_sign * qty * (px - m0_of_fill))
    out["opportunity_cost"] = sign * unfilled * (out["end_mid"] - m0)
    out["fees"] = by_id(fees)
    out["impact_cost"] = by_id(fill_sign * qty * per_fill["impact_px"].to_numpy())
    out["timing_cost"] = by_id(fill_sign * qty * (per_fill["mid"].to_numpy() - m0_of_fill))
    out["spread_cost"] = out["execution_cost"] - out["impact_cost"] - out["timing_cost"]
    out["total_cost"] = out["execution_cost"] + out["opportunity_cost"] + out["fees"]
    scale = requested if inverse else requested * m0
    out["arrival_value"] = scale
    with np.errstate(invalid="ignore", divide="ignore"):
        per_bps = lambda column: np.where(scale > 0, out[column].to_numpy() / scale * BPS, np.nan)  # noqa: E731
        out["implementation_shortfall_bps"] = np.where(
            scale > 0, (out["execution_cost"] + out["opportunity_cost"]).to_numpy() / scale * BPS, np.nan
        )
        for column in (*COST_PARTS, "total_cost"):
            out[f"{column}_bps"] = per_bps(column)


def _end_times(parents: pd.DataFrame, out: pd.DataFrame) -> np.ndarray:
    """Each parent's end mark time: ``end_ns`` when recorded, else its arrival (no later mark known)."""
    if "end_ns" in parents and parents["end_ns"].notna().all():
        return parents["end_ns"].astype(np.int64).to_numpy()
    return out["arrival_ns"].to_numpy(dtype=np.int64)


def _wmean(values, weights) -> float | None:
    values, weights = np.asarray(values, dtype=float), np.asarray(weights, dtype=float)
    valid = ~np.isnan(values) & (weights > 0)
    if not valid.any():
        return None
    return float(np.sum(values[valid] * weights[valid]) / np.sum(weights[valid]))


def _finite(value) -> float | None:
    value = float(value)
    return value if np.isfinite(value) else None


def _ratio_bps(numerator, denominator) -> float | None:
    numerator, denominator = np.asarray(numerator, dtype=float), np.asarray(denominator, dtype=float)
    valid = ~np.isnan(numerator) & ~np.isnan(denominator) & (denominator > 0)
    total = float(np.sum(denominator[valid]))
    return float(np.sum(numerator[valid]) / total * BPS) if total > 0 else None


def aggregate_tca(per_parent: pd.DataFrame, per_fill: pd.DataFrame, markout_secs: Sequence[int] = MARKOUT_SECS) -> dict[str, Any]:
    """The run's TCA figures (JSON-ready: NaN becomes None); costs weighted by each parent's Q·M0."""
    filled = per_parent["filled_qty"].to_numpy(dtype=float)
    requested = float(per_parent["requested_qty"].sum())
    notional = float(per_fill["notional"].sum())
    scale = per_parent["arrival_value"].to_numpy(dtype=float)
    total = per_parent["total_cost_bps"].to_numpy(dtype=float)
    times = per_parent["time_to_complete_secs"].to_numpy(dtype=float)
    aggregate: dict[str, Any] = {
        "version": TCA_VERSION,
        "parents": int(len(per_parent)),
        "parents_filled": int((filled > 0).sum()),
        "parents_completed": int(per_parent["completed"].sum()),
        "fills": int(len(per_fill)),
        "requested_qty": requested,
        "filled_qty": float(filled.sum()),
        "unfilled_qty": float(per_parent["unfilled_qty"].sum()),
        "fill_ratio": float(filled.sum() / requested) if requested else None,
        "notional": notional,
        "arrival_value": float(np.nansum(scale)),
        "implementation_shortfall_bps": _ratio_bps(per_parent["execution_cost"] + per_parent["opportunity_cost"], scale),
        "total_cost_bps": _ratio_bps(per_parent["total_cost"], scale),
        "mean_total_cost_bps": _finite(np.nanmean(total)) if (~np.isnan(total)).any() else None,
        "total_cost": float(np.nansum(per_parent["total_cost"].to_numpy(dtype=float))),
        "execution_shortfall_bps": _wmean(per_parent["shortfall_bps"], filled),
        "vwap_slippage_bps": _wmean(per_parent["vwap_slippage_bps"], filled),
        "participation_rate": _wmean(per_parent["participation_rate"], filled),
        "spread_paid_bps": _wmean(per_fill["spread_paid_bps"], per_fill["qty"]),
        "fees": float(per_fill["commission"].sum()),
        "mean_time_to_complete_secs": _finite(np.nanmean(times)) if (~np.isnan(times)).any() else None,
        "median_time_to_complete_secs": _finite(np.nanmedian(times)) if (~np.isnan(times)).any() else None,
        "markout_secs": list(markout_secs),
    }
    for part in COST_PARTS:
        aggregate[f"{part}_bps"] = _ratio_bps(per_parent[part], scale)
    for h in markout_secs:
        aggregate[f"markout_{h}s_bps"] = _wmean(per_fill[f"markout_{h}s_bps"], per_fill["qty"])
    return aggregate
