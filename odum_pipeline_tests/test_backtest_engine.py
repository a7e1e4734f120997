"""The backtest engine on the real Binance BTCUSDT perpetual data (slow), plus fast unit checks.

"In the window" means a trade's ``ts_init`` (the raw ``local_timestamp``, when it was received)
lies in [start, end]: that is the timestamp NautilusTrader's catalog queries and replays by.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from nautilus_trader.model.identifiers import InstrumentId

from odum_pipeline.backtests.config import BookType, load_config, parse_config
from odum_pipeline.backtests.engine import (
    AlgorithmSpec,
    BacktestSetupError,
    _data_configs,
    _venue_config,
    effective_book_type,
    run_backtest,
)
from odum_pipeline.backtests.equity_grid import EquityCurve
from odum_pipeline.backtests.metrics import max_drawdown, round_trip_stats
from odum_pipeline.backtests.run_folder import read_summary
from odum_pipeline.backtests.run_id import is_run_id, make_run_id
from odum_pipeline.instruments.registry import resolve
from odum_pipeline_tests.conftest import REAL_DATA, SHIPPED_ALGORITHMS

REAL_ROOT = REAL_DATA  # ../shared/data/real beside the repo (or $ODUM_REAL_DATA)
KEY = "BINANCE-FUTURES:PERPETUAL:BTC-USDT"
DAYS = (dt.date(2023, 4, 4), dt.date(2023, 4, 5))
CONFIGS = Path(__file__).resolve().parent.parent / "configs"
TAKER_FEE = Decimal("0.0004")


def raw_file(day: dt.date, data_type: str) -> Path:
    return REAL_ROOT / "raw_tick_data/by_date" / f"day-{day.isoformat()}" / f"data_type-{data_type}" / f"{KEY}.parquet"


def config_for(**overrides) -> dict:
    data = {
        "instrument": {"id": KEY},
        "time_window": {"start": "2023-04-05T00:00:00Z", "end": "2023-04-05T00:06:00Z"},
    }
    data.update(overrides)
    return data


def _us(text: str) -> int:
    return int(dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1_000_000)


# --- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real_catalog(tmp_path_factory) -> Path:
    missing = [str(raw_file(day, t)) for day in DAYS for t in ("trades", "book_snapshot_5") if not raw_file(day, t).is_file()]
    if missing:
        pytest.skip(f"real tick data not available (needs {', '.join(missing)})")
    convert = pytest.importorskip("odum_pipeline.catalog.convert", reason="catalog conversion not available")
    root = tmp_path_factory.mktemp("real_catalog")
    for day in DAYS:
        convert.convert_day(REAL_ROOT, root, day, KEY)
    return root


def known_aggressor_trades(start: str, end: str) -> int:
    """Trades received (local_timestamp = ts_init) in [start, end] with a known aggressor, by pyarrow."""
    count = 0
    for day in DAYS:
        table = pq.read_table(raw_file(day, "trades"), columns=["local_timestamp", "side"])
        in_window = pc.and_(
            pc.greater_equal(table["local_timestamp"], _us(start)), pc.less_equal(table["local_timestamp"], _us(end))
        )
        known = pc.is_in(table["side"], value_set=pa.array(["buy", "sell"]))
        count += pc.sum(pc.and_(in_window, known).cast("int64")).as_py() or 0
    return count


def comparable(summary: dict) -> dict:
    return {k: v for k, v in summary.items() if k not in ("run_id", "created_at")}


# --- fast checks ---------------------------------------------------------------------------------


def test_run_id_format() -> None:
    start = dt.datetime(2023, 5, 23, 19, 23, 12, tzinfo=dt.UTC)
    run_id = make_run_id(resolve(KEY), start, "018dd7" + "0" * 58, unique="c54988")
    assert run_id == "BNF_BTC_20230523_19231200_018dd7_c54988"
    assert is_run_id(make_run_id(resolve(KEY), start, "ab" * 32))


def test_max_drawdown_and_round_trips() -> None:
    equities = np.array([100, 110, 90, 95, 120, 60], dtype=float)
    zeros = np.zeros(len(equities))
    curve = EquityCurve(np.arange(len(equities)), equities, zeros, equities, np.full(len(equities), np.nan), zeros)
    assert max_drawdown(curve) == (Decimal(60), Decimal("0.5"))
    assert round_trip_stats([Decimal(1), Decimal(-2), Decimal(3), Decimal(0)]) == (4, 0.5)
    assert round_trip_stats([]) == (0, None)


@pytest.mark.parametrize(
    ("mode", "book_type", "trade_execution", "data"),
    [
        ("trades", "L1_MBP", True, ["TradeTick"]),
        ("book", "L2_MBP", False, ["TradeTick", "OrderBookDepth10"]),
        ("both", "L2_MBP", True, ["TradeTick", "OrderBookDepth10"]),
    ],
)
def test_snapshot_modes_map_to_venue_and_data(mode, book_type, trade_execution, data) -> None:
    config = parse_config(config_for(data_catalog={"snapshot_mode": mode}))
    venue = _venue_config(config)
    assert effective_book_type(config) is BookType[book_type]
    assert (venue.book_type, venue.trade_execution) == (book_type, trade_execution)
    data_configs = _data_configs(config, "/tmp/catalog", InstrumentId.from_str(resolve(KEY).instrument_id))
    assert [d.data_type.__name__ for d in data_configs] == data
    # the window, plus a minute past its end for the close-out (close_positions is on by default)
    assert all(d.start_time == "2023-04-05T00:00:00+00:00" and d.end_time == "2023-04-05T00:07:00+00:00" for d in data_configs)


def test_venue_without_contingent_order_support() -> None:
    """No run sends contingent or passive reduce-only orders; with the switch on, NautilusTrader would list
    every order indexed under the position on each fill (all ExecAlgorithm orders: O(orders) per fill)."""
    assert _venue_config(parse_config(config_for())).support_contingent_orders is False


def test_missing_catalog_instrument_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(BacktestSetupError, match="no instrument BTCUSDT-PERP.BINANCE in the catalog"):
        run_backtest(parse_config(config_for()), catalog_root=tmp_path, results_root=tmp_path / "results")


def test_unknown_algorithm_without_exec_algorithm_is_a_clear_error(real_catalog: Path, tmp_path: Path) -> None:
    with pytest.raises(BacktestSetupError, match="no execution algorithm 'FANCY'.*unknown algorithm 'FANCY'; known: "):
        run_backtest(parse_config(config_for()), algorithm=AlgorithmSpec("FANCY"), catalog_root=real_catalog, results_root=tmp_path,
                     algorithms_root=SHIPPED_ALGORITHMS)


def test_short_window_report(real_catalog: Path, tmp_path: Path) -> None:
    """20 s of per-trade replay in report mode: every result file, progress reported to the end."""
    config = parse_config(config_for(time_window={"start": "2023-04-05T00:00:05Z", "end": "2023-04-05T00:00:25Z"}))
    progress: list[float] = []
    outcome = run_backtest(
        config, catalog_root=real_catalog, results_root=tmp_path, mode="report", export_ticks=True, progress=progress.append
    )
    assert is_run_id(outcome.run_id) and outcome.result_path == tmp_path / "report" / outcome.run_id
    names = {p.name for p in outcome.result_path.iterdir()}
    assert {"summary.json", "orders.parquet", "fills.parquet", "positions.parquet", "equity_curve.parquet",
            "timeline.parquet", "ticks.parquet"} <= names  # fmt: skip
    assert read_summary(outcome.result_path) == json.loads(json.dumps(outcome.summary, default=str))
    summary = outcome.summary["summary"]
    assert summary["orders"] == known_aggressor_trades("2023-04-05T00:00:05Z", "2023-04-05T00:00:25Z")
    assert pq.read_table(outcome.result_path / "ticks.parquet").num_rows >= summary["orders"]
    assert progress and progress[-1] == 1.0 and progress == sorted(progress)
    equity = pq.read_table(outcome.result_path / "equity_curve.parquet").to_pandas()
    assert (equity["reason"] == "grid").sum() >= 20  # the 1-second grid over the window (equity_grid)
    assert outcome.summary["identity_holds"]


# --- slow end-to-end checks ----------------------------------------------------------------------


@pytest.mark.slow
def test_per_trade_tick_real_window(real_catalog: Path, tmp_path: Path) -> None:
    """The original system's replay (one order per trade), on NautilusTrader's default matching:
    no latency or consumption, so no order meets a book our own orders emptied."""
    config = parse_config(config_for(market={"preset": "optimistic"}))
    first = run_backtest(config, catalog_root=real_catalog, results_root=tmp_path, mode="report")
    summary = first.summary["summary"]

    assert summary["orders"] == known_aggressor_trades("2023-04-05T00:00:00Z", "2023-04-05T00:06:00Z")
    assert summary["skipped_rows"] == 0 and summary["rejected"] == 0 and summary["denied"] == 0
    exact = first.summary["exact"]
    assert Decimal(exact["final_balance"]) == Decimal(exact["starting_balance"]) + Decimal(exact["realized_pnl"])
    assert summary["unrealized_pnl"] == 0  # closed at window end

    fills = pq.read_table(first.result_path / "fills.parquet").to_pandas()
    assert len(fills) == summary["fills"]
    assert set(fills["liquidity_side"]) == {"TAKER"}
    per_fill = [(px * qty * TAKER_FEE).quantize(Decimal("1e-8")) for px, qty in zip(fills["last_px"], fills["last_qty"])]
    assert sum(per_fill) == Decimal(exact["fees"])

    second = run_backtest(config, catalog_root=real_catalog, results_root=tmp_path, mode="report")
    assert second.run_id != first.run_id
    assert comparable(second.summary) == comparable(first.summary)

    # Fast mode skips the per-row reports but must report the very same figures.
    fast = run_backtest(config, catalog_root=real_catalog, results_root=tmp_path, mode="fast")
    assert {**comparable(fast.summary), "mode": "report"} == comparable(first.summary)


@pytest.mark.slow
def test_parent_order_fills_at_the_raw_book_walk(real_catalog: Path, tmp_path: Path) -> None:
    arrival = "2023-04-05T00:00:30Z"
    levels = raw_asks(arrival)
    quantity = sum(size for _, size in levels[:3]) - Decimal("0.001")  # a few BTC, into the third level
    assert quantity > levels[0][1] + levels[1][1]
    order = {"side": "BUY", "quantity": str(quantity), "arrival": arrival}
    config = parse_config(config_for(strategy={"submission_mode": "parent_orders", "parent_orders": [order]}))
    outcome = run_backtest(config, catalog_root=real_catalog, results_root=tmp_path, mode="report")
    fills = pq.read_table(outcome.result_path / "fills.parquet").to_pandas()
    entry = fills[~fills["is_close"]]
    assert sum(entry["last_qty"]) == quantity
    assert sorted(set(entry["last_px"])) == [price for price, _ in levels[:3]]
    average = sum(entry["last_px"] * entry["last_qty"]) / quantity
    assert average == walk_raw_asks(arrival, quantity)
    assert outcome.summary["summary"]["fill_ratio"] == 1.0


def walk_raw_asks(at: str, quantity: Decimal) -> Decimal:
    """Average price of buying ``quantity`` through the last raw top-5 snapshot received by ``at``."""
    return walk(raw_asks(at), quantity)[0]


def raw_asks(at: str) -> list[tuple[Decimal, Decimal]]:
    """(price, size) of the ask levels of the last raw top-5 snapshot received by ``at``."""
    table = pq.read_table(raw_file(dt.date(2023, 4, 5), "book_snapshot_5"))
    received = table.filter(pc.less_equal(table["local_timestamp"], _us(at)))
    last = received.slice(received.num_rows - 1).to_pylist()[0]
    return [(Decimal(str(last[f"asks[{i}].price"])), Decimal(str(last[f"asks[{i}].amount"]))) for i in range(5)]


def walk(levels: list[tuple[Decimal, Decimal]], quantity: Decimal) -> tuple[Decimal, list[tuple[Decimal, Decimal]]]:
    """Average price of buying ``quantity`` through ``levels``, and the levels left afterwards."""
    remaining, cost, left = quantity, Decimal(0), []
    for price, size in levels:
        take = min(size, remaining)
        cost, remaining = cost + take * price, remaining - take
        left.append((price, size - take))
    if remaining:
        raise AssertionError(f"the visible book holds less than {quantity}")
    return cost / quantity, left


@pytest.mark.slow
@pytest.mark.parametrize("consumption", [False, True])
def test_liquidity_consumption(real_catalog: Path, tmp_path: Path, consumption: bool) -> None:
    """Two market buys sent at the same instant: with ``liquidity_consumption`` the second one walks
    what the first left of the book; without it both fill against the full visible book."""
    arrival = "2023-04-05T00:00:30Z"
    levels = raw_asks(arrival)
    quantity = (sum(size for _, size in levels) / 2).quantize(Decimal("0.001"), rounding="ROUND_DOWN")
    assert 2 * quantity > levels[0][1]  # together they take more than the best level: the setting matters
    orders = [{"side": "BUY", "quantity": str(quantity), "arrival": arrival}] * 2
    config = parse_config(
        config_for(
            market={"preset": "optimistic", "liquidity_consumption": consumption},
            strategy={"submission_mode": "parent_orders", "parent_orders": orders},
        )
    )
    outcome = run_backtest(config, catalog_root=real_catalog, results_root=tmp_path, mode="report")
    fills = pq.read_table(outcome.result_path / "fills.parquet").to_pandas()
    entry = fills[~fills["is_close"]]
    averages = [
        sum(f["last_px"] * f["last_qty"]) / sum(f["last_qty"])
        for _, f in sorted(entry.groupby("venue_order_id"), key=lambda item: item[0])
    ]
    assert [sum(f["last_qty"]) for _, f in entry.groupby("venue_order_id")] == [quantity, quantity]
    first, left = walk(levels, quantity)
    second = walk(left, quantity)[0] if consumption else first
    assert averages == [first, second]
    assert (second > first) is consumption


@pytest.mark.slow
def test_twap_from_the_registry_by_default(real_catalog: Path, tmp_path: Path) -> None:
    """Without explicit ExecAlgorithm instances, run_backtest loads the registry's TWAP (algorithms/twap.py)."""
    config = load_config(CONFIGS / "real_btc_20230405.json")
    twap = config.execution.by_label("TWAP")
    outcome = run_backtest(
        config, algorithm=AlgorithmSpec(twap.name, twap.params, "v-test"), catalog_root=real_catalog,
        results_root=tmp_path, algorithms_root=SHIPPED_ALGORITHMS,
    )
    summary = outcome.summary["summary"]
    assert outcome.result_path == tmp_path / "fast" / f"{outcome.run_id}.json"
    slices = outcome.summary["algorithm_schedules"]["TWAP"]
    (schedule,) = slices.values()
    assert len(schedule["slices"]) == 12  # 120 s / 10 s
    # The primary itself carries the last slice; re-sent remainders of slices that outgrew the
    # 5 visible levels come on top.
    assert summary["orders"] == 1 and summary["child_orders"] >= 11
    assert summary["requested_qty"] == 2.0 and summary["filled_qty"] == pytest.approx(2.0)
    assert outcome.summary["algorithm"] == {"name": "TWAP", "label": "TWAP", "version": "v-test", "params": twap.params}
    assert outcome.summary["identity_holds"]


@pytest.mark.slow
def test_multi_day_window(real_catalog: Path, tmp_path: Path) -> None:
    """A window across midnight replays both days' trades (the replay, not the market model, is tested)."""
    window = {"start": "2023-04-04T23:58:00Z", "end": "2023-04-05T00:06:00Z"}
    config = parse_config(config_for(time_window=window, market={"preset": "optimistic"}))
    outcome = run_backtest(config, catalog_root=real_catalog, results_root=tmp_path)
    summary = outcome.summary["summary"]
    assert summary["orders"] == known_aggressor_trades(window["start"], window["end"])
    assert outcome.run_id.startswith("BNF_BTC_20230404_23580000_")
    assert outcome.summary["identity_holds"]


@pytest.mark.slow
@pytest.mark.parametrize("snapshot_mode", ["trades", "book"])
def test_other_snapshot_modes_run(real_catalog: Path, tmp_path: Path, snapshot_mode: str) -> None:
    window = {"start": "2023-04-05T00:00:00Z", "end": "2023-04-05T00:01:00Z"}
    config = parse_config(config_for(time_window=window, data_catalog={"snapshot_mode": snapshot_mode}))
    outcome = run_backtest(config, catalog_root=real_catalog, results_root=tmp_path)
    summary = outcome.summary["summary"]
    assert summary["orders"] == known_aggressor_trades(window["start"], window["end"])
    assert summary["fills"] > 0 and outcome.summary["identity_holds"]
    assert outcome.summary["snapshot_mode"] == snapshot_mode


def test_open_position_is_marked_not_closed(real_catalog: Path, tmp_path: Path) -> None:
    window = {"start": "2023-04-05T00:00:05Z", "end": "2023-04-05T00:00:25Z"}
    config = parse_config(config_for(time_window=window, strategy={"close_positions": False}))
    outcome = run_backtest(config, catalog_root=real_catalog, results_root=tmp_path)
    summary, exact = outcome.summary["summary"], outcome.summary["exact"]
    assert summary["close_orders"] == 0 and summary["unrealized_pnl"] != 0
    assert Decimal(exact["final_balance"]) == Decimal(exact["starting_balance"]) + Decimal(exact["realized_pnl"])
    assert summary["net_pnl"] == pytest.approx(summary["realized_pnl"] + summary["unrealized_pnl"])


def test_limit_parent_order_is_cancelled_at_its_deadline(real_catalog: Path, tmp_path: Path) -> None:
    window = {"start": "2023-04-05T00:00:05Z", "end": "2023-04-05T00:00:25Z"}
    order = {"side": "BUY", "quantity": 1, "arrival": "2023-04-05T00:00:10Z", "limit_price": 20000,
             "deadline": "2023-04-05T00:00:15Z"}  # fmt: skip
    config = parse_config(
        config_for(time_window=window, strategy={"submission_mode": "parent_orders", "parent_orders": [order]})
    )
    outcome = run_backtest(config, catalog_root=real_catalog, results_root=tmp_path, mode="report")
    summary = outcome.summary["summary"]
    assert (summary["orders"], summary["fills"], summary["filled_qty"], summary["fill_ratio"]) == (1, 0, 0.0, 0.0)
    orders = pq.read_table(outcome.result_path / "orders.parquet").to_pandas()
    assert list(orders["status"]) == ["CANCELED"]
    # the cancel sent at the deadline reaches the venue one order latency later (realistic: 20 ms)
    assert orders["ts_last"].iloc[0] == _us("2023-04-05T00:00:15Z") * 1_000 + 20_000_000
    timeline = pq.read_table(outcome.result_path / "timeline.parquet").to_pandas()
    assert list(timeline["event"]) == ["parent_submitted", "deadline", "window_end"]
