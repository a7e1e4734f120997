"""The sensors never redo finished work and never launch a backtest the catalog cannot feed.

A fresh cursor (a new ``dagster dev`` on the instance ``odum main`` filled, a new deployment) used to
re-request every conversion and every backtest. Here the sensors run against a real instance that
already holds materializations, exactly as the daemon would evaluate them.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from pathlib import Path
from types import SimpleNamespace

import pyarrow.parquet as pq
import pytest
from dagster import build_sensor_context, instance_for_test, materialize

from odum_pipeline.backtests.partitions import backtest_partition_key
from odum_pipeline.catalog.layout import BOOK, raw_path
from odum_pipeline.catalog.partitions import catalog_partition_key
from odum_pipeline.definitions import build_definitions
from odum_pipeline.pipeline import ALL_ASSETS, storage_resources
from odum_pipeline_tests.conftest import BTC_PERP

REPO_ROOT = Path(__file__).resolve().parents[1]
DAY = "2023-04-05"


def _config(algorithms=("NORMAL", "TWAP"), quantity="2") -> dict:
    return {
        "instrument": {"id": BTC_PERP},
        "time_window": {"start": f"{DAY}T00:00:00Z", "end": f"{DAY}T00:01:00Z"},
        "strategy": {
            "submission_mode": "parent_orders",
            "parent_orders": [{"side": "BUY", "quantity": quantity, "arrival": f"{DAY}T00:00:30Z"}],
        },
        "execution": {"algorithms": [{"name": name} for name in algorithms]},
    }


def _roots(tmp_path: Path, catalog: Path, raw: Path | None = None) -> SimpleNamespace:
    configs = tmp_path / "configs"
    configs.mkdir(exist_ok=True)
    algorithms = tmp_path / "algorithms"
    shutil.copytree(REPO_ROOT / "algorithms", algorithms, dirs_exist_ok=True)
    resources = storage_resources(raw or tmp_path / "raw", catalog, tmp_path / "results", configs, algorithms)
    resources["algorithms"] = type(resources["algorithms"])(root=str(algorithms), var_root=str(tmp_path / "var"))
    return SimpleNamespace(configs=configs, resources=resources, defs=build_definitions(resources))


@pytest.fixture
def instance():
    with instance_for_test() as instance:
        yield instance


def _tick(roots, instance, name: str, cursor: str | None):
    """One evaluation of a sensor, applied to the instance as the daemon would apply it."""
    with build_sensor_context(
        instance_ref=instance.get_ref(), definitions=roots.defs, resources=roots.resources, cursor=cursor
    ) as context:
        data = roots.defs.get_sensor_def(name).evaluate_tick(context)
    for request in data.dynamic_partitions_requests:
        instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
    for event in data.asset_events:
        instance.report_runless_asset_event(event)
    return data


def _requested(data) -> list[str]:
    return sorted(str(request.partition_key) for request in data.run_requests)


def _materialize(roots, instance, asset: str, partition_key) -> None:
    result = materialize(
        ALL_ASSETS, selection=[asset], partition_key=partition_key, instance=instance, resources=roots.resources
    )
    assert result.success


# --- backtest_sources_sensor ----------------------------------------------------------------------


def test_fresh_cursor_requests_only_backtests_not_materialized_at_current_versions(tmp_path, real_catalog, instance):
    roots = _roots(tmp_path, real_catalog)
    (roots.configs / "cfg_a.json").write_text(json.dumps(_config()))
    (roots.configs / "cfg_b.json").write_text(json.dumps(_config(("NORMAL",))))
    first = _tick(roots, instance, "backtest_sources_sensor", None)  # registers, observes, requests all
    assert _requested(first) == ["NORMAL|cfg_a", "NORMAL|cfg_b", "TWAP|cfg_a"]
    for config, algorithm in [("cfg_a", "NORMAL"), ("cfg_b", "NORMAL")]:  # what `odum main` or a daemon ran
        _materialize(roots, instance, "backtest_run", backtest_partition_key(config, algorithm))

    fresh = _tick(roots, instance, "backtest_sources_sensor", None)  # a new `dagster dev`
    assert _requested(fresh) == ["TWAP|cfg_a"]

    (roots.configs / "cfg_b.json").write_text(json.dumps(_config(("NORMAL",), quantity="3")))  # edited since
    assert _requested(_tick(roots, instance, "backtest_sources_sensor", None)) == ["NORMAL|cfg_b", "TWAP|cfg_a"]


def test_all_finished_tick_says_why_it_skipped(tmp_path, real_catalog, instance):
    roots = _roots(tmp_path, real_catalog)
    (roots.configs / "cfg_b.json").write_text(json.dumps(_config(("NORMAL",))))
    _tick(roots, instance, "backtest_sources_sensor", None)
    _materialize(roots, instance, "backtest_run", backtest_partition_key("cfg_b", "NORMAL"))
    fresh = _tick(roots, instance, "backtest_sources_sensor", None)
    assert fresh.run_requests == []
    assert "1 backtest(s) already current" in fresh.skip_message


def test_backtest_waits_for_the_catalog_and_is_requested_when_the_data_arrives(tmp_path, real_catalog, instance):
    catalog = tmp_path / "catalog"  # empty: the window's day is not converted yet
    roots = _roots(tmp_path, catalog)
    (roots.configs / "cfg_b.json").write_text(json.dumps(_config(("NORMAL",))))
    waiting = _tick(roots, instance, "backtest_sources_sensor", None)
    assert waiting.run_requests == []
    assert "waiting for the catalog to cover their window (cfg_b|NORMAL)" in waiting.skip_message
    assert _tick(roots, instance, "backtest_sources_sensor", waiting.cursor).run_requests == []  # still waiting

    shutil.copytree(real_catalog, catalog, dirs_exist_ok=True)  # the day is converted
    arrived = _tick(roots, instance, "backtest_sources_sensor", waiting.cursor)
    assert _requested(arrived) == ["NORMAL|cfg_b"]
    assert _tick(roots, instance, "backtest_sources_sensor", arrived.cursor).run_requests == []  # once


def test_a_config_dropping_a_waiting_algorithm_stops_the_wait(tmp_path, instance):
    roots = _roots(tmp_path, tmp_path / "catalog")
    (roots.configs / "cfg_a.json").write_text(json.dumps(_config()))
    waiting = _tick(roots, instance, "backtest_sources_sensor", None)
    assert json.loads(waiting.cursor)["waiting"] == ["cfg_a|NORMAL", "cfg_a|TWAP"]
    (roots.configs / "cfg_a.json").write_text(json.dumps(_config(("NORMAL",))))
    assert json.loads(_tick(roots, instance, "backtest_sources_sensor", waiting.cursor).cursor)["waiting"] == [
        "cfg_a|NORMAL"
    ]


# --- raw_files_sensor -----------------------------------------------------------------------------


def test_fresh_cursor_does_not_reconvert_a_day_converted_from_the_same_files(copy_real_day, tmp_path, instance):
    raw = copy_real_day(DAY)
    roots = _roots(tmp_path, tmp_path / "catalog", raw)
    key = catalog_partition_key(DAY, BTC_PERP)
    first = _tick(roots, instance, "raw_files_sensor", None)  # registers the cell, observes its files
    assert _requested(first) == [str(key)]
    _materialize(roots, instance, "tick_catalog", key)

    fresh = _tick(roots, instance, "raw_files_sensor", None)  # a new `dagster dev`
    assert fresh.run_requests == []
    assert "1 raw cell(s) already converted" in fresh.skip_message

    book = raw_path(raw, dt.date.fromisoformat(DAY), BOOK, BTC_PERP)
    os.utime(book, ns=(book.stat().st_atime_ns, book.stat().st_mtime_ns + 10**9))  # touched, same content
    assert _tick(roots, instance, "raw_files_sensor", fresh.cursor).run_requests == []

    pq.write_table(pq.read_table(book).slice(0, 100), book)  # re-delivered with other content
    assert _requested(_tick(roots, instance, "raw_files_sensor", None)) == [str(key)]
