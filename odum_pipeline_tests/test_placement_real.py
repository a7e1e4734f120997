"""Placement, IS and sweeps on the real Binance BTCUSDT perpetual data (slow).

Same setup as ``test_algorithms_real``: window 2023-04-05T00:00:00Z -> 00:06:00Z, a parent BUY of
2 BTC at 00:00:30 over 5 minutes. Passive fills are checked against the raw Tardis trades (not
against what the engine says), so the checks keep holding under a stricter queue model.
"""

from __future__ import annotations

import json
import shutil
from decimal import Decimal
from types import SimpleNamespace

import numpy as np
import pyarrow.parquet as pq
import pytest

from odum_pipeline.algorithms.slicing import NS_PER_SEC
from odum_pipeline_tests.conftest import BTC_PERP, REPO_ROOT
from odum_pipeline_tests.test_algorithms_real import ARRIVAL_NS, HORIZON_NS, PARENT, entries, run  # noqa: F401

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def raw(real_raw_root):
    base = real_raw_root / "raw_tick_data/by_date/day-2023-04-05"
    trades = pq.read_table(base / f"data_type-trades/{BTC_PERP}.parquet", columns=["local_timestamp", "price", "amount"])
    book = pq.read_table(base / f"data_type-book_snapshot_5/{BTC_PERP}.parquet", columns=["local_timestamp", "bids[0].price"])
    return SimpleNamespace(
        trade_ts=trades["local_timestamp"].to_numpy().astype(np.int64) * 1000,
        trade_px=trades["price"].to_numpy(),
        trade_qty=trades["amount"].to_numpy(),
        book_ts=book["local_timestamp"].to_numpy().astype(np.int64) * 1000,
        bid=book["bids[0].price"].to_numpy(),
    )


def test_passive_twap_fills_only_as_a_maker_when_raw_trades_trade_through(run, raw):  # noqa: F811
    result = run("TWAP", {"horizon_secs": 300, "interval_secs": 60, "placement": "passive"})
    children = result.orders[result.orders["client_order_id"].str.contains("-E")]
    assert (children["type"] == "LIMIT").all() and children["tags"].astype(str).str.contains("PASSIVE").all()
    # each child rests at the best bid of the last raw snapshot received when it was sent
    for child in children.itertuples():
        bid = raw.bid[np.searchsorted(raw.book_ts, child.ts_init, side="right") - 1]
        assert Decimal(str(child.price)) == Decimal(str(bid)), child.client_order_id
    fills = result.fills
    assert len(fills) > 0 and (fills["liquidity_side"] == "MAKER").all()
    sent = children.set_index("client_order_id")["ts_init"]
    price = children.set_index("client_order_id")["price"]
    for order_id, own in fills.sort_values("ts_event").groupby("client_order_id"):
        px = float(price[order_id])
        assert (own["last_px"].astype(float) == px).all()  # at its own price, never better for the market
        filled = np.cumsum(own["last_qty"].astype(float).to_numpy())
        for ts, cumulative in zip(own["ts_event"], filled):
            window = (raw.trade_ts > sent[order_id]) & (raw.trade_ts <= ts) & (raw.trade_px <= px)
            assert cumulative <= raw.trade_qty[window].sum() + 1e-9, (order_id, ts)  # raw sells at/through it


def test_adaptive_twap_of_two_btc_completes_by_its_horizon(run):  # noqa: F811
    result = run("TWAP", {"horizon_secs": 300, "interval_secs": 60, "placement": "adaptive"})
    assert result.filled == PARENT
    assert result.fills["ts_event"].max() <= ARRIVAL_NS + HORIZON_NS
    events = result.record["placement_events"]
    crosses = [e for e in events if e["event"] == "cross"]
    assert crosses and crosses[-1]["ts_ns"] == ARRIVAL_NS + 240 * NS_PER_SEC  # the last interval crosses
    taker = result.fills[result.fills["liquidity_side"] == "TAKER"]["qty"]
    assert sum(taker, Decimal(0)) == sum((Decimal(e["quantity"]) for e in crosses), Decimal(0))


def test_is_front_loads_with_high_risk_aversion_and_is_twap_without(run):  # noqa: F811
    urgent = run("IS", {"horizon_secs": 300, "intervals": 10, "risk_aversion": 1e-3})
    quantities = list(urgent.slices()["qty"])
    assert urgent.filled == PARENT and len(quantities) == 10
    assert quantities == sorted(quantities, reverse=True) and quantities[0] > 10 * quantities[-1]
    calibration = urgent.record["calibration"]
    assert calibration["source"] == "catalog" and urgent.record["kappa"] > 0
    # strictly before the arrival, from as far back as the catalog goes (the previous day's file)
    assert ARRIVAL_NS - 300 * NS_PER_SEC <= calibration["data_start_ns"] < calibration["data_end_ns"] < ARRIVAL_NS
    assert calibration["data_start_ns"] < ARRIVAL_NS - 30 * NS_PER_SEC  # 2023-04-04 23:58:20

    straight = run("IS", {"horizon_secs": 300, "intervals": 10, "risk_aversion": 0})
    twap = run("TWAP", {"horizon_secs": 300, "interval_secs": 30})
    assert straight.record["kappa"] == 0
    assert list(straight.slices()["qty"]) == list(twap.slices()["qty"]) == [Decimal("0.200")] * 10
    assert list(straight.slices()["sent"]) == list(twap.slices()["sent"])


def _sweep_config() -> dict:
    parents = [
        {"side": "BUY", "quantity": "1", "arrival": "2023-04-05T00:00:10Z"},
        {"side": "SELL", "quantity": "1", "arrival": "2023-04-05T00:00:50Z"},
        {"side": "BUY", "quantity": "1", "arrival": "2023-04-05T00:01:30Z"},
    ]
    return {
        "instrument": {"id": BTC_PERP},
        "time_window": {"start": "2023-04-05T00:00:00Z", "end": "2023-04-05T00:04:00Z"},
        "strategy": {"submission_mode": "parent_orders", "parent_orders": parents},
        "execution": {"algorithms": [{"name": "TWAP", "params": {"interval_secs": 10}, "sweep": {"horizon_secs": [120, 30, 60]}}]},
        "environment": {"mode": "report", "model_risk": False},
    }


def test_a_sweep_of_three_horizons_runs_three_partitions_ranked_with_a_frontier(real_catalog, tmp_path):
    from dagster import build_sensor_context, instance_for_test, materialize

    from odum_pipeline.backtests.partitions import backtest_partition_key
    from odum_pipeline.definitions import build_definitions
    from odum_pipeline.pipeline import ALL_ASSETS, storage_resources
    from odum_pipeline.reports.assets import comparison_report

    configs, algorithms = tmp_path / "configs", tmp_path / "algorithms"
    configs.mkdir()
    (configs / "sweep.json").write_text(json.dumps(_sweep_config()))
    shutil.copytree(REPO_ROOT / "algorithms", algorithms)
    resources = storage_resources(tmp_path / "raw", real_catalog, tmp_path / "results", configs, algorithms)
    resources["algorithms"] = type(resources["algorithms"])(root=str(algorithms), var_root=str(tmp_path / "var"))
    defs = build_definitions(resources)
    variants = [f"TWAP[horizon_secs={h}]" for h in (30, 60, 120)]
    with instance_for_test() as instance:
        with build_sensor_context(instance_ref=instance.get_ref(), definitions=defs, resources=resources) as context:
            tick = defs.get_sensor_def("backtest_sources_sensor").evaluate_tick(context)
        for request in tick.dynamic_partitions_requests:
            instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
        assert sorted(str(r.partition_key) for r in tick.run_requests) == sorted(f"{v}|sweep" for v in variants)
        assert set(variants) <= set(instance.get_dynamic_partitions("algorithm"))
        run_ids = {}
        for variant in variants:
            done = materialize(ALL_ASSETS, selection=["backtest_run"], partition_key=backtest_partition_key("sweep", variant),
                               instance=instance, resources=resources)  # fmt: skip
            assert done.success
            metadata = done.asset_materializations_for_node("backtest_run")[0].metadata
            assert json.loads(json.dumps(metadata["algorithm_params"].value))["horizon_secs"] == int(variant[18:-1])
            run_ids[variant] = metadata["run_id"].value
        report = materialize([*ALL_ASSETS], selection=[comparison_report], partition_key="sweep", instance=instance, resources=resources)
    assert report.success
    metadata = report.asset_materializations_for_node("comparison_report")[0].metadata
    rows = metadata["table"].records
    assert sorted(r.data["algorithm"] for r in rows) == sorted(variants)
    assert [r.data["rank"] for r in rows] == [1, 2, 3]
    assert {r.data["algorithm"]: r.data["run_id"] for r in rows} == run_ids
    costs = [r.data["total_cost_bps"] for r in rows]
    assert costs == sorted(costs)  # ranked by total cost
    frontier = metadata["frontier"].value
    assert all(v in frontier for v in variants) and "yes" in frontier
    assert "Cost/risk frontier" in metadata["charts"].value
    assert "efficient variants:" in metadata["comparison"].value


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("TWAP", {"horizon_secs": 300, "interval_secs": 60, "placement": "passive"}),
        ("POV", {"horizon_secs": 300, "placement": "adaptive"}),
        ("IS", {"horizon_secs": 120, "intervals": 4, "placement": "adaptive", "risk_aversion": 1e-4}),
        ("ICEBERG", {"display_qty": 0.1}),
    ],
)
def test_placed_parents_never_overfill_and_stop_at_their_deadline(real_catalog, entries, tmp_path, name, params):  # noqa: F811
    import pandas as pd

    from odum_pipeline.algorithms.registry import load_exec_algorithms, resolve_params
    from odum_pipeline.backtests.config import BacktestConfig
    from odum_pipeline.backtests.engine import AlgorithmSpec, run_backtest

    parent = {"side": "SELL", "quantity": "3", "arrival": "2023-04-05T00:00:30Z", "deadline": "2023-04-05T00:01:40Z"}
    config = BacktestConfig.model_validate(
        {
            "instrument": {"id": BTC_PERP},
            "time_window": {"start": "2023-04-05T00:00:00Z", "end": "2023-04-05T00:04:00Z"},
            "strategy": {"submission_mode": "parent_orders", "parent_orders": [parent]},
            "execution": {"algorithms": [{"name": name, "params": params}]},
            "environment": {"mode": "report", "model_risk": False},
        }
    )
    entry = entries[name]
    outcome = run_backtest(
        config, algorithm=AlgorithmSpec(name, resolve_params(entry, params), entry.version), catalog_root=real_catalog,
        results_root=tmp_path, mode="report", exec_algorithms=load_exec_algorithms(entry, params, catalog_root=real_catalog),
    )  # fmt: skip
    orders = pd.read_parquet(outcome.result_path / "orders.parquet")
    fills = pd.read_parquet(outcome.result_path / "fills.parquet")
    entry_orders = orders[~orders["tags"].astype(str).str.contains("CLOSE")]
    filled = sum((Decimal(str(q)) for q in fills.loc[~fills["is_close"], "last_qty"]), Decimal(0))
    deadline = ARRIVAL_NS + 70 * NS_PER_SEC
    assert 0 < filled <= Decimal("3")
    assert (entry_orders["ts_init"] <= deadline).all()  # nothing sent after the deadline
    assert (fills.loc[~fills["is_close"], "ts_event"] <= deadline + NS_PER_SEC).all()
