"""Declarative automation of ``comparison_report``: refreshed once a config's backtests are done.

A report is requested when a ``backtest_run`` partition of its config was materialized since the
report was last requested or materialized, and none of that config's backtests is queued or
running: a config whose five backtests finish one after another gets one report, after the last.
Declarative automation remembers the update (``since_last_handled``), so a report held back while
other backtests run is requested at the first evaluation after they end. Nothing is requested for
a config none of whose backtests ran since its last report; the daily schedule still refreshes
every report (a TCA change, a catalog re-conversion).
"""

from __future__ import annotations

from dagster import AssetSelection, AutomationCondition, AutomationConditionSensorDefinition, DefaultSensorStatus


def report_refresh_condition() -> AutomationCondition:
    return (
        AutomationCondition.any_deps_updated().since_last_handled()
        & ~AutomationCondition.any_deps_in_progress()
        & ~AutomationCondition.in_progress()
    ).with_label("refreshed once its config's backtests are done")


report_automation_sensor = AutomationConditionSensorDefinition(
    "report_automation_sensor",
    target=AssetSelection.assets("comparison_report"),
    default_status=DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=10,
    description="Requests a config's comparison report once backtests of the config ran and none is still queued or running.",
)
