"""The window fed to the engine in time chunks read from the catalog, so memory does not grow with it.

A one-shot replay loads every trade and snapshot of the window (and, with queue position, every
delta batch and every snapshot again for the relay) before the first event is processed: a 4-hour
synthetic window took 1.8 GB. Here each data type is a stream of NautilusTrader's engine
(``BacktestEngine.add_data_iterator``): a generator reading the catalog one time chunk at a time
(``CHUNK_SECS``), so the engine holds one chunk per stream.

The replay is the same event for event: the streams are added in the order the one-shot path adds
its data (delta batches, then trades, then depth snapshots), and the engine's iterator breaks
timestamp ties by stream in that order, as the one-shot stable sort does. The delta conversion runs
across chunks with one converter, and the relay gets each chunk's snapshots before its deltas play.
NautilusTrader's own ``BacktestRunConfig.chunk_size`` is not used: it cannot carry our delta batches
(built from the snapshots, not stored), and it measured *more* memory with many small files.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from nautilus_trader.model.data import OrderBookDepth10, TradeTick
from nautilus_trader.model.identifiers import InstrumentId

from odum_pipeline.catalog.market_data import MarketData
from odum_pipeline.catalog.row_groups import CatalogRows

#: The time span read from the catalog at once, per data type.
CHUNK_SECS = 300


def time_chunks(start_ns: int, end_ns: int, chunk_ns: int) -> Iterator[tuple[int, int]]:
    """Consecutive inclusive [first, last] ns ranges covering [start_ns, end_ns]."""
    first = start_ns
    while first <= end_ns:
        last = min(first + chunk_ns - 1, end_ns)
        yield first, last
        first = last + 1


def catalog_chunks(
    catalog_root, data_cls: type, instrument_id: InstrumentId, start_ns: int, end_ns: int, chunk_ns: int
) -> Iterator[list]:
    """The catalog's ``data_cls`` rows of the instrument in [start_ns, end_ns], one time chunk at a time
    (read a row group at a time: ``catalog.row_groups``, the rows ``ParquetDataCatalog.query`` returns)."""
    rows = CatalogRows(MarketData(catalog_root, instrument_id.value), data_cls, start_ns, end_ns)
    for first, last in time_chunks(start_ns, end_ns, chunk_ns):
        chunk = rows.take(first, last)
        if chunk:
            yield chunk


def _mapped(chunks: Iterator[list], convert: Callable[[list], list]) -> Iterator[list]:
    for chunk in chunks:
        yield convert(chunk)


def add_streams(
    engine,
    catalog_root,
    instrument_id: InstrumentId,
    start_ns: int,
    end_ns: int,
    *,
    depth: bool,
    deltas: Callable[[list[OrderBookDepth10]], list] | None = None,
    chunk_secs: float | None = None,
) -> None:
    """Add the window's streams to ``engine``: the book (as delta batches when ``deltas`` converts a
    chunk of snapshots, else as snapshots when ``depth``), and the trades, in the one-shot order."""
    chunk_ns = int((chunk_secs or CHUNK_SECS) * 1e9)

    def chunks(data_cls):
        return catalog_chunks(catalog_root, data_cls, instrument_id, start_ns, end_ns, chunk_ns)

    if deltas is not None:
        engine.add_data_iterator("book_deltas", _mapped(chunks(OrderBookDepth10), deltas))
    engine.add_data_iterator("trades", chunks(TradeTick))
    if depth and deltas is None:
        engine.add_data_iterator("depth", chunks(OrderBookDepth10))
