"""The catalog's ``TradeTick``/``OrderBookDepth10`` rows by time range, read a Parquet row group at a time.

``ParquetDataCatalog.query`` opens a DataFusion session, registers the files and decodes every row
group the range touches, for each call: a reader asking for many short ranges moving forward through
the day (the active replay, ``backtests.active_replay``) pays that over and over for a few hundred
rows each time. Here the day files are read with pyarrow one row group at a time (its ``ts_init``
statistics from the footer, read once, say which), each row group once while the reads move forward
(the last ``keep`` are kept: memory stays bounded by them), rows are cut by ``ts_init`` (a row group
is in time order, as the catalog writes it: ``catalog.store``), and only the rows handed out are
turned into NautilusTrader objects, in blocks, by NautilusTrader's own Arrow decoding (the Rust
decoder of its catalog, through the ``*DataWranglerV2`` of ``persistence.wranglers_v2``, then the
Cython objects from the pyo3 ones as ``ArrowSerializer.deserialize`` callers do). The objects are
the catalog query's: same values, precision, flags, sequence, timestamps, and rows of equal
``ts_init`` in stored order (the tests compare them with ``ParquetDataCatalog.query``).
"""

from __future__ import annotations

import bisect
import itertools
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
from nautilus_trader.model.data import OrderBookDepth10, TradeTick
from nautilus_trader.persistence.wranglers_v2 import OrderBookDepth10DataWranglerV2, TradeTickDataWranglerV2

from odum_pipeline.catalog.market_data import MarketData, in_time_order

_WRANGLERS = {TradeTick: TradeTickDataWranglerV2, OrderBookDepth10: OrderBookDepth10DataWranglerV2}
#: Rows decoded at once at least: a decoding call has a fixed cost (tens of microseconds), a replay
#: asks for a few rows at a time (a half-second slice), and a jump leaves at most this many unused.
DECODE_ROWS = 256


class RowGroupCache:
    """Columns of one data type's row groups (``MarketData.read_row_group`` tables), each column of a
    row group read once while it is kept; the last ``keep`` row groups asked for are kept (readers of
    different columns of the same row groups may share one)."""

    def __init__(self, market: MarketData, keep: int = 2) -> None:
        self.market, self.keep = market, keep
        self._groups: OrderedDict[tuple[str, int], dict[str, pa.ChunkedArray]] = OrderedDict()

    def read_row_group(self, ref: tuple[str, int], columns: list[str] | None = None) -> pa.Table:
        """``columns`` and ``ts_init`` of a row group as stored, as ``MarketData.read_row_group``;
        ``None``: every column, in the file's order (what NautilusTrader's decoders take)."""
        schema = self.market.schema(ref[0])
        names = schema.names if columns is None else [*columns, "ts_init"]
        group = self._groups.get(ref)
        if group is None:
            group = self._groups[ref] = {}
            while len(self._groups) > self.keep:
                self._groups.popitem(last=False)
        else:
            self._groups.move_to_end(ref)
        missing = [name for name in names if name not in group and name != "ts_init"]
        if missing or "ts_init" not in group:
            table = self.market.read_row_group(ref, missing)
            group.update(zip(table.column_names, table.columns))
        fields = [schema.field(name) for name in names]
        return pa.Table.from_arrays([group[name] for name in names], schema=pa.schema(fields, metadata=schema.metadata))


@dataclass
class _Group:
    """A row group being read: its rows in time order, and the block of them decoded last."""

    table: pa.Table
    ts: np.ndarray  # int64, sorted
    order: np.ndarray | None  # the file rows in time order (None: already in time order)
    decoded_from: int = 0
    decoded: list = field(default_factory=list)


class CatalogRows:
    """One data type's rows of ``instrument_id`` with ``start_ns <= ts_init <= end_ns``, handed out by
    time range (:meth:`take`) as ``ParquetDataCatalog.query`` returns them (module docstring)."""

    def __init__(
        self, market: MarketData, data_cls: type, start_ns: int, end_ns: int, *, cache: RowGroupCache | None = None
    ) -> None:
        self.cls, self.start_ns, self.end_ns = data_cls, start_ns, end_ns
        self.cache = cache or RowGroupCache(market)
        self._wranglers: dict[bytes | None, object] = {}
        spans = market.row_group_spans(data_cls, start_ns, end_ns)
        self._refs = [ref for ref, _, _ in spans]
        self._lows = [low for _, low, _ in spans]
        self._highs = [high for _, _, high in spans]
        # The highs' running max (for a bisection: the highs of overlapping row groups need not grow).
        self._reach = list(itertools.accumulate(self._highs, max))
        # Row groups overlapping in time (never in a catalog this project writes): rows merged by time.
        self._overlapping = any(self._lows[k + 1] < self._reach[k] for k in range(len(spans) - 1))
        self._groups: OrderedDict[tuple[str, int], _Group] = OrderedDict()  # the last ``cache.keep`` read

    def take(self, first: int, last: int) -> list:
        """The rows with ``first <= ts_init <= last`` (within the reader's span), in time order."""
        first, last = max(first, self.start_ns), min(last, self.end_ns)
        out: list = []
        if first > last:
            return out
        # From the first row group that may reach ``first``, on while they may start at or before ``last``.
        k = bisect.bisect_left(self._reach, first)
        while k < len(self._refs) and self._lows[k] <= last:
            if self._highs[k] >= first:
                out.extend(self._rows(self._refs[k], first, last))
            k += 1
        if self._overlapping:
            out.sort(key=_ts_init)  # stable: rows of equal time stay in file order
        return out

    def _rows(self, ref: tuple[str, int], first: int, last: int) -> list:
        group = self._group(ref)
        i = int(np.searchsorted(group.ts, first, "left"))
        j = int(np.searchsorted(group.ts, last, "right"))
        if i >= j:
            return []
        start, decoded = group.decoded_from, group.decoded
        end = start + len(decoded)
        if start <= i and j <= end:
            return decoded[i - start : j - start]
        head = decoded[i - start :] if start <= i <= end else []  # going on from the last block
        begin = end if head else i
        stop = min(len(group.ts), max(j, begin + DECODE_ROWS))
        group.decoded_from, group.decoded = begin, self._decode(group, begin, stop)
        return head + group.decoded[: j - begin]

    def _group(self, ref: tuple[str, int]) -> _Group:
        group = self._groups.get(ref)
        if group is not None:
            self._groups.move_to_end(ref)
            return group
        table = self.cache.read_row_group(ref)
        ts = table.column("ts_init").to_numpy().astype(np.int64)
        order = None if in_time_order(ts) else np.argsort(ts, kind="stable")
        group = self._groups[ref] = _Group(table, ts if order is None else ts[order], order)
        while len(self._groups) > self.cache.keep:
            self._groups.popitem(last=False)
        return group

    def _decode(self, group: _Group, begin: int, stop: int) -> list:
        """Rows ``begin:stop`` (in time order) of a row group as NautilusTrader (Cython) objects."""
        table = group.table
        rows = table.slice(begin, stop - begin) if group.order is None else table.take(group.order[begin:stop])
        return self.cls.from_pyo3_list(self._wrangler(table.schema).from_arrow(rows))

    def _wrangler(self, schema: pa.Schema):
        """NautilusTrader's Arrow decoder for the file's metadata (instrument, precisions)."""
        key = schema.metadata and b"|".join(schema.metadata.get(k, b"") for k in (b"instrument_id", b"price_precision", b"size_precision"))
        if key not in self._wranglers:
            self._wranglers[key] = _WRANGLERS[self.cls].from_schema(schema)
        return self._wranglers[key]


def _ts_init(data) -> int:
    return data.ts_init
