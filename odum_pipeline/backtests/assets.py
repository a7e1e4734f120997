"""Dagster definition of backtest runs: one partition per (config, algorithm)."""

import time
from pathlib import Path

from dagster import (
    AllPartitionMapping,
    AssetDep,
    AssetExecutionContext,
    Failure,
    MaterializeResult,
    MetadataValue,
    MultiToSingleDimensionPartitionMapping,
    asset,
)

from odum_pipeline.backtests.automation import backtest_freshness_condition
from odum_pipeline.backtests.boundary import USER_ERRORS
from odum_pipeline.backtests.config import load_config
from odum_pipeline.backtests.partitions import backtest_partitions, parse_backtest_partition
from odum_pipeline.backtests.resources import AlgorithmsResource, ConfigsResource, ResultsResource
from odum_pipeline.backtests.runs import run_partition
from odum_pipeline.backtests.source_assets import algorithm_registry, backtest_configs
from odum_pipeline.catalog.assets import tick_catalog
from odum_pipeline.catalog.resources import CatalogResource
from odum_pipeline.charts import equity_curve_png, png_markdown
from odum_pipeline.instruments.currencies import format_money, summary_money_line

HEADLINE_FIGURES = (
    "orders", "fills", "rejected", "denied", "skipped_rows", "filled_qty", "fill_ratio", "realized_pnl",
    "unrealized_pnl", "fees", "net_pnl", "final_balance", "max_drawdown", "max_drawdown_pct", "round_trips", "win_rate",
)  # fmt: skip


@asset(
    partitions_def=backtest_partitions,
    group_name="backtests",
    code_version="backtest-v1",
    pool="nautilus",
    automation_condition=backtest_freshness_condition(),
    deps=[
        # Every catalog day may be read; the window's days are checked inside (identity would be wrong).
        AssetDep(tick_catalog, partition_mapping=AllPartitionMapping()),
        AssetDep(backtest_configs, partition_mapping=MultiToSingleDimensionPartitionMapping("config")),
        AssetDep(algorithm_registry, partition_mapping=MultiToSingleDimensionPartitionMapping("algorithm")),
    ],
    description="A NautilusTrader BacktestNode run of one config with one execution algorithm over the catalog.",
)
def backtest_run(
    context: AssetExecutionContext,
    configs: ConfigsResource,
    algorithms: AlgorithmsResource,
    catalog: CatalogResource,
    results: ResultsResource,
) -> MaterializeResult:
    config_name, algorithm_name = parse_backtest_partition(context.partition_key)
    try:
        config = load_config(configs.config_path(config_name))
        outcomes = run_partition(
            config,
            algorithm_name,
            algorithms_root=algorithms.path,
            var_root=Path(algorithms.var_root),
            catalog_root=catalog.path,
            results_root=results.path,
            progress=_progress_logger(context),
        )
    except USER_ERRORS as error:  # bad input, or past its time limit (BacktestRunError)
        raise Failure(description=str(error)) from error
    metadata = _metadata(outcomes)
    peak = _peak_rss_mib()
    if peak is not None:
        metadata["worker_peak_rss_mib"] = MetadataValue.float(peak)
    return MaterializeResult(metadata=metadata)


def _peak_rss_mib() -> float | None:
    """This run worker's peak memory (Linux ``VmHWM``), for sizing run slots, pods or containers."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None


def _progress_logger(context, every_secs: float = 5.0):
    """Log the share of the window replayed and the engine's throughput (events/s), every few seconds."""
    state = {"at": 0.0, "label": None, "started": 0.0}

    def log(label: str, share: float, events: int | None = None) -> None:
        now = time.monotonic()
        if label != state["label"]:  # a new variant: a new engine, a new clock
            state.update(label=label, started=now, at=now)
        if share >= 1.0 or now - state["at"] >= every_secs:
            state["at"] = now
            elapsed = max(now - state["started"], 1e-9)
            rate = f", {events:,} events, {events / elapsed:,.0f} events/s" if events is not None else ""
            context.log.info(f"{label}: {share:.0%} of the window replayed{rate}")

    return log


def _metadata(outcomes) -> dict:
    variant, primary = outcomes[0]
    figures = primary.summary["summary"]
    metadata = {
        name: MetadataValue.float(float(figures[name])) if figures.get(name) is not None else MetadataValue.null()
        for name in HEADLINE_FIGURES
        if name in figures
    }
    metadata.update(
        {
            "run_id": primary.run_id,
            "result_path": MetadataValue.path(str(primary.result_path)),
            "algorithm_version": primary.summary["algorithm"]["version"],
            "algorithm_params": MetadataValue.json(primary.summary["algorithm"]["params"]),
            "config_sha256": primary.summary["config"]["sha256"],
            "identity_holds": bool(primary.summary.get("identity_holds")),
            **_money_metadata(primary.summary),
        }
    )
    if primary.equity_curve:
        currency = primary.summary.get("currency")
        title = f"{variant.label}: equity" + (f" ({currency})" if currency else "")
        png = equity_curve_png(primary.equity_curve, title=title)
        metadata["equity_curve"] = MetadataValue.md(png_markdown(png, "equity curve"))
    if len(outcomes) > 1:
        rows = [
            f"| {v.label} | {o.run_id} | {format_money(o.summary['summary']['net_pnl'], o.summary.get('currency', ''))} |"
            for v, o in outcomes
        ]
        metadata["variants"] = MetadataValue.md("| variant | run id | net PnL |\n|---|---|---|\n" + "\n".join(rows))
    return metadata


def _money_metadata(summary: dict) -> dict:
    """The currency of the money figures above, the money line as text, and each currency's balances."""
    if "currency" not in summary:
        return {}
    block = summary["currencies"]
    balances = "\n".join(
        f"| {code} | {b['starting']} | {b['final']} | {b['change']} | {b['identity_holds']} |"
        for code, b in block["balances"].items()
    )
    return {
        "currency": summary["currency"],
        "fee_currency": block["fee_currency"],
        "money": MetadataValue.text(summary_money_line(summary)),
        "balances": MetadataValue.md(
            "| currency | starting | final | change | identity holds |\n|---|---|---|---|---|\n" + balances
        ),
    }

