"""The market model (issue: results a desk can trust) on the real Binance futures window of
2023-04-05, every expectation worked out here from the raw Tardis files (pyarrow), not from the
engine: order latency, liquidity consumption, queue position, the impact overlay, the Perold cost
of each parent, and the config's ``market`` section.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from odum_pipeline.backtests.book_deltas import depth_to_deltas
from odum_pipeline.backtests.config import ConfigError, config_sha256, parse_config, setup_sha256
from odum_pipeline.backtests.engine import AlgorithmSpec, run_backtest
from odum_pipeline_tests.conftest import BTC_PERP, REAL_DATA, SHIPPED_ALGORITHMS, requires_real_data

pytestmark = requires_real_data

NS = 1_000_000_000
US = 1_000
DAYS = ("2023-04-04", "2023-04-05")


def raw(day: str, data_type: str):
    return pq.read_table(REAL_DATA / "raw_tick_data/by_date" / f"day-{day}" / f"data_type-{data_type}" / f"{BTC_PERP}.parquet")


def raw_book():
    """All raw top-5 snapshots of both days, sorted by receive time (``local_timestamp`` = ts_init)."""
    import pyarrow as pa

    table = pa.concat_tables([raw(day, "book_snapshot_5") for day in DAYS])
    return table.sort_by("local_timestamp")


def raw_trades():
    import pyarrow as pa

    table = pa.concat_tables([raw(day, "trades") for day in DAYS])
    return table.sort_by("local_timestamp")


def ns(text: str) -> int:
    return int(dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()) * NS


class RawBook:
    """Mid and levels of the last raw snapshot received at or before a time (ns)."""

    def __init__(self) -> None:
        table = raw_book()
        self.ts = table["local_timestamp"].to_numpy().astype(np.int64) * US
        self.bid = [table[f"bids[{i}].price"].to_numpy() for i in range(5)]
        self.bid_size = [table[f"bids[{i}].amount"].to_numpy() for i in range(5)]
        self.ask = [table[f"asks[{i}].price"].to_numpy() for i in range(5)]
        self.ask_size = [table[f"asks[{i}].amount"].to_numpy() for i in range(5)]

    def index(self, t: int) -> int:
        return int(np.searchsorted(self.ts, t, side="right") - 1)

    def mid(self, t: int) -> float:
        i = self.index(t)
        return (self.bid[0][i] + self.ask[0][i]) / 2

    def asks(self, i: int) -> dict[float, float]:
        return {self.ask[k][i]: self.ask_size[k][i] for k in range(5)}

    def bids(self, i: int) -> dict[float, float]:
        return {self.bid[k][i]: self.bid_size[k][i] for k in range(5)}


@pytest.fixture(scope="module")
def book() -> RawBook:
    return RawBook()


def config(*, market=None, orders=None, window=("2023-04-05T00:00:00Z", "2023-04-05T00:06:00Z"), close=False, **sections):
    data = {
        "instrument": {"id": BTC_PERP},
        "time_window": {"start": window[0], "end": window[1]},
        "strategy": {
            "submission_mode": "parent_orders",
            "parent_orders": orders or [{"side": "BUY", "quantity": "2", "arrival": "2023-04-05T00:00:30Z"}],
            "close_positions": close,
        },
        "environment": {"mode": "report"},
        **sections,
    }
    if market is not None:
        data["market"] = market
    return parse_config(data)


def run(cfg, catalog, results, algorithm="NORMAL", params=None):
    return run_backtest(
        cfg, algorithm=AlgorithmSpec(algorithm, params or {}), catalog_root=catalog, results_root=results, mode="report",
        algorithms_root=SHIPPED_ALGORITHMS,
    )


def frames(outcome):
    read = lambda name: pq.read_table(outcome.result_path / name).to_pandas()  # noqa: E731
    return read("fills.parquet"), read("orders.parquet")


# --- the config section ---------------------------------------------------------------------------


def test_presets_fill_the_effective_values_and_change_the_hash() -> None:
    realistic = config()
    assert realistic.market.preset.value == "realistic"  # the default
    assert (realistic.market.order_latency_ms, realistic.market.liquidity_consumption) == (Decimal(20), True)
    assert (realistic.market.queue_position, realistic.market.impact) == (True, False)
    optimistic = config(market={"preset": "optimistic"})
    assert (optimistic.market.order_latency_ms, optimistic.market.queue_position) == (Decimal(0), False)
    conservative = config(market={"preset": "conservative", "order_latency_ms": 5})
    assert (conservative.market.order_latency_ms, conservative.market.impact) == (Decimal(5), True)
    # Effective values are what is hashed: the explicit default equals the preset's value.
    assert config_sha256(config(market={"order_latency_ms": 20})) == config_sha256(realistic)
    hashes = {config_sha256(c) for c in (realistic, optimistic, conservative)}
    setups = {setup_sha256(c) for c in (realistic, optimistic, conservative)}
    assert len(hashes) == len(setups) == 3


def test_setup_hash_ignores_the_algorithms_but_not_the_market() -> None:
    base = config()
    twap = config(execution={"algorithms": [{"name": "TWAP"}]})
    assert config_sha256(base) != config_sha256(twap) and setup_sha256(base) == setup_sha256(twap)
    assert setup_sha256(base) != setup_sha256(config(market={"queue_position": False}))


def test_market_errors_name_their_field() -> None:
    with pytest.raises(ConfigError, match=r"venue.liquidity_consumption: moved to market.liquidity_consumption"):
        config(venue={"liquidity_consumption": True})
    with pytest.raises(ConfigError, match=r"market.queue_position: needs data_catalog.snapshot_mode 'both'"):
        config(market={"queue_position": True}, data_catalog={"snapshot_mode": "book"})
    assert config(data_catalog={"snapshot_mode": "book"}).market.queue_position is False  # the preset's on, but impossible
    with pytest.raises(ConfigError, match=r"market.preset"):
        config(market={"preset": "heroic"})


# --- book deltas ----------------------------------------------------------------------------------


def test_deltas_rebuild_every_raw_snapshot(real_catalog: Path, book: RawBook) -> None:
    """Applying the delta batches in order yields, at each snapshot, exactly its 5 raw levels on top."""
    from nautilus_trader.model.book import OrderBook
    from nautilus_trader.model.data import OrderBookDepth10
    from nautilus_trader.model.enums import BookType

    from odum_pipeline.catalog.store import open_catalog

    snapshots = open_catalog(real_catalog).query(
        data_cls=OrderBookDepth10, identifiers=["BTCUSDT-PERP.BINANCE"], start="2023-04-05T00:00:00Z", end="2023-04-05T00:02:00Z"
    )
    matching = OrderBook(snapshots[0].instrument_id, BookType.L2_MBP)
    start = book.index(snapshots[0].ts_init)
    for offset, batch in enumerate(depth_to_deltas(snapshots)):
        matching.apply_deltas(batch)
        i = start + offset
        assert book.ts[i] == batch.ts_init
        assert [(level.price.as_double(), level.size()) for level in matching.asks()[:5]] == sorted(book.asks(i).items())
        bids = sorted(book.bids(i).items(), reverse=True)
        assert [(level.price.as_double(), level.size()) for level in matching.bids()[:5]] == bids


# --- latency, completion, consumption -------------------------------------------------------------


@pytest.mark.slow
def test_no_fill_before_arrival_plus_latency_and_normal_completes(real_catalog: Path, tmp_path: Path, book: RawBook) -> None:
    """The 2 BTC market buy of 00:00:30 reaches the venue 20 ms later (the realistic latency), fills
    there first, and its remainder keeps working until the whole parent is done."""
    outcome = run(config(), real_catalog, tmp_path)
    fills, orders = frames(outcome)
    arrival, latency = ns("2023-04-05T00:00:30Z"), 20 * 1_000_000
    submitted = dict(zip(orders["client_order_id"], orders["ts_init"].astype("int64")))
    assert all(ts >= submitted[order] + latency for ts, order in zip(fills["ts_event"], fills["client_order_id"]))
    assert fills["ts_event"].min() == arrival + latency  # exactly at arrival + latency: the arrival alert
    first = fills[fills["ts_event"] == arrival + latency]
    best_ask = book.ask[0][book.index(arrival + latency)]
    assert float(first["last_px"].min()) == best_ask  # against the book in effect when the order arrived
    assert sum(fills["last_qty"]) == Decimal(2)
    assert outcome.summary["summary"]["fill_ratio"] == 1.0 and outcome.summary["summary"]["unfilled_qty"] == 0
    assert outcome.summary["market"] == {
        "preset": "realistic", "order_latency_ms": 20.0, "liquidity_consumption": True, "queue_position": True,
        "impact": False, "book_replay": "deltas",
    }  # fmt: skip


@pytest.mark.slow
def test_consumption_never_fills_more_than_the_visible_size_between_book_updates(
    real_catalog: Path, tmp_path: Path, book: RawBook
) -> None:
    """Three market buys at the same instant and a big one: per book update, the aggressive fills at
    each price never exceed the size the raw snapshot in effect showed there."""
    at = "2023-04-05T00:01:00Z"
    orders = [{"side": "BUY", "quantity": "1.5", "arrival": at}] * 3 + [
        {"side": "BUY", "quantity": "6", "arrival": "2023-04-05T00:02:00Z"}
    ]
    outcome = run(config(orders=orders), real_catalog, tmp_path)
    fills, _ = frames(outcome)
    taker = fills[fills["liquidity_side"] == "TAKER"]
    assert len(taker) > 5 and float(sum(fills["last_qty"])) == 10.5
    checked = 0
    for (snapshot, price), group in taker.groupby([taker["ts_event"].map(book.index), taker["last_px"].astype(float)]):
        visible = book.asks(snapshot)
        assert price in visible, f"fill at {price} not in the book in effect ({visible})"
        assert float(sum(group["last_qty"])) <= visible[price] + 1e-12
        checked += 1
    assert checked > 5


# --- queue position ------------------------------------------------------------------------------


def aggressor_volume_through(trades, side: str, price: float, start_ns: int) -> tuple[np.ndarray, np.ndarray]:
    """Receive times and cumulative size of the raw trades that hit a resting ``side`` order at
    exactly ``price`` (sells for a buy, buys for a sell), from ``start_ns`` on."""
    ts = trades["local_timestamp"].to_numpy().astype(np.int64) * US
    aggressor = "sell" if side == "BUY" else "buy"
    mask = (ts >= start_ns) & (trades["price"].to_numpy() == price)
    mask &= trades["side"].to_numpy(zero_copy_only=False) == aggressor
    return ts[mask], np.cumsum(trades["amount"].to_numpy()[mask])


def queue_cleared_at(trades, book: RawBook, side: str, price: float, reached: int) -> int | None:
    """When a resting order at ``price`` may first fill: the raw trades at its price have exceeded the
    size visible ahead of it when it reached the venue, or its level left the book (the price moved
    through it: whoever was ahead is gone). None if neither happens in the data."""
    i = book.index(reached)
    ahead = (book.bids(i) if side == "BUY" else book.asks(i))[price]
    times, cumulative = aggressor_volume_through(trades, side, price, reached)
    by_volume = times[np.argmax(cumulative > ahead)] if (cumulative > ahead).any() else None
    later = np.arange(i, len(book.ts))
    through = book.bid[0][later] < price if side == "BUY" else book.ask[0][later] > price
    by_level = book.ts[later[through][0]] if through.any() else None
    candidates = [t for t in (by_volume, by_level) if t is not None]
    return int(min(candidates)) if candidates else None


@pytest.mark.slow
def test_passive_limit_fills_only_after_the_volume_ahead_traded(real_catalog: Path, tmp_path: Path, book: RawBook) -> None:
    """A limit order resting at the touch fills only once the raw trades at its price exceed the size
    that was visible ahead of it when it reached the venue (or its level left the book); without
    queue position it fills at the first trade there, earlier."""
    trades = raw_trades()
    cases = [("BUY", "00:05:00"), ("BUY", "00:01:00"), ("SELL", "00:03:30"), ("SELL", "00:02:00"), ("SELL", "00:04:00")]
    for side, clock in cases:
        arrival = f"2023-04-05T{clock}Z"
        reached = ns(arrival) + 20 * 1_000_000
        i = book.index(reached)
        price = float((book.bid if side == "BUY" else book.ask)[0][i])
        order = {"side": side, "quantity": "0.01", "arrival": arrival, "limit_price": str(price)}
        fills = frames(run(config(orders=[order]), real_catalog, tmp_path / f"{side}{clock}"))[0]
        cleared = queue_cleared_at(trades, book, side, price, reached)
        if cleared is None:
            assert fills.empty, f"{side} {clock}: filled though the queue ahead never cleared"
            continue
        assert set(fills["liquidity_side"]) == {"MAKER"}
        assert int(fills["ts_event"].min()) == cleared, f"{side} {clock}"
    # 00:05:00: the queue ahead (2.416 BTC at 28140.5) is eaten by sells at that price, 3.22 s later.
    reached = ns("2023-04-05T00:05:00Z") + 20 * 1_000_000
    price = float(book.bid[0][book.index(reached)])
    ahead = book.bids(book.index(reached))[price]
    times, cumulative = aggressor_volume_through(trades, "BUY", price, reached)
    queued = int(frames(run(config(orders=[{"side": "BUY", "quantity": "0.01", "arrival": "2023-04-05T00:05:00Z",
                                             "limit_price": str(price)}]), real_catalog, tmp_path / "v"))[0]["ts_event"].min())
    assert cumulative[times <= queued][-1] > ahead >= (cumulative[times < queued][-1] if (times < queued).any() else 0)
    order = {"side": "BUY", "quantity": "0.01", "arrival": "2023-04-05T00:05:00Z", "limit_price": str(price)}
    naive = frames(run(config(orders=[order], market={"queue_position": False}), real_catalog, tmp_path / "naive"))[0]
    assert int(naive["ts_event"].min()) < queued  # without the queue: at the first sell at its price


# --- impact ----------------------------------------------------------------------------------------


@pytest.mark.slow
def test_impact_cost_grows_as_the_square_root_of_size(real_catalog: Path, tmp_path: Path) -> None:
    """Conservative preset, a TWAP of 12 slices: the impact part of the cost, per unit, grows like
    sqrt(Q / v): the log-log slope over four sizes is about 0.5; the overlay's calibration used only
    data before the arrival."""
    sizes = [0.5, 2.0, 8.0, 32.0]
    impact_bps, total_bps = [], []
    for size in sizes:
        order = [{"side": "BUY", "quantity": str(size), "arrival": "2023-04-05T00:00:30Z"}]
        outcome = run(
            config(orders=order, market={"preset": "conservative"}), real_catalog, tmp_path / str(size),
            algorithm="TWAP", params={"horizon_secs": 120, "interval_secs": 10},
        )  # fmt: skip
        calibration = outcome.summary["market"]["impact_calibration"]
        assert calibration["data_end"].startswith("2023-04-05T00:00:30")  # up to the arrival, not after
        from odum_pipeline.reports.tca import write_tca

        result = write_tca(outcome.result_path, real_catalog)
        parent = result.per_parent.iloc[0]
        assert parent["fill_ratio"] == pytest.approx(1.0)
        impact_bps.append(float(parent["impact_cost_bps"]))
        total_bps.append(float(parent["total_cost_bps"]))
    slope = np.polyfit(np.log(sizes), np.log(impact_bps), 1)[0]
    assert 0.35 <= slope <= 0.65, (impact_bps, slope)
    assert total_bps == sorted(total_bps)  # and the total cost grows with size


# --- Perold cost recomputed from the fills and the raw book ---------------------------------------


@pytest.mark.slow
def test_cost_of_each_parent_recomputed_from_fills_and_raw_book(real_catalog: Path, tmp_path: Path, book: RawBook) -> None:
    """A buy with a deadline it cannot meet at its limit and a market sell: IS, opportunity cost,
    fees and the total recomputed here from fills.parquet and the raw snapshots."""
    from odum_pipeline.reports.tca import write_tca

    best_bid = float(book.bid[0][book.index(ns("2023-04-05T00:01:00Z"))])
    orders = [
        {"side": "BUY", "quantity": "3", "arrival": "2023-04-05T00:01:00Z", "limit_price": str(best_bid - 20),
         "deadline": "2023-04-05T00:02:00Z"},
        {"side": "SELL", "quantity": "1.2", "arrival": "2023-04-05T00:03:00Z"},
    ]  # fmt: skip
    outcome = run(config(orders=orders, close=True), real_catalog, tmp_path)
    result = write_tca(outcome.result_path, real_catalog)
    fills, orders_table = frames(outcome)
    # The close-out sent at the window end reaches the venue 20 ms later, past the window: it fills.
    close = orders_table[orders_table["tags"].astype(str).str.contains("CLOSE")]
    assert list(close["status"]) == ["FILLED"] and int(close["ts_last"].iloc[0]) == ns("2023-04-05T00:06:00Z") + 20_000_000
    assert outcome.summary["summary"]["unrealized_pnl"] == 0 and outcome.summary["identity_holds"]
    fills = fills[~fills["is_close"]]
    parents = pq.read_table(outcome.result_path / "parents.parquet").to_pandas()
    window_end = ns("2023-04-05T00:06:00Z")
    for parent in parents.itertuples():
        s = 1.0 if parent.side == "BUY" else -1.0
        q = float(parent.requested_qty)
        own = fills[fills["parent_order_id"] == parent.client_order_id]
        px, qty = own["last_px"].astype(float).to_numpy(), own["last_qty"].astype(float).to_numpy()
        m0 = book.mid(int(parent.arrival_ns))
        end = ns("2023-04-05T00:02:00Z") if parent.side == "BUY" else window_end
        assert int(parent.end_ns) == end
        m_end = book.mid(end)
        execution = s * float(np.sum(qty * (px - m0)))
        opportunity = s * (q - qty.sum()) * (m_end - m0)
        fees = float(own["commission"].astype(float).sum())
        row = result.per_parent.set_index("parent_order_id").loc[parent.client_order_id]
        assert row["implementation_shortfall_bps"] == pytest.approx((execution + opportunity) / (q * m0) * 1e4, abs=1e-9)
        assert row["opportunity_cost_bps"] == pytest.approx(opportunity / (q * m0) * 1e4, abs=1e-9)
        assert row["fees_bps"] == pytest.approx(fees / (q * m0) * 1e4, abs=1e-9)
        total = (execution + opportunity + fees) / (q * m0) * 1e4
        assert row["total_cost_bps"] == pytest.approx(total, abs=1e-9)
        parts = ("spread_cost_bps", "impact_cost_bps", "timing_cost_bps", "opportunity_cost_bps", "fees_bps")
        assert sum(row[p] for p in parts) == pytest.approx(total, abs=1e-9)
    buy = result.per_parent[result.per_parent["side"] == "BUY"].iloc[0]
    assert buy["unfilled_qty"] == 3.0 and buy["opportunity_cost_bps"] != 0  # 20 below the bid: never filled
    aggregate = json.loads((outcome.result_path / "summary.json").read_text())["tca"]
    scale = result.per_parent["requested_qty"] * result.per_parent["arrival_mid"]
    weighted = float((result.per_parent["total_cost_bps"] * scale).sum() / scale.sum())
    assert aggregate["total_cost_bps"] == pytest.approx(weighted, abs=1e-9)


# --- no look-ahead --------------------------------------------------------------------------------


@pytest.mark.slow
def test_default_vwap_on_a_first_day_uses_no_volume_after_arrival(real_catalog: Path, tmp_path: Path) -> None:
    """No earlier day covers 00:00:30-00:02:30: the default profile is the volume of the two minutes
    *before* the arrival (recomputed here from the raw trades), never the horizon's own."""
    arrival = ns("2023-04-05T00:00:30Z")
    params = {"horizon_secs": 120, "intervals": 4}
    outcome = run(config(), real_catalog, tmp_path, algorithm="VWAP", params=params)
    (record,) = outcome.summary["algorithm_schedules"]["VWAP"].values()
    profile = record["profile"]
    assert profile["source"] == "intraday" and profile["look_ahead"] is False
    trades = raw_trades()
    ts = trades["local_timestamp"].to_numpy().astype(np.int64) * US
    size = trades["amount"].to_numpy()
    interval = 30 * NS
    expected = [float(size[(ts >= arrival - 120 * NS + k * interval) & (ts < arrival - 120 * NS + (k + 1) * interval)].sum())
                for k in range(4)]  # fmt: skip
    assert profile["volumes"] == pytest.approx(expected, abs=1e-9)
    assert outcome.summary["look_ahead"] == {"used": False, "reasons": [], "checked": ["VWAP schedules (1 parent(s))"]}


@pytest.mark.slow
def test_realized_vwap_is_flagged_and_left_out_of_the_ranking(real_catalog: Path, tmp_path: Path) -> None:
    from odum_pipeline.reports import compare

    cfg = config(environment={"mode": "report", "model_risk": False})
    run(cfg, real_catalog, tmp_path, algorithm="TWAP", params={"horizon_secs": 120, "interval_secs": 30})
    realized = run(cfg, real_catalog, tmp_path, algorithm="VWAP", params={"horizon_secs": 120, "intervals": 4,
                                                                         "profile_source": "realized"})
    assert realized.summary["look_ahead"]["used"] is True
    assert "volume actually traded during its horizon" in realized.summary["look_ahead"]["reasons"][0]
    (comparison,), _ = compare.build_comparisons(tmp_path, real_catalog)
    assert list(comparison.table["algorithm"]) == ["TWAP"]
    assert [r.label for r in comparison.look_ahead_runs] == ["VWAP"]
    (ranked,), _ = compare.build_comparisons(tmp_path, real_catalog, include_look_ahead=True)
    assert sorted(ranked.table["algorithm"]) == ["TWAP", "VWAP"]


@pytest.mark.slow
def test_impact_calibration_reads_only_data_before_the_arrival(real_catalog: Path, tmp_path: Path, book: RawBook) -> None:
    """sigma of 1-second mid returns and volume per second, recomputed from the raw files over the
    lookback before the first arrival, equal the run's calibration."""
    arrival = ns("2023-04-05T00:01:00Z")
    order = [{"side": "BUY", "quantity": "1", "arrival": "2023-04-05T00:01:00Z"}]
    outcome = run(config(orders=order, market={"preset": "conservative", "impact_lookback_secs": 600}), real_catalog, tmp_path)
    calibration = outcome.summary["market"]["impact_calibration"]
    start = arrival - 600 * NS
    first = book.ts[np.searchsorted(book.ts, start)]
    grid = np.arange(first, arrival, NS)
    mids = np.array([book.mid(int(t)) for t in grid])
    assert calibration["sigma_1s"] == pytest.approx(float(np.std(np.diff(np.log(mids)))), rel=1e-9)
    trades = raw_trades()
    ts = trades["local_timestamp"].to_numpy().astype(np.int64) * US
    volume = float(trades["amount"].to_numpy()[(ts >= start) & (ts < arrival)].sum())
    assert calibration["volume_per_sec"] == pytest.approx(volume / ((arrival - first) / NS), rel=1e-9)
    assert calibration["data_end"] == "2023-04-05T00:01:00.000000000Z"


# --- model risk -----------------------------------------------------------------------------------


@pytest.mark.slow
def test_model_risk_ranks_each_algorithm_under_the_three_presets(real_catalog: Path, tmp_path: Path) -> None:
    """One Dagster-free partition run per algorithm (report mode, parent orders: model risk on by
    default) gives the main runs and a run under each other preset; the comparison ranks each set."""
    from odum_pipeline import settings
    from odum_pipeline.backtests.runs import run_partition
    from odum_pipeline.reports import compare, rendering

    cfg = config(execution={"algorithms": [{"name": "NORMAL"}, {"name": "TWAP", "params": {"horizon_secs": 60, "interval_secs": 10}}]})
    for name in ("NORMAL", "TWAP"):
        outcomes = run_partition(cfg, name, algorithms_root=settings.algorithms_root(), var_root=settings.var_root(),
                                 catalog_root=real_catalog,
                                 results_root=tmp_path)  # fmt: skip
        presets = [o.summary["market"]["preset"] for _, o in outcomes]
        assert presets == ["realistic", "optimistic", "conservative"]
        assert [v.label for v, _ in outcomes][1:] == [f"{name} [optimistic]", f"{name} [conservative]"]
    (comparison,), _ = compare.build_comparisons(tmp_path, real_catalog)
    assert sorted(comparison.table["algorithm"]) == ["NORMAL", "TWAP"]  # the main runs only
    risk = comparison.model_risk
    assert risk is not None and risk.missing == []
    for preset in ("optimistic", "realistic", "conservative"):
        assert sorted(risk.ranks[preset].values()) == [1, 2]
        order = sorted(risk.costs[preset], key=lambda label: risk.costs[preset][label])
        assert [risk.ranks[preset][label] for label in order] == [1, 2]
    assert risk.verdict.startswith(("ranking stable", "ranking changes", "NORMAL best", "TWAP best"))
    assert "Model risk" in rendering.render_html(comparison)


@pytest.mark.slow
def test_one_config_run_per_algorithm_from_the_cli_is_ranked_together(tmp_path: Path, capsys) -> None:
    """The seed's workflow: run-backtest once per algorithm on one config, then compare: every run
    ranked in one comparison (the execution section differs, the market setup does not)."""
    from odum_pipeline.cli import main as odum
    from odum_pipeline.cli import run_backtest

    cfg = tmp_path / "cli_compare.json"
    cfg.write_text(json.dumps({
        "instrument": {"id": BTC_PERP},
        "time_window": {"start": "2023-04-05T00:00:00Z", "end": "2023-04-05T00:03:00Z"},
        "strategy": {"submission_mode": "parent_orders",
                     "parent_orders": [{"side": "BUY", "quantity": 2, "arrival": "2023-04-05T00:00:30Z"}]},
        "environment": {"mode": "report", "model_risk": False},
    }))  # fmt: skip
    common = ["--config", str(cfg), "--raw-root", str(REAL_DATA), "--catalog", str(tmp_path / "catalog"),
              "--results", str(tmp_path / "results")]  # fmt: skip
    assert run_backtest.run([*common, "--exec_algorithm", "NORMAL"]) == 0
    twap = ["--exec_algorithm", "TWAP", "--exec_algorithm_params", '{"horizon_secs": 60, "interval_secs": 10}']
    assert run_backtest.run([*common, *twap]) == 0
    printed = capsys.readouterr().out
    assert "market realistic: latency 20 ms, liquidity_consumption, queue_position" in printed
    assert odum.run(["compare", "--config", "cli_compare", "--results", str(tmp_path / "results"),
                     "--catalog", str(tmp_path / "catalog")]) == 0  # fmt: skip
    table = capsys.readouterr().out
    ranked = [line.split()[1] for line in table.splitlines() if line[:1].isdigit()]
    assert sorted(ranked) == ["NORMAL", "TWAP"] and "other market setups" not in table
    assert "market model realistic: order latency 20 ms" in table
