"""One instrument's market data in the catalog, read as columns: trades and book levels as pandas.

TCA, the impact calibration, the impact overlay's calibration and the VWAP volume profiles all read
the catalog here. The catalog's own file index (``ParquetDataCatalog.filter_files``, from the time
range in every file name) picks the files; pyarrow reads only the columns asked for (ranged reads
from a ``gs://`` catalog) and the fixed-point raws are decoded with numpy
(:func:`~odum_pipeline.catalog.nautilus_arrow.decode_fixed_point`), never as a Python object per tick.
Prices and sizes are rounded to the precision recorded in the file's schema metadata.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from nautilus_trader.model.data import OrderBookDepth10, TradeTick

from odum_pipeline.catalog.nautilus_arrow import decode_fixed_point
from odum_pipeline.catalog.store import open_catalog

#: The visible levels of a raw book snapshot (the catalog's Depth10 holds these, the rest empty).
BOOK_LEVELS = 5


class MarketData:
    """Trades and book snapshots of ``instrument_id`` in the catalog at ``catalog_root`` (folder or gs://)."""

    def __init__(self, catalog_root: str | Path, instrument_id: str) -> None:
        self.catalog = open_catalog(catalog_root)
        self.instrument_id = str(instrument_id)

    def trade_spans(self) -> list[tuple[int, int]]:
        """``(first, last)`` ``ts_init`` of each trade file (what the catalog covers, gaps included)."""
        return [(int(a), int(b)) for a, b in self.catalog.get_intervals(TradeTick, self.instrument_id)]

    def trades(self, start_ns: int, end_ns: int) -> pd.DataFrame:
        """``ts_init``, ``price``, ``size`` of the trades with ``start_ns <= ts_init <= end_ns``, in time order."""
        table = self._read(TradeTick, start_ns, end_ns, ["price", "size"])
        return _frame(table, {"price": "price", "size": "size"})

    def book(self, start_ns: int, end_ns: int, *, levels: int = 1, sizes: bool = False) -> pd.DataFrame:
        """``ts_init`` and ``bid_price_i``/``ask_price_i`` (and ``_size_i`` when asked) for ``i < levels``,
        of the snapshots with ``start_ns <= ts_init <= end_ns``, in time order."""
        kinds = ("price", "size") if sizes else ("price",)
        columns = {f"{side}_{kind}_{i}": kind for side in ("bid", "ask") for kind in kinds for i in range(levels)}
        return _frame(self._read(OrderBookDepth10, start_ns, end_ns, list(columns)), columns)

    def _read(self, cls: type, start_ns: int, end_ns: int, columns: list[str]) -> pa.Table | None:
        catalog = self.catalog
        files = catalog.filter_files(cls, catalog.get_file_list_from_data_cls(cls), [self.instrument_id], start_ns, end_ns)
        tables = []
        for path in sorted(files):
            table = pq.read_table(path, columns=[*columns, "ts_init"], filesystem=catalog.fs)
            ts = table.column("ts_init")
            inside = pc.and_(pc.greater_equal(ts, pa.scalar(start_ns, ts.type)), pc.less_equal(ts, pa.scalar(end_ns, ts.type)))
            tables.append(table.filter(inside).replace_schema_metadata(table.schema.metadata))
        if not tables:
            return None
        return pa.concat_tables(tables).combine_chunks().replace_schema_metadata(tables[0].schema.metadata)


def _frame(table: pa.Table | None, columns: dict[str, str]) -> pd.DataFrame:
    """``ts_init`` (int64) and each column decoded to floats at its kind's precision, sorted by time."""
    if table is None:
        return pd.DataFrame({"ts_init": np.empty(0, np.int64), **{name: np.empty(0) for name in columns}})
    metadata = table.schema.metadata or {}
    data = {"ts_init": table.column("ts_init").to_numpy().astype(np.int64)}
    for name, kind in columns.items():
        precision = metadata.get(f"{kind}_precision".encode())
        data[name] = decode_fixed_point(table.column(name), int(precision) if precision is not None else None)
    frame = pd.DataFrame(data)
    order = np.argsort(data["ts_init"], kind="stable")
    return frame.iloc[order].reset_index(drop=True)
