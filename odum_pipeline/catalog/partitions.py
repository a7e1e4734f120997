"""The (day, instrument) partitions of raw ticks and the catalog, registered from what is on disk."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from dagster import DagsterInstance, DynamicPartitionsDefinition, MultiPartitionKey, MultiPartitionsDefinition

from odum_pipeline.catalog.layout import RawFile

day_partitions = DynamicPartitionsDefinition(name="day")
instrument_partitions = DynamicPartitionsDefinition(name="instrument")
# Keys are ordered by dimension name: "2023-04-05|BINANCE-FUTURES:PERPETUAL:BTC-USDT".
catalog_partitions = MultiPartitionsDefinition({"day": day_partitions, "instrument": instrument_partitions})


def catalog_partition_key(day: dt.date | str, instrument_key: str) -> MultiPartitionKey:
    day_text = day.isoformat() if isinstance(day, dt.date) else day
    return MultiPartitionKey({"day": day_text, "instrument": instrument_key})


def parse_catalog_partition(partition_key: str | MultiPartitionKey) -> tuple[dt.date, str]:
    if isinstance(partition_key, MultiPartitionKey):
        keys = partition_key.keys_by_dimension
        return dt.date.fromisoformat(keys["day"]), keys["instrument"]
    day, instrument = partition_key.split("|", 1)
    return dt.date.fromisoformat(day), instrument


def unregistered(instance: DagsterInstance, raw_files: Iterable[RawFile]) -> tuple[list[str], list[str]]:
    """Days and instruments found on disk that are not yet dynamic partitions."""
    files = list(raw_files)
    days = sorted({f.day.isoformat() for f in files})
    instruments = sorted({f.instrument_key for f in files})
    known_days = set(instance.get_dynamic_partitions(day_partitions.name))
    known_instruments = set(instance.get_dynamic_partitions(instrument_partitions.name))
    return [d for d in days if d not in known_days], [i for i in instruments if i not in known_instruments]


def register_partitions(instance: DagsterInstance, raw_files: Iterable[RawFile]) -> tuple[list[str], list[str]]:
    """Add the missing day and instrument partitions; returns what was added."""
    new_days, new_instruments = unregistered(instance, raw_files)
    if new_days:
        instance.add_dynamic_partitions(day_partitions.name, new_days)
    if new_instruments:
        instance.add_dynamic_partitions(instrument_partitions.name, new_instruments)
    return new_days, new_instruments
