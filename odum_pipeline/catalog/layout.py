"""The raw tick layout on disk and the normalised column sets every reader produces.

``<raw root>/raw_tick_data/by_date/day-YYYY-MM-DD/data_type-{trades,book_snapshot_5}/<INSTRUMENT_KEY>.parquet``
(``.csv.gz`` accepted too). Readers turn either raw schema into the *pre-converted* form below,
which is what the checks and the catalog conversion work on.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

RAW_DIR = "raw_tick_data/by_date"
TRADES = "trades"
BOOK = "book_snapshot_5"
DATA_TYPES = (TRADES, BOOK)
BOOK_DEPTH = 5
RAW_SUFFIXES = (".parquet", ".csv.gz")

# Aggressor codes of the pre-converted form (NautilusTrader's AggressorSide values).
AGGRESSOR_UNKNOWN, AGGRESSOR_BUYER, AGGRESSOR_SELLER = 0, 1, 2

TRADE_COLUMNS = ("ts_event", "ts_init", "price", "size", "aggressor_side", "trade_id")
BOOK_PRICE_COLUMNS = tuple(
    f"{side}_price_{i}" for side in ("bid", "ask") for i in range(BOOK_DEPTH)
)
BOOK_SIZE_COLUMNS = tuple(f"{side}_size_{i}" for side in ("bid", "ask") for i in range(BOOK_DEPTH))
BOOK_COLUMNS = ("ts_event", "ts_init", *BOOK_PRICE_COLUMNS, *BOOK_SIZE_COLUMNS)

_DAY_DIR = re.compile(r"^day-(\d{4}-\d{2}-\d{2})$")
_TYPE_DIR = re.compile(r"^data_type-(.+)$")


@dataclass(frozen=True, order=True)
class RawFile:
    """One raw file: a (day, data type, instrument) cell of the layout."""

    day: dt.date
    data_type: str
    instrument_key: str
    path: Path | str  # a local Path, or "gs://bucket/object" for a file read through the GCS API
    #: Object metadata of a GCS file (size, generation, md5, crc32c); None for local files.
    meta: tuple | None = field(default=None, compare=False)

    @property
    def partition_key(self) -> str:
        return partition_key(self.day, self.instrument_key)


def partition_key(day: dt.date, instrument_key: str) -> str:
    return f"{day.isoformat()}|{instrument_key}"


def raw_path(raw_root: Path, day: dt.date, data_type: str, instrument_key: str, suffix: str = ".parquet") -> Path:
    return Path(raw_root) / RAW_DIR / f"day-{day.isoformat()}" / f"data_type-{data_type}" / f"{instrument_key}{suffix}"


def parse_relative(relative: str) -> tuple[dt.date, str, str] | None:
    """(day, data type, instrument key) of ``day-D/data_type-T/KEY.parquet`` (a path under RAW_DIR), else None."""
    parts = relative.split("/")
    if len(parts) != 3:
        return None
    day_match, type_match = _DAY_DIR.match(parts[0]), _TYPE_DIR.match(parts[1])
    key = _instrument_key_of(parts[2])
    if not (day_match and type_match and key and type_match.group(1) in DATA_TYPES):
        return None
    try:
        day = dt.date.fromisoformat(day_match.group(1))
    except ValueError:
        return None
    return day, type_match.group(1), key


def relative_name(day: dt.date, data_type: str, instrument_key: str, suffix: str = ".parquet") -> str:
    """``day-D/data_type-T/KEY<suffix>``: a file's name under RAW_DIR."""
    return f"day-{day.isoformat()}/data_type-{data_type}/{instrument_key}{suffix}"


def _instrument_key_of(name: str) -> str | None:
    for suffix in RAW_SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return None


def discover_raw_files(raw_root: Path) -> list[RawFile]:
    """Every raw file under ``raw_root``, sorted by (day, data type, instrument)."""
    base = Path(raw_root) / RAW_DIR
    found: list[RawFile] = []
    if not base.is_dir():
        return found
    for day_dir in base.iterdir():
        day_match = _DAY_DIR.match(day_dir.name)
        if not (day_match and day_dir.is_dir()):
            continue
        day = dt.date.fromisoformat(day_match.group(1))
        for type_dir in day_dir.iterdir():
            type_match = _TYPE_DIR.match(type_dir.name)
            if not (type_match and type_match.group(1) in DATA_TYPES and type_dir.is_dir()):
                continue
            for file in type_dir.iterdir():
                key = _instrument_key_of(file.name)
                if key:  # even when not a regular file: conversion names it as unreadable, never skips it
                    found.append(RawFile(day, type_match.group(1), key, file))
    return sorted(found)


def find_raw_file(raw_root: Path, day: dt.date, data_type: str, instrument_key: str) -> Path | None:
    """The raw file of one cell, preferring Parquet over CSV; None when absent.

    Any directory entry counts, even a dangling symlink or a directory: reading it then fails with
    a message naming it, where treating it as absent would drop that data type from the catalog.
    """
    for suffix in RAW_SUFFIXES:
        path = raw_path(raw_root, day, data_type, instrument_key, suffix)
        if os.path.lexists(path):
            return path
    return None
