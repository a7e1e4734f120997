"""Raw tick readers: Tardis (µs) and pre-converted (ns) Parquet, and Tardis ``.csv.gz``.

The schema is detected from the columns. Every reader returns a ``pyarrow.Table`` in the
normalised, pre-converted form of :mod:`odum_pipeline.catalog.layout` (ns timestamps, int8
aggressor codes), so that the checks and the conversion see one shape only. Nothing is
dropped or coerced silently: values stay as read, and :mod:`.checks` judges them.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from odum_pipeline.catalog.layout import (
    AGGRESSOR_BUYER,
    AGGRESSOR_SELLER,
    AGGRESSOR_UNKNOWN,
    BOOK,
    BOOK_COLUMNS,
    BOOK_DEPTH,
    TRADE_COLUMNS,
    TRADES,
)
from odum_pipeline.errors import OdumError

TARDIS_TRADE_COLUMNS = ("timestamp", "local_timestamp", "id", "side", "price", "amount")
TARDIS_BOOK_COLUMNS = ("timestamp", "local_timestamp") + tuple(
    f"{side}[{i}].{field}" for i in range(BOOK_DEPTH) for side in ("asks", "bids") for field in ("price", "amount")
)
_TARDIS_SIDES = {"buy": AGGRESSOR_BUYER, "sell": AGGRESSOR_SELLER, "unknown": AGGRESSOR_UNKNOWN}


class RawDataError(OdumError, ValueError):
    """A raw file that cannot be read as ticks; the message names the file and the problem."""

    def __init__(self, path: Path | str, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")


def require_regular_file(path: Path | str) -> None:
    """Refuse anything but a regular file before opening it (a FIFO would block a reader forever)."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        problem = "dangling symlink (its target does not exist)" if os.path.islink(path) else "file not found"
        raise RawDataError(path, problem) from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise RawDataError(path, "symlink loop (the link resolves to itself)") from None
        raise RawDataError(path, f"cannot be read ({exc.strerror})") from None
    if stat.S_ISDIR(mode):
        raise RawDataError(path, "is a directory, not a raw file")
    if not stat.S_ISREG(mode):
        raise RawDataError(path, "not a regular file (a device, FIFO or socket)")


def read_raw(path: Path | str, data_type: str) -> pa.Table:
    """Read one raw file of ``data_type`` (``trades`` or ``book_snapshot_5``), normalised."""
    return normalise(path, _read_table(Path(path)), data_type)


def read_raw_bytes(name: str, data: bytes, data_type: str) -> pa.Table:
    """Like :func:`read_raw`, for a file's content already in memory (a GCS object); ``name`` labels errors."""
    if not data:
        raise RawDataError(name, "file is empty (0 bytes)")
    is_csv = name.endswith(".csv.gz") or name.endswith(".csv")
    try:
        if is_csv:
            compression = "gzip" if name.endswith(".gz") else None
            table = pacsv.read_csv(pa.input_stream(pa.py_buffer(data), compression=compression))
        else:
            table = pq.read_table(pa.BufferReader(data))
    except (pa.ArrowInvalid, OSError) as exc:
        kind = "CSV" if is_csv else "Parquet"
        raise RawDataError(name, f"not a readable {kind} file, truncated or corrupt ({exc})") from exc
    return normalise(name, table, data_type)


def normalise(path, table: pa.Table, data_type: str) -> pa.Table:
    """A raw table of either schema in the normalised, pre-converted form."""
    if data_type == TRADES:
        return _normalise_trades(path, table)
    if data_type == BOOK:
        return _normalise_book(path, table)
    raise RawDataError(path, f"unknown data type {data_type!r}; expected {TRADES!r} or {BOOK!r}")


def raw_schema_kind(path: Path | str, data_type: str) -> str:
    """``"tardis"`` or ``"nautilus"`` (pre-converted), from the file's columns."""
    names = set(_read_column_names(Path(path)))
    tardis, converted = (TARDIS_TRADE_COLUMNS, TRADE_COLUMNS) if data_type == TRADES else (TARDIS_BOOK_COLUMNS, BOOK_COLUMNS)
    if names.issuperset(tardis):
        return "tardis"
    if names.issuperset(converted):
        return "nautilus"
    return "unknown"


def _read_column_names(path: Path) -> list[str]:
    require_regular_file(path)
    if path.name.endswith(".csv.gz") or path.suffix == ".csv":
        return _read_table(path).column_names
    try:
        return pq.read_schema(path).names
    except (pa.ArrowInvalid, OSError) as exc:
        raise RawDataError(path, f"not a readable Parquet file ({exc})") from exc


def _read_table(path: Path) -> pa.Table:
    require_regular_file(path)
    if path.stat().st_size == 0:
        raise RawDataError(path, "file is empty (0 bytes)")
    try:
        if path.name.endswith(".csv.gz") or path.suffix == ".csv":
            return pacsv.read_csv(path)
        return pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        kind = "CSV" if ".csv" in path.name else "Parquet"
        raise RawDataError(path, f"not a readable {kind} file, truncated or corrupt ({exc})") from exc


def _require(path, table: pa.Table, expected: tuple[str, ...], schema_name: str) -> None:
    missing = [name for name in expected if name not in table.column_names]
    if missing:
        raise RawDataError(path, f"missing column(s) {missing} for the {schema_name} schema; found {table.column_names}")


def _cast(path, table: pa.Table, name: str, type_: pa.DataType) -> pa.Array:
    column = table.column(name)
    if column.type == type_:
        return column.combine_chunks()
    try:
        return pc.cast(column, type_).combine_chunks()
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise RawDataError(path, f"column {name!r} is {table.schema.field(name).type}, expected {type_} ({exc})") from exc


def _is_tardis(table: pa.Table, tardis_columns: tuple[str, ...], converted_columns: tuple[str, ...]) -> bool:
    names = set(table.column_names)
    if names.issuperset(("timestamp", "local_timestamp")):
        return True
    if names.issuperset(("ts_event", "ts_init")):
        return False
    # Neither timestamp pair: report against the schema the file resembles most.
    return len(names & set(tardis_columns)) >= len(names & set(converted_columns))


def _normalise_trades(path, table: pa.Table) -> pa.Table:
    if _is_tardis(table, TARDIS_TRADE_COLUMNS, TRADE_COLUMNS):
        _require(path, table, TARDIS_TRADE_COLUMNS, "Tardis trades")
        side = pc.utf8_lower(_cast(path, table, "side", pa.string()))
        aggressor = _map_tardis_sides(path, side)
        return pa.table(
            {
                "ts_event": _micros_to_nanos(path, table, "timestamp"),
                "ts_init": _micros_to_nanos(path, table, "local_timestamp"),
                "price": _cast(path, table, "price", pa.float64()),
                "size": _cast(path, table, "amount", pa.float64()),
                "aggressor_side": aggressor,
                "trade_id": _cast(path, table, "id", pa.string()),
            }
        )
    _require(path, table, TRADE_COLUMNS, "pre-converted trades")
    return pa.table(
        {
            "ts_event": _to_nanos(path, table, "ts_event", 1),
            "ts_init": _to_nanos(path, table, "ts_init", 1),
            "price": _cast(path, table, "price", pa.float64()),
            "size": _cast(path, table, "size", pa.float64()),
            "aggressor_side": _cast(path, table, "aggressor_side", pa.int8()),
            "trade_id": _cast(path, table, "trade_id", pa.string()),
        }
    )


def _map_tardis_sides(path, side: pa.Array) -> pa.Array:
    known = pc.is_in(side, value_set=pa.array(list(_TARDIS_SIDES)))
    bad = pc.invert(pc.fill_null(known, False))
    if pc.any(bad).as_py():
        examples = pc.unique(pc.filter(side, bad)).to_pylist()[:5]
        raise RawDataError(path, f"column 'side' has values {examples}; expected one of {sorted(_TARDIS_SIDES)}")
    codes = pc.index_in(side, value_set=pa.array(list(_TARDIS_SIDES)))
    lookup = pa.array(list(_TARDIS_SIDES.values()), pa.int8())
    return pc.take(lookup, codes)


#: ns per unit of an Arrow timestamp column.
NANOS_PER_UNIT = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}


def _micros_to_nanos(path, table: pa.Table, name: str) -> pa.Array:
    """A Tardis timestamp column (integers in µs, or an Arrow timestamp of any unit) in ns."""
    return _to_nanos(path, table, name, NANOS_PER_UNIT["us"])


def _to_nanos(path, table: pa.Table, name: str, factor: int) -> pa.Array:
    """Integers times ``factor``; an Arrow timestamp column by its own unit."""
    column = table.column(name)
    if pa.types.is_timestamp(column.type):
        factor = NANOS_PER_UNIT[column.type.unit]
        values = column.cast(pa.int64()).combine_chunks()
    else:
        values = _cast(path, table, name, pa.int64())
    if factor == 1:
        return values
    try:
        return pc.multiply_checked(values, pa.scalar(factor, pa.int64()))
    except pa.ArrowInvalid:  # overflow: the values are not in the unit the schema says
        example = pc.max(values).as_py()
        raise RawDataError(
            path,
            f"column {name!r} overflows when read as microseconds (e.g. {example}): its values look like "
            "nanoseconds; Tardis timestamps are microseconds since 1970 (ns belong in ts_event/ts_init)",
        ) from None


def _normalise_book(path, table: pa.Table) -> pa.Table:
    if _is_tardis(table, TARDIS_BOOK_COLUMNS, BOOK_COLUMNS):
        _require(path, table, TARDIS_BOOK_COLUMNS, "Tardis book_snapshot_5")
        columns = {
            "ts_event": _micros_to_nanos(path, table, "timestamp"),
            "ts_init": _micros_to_nanos(path, table, "local_timestamp"),
        }
        for kind, field in (("price", "price"), ("size", "amount")):
            for side, tardis_side in (("bid", "bids"), ("ask", "asks")):
                for i in range(BOOK_DEPTH):
                    columns[f"{side}_{kind}_{i}"] = _cast(path, table, f"{tardis_side}[{i}].{field}", pa.float64())
        return pa.table({name: columns[name] for name in BOOK_COLUMNS})
    _require(path, table, BOOK_COLUMNS, "pre-converted book")
    return pa.table(
        {
            name: _to_nanos(path, table, name, 1) if name.startswith("ts_") else _cast(path, table, name, pa.float64())
            for name in BOOK_COLUMNS
        }
    )
