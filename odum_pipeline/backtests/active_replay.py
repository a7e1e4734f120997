"""Active-interval replay: the engine gets only the intervals in which some parent order is working.

A desk's day has parents spread over 24 hours; replaying the hours in which no order works costs
almost all of the run and changes nothing. Here the window is fed to the engine as one stream of
short slices (``SLICE_SECS``, cut out of the catalog's row groups: ``catalog.row_groups``). Each
time the engine asks for the next slice, the planner asks the run whether anything is working
(:class:`WorkProbe`):

- an open, in-flight (submitted, pending update/cancel) or emulated order, or an order latency alert;
- an execution algorithm that may act on market data (POV counts the traded volume, ICEBERG's clips
  rest in the book, a market remainder waits for the next book update, a passive parent follows
  the book) with a pending timer, or a submitted parent not finished: its family (the primary and
  every order spawned from it) has filled less than requested and its deadline (else the window
  end) has not passed;
- a parent whose arrival has not been submitted yet, at or before the replayed time.

If nothing is, the replay jumps to the next moment something is needed: the next alert of an
algorithm that acts only at its alerts (``SlicingExecAlgorithm.acts_only_at_alerts``: a TWAP's,
VWAP's or IS's next slice; their parents are replayed around each slice, not over the whole
horizon), the next parent's arrival, else the close-out at the window end (from the window end
through ``config.replay_end``). It
restarts there from the last book snapshot at or before that moment (in ``trades`` mode the last
trade, which is the whole L1 book): a Depth10 snapshot replaces the whole visible book, so the
matching engine's book is exactly the one a full replay holds. The last skipped trade(s) before it
are replayed first, so the last trade price (the risk engine prices market orders with it, the
strategy marks with it without a book) is a full replay's too. With the book replayed as deltas
(queue position) the restart is a full batch (CLEAR + every level the delta converter would hold
at that snapshot, including the deeper levels that scrolled out of the visible five: they are
reconstructed from the skipped snapshots, vectorised, see :func:`book_state_after`).

Why the decision is safe: NautilusTrader's ``BacktestDataIterator`` asks a single stream's
generator for its next list when it hands out the last item of the current one, so the engine
has processed every earlier event; what is not processed yet (that last market data item and the
timers due up to it) cannot start work unless a parent arrives (checked against the plan) or an
algorithm timer or latency alert is pending (checked; an alert at or before that item restarts no
later than it, so nothing is skipped before it). The engine fires a timer due before a data event
before it, and one due at its time after every event of that time: an alert at ``T`` sees the book
of the last snapshot at or before ``T``, the restart point. Timers that fall inside a skipped gap
(the strategy's progress timer, a finished parent's deadline alert) fire when data resumes, each at
its own time, as they would have with nothing working. Timestamp ties keep the one-shot order:
delta batches, then trades, then depth snapshots (``streaming``).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np
from nautilus_trader.model.data import OrderBookDepth10, TradeTick
from nautilus_trader.model.identifiers import InstrumentId

from odum_pipeline.algorithms.base import NEVER_NS
from odum_pipeline.backtests.strategy import PROGRESS_TIMER, WINDOW_END_ALERT
from odum_pipeline.catalog.market_data import MarketData, in_time_order
from odum_pipeline.catalog.depth_index import Index, read_index
from odum_pipeline.catalog.depth_levels import (
    SIDES,
    LevelSummary,
    SideArrays,
    State,
    apply_summary,
    level_columns,
    side_arrays,
    summarize,
)
from odum_pipeline.catalog.nautilus_arrow import decode_column, raw_words
from odum_pipeline.catalog.row_groups import CatalogRows

#: The replay is decided slice by slice: a finished parent, or a slice that filled at once, stops the
#: replay within one slice (a TWAP slice is replayed for about this long; slices are cheap to cut).
SLICE_SECS = 0.5
#: The strategy's own timers that never start work (see ``ExecutionBacktestStrategy``).
IDLE_TIMER_PREFIXES = (PROGRESS_TIMER, WINDOW_END_ALERT, "parent-", "deadline-")


# --- is anything working? --------------------------------------------------------------------------


@dataclass
class WorkProbe:
    """Asks the run's strategy and execution algorithms when data must be replayed (module docstring).
    ``strategy``/``algorithms`` are set once built (the engine asks for the first slice before that)."""

    strategy: object = None
    algorithms: list = field(default_factory=list)

    def needed_from(self) -> int | None:
        """``None`` while something works now; else the earliest time an algorithm's alert needs the
        market (``NEVER_NS``: nothing pending; the plan's arrivals and the window end are the planner's)."""
        strategy = self.strategy
        if strategy is None or strategy.instrument is None:  # not started: nothing submitted yet
            return NEVER_NS
        cache = strategy.cache
        if cache.orders_open() or cache.orders_inflight() or cache.orders_emulated():
            return None
        if any(not name.startswith(IDLE_TIMER_PREFIXES) for name in strategy.clock.timer_names):
            return None  # an order latency alert
        alerts = [_idle_until_ns(algorithm) for algorithm in self.algorithms]
        if None in alerts:  # an algorithm that may act on market data: replayed while it has a timer or a parent
            if any(algorithm.clock.timer_count for algorithm in self.algorithms):
                return None
            now = strategy.clock.timestamp_ns()
            if any(self._parent_working(strategy, parent, now) for parent in strategy.submitted_parents.values()):
                return None
            return NEVER_NS
        # Every algorithm acts only at its alerts and nothing of it works: a parent waits for the next one.
        return min(alerts, default=NEVER_NS)

    @staticmethod
    def _parent_working(strategy, parent, now: int) -> bool:
        client_order_id, requested, until = parent
        if now >= until:
            return False
        cache = strategy.cache
        family = cache.orders_for_exec_spawn(client_order_id) or [cache.order(client_order_id)]
        filled = sum((o.filled_qty.as_decimal() for o in family if o is not None), Decimal(0))
        return filled < requested

    def submitted(self) -> set[int]:
        return set(self.strategy.submitted_parents) if self.strategy is not None else set()


def _idle_until_ns(algorithm) -> int | None:
    """An algorithm's next alert when it acts only at its alerts and nothing of it works, else ``None``."""
    idle_until_ns = getattr(algorithm, "idle_until_ns", None)
    return idle_until_ns() if idle_until_ns is not None else None


# --- the plan -------------------------------------------------------------------------------------


@dataclass
class ReplayRecord:
    """What was replayed: the intervals (ns, inclusive) and how much of the window they cover."""

    start_ns: int
    end_ns: int
    intervals: list[list[int]] = field(default_factory=list)

    def add(self, first: int, last: int) -> None:
        if self.intervals and first <= self.intervals[-1][1] + 1:
            self.intervals[-1][1] = max(self.intervals[-1][1], last)
        else:
            self.intervals.append([first, last])

    def share(self) -> float:
        span = self.end_ns - self.start_ns + 1
        return sum(last - first + 1 for first, last in self.intervals) / span if span > 0 else 1.0


class ActivePlanner:
    """The single merged stream of an active-interval replay (module docstring)."""

    def __init__(
        self,
        catalog_root,
        instrument_id: InstrumentId,
        *,
        start_ns: int,
        window_end_ns: int,
        end_ns: int,
        arrivals: list[int],
        depth: bool,
        probe: WorkProbe,
        deltas=None,
        slice_secs: float | None = None,
    ) -> None:
        self.catalog_root, self.instrument_id = catalog_root, instrument_id
        self.start_ns, self.window_end_ns, self.end_ns = start_ns, window_end_ns, end_ns
        self.arrivals = sorted((max(ns, start_ns), index) for index, ns in enumerate(arrivals) if ns <= window_end_ns)
        self.depth, self.probe, self.deltas = depth, probe, deltas  # deltas: a DeltaFeed with queue position
        self.slice_ns = int((slice_secs or SLICE_SECS) * 1e9)
        market = MarketData(catalog_root, instrument_id.value)
        self.trades = CatalogRows(market, TradeTick, start_ns, end_ns)
        self.book = CatalogRows(market, OrderBookDepth10, start_ns, end_ns) if depth else None
        self.trade_times = market.ts_init(TradeTick, start_ns, end_ns)
        self.anchors = market.ts_init(OrderBookDepth10, start_ns, end_ns) if depth else self.trade_times
        self.record = ReplayRecord(start_ns, end_ns)

    def _last_trades_before(self, first: int, restart: int) -> list:
        """The skipped trades of the last ``ts_init`` before ``restart`` (not before ``first``): the
        last trade price a full replay's cache holds (the risk engine prices market orders with it)."""
        index = np.searchsorted(self.trade_times, restart, side="left") - 1
        if index < 0 or self.trade_times[index] < first:
            return []
        ts = int(self.trade_times[index])
        return self.trades.take(ts, ts)  # the read from there serves the replay from ``restart`` too

    def restart_at(self, needed_ns: int) -> int:
        """The last snapshot (trade) at or before ``needed_ns``, not before the window start."""
        index = np.searchsorted(self.anchors, needed_ns, side="right") - 1
        return int(self.anchors[index]) if index >= 0 else self.start_ns

    def next_needed(self, alert_ns: int) -> int:
        """The next moment something must be replayed: an algorithm's alert (``alert_ns``), a parent not
        yet submitted, else the window end."""
        submitted = self.probe.submitted()
        pending = [ns for ns, index in self.arrivals if index not in submitted]
        return min([alert_ns, *pending, self.window_end_ns])

    def stream(self) -> Iterator[list]:
        at = self.start_ns
        while at <= self.end_ns:
            carried: list = []
            alert_ns = self.probe.needed_from()
            if alert_ns is not None:
                restart = self.restart_at(self.next_needed(alert_ns))
                if restart > at:
                    if self.deltas is not None:
                        self.deltas.skip(at, restart - 1)
                    if self.depth:
                        carried = self._last_trades_before(at, restart)
                    at = restart
            last = min(at + self.slice_ns - 1, self.end_ns)
            rows = carried + self._slice(at, last)
            self.record.add(at, last)
            at = last + 1
            if rows:
                yield rows

    def _slice(self, first: int, last: int) -> list:
        trades = self.trades.take(first, last)
        if self.book is None:
            return trades
        snapshots = self.book.take(first, last)
        key = _ts_init
        if self.deltas is not None:  # delta batches before trades at equal times (the one-shot order)
            return list(heapq.merge(self.deltas.convert(snapshots), trades, key=key))
        return list(heapq.merge(trades, snapshots, key=key))  # trades before depth snapshots


def _ts_init(data) -> int:
    return data.ts_init


# --- the delta converter across gaps -----------------------------------------------------------------


class DeltaFeed:
    """The delta conversion of an active replay: one ``DepthToDeltas`` over the replayed snapshots,
    the relay fed ahead of them, and after a gap a full batch with the state a full replay's converter
    would hold (:func:`book_state_after` over the skipped snapshots)."""

    def __init__(self, catalog_root, instrument_id: InstrumentId, converter, relay) -> None:
        self.levels = BookLevelGroups(MarketData(catalog_root, instrument_id.value))
        self.converter, self.relay = converter, relay
        self._resume = False

    def skip(self, first: int, last: int) -> None:
        """The snapshots with ``first <= ts_init <= last`` are not replayed: carry the state over them."""
        # In time order (files and row groups are): the state carries over one row group after another.
        self.converter.set_state(*self.levels.state_after(self.converter.state(), first, last))
        self._resume = True

    def convert(self, snapshots: list) -> list:
        self.relay.add_snapshots(snapshots)
        out = []
        for depth in snapshots:
            if self._resume:
                out.append(self.converter.resume(depth))
                self._resume = False
            else:
                out.append(self.converter.convert(depth))
        return out


class BookLevelGroups:
    """The state a delta converter holds after skipped snapshots, row group by row group.

    A row group the skip covers whole costs its summary in the day file's level index
    (``catalog.depth_index``, written by the conversion). Only a group the skip starts or ends in
    (or every group, for a day file without a matching index) is read and decoded, once per run: the
    skips of a run move forward through the day, and the group a skip ends in is often where the next
    one starts. Rows are cut out by ``ts_init`` (a slice: a row group is in time order), and a level no
    row of the group has (the empty deeper levels of a five-level catalog) does not have its prices read."""

    def __init__(self, market: MarketData) -> None:
        self.market = market
        self._indexes: dict[str, Index | None] = {}
        self._ref = None
        self._ts: np.ndarray = np.empty(0, np.int64)
        self._sides: tuple[SideArrays, SideArrays] | None = None
        self._in_order = True
        self.groups_read = 0

    def state_after(self, state: tuple[State, State], first: int, last: int) -> tuple[State, State]:
        """(bids, asks) after the snapshots with ``first <= ts_init <= last``, starting from ``state``."""
        for ref in self.market.row_group_refs(OrderBookDepth10, first, last):
            summaries = self._indexed(ref, first, last) or self._summaries_read(ref, first, last)
            if summaries:
                state = tuple(
                    apply_summary(previous, summary, deeper_is_lower=side == "bid")
                    for previous, summary, side in zip(state, summaries, SIDES)
                )
        return state

    def _indexed(self, ref, first: int, last: int) -> tuple[LevelSummary, LevelSummary] | None:
        """The group's summaries from the level index, when the range covers the whole group."""
        path, group = ref
        low, high = self.market.row_group_span(ref)
        if low is None or low < first or high > last:
            return None
        if path not in self._indexes:
            self._indexes[path] = read_index(self.market.catalog.fs, path, self.market.footer(path))
        index = self._indexes[path]
        return index.get(group) if index is not None else None

    def _summaries_read(self, ref, first: int, last: int) -> tuple[LevelSummary, LevelSummary] | None:
        if ref != self._ref:
            self._load(ref)
        rows = self._rows(first, last)
        if not len(self._ts[rows]):
            return None
        return tuple(summarize(side.take(rows), deeper_is_lower=name == "bid") for side, name in zip(self._sides, SIDES))

    def _load(self, ref) -> None:
        table = self.market.read_row_group(ref, level_columns(kinds=("size",)))
        sizes = {name: _sizes(table, name) for name in table.column_names if name != "ts_init"}
        used = [name.replace("_size_", "_price_") for name, size in sizes.items() if (size > 0).any()]
        if used:
            prices = self.market.read_row_group(ref, used)
            for name in used:
                table = table.append_column(prices.schema.field(name), prices.column(name))
        self._ref, self._ts = ref, table.column("ts_init").to_numpy().astype(np.int64)
        self._sides = (side_arrays(table, "bid", sizes), side_arrays(table, "ask", sizes))
        self._in_order = in_time_order(self._ts)
        self.groups_read += 1

    def _rows(self, first: int, last: int):
        """The group's rows in the range: a slice (rows in time order), else their indices in file order."""
        if self._in_order:
            return slice(int(np.searchsorted(self._ts, first, "left")), int(np.searchsorted(self._ts, last, "right")))
        return np.flatnonzero((self._ts >= first) & (self._ts <= last))


def _sizes(table, name: str) -> np.ndarray:
    """A size column decoded; an all-zero one (an empty level) without decoding it."""
    if not raw_words(table.column(name)).any():
        return np.zeros(table.num_rows)
    return decode_column(table, name, "size")


def add_active_stream(engine, planner: ActivePlanner) -> None:
    engine.add_data_iterator("active", planner.stream())


def make_delta_feed(catalog_root, instrument_id: InstrumentId, engine) -> DeltaFeed:
    """The relay added to ``engine`` and the converter an active deltas replay needs."""
    from odum_pipeline.backtests.book_deltas import DepthRelay, DepthRelayConfig, DepthToDeltas

    relay = DepthRelay(DepthRelayConfig(instrument_id=instrument_id), [])
    engine.add_actor(relay)
    return DeltaFeed(catalog_root, instrument_id, DepthToDeltas(), relay)

