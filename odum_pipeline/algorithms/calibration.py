"""Market parameters of the arrival-price (Almgren-Chriss) schedule, from the catalog *before* arrival.

Only book snapshots received strictly before the parent's arrival, within ``lookback_secs``, are
read (no look-ahead); the interval actually used is part of the result and of the run's record.

- ``sigma`` (quote per base unit per sqrt(second)): the standard deviation of the one-second
  changes of the mid (the mid sampled every second on the data's own clock);
- ``book_slope`` (quote per base unit per base unit): how far the price moves per unit walked
  through the visible book, ``(p_4 - p_0) / (q_0 + ... + q_3)`` per side, averaged over both
  sides, median over the snapshots;
- ``eta`` (Almgren-Chriss temporary impact, quote * s / base^2) = ``book_slope * tau``: trading
  ``n`` in one interval of ``tau`` seconds walks the book by ``book_slope * n`` (the book is taken
  to refill between intervals, not within one).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from odum_pipeline.algorithms.slicing import NS_PER_SEC
from odum_pipeline.errors import OdumError

LEVELS = 5
MIN_RETURNS = 5


class CalibrationError(OdumError, ValueError):
    """Not enough market data before the arrival to calibrate the schedule."""


@dataclass(frozen=True)
class Calibration:
    sigma: float
    book_slope: float
    eta: float
    source: str  # "catalog" | "given"
    data_start_ns: int | None = None  # first and last snapshot used (both before the arrival)
    data_end_ns: int | None = None
    snapshots: int = 0
    returns: int = 0
    lookback_secs: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def mid_volatility(ts_ns: np.ndarray, mid: np.ndarray) -> tuple[float, int]:
    """Std of one-second mid changes (the last mid at each whole second after the first snapshot)."""
    grid = np.arange(int(ts_ns[0]) + NS_PER_SEC, int(ts_ns[-1]) + 1, NS_PER_SEC, dtype=np.int64)
    if len(grid) < MIN_RETURNS:
        return float("nan"), 0
    sampled = mid[np.searchsorted(ts_ns, np.concatenate([[ts_ns[0]], grid]), side="right") - 1]
    changes = np.diff(sampled)
    return float(np.std(changes, ddof=1)), len(changes)


def book_slope(bid_px: np.ndarray, bid_qty: np.ndarray, ask_px: np.ndarray, ask_qty: np.ndarray) -> float:
    """Median over snapshots of the price move per unit walked through the visible levels
    (arrays shaped snapshots x levels, level 0 the touch)."""
    ask_walk = (ask_px[:, -1] - ask_px[:, 0]) / ask_qty[:, :-1].sum(axis=1)
    bid_walk = (bid_px[:, 0] - bid_px[:, -1]) / bid_qty[:, :-1].sum(axis=1)
    slopes = (ask_walk + bid_walk) / 2
    slopes = slopes[np.isfinite(slopes) & (slopes > 0)]
    if not len(slopes):
        raise CalibrationError("no snapshot with a full visible book to measure its slope")
    return float(np.median(slopes))


def calibrate(
    catalog_root: str | Path, instrument_id: str, arrival_ns: int, lookback_secs: float, tau_secs: float
) -> Calibration:
    """``Calibration`` from the snapshots with ``arrival - lookback <= ts_init < arrival``."""
    from odum_pipeline.catalog.market_data import MarketData

    start = arrival_ns - int(lookback_secs * NS_PER_SEC)
    book = MarketData(catalog_root, instrument_id).book(start, arrival_ns - 1, levels=LEVELS, sizes=True)
    if len(book) < MIN_RETURNS + 1:
        raise CalibrationError(
            f"{len(book)} book snapshot(s) of {instrument_id} in the {lookback_secs:g} s before the arrival: too few to "
            "calibrate volatility and impact (convert earlier data, lengthen calibration_secs or give sigma and eta)"
        )
    ts = book["ts_init"].to_numpy()

    def levels(side: str, kind: str) -> np.ndarray:
        return book[[f"{side}_{kind}_{i}" for i in range(LEVELS)]].to_numpy()

    bid_px, ask_px = levels("bid", "price"), levels("ask", "price")
    usable = (bid_px[:, 0] > 0) & (ask_px[:, 0] > 0)
    ts, bid_px, ask_px = ts[usable], bid_px[usable], ask_px[usable]
    sigma, returns = mid_volatility(ts, (bid_px[:, 0] + ask_px[:, 0]) / 2)
    if returns < MIN_RETURNS:
        raise CalibrationError(
            f"the book snapshots before the arrival span under {MIN_RETURNS} s: too short to calibrate volatility"
        )
    slope = book_slope(bid_px, levels("bid", "size")[usable], ask_px, levels("ask", "size")[usable])
    return Calibration(
        sigma=sigma, book_slope=slope, eta=slope * tau_secs, source="catalog", data_start_ns=int(ts[0]),
        data_end_ns=int(ts[-1]), snapshots=len(ts), returns=returns, lookback_secs=float(lookback_secs),
    )  # fmt: skip
