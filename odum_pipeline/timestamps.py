"""UTC instants as NautilusTrader's integer nanoseconds, exactly (no float round trip)."""

from __future__ import annotations

import datetime as dt

import numpy as np

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def utc(moment: dt.datetime) -> dt.datetime:
    """The instant in UTC; a naive datetime is taken as UTC."""
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def to_ns(moment: dt.datetime) -> int:
    return (utc(moment) - EPOCH) // dt.timedelta(microseconds=1) * 1000


def ns_to_iso(ns: int) -> str:
    return np.datetime64(int(ns), "ns").astype(str) + "Z"
