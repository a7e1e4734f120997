"""The depth day file's level index: written by the conversion, replaced with its file, ignored when it
does not match it (real data, small row groups so that a short window has many)."""

import datetime as dt
import logging
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from nautilus_trader.model.data import OrderBookDepth10

from odum_pipeline.catalog import store
from odum_pipeline.catalog.convert import convert_day
from odum_pipeline.catalog.depth_index import build_index, read_index
from odum_pipeline.catalog.depth_levels import SIDES, side_arrays, summarize, used_levels
from odum_pipeline.catalog.market_data import MarketData

DAY = dt.date(2023, 4, 5)
INSTRUMENT_KEY = "BINANCE-FUTURES:PERPETUAL:BTC-USDT"
INSTRUMENT = "BTCUSDT-PERP.BINANCE"


def _convert(raw_root, catalog: Path, monkeypatch, row_group_size: int) -> str:
    monkeypatch.setitem(store.PARQUET_OPTIONS, "row_group_size", row_group_size)
    result = convert_day(raw_root, catalog, DAY, INSTRUMENT_KEY)
    return result.catalog_files["book_snapshot_5"]


def test_each_row_groups_summary_is_the_one_of_its_rows(real_raw_root, tmp_path, monkeypatch):
    depth_file = _convert(real_raw_root, tmp_path / "catalog", monkeypatch, 300)
    parquet = pq.ParquetFile(depth_file)
    index = read_index(store.open_catalog(tmp_path / "catalog").fs, depth_file, parquet.metadata)
    assert index is not None and len(index) == parquet.metadata.num_row_groups > 20
    deep = 0
    for group in range(parquet.metadata.num_row_groups):
        rows = used_levels(parquet.read_row_group(group).replace_schema_metadata(parquet.schema_arrow.metadata))
        for side, indexed in zip(SIDES, index[group]):
            expected = summarize(side_arrays(rows, side), deeper_is_lower=side == "bid")
            assert indexed == expected, (group, side)
            deep = max(deep, len(expected.levels))
    assert deep > 5  # some group leaves levels that scrolled out of view, not just its last snapshot


def test_a_reconversion_replaces_the_index_with_its_file(real_raw_root, tmp_path, monkeypatch):
    catalog = tmp_path / "catalog"
    _convert(real_raw_root, catalog, monkeypatch, 300)
    depth_file = _convert(real_raw_root, catalog, monkeypatch, 450)
    indexes = list(Path(store.index_path(depth_file)).parent.iterdir())
    assert indexes == [Path(store.index_path(depth_file))]
    parquet = pq.ParquetFile(depth_file)
    index = read_index(store.open_catalog(catalog).fs, depth_file, parquet.metadata)
    assert index is not None and len(index) == parquet.metadata.num_row_groups
    # NautilusTrader's catalog, which globs a data directory recursively, does not take it for data.
    market = MarketData(catalog, INSTRUMENT)
    assert {path for path, _ in market.row_group_refs(OrderBookDepth10, 0, 2**62)} == {depth_file}
    assert len(store.open_catalog(catalog).query(data_cls=OrderBookDepth10)) == parquet.metadata.num_rows


def test_an_index_that_does_not_match_its_file_is_ignored(real_raw_root, tmp_path, monkeypatch, caplog):
    catalog = tmp_path / "catalog"
    depth_file = _convert(real_raw_root, catalog, monkeypatch, 300)
    fs = store.open_catalog(catalog).fs
    # The same rows rewritten by another tool in other row groups: the index no longer describes them.
    pq.write_table(pq.read_table(depth_file), depth_file, row_group_size=400)
    with caplog.at_level(logging.INFO):
        assert read_index(fs, depth_file, pq.ParquetFile(depth_file).metadata) is None
    assert "does not match its day file" in caplog.text
    Path(store.index_path(depth_file)).write_bytes(b"not parquet")
    assert read_index(fs, depth_file, pq.ParquetFile(depth_file).metadata) is None
    assert "unreadable level index" in caplog.text
    Path(store.index_path(depth_file)).unlink()
    assert read_index(fs, depth_file, pq.ParquetFile(depth_file).metadata) is None


def test_a_day_not_in_time_order_gets_no_index():
    """A summary stands for its rows in replay (time) order: rows stored otherwise are read instead."""
    assert build_index(pa.table({"ts_init": np.array([3, 1, 2], dtype=np.uint64)}), 300) is None
