"""The levels a depth-to-deltas converter holds after a run of book snapshots, computed as columns.

A queue-position replay turns snapshots into deltas (``backtests.book_deltas.DepthToDeltas``): each
snapshot keeps its visible levels and, of what was held before, the levels deeper than its worst
visible one (a level that merely scrolled out of view still exists); a side shown empty clears that
side. An active-interval replay skips hours of snapshots and must restart with exactly what a
converter that saw them holds. That is computed here without replaying them, vectorised:

- :func:`summarize`: what a run of snapshots does to any earlier state, one side at a time: whether
  it clears the side, the floor (the deepest worst level of its snapshots: earlier levels deeper
  than it survive) and the levels it leaves;
- :func:`apply_summary`: that effect on a state. Summaries compose, one run of snapshots after
  another, so a day's row groups can be summarised once (``catalog.depth_index``) and a skip over
  many of them costs one summary each.

A state is ``{price raw: (price as float, size raw)}`` per side (``DepthToDeltas.state``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from odum_pipeline.catalog.nautilus_arrow import decode_column, raw_int, raw_words

DEPTH_LEVELS = 10
SIDES = ("bid", "ask")

State = dict[int, tuple[float, int]]


def level_columns(kinds: tuple[str, ...] = ("price", "size")) -> list[str]:
    return [f"{side}_{kind}_{i}" for side in SIDES for kind in kinds for i in range(DEPTH_LEVELS)]


@dataclass
class SideArrays:
    """One side of many snapshots: price keys (floats on the price grid), raws (ints), present levels."""

    keys: np.ndarray  # (n, levels read) float
    price_raw: list  # per level read: the raws as 64-bit words (nautilus_arrow.raw_words); None: never present
    size_raw: list
    present: np.ndarray  # (n, levels read) bool

    def take(self, rows) -> SideArrays:
        """These rows only (a slice or indices)."""

        def cut(words):
            return None if words is None else words[rows]

        return SideArrays(self.keys[rows], [cut(w) for w in self.price_raw], [cut(w) for w in self.size_raw], self.present[rows])


def side_arrays(table: pa.Table, side: str, sizes: dict[str, np.ndarray] | None = None) -> SideArrays:
    """``side``'s levels of a table of depth rows (``sizes``: the size columns already decoded). A level
    without its price column must have no size anywhere (a reader may leave the prices of empty levels
    unread): it is never present, so it is left out (the arrays' columns are the levels read)."""
    keys, present, price_words, size_words = [], [], [], []
    names = set(table.column_names)
    for i in range(DEPTH_LEVELS):
        name = f"{side}_size_{i}"
        if name not in names and (sizes is None or name not in sizes):
            continue  # a level not read at all: an empty one (see used_levels)
        size = sizes[name] if sizes is not None else decode_column(table, name, "size")
        if f"{side}_price_{i}" not in names:
            if (size > 0).any():
                raise ValueError(f"{side}_price_{i}: level sizes without their prices")
            continue
        price = decode_column(table, f"{side}_price_{i}", "price")
        keys.append(price)
        present.append((size > 0) & (price != 0))
        price_words.append(raw_words(table.column(f"{side}_price_{i}")))
        size_words.append(raw_words(table.column(name)))
    if not keys:  # no level anywhere: one that is never present
        keys, present, price_words, size_words = [np.zeros(table.num_rows)], [np.zeros(table.num_rows, bool)], [None], [None]
    return SideArrays(np.column_stack(keys), price_words, size_words, np.column_stack(present))


def used_levels(table: pa.Table) -> pa.Table:
    """``table`` without the columns of levels no row has (a five-level catalog's deeper five)."""
    empty = [
        column
        for side in SIDES
        for i in range(DEPTH_LEVELS)
        if f"{side}_size_{i}" in table.column_names and not raw_words(table.column(f"{side}_size_{i}")).any()
        for column in (f"{side}_size_{i}", f"{side}_price_{i}")
    ]
    return table.drop_columns([column for column in empty if column in table.column_names])


@dataclass(frozen=True)
class LevelSummary:
    """What a run of snapshots does to one side of any earlier state.

    ``clears``: a snapshot shows the side empty, so nothing earlier survives; else the earlier levels
    deeper than ``floor`` (a price: below it for bids, above it for asks) survive. ``levels``: what the
    snapshots themselves leave (all of them at or inside ``floor``)."""

    clears: bool
    floor: float
    levels: State


def summarize(side: SideArrays, *, deeper_is_lower: bool) -> LevelSummary:
    """The effect of the snapshots of ``side`` (in time order) on one side of a converter's state:

    each snapshot keeps its visible levels and, of the earlier state, the levels deeper than its worst
    visible level (an empty side clears everything). So after the last snapshot the state holds its
    levels, plus each earlier snapshot's levels deeper than every later snapshot's worst level, plus
    the starting state's levels deeper than every snapshot's worst (when no side was empty)."""
    keys = side.keys if deeper_is_lower else -side.keys  # "lower" is deeper on both sides now
    present = side.present
    n = keys.shape[0]
    worst = np.where(present, keys, np.inf).min(axis=1)  # +inf: an empty side
    empty = ~present.any(axis=1)
    if n == 0:  # no snapshot: everything survives
        return LevelSummary(clears=False, floor=np.inf if deeper_is_lower else -np.inf, levels={})
    first = int(np.flatnonzero(empty)[-1]) + 1 if empty.any() else 0
    if first >= n:  # the last snapshot shows the side empty
        return LevelSummary(clears=True, floor=0.0, levels={})
    # The smallest worst level of every later snapshot (+inf after the last one).
    later = np.minimum.accumulate(worst[first:][::-1])[::-1]
    bound = np.append(later[1:], np.inf)  # for row j: min worst over rows j+1..n-1
    selected = present[first:] & (keys[first:] < bound[:, None])
    levels: State = {}
    rows, columns = np.nonzero(selected)
    for row, level in zip(rows.tolist(), columns.tolist()):
        index = first + row
        price = raw_int(side.price_raw[level], index)
        levels[price] = (float(side.keys[index, level]), raw_int(side.size_raw[level], index))
    floor = float(later[0]) if deeper_is_lower else -float(later[0])
    return LevelSummary(clears=first > 0, floor=floor, levels=levels)


def apply_summary(previous: State, summary: LevelSummary, *, deeper_is_lower: bool) -> State:
    """One side's state after the snapshots ``summary`` stands for, starting from ``previous``."""
    state: State = {}
    if not summary.clears:
        floor = summary.floor
        for raw, (key, size) in previous.items():
            if (key < floor) if deeper_is_lower else (key > floor):
                state[raw] = (key, size)
    state.update(summary.levels)
    return state


def book_state_after(previous: State, side: SideArrays, *, deeper_is_lower: bool) -> State:
    """One side's state after the snapshots of ``side``, starting from ``previous`` (module docstring)."""
    return apply_summary(previous, summarize(side, deeper_is_lower=deeper_is_lower), deeper_is_lower=deeper_is_lower)
