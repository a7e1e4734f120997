"""What the Dagster UI shows: the comparison report whole in Markdown metadata (the HTML path kept
for download), and each algorithm's parameters and source on its algorithm_registry observation."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest
from dagster import AssetKey, instance_for_test, materialize
from dagster._core.definitions.observe import observe

from odum_pipeline.algorithms.registry import discover
from odum_pipeline.backtests.partitions import algorithm_partitions
from odum_pipeline.backtests.sensors import _algorithm_observations
from odum_pipeline.backtests.source_assets import algorithm_registry
from odum_pipeline.pipeline import storage_resources
from odum_pipeline_tests.conftest import BTC_PERP

REPO = Path(__file__).resolve().parents[1]


def _latest_observation(instance, partition: str):
    record = instance.get_latest_data_version_record(AssetKey("algorithm_registry"), is_source=True, partition_key=partition)
    return record.asset_observation


def test_algorithm_registry_observations_show_parameters_and_source(tmp_path):
    resources = storage_resources(tmp_path / "raw", tmp_path / "catalog", tmp_path / "results", tmp_path / "configs", REPO / "algorithms")
    entries = discover(REPO / "algorithms")
    with instance_for_test() as instance:
        instance.add_dynamic_partitions(algorithm_partitions.name, sorted(entries))
        observe([algorithm_registry], instance=instance, resources=resources)
        for name, entry in entries.items():
            observation = _latest_observation(instance, name)
            assert observation.tags["dagster/data_version"] == entry.version  # staleness still keyed on the source hash
            metadata = observation.metadata
            if entry.is_builtin:
                assert "the whole parent order at once" in metadata["parameters"].value
                continue
            table = metadata["parameters"].value
            for spec in entry.parameters:
                assert f"| `{spec.name}` | {spec.type} |" in table
            assert metadata["parameters_schema"].value == entry.schema()
            assert metadata["source"].value == f"```python\n{entry.path.read_text()}\n```"
            assert metadata["path"].value == str(entry.path)
            if name == "TWAP":
                assert "| `horizon_secs` | int | `300` | >= 1, <= 86400 | Seconds over which" in table


def test_the_sources_sensor_observations_carry_the_same_metadata():
    entries = discover(REPO / "algorithms")
    (twap,) = _algorithm_observations(REPO / "algorithms", ["TWAP"], {"TWAP": entries["TWAP"].version})
    assert "horizon_secs" in twap.metadata["parameters"].value and "class TWAP" in twap.metadata["source"].value
    (stale,) = _algorithm_observations(REPO / "algorithms", ["TWAP"], {"TWAP": "another"})  # file changed since
    assert stale.tags["dagster/data_version"] == "another" and not stale.metadata


@pytest.mark.slow
def test_comparison_report_metadata_holds_the_whole_html_report(real_catalog, tmp_path):
    from odum_pipeline.backtests.config import parse_config
    from odum_pipeline.backtests.engine import AlgorithmSpec, run_backtest
    from odum_pipeline.backtests.resources import AlgorithmsResource, ConfigsResource, ResultsResource
    from odum_pipeline.catalog.resources import CatalogResource
    from odum_pipeline.reports.assets import comparison_report

    config = parse_config({
        "name": "ui_compare", "instrument": {"id": BTC_PERP},
        "time_window": {"start": "2023-04-05T00:00:00Z", "end": "2023-04-05T00:03:00Z"},
        "strategy": {"submission_mode": "parent_orders",
                     "parent_orders": [{"side": "BUY", "quantity": 1, "arrival": "2023-04-05T00:00:30Z"}]},
        "environment": {"mode": "report", "model_risk": False},
    })  # fmt: skip
    results = tmp_path / "results"
    for spec in (AlgorithmSpec(), AlgorithmSpec(name="TWAP", params={"horizon_secs": 60, "interval_secs": 20})):
        run_backtest(config, algorithm=spec, catalog_root=real_catalog, results_root=results, mode="report",
                     algorithms_root=REPO / "algorithms")
    with instance_for_test() as instance:
        instance.add_dynamic_partitions("config", ["ui_compare"])
        from odum_pipeline.backtests.assets import backtest_run

        result = materialize([backtest_run, comparison_report], selection=[comparison_report], partition_key="ui_compare",
                             instance=instance, resources={"results": ResultsResource(root=str(results)),
                                                           "catalog": CatalogResource(root=str(real_catalog)),
                                                           "configs": ConfigsResource(), "algorithms": AlgorithmsResource()})
    assert result.success
    metadata = result.asset_materializations_for_node("comparison_report")[0].metadata
    report, html_path = metadata["report"].value, Path(metadata["html_report"].value)
    page = html_path.read_text()
    cells = [html.unescape(c) for c in re.findall(r"<td>(.*?)</td>", page)]
    images = re.findall(r'src="(data:image/png;base64,[^"]+)"', page)
    assert cells and len(images) >= 3
    rows = [line for line in report.splitlines() if line.startswith("| ")]
    for cell in cells:
        assert any(f"| {cell} |" in row for row in rows), cell
    assert all(f"]({image})" in report for image in images)
    assert str(html_path) in report and "ui_compare" in report
