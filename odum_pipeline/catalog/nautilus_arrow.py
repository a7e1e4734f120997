"""Normalised ticks -> NautilusTrader's Arrow schemas for ``TradeTick`` and ``OrderBookDepth10``.

NautilusTrader's own catalog writer builds one Python object per tick before serialising;
for millions of rows that is the bottleneck, so the same Arrow tables are built here with
numpy instead. Prices and sizes are NautilusTrader's fixed-point raws (high-precision mode:
a 128-bit little-endian integer, value x 10**16), computed exactly from the decimal mantissa.
The decoding back (raws -> floats at a column's precision, or exact ints) is here too, the one
decoder every columnar reader of the catalog uses. The tests check every row against
NautilusTrader's own decoding.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pyarrow as pa
from nautilus_trader.model.data import OrderBookDepth10, TradeTick
from nautilus_trader.model.enums import RecordFlag
from nautilus_trader.model.objects import FIXED_PRECISION, HIGH_PRECISION
from nautilus_trader.serialization.arrow.schema import NAUTILUS_ARROW_SCHEMA

from odum_pipeline.catalog.layout import BOOK_DEPTH

DEPTH10_LEVELS = 10
SNAPSHOT_FLAGS = int(RecordFlag.F_SNAPSHOT) | int(RecordFlag.F_LAST)
_RAW_BYTES = 16 if HIGH_PRECISION else 8
_LOW_32 = np.uint64(0xFFFFFFFF)


def fixed_point_raws(values: np.ndarray, precision: int) -> pa.FixedSizeBinaryArray:
    """Exact NautilusTrader raws of positive decimals given as floats on a ``precision`` grid."""
    mantissa = np.rint(np.asarray(values, dtype=np.float64) * 10.0**precision).astype(np.uint64)
    words = np.empty((len(mantissa), 2 if HIGH_PRECISION else 1), dtype="<u8")
    _multiply_u64_by(mantissa, 10 ** (FIXED_PRECISION - precision), words)
    buffer = pa.py_buffer(words)  # zero-copy: Arrow keeps the array alive
    return pa.FixedSizeBinaryArray.from_buffers(pa.binary(_RAW_BYTES), len(mantissa), [None, buffer])


def raw_words(array: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A fixed-point column's raws as little-endian 64-bit words: shape (n, 2) (low, high) for
    128-bit raws, (n, 1) for 64-bit (a view of the Arrow buffer, no copy for one chunk)."""
    if isinstance(array, pa.ChunkedArray):
        array = array.chunk(0) if array.num_chunks == 1 else array.combine_chunks()  # one chunk: no copy
    per_raw = array.type.byte_width // 8
    if len(array) == 0:
        return np.empty((0, per_raw), dtype="<u8")
    words = np.frombuffer(array.buffers()[1], dtype="<u8")[array.offset * per_raw :][: len(array) * per_raw]
    return words.reshape(-1, per_raw)


def raw_int(words: np.ndarray, row: int) -> int:
    """The exact signed raw of ``row`` of :func:`raw_words` as a Python int (NautilusTrader's ``raw``)."""
    value = int(words[row, 0])
    if words.shape[1] == 2:
        value |= int(words[row, 1]) << 64
        if value >= 1 << 127:
            value -= 1 << 128
    elif value >= 1 << 63:
        value -= 1 << 64
    return value


def decode_fixed_point(array: pa.Array | pa.ChunkedArray, precision: int | None = None) -> np.ndarray:
    """NautilusTrader raws (64- or 128-bit little endian, value x 10**FIXED_PRECISION) -> floats,
    rounded to ``precision`` decimals when given (the inverse of :func:`fixed_point_raws`)."""
    words = raw_words(array)
    if words.shape[1] == 2:
        values = words[:, 1].view(np.int64).astype(np.float64) * 2.0**64 + words[:, 0].astype(np.float64)
    else:
        values = words[:, 0].view(np.int64).astype(np.float64)
    values = values / 10.0**FIXED_PRECISION
    return np.round(values, precision) if precision is not None else values


def decode_column(table: pa.Table, name: str, kind: str) -> np.ndarray:
    """A catalog table's fixed-point column ``name`` -> floats at the ``kind`` (``price``/``size``)
    precision recorded in its schema metadata (:func:`_metadata`), unrounded when none is."""
    precision = (table.schema.metadata or {}).get(f"{kind}_precision".encode())
    return decode_fixed_point(table.column(name), int(precision) if precision is not None else None)


def _multiply_u64_by(a: np.ndarray, multiplier: int, words: np.ndarray) -> None:
    """``a * multiplier`` into ``words`` as (low, high) 64-bit words, exact, via 32-bit limbs.

    ``multiplier <= 10**16`` keeps its high limb under 2**22; mantissas of real prices and sizes
    fit 32 bits, which skips half the limb products.
    """
    m0, m1 = np.uint64(multiplier & 0xFFFFFFFF), np.uint64(multiplier >> 32)
    with np.errstate(over="ignore"):
        if len(a) == 0 or a.max() <= _LOW_32:
            low_product = a * m0
            middle = a * m1
            high_base = None
        else:
            a0, a1 = a & _LOW_32, a >> np.uint64(32)
            low_product = a0 * m0
            middle = a0 * m1 + a1 * m0  # < 2**64 because a < 2**63
            high_base = a1 * m1
        lo = low_product + (middle << np.uint64(32))
        words[:, 0] = lo
        if words.shape[1] == 1:
            return
        hi = (middle >> np.uint64(32)) + (lo < low_product)
        if high_base is not None:
            hi += high_base
        words[:, 1] = hi


def _metadata(instrument_id: str, price_precision: int, size_precision: int) -> dict:
    """Exactly NautilusTrader's keys: it merges a directory's schemas and rejects any difference."""
    return {
        b"instrument_id": instrument_id.encode(),
        b"price_precision": str(price_precision).encode(),
        b"size_precision": str(size_precision).encode(),
    }


def trades_table(
    trades: pa.Table, instrument_id: str, price_precision: int, size_precision: int
) -> pa.Table:
    """A normalised trades table (sorted by ts_init) as NautilusTrader's TradeTick Arrow table."""
    schema = NAUTILUS_ARROW_SCHEMA[TradeTick].with_metadata(
        _metadata(instrument_id, price_precision, size_precision)
    )
    columns = [
        fixed_point_raws(trades.column("price").to_numpy(), price_precision),
        fixed_point_raws(trades.column("size").to_numpy(), size_precision),
        trades.column("aggressor_side").cast(pa.uint8()).combine_chunks(),
        trades.column("trade_id").combine_chunks(),
        trades.column("ts_event").cast(pa.uint64()).combine_chunks(),
        trades.column("ts_init").cast(pa.uint64()).combine_chunks(),
    ]
    return pa.Table.from_arrays(columns, schema=schema)


def depth10_table(
    book: pa.Table, instrument_id: str, price_precision: int, size_precision: int
) -> pa.Table:
    """Top-5 snapshots as ``OrderBookDepth10`` rows: levels 0-4 filled, 5-9 empty (zero, count 0).

    Applying an OrderBookDepth10 replaces the whole book, and empty levels are skipped, so the
    L2 matching engine holds exactly the raw top-5 book after each snapshot.
    """
    schema = NAUTILUS_ARROW_SCHEMA[OrderBookDepth10].with_metadata(
        _metadata(instrument_id, price_precision, size_precision)
    )
    n = book.num_rows
    empty_raw = fixed_point_raws(np.zeros(n), 0)
    ones, zeros = pa.array(np.ones(n, np.uint32)), pa.array(np.zeros(n, np.uint32))
    columns: dict[str, pa.Array] = {}
    filled = {
        f"{side}_{kind}_{level}": precision
        for kind, precision in (("price", price_precision), ("size", size_precision))
        for side in ("bid", "ask")
        for level in range(BOOK_DEPTH)
    }
    # numpy releases the GIL: the 20 level columns encode in parallel on every core.
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        encoded = pool.map(lambda item: fixed_point_raws(book.column(item[0]).to_numpy(), item[1]), filled.items())
        columns.update(zip(filled, encoded))
    for kind in ("price", "size"):
        for side in ("bid", "ask"):
            for level in range(BOOK_DEPTH, DEPTH10_LEVELS):
                columns[f"{side}_{kind}_{level}"] = empty_raw
    for side in ("bid", "ask"):
        for level in range(DEPTH10_LEVELS):
            columns[f"{side}_count_{level}"] = ones if level < BOOK_DEPTH else zeros
    columns["flags"] = pa.array(np.full(n, SNAPSHOT_FLAGS, np.uint8))
    columns["sequence"] = pa.array(np.zeros(n, np.uint64))
    columns["ts_event"] = book.column("ts_event").cast(pa.uint64()).combine_chunks()
    columns["ts_init"] = book.column("ts_init").cast(pa.uint64()).combine_chunks()
    return pa.Table.from_arrays([columns[f.name] for f in schema], schema=schema)
