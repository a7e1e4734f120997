"""Model risk: does the ranking of the algorithms hold under each market preset?

A report-mode partition also runs each algorithm under the two other presets (``summary.model_risk``
names the main setup). The comparison ranks each preset's runs apart and says whether the ranking
holds ("ranking stable: TWAP best under all three" or "ranking changes with the market model: ...").
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from odum_pipeline.reports.costs import RANK_METRIC
from odum_pipeline.reports.report_runs import RunRecord, discover_report_runs, ensure_tca, latest_per_variant
from odum_pipeline.reports.statistics import jsonable

PRESETS = ("optimistic", "realistic", "conservative")


@dataclass
class ModelRisk:
    """Per algorithm its rank (and total cost) under each preset, and whether the ranking holds."""

    ranks: dict[str, dict[str, int]]  # preset -> label -> rank
    costs: dict[str, dict[str, float | None]]  # preset -> label -> total_cost_bps
    missing: list[str]  # presets without runs
    verdict: str

    def rows(self) -> list[dict[str, Any]]:
        labels = sorted({label for ranks in self.ranks.values() for label in ranks})
        return [
            {"algorithm": label, **{f"rank_{p}": self.ranks.get(p, {}).get(label) for p in PRESETS},
             **{f"total_cost_bps_{p}": self.costs.get(p, {}).get(label) for p in PRESETS}}
            for label in labels
        ]  # fmt: skip


def model_risk(
    setup: dict[str, Any],
    table: pd.DataFrame,
    results_root: str | Path,
    catalog_root: str | Path,
    *,
    include_look_ahead: bool = False,
) -> tuple[ModelRisk | None, list[str]]:
    """A comparison's algorithms ranked by total cost under each market preset: the main runs (its
    ranked ``table``) under the config's own preset, its model-risk runs under the others. ``setup``:
    the comparison's (``compare.setup_of``). Returns the TCA run ids computed on the way."""
    main_preset = ((setup or {}).get("market") or {}).get("preset")
    setup = (setup or {}).get("setup_sha256")
    if not setup or not main_preset or table.empty:
        return None, []
    by_preset: dict[str, list[RunRecord]] = {}
    for record in discover_report_runs(results_root):
        if record.model_risk_of == setup and record.market_preset:
            by_preset.setdefault(record.market_preset, []).append(record)
    computed: list[str] = []
    ranks = {main_preset: {str(r["algorithm"]): int(r["rank"]) for r in table.to_dict(orient="records")}}
    costs = {main_preset: {str(r["algorithm"]): jsonable(r.get(RANK_METRIC)) for r in table.to_dict(orient="records")}}
    for preset, records in by_preset.items():
        chosen = latest_per_variant(records)
        computed += ensure_tca(chosen, catalog_root)
        chosen = [r for r in chosen if include_look_ahead or not r.look_ahead]
        figures = {r.label: (r.summary.get("tca") or {}).get(RANK_METRIC) for r in chosen}
        order = sorted(figures, key=lambda label: (np.inf if figures[label] is None else figures[label], label))
        ranks[preset] = {label: index for index, label in enumerate(order, start=1)}
        costs[preset] = figures
    missing = [p for p in PRESETS if p not in ranks]
    return ModelRisk(ranks, costs, missing, _verdict(ranks, missing)), computed


def _verdict(ranks: dict[str, dict[str, int]], missing: list[str]) -> str:
    presets = [p for p in PRESETS if p in ranks]
    orders = {p: [label for label, _ in sorted(ranks[p].items(), key=lambda item: item[1])] for p in presets}
    note = f" (no runs under {', '.join(missing)}: run the config with model risk on)" if missing else ""
    bests = {orders[p][0] for p in presets if orders[p]}
    if len(presets) < 2:
        return f"ranking under one preset only{note}"
    where = "all three" if not missing else " and ".join(presets)
    if len({tuple(o) for o in orders.values()}) == 1:
        return f"ranking stable: {orders[presets[0]][0]} best under {where}, the same order under each{note}"
    changes = "; ".join(f"{p}: {' > '.join(orders[p])}" for p in presets)
    if len(bests) == 1:
        return f"{next(iter(bests))} best under {where}, but lower ranks change: {changes}{note}"
    return f"ranking changes with the market model: {changes}{note}"
