"""Active-interval replay (``backtests.active_replay``): the engine gets only the intervals in which
some parent works, and every figure equals a full replay's.

- the delta converter's state carried over skipped snapshots (vectorised) equals the state of a
  converter that saw every one of them, on random books (thin sides, empty sides, deep levels);
- identity active vs full on the real windows, through the engine: snapshots and deltas (queue
  position), NORMAL/TWAP, parents with long idle gaps and one that never completes before its
  deadline; the summary, orders, fills, parents, positions, equity curve, timeline and TCA;
- the 1-second equity curve recomputed here from the fills and the raw Tardis book;
- a position held over a skipped idle stretch still counts in the drawdown;
- ``per_trade_tick`` replays in full, and says so.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from nautilus_trader.model.data import OrderBookDepth10
from nautilus_trader.serialization.arrow.serializer import ArrowSerializer

from odum_pipeline.catalog.depth_levels import book_state_after, side_arrays
from odum_pipeline.backtests.book_deltas import DepthToDeltas
from odum_pipeline.catalog.nautilus_arrow import depth10_table

INSTRUMENT = "BTCUSDT-PERP.BINANCE"


def _random_books(seed: int, n: int) -> list[OrderBookDepth10]:
    """Snapshots of a wandering book: 0-5 levels per side with random gaps, sometimes a side empty."""
    rng = np.random.default_rng(seed)
    mid = 1000 + np.cumsum(rng.integers(-3, 4, n))
    columns = {"ts_event": np.arange(n) * 1000 + 1, "ts_init": np.arange(n) * 1000 + 1}
    for side, sign in (("bid", -1), ("ask", 1)):
        counts = rng.choice([0, 1, 2, 3, 4, 5, 5, 5, 5], n)
        offsets = np.cumsum(rng.integers(1, 4, (n, 5)), axis=1)
        for level in range(5):
            present = level < counts
            columns[f"{side}_price_{level}"] = np.where(present, (mid + sign * offsets[:, level]) / 10, 0.0)
            columns[f"{side}_size_{level}"] = np.where(present, rng.integers(1, 50, n) / 1000, 0.0)
    table = depth10_table(pa.table(columns), INSTRUMENT, 1, 3)
    return OrderBookDepth10.from_pyo3_list(ArrowSerializer.deserialize(OrderBookDepth10, table)), table


def _state(converter: DepthToDeltas):
    bids, asks = converter.state()
    return {p: s for p, (_, s) in bids.items()}, {p: s for p, (_, s) in asks.items()}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_state_carried_over_skipped_snapshots_equals_the_converters(seed):
    books, table = _random_books(seed, 400)
    rng = np.random.default_rng(seed + 100)
    deepest = 0
    for _ in range(15):
        first, last = sorted(rng.choice(np.arange(1, len(books)), 2, replace=False))
        replayed = DepthToDeltas()
        for depth in books[:first]:
            replayed.convert(depth)
        skipped = table.slice(first, last - first)
        bids, asks = replayed.state()
        carried = (
            book_state_after(bids, side_arrays(skipped, "bid"), deeper_is_lower=True),
            book_state_after(asks, side_arrays(skipped, "ask"), deeper_is_lower=False),
        )
        reference = DepthToDeltas()
        for depth in books[:last]:
            reference.convert(depth)
        expected = _state(reference)
        deepest = max(deepest, *(len(side) for side in expected))
        assert ({p: s for p, (_, s) in carried[0].items()}, {p: s for p, (_, s) in carried[1].items()}) == expected
        # Resuming at the next snapshot yields the reference's book (CLEAR + every level held).
        resumed = DepthToDeltas()
        resumed.set_state(*carried)
        batch = resumed.resume(books[last])
        reference.convert(books[last])
        assert _state(resumed) == _state(reference)
        assert len(batch.deltas) == 1 + sum(len(side) for side in _state(reference))
    assert deepest > 5  # levels that scrolled out of the visible five were carried over


# --- identity with a full replay, through the engine on the real windows ------------------------------

import json  # noqa: E402
from pathlib import Path  # noqa: E402

from odum_pipeline.backtests.config import parse_config  # noqa: E402
from odum_pipeline.backtests.engine import AlgorithmSpec, run_backtest  # noqa: E402
from odum_pipeline.reports.tca import run_tca  # noqa: E402
from odum_pipeline_tests.conftest import BTC_PERP, REAL_DATA, SHIPPED_ALGORITHMS  # noqa: E402

TABLES = ("parents", "orders", "fills", "positions", "equity_curve", "timeline")
RANDOM_IDS = ("init_id",)  # a fresh UUID4 per order initialisation event
ALGORITHMS = {"NORMAL": {}, "TWAP": {"horizon_secs": 40, "interval_secs": 10}}
#: Windows of the real data, parents with minutes of idle time between them; the limit SELL rests
#: far from the touch and never completes before its deadline.
WINDOWS = {
    "2023-04-04/05": ("2023-04-04T23:58:30Z", "2023-04-05T00:06:00Z",
                      ["2023-04-04T23:59:00Z", "2023-04-05T00:02:30Z", "2023-04-05T00:04:10Z"]),
    "2024-07-18/19": ("2024-07-18T23:57:10Z", "2024-07-19T00:05:00Z",
                      ["2024-07-18T23:58:00Z", "2024-07-19T00:01:30Z", "2024-07-19T00:03:20Z"]),
}  # fmt: skip


def _config(window: str, preset: str, replay: str, *, snapshot_mode: str = "both", close_positions: bool = True,
            parents: list | None = None, **environment):  # fmt: skip
    start, end, (first, second, third) = WINDOWS[window]
    parents = parents or [
        {"side": "BUY", "quantity": "3", "arrival": first},
        {"side": "SELL", "quantity": "1", "arrival": second, "limit_price": "99999",
         "deadline": _plus(second, 50)},
        {"side": "SELL", "quantity": "1", "arrival": third},
    ]  # fmt: skip
    return parse_config(
        {
            "instrument": {"id": BTC_PERP},
            "venue": {"book_type": "L2_MBP"},
            "data_catalog": {"snapshot_mode": snapshot_mode},
            "time_window": {"start": start, "end": end},
            "strategy": {"submission_mode": "parent_orders", "parent_orders": parents, "close_positions": close_positions},
            "market": {"preset": preset},
            "environment": {"mode": "report", "replay": replay, **environment},
        }
    )


def _plus(iso: str, seconds: int) -> str:
    return (pd.Timestamp(iso) + pd.Timedelta(seconds, "s")).isoformat().replace("+00:00", "Z")


def _run(config, algorithm: str, catalog: Path, results: Path, **kwargs):
    return run_backtest(
        config, algorithm=AlgorithmSpec(algorithm, ALGORITHMS[algorithm]), catalog_root=catalog,
        results_root=results, algorithms_root=SHIPPED_ALGORITHMS, mode="report", **kwargs,
    )  # fmt: skip


def _comparable(summary: dict) -> dict:
    return {k: v for k, v in summary.items() if k not in ("run_id", "result_path", "created_at", "replay")}


UUID = r"-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def _without_random_ids(frame: pd.DataFrame) -> pd.DataFrame:
    """Without the fresh UUID4s NautilusTrader draws (order init ids, closed-position snapshot ids)."""
    frame = frame.drop(columns=[c for c in RANDOM_IDS if c in frame.columns])
    if "position_id" in frame.columns:
        frame["position_id"] = frame["position_id"].astype(str).str.replace(UUID, "", regex=True)
    return frame


def _table(outcome, name: str) -> pd.DataFrame:
    return _without_random_ids(pq.read_table(outcome.result_path / f"{name}.parquet").to_pandas())


def assert_identical(active, full, catalog: Path, label: str) -> None:
    assert active.summary["replay"]["mode"] == "active" and full.summary["replay"]["mode"] == "full"
    assert _comparable(active.summary) == _comparable(full.summary), label
    for table in TABLES:
        pd.testing.assert_frame_equal(_table(active, table), _table(full, table), obj=f"{label} {table}")
    tca = [run_tca(outcome.result_path, catalog) for outcome in (full, active)]
    pd.testing.assert_frame_equal(tca[1].per_parent, tca[0].per_parent, obj=f"{label} TCA")
    pd.testing.assert_frame_equal(tca[1].per_fill, tca[0].per_fill, obj=f"{label} fill TCA")
    assert tca[1].aggregate == tca[0].aggregate


def _replayed_less(active, full) -> None:
    replay = active.summary["replay"]
    assert replay["replayed_share"] < 0.6
    assert replay["events"] < 0.7 * full.summary["replay"]["events"]


def test_active_replay_equals_full_with_queue_position(real_catalog, tmp_path):
    """The realistic preset: delta batches (queue position) restarted with a full batch, latency."""
    config = {replay: _config("2023-04-04/05", "realistic", replay) for replay in ("active", "full")}
    progress: list[float] = []
    active = _run(config["active"], "NORMAL", real_catalog, tmp_path / "active", progress=progress.append)
    full = _run(config["full"], "NORMAL", real_catalog, tmp_path / "full")
    assert progress == sorted(progress) and progress[-1] == 1.0 and len(progress) > 100  # through the gaps too
    assert full.summary["market"]["book_replay"] == "deltas"
    assert full.summary["summary"]["fills"] > 0 and full.summary["summary"]["unfilled_qty"] > 0  # the limit parent
    _replayed_less(active, full)
    assert_identical(active, full, real_catalog, "realistic NORMAL")


def _intervals_holding(replayed: list, times) -> set[int]:
    """The indices of the replayed intervals (ISO pairs) that hold each of ``times`` (ns)."""
    bounds = [(pd.Timestamp(first).value, pd.Timestamp(last).value) for first, last in replayed]
    held = set()
    for ts in times:
        matching = [i for i, (first, last) in enumerate(bounds) if first <= ts <= last]
        assert matching, f"{pd.Timestamp(ts, tz='UTC')} was not replayed"
        held.update(matching)
    return held


def test_a_schedule_is_replayed_around_its_slices_and_pov_from_arrival_to_done(real_catalog, tmp_path):
    """TWAP acts only at its alerts (``acts_only_at_alerts``): between two slices nothing of it works,
    so the replay jumps from the snapshot before one slice to the snapshot before the next. POV counts
    the volume traded between its decisions: its parent is replayed without a gap until it is done.
    Both equal a full replay, fills and TCA included."""
    _, _, (first, _, third) = WINDOWS["2023-04-04/05"]
    parents = [{"side": "BUY", "quantity": "2", "arrival": first}, {"side": "SELL", "quantity": "2", "arrival": third}]
    algorithms = {
        "TWAP": {"horizon_secs": 60, "interval_secs": 20},
        "POV": {"participation_rate": 0.05, "interval_secs": 10, "horizon_secs": 60},
    }
    for name, params in algorithms.items():
        outcomes = {}
        for replay in ("active", "full"):
            outcomes[replay] = run_backtest(
                _config("2023-04-04/05", "realistic", replay, parents=parents), algorithm=AlgorithmSpec(name, params),
                catalog_root=real_catalog, results_root=tmp_path / name / replay,
                algorithms_root=SHIPPED_ALGORITHMS, mode="report",
            )  # fmt: skip
        active, full = outcomes["active"], outcomes["full"]
        assert_identical(active, full, real_catalog, name)
        fills = _table(active, "fills")
        replayed = active.summary["replay"]["replayed"]
        for parent in _table(active, "parents")["client_order_id"]:
            parent_fills = fills.loc[fills["parent_order_id"].fillna(fills["client_order_id"]) == parent, "ts_event"]
            held = _intervals_holding(replayed, parent_fills)
            if name == "TWAP":  # three slices, 20 s apart, each in its own replayed interval
                assert len(parent_fills.map(lambda ts: ts // 10**9).unique()) >= 3 and len(held) >= 3, parent
            else:
                assert len(parent_fills) >= 3 and len(held) == 1, parent  # decisions 10 s apart, no gap
    assert active.summary["replay"]["events"] < 0.7 * full.summary["replay"]["events"]


@pytest.mark.slow
@pytest.mark.parametrize(
    "window, preset, snapshot_mode",
    [(w, p, "both") for w in sorted(WINDOWS) for p in ("realistic", "optimistic", "conservative")]
    + [("2024-07-18/19", "realistic", mode) for mode in ("book", "trades")],
)
def test_active_replay_equals_full_on_the_real_windows(real_catalog, tmp_path, window, preset, snapshot_mode):
    for algorithm in ALGORITHMS:
        config = {r: _config(window, preset, r, snapshot_mode=snapshot_mode) for r in ("active", "full")}
        active, full = (_run(config[r], algorithm, real_catalog, tmp_path / algorithm / r) for r in ("active", "full"))
        assert full.summary["summary"]["fills"] > 0
        if snapshot_mode == "trades":  # an L1 book of the last trade's size: the BUY works to the window end
            assert active.summary["replay"]["events"] <= full.summary["replay"]["events"]
        else:
            _replayed_less(active, full)
        assert_identical(active, full, real_catalog, f"{window} {preset} {snapshot_mode} {algorithm}")


def test_replay_is_chosen_by_config_flag_and_adhoc_job_outside_the_content_hash():
    from odum_pipeline.backtests.config import config_sha256
    from odum_pipeline.backtests.jobs import AdhocBacktestRequest, ReplayChoice, adhoc_config
    from odum_pipeline.cli.run_backtest import apply_overrides, build_parser

    document = _config("2023-04-04/05", "realistic", "active").model_dump(mode="json", exclude={"name"})
    assert parse_config({k: v for k, v in document.items() if k != "environment"}).environment.replay.value == "active"
    args = build_parser().parse_args(["--config", "x", "--replay", "full"])
    from_flag = parse_config(apply_overrides(document, args))
    from_job = adhoc_config(document, AdhocBacktestRequest(config_name="x", replay=ReplayChoice.full))
    assert from_flag.environment.replay.value == from_job.environment.replay.value == "full"
    assert config_sha256(from_flag) == config_sha256(parse_config(document))
    with pytest.raises(Exception, match="environment.replay"):
        parse_config({**document, "environment": {"replay": "sometimes"}})


def test_per_trade_tick_replays_in_full(real_catalog, tmp_path):
    data = {
        "instrument": {"id": BTC_PERP},
        "time_window": {"start": "2023-04-05T00:01:00Z", "end": "2023-04-05T00:01:10Z"},
        "strategy": {"submission_mode": "per_trade_tick"},
        "environment": {"replay": "active"},
    }
    outcome = run_backtest(parse_config(data), catalog_root=real_catalog, results_root=tmp_path)
    replay = outcome.summary["replay"]
    assert (replay["mode"], replay["requested"], replay["replayed_share"]) == ("full", "active", 1.0)
    assert "per_trade_tick" in replay["reason"]
    assert outcome.summary["summary"]["orders"] > 0


# --- the equity curve: the 1-second grid from the fills and the raw book -------------------------------


def _raw_mid(day: str) -> tuple[np.ndarray, np.ndarray]:
    """The mid of the raw Tardis book by receive time (``local_timestamp``, µs -> ns)."""
    frames = []
    for path in sorted((REAL_DATA / "raw_tick_data" / "by_date").glob(f"day-{day}*/data_type-book_snapshot_5/*.parquet")):
        frame = pd.read_parquet(path, columns=["local_timestamp", "bids[0].price", "asks[0].price"])
        frames.append(frame)
    book = pd.concat(frames).sort_values("local_timestamp", kind="stable")
    return book["local_timestamp"].to_numpy() * 1000, ((book["bids[0].price"] + book["asks[0].price"]) / 2).to_numpy()


def _independent_equity(outcome, start: str, end_ns: int, day: str) -> tuple[np.ndarray, np.ndarray]:
    """Grid times and equity from fills.parquet and the raw book: a linear USDT perpetual's equity is
    the starting balance, minus what the fills paid (price x quantity, signed) and their fees, plus the
    position at the mark."""
    fills = _table(outcome, "fills")
    grid = np.arange(pd.Timestamp(start).value, end_ns + 1, 1_000_000_000)
    if grid[-1] != end_ns:
        grid = np.append(grid, end_ns)
    book_ts, mid = _raw_mid(day)
    marks = mid[np.searchsorted(book_ts, grid, side="right") - 1]
    sign = np.where(fills["side"] == "BUY", 1.0, -1.0)
    qty = fills["last_qty"].astype(float).to_numpy() * sign
    paid = qty * fills["last_px"].astype(float).to_numpy() + fills["commission"].astype(float).to_numpy()
    upto = np.searchsorted(fills["ts_event"].to_numpy(), grid, side="right")
    cum_qty, cum_paid = np.concatenate([[0.0], np.cumsum(qty)]), np.concatenate([[0.0], np.cumsum(paid)])
    starting = outcome.summary["summary"]["starting_balance"]
    return grid, starting - cum_paid[upto] + cum_qty[upto] * marks


def _drawdown(equity: np.ndarray) -> float:
    return float(np.max(np.maximum.accumulate(equity) - equity))


def test_equity_curve_is_the_one_second_grid_of_fills_and_raw_book(real_catalog, tmp_path):
    config = _config("2023-04-04/05", "optimistic", "active")
    outcome = _run(config, "NORMAL", real_catalog, tmp_path)
    assert outcome.summary["equity_curve"]["grid"] == "1s" and outcome.summary["equity_curve"]["mark"] == "mid"
    curve = _table(outcome, "equity_curve")
    grid, equity = _independent_equity(outcome, "2023-04-04T23:58:30Z", pd.Timestamp("2023-04-05T00:07:00Z").value, "2023-04")
    np.testing.assert_array_equal(curve["ts"].to_numpy(), grid)
    np.testing.assert_allclose(curve["equity"].astype(float).to_numpy(), equity, rtol=0, atol=1e-6)
    assert outcome.summary["summary"]["max_drawdown"] == pytest.approx(_drawdown(equity), abs=1e-6)


def test_drawdown_over_a_skipped_idle_stretch_counts(real_catalog, tmp_path):
    """A position bought at the first arrival and held (no close-out) through minutes the replay skips:
    the drawdown there is part of the summary's, which a curve marked from engine events would miss."""
    start, end, (first, *_) = WINDOWS["2023-04-04/05"]
    parents = [{"side": "BUY", "quantity": "3", "arrival": first}, {"side": "SELL", "quantity": "3", "arrival": _plus(end, -20)}]
    config = _config("2023-04-04/05", "optimistic", "active", close_positions=False, parents=parents)
    outcome = _run(config, "NORMAL", real_catalog, tmp_path)
    replay = outcome.summary["replay"]
    assert replay["replayed_share"] < 0.3
    grid, equity = _independent_equity(outcome, start, pd.Timestamp(end).value, "2023-04")
    replayed = np.zeros(len(grid), bool)
    for first_iso, last_iso in replay["replayed"]:
        replayed |= (grid >= pd.Timestamp(first_iso).value) & (grid <= pd.Timestamp(last_iso).value)
    assert (~replayed).sum() > 0.7 * len(grid)
    assert _drawdown(equity) > _drawdown(equity[replayed]) + 1.0  # the skipped stretch holds the worst fall
    assert outcome.summary["summary"]["max_drawdown"] == pytest.approx(_drawdown(equity), abs=1e-6)


# --- through Dagster ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_active_and_full_partitions_materialize_identically(real_raw_root, real_catalog, tmp_path):
    from dagster import instance_for_test, materialize

    from odum_pipeline.backtests.partitions import algorithm_partitions, backtest_partition_key, config_partitions
    from odum_pipeline.pipeline import ALL_ASSETS, storage_resources

    configs = tmp_path / "configs"
    configs.mkdir()
    base = _config("2024-07-18/19", "realistic", "active").model_dump(mode="json", exclude={"name"})
    for replay in ("active", "full"):
        document = {**base, "environment": {**base["environment"], "replay": replay}}
        (configs / f"real_{replay}.json").write_text(json.dumps(document))
    algorithms = Path(__file__).resolve().parents[1] / "algorithms"
    resources = storage_resources(real_raw_root, real_catalog, tmp_path / "results", configs, algorithms)
    outcomes = {}
    with instance_for_test() as instance:
        instance.add_dynamic_partitions(algorithm_partitions.name, ["TWAP"])
        for replay in ("active", "full"):
            instance.add_dynamic_partitions(config_partitions.name, [f"real_{replay}"])
            result = materialize(
                ALL_ASSETS, selection=["backtest_run"], partition_key=backtest_partition_key(f"real_{replay}", "TWAP"),
                instance=instance, resources=resources,
            )  # fmt: skip
            metadata = result.asset_materializations_for_node("backtest_run")[0].metadata
            outcomes[replay] = Path(metadata["result_path"].value)
    summaries = {replay: json.loads((path / "summary.json").read_text()) for replay, path in outcomes.items()}
    assert summaries["active"]["replay"]["mode"] == "active" and summaries["full"]["replay"]["mode"] == "full"
    assert summaries["active"]["replay"]["events"] < summaries["full"]["replay"]["events"]
    assert summaries["active"]["config"]["sha256"] == summaries["full"]["config"]["sha256"]  # replay is not content

    def comparable(summary):
        return {k: v for k, v in _comparable(summary).items() if k != "config"}

    assert comparable(summaries["active"]) == comparable(summaries["full"])
    for table in TABLES:
        frames = [_without_random_ids(pq.read_table(outcomes[r] / f"{table}.parquet").to_pandas()) for r in ("active", "full")]
        pd.testing.assert_frame_equal(frames[0], frames[1], obj=table)


# --- a synthetic multi-hour window ------------------------------------------------------------------------


@pytest.mark.slow
def test_active_replay_of_a_synthetic_window_equals_full_with_far_fewer_events(tmp_path):
    import datetime as dt

    from odum_pipeline.catalog.convert import convert_day
    from odum_pipeline.catalog.sample import generate_day

    day = dt.date(2024, 1, 3)
    generate_day(tmp_path / "raw", day, BTC_PERP, start_time=dt.time(0), end_time=dt.time(2))
    convert_day(tmp_path / "raw", tmp_path / "catalog", day, BTC_PERP)
    arrivals = ["2024-01-03T00:12:00Z", "2024-01-03T00:47:30Z", "2024-01-03T01:31:00Z"]
    parents = [
        {"side": "BUY", "quantity": "2", "arrival": arrivals[0]},
        {"side": "SELL", "quantity": "1", "arrival": arrivals[1], "deadline": _plus(arrivals[1], 90)},
        {"side": "SELL", "quantity": "2", "arrival": arrivals[2]},
    ]
    outcomes = {}
    for replay in ("active", "full"):
        config = parse_config(
            {
                "instrument": {"id": BTC_PERP},
                "venue": {"book_type": "L2_MBP"},
                "data_catalog": {"snapshot_mode": "both"},
                "time_window": {"start": "2024-01-03T00:00:00Z", "end": "2024-01-03T01:58:00Z"},
                "strategy": {"submission_mode": "parent_orders", "parent_orders": parents, "close_positions": False},
                "market": {"preset": "realistic"},
                "environment": {"mode": "report", "replay": replay},
            }
        )
        outcomes[replay] = run_backtest(
            config, algorithm=AlgorithmSpec("TWAP", {"horizon_secs": 120, "interval_secs": 10}),
            catalog_root=tmp_path / "catalog", results_root=tmp_path / replay, algorithms_root=SHIPPED_ALGORITHMS,
            mode="report",
        )  # fmt: skip
    active, full = outcomes["active"], outcomes["full"]
    assert full.summary["summary"]["fills"] > 0
    assert active.summary["replay"]["replayed_share"] < 0.1
    assert active.summary["replay"]["events"] < 0.1 * full.summary["replay"]["events"]
    assert_identical(active, full, tmp_path / "catalog", "synthetic 2 h")


# --- the restart state read row group by row group ----------------------------------------------------


@pytest.mark.parametrize("indexed", [True, False], ids=["level-index", "no-index"])
def test_restart_state_over_many_row_groups_equals_the_converters(real_raw_root, tmp_path, monkeypatch, indexed):
    """Skips and replayed stretches alternating over a real day written in small row groups (a group
    shared by several restarts, skips spanning groups): the state carried over each skip equals a
    converter's that saw every snapshot, from the day file's level index (only the groups a skip
    starts or ends in are read) or, without one, from every group."""
    import datetime as dt

    from odum_pipeline.backtests.active_replay import BookLevelGroups
    from odum_pipeline.catalog import store
    from odum_pipeline.catalog.convert import convert_day
    from odum_pipeline.catalog.market_data import MarketData

    monkeypatch.setitem(store.PARQUET_OPTIONS, "row_group_size", 200)
    catalog = tmp_path / "catalog"
    convert_day(real_raw_root, catalog, dt.date(2023, 4, 5), "BINANCE-FUTURES:PERPETUAL:BTC-USDT")
    market = MarketData(catalog, INSTRUMENT)
    start = int(pd.Timestamp("2023-04-05T00:00:00Z").value)
    snapshots = store.open_catalog(catalog).query(
        data_cls=OrderBookDepth10, identifiers=[INSTRUMENT], start=start, end=start + 240 * 10**9
    )
    groups = market.row_group_refs(OrderBookDepth10, start, start + 240 * 10**9)
    assert len(snapshots) > 2_000 and len(groups) > 4
    (depth_file,) = {path for path, _ in groups}
    index_file = Path(store.index_path(depth_file))
    assert index_file.is_file()
    if not indexed:
        index_file.unlink()
    times = [s.ts_init for s in snapshots]
    rng = np.random.default_rng(7)
    cuts = sorted({0, len(snapshots), *rng.integers(1, len(snapshots), 24).tolist()})
    levels, active, reference = BookLevelGroups(market), DepthToDeltas(), DepthToDeltas()
    resume, deepest, covered = False, 0, set()
    for number, (first, last) in enumerate(zip(cuts, cuts[1:])):
        for depth in snapshots[first:last]:
            reference.convert(depth)
        if number % 2:  # skipped
            active.set_state(*levels.state_after(active.state(), times[first], times[last - 1]))
            resume = True
            assert _state(active) == _state(reference)
            deepest = max(deepest, *(len(side) for side in _state(reference)))
            covered.update(market.row_group_refs(OrderBookDepth10, times[first], times[last - 1]))
        else:
            for depth in snapshots[first:last]:
                (active.resume if resume else active.convert)(depth)
                resume = False
    assert deepest > 5
    if indexed:  # at most the groups a skip starts or ends in
        assert levels.groups_read <= 2 * (len(cuts) // 2) and levels.groups_read < len(covered)
    else:  # each group a skip touches, once
        assert levels.groups_read == len(covered)
