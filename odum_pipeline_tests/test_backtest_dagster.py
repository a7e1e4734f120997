"""Backtests through Dagster on a real instance and the real data: partitions, pre-flight, metadata, CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from dagster import instance_for_test, materialize
from dagster._core.definitions.observe import observe

from odum_pipeline.algorithms.registry import discover
from odum_pipeline.backtests.partitions import algorithm_partitions, backtest_partition_key, config_partitions
from odum_pipeline.backtests.resources import AlgorithmsResource
from odum_pipeline.backtests.run_id import is_run_id
from odum_pipeline.backtests.source_assets import algorithm_registry, backtest_configs, config_version
from odum_pipeline.cli import run_backtest
from odum_pipeline.pipeline import ALL_ASSETS, storage_resources
from odum_pipeline_tests.conftest import BTC_PERP

WINDOW = {"start": "2023-04-05T00:00:00Z", "end": "2023-04-05T00:06:00Z"}


def _write_config(root: Path, name: str, **sections) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    path = root / f"{name}.json"
    path.write_text(json.dumps({"instrument": {"id": BTC_PERP}, "time_window": WINDOW, **sections}, indent=1))
    return path


def _known_aggressor_trades_in_window(raw_root: Path) -> int:
    """Independent count: raw rows received (local_timestamp = ts_init) in [start, end], side buy/sell."""
    table = pq.read_table(
        raw_root / "raw_tick_data/by_date/day-2023-04-05/data_type-trades" / f"{BTC_PERP}.parquet",
        columns=["local_timestamp", "side"],
    )
    start, end = 1680652800_000000, 1680652800_000000 + 360_000000
    in_window = pc.and_(pc.greater_equal(table["local_timestamp"], start), pc.less_equal(table["local_timestamp"], end))
    known = pc.is_in(table["side"], value_set=pa.array(["buy", "sell"]))
    return pc.sum(pc.and_(in_window, known).cast("int64")).as_py()


@pytest.fixture
def resources(real_raw_root, real_catalog, tmp_path):
    configs = tmp_path / "configs"
    _write_config(configs, "real_per_trade")
    _write_config(configs, "uncovered", time_window={"start": "2023-04-06T00:00:00Z", "end": "2023-04-06T00:05:00Z"})
    repo_algorithms = Path(__file__).resolve().parents[1] / "algorithms"
    return storage_resources(real_raw_root, real_catalog, tmp_path / "results", configs, repo_algorithms)


def _materialize(instance, resources, config, algorithm="NORMAL"):
    instance.add_dynamic_partitions(config_partitions.name, [config])
    instance.add_dynamic_partitions(algorithm_partitions.name, [algorithm])
    return materialize(
        ALL_ASSETS,
        selection=["backtest_run"],
        partition_key=backtest_partition_key(config, algorithm),
        instance=instance,
        resources=resources,
        raise_on_error=False,
    )


@pytest.mark.slow
def test_per_trade_tick_partition_materializes_with_headline_metadata(resources, real_raw_root):
    with instance_for_test() as instance:
        result = _materialize(instance, resources, "real_per_trade")
        assert result.success
        metadata = result.asset_materializations_for_node("backtest_run")[0].metadata
        assert metadata["orders"].value == _known_aggressor_trades_in_window(real_raw_root)
        assert is_run_id(metadata["run_id"].value)
        result_path = Path(metadata["result_path"].value)
        summary = json.loads(result_path.read_text())
        assert summary["run_id"] == metadata["run_id"].value
        assert summary["summary"]["final_balance"] == pytest.approx(metadata["final_balance"].value)
        assert metadata["identity_holds"].value is True
        assert "data:image/png;base64," in metadata["equity_curve"].value


def test_uncovered_window_fails_naming_the_missing_partitions(resources):
    with instance_for_test() as instance:
        result = _materialize(instance, resources, "uncovered")
        assert not result.success
        failure = result.get_step_failure_events()[0].step_failure_data.error
        assert f"2023-04-06|{BTC_PERP}" in str(failure)


def test_sources_observe_config_content_hashes(resources):
    with instance_for_test() as instance:
        instance.add_dynamic_partitions(config_partitions.name, ["real_per_trade", "uncovered"])
        instance.add_dynamic_partitions(algorithm_partitions.name, ["NORMAL"])
        configs = observe([backtest_configs], instance=instance, resources=resources)
        algorithms = observe([algorithm_registry], instance=instance, resources=resources)
        assert configs.success and algorithms.success
        versions = {
            event.asset_observation_data.asset_observation.partition: event.asset_observation_data.asset_observation.data_version
            for event in configs.get_asset_observation_events()
        }
        expected = config_version(Path(resources["configs"].path) / "real_per_trade.json")
        assert versions["real_per_trade"] == expected and versions["uncovered"] != expected


def test_run_backtest_cli_flag_rules(capsys):
    with pytest.raises(SystemExit) as exit_info:
        run_backtest.run(["--fast", "--report", "--config", "x"])
    assert exit_info.value.code == 2
    with pytest.raises(SystemExit):
        run_backtest.run(["--export_ticks", "--config", "x"])
    assert "--export_ticks needs --report" in capsys.readouterr().err
    assert run_backtest.run(["--instrument", BTC_PERP]) == 2
    assert "--start, --end must be given" in capsys.readouterr().err


@pytest.mark.slow
def test_run_backtest_cli_report_run(real_raw_root, tmp_path, capsys):
    config = _write_config(tmp_path / "configs", "cli_parent", strategy={
        "submission_mode": "parent_orders",
        "parent_orders": [{"side": "BUY", "quantity": 1, "arrival": "2023-04-05T00:00:30Z"}],
    })
    code = run_backtest.run([
        "--config", str(config), "--report", "--export_ticks", "--start", "2023-04-05T00:00:00Z",
        "--end", "2023-04-05T00:02:00Z", "--dataset", "2023-04-05", "--raw-root", str(real_raw_root),
        "--catalog", str(tmp_path / "catalog"), "--results", str(tmp_path / "results"),
    ])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0, out
    run_dir = Path(next(line.split("result: ")[1] for line in out.splitlines() if "result: " in line))
    assert {p.name for p in run_dir.iterdir()} >= {
        "summary.json", "orders.parquet", "fills.parquet", "positions.parquet", "equity_curve.parquet",
        "timeline.parquet", "ticks.parquet",
    }  # fmt: skip
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["window"] == {"start": "2023-04-05T00:00:00Z", "end": "2023-04-05T00:02:00Z"}
    assert summary["summary"]["filled_qty"] == pytest.approx(1.0)


def test_run_backtest_cli_dataset_outside_window(real_raw_root, tmp_path, capsys):
    code = run_backtest.run([
        "--instrument", BTC_PERP, "--start", "2023-04-05T00:00:00Z", "--end", "2023-04-05T00:01:00Z",
        "--dataset", "2023-04-04", "--catalog", str(tmp_path / "catalog"),
    ])  # fmt: skip
    assert code == 2
    assert "--dataset 2023-04-04 is outside the window" in capsys.readouterr().err


def test_broken_algorithm_blocks_its_backtests(resources, tmp_path):
    """An algorithm file that fails validation (exception in on_order) cannot feed a backtest."""
    algorithms = tmp_path / "algorithms"
    algorithms.mkdir()
    shutil.copy(Path(__file__).parent / "bad_algorithms" / "on_order_exception.py", algorithms / "broken.py")
    resources = {**resources, "algorithms": AlgorithmsResource(root=str(algorithms))}
    name = next(n for n in discover(algorithms) if n != "NORMAL")
    with instance_for_test() as instance:
        result = _materialize(instance, resources, "real_per_trade", algorithm=name)
        assert not result.success
        failure = str(result.get_step_failure_events()[0].step_failure_data.error)
        assert f"algorithm {name}" in failure and "failed validation" in failure
