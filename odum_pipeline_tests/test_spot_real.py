"""Real Binance spot ETHUSDT around midnight 2024-08-08/09, end to end through Dagster.

Raw files (../shared/data/real-spot) -> the tick_catalog partitions of both days (materialized on a
real instance) -> backtest_run partitions of a window spanning the two days, one per algorithm, on
a multi-currency CASH account. Parent orders live across midnight: a limit BUY that arrives before
it and fills after it, with every algorithm. Expectations are computed here from the raw files and
the fills, not taken from the code under test.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from dagster import instance_for_test
from nautilus_trader.model.book import OrderBook
from nautilus_trader.model.enums import AggressorSide, BookType
from nautilus_trader.persistence.catalog import ParquetDataCatalog

from odum_pipeline.backtests.assets import backtest_run
from odum_pipeline.backtests.config import parse_config
from odum_pipeline.backtests.engine import BacktestSetupError, run_backtest
from odum_pipeline.backtests.partitions import algorithm_partitions, backtest_partition_key, config_partitions
from odum_pipeline.catalog.layout import BOOK, TRADES, raw_path
from odum_pipeline.pipeline import build_catalog, materialize_partition, storage_resources
from odum_pipeline_tests.conftest import REPO_ROOT

REAL_SPOT = Path(os.environ.get("ODUM_REAL_SPOT_DATA", REPO_ROOT.parent / "shared" / "data" / "real-spot"))
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (REAL_SPOT / "raw_tick_data" / "by_date").is_dir(),
        reason=f"real spot data not found at {REAL_SPOT} (expected ../shared/data/real-spot beside the repo)",
    ),
]

KEY = "BINANCE:SPOT:ETH-USDT"
INSTRUMENT_ID = "ETHUSDT.BINANCE"
DAYS = (dt.date(2024, 8, 8), dt.date(2024, 8, 9))
MIDNIGHT_NS = 1723161600 * 10**9
CONFIG = "real_spot_midnight"
LIMIT_BUY = {"side": "BUY", "quantity": "3", "limit_price": "2680.00", "arrival": "2024-08-08T23:59:40Z",
             "deadline": "2024-08-09T00:03:30Z"}  # fmt: skip
PARENTS = [
    {"side": "BUY", "quantity": "8", "arrival": "2024-08-08T23:58:30Z"},
    LIMIT_BUY,
    {"side": "SELL", "quantity": "5", "arrival": "2024-08-09T00:00:30Z"},
]
ALGORITHMS = {
    "NORMAL": {},
    "TWAP": {"horizon_secs": 180, "interval_secs": 15},
    "VWAP": {"horizon_secs": 180, "intervals": 12},
    "ICEBERG": {"visible_pct": 20.0},
    "POV": {"participation_rate": 0.2, "interval_secs": 10, "horizon_secs": 180},
}
TARDIS_AGGRESSOR = {"buy": AggressorSide.BUYER, "sell": AggressorSide.SELLER, "unknown": AggressorSide.NO_AGGRESSOR}
QUANTUM = Decimal("0.00000001")  # NautilusTrader's USDT precision


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    root = tmp_path_factory.mktemp("real_spot")
    configs = root / "configs"
    configs.mkdir()
    (configs / f"{CONFIG}.json").write_text(
        json.dumps(
            {
                "instrument": {"id": KEY},
                "venue": {"starting_balances": {"USDT": 100000, "ETH": 10}},
                "time_window": {"start": "2024-08-08T23:55:00Z", "end": "2024-08-09T00:04:30Z"},
                "strategy": {"submission_mode": "parent_orders", "parent_orders": PARENTS},
                "execution": {"algorithms": [{"name": name, "params": p} for name, p in ALGORITHMS.items()]},
                "environment": {"mode": "report", "model_risk": False},  # model risk: test_market_model
            },
            indent=1,
        )
    )
    resources = storage_resources(REAL_SPOT, root / "catalog", root / "results", configs, REPO_ROOT / "algorithms")
    with instance_for_test() as instance:
        cells = build_catalog(instance, resources, log=lambda line: None)
        instance.add_dynamic_partitions(config_partitions.name, [CONFIG])
        instance.add_dynamic_partitions(algorithm_partitions.name, list(ALGORITHMS))
        runs = {
            name: materialize_partition(instance, resources, backtest_run, backtest_partition_key(CONFIG, name))
            for name in ALGORITHMS
        }
        yield root, cells, runs


def test_catalog_of_both_days_equals_raw(pipeline):
    root, cells, _ = pipeline
    assert len(cells) == 2
    catalog = ParquetDataCatalog(str(root / "catalog"))
    for day in DAYS:
        start = int(dt.datetime.combine(day, dt.time(0), tzinfo=dt.UTC).timestamp()) * 10**9
        end = start + 86_400 * 10**9 - 1
        raw = pq.read_table(raw_path(REAL_SPOT, day, TRADES, KEY)).to_pandas()
        ticks = catalog.trade_ticks(instrument_ids=[INSTRUMENT_ID], start=start, end=end)
        assert len(ticks) == len(raw) > 0
        assert [t.ts_init for t in ticks] == (raw["local_timestamp"] * 1000).tolist()
        assert [t.ts_event for t in ticks] == (raw["timestamp"] * 1000).tolist()
        assert [str(t.price) for t in ticks] == [f"{p:.2f}" for p in raw["price"]]
        assert [str(t.size) for t in ticks] == [f"{s:.4f}" for s in raw["amount"]]
        assert [t.trade_id.value for t in ticks] == raw["id"].astype(str).tolist()
        assert [t.aggressor_side for t in ticks] == [TARDIS_AGGRESSOR[s] for s in raw["side"]]

        book_raw = pq.read_table(raw_path(REAL_SPOT, day, BOOK, KEY)).to_pandas()
        depths = catalog.order_book_depth10(instrument_ids=[INSTRUMENT_ID], start=start, end=end)
        assert len(depths) == len(book_raw) > 0
        book = OrderBook(depths[0].instrument_id, BookType.L2_MBP)
        for depth, (_, row) in zip(depths, book_raw.iterrows(), strict=True):
            book.apply_depth(depth)
            bids = [(level.price.as_double(), level.size()) for level in book.bids()]
            asks = [(level.price.as_double(), level.size()) for level in book.asks()]
            np.testing.assert_allclose(bids, [(row[f"bids[{i}].price"], row[f"bids[{i}].amount"]) for i in range(5)])
            np.testing.assert_allclose(asks, [(row[f"asks[{i}].price"], row[f"asks[{i}].amount"]) for i in range(5)])


def _summary_and_fills(result):
    metadata = result.asset_materializations_for_node("backtest_run")[0].metadata
    path = Path(metadata["result_path"].value)
    return metadata, json.loads((path / "summary.json").read_text()), pd.read_parquet(path / "fills.parquet")


@pytest.mark.parametrize("algorithm", list(ALGORITHMS))
def test_parent_orders_cross_midnight_on_a_cash_account(pipeline, algorithm):
    _, _, runs = pipeline
    result = runs[algorithm]
    assert result.success, [e.message for e in result.all_events if e.is_failure]
    metadata, summary, fills = _summary_and_fills(result)

    # the trades happen on both days, and the limit BUY that arrived before midnight fills after it
    assert (fills["ts_event"] < MIDNIGHT_NS).any() and (fills["ts_event"] >= MIDNIGHT_NS).any()
    parents = fills.groupby("parent_order_id")
    arrival_ns = int(dt.datetime.fromisoformat(LIMIT_BUY["arrival"].replace("Z", "+00:00")).timestamp()) * 10**9
    assert arrival_ns < MIDNIGHT_NS
    # the limit parent as submitted (its children may be limits for market parents too: passive clips)
    submitted = pd.read_parquet(Path(metadata["result_path"].value) / "parents.parquet")
    limit_parent = list(submitted.loc[submitted["limit_price"].notna(), "client_order_id"])
    assert len(limit_parent) == 1 and int(submitted.set_index("client_order_id").loc[limit_parent[0], "arrival_ns"]) == arrival_ns
    limit_fills = parents.get_group(limit_parent[0])
    assert (limit_fills["ts_event"] >= MIDNIGHT_NS).all()
    assert all(Decimal(str(p)) <= Decimal(LIMIT_BUY["limit_price"]) for p in limit_fills["last_px"])

    # a multi-currency cash account: USDT and ETH, fees in USDT, each balance moved as the fills say
    block = summary["currencies"]
    assert block["account_type"] == "CASH" and summary["currency"] == "USDT" == block["fee_currency"]
    expected = {"ETH": Decimal(0), "USDT": Decimal(0)}
    for fill in fills.itertuples():
        sign = 1 if fill.side == "BUY" else -1
        qty, px = Decimal(str(fill.last_qty)), Decimal(str(fill.last_px))
        assert fill.commission_currency == "USDT"
        fee = qty * px * Decimal("0.001")  # Binance spot taker fee, rounded to USDT's precision (ties either way)
        assert abs(Decimal(str(fill.commission)) - fee) <= QUANTUM / 2
        expected["ETH"] += sign * qty
        expected["USDT"] -= sign * (qty * px).quantize(QUANTUM, ROUND_HALF_EVEN) + Decimal(str(fill.commission))
    assert {code: Decimal(b["starting"]) for code, b in block["balances"].items()} == {"USDT": 100000, "ETH": 10}
    for code, balance in block["balances"].items():
        assert Decimal(balance["final"]) - Decimal(balance["starting"]) == expected[code], code
    assert expected["ETH"] == 0  # close_positions: the run ends with the inventory it started with
    assert summary["identity_holds"] is True
    assert Decimal(block["net_pnl_quote"]) == expected["USDT"]

    # equity marks the traded inventory only (not the 10 ETH held from the start), in USDT
    curve = pd.read_parquet(Path(metadata["result_path"].value) / "equity_curve.parquet")
    assert Decimal(curve["equity"].iloc[0]) == 100000
    assert Decimal(curve["equity"].iloc[-1]) == 100000 + expected["USDT"]
    assert summary["summary"]["max_drawdown"] < 0.01 * 100000

    # Dagster metadata says which currency its money is in
    assert metadata["currency"].value == "USDT"
    assert "USDT" in metadata["money"].value and metadata["identity_holds"].value is True


def test_a_run_that_runs_out_of_money_is_an_error_naming_the_balances(pipeline, tmp_path):
    """NautilusTrader only logs it and stops the replay: with no USDT, the close-out of a SELL cannot
    pay for buying back what was sold plus both fees (its risk check passes: the fee is not in it)."""
    root, _, _ = pipeline

    def run(usdt: int):
        config = parse_config({
            "instrument": {"id": KEY}, "venue": {"starting_balances": {"USDT": usdt, "ETH": 5}},
            "time_window": {"start": "2024-08-08T23:58:00Z", "end": "2024-08-09T00:01:00Z"},
            "strategy": {"submission_mode": "parent_orders",
                         "parent_orders": [{"side": "SELL", "quantity": "2", "arrival": "2024-08-08T23:59:00Z"}]},
        })  # fmt: skip
        return run_backtest(config, catalog_root=root / "catalog", results_root=tmp_path)

    with pytest.raises(BacktestSetupError, match=r"venue.starting_balances: the account \(0 USDT, 5 ETH\) ran out of money"):
        run(0)
    summary = run(100).summary
    assert summary["identity_holds"] is True and summary["summary"]["fills"] >= 2
