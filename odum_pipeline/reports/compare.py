"""Compare execution algorithms per backtest config from the report-mode runs under a results root.

Dagster-free (the ``comparison_report`` asset and ``odum compare`` both call :func:`build_comparisons`).

Which runs: every ``report/<run_id>/summary.json``. Runs are compared when their *market setup*
is the same (``summary.config.setup_sha256``: instrument, window, parents, venue, market model,
data, risk), whichever algorithm they ran and however they were launched (the config's algorithm
list, ``run-backtest --exec_algorithm``, the ad-hoc job). Per config name, the setup of the most
recently created run is the one compared (runs of other setups are left out and counted in the
notes); within it the latest run (by ``created_at``) per algorithm variant. An algorithm's label is
``summary.algorithm.label`` when the engine records one, else its name, with its parameters
appended when one config ran several parameter sets of the same algorithm.

Look-ahead: a run whose summary says it used information from after its decision times
(``look_ahead.used``, e.g. a VWAP profile of the volume actually traded during the horizon) is not
ranked by default; it is listed apart, marked, and ``include_look_ahead`` ranks it too.

Ranking: by the run's total cost (``tca.total_cost_bps``: Perold implementation shortfall, with
the unfilled remainder's opportunity cost, plus fees, in bps of the arrival value; lower is
better). The "Δ vs best" column is on the same metric: the per-parent total-cost difference to the
best run, each parent weighted by its arrival value Q·M0 (so Δ is exactly the difference of the two
rows' total cost), paired parent by parent when both ran the same parent orders (same arrival,
side, quantity), else the two samples resampled independently. Significance: a bootstrap of that Δ
(numpy, fixed seed, 2000 resamples by default). A 95% CI that contains 0 means the ranking against the best is not significant;
with fewer than ``min_orders`` parent orders no CI is given (and the table says so).
"""

from __future__ import annotations

import datetime as dt
import html
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from odum_pipeline.instruments.currencies import format_money
from odum_pipeline.reports import tca
from odum_pipeline.reports.frontier import frontier_notes
from odum_pipeline.reports.parents import entry_fills

REPORT_DIR = "report"
COMPARISON_DIR = "comparison"
N_RESAMPLES = 2000
SEED = 20230405
MIN_ORDERS = 10
CONFIDENCE = 0.95

#: Table columns: (key, heading, format)
COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("rank", "rank", "{}"),
    ("algorithm", "algorithm", "{}"),
    ("run_id", "run id", "{}"),
    ("parents", "orders", "{}"),
    ("fill_ratio", "fill ratio", "{:.4f}"),
    ("total_cost_bps", "total cost bps", "{:.3f}"),
    ("diff_vs_best", "Δ total cost vs best (95% CI)", "{}"),
    ("implementation_shortfall_bps", "IS bps", "{:.3f}"),
    ("spread_cost_bps", "spread", "{:.3f}"),
    ("impact_cost_bps", "impact", "{:.3f}"),
    ("timing_cost_bps", "timing", "{:.3f}"),
    ("opportunity_cost_bps", "opportunity", "{:.3f}"),
    ("fees_bps", "fees bps", "{:.3f}"),
    ("vwap_slippage_bps", "vs VWAP bps", "{:.3f}"),
    ("markout_1s_bps", "markout 1s", "{:.3f}"),
    ("markout_5s_bps", "markout 5s", "{:.3f}"),
    ("markout_30s_bps", "markout 30s", "{:.3f}"),
    ("participation_rate", "participation", "{:.4f}"),
    ("mean_time_to_complete_secs", "time to complete s", "{:.1f}"),
    ("net_pnl_text", "net PnL", "{}"),  # money with its currency, at its precision (instruments.currencies)
    ("fees_text", "fees", "{}"),
    ("max_drawdown_text", "max drawdown", "{}"),
)


@dataclass
class RunRecord:
    run_id: str
    path: Path
    summary: dict[str, Any]
    written_at: float
    label: str = ""

    @property
    def config_name(self) -> str:
        return config_name(self.summary)

    @property
    def config_sha(self) -> str:
        return str((self.summary.get("config") or {}).get("sha256", ""))

    @property
    def setup_sha(self) -> str:
        """The comparison key (runs written before it was recorded: their config version)."""
        config = self.summary.get("config") or {}
        return str(config.get("setup_sha256") or config.get("sha256", ""))

    @property
    def look_ahead(self) -> bool:
        return bool((self.summary.get("look_ahead") or {}).get("used"))

    @property
    def market_preset(self) -> str | None:
        return (self.summary.get("market") or {}).get("preset")

    @property
    def model_risk_of(self) -> str | None:
        """The main setup this run re-ran under another market preset (None: a main run)."""
        return (self.summary.get("model_risk") or {}).get("of_setup_sha256")

    @property
    def algorithm(self) -> dict[str, Any]:
        return self.summary.get("algorithm") or {}

    @property
    def variant_key(self) -> tuple[str, str]:
        return str(self.algorithm.get("name")), json.dumps(self.algorithm.get("params") or {}, sort_keys=True, default=str)


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
        return [{k: _jsonable(v) for k, v in row.items()} for row in self.table.to_dict(orient="records")]


# --- finding the runs ----------------------------------------------------------------------------


def config_name(summary: dict[str, Any]) -> str:
    """The config a run belongs to: its name, else ``unnamed-<sha256 prefix>``."""
    config = summary.get("config") or {}
    return config.get("name") or f"unnamed-{str(config.get('sha256', ''))[:6]}"


def discover_report_runs(results_root: str | Path) -> list[RunRecord]:
    root = Path(results_root) / REPORT_DIR
    records = []
    for summary_path in sorted(root.glob("*/summary.json")) if root.is_dir() else []:
        try:
            summary = json.loads(summary_path.read_text())
        except (OSError, ValueError):
            continue  # a half-written or foreign file: not a complete report
        if summary.get("mode", "report") != "report":
            continue
        records.append(
            RunRecord(summary.get("run_id", summary_path.parent.name), summary_path.parent, summary, _written_at(summary, summary_path))
        )
    return records


def _written_at(summary: dict[str, Any], summary_path: Path) -> float:
    """When the run was written: its ``created_at``; the file's mtime only for runs that lack one.

    Not the mtime first: writing TCA into ``summary.json`` later, or copying the run from GCS,
    changes it without making the run any newer."""
    created = summary.get("created_at")
    if created:
        try:
            return dt.datetime.fromisoformat(str(created).replace("Z", "+00:00")).timestamp()
        except ValueError:
            pass
    return summary_path.stat().st_mtime


def latest_runs(results_root: str | Path, config: str | None = None) -> tuple[dict[str, list[RunRecord]], dict[str, list[str]]]:
    """Per config name the latest run of each algorithm variant of its newest market setup, and notes.
    Model-risk runs (the same config under another market preset) are not part of it: see ``model_risk``."""
    by_config: dict[str, list[RunRecord]] = {}
    for record in discover_report_runs(results_root):
        if record.model_risk_of is not None:
            continue
        if config is None or record.config_name == config:
            by_config.setdefault(record.config_name, []).append(record)
    selected, notes = {}, {}
    for name, records in sorted(by_config.items()):
        newest_setup = max(records, key=lambda r: (r.written_at, r.run_id)).setup_sha
        current = [r for r in records if r.setup_sha == newest_setup]
        older = len(records) - len(current)
        notes[name] = (
            [f"{older} run(s) of other market setups of this config (other versions, windows or market models) left out."]
            if older
            else []
        )
        selected[name] = latest_per_variant(current)
    return selected, notes


def latest_per_variant(records: list[RunRecord]) -> list[RunRecord]:
    """The latest run of each algorithm variant, labelled, sorted by label."""
    latest: dict[tuple[str, str], RunRecord] = {}
    for record in sorted(records, key=lambda r: (r.written_at, r.run_id)):
        latest[record.variant_key] = record
    chosen = list(latest.values())
    _assign_labels(chosen)
    return sorted(chosen, key=lambda r: r.label)


def _assign_labels(records: list[RunRecord]) -> None:
    names = [r.variant_key[0] for r in records]
    for record in records:
        explicit = record.algorithm.get("label")
        name = record.variant_key[0]
        if explicit:
            record.label = str(explicit)
        elif names.count(name) > 1:
            params = record.algorithm.get("params") or {}
            record.label = f"{name}(" + ",".join(f"{k}={v}" for k, v in sorted(params.items())) + ")"
        else:
            record.label = name


def ensure_tca(records: list[RunRecord], catalog_root: str | Path, *, refresh: bool = False) -> list[str]:
    """Compute TCA for the runs lacking a current one; returns the run ids (re)computed."""
    computed = []
    for record in records:
        if refresh or not tca.has_current_tca(record.path):
            tca.write_tca(record.path, catalog_root)
            computed.append(record.run_id)
            record.summary = json.loads((record.path / tca.SUMMARY_FILE).read_text())
    return computed


# --- statistics ----------------------------------------------------------------------------------


def bootstrap_mean_difference(
    values: np.ndarray,
    best: np.ndarray,
    *,
    paired: bool,
    n_resamples: int = N_RESAMPLES,
    seed: int = SEED,
    confidence: float = CONFIDENCE,
    weights: np.ndarray | None = None,
    best_weights: np.ndarray | None = None,
) -> dict[str, Any]:
    """Percentile bootstrap CI of ``mean(values) - mean(best)``, weighted means when weights are given.

    ``paired``: the i-th values are the same parent order (the differences are resampled, with the
    parents' ``weights``); otherwise each sample is resampled on its own (``weights`` and
    ``best_weights``). With each parent weighted by its arrival value Q·M0 the observed difference is
    exactly the difference of the two runs' ``total_cost_bps``. ``significant`` = the CI excludes 0.
    """
    values, best = np.asarray(values, dtype=float), np.asarray(best, dtype=float)
    weights = np.ones_like(values) if weights is None else np.asarray(weights, dtype=float)
    best_weights = (weights if paired else np.ones_like(best)) if best_weights is None else np.asarray(best_weights, dtype=float)
    rng = np.random.default_rng(seed)
    if paired:
        if values.shape != best.shape:
            raise ValueError("paired bootstrap needs samples of equal length")
        differences, kept_weights = _paired_differences(values, best, weights)
        n = len(differences)
        if n == 0:
            raise ValueError("no paired observations")
        means = _resampled_means(differences, n_resamples, rng, kept_weights)
        observed = _weighted_mean(differences, kept_weights)
    else:
        (values, weights), (best, best_weights) = _valid(values, weights), _valid(best, best_weights)
        if not len(values) or not len(best):
            raise ValueError("empty sample")
        means = _resampled_means(values, n_resamples, rng, weights) - _resampled_means(best, n_resamples, rng, best_weights)
        observed = _weighted_mean(values, weights) - _weighted_mean(best, best_weights)
        n = min(len(values), len(best))
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return {
        "difference": observed,
        "low": float(low),
        "high": float(high),
        "significant": bool(low > 0 or high < 0),
        "paired": paired,
        "n": int(n),
        "resamples": n_resamples,
        "seed": seed,
        "confidence": confidence,
    }


#: Resampling indices are drawn in blocks of at most this many, so a run with 100k orders does not
#: allocate a 2000 x 100k index matrix at once.
_BLOCK = 4_000_000


def _paired_differences(values: np.ndarray, best: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-parent differences and their weights, where both runs (and the weight) have a value."""
    keep = ~(np.isnan(values) | np.isnan(best) | np.isnan(weights))
    return values[keep] - best[keep], weights[keep]


def _valid(values: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    keep = ~np.isnan(values) & ~np.isnan(weights)
    return values[keep], weights[keep]


def _weighted_mean(sample: np.ndarray, weights: np.ndarray) -> float:
    return float(np.sum(sample * weights) / np.sum(weights))


def _resampled_means(sample: np.ndarray, n_resamples: int, rng: np.random.Generator, weights: np.ndarray | None = None) -> np.ndarray:
    n = len(sample)
    weights = np.ones(n) if weights is None else weights
    rows = max(1, _BLOCK // n)
    blocks = []
    for start in range(0, n_resamples, rows):
        count = min(rows, n_resamples - start)
        index = rng.integers(0, n, size=(count, n))
        blocks.append((sample[index] * weights[index]).sum(axis=1) / weights[index].sum(axis=1))
    return np.concatenate(blocks)


def _same_orders(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    keys = ["arrival_ns", "side", "requested_qty"]
    if len(a) != len(b):
        return False
    left = a[keys].sort_values(keys).reset_index(drop=True)
    right = b[keys].sort_values(keys).reset_index(drop=True)
    return left.equals(right)


def _ordered(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(["arrival_ns", "side", "requested_qty"], kind="stable").reset_index(drop=True)


# --- the comparison ------------------------------------------------------------------------------


RANK_METRIC = "total_cost_bps"
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
        per_order[record.label] = _ordered(tca.read_tca(record.path))
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
        paired = _same_orders(orders, best_orders)
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
        return _weighted_mean(*_paired_differences(values, reference, weights))
    return _weighted_mean(*_valid(values, weights)) - _weighted_mean(*_valid(reference, best_weights))


def _entry_fills(report_dir: Path) -> pd.DataFrame:
    path = report_dir / "fills.parquet"
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
            comparison, results_root, catalog_root, include_look_ahead=include_look_ahead
        )
        computed += risk_computed
        comparisons.append(comparison)
    return comparisons, computed


# --- model risk: the ranking under each market preset ---------------------------------------------

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
    comparison: Comparison, results_root: str | Path, catalog_root: str | Path, *, include_look_ahead: bool = False
) -> tuple[ModelRisk | None, list[str]]:
    """The comparison's algorithms ranked by total cost under each market preset: the main runs
    under the config's own preset, its model-risk runs under the others. Returns the TCA run ids
    computed on the way."""
    setup = (comparison.setup or {}).get("setup_sha256")
    main_preset = ((comparison.setup or {}).get("market") or {}).get("preset")
    if not setup or not main_preset or comparison.table.empty:
        return None, []
    by_preset: dict[str, list[RunRecord]] = {}
    for record in discover_report_runs(results_root):
        if record.model_risk_of == setup and record.market_preset:
            by_preset.setdefault(record.market_preset, []).append(record)
    computed: list[str] = []
    ranks = {main_preset: {str(r["algorithm"]): int(r["rank"]) for r in comparison.table.to_dict(orient="records")}}
    costs = {main_preset: {str(r["algorithm"]): _jsonable(r.get(RANK_METRIC)) for r in comparison.table.to_dict(orient="records")}}
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


def _risk_cell(row: dict[str, Any], preset: str) -> str:
    """"rank (total cost bps)" of one algorithm under one preset, "–" without a run."""
    if row[f"rank_{preset}"] is None:
        return "–"
    return f"{row[f'rank_{preset}']} ({_cell(row[f'total_cost_bps_{preset}'], '{:.3f}')})"


def model_risk_markdown(risk: ModelRisk | None) -> str:
    if risk is None:
        return ""
    head = "| algorithm | " + " | ".join(f"rank {p} (total cost bps)" for p in PRESETS) + " |"
    rule = "|---|" + "---|" * len(PRESETS)
    body = [
        f"| {row['algorithm']} | "
        + " | ".join(_risk_cell(row, p) for p in PRESETS)
        + " |"
        for row in risk.rows()
    ]
    return "\n".join([f"**Model risk**: {risk.verdict}", "", head, rule, *body])


# --- rendering -----------------------------------------------------------------------------------


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


def _cell(value: Any, fmt: str) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "–"
    try:
        return fmt.format(value)
    except (ValueError, TypeError):
        return str(value)


def markdown_table(comparison: Comparison) -> str:
    if comparison.table.empty:
        return f"No report-mode runs for config `{comparison.config}`."
    head = "| " + " | ".join(h for _, h, _ in COLUMNS) + " |"
    rule = "|" + "---|" * len(COLUMNS)
    rows = [
        "| " + " | ".join(_cell(row.get(k), f).replace("|", "\\|") for k, _, f in COLUMNS) + " |"
        for row in comparison.table.to_dict(orient="records")
    ]
    return "\n".join([head, rule, *rows])


def text_table(comparison: Comparison) -> str:
    """A fixed-width table for the terminal."""
    if comparison.table.empty:
        return f"no report-mode runs for config {comparison.config}"
    cells = [[h for _, h, _ in COLUMNS]] + [
        [_cell(row.get(k), f) for k, _, f in COLUMNS] for row in comparison.table.to_dict(orient="records")
    ]
    widths = [max(len(r[i]) for r in cells) for i in range(len(COLUMNS))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px;color:#1f2328}
h1{font-size:20px} h2{font-size:16px;margin-top:28px}
table{border-collapse:collapse;font-size:12px} th,td{border:1px solid #d0d7de;padding:4px 8px;text-align:right}
th{background:#f6f8fa} td:nth-child(2),td:nth-child(3),td:nth-child(7){text-align:left}
tr.best td{background:#e6ffec} .note{background:#fff8c5;border:1px solid #d4a72c;padding:8px;margin:8px 0}
.muted{color:#656d76;font-size:12px} img{max-width:100%;border:1px solid #d0d7de;margin:6px 0}
"""


def render_html(comparison: Comparison, charts: dict[str, bytes] | None = None) -> str:
    import base64

    esc = html.escape
    head = "".join(f"<th>{esc(h)}</th>" for _, h, _ in COLUMNS)
    body = []
    for row in comparison.table.to_dict(orient="records"):
        cls = ' class="best"' if row.get("rank") == 1 else ""
        body.append(f"<tr{cls}>" + "".join(f"<td>{esc(_cell(row.get(k), f))}</td>" for k, _, f in COLUMNS) + "</tr>")
    notes = "".join(f'<div class="note">{esc(n)}</div>' for n in comparison.notes)
    images = "".join(
        f"<h2>{esc(title)}</h2><img alt=\"{esc(title)}\" src=\"data:image/png;base64,{base64.b64encode(png).decode()}\">"
        for title, png in (charts or {}).items()
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Algorithm comparison: {esc(comparison.config)}</title>
<style>{_CSS}</style></head><body>
<h1>Execution algorithm comparison: {esc(comparison.config)}</h1>
<p class="muted">config sha256 {esc(comparison.config_sha)} · {esc(setup_line(comparison))} · ranked by total cost:
Perold implementation shortfall vs the arrival mid (with the unfilled remainder's opportunity cost at the end
mark) plus fees, in bps of the arrival value (positive = cost) · total = spread + impact + timing + opportunity +
fees · Δ: mean per-parent total-cost difference to the best with its {CONFIDENCE:.0%} bootstrap CI (paired) ·
markouts: mid move after each fill, positive = against us · every row names its run id.</p>
{look_ahead_html(comparison)}
{notes}
<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>
{model_risk_html(comparison.model_risk)}
{images}
</body></html>
"""


def setup_line(comparison: Comparison) -> str:
    """One line naming the market setup the comparison shows (and what its numbers assume)."""
    setup = comparison.setup or {}
    market = setup.get("market") or {}
    window = setup.get("window") or {}
    model = (
        f"market model {market.get('preset', '?')}: order latency {market.get('order_latency_ms', 0):g} ms, "
        f"liquidity consumption {'on' if market.get('liquidity_consumption') else 'off'}, "
        f"queue position {'on' if market.get('queue_position') else 'off'}, "
        f"impact {'on' if market.get('impact') else 'off'}"
        if market
        else "market model not recorded (runs before the market model)"
    )
    return (
        f"setup {str(setup.get('setup_sha256', ''))[:12]}: {setup.get('instrument', '?')} "
        f"{window.get('start', '?')} .. {window.get('end', '?')}; {model}"
    )


def look_ahead_html(comparison: Comparison) -> str:
    if not comparison.look_ahead_runs:
        return ""
    items = "".join(
        f"<li><b>{html.escape(r.label)}</b> ({html.escape(r.run_id)}): "
        f"{html.escape('; '.join((r.summary.get('look_ahead') or {}).get('reasons', [])))}</li>"
        for r in comparison.look_ahead_runs
    )
    return f'<div class="note"><b>Look-ahead runs, not ranked:</b><ul>{items}</ul></div>'


def model_risk_html(risk: ModelRisk | None) -> str:
    if risk is None:
        return ""
    esc = html.escape
    head = "<th>algorithm</th>" + "".join(f"<th>rank {p} (total cost bps)</th>" for p in PRESETS)
    body = "".join(
        f"<tr><td>{esc(row['algorithm'])}</td>"
        + "".join(f"<td>{esc(_risk_cell(row, p))}</td>" for p in PRESETS)
        + "</tr>"
        for row in risk.rows()
    )  # fmt: skip
    return f'<h2>Model risk</h2><p>{esc(risk.verdict)}</p><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def html_path(results_root: str | Path, config: str) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in config)
    return Path(results_root) / COMPARISON_DIR / f"{safe}.html"


def write_html(comparison: Comparison, results_root: str | Path, charts: dict[str, bytes] | None = None) -> Path:
    path = html_path(results_root, comparison.config)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(render_html(comparison, charts), encoding="utf-8")
    os.replace(temporary, path)
    return path


def _jsonable(value: Any) -> Any:
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return float(value) if np.isfinite(value) else None
    if isinstance(value, np.bool_):
        return bool(value)
    return value
