"""A depth day file's level index: what each of its Parquet row groups does to a delta converter's state.

Written beside the day file by the conversion (``.odum-index/<day file name>.index``, replaced with it in
one journal), read by an active-interval replay: a skip over hours of snapshots then applies one
:class:`~odum_pipeline.catalog.depth_levels.LevelSummary` per side and whole row group instead of
reading and decoding the row group (a day of a liquid instrument is millions of snapshots; each of
the day's backtests used to read all of them). Only the row groups a skip starts or ends in are read.

An index that does not match its day file (another row count, row group sizes or time range: a file
rewritten by another tool) is ignored, and the reader falls back to reading the row groups.
"""

from __future__ import annotations

import io
import json
import logging

import pyarrow as pa
import pyarrow.parquet as pq

from odum_pipeline.catalog.depth_levels import SIDES, LevelSummary, side_arrays, summarize, used_levels
from odum_pipeline.catalog.market_data import in_time_order
from odum_pipeline.catalog.store import index_path

log = logging.getLogger(__name__)

FORMAT = "odum-depth-levels/1"
_SCHEMA = pa.schema(
    [
        ("group", pa.int32()),
        ("side", pa.int8()),  # index into SIDES
        ("clears", pa.bool_()),  # header rows (price null): the summary's clears and floor
        ("floor", pa.float64()),
        ("price", pa.string()),  # level rows: the raws as decimal strings (64- or 128-bit)
        ("key", pa.float64()),
        ("size", pa.string()),
    ]
)

#: row group -> (bids, asks)
Index = dict[int, tuple[LevelSummary, LevelSummary]]


def build_index(table: pa.Table, row_group_size: int) -> bytes | None:
    """The index of a depth day ``table`` written in row groups of ``row_group_size`` rows, as Parquet;
    None for a table not in time order (a summary stands for its rows in the order they are replayed)."""
    ts = table.column("ts_init").to_numpy()
    if not in_time_order(ts):
        return None
    day = used_levels(table)
    sides = [side_arrays(day, side) for side in SIDES]  # decoded once: a group is a slice of them
    columns: dict[str, list] = {name: [] for name in _SCHEMA.names}
    groups = []
    for group, offset in enumerate(range(0, table.num_rows, row_group_size)):
        rows = slice(offset, min(offset + row_group_size, table.num_rows))
        groups.append([rows.stop - rows.start, int(ts[rows.start]), int(ts[rows.stop - 1])])
        for number, (side, arrays) in enumerate(zip(SIDES, sides)):
            summary = summarize(arrays.take(rows), deeper_is_lower=side == "bid")
            _append(columns, group, number, clears=summary.clears, floor=summary.floor)
            for price, (key, size) in summary.levels.items():
                _append(columns, group, number, price=str(price), key=key, size=str(size))
    index = pa.table(columns, schema=_SCHEMA).replace_schema_metadata({"format": FORMAT, "groups": json.dumps(groups)})
    sink = io.BytesIO()
    pq.write_table(index, sink, compression="snappy")
    return sink.getvalue()


def _append(columns: dict, group: int, side: int, **values) -> None:
    for name in _SCHEMA.names:
        columns[name].append({"group": group, "side": side}.get(name, values.get(name)))


def read_index(fs, data_file: str, metadata: pq.FileMetaData) -> Index | None:
    """The index of ``data_file`` (``metadata``: its footer), or None when there is none that matches it."""
    path = index_path(data_file)
    try:
        with fs.open(path, "rb") as handle:
            table = pq.read_table(handle)
    except FileNotFoundError:
        return None
    except (OSError, pa.ArrowInvalid) as error:
        log.warning("%s: unreadable level index (%s); the row groups are read instead", path, error)
        return None
    if not _matches(table.schema.metadata or {}, metadata):
        log.info("%s: the level index does not match its day file; the row groups are read instead", path)
        return None
    return _summaries(table)


def _matches(index_metadata: dict, metadata: pq.FileMetaData) -> bool:
    if index_metadata.get(b"format") != FORMAT.encode():
        return False
    groups = json.loads(index_metadata.get(b"groups", b"[]"))
    if len(groups) != metadata.num_row_groups:
        return False
    ts_index = metadata.schema.to_arrow_schema().get_field_index("ts_init")
    for number, (rows, first, last) in enumerate(groups):
        group = metadata.row_group(number)
        stats = group.column(ts_index).statistics
        if group.num_rows != rows or stats is None or not stats.has_min_max or (stats.min, stats.max) != (first, last):
            return False  # (a group's ts_init is in time order: its first and last rows are its min and max)
    return True


def _summaries(table: pa.Table) -> Index:
    headers: dict[tuple[int, int], tuple[bool, float]] = {}
    levels: dict[tuple[int, int], dict] = {}
    for row in table.to_pylist():
        key = (row["group"], row["side"])
        if row["price"] is None:
            headers[key] = (row["clears"], row["floor"])
            levels.setdefault(key, {})
        else:
            levels.setdefault(key, {})[int(row["price"])] = (row["key"], int(row["size"]))
    groups = sorted({group for group, _ in headers})
    return {
        group: tuple(LevelSummary(*headers[(group, side)], levels[(group, side)]) for side in range(len(SIDES)))
        for group in groups
    }
