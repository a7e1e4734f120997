"""The parent orders of a run: what each parent asked for (side, arrival, requested quantity, end mark).

From ``parents.parquet`` as the strategy recorded them at submission (:func:`recorded_parents`), or,
for runs written before it existed, reconstructed from the orders, the timeline and the fills
(:func:`parents_from_results`). The TCA (:mod:`.costs`) measures every cost against these.
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pandas as pd

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
