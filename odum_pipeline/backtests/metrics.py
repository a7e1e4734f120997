"""Headline metrics of a run, from NautilusTrader's own reports, account and cache.

Exactness: every money figure is a ``Decimal`` taken from NautilusTrader's ``Money`` values
(fixed-point), never from floats, so ``final_balance == starting_balance + realized_pnl`` holds
to the last digit: realized PnL is the sum of ``Position.realized_pnl`` over the positions and
their snapshots (NautilusTrader nets commissions into it), the final balance is the account's.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pandas as pd
from nautilus_trader.model.enums import OrderStatus
from nautilus_trader.model.instruments import Instrument

from odum_pipeline.backtests.config import setup_sha256
from odum_pipeline.backtests.strategy import CLOSE_TAG, EquityPoint, ExecutionBacktestStrategy, TimelineEvent


@dataclass
class RunData:
    """Everything read out of the engine after a run (the engine is disposed afterwards)."""

    orders: pd.DataFrame
    fills: pd.DataFrame
    positions: pd.DataFrame
    equity_curve: list[EquityPoint]
    parents: pd.DataFrame
    timeline: list[TimelineEvent]
    counts: dict[str, int] = field(default_factory=dict)
    money: dict[str, Decimal] = field(default_factory=dict)
    closed_position_pnls: list[Decimal] = field(default_factory=list)
    requested_qty: Decimal = Decimal(0)
    filled_qty: Decimal = Decimal(0)


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
    currency = instrument.get_settlement_currency()
    empty = pd.DataFrame()
    return RunData(
        orders=_orders_table(trader.generate_orders_report(), orders) if tables else empty,
        fills=fills_table(trader.generate_fills_report(), orders, impact_shifts)
        if tables
        else pd.DataFrame(columns=FILL_COLUMNS),
        positions=_positions_table(trader.generate_positions_report()) if tables else empty,
        equity_curve=list(strategy.equity_curve),
        parents=pd.DataFrame(strategy.parents, columns=PARENT_COLUMNS),
        timeline=list(strategy.timeline),
        counts=_order_counts(orders, strategy),
        money={
            "starting_balance": account.starting_balances()[currency].as_decimal(),
            "final_balance": account.balance_total(currency).as_decimal(),
            "realized_pnl": sum((p.realized_pnl.as_decimal() for p in positions if p.realized_pnl), Decimal(0)),
            "unrealized_pnl": strategy.unrealized_pnl(),
            "fees": strategy.fees,
        },
        closed_position_pnls=[p.realized_pnl.as_decimal() for p in positions if p.is_closed],
        requested_qty=strategy.requested_qty,
        filled_qty=strategy.filled_entry_qty,
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


# --- equity and round trips ----------------------------------------------------------------------


def max_drawdown(curve: list[EquityPoint]) -> tuple[Decimal, Decimal]:
    """Largest peak-to-trough fall of the equity curve, absolute and as a share of the peak."""
    peak: Decimal | None = None
    worst, worst_pct = Decimal(0), Decimal(0)
    for point in curve:
        peak = point.equity if peak is None else max(peak, point.equity)
        drawdown = peak - point.equity
        if drawdown > worst:
            worst, worst_pct = drawdown, (drawdown / peak if peak else Decimal(0))
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
        "identity_holds": money["final_balance"] == money["starting_balance"] + money["realized_pnl"],
    }


def _iso(instant: dt.datetime) -> str:
    return instant.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
