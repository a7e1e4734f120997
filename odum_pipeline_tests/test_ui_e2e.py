"""End-to-end tests of the Dagster UI: a real webserver and daemon, headless Chromium driven by Playwright.

The state is prepared with the project's own code on the same Dagster home (synthetic sample ->
catalog -> the NORMAL backtest of a two-parent-order config). Then, through the UI only, as a
user would: the asset graph shows the six assets; ``backtest_run`` partition ``TWAP|<config>``
is launched from its asset page (Materialize... -> partition dialog -> Launch 1 run) and
watched on its run page until Success; ``comparison_report`` is materialized for the config the
same way and its page shows the ranking table with both algorithms and their run ids.

Once on the default SQLite instance, once on a throwaway Postgres cluster with
``dagster-postgres`` storage. Screenshots go to ``artifacts/screenshots/`` (or
``$ODUM_ARTIFACTS_DIR/screenshots``). Every process started is stopped, also on failure.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from odum_pipeline_tests import e2e_support as e2e

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

ASSETS = ["raw_ticks", "tick_catalog", "backtest_configs", "algorithm_registry", "backtest_run", "comparison_report"]


@pytest.fixture(scope="module")
def browser():
    if not e2e.CHROMIUM.exists():
        pytest.skip(f"UI tests need Chromium at {e2e.CHROMIUM} (Debian: apt-get install chromium; .ci/run installs it)")
    if importlib.util.find_spec("playwright") is None:
        pytest.skip("UI tests need the playwright package (pip install -e '.[test]')")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(e2e.CHROMIUM), args=e2e.CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1600, "height": 1000})
    context.set_default_timeout(30_000)
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()


@pytest.fixture
def postgres():
    bindir = e2e.postgres_bindir()
    if bindir is None:
        pytest.skip("UI test on Postgres needs initdb/pg_ctl (Debian: apt-get install postgresql; .ci/run installs it)")
    if importlib.util.find_spec("dagster_postgres") is None:
        pytest.skip("UI test on Postgres needs dagster-postgres (pip install -e '.[test]')")
    with e2e.PostgresCluster(bindir) as cluster:
        yield cluster


def _report_run_ids(results_root: Path) -> set[str]:
    return {path.name for path in (results_root / "report").iterdir() if path.is_dir()}


def _runs_of(results_root: Path, algorithm: str) -> tuple[set[str], set[str]]:
    """Main and model-risk (other market presets) report runs of one algorithm."""
    main, model_risk = set(), set()
    for run_id in _report_run_ids(results_root):
        summary = json.loads((results_root / "report" / run_id / "summary.json").read_text())
        if summary["algorithm"]["name"] == algorithm:
            (model_risk if summary.get("model_risk") else main).add(run_id)
    return main, model_risk


def _materialize_from_the_ui(roots: e2e.Roots, page, label: str) -> None:
    prepared = e2e.prepare_state(roots)
    normal_run_id = prepared["normal_run_id"]
    with e2e.DagsterServers(roots) as servers:
        ui = e2e.DagsterUI(page, servers.url, e2e.artifacts_dir(), label)
        try:
            # 1. The asset graph: every asset of the pipeline is on it.
            ui.open_asset_graph()
            for asset in ASSETS:
                page.get_by_text(asset, exact=True).first.wait_for()
            page.wait_for_timeout(500)
            ui.screenshot("1-asset-graph")

            # 2. backtest_run TWAP|config, launched by clicking, watched until it succeeds.
            ui.launch_partition("backtest_run", ["TWAP", e2e.E2E_CONFIG])
            ui.open_launched_run()
            page.get_by_text(f"TWAP|{e2e.E2E_CONFIG}").first.wait_for()
            ui.wait_for_run_success()
            page.get_by_text("RUN_SUCCESS").first.scroll_into_view_if_needed()
            ui.screenshot("2-backtest-run-success")
            twap_run_ids, twap_model_risk = _runs_of(roots.results, "TWAP")
            assert len(twap_run_ids) == 1, f"expected one new report-mode result, found {sorted(twap_run_ids)}"
            assert len(twap_model_risk) == 2  # the same partition under the two other market presets
            (twap_run_id,) = twap_run_ids

            # 3. comparison_report for the config, launched the same way; its page shows the ranking.
            ui.launch_partition("comparison_report", [e2e.E2E_CONFIG])
            ui.open_launched_run()
            ui.wait_for_run_success()
            ui.screenshot("3-report-run-success")
            page.goto(f"{servers.url}/assets/comparison_report")
            # The Markdown table of the "comparison" metadata, rendered: one row per algorithm with its run id.
            row = page.locator("tr", has=page.get_by_text(twap_run_id, exact=True)).first
            row.wait_for()
            assert row.get_by_text("TWAP", exact=True).first.is_visible()
            row = page.locator("tr", has=page.get_by_text(normal_run_id, exact=True)).first
            assert row.get_by_text("NORMAL", exact=True).first.is_visible()
            page.get_by_text(e2e.E2E_CONFIG, exact=True).first.wait_for()
            ui.screenshot("4-comparison-report")
        except BaseException:
            ui.screenshot("failure", full_page=True)
            print(f"webserver log:\n{servers.webserver.log_tail()}\ndaemon log:\n{servers.daemon.log_tail()}")
            raise


def test_ui_materializes_backtest_and_report_on_sqlite(page, tmp_path):
    roots = e2e.Roots(tmp_path)
    e2e.write_instance_yaml(roots)
    _materialize_from_the_ui(roots, page, "sqlite")


def test_ui_materializes_backtest_and_report_on_postgres(page, postgres, tmp_path):
    roots = e2e.Roots(tmp_path)
    e2e.write_instance_yaml(roots, postgres)
    _materialize_from_the_ui(roots, page, "postgres")
    # The runs really went to Postgres: the instance there knows both UI runs.
    from dagster import DagsterInstance

    with e2e.dagster_home(roots), DagsterInstance.from_config(str(roots.home)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        tags = [run.tags for run in instance.get_runs()]
        assert sum(1 for t in tags if t.get("dagster/from_ui") == "true") == 2
