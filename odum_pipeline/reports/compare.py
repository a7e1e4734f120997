"""Compare execution algorithms per backtest config from the report-mode runs under a results root.

Dagster-free (the ``comparison_report`` asset and ``odum compare`` both call :func:`build_comparisons`).

Which runs: every ``report/<run_id>/summary.json``. Per config name, the config version (sha256)
of the most recently written run is the one compared (runs of older versions of the config are
left out and counted in the notes); within it the latest run (by the time its ``summary.json``
was written: run ids carry the window start, not the run time) per algorithm variant. An
algorithm's label is ``summary.algorithm.label`` when the engine records one, else its name, with
its parameters appended when one config ran several parameter sets of the same algorithm.

Ranking: by the run's quantity-weighted implementation shortfall (bps, positive = cost; lower is
better). Significance: a bootstrap (numpy, fixed seed, 2000 resamples by default) of the mean
per-order shortfall difference of each algorithm to the best one, paired order by order when both
ran the same parent orders (same arrival, side, quantity), else the two samples resampled
independently. A 95% CI that contains 0 means the ranking against the best is not significant;
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

from odum_pipeline.reports import tca
from odum_pipeline.reports.frontier import frontier_notes

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
    ("implementation_shortfall_bps", "IS bps", "{:.3f}"),
    ("diff_vs_best", "Δ IS vs best (95% CI)", "{}"),
    ("vwap_slippage_bps", "vs VWAP bps", "{:.3f}"),
    ("spread_paid_bps", "spread bps", "{:.3f}"),
    ("fees_bps", "fees bps", "{:.3f}"),
    ("markout_1s_bps", "markout 1s", "{:.3f}"),
    ("markout_5s_bps", "markout 5s", "{:.3f}"),
    ("markout_30s_bps", "markout 30s", "{:.3f}"),
    ("participation_rate", "participation", "{:.4f}"),
    ("mean_time_to_complete_secs", "time to complete s", "{:.1f}"),
    ("net_pnl", "net PnL", "{:.2f}"),
    ("fees", "fees", "{:.2f}"),
    ("max_drawdown", "max drawdown", "{:.2f}"),
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
    """Per config name the latest run of each algorithm variant of its newest version, and notes."""
    by_config: dict[str, list[RunRecord]] = {}
    for record in discover_report_runs(results_root):
        if config is None or record.config_name == config:
            by_config.setdefault(record.config_name, []).append(record)
    selected, notes = {}, {}
    for name, records in sorted(by_config.items()):
        newest_sha = max(records, key=lambda r: (r.written_at, r.run_id)).config_sha
        current = [r for r in records if r.config_sha == newest_sha]
        older = len(records) - len(current)
        notes[name] = [f"{older} run(s) of older versions of this config left out."] if older else []
        latest: dict[tuple[str, str], RunRecord] = {}
        for record in sorted(current, key=lambda r: (r.written_at, r.run_id)):
            latest[record.variant_key] = record
        chosen = list(latest.values())
        _assign_labels(chosen)
        selected[name] = sorted(chosen, key=lambda r: r.label)
    return selected, notes


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
) -> dict[str, Any]:
    """Percentile bootstrap CI of ``mean(values) - mean(best)``.

    ``paired``: the i-th values are the same parent order (the differences are resampled);
    otherwise each sample is resampled on its own. ``significant`` = the CI excludes 0.
    """
    values, best = np.asarray(values, dtype=float), np.asarray(best, dtype=float)
    rng = np.random.default_rng(seed)
    if paired:
        if values.shape != best.shape:
            raise ValueError("paired bootstrap needs samples of equal length")
        keep = ~(np.isnan(values) | np.isnan(best))
        differences = values[keep] - best[keep]
        n = len(differences)
        if n == 0:
            raise ValueError("no paired observations")
        means = _resampled_means(differences, n_resamples, rng)
        observed = float(differences.mean())
    else:
        values, best = values[~np.isnan(values)], best[~np.isnan(best)]
        if not len(values) or not len(best):
            raise ValueError("empty sample")
        means = _resampled_means(values, n_resamples, rng) - _resampled_means(best, n_resamples, rng)
        observed = float(values.mean() - best.mean())
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


def _resampled_means(sample: np.ndarray, n_resamples: int, rng: np.random.Generator) -> np.ndarray:
    n = len(sample)
    rows = max(1, _BLOCK // n)
    blocks = []
    for start in range(0, n_resamples, rows):
        count = min(rows, n_resamples - start)
        blocks.append(sample[rng.integers(0, n, size=(count, n))].mean(axis=1))
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


def compare_runs(
    config: str,
    records: list[RunRecord],
    *,
    notes: list[str] | None = None,
    n_resamples: int = N_RESAMPLES,
    seed: int = SEED,
    min_orders: int = MIN_ORDERS,
) -> Comparison:
    """The ranked table of one config's runs (each run must already have its TCA)."""
    notes = list(notes or [])
    per_order, fills, rows = {}, {}, []
    for record in records:
        per_order[record.label] = _ordered(tca.read_tca(record.path))
        fills[record.label] = _entry_fills(record.path)
        figures, tca_figures = record.summary.get("summary", {}), record.summary.get("tca", {})
        rows.append(
            {
                "algorithm": record.label,
                "run_id": record.run_id,
                "algorithm_version": record.algorithm.get("version"),
                "parents": tca_figures.get("parents"),
                "fill_ratio": tca_figures.get("fill_ratio"),
                "implementation_shortfall_bps": tca_figures.get("implementation_shortfall_bps"),
                "mean_shortfall_bps": tca_figures.get("mean_shortfall_bps"),
                "shortfall_cost": tca_figures.get("shortfall_cost"),
                "vwap_slippage_bps": tca_figures.get("vwap_slippage_bps"),
                "spread_paid_bps": tca_figures.get("spread_paid_bps"),
                "fees_bps": tca_figures.get("fees_bps"),
                "markout_1s_bps": tca_figures.get("markout_1s_bps"),
                "markout_5s_bps": tca_figures.get("markout_5s_bps"),
                "markout_30s_bps": tca_figures.get("markout_30s_bps"),
                "participation_rate": tca_figures.get("participation_rate"),
                "mean_time_to_complete_secs": tca_figures.get("mean_time_to_complete_secs"),
                "net_pnl": figures.get("net_pnl"),
                "realized_pnl": figures.get("realized_pnl"),
                "fees": figures.get("fees"),
                "max_drawdown": figures.get("max_drawdown"),
                "max_drawdown_pct": figures.get("max_drawdown_pct"),
                "orders": figures.get("orders"),
                "fills": figures.get("fills"),
            }
        )
    table = pd.DataFrame(rows)
    significant = None
    if not table.empty:
        ranking = table["implementation_shortfall_bps"].astype(float).fillna(np.inf)
        table = table.assign(_key=ranking).sort_values(["_key", "algorithm"], kind="stable").drop(columns="_key")
        table.insert(0, "rank", range(1, len(table) + 1))
        table = table.reset_index(drop=True)
        significant = _add_confidence(table, per_order, notes, n_resamples=n_resamples, seed=seed, min_orders=min_orders)
        notes += frontier_notes(per_order)
    return Comparison(
        config=config,
        config_sha=records[0].config_sha if records else "",
        runs=records,
        table=table,
        per_order=per_order,
        fills=fills,
        notes=notes,
        significant=significant,
    )


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
        n = min(orders["shortfall_bps"].notna().sum(), best_orders["shortfall_bps"].notna().sum())
        if n < min_orders:
            low.append(np.nan), high.append(np.nan), sig.append(None)
            gap = float(np.nanmean(orders["shortfall_bps"]) - np.nanmean(best_orders["shortfall_bps"])) if n else np.nan
            diff.append(gap)
            text.append(f"{gap:+.3f} (n={n}: too few orders for a CI)")
            continue
        result = bootstrap_mean_difference(
            orders["shortfall_bps"].to_numpy(dtype=float),
            best_orders["shortfall_bps"].to_numpy(dtype=float),
            paired=_same_orders(orders, best_orders),
            n_resamples=n_resamples,
            seed=seed,
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
            f"Fewer than {min_orders} parent orders per algorithm: the ranking by implementation shortfall "
            "has no confidence interval and must not be read as significant."
        )
        return None
    not_significant = [label for label, s in zip(table["algorithm"], sig) if s is False]
    if not_significant:
        notes.append(
            f"Ranking not significant against the best ({best}) for: {', '.join(not_significant)} "
            f"(the {CONFIDENCE:.0%} bootstrap CI of the mean per-order shortfall difference includes 0)."
        )
    return all_significant and None not in sig[1:]


def _entry_fills(report_dir: Path) -> pd.DataFrame:
    path = report_dir / "fills.parquet"
    if not path.is_file():
        return pd.DataFrame(columns=["ts_event", "side", "last_px", "last_qty"])
    return tca.entry_fills(pd.read_parquet(path)).reset_index(drop=True)


def build_comparisons(
    results_root: str | Path,
    catalog_root: str | Path,
    *,
    config: str | None = None,
    refresh_tca: bool = False,
    **kwargs,
) -> tuple[list[Comparison], list[str]]:
    """Every config's comparison (TCA computed first where missing); and the run ids whose TCA was computed."""
    selected, notes = latest_runs(results_root, config)
    comparisons, computed = [], []
    for name, records in selected.items():
        computed += ensure_tca(records, catalog_root, refresh=refresh_tca)
        comparisons.append(compare_runs(name, records, notes=notes.get(name), **kwargs))
    return comparisons, computed


# --- rendering -----------------------------------------------------------------------------------


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
<p class="muted">config sha256 {esc(comparison.config_sha)} · ranked by quantity-weighted implementation shortfall
vs the arrival mid (bps, positive = cost) · Δ IS: mean per-order shortfall difference to the best with its
{CONFIDENCE:.0%} bootstrap CI · markouts: mid move after each fill, positive = against us · every row names its run id.</p>
{notes}
<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>
{images}
</body></html>
"""


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
