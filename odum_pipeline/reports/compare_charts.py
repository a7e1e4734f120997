"""PNG charts of an algorithm comparison: the market mid with each algorithm's fills, cumulative
filled quantity over time, the distribution of per-parent total cost and, with two
variants or more, the cost/risk frontier (``frontier``)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from odum_pipeline.catalog.market_data import load_market
from odum_pipeline.charts import figure_png, pyplot
from odum_pipeline.reports.frontier import frontier_charts

MAX_LINE_POINTS = 4000
COLORS = ("#1f6feb", "#d1242f", "#1a7f37", "#8250df", "#bf8700", "#0a3069", "#cf222e", "#6e7781")


def _times(ns) -> np.ndarray:
    return np.asarray(ns, dtype=np.int64).astype("datetime64[ns]")


def price_with_fills_png(
    market_ts, market_mid, fills_by_label: Mapping[str, pd.DataFrame], *, title: str = "Mid price and fills"
) -> bytes:
    """The market mid (thinned to at most MAX_LINE_POINTS) and every algorithm's entry fills
    (▲ buy, ▼ sell, marker size by quantity)."""
    market_ts, market_mid = np.asarray(market_ts), np.asarray(market_mid, dtype=float)
    step = max(1, len(market_ts) // MAX_LINE_POINTS)
    figure, axis = pyplot().subplots(figsize=(8, 3.4), dpi=90)
    axis.plot(_times(market_ts[::step]), market_mid[::step], color="#6e7781", linewidth=0.8, label="mid")
    for index, (label, fills) in enumerate(fills_by_label.items()):
        if fills.empty:
            continue
        qty = fills["last_qty"].astype(float).to_numpy()
        sizes = 12 + 60 * qty / max(qty.max(), 1e-12)
        color = COLORS[index % len(COLORS)]
        for side, marker in (("BUY", "^"), ("SELL", "v")):
            mask = (fills["side"].astype(str).str.upper() == side).to_numpy()
            if mask.any():
                axis.scatter(
                    _times(fills["ts_event"].to_numpy()[mask]),
                    fills["last_px"].astype(float).to_numpy()[mask],
                    s=sizes[mask], marker=marker, color=color, alpha=0.75, edgecolors="none",
                    label=f"{label} {side.lower()}",
                )  # fmt: skip
    axis.set_title(title, fontsize=9)
    axis.tick_params(labelsize=7)
    axis.grid(alpha=0.3)
    axis.legend(fontsize=7, loc="best")
    figure.autofmt_xdate()
    return figure_png(figure)


def cumulative_filled_png(fills_by_label: Mapping[str, pd.DataFrame], *, title: str = "Cumulative filled quantity") -> bytes:
    figure, axis = pyplot().subplots(figsize=(8, 3.0), dpi=90)
    for index, (label, fills) in enumerate(fills_by_label.items()):
        if fills.empty:
            continue
        ordered = fills.sort_values("ts_event", kind="stable")
        cumulative = np.cumsum(ordered["last_qty"].astype(float).to_numpy())
        axis.step(_times(ordered["ts_event"].to_numpy()), cumulative, where="post", label=label, color=COLORS[index % len(COLORS)])
    axis.set_title(title, fontsize=9)
    axis.set_ylabel("quantity", fontsize=8)
    axis.tick_params(labelsize=7)
    axis.grid(alpha=0.3)
    axis.legend(fontsize=7, loc="best")
    figure.autofmt_xdate()
    return figure_png(figure)


def cost_distribution_png(
    per_order_by_label: Mapping[str, pd.DataFrame], *, title: str = "Per-parent total cost (bps, + = cost)"
) -> bytes:
    """A box per algorithm with every parent's total cost as a (jittered) point on it."""
    labels = list(per_order_by_label)
    samples = [per_order_by_label[k]["total_cost_bps"].dropna().astype(float).to_numpy() for k in labels]
    figure, axis = pyplot().subplots(figsize=(8, 0.6 + 0.55 * max(len(labels), 1) + 1.2), dpi=90)
    if any(len(s) for s in samples):
        axis.boxplot([s if len(s) else [np.nan] for s in samples], vert=False, widths=0.5, showfliers=False)
        rng = np.random.default_rng(0)
        for index, sample in enumerate(samples, start=1):
            jitter = rng.uniform(-0.15, 0.15, size=len(sample))
            axis.scatter(sample, index + jitter, s=14, color=COLORS[(index - 1) % len(COLORS)], alpha=0.7, zorder=3)
        axis.set_yticks(range(1, len(labels) + 1), labels)
    axis.axvline(0, color="#6e7781", linewidth=0.8, linestyle="--")
    axis.set_title(title, fontsize=9)
    axis.tick_params(labelsize=7)
    axis.grid(alpha=0.3, axis="x")
    return figure_png(figure)


def comparison_charts(comparison, catalog_root: str | Path | None) -> dict[str, bytes]:
    """The three charts of a :class:`~odum_pipeline.reports.compare.Comparison` (title -> PNG).

    The price chart needs the catalog (the mid over the run's window); without it, it is left out.
    """
    charts: dict[str, bytes] = {}
    if comparison.runs and catalog_root is not None:
        summary = comparison.runs[0].summary
        start = pd.Timestamp(summary["window"]["start"]).value
        end = pd.Timestamp(summary["window"]["end"]).value
        try:
            market = load_market(catalog_root, summary["instrument"]["instrument_id"], start, end)
        except (ValueError, OSError):  # no usable market data: the chart is left out
            market = None
        if market is not None:
            charts["Mid price and fills"] = price_with_fills_png(market.book_ts, market.mid, comparison.fills)
    charts["Cumulative filled quantity"] = cumulative_filled_png(comparison.fills)
    charts["Per-parent total cost"] = cost_distribution_png(comparison.per_order)
    charts.update(frontier_charts(comparison.per_order))
    return charts
