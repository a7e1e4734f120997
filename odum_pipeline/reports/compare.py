"""Compare execution algorithms per backtest config from the report-mode runs under a results root.

Dagster-free (the ``comparison_report`` asset and ``odum compare`` both call :func:`build_comparisons`).

Which runs (:mod:`.report_runs`): every ``report/<run_id>/summary.json``. Runs are compared when
their *market setup* is the same (``summary.config.setup_sha256``: instrument, window, parents,
venue, market model, data, risk), whichever algorithm they ran and however they were launched (the
config's algorithm list, ``run-backtest --exec_algorithm``, the ad-hoc job). Per config name, the
setup of the most recently created run is the one compared (runs of other setups are left out and
counted in the notes); within it the latest run (by ``created_at``) per algorithm variant.

Look-ahead: a run whose summary says it used information from after its decision times
(``look_ahead.used``, e.g. a VWAP profile of the volume actually traded during the horizon) is not
ranked by default; it is listed apart, marked, and ``include_look_ahead`` ranks it too.

Ranking: by the run's total cost (``tca.total_cost_bps``: Perold implementation shortfall, with
the unfilled remainder's opportunity cost, plus fees, in bps of the arrival value; lower is
better). The "Δ vs best" column is on the same metric: the per-parent total-cost difference to the
best run, each parent weighted by its arrival value Q·M0 (so Δ is exactly the difference of the two
rows' total cost), paired parent by parent when both ran the same parent orders (same arrival,
side, quantity), else the two samples resampled independently. Significance: a bootstrap of that Δ
(:mod:`.statistics`: numpy, fixed seed, 2000 resamples by default). A 95% CI that contains 0 means the ranking against the best is not significant;
with fewer than ``min_orders`` parent orders no CI is given (and the table says so).

Model risk (the ranking under each market preset) is :mod:`.model_risk`; the Markdown, text and
HTML renderings are :mod:`.rendering`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from odum_pipeline.backtests.run_folder import FILLS_FILE
from odum_pipeline.instruments.currencies import format_money
from odum_pipeline.reports import tca
from odum_pipeline.reports.costs import RANK_METRIC
from odum_pipeline.reports.frontier import frontier_notes
from odum_pipeline.reports.model_risk import ModelRisk, model_risk
from odum_pipeline.reports.parents import entry_fills
from odum_pipeline.reports.report_runs import RunRecord, ensure_tca, latest_runs
from odum_pipeline.reports.statistics import (
    CONFIDENCE,
    N_RESAMPLES,
    SEED,
    bootstrap_mean_difference,
    jsonable,
    ordered_parents,
    paired_differences,
    same_orders,
    valid,
    weighted_mean,
)

MIN_ORDERS = 10


@dataclass
class Comparison:
    config: str
    config_sha: str
    runs: list[RunRecord]
    table: pd.DataFrame
    per_order: dict[str, pd.DataFrame]  # label -> tca.parquet rows
    fills: dict[str, pd.DataFrame]  # label -> fills.parquet (entry fills)
    notes: list[str] = field(default_factory=list)
    significant: bool | None = None  # None: too few orders for a CI
    look_ahead_runs: list[RunRecord] = field(default_factory=list)  # listed apart, not ranked
    setup: dict[str, Any] = field(default_factory=dict)  # what the runs compared share (see setup_of)
    model_risk: ModelRisk | None = None  # ranks under each market preset

    @property
    def best(self) -> str | None:
        return None if self.table.empty else str(self.table.iloc[0]["algorithm"])

    def rows(self) -> list[dict[str, Any]]:
        return [{k: jsonable(v) for k, v in row.items()} for row in self.table.to_dict(orient="records")]


#: Figures of the run's TCA shown per algorithm.
TCA_FIGURES = (
    "parents", "fill_ratio", "unfilled_qty", "total_cost_bps", "mean_total_cost_bps", "total_cost",
    "implementation_shortfall_bps", "spread_cost_bps", "impact_cost_bps", "timing_cost_bps",
    "opportunity_cost_bps", "fees_bps", "execution_shortfall_bps", "vwap_slippage_bps", "spread_paid_bps",
    "markout_1s_bps", "markout_5s_bps", "markout_30s_bps", "participation_rate", "mean_time_to_complete_secs",
)  # fmt: skip
RUN_FIGURES = ("net_pnl", "realized_pnl", "fees", "max_drawdown", "max_drawdown_pct", "orders", "fills")


def compare_runs(
    config: str,
    records: list[RunRecord],
    *,
    notes: list[str] | None = None,
    n_resamples: int = N_RESAMPLES,
    seed: int = SEED,
    min_orders: int = MIN_ORDERS,
    include_look_ahead: bool = False,
) -> Comparison:
    """The ranked table of one config's runs (each run must already have its TCA)."""
    notes = list(notes or [])
    look_ahead = [] if include_look_ahead else [r for r in records if r.look_ahead]
    ranked = [r for r in records if r not in look_ahead]
    if look_ahead:
        notes.append(
            f"Not ranked: {', '.join(r.label for r in look_ahead)} used information from after its decision "
            "times (look-ahead, see each run's summary.look_ahead); `odum compare --include-look-ahead` ranks it too."
        )
    per_order, fills, rows = {}, {}, []
    for record in ranked:
        per_order[record.label] = ordered_parents(tca.read_tca(record.path))
        fills[record.label] = _entry_fills(record.path)
        rows.append(_row(record))
    table = pd.DataFrame(rows)
    significant = None
    if not table.empty:
        ranking = table[RANK_METRIC].astype(float).fillna(np.inf)
        table = table.assign(_key=ranking).sort_values(["_key", "algorithm"], kind="stable").drop(columns="_key")
        table.insert(0, "rank", range(1, len(table) + 1))
        table = table.reset_index(drop=True)
        significant = _add_confidence(table, per_order, notes, n_resamples=n_resamples, seed=seed, min_orders=min_orders)
        notes += frontier_notes(per_order)
    return Comparison(
        config=config,
        config_sha=ranked[0].config_sha if ranked else (records[0].config_sha if records else ""),
        runs=ranked,
        table=table,
        per_order=per_order,
        fills=fills,
        notes=notes,
        significant=significant,
        look_ahead_runs=look_ahead,
        setup=setup_of(records[0].summary) if records else {},
    )


def _row(record: RunRecord) -> dict[str, Any]:
    figures, tca_figures = record.summary.get("summary", {}), record.summary.get("tca", {})
    return {
        "algorithm": record.label,
        "run_id": record.run_id,
        "algorithm_version": record.algorithm.get("version"),
        "look_ahead": record.look_ahead,
        **{name: tca_figures.get(name) for name in TCA_FIGURES},
        **{name: figures.get(name) for name in RUN_FIGURES},
        **_money_texts(record.summary),
    }


def setup_of(summary: dict[str, Any]) -> dict[str, Any]:
    """What the compared runs share: instrument, window, market model (the report says which setup it shows)."""
    config = summary.get("config") or {}
    return {
        "config": config.get("name"),
        "setup_sha256": config.get("setup_sha256") or config.get("sha256"),
        "instrument": (summary.get("instrument") or {}).get("instrument_id"),
        "window": summary.get("window"),
        "market": summary.get("market") or {},
    }


def _add_confidence(table, per_order, notes, *, n_resamples, seed, min_orders) -> bool | None:
    best = table.iloc[0]["algorithm"]
    best_orders = per_order[best]
    low, high, diff, sig, text = [], [], [], [], []
    any_ci, all_significant = False, True
    for label in table["algorithm"]:
        if label == best:
            low.append(np.nan), high.append(np.nan), diff.append(0.0), sig.append(None), text.append("best")
            continue
        orders = per_order[label]
        paired = same_orders(orders, best_orders)
        n = min(orders[RANK_METRIC].notna().sum(), best_orders[RANK_METRIC].notna().sum())
        if n < min_orders:
            low.append(np.nan), high.append(np.nan), sig.append(None)
            gap = _mean_gap(orders, best_orders, paired) if n else np.nan
            diff.append(gap)
            text.append(f"{gap:+.3f} (n={n}: too few orders for a CI)")
            continue
        result = bootstrap_mean_difference(
            orders[RANK_METRIC].to_numpy(dtype=float),
            best_orders[RANK_METRIC].to_numpy(dtype=float),
            paired=paired,
            n_resamples=n_resamples,
            seed=seed,
            weights=_arrival_values(orders),
            best_weights=_arrival_values(best_orders),
        )
        any_ci = True
        all_significant &= result["significant"]
        low.append(result["low"]), high.append(result["high"]), diff.append(result["difference"])
        sig.append(result["significant"])
        verdict = "significant" if result["significant"] else "not significant"
        text.append(f"{result['difference']:+.3f} [{result['low']:+.3f}, {result['high']:+.3f}] {verdict}")
    table["diff_vs_best_bps"], table["ci_low_bps"], table["ci_high_bps"] = diff, low, high
    table["significant"], table["diff_vs_best"] = sig, text
    if len(table) < 2:
        return None
    if not any_ci:
        notes.append(
            f"Fewer than {min_orders} parent orders per algorithm: the ranking by total cost "
            "has no confidence interval and must not be read as significant."
        )
        return None
    not_significant = [label for label, s in zip(table["algorithm"], sig) if s is False]
    if not_significant:
        notes.append(
            f"Ranking not significant against the best ({best}) for: {', '.join(not_significant)} "
            f"(the {CONFIDENCE:.0%} bootstrap CI of the mean per-parent total-cost difference includes 0)."
        )
    return all_significant and None not in sig[1:]


def _arrival_values(orders: pd.DataFrame) -> np.ndarray:
    """Each parent's weight in its run's total cost: its arrival value Q·M0."""
    return orders["arrival_value"].astype(float).to_numpy()


def _mean_gap(orders: pd.DataFrame, best: pd.DataFrame, paired: bool) -> float:
    """Arrival-value-weighted mean per-parent difference (paired when both ran the same parents)."""
    values, reference = orders[RANK_METRIC].to_numpy(dtype=float), best[RANK_METRIC].to_numpy(dtype=float)
    weights, best_weights = _arrival_values(orders), _arrival_values(best)
    if paired:
        return weighted_mean(*paired_differences(values, reference, weights))
    return weighted_mean(*valid(values, weights)) - weighted_mean(*valid(reference, best_weights))


def _entry_fills(report_dir: Path) -> pd.DataFrame:
    path = report_dir / FILLS_FILE
    if not path.is_file():
        return pd.DataFrame(columns=["ts_event", "side", "last_px", "last_qty"])
    return entry_fills(pd.read_parquet(path)).reset_index(drop=True)


def build_comparisons(
    results_root: str | Path,
    catalog_root: str | Path,
    *,
    config: str | None = None,
    refresh_tca: bool = False,
    include_look_ahead: bool = False,
    **kwargs,
) -> tuple[list[Comparison], list[str]]:
    """Every config's comparison (TCA computed first where missing); and the run ids whose TCA was computed."""
    selected, notes = latest_runs(results_root, config)
    comparisons, computed = [], []
    for name, records in selected.items():
        computed += ensure_tca(records, catalog_root, refresh=refresh_tca)
        comparison = compare_runs(name, records, notes=notes.get(name), include_look_ahead=include_look_ahead, **kwargs)
        comparison.model_risk, risk_computed = model_risk(
            comparison.setup, comparison.table, results_root, catalog_root, include_look_ahead=include_look_ahead
        )
        computed += risk_computed
        comparisons.append(comparison)
    return comparisons, computed


def _money_texts(summary: dict[str, Any]) -> dict[str, Any]:
    """The money columns as text with their currency (``-0.00023230 BTC``); runs before currencies
    were recorded are in their settlement currency, which the summary did not name."""
    figures, currency = summary.get("summary", {}), summary.get("currency")
    fee_currency = (summary.get("currencies") or {}).get("fee_currency", currency)

    def text(value, code):
        if value is None:
            return None
        return format_money(value, code) if code else f"{value:.2f}"

    return {
        "currency": currency,
        "net_pnl_text": text(figures.get("net_pnl"), currency),
        "fees_text": text(figures.get("fees"), fee_currency),
        "max_drawdown_text": text(figures.get("max_drawdown"), currency),
    }
