"""Transaction cost analysis (TCA) of a backtest run, per parent order and aggregated. Dagster-free.

Inputs: a report-mode run's ``fills.parquet`` / ``orders.parquet`` / ``timeline.parquet`` and the
market data of the NautilusTrader catalog (book snapshots give the mid, trades give the market's
volume and VWAP). Everything is vectorised (``np.searchsorted`` on sorted timestamps, group-bys).

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

import json
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from odum_pipeline.backtests.run_folder import SUMMARY_FILE, TCA_FILE, read_run
from odum_pipeline.files import atomic_write

TCA_VERSION = "tca-v2"
MARKOUT_SECS: tuple[int, ...] = (1, 5, 30)
MIN_INTERVAL_SECS = 1.0
NS = 1_000_000_000
BPS = 10_000.0
#: Market data loaded before the first arrival (to know the mid at arrival) and after the last fill.
LOOKBACK_NS = 120 * NS


# --- market data ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Market:
    """Market data on sorted ``ts_init`` axes: book mids and trades."""

    book_ts: np.ndarray  # int64 ns, sorted
    mid: np.ndarray  # float
    trade_ts: np.ndarray  # int64 ns, sorted
    trade_px: np.ndarray
    trade_qty: np.ndarray

    @classmethod
    def from_arrays(cls, book_ts, mid, trade_ts=(), trade_px=(), trade_qty=()) -> Market:
        book_ts, mid = np.asarray(book_ts, dtype=np.int64), np.asarray(mid, dtype=np.float64)
        trade_ts = np.asarray(trade_ts, dtype=np.int64)
        trade_px, trade_qty = np.asarray(trade_px, dtype=np.float64), np.asarray(trade_qty, dtype=np.float64)
        book_order, trade_order = np.argsort(book_ts, kind="stable"), np.argsort(trade_ts, kind="stable")
        return cls(book_ts[book_order], mid[book_order], trade_ts[trade_order], trade_px[trade_order], trade_qty[trade_order])

    def mid_at(self, ts) -> np.ndarray:
        """Mid of the last snapshot received at or before each ``ts`` (NaN before the first)."""
        ts = np.asarray(ts, dtype=np.int64)
        index = np.searchsorted(self.book_ts, ts, side="right") - 1
        out = np.full(ts.shape, np.nan)
        valid = index >= 0
        out[valid] = self.mid[index[valid]]
        return out

    def mid_after(self, ts) -> np.ndarray:
        """``mid_at`` but NaN when ``ts`` lies past the last snapshot (the data ended before it)."""
        ts = np.asarray(ts, dtype=np.int64)
        out = self.mid_at(ts)
        if len(self.book_ts):
            out[ts > self.book_ts[-1]] = np.nan
        else:
            out[:] = np.nan
        return out

    def volume_vwap(self, start, end) -> tuple[np.ndarray, np.ndarray]:
        """Market volume and VWAP of the trades with ``start <= ts_init <= end``, per interval."""
        start, end = np.asarray(start, dtype=np.int64), np.asarray(end, dtype=np.int64)
        # Prices centred on the first trade's before the running sums: differences of large
        # cumulative notionals would otherwise lose digits over a long window.
        reference = self.trade_px[0] if len(self.trade_px) else 0.0
        cum_qty = np.concatenate([[0.0], np.cumsum(self.trade_qty)])
        cum_offset = np.concatenate([[0.0], np.cumsum((self.trade_px - reference) * self.trade_qty)])
        lo = np.searchsorted(self.trade_ts, start, side="left")
        hi = np.searchsorted(self.trade_ts, end, side="right")
        volume = cum_qty[hi] - cum_qty[lo]
        notional = cum_offset[hi] - cum_offset[lo] + reference * volume
        with np.errstate(invalid="ignore", divide="ignore"):
            vwap = np.where(volume > 0, notional / np.where(volume > 0, volume, 1.0), np.nan)
        return volume, vwap


def load_market(catalog_root: str | Path, instrument_id: str, start_ns: int, end_ns: int) -> Market:
    """Trades and top-of-book mids of ``instrument_id`` with ``start_ns <= ts_init <= end_ns``
    (read as columns by :class:`~odum_pipeline.catalog.market_data.MarketData`)."""
    from odum_pipeline.catalog.market_data import MarketData

    data = MarketData(catalog_root, instrument_id)
    book = data.book(start_ns, end_ns)
    if book.empty:
        raise ValueError(f"{catalog_root}: no order book snapshots of {instrument_id} around the run (TCA needs mids)")
    bid, ask = book["bid_price_0"].to_numpy(), book["ask_price_0"].to_numpy()
    usable = (bid > 0) & (ask > 0)
    trades = data.trades(start_ns, end_ns)
    return Market.from_arrays(
        book["ts_init"].to_numpy()[usable], (bid[usable] + ask[usable]) / 2,
        trades["ts_init"].to_numpy(), trades["price"].to_numpy(), trades["size"].to_numpy(),
    )  # fmt: skip


# --- parents from a run's results ----------------------------------------------------------------


PARENT_COLUMNS = ["parent_order_id", "side", "arrival_ns", "requested_qty", "end_ns"]


def parents_from_results(orders: pd.DataFrame, timeline: pd.DataFrame | None = None, fills: pd.DataFrame | None = None) -> pd.DataFrame:
    """The parent orders of a run: id, side, arrival (ns) and requested quantity.

    The results do not store a parent's requested quantity directly (an ExecAlgorithm shrinks
    the primary order's ``quantity`` as it spawns children), so it is recovered as: the quantity
    in the strategy's ``parent_submitted`` timeline event (``"BUY 2"``) when there is one, else
    the primary's remaining quantity plus its children's quantities (which is what was requested
    unless a child was denied and its quantity restored to the primary).
    """
    if orders is None or orders.empty:
        return _parents_from_fills(fills)
    orders = orders.copy()
    orders["parent_order_id"] = orders["parent_order_id"].fillna(orders["client_order_id"])
    quantity = orders["quantity"].map(lambda v: Decimal(str(v)))
    family_qty = quantity.groupby(orders["parent_order_id"]).sum()
    is_primary = orders["client_order_id"] == orders["parent_order_id"]
    tags = orders["tags"].astype(str) if "tags" in orders else pd.Series("", index=orders.index)
    primaries = orders[is_primary & ~tags.str.contains("CLOSE", regex=False)]
    parents = pd.DataFrame(
        {
            "parent_order_id": primaries["client_order_id"].astype(str).to_numpy(),
            "side": primaries["side"].astype(str).str.upper().to_numpy(),
            "arrival_ns": primaries["ts_init"].astype(np.int64).to_numpy(),
            "requested_qty": [float(family_qty[c]) for c in primaries["client_order_id"]],
        }
    )
    submitted = _submitted_quantities(timeline)
    if submitted:
        parents["requested_qty"] = [
            submitted.get(c, (None, q))[1] for c, q in zip(parents["parent_order_id"], parents["requested_qty"])
        ]
        parents["arrival_ns"] = [
            submitted[c][0] if c in submitted else a for c, a in zip(parents["parent_order_id"], parents["arrival_ns"])
        ]
    return parents.sort_values(["arrival_ns", "parent_order_id"], kind="stable").reset_index(drop=True)


def _submitted_quantities(timeline: pd.DataFrame | None) -> dict[str, tuple[int, float]]:
    if timeline is None or timeline.empty or "event" not in timeline:
        return {}
    rows = timeline[timeline["event"] == "parent_submitted"]
    out = {}
    for ts, client_order_id, detail in zip(rows["ts"], rows["client_order_id"], rows["detail"]):
        parts = str(detail).split()
        if len(parts) == 2:
            out[str(client_order_id)] = (int(ts), float(Decimal(parts[1])))
    return out


def entry_fills(fills: pd.DataFrame) -> pd.DataFrame:
    """The fills of the run's own orders, without the end-of-window close-out fills."""
    return fills[~fills["is_close"].astype(bool)] if "is_close" in fills else fills


def _parents_from_fills(fills: pd.DataFrame | None) -> pd.DataFrame:
    """Without orders: each parent's first fill stands in for its arrival, its fills for its quantity."""
    if fills is None or fills.empty:
        return pd.DataFrame(columns=PARENT_COLUMNS)
    grouped = entry_fills(fills).groupby("parent_order_id", sort=False)
    return pd.DataFrame(
        {
            "parent_order_id": list(grouped.groups),
            "side": grouped["side"].first().astype(str).to_numpy(),
            "arrival_ns": grouped["ts_event"].min().astype(np.int64).to_numpy(),
            "requested_qty": grouped["last_qty"].apply(lambda s: float(sum(Decimal(str(v)) for v in s))).to_numpy(),
        }
    )


# --- the computation -----------------------------------------------------------------------------


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
    market: Market,
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


def _per_fill(fills: pd.DataFrame, market: Market, markout_secs: Sequence[int]) -> pd.DataFrame:
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


# --- a run's report directory --------------------------------------------------------------------


def recorded_parents(parents: pd.DataFrame, window_end_ns: int | None = None) -> pd.DataFrame:
    """The parents as the strategy recorded them at submission (``parents.parquet``); runs written
    before ``end_ns`` was recorded take the window end as every parent's end mark."""
    if "end_ns" in parents and parents["end_ns"].notna().all():
        end_ns = parents["end_ns"].astype(np.int64).to_numpy()
    else:
        end_ns = np.full(len(parents), window_end_ns if window_end_ns is not None else 0, dtype=np.int64)
    return pd.DataFrame(
        {
            "parent_order_id": parents["client_order_id"].astype(str).to_numpy(),
            "side": parents["side"].astype(str).str.upper().to_numpy(),
            "arrival_ns": parents["arrival_ns"].astype(np.int64).to_numpy(),
            "requested_qty": [float(Decimal(str(q))) for q in parents["requested_qty"]],
            "end_ns": end_ns,
        }
    ).sort_values(["arrival_ns", "parent_order_id"], kind="stable").reset_index(drop=True)


def run_tca(report_dir: str | Path, catalog_root: str | Path, **kwargs) -> TcaResult:
    """TCA of one report-mode run against the catalog's market data (nothing written)."""
    run = read_run(report_dir)
    fills = run["fills"]
    window_end_ns = _window_end_ns(run["summary"])
    if len(run["parents"]):
        parents = recorded_parents(run["parents"], window_end_ns)
    else:  # runs written before parents.parquet existed
        parents = parents_from_results(run["orders"], run["timeline"], fills)
        parents["end_ns"] = window_end_ns if window_end_ns is not None else parents["arrival_ns"]
    instrument_id = run["summary"]["instrument"]["instrument_id"]
    kwargs.setdefault("inverse", _is_inverse(run["summary"]))
    if parents.empty:
        return compute_tca(parents, fills, Market.from_arrays([], []), **kwargs)
    times = [int(parents["arrival_ns"].min()), int(parents["arrival_ns"].max()), int(parents["end_ns"].max())]
    if len(fills):
        times += [int(fills["ts_event"].min()), int(fills["ts_event"].max())]
    horizon = max(kwargs.get("markout_secs", MARKOUT_SECS), default=0)
    start = min(times) - LOOKBACK_NS
    end = max(times) + int((max(horizon, kwargs.get("min_interval_secs", MIN_INTERVAL_SECS)) + 1) * NS)
    market = load_market(catalog_root, instrument_id, start, end)
    return compute_tca(parents, fills, market, **kwargs)


def _is_inverse(summary: dict[str, Any]) -> bool:
    from odum_pipeline.instruments.registry import UnknownInstrumentError, resolve

    try:
        return bool(resolve((summary.get("instrument") or {}).get("key", "")).is_inverse)
    except UnknownInstrumentError:
        return False


def _window_end_ns(summary: dict[str, Any]) -> int | None:
    end = (summary.get("window") or {}).get("end")
    return int(pd.Timestamp(end).value) if end else None


def has_current_tca(report_dir: str | Path) -> bool:
    report_dir = Path(report_dir)
    try:
        summary = json.loads((report_dir / SUMMARY_FILE).read_text())
    except (OSError, ValueError):
        return False
    return (summary.get("tca") or {}).get("version") == TCA_VERSION and (report_dir / TCA_FILE).is_file()


def write_tca(report_dir: str | Path, catalog_root: str | Path, **kwargs) -> TcaResult:
    """Compute the run's TCA, write ``tca.parquet`` (per parent) and a ``tca`` section into its
    ``summary.json`` (both written to a temporary file and renamed: readers never see half a file)."""
    report_dir = Path(report_dir)
    result = run_tca(report_dir, catalog_root, **kwargs)
    table = pa.Table.from_pandas(result.per_parent, preserve_index=False)
    atomic_write(report_dir / TCA_FILE, lambda temporary: pq.write_table(table, temporary))
    summary_path = report_dir / SUMMARY_FILE
    summary = json.loads(summary_path.read_text())
    summary["tca"] = {**result.aggregate, "catalog": str(catalog_root)}
    atomic_write(summary_path, json.dumps(summary, indent=2, sort_keys=True, default=str))
    return result


def read_tca(report_dir: str | Path) -> pd.DataFrame:
    return pq.read_table(Path(report_dir) / TCA_FILE).to_pandas()
