"""The catalog through Dagster on a real instance: sensor registration, materialization, blocking checks, staleness."""

from __future__ import annotations

import datetime as dt

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from dagster import AssetKey, DagsterInstance, Definitions, build_sensor_context, instance_for_test, materialize
from dagster._core.definitions.data_version import StaleStatus
from dagster._core.definitions.observe import observe
from dagster._utils.test.data_versions import get_stale_status_resolver

from odum_pipeline.catalog.assets import raw_ticks, tick_catalog
from odum_pipeline.catalog.layout import BOOK, raw_path
from odum_pipeline.catalog.partitions import catalog_partition_key
from odum_pipeline.catalog.resources import CatalogResource, RawDataResource
from odum_pipeline.catalog.sensors import raw_files_sensor
from odum_pipeline.definitions import defs
from odum_pipeline_tests.conftest import BTC_PERP

DAY = "2023-04-05"


def _resources(raw_root, catalog_root) -> dict:
    return {"raw_data": RawDataResource(root=str(raw_root)), "catalog": CatalogResource(root=str(catalog_root))}


def _sensor_result(instance: DagsterInstance, raw_root, cursor=None):
    resources = _resources(raw_root, raw_root / "unused-catalog")
    context = build_sensor_context(
        instance=instance,
        cursor=cursor,
        resources=resources,
        definitions=Definitions(assets=[raw_ticks, tick_catalog], sensors=[raw_files_sensor], resources=resources),
    )
    return raw_files_sensor(context)


def _materialize(instance, raw_root, catalog_root, day=DAY):
    return materialize(
        [raw_ticks, tick_catalog],
        selection=[tick_catalog],
        partition_key=catalog_partition_key(day, BTC_PERP),
        instance=instance,
        resources=_resources(raw_root, catalog_root),
        raise_on_error=False,
    )


def _register(instance, raw_root) -> None:
    result = _sensor_result(instance, raw_root)
    for request in result.dynamic_partitions_requests:
        instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))


def test_definitions_load():
    Definitions.validate_loadable(defs)
    assert {AssetKey("raw_ticks"), AssetKey("tick_catalog")} <= set(defs.resolve_all_asset_keys())


def test_sensor_registers_partitions_and_requests_each_new_or_changed_file_once(copy_real_day, tmp_path):
    raw_root = copy_real_day(DAY)
    copy_real_day("2023-04-04", raw_root)
    with instance_for_test() as instance:
        first = _sensor_result(instance, raw_root)
        requests = {r.partitions_def_name: set(r.partition_keys) for r in first.dynamic_partitions_requests}
        assert requests == {"day": {"2023-04-04", DAY}, "instrument": {BTC_PERP}}
        assert sorted(str(r.partition_key) for r in first.run_requests) == [f"2023-04-04|{BTC_PERP}", f"{DAY}|{BTC_PERP}"]

        unchanged = _sensor_result(instance, raw_root, cursor=first.cursor)
        assert unchanged.run_requests == []

        book = raw_path(raw_root, dt.date.fromisoformat(DAY), BOOK, BTC_PERP)
        pq.write_table(pq.read_table(book).slice(0, 100), book)  # a re-delivered file
        changed = _sensor_result(instance, raw_root, cursor=first.cursor)
        assert [str(r.partition_key) for r in changed.run_requests] == [f"{DAY}|{BTC_PERP}"]


def test_materialize_real_day_passes_every_check_and_reports_metadata(real_raw_root, tmp_path):
    with instance_for_test() as instance:
        _register(instance, real_raw_root)
        result = _materialize(instance, real_raw_root, tmp_path / "catalog")
        assert result.success
        checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
        assert checks == {name: True for name in checks} and len(checks) == 7
        metadata = result.asset_materializations_for_node("tick_catalog")[0].metadata
        raw_trades = pq.read_table(raw_path(real_raw_root, dt.date.fromisoformat(DAY), "trades", BTC_PERP))
        assert metadata["trades_rows"].value == raw_trades.num_rows
        assert metadata["trades_first_ts"].value.startswith("2023-04-05T00:00:04.962")
        expected_gap = pc.max(pc.subtract(raw_trades["timestamp"][1:], raw_trades["timestamp"][:-1])).as_py() / 1e6
        assert metadata["trades_largest_gap_secs"].value == pytest.approx(expected_gap)


def test_crossed_book_fails_the_blocking_check_and_leaves_the_catalog(copy_real_day, tmp_path):
    raw_root = copy_real_day(DAY)
    catalog_root = tmp_path / "catalog"
    with instance_for_test() as instance:
        _register(instance, raw_root)
        assert _materialize(instance, raw_root, catalog_root).success
        before = sorted(p.name for p in catalog_root.rglob("*.parquet"))

        book = raw_path(raw_root, dt.date.fromisoformat(DAY), BOOK, BTC_PERP)
        table = pq.read_table(book)
        crossed = table.set_column(
            table.schema.get_field_index("bids[0].price"), "bids[0].price", pc.add(table["asks[0].price"], 1.0)
        )
        pq.write_table(crossed, book)

        failed = _materialize(instance, raw_root, catalog_root)
        assert not failed.success
        checks = {e.check_name: e for e in failed.get_asset_check_evaluations()}
        assert not checks["book_not_crossed"].passed
        assert str(book) in checks["book_not_crossed"].description
        assert sorted(p.name for p in catalog_root.rglob("*.parquet")) == before


def test_redelivered_raw_file_makes_only_its_catalog_partition_stale(copy_real_day, tmp_path):
    raw_root = copy_real_day(DAY)
    copy_real_day("2023-04-04", raw_root)
    catalog_root = tmp_path / "catalog"
    resources = _resources(raw_root, catalog_root)
    with instance_for_test() as instance:
        _register(instance, raw_root)
        observe([raw_ticks], instance=instance, resources=resources)
        for day in ("2023-04-04", DAY):
            assert _materialize(instance, raw_root, catalog_root, day).success

        book = raw_path(raw_root, dt.date.fromisoformat(DAY), BOOK, BTC_PERP)
        pq.write_table(pq.read_table(book).slice(0, 100), book)
        observe([raw_ticks], instance=instance, resources=resources)

        resolver = get_stale_status_resolver(instance, [raw_ticks, tick_catalog])
        status = {
            day: resolver.get_status(AssetKey("tick_catalog"), catalog_partition_key(day, BTC_PERP))
            for day in ("2023-04-04", DAY)
        }
        assert status == {"2023-04-04": StaleStatus.FRESH, DAY: StaleStatus.STALE}
