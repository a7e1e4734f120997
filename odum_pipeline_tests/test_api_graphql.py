"""The programmatic API against a real dagster-webserver + daemon on a free localhost port: launch a
backtest partition and the ad-hoc job through dagster-graphql, wait, read run ids and summaries."""

from __future__ import annotations

import pytest

from odum_pipeline.api import BacktestAPI
from odum_pipeline.backtests.run_folder import read_summary
from odum_pipeline.backtests.run_id import is_run_id
from odum_pipeline_tests import e2e_support as e2e

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    roots = e2e.Roots(tmp_path_factory.mktemp("api"))
    e2e.write_instance_yaml(roots)
    e2e.prepare_state(roots)
    with e2e.DagsterServers(roots) as servers:
        yield BacktestAPI("127.0.0.1", servers.port), roots


def test_launch_a_backtest_partition_wait_and_read_its_summary(api):
    client, roots = api
    run = client.launch_backtest(e2e.E2E_CONFIG, "twap")
    assert client.wait(run, timeout_secs=300) == "SUCCESS"
    result = client.result(run)
    assert result.status == "SUCCESS" and result.failure is None
    (backtest_id,) = result.run_ids
    assert is_run_id(backtest_id)
    summary = read_summary(result.result_paths[0])
    assert summary["run_id"] == backtest_id and summary["algorithm"]["name"] == "TWAP"
    assert result.metadata["net_pnl"] == pytest.approx(summary["summary"]["net_pnl"])
    assert result.metadata["filled_qty"] == pytest.approx(summary["summary"]["filled_qty"])


def test_launch_the_adhoc_job_with_overrides(api):
    client, roots = api
    run = client.launch_adhoc(e2e.E2E_CONFIG, algorithm="NORMAL", end="2023-05-23T19:25:00Z")
    assert client.wait(run, timeout_secs=300) == "SUCCESS"
    result = client.result(run)
    backtest_id, *model_risk = result.run_ids  # a report-mode parent-order config: the other presets too
    assert len(model_risk) == 2
    summary = read_summary(result.result_paths[0])
    assert summary["run_id"] == backtest_id and summary["window"]["end"] == "2023-05-23T19:25:00Z"


def test_a_refused_run_reports_its_one_line_failure(api):
    client, _ = api
    run = client.launch_adhoc("../outside")
    assert client.wait(run, timeout_secs=300) == "FAILURE"
    result = client.result(run)
    assert result.run_ids == [] and result.failure.startswith("config_name: '../outside' is not a valid config name")
