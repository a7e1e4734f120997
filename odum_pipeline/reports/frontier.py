"""The cost/risk frontier of a comparison: per variant, the mean cost per parent order against its
spread (the standard deviation of the per-parent cost), the chart a desk uses to pick a risk
aversion or a horizon.

A variant is *efficient* when no other variant is at least as good on both axes and better on one
(lower mean cost and lower spread). The per-parent cost is :func:`per_parent_cost`, the one place
that says which TCA figure is ranked (each parent's total cost, the comparison's ranking metric, bps,
positive = cost).
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from odum_pipeline.charts import figure_png, pyplot

TITLE = "Cost/risk frontier"
COST_COLUMN = "total_cost_bps"  # the ranking metric: Perold implementation shortfall plus fees


def per_parent_cost(per_order: pd.DataFrame) -> pd.Series:
    """The cost of each parent order of a run (bps, positive = cost): what the frontier ranks."""
    return per_order[COST_COLUMN].astype(float)


@dataclass(frozen=True)
class Frontier:
    points: pd.DataFrame  # label, parents, mean_cost_bps, std_cost_bps, efficient

    @property
    def efficient(self) -> list[str]:
        """The efficient variants, cheapest first."""
        rows = self.points[self.points["efficient"]].sort_values(["mean_cost_bps", "std_cost_bps", "label"])
        return list(rows["label"])


def frontier(per_order_by_label: Mapping[str, pd.DataFrame]) -> Frontier:
    """Mean and standard deviation (ddof=1; 0 for a single parent) of each variant's per-parent cost."""
    rows = []
    for label, per_order in per_order_by_label.items():
        costs = per_parent_cost(per_order).dropna().to_numpy()
        if not len(costs):
            continue
        spread = float(np.std(costs, ddof=1)) if len(costs) > 1 else 0.0
        rows.append({"label": label, "parents": len(costs), "mean_cost_bps": float(costs.mean()), "std_cost_bps": spread})
    points = pd.DataFrame(rows, columns=["label", "parents", "mean_cost_bps", "std_cost_bps"])
    points["efficient"] = [_efficient(points, i) for i in range(len(points))]
    return Frontier(points.sort_values(["mean_cost_bps", "label"], kind="stable").reset_index(drop=True))


def _efficient(points: pd.DataFrame, index: int) -> bool:
    mean, std = points["mean_cost_bps"].to_numpy(), points["std_cost_bps"].to_numpy()
    others = np.arange(len(points)) != index
    dominated = others & (mean <= mean[index]) & (std <= std[index]) & ((mean < mean[index]) | (std < std[index]))
    return not bool(dominated.any())


def frontier_png(result: Frontier, *, title: str = TITLE) -> bytes:
    """Each variant at (spread, mean cost); the efficient ones starred and joined."""
    points = result.points
    figure, axis = pyplot().subplots(figsize=(8, 4.2), dpi=90)
    dominated = points[~points["efficient"]]
    efficient = points[points["efficient"]].sort_values("std_cost_bps")
    axis.scatter(dominated["std_cost_bps"], dominated["mean_cost_bps"], s=30, color="#6e7781", label="dominated")
    axis.plot(efficient["std_cost_bps"], efficient["mean_cost_bps"], color="#1a7f37", linewidth=1, zorder=2)
    axis.scatter(
        efficient["std_cost_bps"], efficient["mean_cost_bps"], s=90, marker="*", color="#1a7f37", zorder=3,
        label="efficient",
    )  # fmt: skip
    for (x, y), group in points.groupby(["std_cost_bps", "mean_cost_bps"], sort=False):
        axis.annotate("\n".join(group["label"]), (x, y), textcoords="offset points", xytext=(5, 4), fontsize=7)
    axis.set_xlabel("risk: std of per-parent cost (bps)", fontsize=8)
    axis.set_ylabel("mean cost per parent (bps, + = cost)", fontsize=8)
    efficient_labels = textwrap.fill(f"efficient: {', '.join(result.efficient) or 'none'}", 110)
    axis.set_title(f"{title}\n{efficient_labels}", fontsize=8)
    axis.tick_params(labelsize=7)
    axis.grid(alpha=0.3)
    axis.legend(fontsize=7, loc="best")
    return figure_png(figure)


def frontier_notes(per_order_by_label: Mapping[str, pd.DataFrame]) -> list[str]:
    """The comparison's note naming the efficient variants (none with fewer than two variants)."""
    result = frontier(per_order_by_label)
    if len(result.points) < 2:
        return []
    listed = "; ".join(
        f"{row.label} (mean {row.mean_cost_bps:.3f} bps, std {row.std_cost_bps:.3f} bps)"
        for row in result.points[result.points["efficient"]].itertuples()
    )
    return [f"Cost/risk frontier (mean vs std of the per-parent total cost): efficient variants: {listed}."]


def frontier_charts(per_order_by_label: Mapping[str, pd.DataFrame]) -> dict[str, bytes]:
    """``{TITLE: png}`` when there are at least two variants to set against each other."""
    result = frontier(per_order_by_label)
    return {TITLE: frontier_png(result)} if len(result.points) >= 2 else {}


def frontier_markdown(per_order_by_label: Mapping[str, pd.DataFrame]) -> str:
    points = frontier(per_order_by_label).points
    lines = ["| variant | parents | mean cost bps | std bps | efficient |", "|---|---|---|---|---|"]
    lines += [
        f"| {r.label} | {r.parents} | {r.mean_cost_bps:.3f} | {r.std_cost_bps:.3f} | {'yes' if r.efficient else ''} |"
        for r in points.itertuples()
    ]
    return "\n".join(lines)
