"""The algorithm comparison on the real Binance BTCUSDT perpetual data (slow): NORMAL vs TWAP in
report mode through ``run_backtest``, TCA, the ranked table, the HTML, the Dagster asset and the
CLI; one row's Perold implementation shortfall, fees, total cost and fill ratio recomputed
independently from its fills.parquet and the raw Tardis files (pyarrow)."""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from odum_pipeline.backtests.config import parse_config
from odum_pipeline.backtests.engine import AlgorithmSpec, run_backtest
from odum_pipeline.reports import compare, rendering, tca
from odum_pipeline_tests.conftest import BTC_PERP, SHIPPED_ALGORITHMS

pytestmark = pytest.mark.slow

CONFIG_NAME = "real_compare"
DAY = dt.date(2023, 4, 5)
BUY_ARRIVAL, SELL_ARRIVAL = "2023-04-05T00:00:30Z", "2023-04-05T00:03:00Z"
ALGORITHMS = {
    "NORMAL": AlgorithmSpec(),
    "TWAP": AlgorithmSpec(name="TWAP", params={"horizon_secs": 60, "interval_secs": 10}),
}


def _ns(text: str) -> int:
    moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return int(moment.timestamp()) * 1_000_000_000


def raw_file(raw_root: Path, data_type: str) -> Path:
    return raw_root / "raw_tick_data/by_date" / f"day-{DAY.isoformat()}" / f"data_type-{data_type}" / f"{BTC_PERP}.parquet"


@pytest.fixture(scope="module")
def runs(real_raw_root, real_catalog, tmp_path_factory):
    if not raw_file(real_raw_root, "book_snapshot_5").is_file():
        pytest.skip(f"the real day {DAY} is not in {real_raw_root}")
    config = parse_config(
        {
            "name": CONFIG_NAME,
            "instrument": {"id": BTC_PERP},
            "time_window": {"start": "2023-04-05T00:00:00Z", "end": "2023-04-05T00:06:00Z"},
            "strategy": {
                "submission_mode": "parent_orders",
                "parent_orders": [
                    {"side": "BUY", "quantity": 2, "arrival": BUY_ARRIVAL, "deadline": "2023-04-05T00:02:30Z"},
                    {"side": "SELL", "quantity": 2, "arrival": SELL_ARRIVAL, "deadline": "2023-04-05T00:05:00Z"},
                ],
            },
            "environment": {"mode": "report"},
        }
    )
    results = tmp_path_factory.mktemp("compare_results")
    outcomes = {
        label: run_backtest(
            config, algorithm=spec, catalog_root=real_catalog, results_root=results, mode="report",
            algorithms_root=SHIPPED_ALGORITHMS,
        )
        for label, spec in ALGORITHMS.items()
    }
    return results, outcomes


@pytest.fixture(scope="module")
def comparison(runs, real_catalog):
    results, _ = runs
    comparisons, computed = compare.build_comparisons(results, real_catalog, config=CONFIG_NAME)
    assert len(computed) == 2  # TCA was missing for both runs
    assert len(comparisons) == 1
    return comparisons[0]


def test_every_algorithm_is_listed_with_its_figures(runs, comparison) -> None:
    _, outcomes = runs
    table = comparison.table.set_index("algorithm")
    assert set(table.index) == set(ALGORITHMS)
    for label, outcome in outcomes.items():
        row = table.loc[label]
        assert row["run_id"] == outcome.run_id
        assert row["parents"] == 2
        for figure in ("fill_ratio", "total_cost_bps", "implementation_shortfall_bps", "vwap_slippage_bps", "spread_paid_bps",
                       "fees_bps", "markout_1s_bps", "markout_5s_bps", "markout_30s_bps", "participation_rate",
                       "mean_time_to_complete_secs", "net_pnl", "fees", "max_drawdown"):  # fmt: skip
            assert row[figure] is not None and row[figure] == row[figure], (label, figure)
        assert row["net_pnl"] == outcome.summary["summary"]["net_pnl"]
        assert row["fill_ratio"] == pytest.approx(outcome.summary["summary"]["fill_ratio"], rel=1e-12)
        assert (outcome.result_path / tca.TCA_FILE).is_file()
        assert tca.read_run(outcome.result_path)["summary"]["tca"]["version"] == tca.TCA_VERSION
    assert list(comparison.table["rank"]) == [1, 2]
    assert comparison.significant is None  # two parent orders: no CI, and the notes say so
    assert any("no confidence interval" in note for note in comparison.notes)


@pytest.mark.parametrize("label", list(ALGORITHMS))
def test_row_recomputed_from_fills_and_raw_ticks(runs, comparison, real_raw_root, label) -> None:
    _, outcomes = runs
    row = comparison.table.set_index("algorithm").loc[label]
    fills = pq.read_table(outcomes[label].result_path / "fills.parquet").to_pandas()
    entry = fills[~fills["is_close"]]
    book = pq.read_table(raw_file(real_raw_root, "book_snapshot_5"))
    trades = pq.read_table(raw_file(real_raw_root, "trades"))

    def raw_mid(at_ns: int) -> float:
        received = book.filter(pc.less_equal(book["local_timestamp"], at_ns // 1000))
        last = received.slice(received.num_rows - 1).to_pylist()[0]
        return (last["bids[0].price"] + last["asks[0].price"]) / 2

    deadlines = {"BUY": "2023-04-05T00:02:30Z", "SELL": "2023-04-05T00:05:00Z"}
    costs, fees_total, scales, quantities = [], 0.0, [], []
    for side, arrival in (("BUY", BUY_ARRIVAL), ("SELL", SELL_ARRIVAL)):
        mine = entry[entry["side"] == side]
        px, qty = mine["last_px"].astype(float).to_numpy(), mine["last_qty"].astype(float).to_numpy()
        mid = raw_mid(_ns(arrival))
        sign = 1.0 if side == "BUY" else -1.0
        execution = sign * float((qty * (px - mid)).sum())
        opportunity = sign * (2.0 - qty.sum()) * (raw_mid(_ns(deadlines[side])) - mid)
        costs.append(execution + opportunity)
        fees_total += float(mine["commission"].astype(float).sum())
        scales.append(2.0 * mid)
        quantities.append(qty.sum())
        # the interval VWAP from the raw trades (received in [arrival, last fill])
        start_us, end_us = _ns(arrival) // 1000, max(int(mine["ts_event"].max()), _ns(arrival) + 1_000_000_000) // 1000
        window = trades.filter(
            pc.and_(pc.greater_equal(trades["local_timestamp"], start_us), pc.less_equal(trades["local_timestamp"], end_us))
        ).to_pandas()
        vwap = (window["price"] * window["amount"]).sum() / window["amount"].sum()
        per_parent = comparison.per_order[label].set_index("side").loc[side]
        assert per_parent["interval_vwap"] == pytest.approx(vwap, rel=1e-9)
        assert per_parent["market_volume"] == pytest.approx(window["amount"].sum(), rel=1e-9)
        assert per_parent["arrival_mid"] == pytest.approx(mid, rel=1e-12)
        assert per_parent["implementation_shortfall_bps"] == pytest.approx(costs[-1] / scales[-1] * 1e4, abs=1e-9)
    assert row["implementation_shortfall_bps"] == pytest.approx(sum(costs) / sum(scales) * 1e4, abs=1e-9)
    assert row["fees_bps"] == pytest.approx(fees_total / sum(scales) * 1e4, abs=1e-9)
    assert row["total_cost_bps"] == pytest.approx((sum(costs) + fees_total) / sum(scales) * 1e4, abs=1e-9)
    assert row["fill_ratio"] == pytest.approx(sum(quantities) / 4.0, rel=1e-9)


def test_html_cli_and_dagster_asset(runs, comparison, real_catalog, capsys) -> None:
    results, outcomes = runs
    from odum_pipeline.reports.compare_charts import comparison_charts

    charts = comparison_charts(comparison, real_catalog)
    assert set(charts) == {
        "Mid price and fills", "Cumulative filled quantity", "Per-parent total cost", "Cost/risk frontier",
    }  # fmt: skip
    assert all(png.startswith(b"\x89PNG") for png in charts.values())
    path = rendering.write_html(comparison, results, charts)
    text = path.read_text()
    assert path == results / "comparison" / f"{CONFIG_NAME}.html"
    assert text.count("data:image/png;base64,") == 4 and all(o.run_id in text for o in outcomes.values())

    from odum_pipeline.cli import compare_commands

    parser = argparse.ArgumentParser()
    compare_commands.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["compare", "--config", CONFIG_NAME, "--results", str(results), "--catalog", str(real_catalog)])
    assert args.handler(args) == 0
    printed = capsys.readouterr().out
    assert all(o.run_id in printed for o in outcomes.values()) and f"HTML report: {path}" in printed

    from dagster import instance_for_test, materialize

    from odum_pipeline.backtests.assets import backtest_run
    from odum_pipeline.backtests.resources import AlgorithmsResource, ConfigsResource, ResultsResource
    from odum_pipeline.catalog.resources import CatalogResource
    from odum_pipeline.reports.assets import comparison_report

    with instance_for_test() as instance:
        instance.add_dynamic_partitions("config", [CONFIG_NAME])
        result = materialize(
            [backtest_run, comparison_report],
            selection=[comparison_report],
            partition_key=CONFIG_NAME,
            instance=instance,
            resources={
                "results": ResultsResource(root=str(results)),
                "catalog": CatalogResource(root=str(real_catalog)),
                "configs": ConfigsResource(),
                "algorithms": AlgorithmsResource(),
            },
        )
    assert result.success
    metadata = result.asset_materializations_for_node("comparison_report")[0].metadata
    assert metadata["html_report"].value == str(path)
    assert all(o.run_id in metadata["comparison"].value for o in outcomes.values())
    assert {r.data["run_id"] for r in metadata["table"].records} == {o.run_id for o in outcomes.values()}
    assert metadata["charts"].value.count("](data:image/png;base64,") == 4
