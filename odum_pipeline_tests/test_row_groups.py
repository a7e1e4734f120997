"""The active replay's catalog reader hands out exactly what NautilusTrader's catalog query returns
(real data written in small row groups, ranges moving forward as a replay reads them, and jumps)."""

import datetime as dt

import numpy as np
import pytest
from nautilus_trader.model.data import OrderBookDepth10, TradeTick

from odum_pipeline.catalog import store
from odum_pipeline.catalog.convert import convert_day
from odum_pipeline.catalog.market_data import MarketData
from odum_pipeline.catalog.row_groups import CatalogRows

DAY = dt.date(2023, 4, 5)
INSTRUMENT = "BTCUSDT-PERP.BINANCE"


@pytest.fixture(scope="module")
def small_groups_catalog(real_raw_root, tmp_path_factory):
    catalog = tmp_path_factory.mktemp("row_groups") / "catalog"
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(store.PARQUET_OPTIONS, "row_group_size", 300)
        convert_day(real_raw_root, catalog, DAY, "BINANCE-FUTURES:PERPETUAL:BTC-USDT")
    return catalog


def _fields(rows) -> list:
    """Every value of each row (NautilusTrader's own dict form: prices, sizes, flags, times, ids)."""
    return [type(row).to_dict(row) for row in rows]


@pytest.mark.parametrize("data_cls", [TradeTick, OrderBookDepth10], ids=["trades", "depth"])
def test_rows_by_time_range_are_the_catalog_querys(small_groups_catalog, data_cls):
    catalog = store.open_catalog(small_groups_catalog)
    everything = catalog.query(data_cls=data_cls, identifiers=[INSTRUMENT])
    times = np.array([row.ts_init for row in everything])
    start, end = int(times[0]), int(times[-1])
    reader = CatalogRows(MarketData(small_groups_catalog, INSTRUMENT), data_cls, start, end)
    rng = np.random.default_rng(11)
    at, ranges = start, []
    while at <= end:  # half-second slices, and now and then a jump of up to 10 s
        at += int(rng.integers(0, 10 * 10**9)) if rng.random() < 0.1 else 0
        ranges.append((at, at + 500_000_000 - 1))
        at += 500_000_000
    ranges.append((int(times[len(times) // 2]), int(times[len(times) // 2])))  # one timestamp (going back)
    checked = 0
    for first, last in ranges:
        expected = catalog.query(data_cls=data_cls, identifiers=[INSTRUMENT], start=first, end=last)
        got = reader.take(first, last)
        assert _fields(got) == _fields(expected), (first, last)
        checked += len(got)
    assert len(ranges) > 200 and checked > len(everything) // 2
    assert len(MarketData(small_groups_catalog, INSTRUMENT).row_group_refs(data_cls, start, end)) > 10
