"""Every shipped algorithm on the real Binance BTCUSDT perpetual data (slow).

Window 2023-04-05T00:00:00Z -> 00:06:00Z; a parent BUY of 2 BTC arrives at 00:00:30 and is executed
over 5 minutes through ``run_backtest(..., mode="report", exec_algorithms=load_exec_algorithms(...))``.
Child counts, quantities and times are read back from the report's orders.parquet/fills.parquet.

Market slices that exhaust the five visible book levels are completed by ``RESEND`` children at the
next book update (see ``odum_pipeline.algorithms.base``); the scheduled slices are the others.
The schedules are checked under the ``optimistic`` market model (no order latency: a slice is sent
and fills at its scheduled instant); the market model has its own tests (test_market_model.py).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from odum_pipeline.algorithms.registry import discover, load_exec_algorithms, resolve_params
from odum_pipeline.algorithms.slicing import NS_PER_SEC, split_quantity
from odum_pipeline.backtests.config import BacktestConfig
from odum_pipeline.backtests.engine import AlgorithmSpec, run_backtest

pytestmark = pytest.mark.slow

KEY = "BINANCE-FUTURES:PERPETUAL:BTC-USDT"
ALGORITHMS = Path(__file__).resolve().parents[1] / "algorithms"
ARRIVAL = dt.datetime(2023, 4, 5, 0, 0, 30, tzinfo=dt.UTC)
ARRIVAL_NS = int(ARRIVAL.timestamp()) * NS_PER_SEC
HORIZON_NS = 300 * NS_PER_SEC
PARENT = Decimal("2")
INC = Decimal("0.001")


def config(name: str, params: dict, limit_price: str | None = None) -> BacktestConfig:
    parent = {"side": "BUY", "quantity": "2", "arrival": ARRIVAL.isoformat()}
    if limit_price is not None:
        parent["limit_price"] = limit_price
    return BacktestConfig.model_validate(
        {
            "instrument": {"id": KEY},
            "venue": {"book_type": "L2_MBP"},
            "data_catalog": {"snapshot_mode": "both"},
            "time_window": {"start": "2023-04-05T00:00:00Z", "end": "2023-04-05T00:06:00Z"},
            "strategy": {"submission_mode": "parent_orders", "parent_orders": [parent], "close_positions": True},
            "execution": {"algorithms": [{"name": name, "params": params}]},
            "environment": {"mode": "report"},
            "market": {"preset": "optimistic"},
        }
    )


class Run:
    def __init__(self, outcome, algorithm) -> None:
        self.outcome, self.algorithm = outcome, algorithm
        orders = pd.read_parquet(outcome.result_path / "orders.parquet")
        fills = pd.read_parquet(outcome.result_path / "fills.parquet")
        self.orders = orders[~orders["tags"].astype(str).str.contains("CLOSE")].copy()
        self.orders["qty"] = self.orders["quantity"].map(lambda q: Decimal(str(q)))
        self.orders["resend"] = self.orders["tags"].astype(str).str.contains("RESEND")
        self.fills = fills[~fills["is_close"]].copy()
        self.fills["qty"] = self.fills["last_qty"].map(lambda q: Decimal(str(q)))
        self.record = next(iter(algorithm.schedule_records.values()))
        # when a slice was sent: a child's ts_init; the primary (sent last, with what is left) is
        # initialised at arrival, so its first fill (market slices fill on submission) stands in
        first_fill = self.fills.groupby("client_order_id")["ts_event"].min()
        is_primary = ~self.orders["client_order_id"].str.contains("-E")
        self.orders["sent"] = self.orders["ts_init"]
        self.orders.loc[is_primary, "sent"] = self.orders.loc[is_primary, "client_order_id"].map(first_fill)

    @property
    def filled(self) -> Decimal:
        return sum(self.fills["qty"], Decimal(0))

    def slices(self) -> pd.DataFrame:
        """The scheduled slices (children and the primary), in submission order."""
        return self.orders[~self.orders["resend"]].sort_values(["sent", "client_order_id"])


@pytest.fixture(scope="module")
def entries():
    return discover(ALGORITHMS)


@pytest.fixture(scope="module")
def run(real_catalog, entries, tmp_path_factory):
    results = tmp_path_factory.mktemp("algorithm_results")

    def execute(name: str, params: dict, limit_price: str | None = None) -> Run:
        entry = entries[name]
        resolved = resolve_params(entry, params)
        algorithms = load_exec_algorithms(entry, params, catalog_root=real_catalog)
        outcome = run_backtest(
            config(name, params, limit_price),
            algorithm=AlgorithmSpec(name, resolved, entry.version),
            catalog_root=real_catalog,
            results_root=results,
            mode="report",
            exec_algorithms=algorithms,
        )
        return Run(outcome, algorithms[0])

    return execute


@pytest.fixture(scope="module")
def raw_trades(real_raw_root):
    path = real_raw_root / "raw_tick_data/by_date/day-2023-04-05/data_type-trades" / f"{KEY}.parquet"
    table = pq.read_table(path, columns=["local_timestamp", "amount"])
    return (
        pc.multiply(table["local_timestamp"], 1000).to_numpy().astype(np.int64),
        table["amount"].to_numpy().astype(np.float64),
    )


def raw_volume(raw_trades, start_ns: int, end_ns: int, *, closed_right: bool = False) -> float:
    ts, size = raw_trades
    mask = (ts > start_ns) & (ts <= end_ns) if closed_right else (ts >= start_ns) & (ts < end_ns)
    return float(size[mask].sum())


def test_twap_real(run):
    result = run("TWAP", {"horizon_secs": 300, "interval_secs": 60})
    assert result.filled == PARENT
    slices = result.slices()
    assert list(slices["sent"]) == [ARRIVAL_NS + k * 60 * NS_PER_SEC for k in range(5)]
    assert list(slices["qty"]) == [Decimal("0.400")] * 5
    assert len(result.orders) - 1 == 4 + int(result.orders["resend"].sum())  # children = 4 slices + re-sends
    # re-sends complete a slice within a second of it, never later
    for ts in result.orders.loc[result.orders["resend"], "ts_init"]:
        assert any(0 < ts - s < NS_PER_SEC for s in slices["sent"])
    assert result.fills["ts_event"].max() <= ARRIVAL_NS + HORIZON_NS


def test_vwap_real_follows_the_real_volume_profile(run, raw_trades):
    result = run("VWAP", {"horizon_secs": 300, "intervals": 10, "profile_source": "realized"})
    assert result.filled == PARENT
    profile = result.record["profile"]
    # Asked for by name: the horizon's own volume, flagged as look-ahead
    assert profile["source"] == "realized" and profile["look_ahead"] is True
    assert result.outcome.summary["look_ahead"]["used"] is True
    interval = 30 * NS_PER_SEC
    expected = [raw_volume(raw_trades, ARRIVAL_NS + k * interval, ARRIVAL_NS + (k + 1) * interval) for k in range(10)]
    assert profile["volumes"] == pytest.approx(expected, abs=1e-9)
    quantities = split_quantity(PARENT, profile["weights"], INC, INC)
    slices = result.slices()
    assert list(slices["qty"]) == [q for q in quantities if q > 0]
    assert list(slices["sent"]) == [ARRIVAL_NS + k * interval for k, q in enumerate(quantities) if q > 0]
    assert len(set(slices["qty"])) > 3  # not an equal split
    # each slice is its interval's share of the volume, to within one size increment
    total = sum(expected)
    for qty, volume in zip(slices["qty"], expected):
        assert abs(float(qty) - 2 * volume / total) <= float(INC)
    assert result.fills["ts_event"].max() <= ARRIVAL_NS + HORIZON_NS


def test_vwap_real_with_a_given_profile(run):
    result = run("VWAP", {"horizon_secs": 300, "intervals": 5, "profile": [1, 2, 3, 2, 2]})
    assert result.filled == PARENT
    assert list(result.slices()["qty"]) == [Decimal(q) for q in ("0.200", "0.400", "0.600", "0.400", "0.400")]
    assert result.record["profile"]["source"] == "given"


def test_iceberg_real_shows_one_clip_at_a_time(run):
    result = run("ICEBERG", {"display_qty": 0.2}, limit_price="28145.0")
    assert result.filled == PARENT
    assert not result.orders["resend"].any()
    clips = result.orders.sort_values(["ts_init", "client_order_id"])
    assert len(clips) == 10 and list(clips["qty"]) == [Decimal("0.200")] * 10
    assert (clips["type"] == "LIMIT").all()
    assert all(Decimal(str(p)) <= Decimal("28145.0") for p in result.fills["last_px"])  # never above the limit
    # replenishment: each clip is sent once the previous one is completely filled (children E1..E9,
    # then the primary itself with the last clip)
    last_fill = result.fills.groupby("client_order_id")["ts_event"].max()
    first_fill = result.fills.groupby("client_order_id")["ts_event"].min()
    by_id = clips.set_index("client_order_id")
    primary = next(c for c in by_id.index if "-E" not in c)
    sequence = sorted((c for c in by_id.index if "-E" in c), key=lambda c: int(c.rsplit("-E", 1)[1])) + [primary]
    for previous, current in zip(sequence, sequence[1:]):
        sent = first_fill[current] if current == primary else by_id.loc[current, "ts_init"]
        assert sent >= last_fill[previous]
    # the parent was passive at arrival: the clips fill later, when the market comes to the price
    assert first_fill.min() > ARRIVAL_NS


def test_pov_real_participates_in_the_observed_volume(run, raw_trades):
    params = {"participation_rate": 0.1, "max_slice": 0.25, "interval_secs": 10, "horizon_secs": 300}
    result = run("POV", params)
    assert result.filled == PARENT
    steps = result.record["steps"]
    previous = ARRIVAL_NS
    for step in steps:
        assert step["ts_ns"] - previous == 10 * NS_PER_SEC
        observed = raw_volume(raw_trades, previous, step["ts_ns"], closed_right=True)
        assert float(step["volume"]) == pytest.approx(observed, abs=1e-9)
        assert Decimal(step["quantity"]) <= Decimal("0.25")
        previous = step["ts_ns"]
    quantities = [Decimal(s["quantity"]) for s in steps if Decimal(s["quantity"]) > 0]
    assert sum(quantities) == PARENT
    assert list(result.slices()["qty"]) == quantities
    assert list(result.slices()["sent"]) == [s["ts_ns"] for s in steps if Decimal(s["quantity"]) > 0]
    # 10% of a busy market exceeds the cap: full 0.25 slices until the last one
    assert quantities[:-1] == [Decimal("0.250")] * (len(quantities) - 1)
