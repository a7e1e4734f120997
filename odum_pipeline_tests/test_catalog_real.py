"""The catalog holds exactly the real raw ticks: trades row for row, books level for level."""

from __future__ import annotations

import datetime as dt
import hashlib

import numpy as np
import pyarrow.parquet as pq
import pytest
from nautilus_trader.model.book import OrderBook
from nautilus_trader.model.enums import AggressorSide, BookType
from nautilus_trader.persistence.catalog import ParquetDataCatalog

from odum_pipeline.catalog.convert import convert_day
from odum_pipeline.catalog.layout import BOOK, TRADES, discover_raw_files, raw_path
from odum_pipeline_tests.conftest import BTC_PERP

REAL_DAYS = ["2023-04-04", "2023-04-05", "2024-07-18", "2024-07-19"]
TARDIS_AGGRESSOR = {"buy": AggressorSide.BUYER, "sell": AggressorSide.SELLER, "unknown": AggressorSide.NO_AGGRESSOR}


def _converted(real_raw_root, tmp_path, day: str) -> ParquetDataCatalog:
    convert_day(real_raw_root, tmp_path, dt.date.fromisoformat(day), BTC_PERP)
    return ParquetDataCatalog(str(tmp_path))


@pytest.mark.parametrize("day", REAL_DAYS)
def test_catalog_trades_equal_raw_rows(real_raw_root, tmp_path, day):
    raw = pq.read_table(raw_path(real_raw_root, dt.date.fromisoformat(day), TRADES, BTC_PERP)).to_pandas()
    ticks = _converted(real_raw_root, tmp_path, day).trade_ticks()

    assert len(ticks) == len(raw)
    assert [t.ts_event for t in ticks] == (raw["timestamp"] * 1000).tolist()
    assert [t.ts_init for t in ticks] == (raw["local_timestamp"] * 1000).tolist()
    assert [str(t.price) for t in ticks] == [f"{p:.1f}" for p in raw["price"]]
    assert [str(t.size) for t in ticks] == [f"{s:.3f}" for s in raw["amount"]]
    assert [t.trade_id.value for t in ticks] == raw["id"].astype(str).tolist()
    assert [t.aggressor_side for t in ticks] == [TARDIS_AGGRESSOR[s] for s in raw["side"]]


@pytest.mark.parametrize("day", REAL_DAYS)
def test_replayed_book_is_exactly_the_raw_top5_at_every_snapshot(real_raw_root, tmp_path, day):
    raw = pq.read_table(raw_path(real_raw_root, dt.date.fromisoformat(day), BOOK, BTC_PERP)).to_pandas()
    depths = _converted(real_raw_root, tmp_path, day).order_book_depth10()
    assert len(depths) == len(raw)

    book = OrderBook(depths[0].instrument_id, BookType.L2_MBP)
    for depth, (_, row) in zip(depths, raw.iterrows(), strict=True):
        book.apply_depth(depth)
        bids = [(level.price.as_double(), level.size()) for level in book.bids()]
        asks = [(level.price.as_double(), level.size()) for level in book.asks()]
        expected_bids = [(row[f"bids[{i}].price"], row[f"bids[{i}].amount"]) for i in range(5)]
        expected_asks = [(row[f"asks[{i}].price"], row[f"asks[{i}].amount"]) for i in range(5)]
        np.testing.assert_allclose(bids, expected_bids, rtol=0, atol=1e-9)
        np.testing.assert_allclose(asks, expected_asks, rtol=0, atol=1e-9)
        assert book.ts_last == row["timestamp"] * 1000


def _tree_digest(root) -> dict[str, str]:
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def test_converting_twice_changes_nothing(real_raw_root, tmp_path):
    cells = sorted({(f.day, f.instrument_key) for f in discover_raw_files(real_raw_root)})
    assert len(cells) == len(REAL_DAYS)
    for day, key in cells:
        convert_day(real_raw_root, tmp_path, day, key)
    first = _tree_digest(tmp_path)
    for day, key in cells:
        convert_day(real_raw_root, tmp_path, day, key)
    assert _tree_digest(tmp_path) == first
    catalog = ParquetDataCatalog(str(tmp_path))
    raw_trades = sum(pq.ParquetFile(f.path).metadata.num_rows for f in discover_raw_files(real_raw_root) if f.data_type == TRADES)
    assert len(catalog.trade_ticks()) == raw_trades
