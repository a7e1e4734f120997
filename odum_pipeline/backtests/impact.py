"""Market-impact overlay: the book our market orders meet moves against us after our own fills.

A replay matches against the recorded book, which never reacts to us. With ``market.impact`` on,
each market order is matched (through NautilusTrader's ``FillModel.get_orderbook_for_fill_simulation``)
against a copy of the current book shifted by our temporary impact:

    Q_eff(t) = sum_i s_i q_i exp(-(t - t_i) / tau)             (our signed fills, decaying)
    impact(t) = sign(Q_eff) * Y * sigma_1s * sqrt(|Q_eff| / v_1s) * mid(t)

the square-root law written per second: ``sigma_1s`` is the standard deviation of 1-second mid
returns and ``v_1s`` the traded volume per second, both calibrated from the catalog over
``impact_lookback_secs`` *before the first parent's arrival* (no look-ahead); ``Y`` is
``impact_coefficient`` and ``tau`` ``impact_decay_secs``. (sigma_T * sqrt(Q / V_T) does not depend
on the horizon T, so the per-second form equals the daily one.) Fast trading within ``tau`` costs
about Y * sigma * sqrt(Q / v) on the total Q; slow trading lets the impact decay.

The shift is rounded to the price grid against the order (up for a buy, down for a sell). Our
earlier fills move the price; an order does not move the book it is matched against itself (that
is the visible book walk). Limit orders are matched by NautilusTrader's own logic (a resting
order's fills are decided by the recorded trades, which the overlay cannot move).

The matching itself (the shifted book, consumption) is in :mod:`odum_pipeline.backtests.fill_model`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from odum_pipeline.catalog.market_data import load_market
from odum_pipeline.errors import OdumError

NS = 1_000_000_000


class ImpactCalibrationError(OdumError, ValueError):
    """Too little market data before the first arrival to calibrate the impact overlay."""


@dataclass(frozen=True)
class ImpactCalibration:
    coefficient: float  # Y
    decay_secs: float  # tau
    sigma_1s: float  # std of 1-second mid returns
    volume_per_sec: float  # traded base quantity per second
    data_start: str  # ISO of the calibration interval [data_start, data_end)
    data_end: str
    seconds: int  # 1-second returns used
    trades: int

    def as_dict(self) -> dict:
        return asdict(self)


def calibrate(market, start_ns: int, end_ns: int, *, coefficient: float, decay_secs: float) -> ImpactCalibration:
    """Volatility and traded volume from the market data with ``start_ns <= ts_init < end_ns``.

    ``market``: a ``catalog.market_data.Market`` (mids and trades on sorted axes)."""
    from odum_pipeline.timestamps import ns_to_iso

    book_ts = market.book_ts[(market.book_ts >= start_ns) & (market.book_ts < end_ns)]
    trades = (market.trade_ts >= start_ns) & (market.trade_ts < end_ns)
    if len(book_ts) < 2 or not trades.any():
        raise ImpactCalibrationError(
            f"market.impact: no book and trade data between {ns_to_iso(start_ns)} and {ns_to_iso(end_ns)} "
            "(before the first arrival) to calibrate volatility and volume: convert the preceding day(s), "
            "move the first arrival later, or set market.impact to false"
        )
    first = int(book_ts[0])
    grid = np.arange(first, end_ns, NS, dtype=np.int64)
    mids = market.mid_at(grid)
    returns = np.diff(np.log(mids[~np.isnan(mids)]))
    if len(returns) < 2:
        raise ImpactCalibrationError(
            f"market.impact: less than 3 seconds of book data between {ns_to_iso(first)} and {ns_to_iso(end_ns)} "
            "to calibrate volatility; convert the preceding day(s) or move the first arrival later"
        )
    span_secs = max((end_ns - first) / NS, 1.0)
    return ImpactCalibration(
        coefficient=coefficient,
        decay_secs=decay_secs,
        sigma_1s=float(np.std(returns)),
        volume_per_sec=float(market.trade_qty[trades].sum() / span_secs),
        data_start=ns_to_iso(first),
        data_end=ns_to_iso(end_ns),
        seconds=len(returns),
        trades=int(trades.sum()),
    )


def calibrate_from_catalog(catalog_root: str | Path, instrument_id: str, first_arrival_ns: int, market) -> ImpactCalibration:
    """The overlay's calibration over ``impact_lookback_secs`` before the first arrival."""

    start = first_arrival_ns - market.impact_lookback_secs * NS
    try:
        data = load_market(catalog_root, instrument_id, start, first_arrival_ns - 1)
    except ValueError as error:  # no book data at all
        raise ImpactCalibrationError(f"market.impact: cannot calibrate before the first arrival: {error}") from None
    return calibrate(
        data, start, first_arrival_ns,
        coefficient=float(market.impact_coefficient), decay_secs=float(market.impact_decay_secs),
    )  # fmt: skip


@dataclass
class ImpactSession:
    """The overlay's state for one run: our decaying signed quantity."""

    calibration: ImpactCalibration
    clock: object = None  # the strategy's clock (set on start): the time of a match
    q_eff: float = 0.0
    q_ts: int = 0

    def decayed(self, now_ns: int) -> float:
        if self.q_eff == 0.0:
            return 0.0
        return self.q_eff * math.exp(-(now_ns - self.q_ts) / (self.calibration.decay_secs * NS))

    def on_fill(self, ts_ns: int, signed_qty: float) -> None:
        self.q_eff = self.decayed(ts_ns) + signed_qty
        self.q_ts = ts_ns

    def impact_fraction(self, now_ns: int) -> float:
        """Signed relative price impact now (positive: prices pushed up by our buying)."""
        q = self.decayed(now_ns)
        c = self.calibration
        if q == 0.0 or c.volume_per_sec <= 0:
            return 0.0
        return math.copysign(c.coefficient * c.sigma_1s * math.sqrt(abs(q) / c.volume_per_sec), q)


