"""One instrument's market data in the catalog, read as columns: trades and book levels as pandas.

TCA, the impact calibrations, the VWAP volume profiles, the equity grid's marks and the active
replay's planning all read the catalog here. The catalog's own file index
(``ParquetDataCatalog.filter_files``, from the time range in every file name) picks the files;
pyarrow reads only the columns asked for (ranged reads from a ``gs://`` catalog, row groups outside
the time range skipped) and the fixed-point raws are decoded with numpy
(:func:`~odum_pipeline.catalog.nautilus_arrow.decode_fixed_point`), never as a Python object per tick.
Prices and sizes are rounded to the precision recorded in the file's schema metadata.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from nautilus_trader.model.data import OrderBookDepth10, TradeTick

from odum_pipeline.catalog.nautilus_arrow import decode_column
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

    def trades(self, start_ns: int, end_ns: int, *, sizes: bool = True) -> pd.DataFrame:
        """``ts_init``, ``price`` (and ``size`` unless not asked) of the trades with
        ``start_ns <= ts_init <= end_ns``, in time order."""
        columns = {"price": "price", "size": "size"} if sizes else {"price": "price"}
        return _frame(self.table(TradeTick, start_ns, end_ns, list(columns)), columns)

    def book(self, start_ns: int, end_ns: int, *, levels: int = 1, sizes: bool = False) -> pd.DataFrame:
        """``ts_init`` and ``bid_price_i``/``ask_price_i`` (and ``_size_i`` when asked) for ``i < levels``,
        of the snapshots with ``start_ns <= ts_init <= end_ns``, in time order."""
        kinds = ("price", "size") if sizes else ("price",)
        columns = {f"{side}_{kind}_{i}": kind for side in ("bid", "ask") for kind in kinds for i in range(levels)}
        return _frame(self.table(OrderBookDepth10, start_ns, end_ns, list(columns)), columns)

    def ts_init(self, cls: type, start_ns: int, end_ns: int) -> np.ndarray:
        """The sorted ``ts_init`` of the ``cls`` rows with ``start_ns <= ts_init <= end_ns``."""
        table = self.table(cls, start_ns, end_ns, [])
        if table is None:
            return np.empty(0, np.int64)
        return np.sort(table.column("ts_init").to_numpy().astype(np.int64))

    def table(self, cls: type, start_ns: int, end_ns: int, columns: list[str]) -> pa.Table | None:
        """``columns`` and ``ts_init`` of the ``cls`` rows with ``start_ns <= ts_init <= end_ns`` as stored
        (fixed-point raws, the files' schema metadata), file by file; None when no file covers the range."""
        inside = _in_range(start_ns, end_ns)
        tables = [
            pq.read_table(path, columns=[*columns, "ts_init"], filesystem=self.catalog.fs, filters=inside)
            for path in self._files(cls, start_ns, end_ns)
        ]
        if not tables:
            return None
        return pa.concat_tables(tables).combine_chunks().replace_schema_metadata(tables[0].schema.metadata)

    def row_groups(self, cls: type, start_ns: int, end_ns: int, columns: list[str]) -> Iterator[pa.Table]:
        """Like :meth:`table`, one Parquet row group at a time (memory bounded by a row group), in file
        order, skipping the row groups whose ``ts_init`` statistics lie outside the range."""
        inside = _in_range(start_ns, end_ns)
        for path in self._files(cls, start_ns, end_ns):
            with self.catalog.fs.open(path, "rb") as handle:
                parquet = pq.ParquetFile(handle)
                ts_index = parquet.schema_arrow.get_field_index("ts_init")
                for group in range(parquet.metadata.num_row_groups):
                    stats = parquet.metadata.row_group(group).column(ts_index).statistics
                    if stats is not None and stats.has_min_max and (stats.max < start_ns or stats.min > end_ns):
                        continue
                    table = parquet.read_row_group(group, columns=[*columns, "ts_init"]).filter(inside)
                    if table.num_rows:
                        yield table.combine_chunks().replace_schema_metadata(parquet.schema_arrow.metadata)

    def _files(self, cls: type, start_ns: int, end_ns: int) -> list[str]:
        """The catalog's ``cls`` files of the instrument that overlap the range (its file index), sorted."""
        catalog = self.catalog
        files = catalog.get_file_list_from_data_cls(cls)
        return sorted(catalog.filter_files(cls, files, [self.instrument_id], start_ns, end_ns))


def _in_range(start_ns: int, end_ns: int) -> pc.Expression:
    """``start_ns <= ts_init <= end_ns``: Parquet's pushdown filter and a row group's filter alike."""
    ts = pc.field("ts_init")
    return (ts >= pa.scalar(start_ns, pa.uint64())) & (ts <= pa.scalar(end_ns, pa.uint64()))


def _frame(table: pa.Table | None, columns: dict[str, str]) -> pd.DataFrame:
    """``ts_init`` (int64) and each column decoded to floats at its kind's precision, sorted by time."""
    if table is None:
        return pd.DataFrame({"ts_init": np.empty(0, np.int64), **{name: np.empty(0) for name in columns}})
    data = {"ts_init": table.column("ts_init").to_numpy().astype(np.int64)}
    for name, kind in columns.items():
        data[name] = decode_column(table, name, kind)
    frame = pd.DataFrame(data)
    order = np.argsort(data["ts_init"], kind="stable")
    return frame.iloc[order].reset_index(drop=True)
