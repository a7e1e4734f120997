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

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from nautilus_trader.model.data import OrderBookDepth10, TradeTick

from odum_pipeline.catalog.nautilus_arrow import decode_column
from odum_pipeline.catalog.store import open_catalog
from odum_pipeline.errors import OdumError


class MarketDataError(OdumError, ValueError):
    """The catalog lacks the market data a measurement needs."""


#: The visible levels of a raw book snapshot (the catalog's Depth10 holds these, the rest empty).
BOOK_LEVELS = 5


class MarketData:
    """Trades and book snapshots of ``instrument_id`` in the catalog at ``catalog_root`` (folder or gs://)."""

    def __init__(self, catalog_root: str | Path, instrument_id: str) -> None:
        self.catalog = open_catalog(catalog_root)
        self.instrument_id = str(instrument_id)
        self._footers: dict[str, pq.FileMetaData] = {}  # path -> Parquet footer, read once
        self._schemas: dict[str, pa.Schema] = {}  # path -> the footer's Arrow schema

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
        table = self.table(cls, start_ns, end_ns, [], combine=False)
        if table is None:
            return np.empty(0, np.int64)
        ts = table.column("ts_init").to_numpy().astype(np.int64)
        return ts if in_time_order(ts) else np.sort(ts)

    def table(
        self, cls: type, start_ns: int, end_ns: int, columns: list[str], *, combine: bool = True
    ) -> pa.Table | None:
        """``columns`` and ``ts_init`` of the ``cls`` rows with ``start_ns <= ts_init <= end_ns`` as stored
        (fixed-point raws, the files' schema metadata), file by file; None when no file covers the range.
        ``combine=False`` leaves the columns in their chunks (no copy: for a caller that takes a few rows)."""
        inside = _in_range(start_ns, end_ns)
        tables = [
            pq.read_table(path, columns=[*columns, "ts_init"], filesystem=self.catalog.fs, filters=inside)
            for path in self._files(cls, start_ns, end_ns)
        ]
        if not tables:
            return None
        table = pa.concat_tables(tables)
        return (table.combine_chunks() if combine else table).replace_schema_metadata(tables[0].schema.metadata)

    def row_group_refs(self, cls: type, start_ns: int, end_ns: int) -> list[tuple[str, int]]:
        """``(file, row group)`` of the ``cls`` rows that may lie in the range, in file order (time
        order), skipping the row groups whose ``ts_init`` statistics lie outside it."""
        return [ref for ref, _, _ in self.row_group_spans(cls, start_ns, end_ns)]

    def row_group_spans(self, cls: type, start_ns: int, end_ns: int) -> list[tuple[tuple[str, int], int, int]]:
        """:meth:`row_group_refs` with each row group's ``ts_init`` (min, max) from its statistics
        (unbounded without them)."""
        spans = []
        for path in self._files(cls, start_ns, end_ns):
            for group in range(self.footer(path).num_row_groups):
                low, high = self.row_group_span((path, group))
                if low is None:
                    spans.append(((path, group), -(2**63), 2**64))
                elif not (high < start_ns or low > end_ns):
                    spans.append(((path, group), low, high))
        return spans

    def schema(self, path: str) -> pa.Schema:
        """A file's Arrow schema with its metadata (from the footer, read once)."""
        if path not in self._schemas:
            self._schemas[path] = self.footer(path).schema.to_arrow_schema()
        return self._schemas[path]

    def read_row_group(self, ref: tuple[str, int], columns: list[str]) -> pa.Table:
        """``columns`` and ``ts_init`` of one row group (:meth:`row_group_refs`) as stored, all its rows."""
        path, group = ref
        with self.catalog.fs.open(path, "rb") as handle:
            parquet = pq.ParquetFile(handle, metadata=self.footer(path))
            table = parquet.read_row_group(group, columns=[*columns, "ts_init"])
            return table.combine_chunks().replace_schema_metadata(parquet.schema_arrow.metadata)

    def row_group_span(self, ref: tuple[str, int]) -> tuple[int | None, int | None]:
        """The least and greatest ``ts_init`` of a row group (its statistics; None, None without them)."""
        path, group = ref
        stats = self.footer(path).row_group(group).column(self._ts_column(path)).statistics
        return (stats.min, stats.max) if stats is not None and stats.has_min_max else (None, None)

    def _ts_column(self, path: str) -> int:
        return self.schema(path).get_field_index("ts_init")

    def footer(self, path: str) -> pq.FileMetaData:
        """A file's Parquet footer, read once (a run asks for the same file's row groups many times)."""
        if path not in self._footers:
            with self.catalog.fs.open(path, "rb") as handle:
                self._footers[path] = pq.ParquetFile(handle).metadata
        return self._footers[path]

    def _files(self, cls: type, start_ns: int, end_ns: int) -> list[str]:
        """The catalog's ``cls`` files of the instrument that overlap the range (its file index), sorted."""
        catalog = self.catalog
        files = catalog.get_file_list_from_data_cls(cls)
        return sorted(catalog.filter_files(cls, files, [self.instrument_id], start_ns, end_ns))


def in_time_order(ts: np.ndarray) -> bool:
    """Whether ``ts`` never decreases (the catalog's files and row groups are written in time order)."""
    return bool(np.all(ts[1:] >= ts[:-1]))


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
    ts = data["ts_init"]
    if in_time_order(ts):  # the catalog's files are: nothing to sort
        return frame
    return frame.iloc[np.argsort(ts, kind="stable")].reset_index(drop=True)


# --- market data ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Market:
    """Market data on sorted ``ts_init`` axes: book mids and trades."""

    book_ts: np.ndarray  # int64 ns, sorted
    mid: np.ndarray  # float
    trade_ts: np.ndarray  # int64 ns, sorted
    trade_px: np.ndarray
    trade_qty: np.ndarray

    @classmethod
    def from_arrays(cls, book_ts, mid, trade_ts=(), trade_px=(), trade_qty=()) -> Market:
        book_ts, mid = np.asarray(book_ts, dtype=np.int64), np.asarray(mid, dtype=np.float64)
        trade_ts = np.asarray(trade_ts, dtype=np.int64)
        trade_px, trade_qty = np.asarray(trade_px, dtype=np.float64), np.asarray(trade_qty, dtype=np.float64)
        book_order, trade_order = np.argsort(book_ts, kind="stable"), np.argsort(trade_ts, kind="stable")
        return cls(book_ts[book_order], mid[book_order], trade_ts[trade_order], trade_px[trade_order], trade_qty[trade_order])

    def mid_at(self, ts) -> np.ndarray:
        """Mid of the last snapshot received at or before each ``ts`` (NaN before the first)."""
        ts = np.asarray(ts, dtype=np.int64)
        index = np.searchsorted(self.book_ts, ts, side="right") - 1
        out = np.full(ts.shape, np.nan)
        valid = index >= 0
        out[valid] = self.mid[index[valid]]
        return out

    def mid_after(self, ts) -> np.ndarray:
        """``mid_at`` but NaN when ``ts`` lies past the last snapshot (the data ended before it)."""
        ts = np.asarray(ts, dtype=np.int64)
        out = self.mid_at(ts)
        if len(self.book_ts):
            out[ts > self.book_ts[-1]] = np.nan
        else:
            out[:] = np.nan
        return out

    def volume_vwap(self, start, end) -> tuple[np.ndarray, np.ndarray]:
        """Market volume and VWAP of the trades with ``start <= ts_init <= end``, per interval."""
        start, end = np.asarray(start, dtype=np.int64), np.asarray(end, dtype=np.int64)
        # Prices centred on the first trade's before the running sums: differences of large
        # cumulative notionals would otherwise lose digits over a long window.
        reference = self.trade_px[0] if len(self.trade_px) else 0.0
        cum_qty = np.concatenate([[0.0], np.cumsum(self.trade_qty)])
        cum_offset = np.concatenate([[0.0], np.cumsum((self.trade_px - reference) * self.trade_qty)])
        lo = np.searchsorted(self.trade_ts, start, side="left")
        hi = np.searchsorted(self.trade_ts, end, side="right")
        volume = cum_qty[hi] - cum_qty[lo]
        notional = cum_offset[hi] - cum_offset[lo] + reference * volume
        with np.errstate(invalid="ignore", divide="ignore"):
            vwap = np.where(volume > 0, notional / np.where(volume > 0, volume, 1.0), np.nan)
        return volume, vwap


def load_market(catalog_root: str | Path, instrument_id: str, start_ns: int, end_ns: int) -> Market:
    """Trades and top-of-book mids of ``instrument_id`` with ``start_ns <= ts_init <= end_ns``
    (read as columns by :class:`~odum_pipeline.catalog.market_data.MarketData`)."""
    data = MarketData(catalog_root, instrument_id)
    book = data.book(start_ns, end_ns)
    if book.empty:
        raise MarketDataError(f"{catalog_root}: no order book snapshots of {instrument_id} around the run (TCA needs mids)")
    bid, ask = book["bid_price_0"].to_numpy(), book["ask_price_0"].to_numpy()
    usable = (bid > 0) & (ask > 0)
    trades = data.trades(start_ns, end_ns)
    return Market.from_arrays(
        book["ts_init"].to_numpy()[usable], (bid[usable] + ask[usable]) / 2,
        trades["ts_init"].to_numpy(), trades["price"].to_numpy(), trades["size"].to_numpy(),
    )  # fmt: skip
