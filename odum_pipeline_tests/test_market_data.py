"""The one columnar reader of the catalog's market data, against NautilusTrader's own decoding.

TCA, the impact calibrations and the VWAP profiles read trades and book levels through
``MarketData``; every value it decodes from the fixed-point raws must equal what NautilusTrader
itself decodes into ``TradeTick``/``OrderBookDepth10`` objects, on the real converted day.
"""

from __future__ import annotations

import numpy as np

from odum_pipeline.catalog.market_data import BOOK_LEVELS, MarketData
from odum_pipeline.catalog.store import open_catalog
from odum_pipeline.instruments import resolve
from odum_pipeline_tests.conftest import BTC_PERP

INSTRUMENT_ID = resolve(BTC_PERP).instrument_id
START = 1680652800 * 10**9  # 2023-04-05T00:00:00Z
END = START + 120 * 10**9 - 1


def test_trades_are_nautilus_trade_ticks_as_columns(real_catalog):
    ticks = open_catalog(real_catalog).trade_ticks(instrument_ids=[INSTRUMENT_ID], start=START, end=END)
    frame = MarketData(real_catalog, INSTRUMENT_ID).trades(START, END)
    assert len(ticks) > 100 and len(frame) == len(ticks)
    order = np.argsort([t.ts_init for t in ticks], kind="stable")
    assert frame["ts_init"].tolist() == [ticks[i].ts_init for i in order]
    assert frame["price"].tolist() == [ticks[i].price.as_double() for i in order]
    assert frame["size"].tolist() == [ticks[i].size.as_double() for i in order]


def test_book_levels_are_nautilus_depth_snapshots_as_columns(real_catalog):
    snapshots = open_catalog(real_catalog).order_book_depth10(instrument_ids=[INSTRUMENT_ID], start=START, end=END)
    frame = MarketData(real_catalog, INSTRUMENT_ID).book(START, END, levels=BOOK_LEVELS, sizes=True)
    assert len(snapshots) > 100 and len(frame) == len(snapshots)
    assert frame["ts_init"].is_monotonic_increasing
    for row, depth in zip(frame.itertuples(index=False), sorted(snapshots, key=lambda d: d.ts_init)):
        for i in range(BOOK_LEVELS):
            assert getattr(row, f"bid_price_{i}") == depth.bids[i].price.as_double()
            assert getattr(row, f"ask_size_{i}") == depth.asks[i].size.as_double()


def test_a_window_without_data_is_an_empty_frame_with_the_columns(real_catalog):
    frame = MarketData(real_catalog, INSTRUMENT_ID).book(0, 10**9, levels=2)
    assert frame.empty and list(frame.columns) == ["ts_init", "bid_price_0", "bid_price_1", "ask_price_0", "ask_price_1"]
    assert MarketData(real_catalog, INSTRUMENT_ID).trades(0, 10**9).empty
