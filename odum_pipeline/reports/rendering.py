"""The comparison as Markdown (Dagster metadata), a fixed-width text table (``odum compare``) and a
self-contained HTML report (``<results>/comparison/<config>.html``)."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import numpy as np

from odum_pipeline.backtests.run_folder import COMPARISON_DIR
from odum_pipeline.files import atomic_write
from odum_pipeline.reports.compare import Comparison
from odum_pipeline.reports.model_risk import PRESETS, ModelRisk
from odum_pipeline.reports.statistics import CONFIDENCE

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


def html_path(results_root: str | Path, config: str) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in config)
    return Path(results_root) / COMPARISON_DIR / f"{safe}.html"


def write_html(comparison: Comparison, results_root: str | Path, charts: dict[str, bytes] | None = None) -> Path:
    return atomic_write(html_path(results_root, comparison.config), render_html(comparison, charts))
