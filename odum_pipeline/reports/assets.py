"""Dagster asset ``comparison_report``: one ranked algorithm comparison per backtest config.

Partitioned by config (the same dynamic ``config`` dimension as ``backtest_run``), depending on
every ``backtest_run`` partition of that config (``MultiToSingleDimensionPartitionMapping``): a new
run of config A's algorithms makes only A's report stale, reports of different configs
materialize independently, and each partition's metadata holds just its own table and charts
(Dagster plots numeric metadata per partition). The upstream is named by ``AssetKey`` so this
module does not import the backtest assets (no import cycle).

Each materialization computes TCA for the config's runs lacking a current one, writes
``<results>/comparison/<config>.html`` (a ``gs://`` results root through a local working copy,
see :mod:`odum_pipeline.reports.results_copy`) and reports the table (Markdown and table metadata, every
row naming its run id), the charts as PNG inside Markdown and the HTML path; ``report`` is the
whole HTML report as one Markdown document (notes, table, every chart), so the UI shows all of it
and the HTML path is only for download.
"""


import warnings

from dagster import (
    AssetDep,
    AssetExecutionContext,
    AssetKey,
    BetaWarning,
    Config,
    MaterializeResult,
    MetadataValue,
    MultiToSingleDimensionPartitionMapping,
    TableColumn,
    TableRecord,
    TableSchema,
    asset,
)
from pydantic import Field

from odum_pipeline.backtests.partitions import config_partitions
from odum_pipeline.backtests.resources import ResultsResource
from odum_pipeline.catalog.resources import CatalogResource
from odum_pipeline.charts import png_markdown
from odum_pipeline.reports import compare, rendering
from odum_pipeline.reports.automation import report_refresh_condition
from odum_pipeline.reports.compare_charts import comparison_charts
from odum_pipeline.reports.frontier import frontier_markdown
from odum_pipeline.reports.results_copy import working_copy

BACKTEST_RUN = AssetKey("backtest_run")
with warnings.catch_warnings():  # beta in Dagster 1.13, and the documented way to map one dimension
    warnings.simplefilter("ignore", BetaWarning)
    BY_CONFIG = MultiToSingleDimensionPartitionMapping(partition_dimension_name="config")

#: Columns of the table metadata: (key, Dagster column type)
TABLE_COLUMNS = (
    ("rank", "int"), ("algorithm", "string"), ("run_id", "string"), ("parents", "int"), ("fill_ratio", "float"),
    ("total_cost_bps", "float"), ("diff_vs_best_bps", "float"), ("ci_low_bps", "float"), ("ci_high_bps", "float"),
    ("significant", "bool"), ("implementation_shortfall_bps", "float"), ("spread_cost_bps", "float"),
    ("impact_cost_bps", "float"), ("timing_cost_bps", "float"), ("opportunity_cost_bps", "float"),
    ("vwap_slippage_bps", "float"), ("spread_paid_bps", "float"), ("fees_bps", "float"), ("markout_1s_bps", "float"), ("markout_5s_bps", "float"), ("markout_30s_bps", "float"),
    ("participation_rate", "float"), ("mean_time_to_complete_secs", "float"), ("net_pnl", "float"),
    ("fees", "float"), ("max_drawdown", "float"), ("currency", "string"),
)  # fmt: skip


class ComparisonReportConfig(Config):
    include_look_ahead: bool = Field(
        default=False, description="Rank runs that used information from after their decision times too."
    )


@asset(
    partitions_def=config_partitions,
    group_name="reports",
    code_version=f"comparison-v1-{compare.tca.TCA_VERSION}",
    deps=[AssetDep(BACKTEST_RUN, partition_mapping=BY_CONFIG)],
    automation_condition=report_refresh_condition(),
    description="Algorithms of one config ranked by total cost (implementation shortfall + fees), with TCA, PnL, risk, "
    "bootstrap confidence intervals, charts and a self-contained HTML report.",
)
def comparison_report(
    context: AssetExecutionContext, config: ComparisonReportConfig, results: ResultsResource, catalog: CatalogResource
) -> MaterializeResult:
    config_name = context.partition_key
    with working_copy(results.path, config=config_name) as copy:
        comparisons, computed = compare.build_comparisons(
            copy.root, catalog.path, config=config_name, include_look_ahead=config.include_look_ahead
        )
        if computed:
            context.log.info(f"TCA computed for {len(computed)} run(s): {', '.join(computed)}")
        if not comparisons:
            context.log.warning(f"no report-mode runs of config {config_name!r} under {results.path}")
            return MaterializeResult(
                metadata={"note": MetadataValue.text(f"no report-mode runs of config {config_name!r} under {results.path}")}
            )
        comparison = comparisons[0]
        charts = comparison_charts(comparison, catalog.path)
        path = copy.location_of(rendering.write_html(comparison, copy.root, charts))
    return MaterializeResult(metadata=comparison_metadata(comparison, charts, path, computed))


def comparison_metadata(comparison: "compare.Comparison", charts: dict, html_path, computed: list) -> dict:
    notes = "\n\n".join(f"> {note}" for note in comparison.notes)
    metadata = {
        "report": MetadataValue.md(report_markdown(comparison, charts, html_path)),
        "comparison": MetadataValue.md(
            f"### {comparison.config}\n\n{rendering.setup_line(comparison)}\n\n{rendering.markdown_table(comparison)}\n\n"
            f"{rendering.model_risk_markdown(comparison.model_risk)}\n\n{notes}".strip()
        ),
        "table": MetadataValue.table(
            records=[
                TableRecord({key: _record_value(row.get(key), kind) for key, kind in TABLE_COLUMNS})
                for row in comparison.rows()
            ],
            schema=TableSchema(columns=[TableColumn(key, kind) for key, kind in TABLE_COLUMNS]),
        ),
        "charts": MetadataValue.md("\n\n".join(f"**{title}**\n\n{png_markdown(png, title)}" for title, png in charts.items())),
        "html_report": MetadataValue.path(str(html_path)),
        "best_algorithm": MetadataValue.text(comparison.best or ""),
        "market_setup": MetadataValue.text(rendering.setup_line(comparison)),
        "model_risk": MetadataValue.md(rendering.model_risk_markdown(comparison.model_risk) or "no model-risk runs"),
        "look_ahead_runs": MetadataValue.json(
            {r.label: (r.summary.get("look_ahead") or {}).get("reasons", []) for r in comparison.look_ahead_runs}
        ),
        "ranking_significant": MetadataValue.text(
            {True: "yes", False: "no", None: "not assessed (too few orders)"}[comparison.significant]
        ),
        "run_ids": MetadataValue.json({r.label: r.run_id for r in comparison.runs}),
        "config_sha256": MetadataValue.text(comparison.config_sha),
        "tca_computed_for": MetadataValue.json(computed),
        "frontier": MetadataValue.md(frontier_markdown(comparison.per_order)),
    }
    for row in comparison.rows():  # numeric metadata: Dagster plots these across materializations
        value = row.get("total_cost_bps")
        metadata[f"total_cost_bps/{row['algorithm']}"] = MetadataValue.float(value) if value is not None else MetadataValue.null()
    return metadata


def report_markdown(comparison: "compare.Comparison", charts: dict, html_path) -> str:
    """Everything the HTML report shows, as Markdown: title, notes, the ranked table, every chart."""
    parts = [
        f"## Execution algorithm comparison: {comparison.config}",
        f"config sha256 `{comparison.config_sha}` · {rendering.setup_line(comparison)} · ranked by total cost: "
        "Perold implementation shortfall vs the arrival mid (with the unfilled remainder's opportunity cost) "
        "plus fees, in bps of the arrival value (positive = cost) · every row names its run id · "
        f"HTML for download: `{html_path}`",
        *(f"> {note}" for note in comparison.notes),
        rendering.markdown_table(comparison),
        rendering.model_risk_markdown(comparison.model_risk),
        *(f"### {title}\n\n{png_markdown(png, title)}" for title, png in charts.items()),
    ]
    return "\n\n".join(parts)


def _record_value(value, kind: str):
    if value is None:
        return None
    if kind == "int":
        return int(value)
    if kind == "float":
        return float(value)
    if kind == "bool":
        return bool(value)
    return str(value)
