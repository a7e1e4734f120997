"""Daily refresh of every config's ``comparison_report`` (all registered config partitions)."""

from __future__ import annotations

from dagster import (
    AssetSelection,
    DefaultScheduleStatus,
    RunRequest,
    ScheduleEvaluationContext,
    SkipReason,
    define_asset_job,
    schedule,
)

from odum_pipeline.backtests.partitions import config_partitions

comparison_reports_job = define_asset_job(
    "comparison_reports_job",
    selection=AssetSelection.assets("comparison_report"),
    partitions_def=config_partitions,
    description="Materializes the comparison report of one config (one run per config partition).",
)


@schedule(
    job=comparison_reports_job,
    cron_schedule="0 6 * * *",
    execution_timezone="UTC",
    default_status=DefaultScheduleStatus.RUNNING,
    description="Every day at 06:00 UTC: refresh the comparison report of every registered config.",
)
def daily_comparison_reports(context: ScheduleEvaluationContext):
    configs = sorted(context.instance.get_dynamic_partitions(config_partitions.name))
    if not configs:
        return SkipReason("no config partitions registered yet")
    day = context.scheduled_execution_time.strftime("%Y-%m-%d")
    return [
        RunRequest(partition_key=name, run_key=f"comparison:{name}@{day}", tags={"odum/trigger": "daily_comparison_reports"})
        for name in configs
    ]
