"""Deterministic, realistic synthetic raw tick data (trades + top-5 book), Dagster-free.

The model, all vectorised over event arrays (no per-tick Python loops):

* **Intensity.** The window is cut into regimes (exponential lengths) with a lognormal rate
  multiplier, a buy-probability and a feed latency each. Market orders arrive as a Hawkes
  process: regime-modulated Poisson parents, each spawning Poisson(``self_excitation``)
  children after exponential delays, generation by generation. Bursts and lulls follow.
* **Price path.** Best bid ``B`` and best ask ``A`` are integer ticks. A *move* removes one
  side's top level: a sweeping market order (it trades the whole level) or a cancellation.
  Each move is later *refilled* on the opposite side (the mid moves one tick, probability
  ``follow_prob``) or on the same side (the mid reverts). The spread is therefore one tick
  plus the number of pending refills: usually one tick, never crossed; the mid is a random
  walk on the tick grid whose drift follows the regimes' order-flow imbalance.
* **Depth.** Levels sit on consecutive ticks (``A + k``, ``B - k``). Resting size at a price is
  a hash of (seed, side, tick, epoch) - exponential with occasional heavy-tailed large
  orders - and is redrawn every ``depth_refresh_ms`` (each price with its own phase), so the
  deeper levels are consistent when the top shifts onto them.
* **Trades move the book.** A buy fills at the prevailing best ask, a sell at the best bid. A
  sweeping order trades exactly the resting size of the top level (in one or two fills), shifts
  that side by a tick, and sometimes walks one fill into the next level. The displayed top size
  is the resting size plus the volume that non-sweeping trades will still take from it in the
  current (level life, depth epoch): every trade visibly depletes the top between snapshots.
* **Snapshots** are written at every top-of-book price change and at irregular, log-uniform
  ``snapshot_interval_ms`` gaps. A snapshot at time ``t`` reflects every event at or before
  ``t``. Market orders sit on even microseconds and book-only events on odd ones, so a
  trade never shares its timestamp with a book-only change.

Guarantee (tested): for each trade, take the latest snapshot with a timestamp strictly before
the trade's. A buy trades at that snapshot's ask level ``k`` and a sell at its bid level ``k``,
where ``k`` counts the top levels that earlier fills at the same timestamp exhausted (0 or 1):
the first fill of every timestamp is at the snapshot's best price.

Files are byte-identical for identical arguments: the seed derives from (day, instrument[,
seed]), and Parquet is written with fixed settings and no time-varying metadata.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, fields, replace
from decimal import Decimal
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from odum_pipeline.catalog.layout import (
    AGGRESSOR_BUYER,
    AGGRESSOR_SELLER,
    AGGRESSOR_UNKNOWN,
    BOOK,
    BOOK_DEPTH,
    TRADES,
    raw_path,
)
from odum_pipeline.errors import OdumError
from odum_pipeline.files import atomic_write

SCHEMAS = ("tardis", "nautilus")
_US = 1_000_000
_BUY, _SELL = 1, -1  # internal side sign: +1 lifts the ask, -1 hits the bid
_ASK_SIDE, _BID_SIDE = 0, 1  # hash salt per book side
_TRADE_CHUNK = 1_000_000
_BOOK_CHUNK = 500_000


class SampleError(OdumError, ValueError):
    """A sample that cannot be generated: an instrument without synthetic parameters, a bad schema or window."""


@dataclass(frozen=True)
class SyntheticInstrument:
    """Static parameters of one synthetic instrument (the registry's ``InstrumentSpec`` says how to
    build it in NautilusTrader; this says how its market behaves)."""

    exchange: str
    symbol: str
    tick: float
    lot: float
    price: float
    trades_per_second: float
    trade_lots: float  # mean trade fill size, in lots
    depth_lots: float  # mean resting size per level, in lots


#: Tardis exchange ids of the registry's (venue, type).
_TARDIS_EXCHANGES = {
    ("BINANCE-FUTURES", "PERPETUAL"): "binance-futures",
    ("BINANCE", "SPOT"): "binance",
    ("BYBIT", "PERPETUAL"): "bybit",
    ("BYBIT", "SPOT"): "bybit-spot",
    ("OKX", "PERPETUAL"): "okex-swap",
    ("OKX", "SPOT"): "okex",
    ("DERIBIT", "PERPETUAL"): "deribit",
}

#: Per base currency: price level, fills per second, mean trade and mean level size in base units.
_BASE_MARKETS = {"BTC": (27000.0, 30.0, 0.025, 0.4), "ETH": (1800.0, 15.0, 0.6, 6.0)}


def _registry_instrument(spec, tuned: tuple[float, float, float, float] | None = None) -> SyntheticInstrument:
    """Synthetic parameters of a registry instrument: prices on its tick grid, sizes on its lot grid
    (inverse sizes in contracts of the quote currency, so trade and level sizes are base x price).

    ``tuned``: hand-tuned (price, trades per second, trade lots, depth lots) instead of the defaults
    derived from ``_BASE_MARKETS``; the tick and lot sizes always come from the registry."""
    tick, lot = float(spec.price_increment), float(spec.size_increment)
    if tuned is None:
        price, rate, trade_base, depth_base = _BASE_MARKETS[spec.base]
        unit = price if spec.is_inverse else 1.0  # an inverse lot is quote currency: base size x price
        tuned = (price, rate, max(1.0, round(trade_base * unit / lot)), max(4.0, round(depth_base * unit / lot)))
    return SyntheticInstrument(_TARDIS_EXCHANGES[(spec.venue, spec.instrument_type)], spec.raw_symbol, tick, lot, *tuned)


#: Hand-tuned (price, trades per second, trade lots, depth lots) of the first sample instruments (and their data).
_TUNED = {
    "BINANCE-FUTURES:PERPETUAL:BTC-USDT": (27000.0, 30.0, 25, 400),
    "BINANCE-FUTURES:PERPETUAL:ETH-USDT": (1800.0, 15.0, 600, 6000),
    "BINANCE:SPOT:BTC-USDT": (27000.0, 20.0, 1500, 20000),
}


def _all_instruments() -> dict[str, SyntheticInstrument]:
    from odum_pipeline.instruments.registry import list_instruments

    return {spec.key: _registry_instrument(spec, _TUNED.get(spec.key)) for spec in list_instruments()}


#: Every registry instrument, with its tick and lot sizes.
INSTRUMENTS: dict[str, SyntheticInstrument] = _all_instruments()


@dataclass(frozen=True)
class MarketParams:
    """Tunable knobs of the model (see the module docstring); defaults are BTC-perp-like."""

    trades_per_second: float | None = None  # mean fill rate; None: the instrument's
    snapshot_interval_ms: tuple[float, float] = (10.0, 100.0)  # log-uniform sampling gaps
    unknown_side_share: float = 0.0
    depth_refresh_ms: float | None = 2000.0  # None: resting sizes never change
    regime_mean_s: float = 60.0
    burstiness: float = 0.8  # lognormal sigma of the regime rate multiplier
    self_excitation: float = 0.5  # Hawkes branching ratio
    excitation_ms: float = 40.0  # mean child delay
    fills_per_order: float = 1.6  # mean fills of a non-sweeping market order
    sweep_share: float = 0.05  # share of market orders that exhaust the top level
    walk_share: float = 0.15  # share of sweeps that fill once more at the next level
    cancel_moves_per_second: float = 0.5
    refill_ms: float = 15.0
    follow_prob: float = 0.5
    latency_ms: float = 10.0  # median feed latency (local_timestamp - timestamp)


@dataclass(frozen=True)
class SampleFiles:
    """The two raw files written for one (day, instrument)."""

    day: dt.date
    instrument_key: str
    trades_path: Path
    book_path: Path
    trades_rows: int
    book_rows: int


DEFAULT_SAMPLE = dict(
    days=[dt.date(2023, 5, 23)],
    instrument_keys=["BINANCE-FUTURES:PERPETUAL:BTC-USDT", "BINANCE-FUTURES:PERPETUAL:ETH-USDT"],
    start_time=dt.time(19, 0),
    end_time=dt.time(20, 0),
    schema="tardis",
)


def synthetic_instrument(instrument_key: str) -> SyntheticInstrument:
    try:
        return INSTRUMENTS[instrument_key]
    except KeyError:
        raise SampleError(
            f"no synthetic parameters for instrument {instrument_key!r}; known: {sorted(INSTRUMENTS)}"
        ) from None


# ----------------------------------------------------------------------------------------- API


def generate_day(
    raw_root: Path | str,
    day: dt.date,
    instrument_key: str,
    *,
    start_time: dt.time | None = None,
    end_time: dt.time | None = None,
    schema: str = "tardis",
    seed: int | None = None,
    **params,
) -> SampleFiles:
    """Write the trades and book files of one (day, instrument) over [start_time, end_time) UTC.

    ``params`` are :class:`MarketParams` fields (``trades_per_second``, ``unknown_side_share``...).
    """
    spec = synthetic_instrument(instrument_key)
    if schema not in SCHEMAS:
        raise SampleError(f"unknown schema {schema!r}; expected one of {SCHEMAS}")
    p = _params(spec, params)
    t0, t1 = _window_us(day, start_time, end_time)
    market = _Market.simulate(spec, p, _seed(day, instrument_key, seed), t0, t1)
    trades_path = raw_path(Path(raw_root), day, TRADES, instrument_key)
    book_path = raw_path(Path(raw_root), day, BOOK, instrument_key)
    meta = _Meta(spec, instrument_key, schema, _trade_id_base(day, t0))
    n_trades = _write(trades_path, market.trade_chunks(meta))
    n_book = _write(book_path, market.book_chunks(meta))
    return SampleFiles(day, instrument_key, trades_path, book_path, n_trades, n_book)


def generate_sample(
    raw_root: Path | str,
    days: Iterable[dt.date],
    instrument_keys: Sequence[str],
    *,
    start_time: dt.time | None = None,
    end_time: dt.time | None = None,
    schema: str = "tardis",
    seed: int | None = None,
    **params,
) -> list[SampleFiles]:
    """:func:`generate_day` for every (day, instrument); keys are validated before writing."""
    for key in instrument_keys:
        synthetic_instrument(key)
    return [
        generate_day(raw_root, day, key, start_time=start_time, end_time=end_time, schema=schema, seed=seed, **params)
        for day in days
        for key in instrument_keys
    ]


def generate_default_sample(raw_root: Path | str, **overrides) -> list[SampleFiles]:
    """The project's default sample (:data:`DEFAULT_SAMPLE`): small, covers 19:23-19:28 UTC."""
    return generate_sample(raw_root, **{**DEFAULT_SAMPLE, **overrides})


# ------------------------------------------------------------------------------------ helpers


def _params(spec: SyntheticInstrument, params: dict) -> MarketParams:
    known = {f.name for f in fields(MarketParams)}
    unknown = sorted(set(params) - known)
    if unknown:
        raise TypeError(f"unknown generator parameter(s) {unknown}; expected some of {sorted(known)}")
    p = MarketParams(**params)
    return p if p.trades_per_second is not None else replace(p, trades_per_second=spec.trades_per_second)


def _window_us(day: dt.date, start: dt.time | None, end: dt.time | None) -> tuple[int, int]:
    midnight = dt.datetime.combine(day, dt.time(0), tzinfo=dt.timezone.utc)
    day0 = int(midnight.timestamp()) * _US

    def offset(t: dt.time) -> int:
        return ((t.hour * 60 + t.minute) * 60 + t.second) * _US + t.microsecond

    t0 = day0 + (offset(start) if start else 0)
    t1 = day0 + (offset(end) if end else 86_400 * _US)
    if t1 <= t0:
        raise SampleError(f"empty window: start_time {start} is not before end_time {end}")
    return t0 - t0 % 2, t1  # market orders sit on even microseconds


def _seed(day: dt.date, instrument_key: str, seed: int | None) -> int:
    text = f"{day.isoformat()}|{instrument_key}|{'' if seed is None else int(seed)}"
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")


def _trade_id_base(day: dt.date, t0: int) -> int:
    """Ids grow with the day and with the window start (room for 1,000 trades a second)."""
    days = (day - dt.date(2020, 1, 1)).days
    return 1_000_000_000 + days * 100_000_000 + (t0 // _US % 86_400) * 1_000


def _decimals(step: float) -> int:
    return max(0, -Decimal(repr(step)).normalize().as_tuple().exponent)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: a counter-based hash, uint64 -> uint64 (wrapping arithmetic)."""
    x = x + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def _unit(h: np.ndarray) -> np.ndarray:
    """uint64 hash -> float in (0, 1)."""
    return ((h >> np.uint64(11)).astype(np.float64) + 0.5) * 2.0**-53


def _heavy_lots(u1: np.ndarray, u2: np.ndarray, u3: np.ndarray, mean: float, p_large: float = 0.05) -> np.ndarray:
    """Sizes in lots: 1 + exponential(mean), times a Pareto(1.5) x 5 factor with ``p_large``."""
    lots = 1.0 + np.floor(-mean * np.log(u1))
    big = np.minimum(5.0 * u3 ** (-1 / 1.5), 200.0)
    return np.where(u2 < p_large, np.ceil(lots * big), lots).astype(np.int64)


def _poisson_times(rng, starts, lengths, rate_per_us):
    """Poisson points with a piecewise-constant rate over the given intervals."""
    counts = rng.poisson(rate_per_us * lengths)
    return np.repeat(starts, counts) + rng.random(int(counts.sum())) * np.repeat(lengths, counts)


def _unique_on_parity(t: np.ndarray, t0: int, parity: int) -> np.ndarray:
    """Sorted float times -> strictly increasing int64 µs of the given parity (bumped forward)."""
    k = np.floor((np.sort(t) - t0) / 2).astype(np.int64)
    i = np.arange(k.size, dtype=np.int64)
    k = np.maximum.accumulate(k - i) + i if k.size else k
    return t0 + 2 + 2 * k + parity


# ------------------------------------------------------------------------------------ the model


@dataclass
class _Meta:
    spec: SyntheticInstrument
    instrument_key: str
    schema: str
    id_base: int


class _Market:
    """The simulated event arrays of one window; snapshots are computed chunk by chunk."""

    @classmethod
    def simulate(cls, spec: SyntheticInstrument, p: MarketParams, seed: int, t0: int, t1: int) -> "_Market":
        m = cls()
        m.spec, m.p, m.t0, m.t1 = spec, p, t0, t1
        m.rng = np.random.default_rng(seed)
        m.salt = _mix(np.arange(4, dtype=np.uint64) ^ np.array([seed], dtype=np.uint64))  # per-purpose salts
        m._regimes()
        m._market_orders()
        m._book_events()
        m._fills()
        m._depletion_index()
        m._snapshot_times()
        return m

    # -- intensity

    def _regimes(self) -> None:
        rng, p, dur = self.rng, self.p, self.t1 - self.t0
        cuts = np.sort(rng.random(rng.poisson(dur / (p.regime_mean_s * _US)))) * dur
        self.reg_start = self.t0 + np.concatenate([[0.0], cuts])
        self.reg_len = np.diff(np.append(self.reg_start, float(self.t1)))
        n = self.reg_start.size
        self.reg_mult = np.exp(p.burstiness * rng.standard_normal(n) - p.burstiness**2 / 2)
        self.reg_buy = rng.beta(8.0, 8.0, n)
        self.reg_latency = p.latency_ms * 1000 * np.exp(0.4 * rng.standard_normal(n))

    def _regime_of(self, t: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.reg_start, t, side="right") - 1

    def _market_orders(self) -> None:
        """Hawkes arrivals (cluster representation), then side/sweep/walk flags per order."""
        rng, p = self.rng, self.p
        fills_per_mo = (1 - p.sweep_share) * p.fills_per_order + p.sweep_share * (1.5 + p.walk_share)
        rate = p.trades_per_second / fills_per_mo / _US * (1 - p.self_excitation)
        gen = _poisson_times(rng, self.reg_start, self.reg_len, rate * self.reg_mult)
        parts = [gen]
        while gen.size:
            kids = rng.poisson(p.self_excitation, gen.size)
            gen = np.repeat(gen, kids) + rng.exponential(p.excitation_ms * 1000, int(kids.sum()))
            parts.append(gen)
        t = np.concatenate(parts)
        t = _unique_on_parity(t[t < self.t1], self.t0, 0)
        self.mo_t = t[t < self.t1]
        n = self.mo_t.size
        self.mo_side = np.where(rng.random(n) < self.reg_buy[self._regime_of(self.mo_t)], _BUY, _SELL).astype(np.int8)
        self.mo_sweep = rng.random(n) < p.sweep_share
        self.mo_walk = self.mo_sweep & (rng.random(n) < p.walk_share)

    # -- book path

    def _book_events(self) -> None:
        """Moves (sweeps + cancellations) and their refills -> step functions A(t), B(t)."""
        rng, p = self.rng, self.p
        cancel_t = _poisson_times(rng, self.reg_start, self.reg_len, p.cancel_moves_per_second / _US * self.reg_mult)
        cancel_t = _unique_on_parity(cancel_t, self.t0, 1)
        cancel_t = cancel_t[cancel_t < self.t1]
        move_t = np.concatenate([self.mo_t[self.mo_sweep], cancel_t])
        move_side = np.concatenate([self.mo_side[self.mo_sweep], np.where(rng.random(cancel_t.size) < 0.5, _BUY, _SELL)])
        refill_t = (move_t + 1 + rng.exponential(p.refill_ms * 1000, move_t.size).astype(np.int64)) | 1
        follow = rng.random(move_t.size) < p.follow_prob
        buy = move_side == _BUY
        # a buy-type move lifts the ask; its refill lifts the bid (follow) or lowers the ask back
        d_ask = np.concatenate([buy.astype(np.int64), np.where(~buy & follow, -1, np.where(buy & ~follow, -1, 0))])
        d_bid = np.concatenate([-(~buy).astype(np.int64), np.where(buy & follow, 1, np.where(~buy & ~follow, 1, 0))])
        ev_t = np.concatenate([move_t, refill_t])
        keep = ev_t < self.t1
        order = np.argsort(ev_t[keep], kind="stable")
        self.ev_t = ev_t[keep][order]
        d_ask, d_bid = d_ask[keep][order], d_bid[keep][order]
        self.cum_ask = np.concatenate([[0], np.cumsum(d_ask)])
        self.cum_bid = np.concatenate([[0], np.cumsum(d_bid)])
        self.ask_change_t = self.ev_t[d_ask != 0]
        self.bid_change_t = self.ev_t[d_bid != 0]
        bid0 = int(round(self.spec.price * np.exp(0.02 * rng.standard_normal()) / self.spec.tick))
        self.bid0, self.ask0 = bid0, bid0 + 1

    def _best(self, t: np.ndarray, side: str) -> tuple[np.ndarray, np.ndarray]:
        """(best bid, best ask) ticks after events at < t (side='left') or <= t ('right')."""
        i = np.searchsorted(self.ev_t, t, side=side)
        return self.bid0 + self.cum_bid[i], self.ask0 + self.cum_ask[i]

    # -- depth field

    def _epoch(self, book_side: int, ticks: np.ndarray, t: np.ndarray) -> np.ndarray:
        if self.p.depth_refresh_ms is None:
            return np.zeros(np.shape(t), dtype=np.int64)
        period = int(self.p.depth_refresh_ms * 1000)
        phase = (_mix(ticks.astype(np.uint64) ^ self.salt[book_side]) % np.uint64(period)).astype(np.int64)
        return (t - self.t0 + phase) // period

    def _resting_lots(self, book_side: int, ticks: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Resting size (lots) at a price: a hash of (seed, side, tick, epoch)."""
        epoch = self._epoch(book_side, ticks, t).astype(np.uint64)
        h = _mix(_mix(ticks.astype(np.uint64) ^ self.salt[2 + book_side]) ^ epoch)
        u1, u2, u3 = _unit(h), _unit(_mix(h ^ np.uint64(1))), _unit(_mix(h ^ np.uint64(2)))
        return _heavy_lots(u1, u2, u3, self.spec.depth_lots)

    # -- trades

    def _fills(self) -> None:
        """Expand market orders into fills at the prevailing best prices."""
        rng, p, n = self.rng, self.p, self.mo_t.size
        bid, ask = self._best(self.mo_t, "left")
        buy = self.mo_side == _BUY
        top = np.where(buy, ask, bid)
        full = np.where(buy, self._resting_lots(_ASK_SIDE, top, self.mo_t), self._resting_lots(_BID_SIDE, top, self.mo_t))
        pieces = np.where((full >= 2) & (rng.random(n) < 0.5), 2, 1)
        count = np.where(self.mo_sweep, pieces + self.mo_walk, rng.geometric(1 / p.fills_per_order, n))
        mo = np.repeat(np.arange(n), count)
        j = np.arange(mo.size) - np.repeat(np.cumsum(count) - count, count)
        m = mo.size
        lots = _heavy_lots(rng.random(m), rng.random(m), rng.random(m), self.spec.trade_lots, 0.02)
        cut = 1 + np.floor(rng.random(n) * np.maximum(full - 1, 0)).astype(np.int64)
        first = np.where(pieces[mo] == 2, full[mo] - cut[mo], full[mo])
        sweep_piece = self.mo_sweep[mo] & (j < pieces[mo])
        lots = np.where(sweep_piece, np.where(j == 0, first, cut[mo]), lots)
        walk = self.mo_sweep[mo] & (j == pieces[mo])
        sign = self.mo_side[mo].astype(np.int64)
        self.f_t = self.mo_t[mo]
        self.f_side = self.mo_side[mo]
        self.f_tick = top[mo] + sign * walk
        self.f_lots = lots
        self.f_sweep = sweep_piece
        self.f_j = j
        unknown = rng.random(m) < p.unknown_side_share
        self.f_code = np.where(unknown, AGGRESSOR_UNKNOWN, np.where(buy[mo], AGGRESSOR_BUYER, AGGRESSOR_SELLER)).astype(np.int8)

    def _depletion_index(self) -> None:
        """Per book side: non-sweeping fills keyed by (level life, depth epoch), with cum. volume."""
        self.dep = {}
        for book_side, side, change_t in ((_ASK_SIDE, _BUY, self.ask_change_t), (_BID_SIDE, _SELL, self.bid_change_t)):
            sel = (self.f_side == side) & ~self.f_sweep
            t, tick = self.f_t[sel], self.f_tick[sel]
            key = self._segment_key(book_side, change_t, tick, t)
            self.dep[book_side] = (change_t, t, key, np.concatenate([[0], np.cumsum(self.f_lots[sel])]))

    def _segment_key(self, book_side, change_t, tick, t) -> np.ndarray:
        life = np.searchsorted(change_t, t, side="right").astype(np.int64)
        return (life << 32) + self._epoch(book_side, tick, t)

    def _top_lots(self, book_side: int, tick: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Resting size plus the volume trades will still take from this level in its segment."""
        change_t, f_t, f_key, cum = self.dep[book_side]
        key = self._segment_key(book_side, change_t, tick, t)
        end = np.searchsorted(f_key, key, side="right")
        now = np.searchsorted(f_t, t, side="right")
        return self._resting_lots(book_side, tick, t) + cum[end] - cum[now]

    # -- snapshots

    def _snapshot_times(self) -> None:
        lo, hi = (g * 1000 for g in self.p.snapshot_interval_ms)
        dur = self.t1 - self.t0
        mean = (hi - lo) / np.log(hi / lo) if hi > lo else lo
        gaps = np.exp(self.rng.uniform(np.log(lo), np.log(hi), int(dur / mean * 1.1) + 100))
        while gaps.sum() < dur:
            gaps = np.concatenate([gaps, np.exp(self.rng.uniform(np.log(lo), np.log(hi), gaps.size // 10 + 100))])
        sampled = (self.t0 + np.cumsum(gaps).astype(np.int64)) | 1
        t = np.unique(np.concatenate([[self.t0 + 1], sampled[sampled < self.t1], self.ev_t]))
        self.snap_t = t[t < self.t1]

    def _local(self, t: np.ndarray, extra: np.ndarray | int = 0) -> np.ndarray:
        """Exchange time + regime latency + jitter, made non-decreasing."""
        jitter = self.rng.exponential(300.0, t.size)
        lat = self.reg_latency[self._regime_of(t)] + jitter + 1000
        return np.maximum.accumulate(t + lat.astype(np.int64) + extra)

    # -- output

    def trade_chunks(self, meta: "_Meta") -> Iterable[pa.Table]:
        local = self._local(self.f_t, self.f_j * 7)
        for lo in range(0, max(self.f_t.size, 1), _TRADE_CHUNK):
            s = slice(lo, lo + _TRADE_CHUNK)
            ids = meta.id_base + np.arange(lo, min(lo + _TRADE_CHUNK, self.f_t.size), dtype=np.int64)
            yield _trade_table(meta, self.f_t[s], local[s], ids, self.f_code[s], self.f_tick[s], self.f_lots[s])

    def book_chunks(self, meta: "_Meta") -> Iterable[pa.Table]:
        local = self._local(self.snap_t)
        for lo in range(0, max(self.snap_t.size, 1), _BOOK_CHUNK):
            t = self.snap_t[lo : lo + _BOOK_CHUNK]
            bid, ask = self._best(t, "right")
            k = np.arange(BOOK_DEPTH)
            ask_ticks, bid_ticks = ask[:, None] + k, bid[:, None] - k
            ask_lots = self._resting_lots(_ASK_SIDE, ask_ticks, np.broadcast_to(t[:, None], ask_ticks.shape))
            bid_lots = self._resting_lots(_BID_SIDE, bid_ticks, np.broadcast_to(t[:, None], bid_ticks.shape))
            ask_lots[:, 0] = self._top_lots(_ASK_SIDE, ask, t)
            bid_lots[:, 0] = self._top_lots(_BID_SIDE, bid, t)
            yield _book_table(meta, t, local[lo : lo + _BOOK_CHUNK], bid_ticks, bid_lots, ask_ticks, ask_lots)


# ---------------------------------------------------------------------------------- arrow out


def _prices(meta: _Meta, ticks: np.ndarray) -> np.ndarray:
    return np.round(ticks * meta.spec.tick, _decimals(meta.spec.tick))


def _sizes(meta: _Meta, lots: np.ndarray) -> np.ndarray:
    return np.round(lots * meta.spec.lot, _decimals(meta.spec.lot))


def _const(value: str, n: int) -> pa.Array:
    return pa.repeat(pa.scalar(value, pa.string()), n)


def _trade_table(meta, ts, local, ids, code, ticks, lots) -> pa.Table:
    price, size, n = _prices(meta, ticks), _sizes(meta, lots), ts.size
    trade_id = pc.cast(pa.array(ids), pa.string())
    if meta.schema == "tardis":
        side = pc.take(pa.array(["unknown", "buy", "sell"]), pa.array(code))
        cols = dict(exchange=_const(meta.spec.exchange, n), symbol=_const(meta.spec.symbol, n), timestamp=ts,
                    local_timestamp=local, id=trade_id, side=side, price=price, amount=size)
    else:
        cols = dict(instrument_key=_const(meta.instrument_key, n), price=price, size=size,
                    aggressor_side=pa.array(code, pa.int8()), trade_id=trade_id, ts_event=ts * 1000, ts_init=local * 1000)
    return pa.table({k: pa.array(v) if isinstance(v, np.ndarray) else v for k, v in cols.items()})


def _book_table(meta, ts, local, bid_ticks, bid_lots, ask_ticks, ask_lots) -> pa.Table:
    bp, bs, ap, as_ = _prices(meta, bid_ticks), _sizes(meta, bid_lots), _prices(meta, ask_ticks), _sizes(meta, ask_lots)
    n = ts.size
    if meta.schema == "tardis":
        cols = dict(exchange=_const(meta.spec.exchange, n), symbol=_const(meta.spec.symbol, n), timestamp=ts, local_timestamp=local)
        for i in range(BOOK_DEPTH):
            cols |= {f"asks[{i}].price": ap[:, i], f"asks[{i}].amount": as_[:, i],
                     f"bids[{i}].price": bp[:, i], f"bids[{i}].amount": bs[:, i]}
    else:
        cols = dict(instrument_key=_const(meta.instrument_key, n), ts_event=ts * 1000, ts_init=local * 1000)
        for name, values in (("bid_price", bp), ("bid_size", bs), ("ask_price", ap), ("ask_size", as_)):
            cols |= {f"{name}_{i}": values[:, i] for i in range(BOOK_DEPTH)}
    return pa.table({k: pa.array(np.ascontiguousarray(v)) if isinstance(v, np.ndarray) else v for k, v in cols.items()})


def _write(path: Path, tables: Iterable[pa.Table]) -> int:
    """Write row groups incrementally to a temporary file, then move it into place."""
    rows = 0

    def write(temporary: str) -> None:
        nonlocal rows
        writer = None
        try:
            for table in tables:
                if writer is None:
                    writer = pq.ParquetWriter(temporary, table.schema, compression="zstd", compression_level=3)
                writer.write_table(table, row_group_size=table.num_rows or 1)
                rows += table.num_rows
        finally:
            if writer is not None:
                writer.close()

    atomic_write(path, write)
    return rows
