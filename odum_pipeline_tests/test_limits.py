"""Every backtest has a wall-clock limit: a hung algorithm stops with one line naming the limit,
from Python, the CLI and Dagster, and the nautilus pool slot comes back."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from dagster import instance_for_test, materialize

from odum_pipeline.backtests.config import ConfigError, config_sha256, parse_config
from odum_pipeline.backtests.limits import BacktestTimeoutError, default_timeout_secs, timeout_for
from odum_pipeline.backtests.partitions import algorithm_partitions, backtest_partition_key, config_partitions
from odum_pipeline.backtests.runs import run_partition
from odum_pipeline.cli import run_backtest
from odum_pipeline.pipeline import ALL_ASSETS, storage_resources
from odum_pipeline_tests.conftest import BTC_PERP

WINDOW = {"start": "2023-04-05T00:00:00Z", "end": "2023-04-05T00:06:00Z"}
PARENT = {"submission_mode": "parent_orders", "parent_orders": [{"side": "BUY", "quantity": 0.01, "arrival": "2023-04-05T00:00:30Z"}]}

#: Fills like NORMAL in the smoke run (2024), spins forever on any earlier day (the real data).
HANGS_ON_REAL_DATA = '''
from nautilus_trader.config import ExecAlgorithmConfig
from nautilus_trader.execution.algorithm import ExecAlgorithm

PARAMETERS = []


class HangConfig(ExecAlgorithmConfig, frozen=True):
    exec_algorithm_id: str | None = "HANG"


class Hang(ExecAlgorithm):
    def on_order(self, order) -> None:
        while self.clock.timestamp_ns() < 1_704_067_200_000_000_000:  # before 2024-01-01
            pass
        self.submit_order(order)
'''


def _config(**environment) -> dict:
    return {"instrument": {"id": BTC_PERP}, "time_window": WINDOW, "strategy": PARENT, "environment": environment}


def test_default_limit_scales_with_the_window():
    start = dt.datetime(2023, 4, 5, tzinfo=dt.UTC)
    short, day = default_timeout_secs(start, start + dt.timedelta(minutes=6)), default_timeout_secs(start, start + dt.timedelta(days=1))
    assert short == 1200 and day == 600 + 24 * 600
    assert timeout_for(parse_config(_config())) == short
    assert timeout_for(parse_config(_config(timeout_secs=42))) == 42


def test_timeout_is_checked_and_not_part_of_the_content_hash():
    with pytest.raises(ConfigError, match=r"environment.timeout_secs: Input should be greater than 0"):
        parse_config(_config(timeout_secs=0))
    assert config_sha256(parse_config(_config(timeout_secs=5))) == config_sha256(parse_config(_config()))


@pytest.fixture
def hang_algorithms(tmp_path) -> Path:
    root = tmp_path / "algorithms"
    root.mkdir()
    (root / "hang.py").write_text(HANGS_ON_REAL_DATA)
    return root


def test_a_hung_backtest_stops_at_its_limit(real_catalog, hang_algorithms, tmp_path):
    config = parse_config({**_config(timeout_secs=3), "name": "hung"})
    started = dt.datetime.now()
    with pytest.raises(BacktestTimeoutError) as error:
        run_partition(config, "HANG", algorithms_root=hang_algorithms, var_root=tmp_path / "var", catalog_root=real_catalog,
                      results_root=tmp_path / "results")
    assert str(error.value) == "backtest hung/HANG stopped after its wall-clock limit of 3 s (environment.timeout_secs)"
    assert (dt.datetime.now() - started).total_seconds() < 60
    assert not (tmp_path / "results").exists() or not any((tmp_path / "results").rglob("*.json"))


def test_run_backtest_timeout_flag(real_catalog, hang_algorithms, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("ODUM_ALGORITHMS_PATH", str(hang_algorithms))
    config = tmp_path / "hung.json"
    config.write_text(json.dumps(_config()))
    code = run_backtest.run(["--config", str(config), "--exec_algorithm", "HANG", "--timeout", "2",
                             "--catalog", str(real_catalog), "--results", str(tmp_path / "results")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err[-1] == "error: backtest hung/HANG stopped after its wall-clock limit of 2 s (--timeout)"
    assert "Traceback" not in "\n".join(err)


def test_a_dagster_run_that_hits_the_limit_fails_in_one_line_and_frees_its_slot(real_raw_root, real_catalog, hang_algorithms, tmp_path):
    configs = tmp_path / "configs"
    configs.mkdir()
    (configs / "hung.json").write_text(json.dumps(_config(timeout_secs=3)))
    (configs / "quick.json").write_text(json.dumps(_config()))
    resources = storage_resources(real_raw_root, real_catalog, tmp_path / "results", configs, hang_algorithms)
    with instance_for_test() as instance:
        instance.event_log_storage.set_concurrency_slots("nautilus", 1)
        instance.add_dynamic_partitions(config_partitions.name, ["hung", "quick"])
        instance.add_dynamic_partitions(algorithm_partitions.name, ["HANG", "NORMAL"])

        def run(config, algorithm):
            return materialize(ALL_ASSETS, selection=["backtest_run"], partition_key=backtest_partition_key(config, algorithm),
                               instance=instance, resources=resources, raise_on_error=False)

        hung = run("hung", "HANG")
        assert not hung.success
        failure = hung.get_step_failure_events()[0].step_failure_data.user_failure_data
        assert failure.description == "backtest hung/HANG stopped after its wall-clock limit of 3 s (environment.timeout_secs)"
        assert instance.event_log_storage.get_concurrency_info("nautilus").claimed_slots == []
        assert run("quick", "NORMAL").success


@pytest.mark.parametrize("relative", ["dagster.yaml", "deploy/production/dagster.yaml"])
def test_instances_monitor_runs_with_a_max_runtime_and_free_dead_runs_slots(relative, tmp_path, monkeypatch):
    import shutil

    from dagster._core.instance.config import dagster_instance_config

    repo = Path(__file__).resolve().parents[1]
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(repo / relative, home / "dagster.yaml")
    settings, _ = dagster_instance_config(str(home))  # Dagster's own schema check
    monitoring = settings["run_monitoring"]
    one_day = default_timeout_secs(dt.datetime(2023, 4, 5, tzinfo=dt.UTC), dt.datetime(2023, 4, 6, tzinfo=dt.UTC))
    assert monitoring["enabled"] and monitoring["max_runtime_seconds"] >= one_day
    assert monitoring["free_slots_after_run_end_seconds"] > 0
    if relative == "dagster.yaml":
        from dagster import DagsterInstance
        from dagster._core.instance.ref import InstanceRef

        monkeypatch.setenv("DAGSTER_HOME", str(home))
        with DagsterInstance.from_ref(InstanceRef.from_dir(str(home))) as instance:
            assert instance.run_monitoring_enabled
            assert instance.run_monitoring_max_runtime_seconds == monitoring["max_runtime_seconds"]
