"""The synthetic market generator: determinism, schemas, invariants and the trades-vs-book guarantee."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from odum_pipeline.catalog.checks import check_ticks
from odum_pipeline.catalog.layout import BOOK, BOOK_DEPTH, TRADES, discover_raw_files
from odum_pipeline.catalog.readers import read_raw
from odum_pipeline.catalog.sample import (
    DEFAULT_SAMPLE,
    INSTRUMENTS,
    generate_day,
    generate_default_sample,
    generate_sample,
)
from odum_pipeline.instruments.registry import list_instruments, resolve
from odum_pipeline_tests.conftest import REAL_DATA

BTC = "BINANCE-FUTURES:PERPETUAL:BTC-USDT"
ETH = "BINANCE-FUTURES:PERPETUAL:ETH-USDT"
SPOT = "BINANCE:SPOT:BTC-USDT"
DAY = dt.date(2023, 5, 23)
REAL_RAW = REAL_DATA / "raw_tick_data/by_date"
WINDOW = dict(start_time=dt.time(19, 20), end_time=dt.time(19, 30))


def _day(tmp_path: Path, key: str = BTC, **kwargs):
    return generate_day(tmp_path, DAY, key, **{**WINDOW, **kwargs})


def _np(table, name):
    return table.column(name).to_numpy()


def _book_arrays(book):
    ts = _np(book, "timestamp")
    ask_p = np.column_stack([_np(book, f"asks[{i}].price") for i in range(BOOK_DEPTH)])
    ask_s = np.column_stack([_np(book, f"asks[{i}].amount") for i in range(BOOK_DEPTH)])
    bid_p = np.column_stack([_np(book, f"bids[{i}].price") for i in range(BOOK_DEPTH)])
    bid_s = np.column_stack([_np(book, f"bids[{i}].amount") for i in range(BOOK_DEPTH)])
    return ts, ask_p, ask_s, bid_p, bid_s


def _precision(step: float) -> int:
    return -Decimal(repr(step)).normalize().as_tuple().exponent


def _on_grid(values, step):
    scaled = np.asarray(values) / step
    return np.abs(scaled - np.rint(scaled)) < 1e-6


# ----------------------------------------------------------------------------- determinism


def test_same_arguments_give_byte_identical_files(tmp_path):
    a = _day(tmp_path / "a", unknown_side_share=0.005)
    b = _day(tmp_path / "b", unknown_side_share=0.005)
    c = _day(tmp_path / "c", unknown_side_share=0.005, seed=7)
    assert (a.trades_rows, a.book_rows) == (b.trades_rows, b.book_rows)
    assert a.trades_path.read_bytes() == b.trades_path.read_bytes()
    assert a.book_path.read_bytes() == b.book_path.read_bytes()
    assert a.trades_path.read_bytes() != c.trades_path.read_bytes()  # an explicit seed changes the data


def test_every_registry_instrument_has_its_grids():
    for spec in list_instruments():
        synthetic = INSTRUMENTS[spec.key]
        assert Decimal(repr(synthetic.tick)) == Decimal(spec.price_increment)
        assert Decimal(repr(synthetic.lot)) == Decimal(spec.size_increment)  # inverse: contracts (USD)


def test_unknown_instrument_key_raises_naming_it(tmp_path):
    with pytest.raises(ValueError, match="BINANCE:SPOT:DOGE-USDT"):
        generate_day(tmp_path, DAY, "BINANCE:SPOT:DOGE-USDT")
    with pytest.raises(ValueError, match="NOPE:X:Y"):
        generate_sample(tmp_path, [DAY], [BTC, "NOPE:X:Y"], **WINDOW)
    assert not list(tmp_path.rglob("*.parquet"))  # keys are validated before anything is written


def test_unknown_parameter_and_schema_raise(tmp_path):
    with pytest.raises(TypeError, match="trades_per_sec"):
        _day(tmp_path, trades_per_sec=3)
    with pytest.raises(ValueError, match="csv"):
        _day(tmp_path, schema="csv")


# ---------------------------------------------------------------------------------- schemas


@pytest.mark.parametrize("data_type", [TRADES, BOOK])
def test_tardis_schema_equals_the_real_files(tmp_path, data_type):
    real = [f for f in discover_raw_files(REAL_RAW.parent.parent) if f.data_type == data_type] if REAL_RAW.is_dir() else []
    if not real:
        pytest.skip(f"no real Tardis {data_type} files under {REAL_RAW} to compare the schema with")
    files = _day(tmp_path)
    ours = pq.read_schema(files.trades_path if data_type == TRADES else files.book_path)
    theirs = pq.read_schema(real[0].path)
    assert ours.names == theirs.names
    assert ours.types == theirs.types


def test_nautilus_schema_and_same_data_as_tardis(tmp_path):
    tardis = _day(tmp_path / "t")
    nautilus = _day(tmp_path / "n", schema="nautilus")
    trades = pq.read_schema(nautilus.trades_path)
    assert trades.names == ["instrument_key", "price", "size", "aggressor_side", "trade_id", "ts_event", "ts_init"]
    assert [str(t) for t in trades.types] == ["string", "double", "double", "int8", "string", "int64", "int64"]
    book = pq.read_schema(nautilus.book_path)
    levels = [f"{name}_{i}" for name in ("bid_price", "bid_size", "ask_price", "ask_size") for i in range(BOOK_DEPTH)]
    assert book.names == ["instrument_key", "ts_event", "ts_init", *levels]
    assert [str(t) for t in book.types] == ["string", "int64", "int64"] + ["double"] * len(levels)
    # both schemas carry the same ticks once normalised by the project's readers
    for data_type, a, b in ((TRADES, tardis.trades_path, nautilus.trades_path), (BOOK, tardis.book_path, nautilus.book_path)):
        ta, tb = read_raw(a, data_type), read_raw(b, data_type)
        common = [c for c in ta.column_names if c in tb.column_names]
        assert ta.select(common).equals(tb.select(common))


@pytest.mark.parametrize("key", sorted(INSTRUMENTS))  # every registry instrument, spot and inverse
def test_project_quality_checks_pass(tmp_path, key):
    files = _day(tmp_path, key, schema="nautilus", unknown_side_share=0.005)
    spec = resolve(key)  # the registry's grids, not the generator's copy of them
    for data_type, path in ((TRADES, files.trades_path), (BOOK, files.book_path)):
        report = check_ticks(
            read_raw(path, data_type),
            data_type,
            price_precision=spec.price_precision,
            size_precision=spec.size_precision,
        )
        assert not report.errors, report.errors


# ------------------------------------------------------------------------------- invariants


@pytest.mark.parametrize("key", sorted(INSTRUMENTS))
def test_invariants(tmp_path, key):
    spec = INSTRUMENTS[key]
    files = _day(tmp_path, key)
    trades, book = pq.read_table(files.trades_path), pq.read_table(files.book_path)
    for table in (trades, book):
        ts, local = _np(table, "timestamp"), _np(table, "local_timestamp")
        assert (np.diff(ts) >= 0).all() and (np.diff(local) >= 0).all()
        assert (local > ts).all() and (local - ts < 1_000_000).all()
    ids = _np(trades, "id").astype(np.int64)
    assert (np.diff(ids) > 0).all()
    assert set(_np(trades, "side")) == {"buy", "sell"}  # no unknown side unless asked for
    assert _on_grid(_np(trades, "price"), spec.tick).all() and _on_grid(_np(trades, "amount"), spec.lot).all()
    assert (_np(trades, "amount") > 0).all()
    _, ask_p, ask_s, bid_p, bid_s = _book_arrays(book)
    assert (bid_p[:, 0] < ask_p[:, 0]).all()
    assert np.allclose(np.diff(ask_p, axis=1), spec.tick) and np.allclose(np.diff(bid_p, axis=1), -spec.tick)
    assert _on_grid(np.concatenate([ask_p, bid_p]), spec.tick).all()
    assert _on_grid(np.concatenate([ask_s, bid_s]), spec.lot).all() and (np.concatenate([ask_s, bid_s]) > 0).all()


def test_realism_book_moves_spread_mostly_one_tick_bursty_flow(tmp_path):
    spec = INSTRUMENTS[BTC]
    files = generate_day(tmp_path, DAY, BTC, start_time=dt.time(19, 0), end_time=dt.time(20, 0))
    trades, book = pq.read_table(files.trades_path), pq.read_table(files.book_path)
    ts, ask_p, ask_s, bid_p, _ = _book_arrays(book)
    spread = np.rint((ask_p[:, 0] - bid_p[:, 0]) / spec.tick)
    assert (spread == 1).mean() > 0.8 and spread.max() >= 2
    mid_moves = np.count_nonzero(np.diff(ask_p[:, 0] + bid_p[:, 0]))
    assert mid_moves > 1000  # the mid walks
    gaps_ms = np.diff(ts) / 1000
    assert np.median(gaps_ms) < 100 and gaps_ms.max() < 100.5
    large = ask_s[:, 1:].ravel()
    assert np.quantile(large, 0.999) > 10 * np.median(large)  # occasional large resting orders
    per_second = np.bincount((_np(trades, "timestamp") - _np(trades, "timestamp")[0]) // 1_000_000)
    assert per_second.var() / per_second.mean() > 5  # bursts and lulls, far from Poisson
    assert 0.4 < (_np(trades, "side") == "buy").mean() < 0.6


def test_unknown_side_share(tmp_path):
    files = _day(tmp_path, unknown_side_share=0.005, end_time=dt.time(20, 0))
    sides = _np(pq.read_table(files.trades_path), "side")
    assert 0.002 < (sides == "unknown").mean() < 0.01


# --------------------------------------------------------------------- trades vs book guarantee


def test_trades_hit_the_prevailing_best_prices_and_deplete_the_book(tmp_path):
    """Each trade fills at level k of the latest snapshot strictly before it: k = 0 for the first fill
    of a timestamp, k = 1 only after earlier fills at that timestamp exhausted level 0. With resting
    sizes frozen (``depth_refresh_ms=None``), the top size between two snapshots drops by exactly the
    volume traded at it, and a trade-driven shift of the top happens exactly when it is exhausted."""
    spec = INSTRUMENTS[BTC]
    files = _day(tmp_path, depth_refresh_ms=None)
    trades, book = pq.read_table(files.trades_path), pq.read_table(files.book_path)
    ts, ask_p, ask_s, bid_p, bid_s = _book_arrays(book)
    t_ts, price, lots = _np(trades, "timestamp"), _np(trades, "price"), np.rint(_np(trades, "amount") / spec.lot)
    buy = _np(trades, "side") == "buy"
    snap = np.searchsorted(ts, t_ts, side="left") - 1  # latest snapshot strictly before each trade
    assert (snap >= 0).all()
    level_px = np.where(buy[:, None], ask_p[snap], bid_p[snap])
    level = np.argmax(np.abs(level_px - price[:, None]) < spec.tick / 10, axis=1)
    assert (np.abs(level_px[np.arange(level.size), level] - price) < spec.tick / 10).all()  # a price of the snapshot's book
    first_of_ts = np.r_[True, t_ts[1:] != t_ts[:-1]]
    assert (level[first_of_ts] == 0).all() and set(level) == {0, 1}
    # per snapshot interval (ts[j], ts[j+1]]: volume traded at the top of each side
    n = ts.size
    top_lots = {
        side: np.bincount(snap[mask & (level == 0)], weights=lots[mask & (level == 0)], minlength=n)
        for side, mask in (("ask", buy), ("bid", ~buy))
    }
    for side, px, size in (("ask", ask_p[:, 0], ask_s[:, 0]), ("bid", bid_p[:, 0], bid_s[:, 0])):
        size_lots, traded = np.rint(size / spec.lot), top_lots[side]
        same = px[1:] == px[:-1]
        assert np.array_equal((size_lots[:-1] - traded[:-1])[same], size_lots[1:][same])
        swept = (px[1:] != px[:-1]) & np.isin(ts[1:], t_ts) & (traded[:-1] > 0)
        shifted_away = (px[1:] > px[:-1]) if side == "ask" else (px[1:] < px[:-1])
        assert swept.sum() > 10 and (shifted_away[swept]).all()
        assert np.array_equal(traded[:-1][swept], size_lots[:-1][swept])
        assert (traded[:-1] <= size_lots[:-1]).all()


# ---------------------------------------------------------------------------- default sample


def test_default_sample_is_small_and_covers_the_window(tmp_path):
    samples = generate_default_sample(tmp_path)
    assert {s.instrument_key for s in samples} == set(DEFAULT_SAMPLE["instrument_keys"])
    total = sum(s.trades_path.stat().st_size + s.book_path.stat().st_size for s in samples)
    assert total < 8 * 2**20
    lo = int(dt.datetime(2023, 5, 23, 19, 23, tzinfo=dt.timezone.utc).timestamp() * 1e6)
    hi = int(dt.datetime(2023, 5, 23, 19, 28, tzinfo=dt.timezone.utc).timestamp() * 1e6)
    for s in samples:
        for path in (s.trades_path, s.book_path):
            ts = _np(pq.read_table(path, columns=["timestamp"]), "timestamp")
            assert ts[0] <= lo and ts[-1] >= hi
            assert ((ts >= lo) & (ts <= hi)).sum() > 1000
    found = {(f.day, f.data_type, f.instrument_key) for f in discover_raw_files(tmp_path)}
    assert found == {(DAY, t, k) for t in (TRADES, BOOK) for k in DEFAULT_SAMPLE["instrument_keys"]}
