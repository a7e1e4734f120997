"""VWAP volume profiles from the real traded volume in the NautilusTrader catalog.

The rule (``profile_source``):

- ``historical``: the same clock intervals on previous days (1..``lookback_days`` back) whose trades
  in the catalog cover the whole horizon; their volumes per interval are summed. Uses only data
  before the order's arrival: no look-ahead.
- ``intraday``: the same day's volume *before* the arrival: the traded volume per interval of the
  horizon-long stretch that ends at the arrival (the shape the market showed most recently). No
  look-ahead.
- ``flat``: equal weights (TWAP's straight line), when no earlier volume is known. No look-ahead.
- ``realized``: the traded volume per interval of the execution horizon itself. This is real data but
  *ex post* (the schedule knows the future volume): the record says ``look_ahead: true``, the run is
  flagged and the comparison leaves it out of the ranking (it is the ideal-VWAP benchmark, not a
  tradeable schedule). Only when asked for by name.
- ``auto`` (default): ``historical`` when any previous day covers the horizon, else ``intraday``
  when the catalog covers the stretch before the arrival, else ``flat``. Never ``realized``.

A horizon is "covered" on a day when the catalog's trade files span it with no gap longer than one
interval (a quiet market may trade nothing for a few seconds; a missing file is a gap).
A profile with no traded volume at all is an error, never silently replaced by an equal split.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from odum_pipeline.algorithms.slicing import NS_PER_SEC, normalize_profile
from odum_pipeline.errors import OdumError

NS_PER_DAY = 86_400 * NS_PER_SEC
SOURCES = ("auto", "historical", "intraday", "flat", "realized")


class ProfileError(OdumError, ValueError):
    """No real volume profile can be built for the requested horizon."""


@dataclass(frozen=True)
class VolumeProfile:
    """The profile a VWAP order used, as recorded in the run."""

    weights: list[float]
    source: str  # "given" | "historical" | "intraday" | "flat" | "realized"
    look_ahead: bool
    volumes: list[float] = field(default_factory=list)  # traded volume per interval (base units)
    days: list[str] = field(default_factory=list)  # the days whose volume made the profile
    start_ns: int = 0
    interval_ns: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def given_profile(weights: Sequence[float], intervals: int, start_ns: int = 0, interval_ns: int = 0) -> VolumeProfile:
    if len(weights) != intervals:
        raise ProfileError(f"profile has {len(weights)} weights, expected one per interval ({intervals})")
    return VolumeProfile(
        weights=normalize_profile(weights), source="given", look_ahead=False, start_ns=start_ns, interval_ns=interval_ns
    )


def interval_volumes(ts_ns: np.ndarray, sizes: np.ndarray, start_ns: int, interval_ns: int, intervals: int) -> np.ndarray:
    """Traded volume per interval ``[start + k * interval, start + (k + 1) * interval)``."""
    ts_ns = np.asarray(ts_ns, dtype=np.int64)
    sizes = np.asarray(sizes, dtype=np.float64)
    index = (ts_ns - start_ns) // interval_ns
    mask = (ts_ns >= start_ns) & (index < intervals)
    return np.bincount(index[mask].astype(np.int64), weights=sizes[mask], minlength=intervals)[:intervals]


def covered(spans: Sequence[tuple[int, int]], start_ns: int, end_ns: int, tolerance_ns: int) -> bool:
    """Do ``spans`` (file [first, last] ts) cover ``[start, end]`` with gaps of at most ``tolerance``?"""
    reach = None
    for first, last in sorted(spans):
        if last < start_ns - tolerance_ns:
            continue  # entirely before the window
        if reach is None:
            if first > start_ns + tolerance_ns:
                return False
            reach = last
        elif first > reach + tolerance_ns:
            break
        else:
            reach = max(reach, last)
        if reach >= end_ns - tolerance_ns:
            return True
    return reach is not None and reach >= end_ns - tolerance_ns


def catalog_profile(
    catalog_path: str | Path,
    instrument_id: str,
    start_ns: int,
    horizon_ns: int,
    intervals: int,
    *,
    source: str = "auto",
    lookback_days: int = 5,
) -> VolumeProfile:
    """The VWAP profile of ``intervals`` intervals from ``start`` (see the module rule)."""
    if source not in SOURCES:
        raise ProfileError(f"profile_source must be one of {', '.join(SOURCES)}, got {source!r}")
    if intervals <= 0 or horizon_ns <= 0:
        raise ProfileError("intervals and horizon must be positive")
    from odum_pipeline.catalog.market_data import MarketData  # a folder or a gs:// catalog

    interval_ns = horizon_ns // intervals
    market = MarketData(catalog_path, instrument_id)
    spans = market.trade_spans()
    if not spans:
        raise ProfileError(f"{catalog_path}: no trade ticks of {instrument_id} in the catalog")

    def volumes_from(day_start: int) -> np.ndarray:
        trades = market.trades(day_start, day_start + interval_ns * intervals - 1)
        return interval_volumes(trades["ts_init"].to_numpy(), trades["size"].to_numpy(), day_start, interval_ns, intervals)

    if source == "flat":
        return _flat(intervals, start_ns, interval_ns)
    if source in ("auto", "historical"):
        total = np.zeros(intervals)
        days: list[str] = []
        for back in range(1, lookback_days + 1):
            day_start = start_ns - back * NS_PER_DAY
            if covered(spans, day_start, day_start + horizon_ns, interval_ns):
                volumes = volumes_from(day_start)
                if volumes.sum() > 0:
                    total += volumes
                    days.append(_day(day_start))
        if days:
            return _profile(total, "historical", False, days, start_ns, interval_ns)
        if source == "historical":
            raise ProfileError(
                f"no previous day (1..{lookback_days} back) in the catalog covers the horizon's clock intervals "
                f"starting {_iso(start_ns)}; use profile_source 'intraday', 'flat' or 'realized', or pass a profile"
            )
    if source in ("auto", "intraday"):
        before = start_ns - interval_ns * intervals
        if covered(spans, before, start_ns, interval_ns):
            volumes = volumes_from(before)
            if volumes.sum() > 0:
                return _profile(volumes, "intraday", False, [_day(before)], start_ns, interval_ns)
        if source == "intraday":
            raise ProfileError(
                f"the catalog's trades do not cover the {horizon_ns / 1e9:g} s before {_iso(start_ns)} "
                "(an intraday profile uses only volume before the arrival); use profile_source 'flat' or 'auto'"
            )
        return _flat(intervals, start_ns, interval_ns)
    if not covered(spans, start_ns, start_ns + horizon_ns, interval_ns):
        raise ProfileError(f"the catalog's trades do not cover the horizon {_iso(start_ns)} + {horizon_ns / 1e9:g} s")
    return _profile(volumes_from(start_ns), "realized", True, [_day(start_ns)], start_ns, interval_ns)


def _flat(intervals: int, start_ns: int, interval_ns: int) -> VolumeProfile:
    return VolumeProfile(
        weights=normalize_profile([1.0] * intervals), source="flat", look_ahead=False,
        start_ns=start_ns, interval_ns=interval_ns,
    )  # fmt: skip


def _profile(volumes: np.ndarray, source: str, look_ahead: bool, days, start_ns: int, interval_ns: int) -> VolumeProfile:
    if volumes.sum() <= 0:
        raise ProfileError(f"no traded volume in the {source} profile's intervals")
    rounded = [round(float(v), 9) for v in volumes]
    return VolumeProfile(
        weights=normalize_profile(rounded),
        source=source,
        look_ahead=look_ahead,
        volumes=rounded,
        days=list(days),
        start_ns=start_ns,
        interval_ns=interval_ns,
    )


def _day(ts_ns: int) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(ts_ns / NS_PER_SEC, tz=dt.UTC).date().isoformat()


def _iso(ts_ns: int) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(ts_ns / NS_PER_SEC, tz=dt.UTC).isoformat()
