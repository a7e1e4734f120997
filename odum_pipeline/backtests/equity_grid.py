"""The equity curve on a fixed 1-second grid, from the fills and the catalog's book.

Marking equity from engine events (a timer, each fill) makes the curve depend on which events the
engine saw: an active-interval replay (``active_replay``) skips the hours in which nothing works,
and a position held across them would never be marked there. So the curve is computed after the
run, the same way for every replay:

- grid: every second from the window start to the end of the replay (the window end, plus the
  close-out's grace when positions are closed), and that end itself;
- position and cash at each grid time: the fills with ``ts_event`` at or before it;
- mark: the mid of the last book snapshot received (``ts_init``) at or before it, read from the
  catalog as columns (``catalog.market_data``: only the top level's prices);
  in ``trades`` mode (no book replayed), or before the first snapshot, the last trade's price;
  no mark yet: the position counts at zero unrealized PnL.

equity = balance + unrealized PnL, with a netted position at its average open price (a margin
account; on a cash account the quote balance plus the base currency traded since the start at the
mark, as ``ExecutionBacktestStrategy.holdings_value``). The max drawdown is read from this curve.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np
import pyarrow as pa
from nautilus_trader.model.data import OrderBookDepth10
from nautilus_trader.model.enums import AccountType, OrderSide
from nautilus_trader.model.events import OrderFilled

from odum_pipeline.catalog.market_data import MarketData, in_time_order
from odum_pipeline.catalog.nautilus_arrow import decode_column

GRID_NS = 1_000_000_000
GRID_LABEL = "1s"


@dataclass(frozen=True)
class FillStep:
    """One fill as the curve needs it (floats: the curve is a chart and a drawdown, not an account)."""

    ts: int
    signed_qty: float
    price: float
    fee_settlement: float  # commission in the settlement (margin) / quote (cash) currency
    fee_base: float  # commission charged in the base currency (cash accounts)


def grid_times(start_ns: int, end_ns: int, step_ns: int = GRID_NS) -> np.ndarray:
    """Every ``step_ns`` from ``start_ns``, and ``end_ns`` itself."""
    times = np.arange(start_ns, end_ns + 1, step_ns, dtype=np.int64)
    if times[-1] != end_ns:
        times = np.append(times, np.int64(end_ns))
    return times


def fill_steps(orders, instrument) -> list[FillStep]:
    """The fills of ``orders`` (NautilusTrader orders) in time order."""
    base = instrument.base_currency
    steps = []
    for order in orders:
        for event in order.events:
            if not isinstance(event, OrderFilled):
                continue
            sign = 1.0 if event.order_side == OrderSide.BUY else -1.0
            fee = event.commission.as_double()
            in_base = base is not None and event.commission.currency == base and not instrument.is_inverse
            steps.append(
                FillStep(
                    ts=event.ts_event, signed_qty=sign * event.last_qty.as_double(), price=event.last_px.as_double(),
                    fee_settlement=0.0 if in_base else fee, fee_base=fee if in_base else 0.0,
                )
            )  # fmt: skip
    return sorted(steps, key=lambda s: s.ts)


def marks_at(catalog_root, instrument_id: str, times: np.ndarray, *, book: bool) -> np.ndarray:
    """The mark at each time: last mid (``book``) else last trade, NaN before any."""
    start, end = int(times[0]) - 3_600 * GRID_NS, int(times[-1])  # an hour back: the mark at the window start
    market = MarketData(catalog_root, instrument_id)
    out = np.full(times.shape, np.nan)
    if book:
        out = _mids_at(market, start, end, times)
    missing = np.isnan(out)
    if missing.any():
        # A fallback mark at t is the last trade at or before t: only the trades up to the last
        # unmarked time are read (with a book: the seconds before its first usable snapshot, not the day).
        trades = market.trades(start, int(times[missing].max()), sizes=False)
        fallback = _last_at(trades["ts_init"].to_numpy(), trades["price"].to_numpy(), times)
        out = np.where(missing, fallback, out)
    return out


def _mids_at(market: MarketData, start: int, end: int, times: np.ndarray) -> np.ndarray:
    """The mid of the last snapshot with both sides priced at or before each time. Only the snapshots
    that can be a mark (the last one at or before a grid time) are decoded, not the day's millions;
    when one of them lacks a side, every snapshot read is (the mark is then an earlier one)."""
    table = market.table(OrderBookDepth10, start, end, ["bid_price_0", "ask_price_0"], combine=False)
    if table is None:
        return np.full(times.shape, np.nan)
    ts = table.column("ts_init").to_numpy().view(np.int64)  # uint64 ns: the same bits, no copy
    if in_time_order(ts):
        index = np.searchsorted(ts, times, side="right") - 1
        candidates, position = np.unique(index[index >= 0], return_inverse=True)
        picked = table.select(["bid_price_0", "ask_price_0"]).take(pa.array(candidates))
        bid, ask = decode_column(picked, "bid_price_0", "price"), decode_column(picked, "ask_price_0", "price")
        if ((bid > 0) & (ask > 0)).all():
            out = np.full(times.shape, np.nan)
            out[index >= 0] = ((bid + ask) / 2)[position.ravel()]
            return out
    bid, ask = decode_column(table, "bid_price_0", "price"), decode_column(table, "ask_price_0", "price")
    usable = (bid > 0) & (ask > 0)
    return _last_at(ts[usable], ((bid + ask) / 2)[usable], times)


def _last_at(ts: np.ndarray, values: np.ndarray, times: np.ndarray) -> np.ndarray:
    order = np.argsort(ts, kind="stable")
    ts, values = ts[order], values[order]
    index = np.searchsorted(ts, times, side="right") - 1
    out = np.full(times.shape, np.nan)
    valid = index >= 0
    out[valid] = values[index[valid]]
    return out


def equity_on_grid(
    steps: list[FillStep], times: np.ndarray, marks: np.ndarray, *, starting: float, instrument, account_type
) -> dict[str, np.ndarray]:
    """balance, unrealized, equity and position at each grid time (see the module docstring)."""
    multiplier = float(instrument.multiplier.as_double())
    inverse = bool(instrument.is_inverse)
    cash_account = account_type == AccountType.CASH
    # State after each fill (index 0: before any fill).
    position, average, balance, base_traded = [0.0], [0.0], [starting], [0.0]
    for step in steps:
        pos, avg, bal = position[-1], average[-1], balance[-1]
        if cash_account:
            bal -= step.signed_qty * step.price * multiplier + step.fee_settlement
        else:
            bal += _realized(pos, avg, step, multiplier, inverse) - step.fee_settlement
        new_pos = pos + step.signed_qty
        if abs(new_pos) < 1e-12:
            new_pos, avg = 0.0, 0.0
        elif pos == 0 or np.sign(new_pos) != np.sign(pos):
            avg = step.price
        elif abs(new_pos) > abs(pos):
            avg = (avg * abs(pos) + step.price * abs(step.signed_qty)) / abs(new_pos)
        position.append(new_pos)
        average.append(avg)
        balance.append(bal)
        base_traded.append(base_traded[-1] + step.signed_qty - step.fee_base)
    fill_ts = np.array([s.ts for s in steps], dtype=np.int64)
    after = np.searchsorted(fill_ts, times, side="right")  # fills at or before each grid time
    pos, avg, bal = (np.asarray(v)[after] for v in (position, average, balance))
    marked = np.nan_to_num(marks, nan=0.0)
    has_mark = ~np.isnan(marks)
    if cash_account:
        unrealized = np.where(has_mark, np.asarray(base_traded)[after] * marked, 0.0)
    elif inverse:
        held = has_mark & (pos != 0)
        inverse_pnl = 1 / np.where(held, avg, 1.0) - 1 / np.where(held, marked, 1.0)
        unrealized = np.where(held, pos * multiplier * inverse_pnl, 0.0)
    else:
        unrealized = np.where(has_mark, pos * multiplier * (marked - avg), 0.0)
    return {"balance": bal, "unrealized": unrealized, "equity": bal + unrealized, "position": pos}


def _realized(position: float, average: float, step: FillStep, multiplier: float, inverse: bool) -> float:
    """PnL realized by a fill that reduces (or flips) the netted position."""
    if position == 0 or np.sign(step.signed_qty) == np.sign(position):
        return 0.0
    closed = min(abs(step.signed_qty), abs(position)) * np.sign(position)
    if inverse:
        return closed * multiplier * (1 / average - 1 / step.price)
    return closed * multiplier * (step.price - average)


@dataclass(frozen=True, eq=False)
class EquityCurve:
    """The equity curve as columns, one row per grid time: what ``equity_curve.parquet`` holds, the
    max drawdown reads and the chart draws, never a Python object per row (a day is 86,400+ rows).

    The numbers are the grid's floats; the report's Decimal columns are :func:`_decimal` of each
    (:meth:`decimals`: once per distinct value), so the file, the drawdown and the chart all see the
    same exact values."""

    ts: np.ndarray  # int64 ns
    balance: np.ndarray  # float64, like every column below
    unrealized_pnl: np.ndarray
    equity: np.ndarray
    mark_price: np.ndarray  # NaN: no mark yet (the row's unrealized PnL counts zero)
    position_qty: np.ndarray
    reason: str = "grid"  # every row's (the column is kept in the file)
    _decimal_cache: dict = field(default_factory=dict, repr=False)

    @classmethod
    def empty(cls) -> EquityCurve:
        nothing = np.empty(0)
        return cls(np.empty(0, np.int64), nothing, nothing, nothing, nothing, nothing)

    def __len__(self) -> int:
        return len(self.ts)

    def decimals(self, name: str) -> tuple[list[Decimal | None], np.ndarray]:
        """Column ``name`` as Decimals: the distinct values (:func:`_decimal`; None for NaN, last) and
        each row's index into them. Distinct by bit pattern, so -0.0 stays -0.0."""
        if name not in self._decimal_cache:
            values = np.ascontiguousarray(getattr(self, name), dtype=np.float64)
            missing = np.isnan(values)
            present = values[~missing]
            _, first, inverse = np.unique(present.view(np.int64), return_index=True, return_inverse=True)
            distinct = [_decimal(v) for v in present[first].tolist()]
            index = np.full(len(values), len(distinct), dtype=np.int64)  # NaN: the trailing None
            index[~missing] = inverse.ravel()
            self._decimal_cache[name] = (distinct + [None] if missing.any() else distinct, index)
        return self._decimal_cache[name]

    def exact(self, name: str) -> np.ndarray:
        """Column ``name`` as the floats of its Decimals (what the report holds; NaN for none)."""
        distinct, index = self.decimals(name)
        return np.array([math.nan if d is None else float(d) for d in distinct], dtype=np.float64)[index]

    def to_arrow(self) -> pa.Table:
        """The report's table: ``ts`` int64, the money and quantity columns decimal128 at the column's
        own scale (``mark_price`` with its missing marks as nulls, the type Arrow infers from the
        Decimals then), ``reason`` string; no rows: no columns."""
        if not len(self):
            return pa.table({})
        columns = {"ts": pa.array(np.asarray(self.ts, dtype=np.int64))}
        for name in DECIMAL_COLUMNS:
            distinct, index = self.decimals(name)
            if distinct[-1] is None:  # missing marks: the type Arrow infers (largest precision and scale)
                values = pa.array(distinct)
            else:
                scale = max(max(-d.as_tuple().exponent, 0) for d in distinct)
                values = pa.array(distinct, type=pa.decimal128(38, scale))
            columns[name] = values.take(pa.array(index))
        columns["reason"] = pa.array(np.full(len(self), self.reason, dtype=object), type=pa.string())
        return pa.table(columns)


#: The report's Decimal columns, in the file's order (after ``ts``, before ``reason``).
DECIMAL_COLUMNS = ("balance", "unrealized_pnl", "equity", "mark_price", "position_qty")


def equity_curve(
    orders, instrument, catalog_root, *, start_ns: int, end_ns: int, book: bool, starting: Decimal, account_type
) -> EquityCurve:
    """The run's equity curve on the 1-second grid (see the module docstring)."""
    times = grid_times(start_ns, end_ns)
    marks = marks_at(catalog_root, instrument.id.value, times, book=book)
    values = equity_on_grid(
        fill_steps(orders, instrument), times, marks, starting=float(starting), instrument=instrument,
        account_type=account_type,
    )  # fmt: skip
    return EquityCurve(
        ts=times, balance=values["balance"], unrealized_pnl=values["unrealized"], equity=values["equity"],
        mark_price=marks, position_qty=values["position"],
    )  # fmt: skip


def _decimal(value: float) -> Decimal:
    return Decimal(repr(round(value, 10)))


def summary_block(book: bool) -> dict:
    """What the summary says about how the curve was made."""
    mark = "mid" if book else "last_trade"
    return {"grid": GRID_LABEL, "mark": mark, "fallback": "last_trade", "source": "fills + catalog"}
