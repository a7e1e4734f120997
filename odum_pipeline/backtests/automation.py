"""Declarative automation of ``backtest_run``: fresh when its config or algorithm changes.

Not ``AutomationCondition.eager()`` as is: every backtest depends on *every* catalog partition
(``AllPartitionMapping``), so eager's "any dependency updated" would re-request every backtest
whenever any catalog day is re-materialized, and its "any dependency missing" would hold every
backtest back while any registered day is unconverted. The catalog is ignored in both (the asset
checks that the window's days are covered itself). Only partitions that were materialized
before are kept fresh: the (config, algorithm) cross product holds pairs nobody asked for, and
new partitions are requested by ``backtest_sources_sensor`` (only the algorithms a config lists).
``code_version_changed()`` is left out on purpose (a code version bump would re-request every
partition).

The condition is evaluated by an explicit ``AutomationConditionSensorDefinition`` that starts
RUNNING (the implicit default automation sensor starts stopped).
"""

from __future__ import annotations

from dagster import (
    AssetSelection,
    AutomationCondition,
    AutomationConditionSensorDefinition,
    DefaultSensorStatus,
)

CATALOG = AssetSelection.assets("tick_catalog")


def backtest_freshness_condition() -> AutomationCondition:
    return (
        ~AutomationCondition.missing()
        & AutomationCondition.any_deps_updated().ignore(CATALOG).since_last_handled()
        & ~AutomationCondition.any_deps_missing().ignore(CATALOG)
        & ~AutomationCondition.any_deps_in_progress().ignore(CATALOG)
        & ~AutomationCondition.in_progress()
    ).with_label("fresh with its config and algorithm")


backtest_automation_sensor = AutomationConditionSensorDefinition(
    "backtest_automation_sensor",
    target=AssetSelection.assets("backtest_run"),
    default_status=DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    description="Re-runs materialized backtests whose config or algorithm changed (catalog updates ignored).",
)
