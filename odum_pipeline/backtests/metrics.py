"""Headline metrics of a run, from NautilusTrader's own reports, account and cache.

Exactness: every money figure is a ``Decimal`` taken from NautilusTrader's ``Money`` values
(fixed-point), never from floats, so ``final_balance == starting_balance + realized_pnl`` holds
to the last digit: realized PnL is the sum of ``Position.realized_pnl`` over the positions and
their snapshots (NautilusTrader nets commissions into it), the final balance is the account's.
Per currency (``AccountCurrencies``), every balance's change is checked against what the fills
imply; that is the identity on a spot (multi-currency cash) account, where a fill exchanges the
base against the quote currency.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
from nautilus_trader.model.enums import AccountType, OrderSide, OrderStatus
from nautilus_trader.model.events import OrderFilled
from nautilus_trader.model.instruments import Instrument

from odum_pipeline.backtests.config import setup_sha256
from odum_pipeline.backtests.equity_grid import EquityCurve
from odum_pipeline.backtests.strategy import CLOSE_TAG, ExecutionBacktestStrategy, TimelineEvent


@dataclass
class RunData:
    """Everything read out of the engine after a run (the engine is disposed afterwards)."""

    orders: pd.DataFrame
    fills: pd.DataFrame
    positions: pd.DataFrame
    parents: pd.DataFrame
    timeline: list[TimelineEvent]
    equity_curve: EquityCurve = field(default_factory=EquityCurve.empty)  # the 1-second grid, after the run
    counts: dict[str, int] = field(default_factory=dict)
    money: dict[str, Decimal] = field(default_factory=dict)
    closed_position_pnls: list[Decimal] = field(default_factory=list)
    requested_qty: Decimal = Decimal(0)
    filled_qty: Decimal = Decimal(0)
    currencies: "AccountCurrencies | None" = None


PARENT_COLUMNS = ["client_order_id", "side", "requested_qty", "arrival_ns", "order_type", "limit_price", "end_ns"]


def collect_run_data(
    engine,
    strategy: ExecutionBacktestStrategy,
    instrument: Instrument,
    *,
    tables: bool = True,
    impact_shifts: dict[str, float] | None = None,
) -> RunData:
    """Counts and money from the engine; with ``tables`` (report mode) also the per-row reports,
    which on a long per-trade replay take longer to build than the headline figures need."""
    cache, trader = engine.cache, engine.trader
    orders = cache.orders(instrument_id=instrument.id)
    positions = cache.positions(instrument_id=instrument.id) + cache.position_snapshots()
    account = engine.portfolio.account(instrument.id.venue)
    currency = instrument.get_settlement_currency()  # the account's currency, or the quote on a spot cash account
    empty = pd.DataFrame()
    realized_pnl = sum((p.realized_pnl.as_decimal() for p in positions if p.realized_pnl), Decimal(0))
    return RunData(
        orders=_orders_table(trader.generate_orders_report(), orders) if tables else empty,
        fills=fills_table(trader.generate_fills_report(), orders, impact_shifts)
        if tables
        else pd.DataFrame(columns=FILL_COLUMNS),
        positions=_positions_table(trader.generate_positions_report()) if tables else empty,
        parents=pd.DataFrame(strategy.parents, columns=PARENT_COLUMNS),
        timeline=list(strategy.timeline),
        counts=_order_counts(orders, strategy),
        money={
            "starting_balance": account.starting_balances()[currency].as_decimal(),
            "final_balance": account.balance_total(currency).as_decimal(),
            "realized_pnl": realized_pnl,
            "unrealized_pnl": strategy.unrealized_pnl(),
            "fees": strategy.fees,
        },
        closed_position_pnls=[p.realized_pnl.as_decimal() for p in positions if p.is_closed],
        requested_qty=strategy.requested_qty,
        filled_qty=strategy.filled_entry_qty,
        currencies=account_currencies(
            account, orders, instrument, mark_price=strategy.mark_price(), realized_pnl=realized_pnl
        ),
    )


def _order_counts(orders, strategy: ExecutionBacktestStrategy) -> dict[str, int]:
    """Real counts from the orders' own statuses, not differences of totals."""
    primaries = [o for o in orders if o.exec_spawn_id is None or o.exec_spawn_id == o.client_order_id]
    entries = [o for o in primaries if CLOSE_TAG not in (o.tags or [])]
    return {
        "orders": len(entries),
        "child_orders": len(orders) - len(primaries),
        "close_orders": len(primaries) - len(entries),
        "fills": strategy.fill_count,
        "rejected": sum(o.status == OrderStatus.REJECTED for o in orders),
        "denied": sum(o.status == OrderStatus.DENIED for o in orders),
        "skipped_rows": strategy.skipped_rows,
    }


def _parent_of(order) -> str:
    return (order.exec_spawn_id or order.client_order_id).value


def fills_table(report: pd.DataFrame, orders, impact_shifts: dict[str, float] | None = None) -> pd.DataFrame:
    """One row per fill event (NautilusTrader's fills report), with exact decimals and the parent id.

    ``impact_px``: the price shift the impact overlay applied to the book the fill's order met
    (0 without the overlay or for limit orders), what the TCA's impact component adds up."""
    impact_shifts = impact_shifts or {}
    if report.empty:
        return pd.DataFrame(columns=FILL_COLUMNS)
    by_id = {o.client_order_id.value: o for o in orders}
    frame = report.reset_index()
    table = pd.DataFrame(
        {
            "ts_event": [ts.value for ts in frame["ts_event"]],
            "ts_init": [ts.value for ts in frame["ts_init"]],
            "client_order_id": frame["client_order_id"].astype(str),
            "parent_order_id": [_parent_of(by_id[c]) for c in frame["client_order_id"]],
            "venue_order_id": frame["venue_order_id"].astype(str),
            "trade_id": frame["trade_id"].astype(str),
            "position_id": frame["position_id"].astype(str),
            "side": frame["order_side"].astype(str),
            "order_type": frame["order_type"].astype(str),
            "last_px": [Decimal(str(v)) for v in frame["last_px"]],
            "last_qty": [Decimal(str(v)) for v in frame["last_qty"]],
            "commission": [_money_amount(v) for v in frame["commission"]],
            "commission_currency": [str(v).split(" ")[-1] for v in frame["commission"]],
            "liquidity_side": frame["liquidity_side"].astype(str),
            "is_close": [CLOSE_TAG in (by_id[c].tags or []) for c in frame["client_order_id"]],
            "impact_px": [float(impact_shifts.get(str(c), 0.0)) for c in frame["client_order_id"]],
        }
    )
    return table.sort_values(["ts_event", "client_order_id"], kind="stable").reset_index(drop=True)


FILL_COLUMNS = [
    "ts_event", "ts_init", "client_order_id", "parent_order_id", "venue_order_id", "trade_id", "position_id",
    "side", "order_type", "last_px", "last_qty", "commission", "commission_currency", "liquidity_side", "is_close",
    "impact_px",
]  # fmt: skip


def _money_amount(text: Any) -> Decimal:
    return Decimal(str(text).split(" ")[0])


def _orders_table(report: pd.DataFrame, orders) -> pd.DataFrame:
    if report.empty:
        return pd.DataFrame()
    frame = report.reset_index()
    by_id = {o.client_order_id.value: o for o in orders}
    frame["parent_order_id"] = [_parent_of(by_id[c]) for c in frame["client_order_id"]]
    frame["status"] = [by_id[c].status_string() for c in frame["client_order_id"]]
    return _stringify_objects(frame)


def _positions_table(report: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame() if report.empty else _stringify_objects(report.reset_index())


def _stringify_objects(frame: pd.DataFrame) -> pd.DataFrame:
    """NautilusTrader reports mix types in object columns; Parquet wants one type per column."""
    for column in frame.columns:
        if frame[column].dtype == object:
            frame[column] = frame[column].map(lambda v: None if v is None or v is pd.NA else str(v))
    return frame


# --- money per currency --------------------------------------------------------------------------


@dataclass
class AccountCurrencies:
    """The account's balances per currency, what the fills say they should be, and the end mark.

    ``expected_change`` is computed from the fill events alone: on a CASH account each fill moves
    the base currency by its quantity and the quote currency by its notional, and its commission
    leaves the currency it was charged in; on a MARGIN account the settlement currency moves by the
    realized PnL (net of commissions).
    """

    account_currency: str  # the currency of the single-currency figures (starting_balance, net_pnl...)
    quote_currency: str
    base_currency: str
    fee_currency: str
    is_cash: bool
    mark_price: Decimal | None
    starting: dict[str, Decimal]
    final: dict[str, Decimal]
    expected_change: dict[str, Decimal]
    fees: dict[str, Decimal]

    def codes(self) -> list[str]:
        return sorted(set(self.starting) | set(self.final) | set(self.expected_change))

    def change(self, code: str) -> Decimal:
        return self.final.get(code, Decimal(0)) - self.starting.get(code, Decimal(0))

    def identity_holds(self, code: str) -> bool:
        return self.change(code) == self.expected_change.get(code, Decimal(0))

    def rate_to_quote(self, code: str) -> Decimal | None:
        """Value of one unit of ``code`` in the quote currency at the end mark."""
        if code == self.quote_currency:
            return Decimal(1)
        if code == self.base_currency and self.mark_price is not None:
            return self.mark_price
        return None

    def pnl_in_quote(self, unrealized: Decimal) -> Decimal | None:
        """Every balance change valued in the quote currency at the end mark (plus, on a margin
        account, the open position's unrealized PnL: a cash account holds it as base currency)."""
        total = Decimal(0)
        for code in self.codes():
            rate = self.rate_to_quote(code)
            if rate is None:
                return None
            total += self.change(code) * rate
        if not self.is_cash:
            rate = self.rate_to_quote(self.account_currency)
            if rate is None:
                return None
            total += unrealized * rate
        return total


def account_currencies(
    account, orders, instrument: Instrument, *, mark_price: Decimal | None, realized_pnl: Decimal
) -> AccountCurrencies:
    is_cash = account.type == AccountType.CASH
    settlement = instrument.get_settlement_currency().code
    fills = [event for order in orders for event in order.events if isinstance(event, OrderFilled)]
    fees: dict[str, Decimal] = {}
    for fill in fills:
        code = fill.commission.currency.code
        fees[code] = fees.get(code, Decimal(0)) + fill.commission.as_decimal()
    if is_cash:
        expected = _cash_flows(fills, instrument)
    else:
        expected = {settlement: realized_pnl}
    base_currency = account.base_currency
    return AccountCurrencies(
        account_currency=base_currency.code if base_currency is not None else instrument.quote_currency.code,
        quote_currency=instrument.quote_currency.code,
        base_currency=instrument.base_currency.code,
        fee_currency=(instrument.base_currency if instrument.is_inverse else instrument.quote_currency).code,
        is_cash=is_cash,
        mark_price=mark_price,
        starting={c.code: m.as_decimal() for c, m in account.starting_balances().items()},
        final={c.code: m.as_decimal() for c, m in account.balances_total().items()},
        expected_change=expected,
        fees=fees,
    )


def _cash_flows(fills, instrument: Instrument) -> dict[str, Decimal]:
    """Balance changes the fills imply on a cash account: base +-qty, quote -+notional, minus fees."""
    base, quote = instrument.base_currency.code, instrument.quote_currency.code
    flows = {base: Decimal(0), quote: Decimal(0)}
    for fill in fills:
        sign = 1 if fill.order_side == OrderSide.BUY else -1
        quantity = fill.last_qty.as_decimal()
        notional = instrument.notional_value(fill.last_qty, fill.last_px).as_decimal()
        flows[base] += sign * quantity
        flows[quote] -= sign * notional
        code = fill.commission.currency.code
        flows[code] = flows.get(code, Decimal(0)) - fill.commission.as_decimal()
    return flows


def currency_block(currencies: AccountCurrencies, unrealized: Decimal) -> dict[str, Any]:
    """The summary's per-currency figures: exact decimals as strings, one identity per currency."""
    pnl_quote = currencies.pnl_in_quote(unrealized)
    return {
        "account_currency": currencies.account_currency,
        "quote_currency": currencies.quote_currency,
        "base_currency": currencies.base_currency,
        "fee_currency": currencies.fee_currency,
        "account_type": "CASH" if currencies.is_cash else "MARGIN",
        "end_mark_price": None if currencies.mark_price is None else str(currencies.mark_price),
        "net_pnl_quote": None if pnl_quote is None else str(pnl_quote),
        "fees": {code: str(amount) for code, amount in sorted(currencies.fees.items())},
        "balances": {
            code: {
                "starting": str(currencies.starting.get(code, Decimal(0))),
                "final": str(currencies.final.get(code, Decimal(0))),
                "change": str(currencies.change(code)),
                "expected_change": str(currencies.expected_change.get(code, Decimal(0))),
                "identity_holds": currencies.identity_holds(code),
            }
            for code in currencies.codes()
        },
    }


# --- equity and round trips ----------------------------------------------------------------------


def max_drawdown(curve: EquityCurve) -> tuple[Decimal, Decimal]:
    """Largest peak-to-trough fall of the equity curve, absolute and as a share of the peak, in the
    curve's exact Decimals (those of the report): at the first row where the fall is largest.

    Vectorised, exactly as a walk over the rows: the running peak is taken over the Decimals' floats
    (the float <-> Decimal mapping keeps the order), the deepest row under each peak is the first
    with that peak's lowest equity, and the Decimal falls are computed for the peaks whose float fall
    comes within rounding (a few ulps) of the largest."""
    if not len(curve):
        return Decimal(0), Decimal(0)
    decimals, index = curve.decimals("equity")
    equity = curve.exact("equity")
    peak = np.maximum.accumulate(equity)
    starts = np.flatnonzero(np.r_[True, peak[1:] != peak[:-1]])  # each new peak (its row holds it)
    segment = np.cumsum(np.r_[True, peak[1:] != peak[:-1]]) - 1
    lowest = np.minimum.reduceat(equity, starts)
    at_lowest = np.flatnonzero(equity == lowest[segment])
    _, first = np.unique(segment[at_lowest], return_index=True)
    deepest = at_lowest[first]  # per peak: the first row at its lowest equity
    fall = peak[starts] - equity[deepest]
    if not fall.max() > 0:  # distinct floats never differ by 0: no fall at all
        return Decimal(0), Decimal(0)
    # |Decimal fall - float fall| <= 1.5 ulp of the largest magnitude: 4 ulps keep every candidate.
    near = np.flatnonzero(fall >= fall.max() - 4 * np.spacing(np.abs(equity).max()))
    worst, worst_pct = Decimal(0), Decimal(0)
    for k in near.tolist():  # in time order: the first largest fall wins, as in a walk
        top, bottom = decimals[index[starts[k]]], decimals[index[deepest[k]]]
        drawdown = top - bottom
        if drawdown > worst:
            worst, worst_pct = drawdown, (drawdown / top if top else Decimal(0))
    return worst, worst_pct


def round_trip_stats(closed_pnls: list[Decimal]) -> tuple[int, float | None]:
    if not closed_pnls:
        return 0, None
    return len(closed_pnls), sum(p > 0 for p in closed_pnls) / len(closed_pnls)


def filled_quantities(run_data: RunData, parent_quantity: Decimal) -> tuple[Decimal, float | None]:
    filled = run_data.filled_qty
    ratio = float(filled / parent_quantity) if parent_quantity else None
    return filled, ratio


# --- the summary ---------------------------------------------------------------------------------


def summarize(
    *, run_id: str, mode: str, config, config_sha: str, algorithm, run_data: RunData, market: dict | None = None
) -> dict[str, Any]:
    money = run_data.money
    drawdown, drawdown_pct = max_drawdown(run_data.equity_curve)
    round_trips, win_rate = round_trip_stats(run_data.closed_position_pnls)
    filled_qty, fill_ratio = filled_quantities(run_data, run_data.requested_qty)
    return {
        "run_id": run_id,
        "mode": mode,
        "config": {"name": config.name, "sha256": config_sha, "setup_sha256": setup_sha256(config)},
        "algorithm": {
            "name": algorithm.name,
            "label": algorithm.label or algorithm.name,
            "version": algorithm.version,
            "params": dict(algorithm.params),
        },
        "created_at": dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z"),
        "instrument": {"key": config.instrument.id, "instrument_id": config.instrument_spec().instrument_id},
        "window": {"start": _iso(config.time_window.start), "end": _iso(config.time_window.end)},
        "snapshot_mode": config.data_catalog.snapshot_mode.value,
        "market": market or {},
        "submission_mode": config.strategy.submission_mode.value,
        "summary": {
            **run_data.counts,
            "requested_qty": float(run_data.requested_qty),
            "filled_qty": float(filled_qty),
            "unfilled_qty": float(max(run_data.requested_qty - filled_qty, 0)),
            "fill_ratio": fill_ratio,
            "realized_pnl": float(money["realized_pnl"]),
            "unrealized_pnl": float(money["unrealized_pnl"]),
            "fees": float(money["fees"]),
            "net_pnl": float(money["realized_pnl"] + money["unrealized_pnl"]),
            "starting_balance": float(money["starting_balance"]),
            "final_balance": float(money["final_balance"]),
            "max_drawdown": float(drawdown),
            "max_drawdown_pct": float(drawdown_pct),
            "round_trips": round_trips,
            "win_rate": win_rate,
        },
        "exact": {key: str(value) for key, value in money.items()},
        "identity_holds": _identity_holds(run_data),
        **_money_keys(run_data),
    }


def _identity_holds(run_data: RunData) -> bool:
    """Every currency's balance change equals what the fills imply (see ``AccountCurrencies``)."""
    currencies = run_data.currencies
    if currencies is None:
        money = run_data.money
        return money["final_balance"] == money["starting_balance"] + money["realized_pnl"]
    return all(currencies.identity_holds(code) for code in currencies.codes())


def _money_keys(run_data: RunData) -> dict[str, Any]:
    """``currency`` (of every single-currency money figure in ``summary``) and the per-currency block."""
    if run_data.currencies is None:
        return {}
    currencies = currency_block(run_data.currencies, run_data.money["unrealized_pnl"])
    return {"currency": run_data.currencies.account_currency, "currencies": currencies}


def _iso(instant: dt.datetime) -> str:
    return instant.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
