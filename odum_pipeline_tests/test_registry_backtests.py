"""Every registry instrument backtests: synthetic raw data -> catalog -> the real engine, NORMAL and TWAP.

The expectations are computed here from the fills alone (not from the metrics code): fees are the
notional times the taker/maker rate in the currency NautilusTrader charges (the quote currency; the
base currency for inverse contracts), and every balance moves by what the fills imply.
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_EVEN, Decimal

import pandas as pd
import pytest

from odum_pipeline.backtests.config import parse_config
from odum_pipeline.backtests.engine import AlgorithmSpec, run_backtest
from odum_pipeline.catalog.convert import convert_day
from odum_pipeline.catalog.sample import INSTRUMENTS, generate_day
from odum_pipeline.instruments.registry import list_instruments, resolve
from odum_pipeline_tests.conftest import SHIPPED_ALGORITHMS

DAY = dt.date(2023, 5, 23)
START, END = dt.time(19, 20), dt.time(19, 24)
KEYS = [spec.key for spec in list_instruments()]
ALGORITHMS = {"NORMAL": {}, "TWAP": {"horizon_secs": 40, "interval_secs": 10}}
CURRENCY_PRECISION = 8  # NautilusTrader's for USDT, BTC and ETH; USD has 2
QUANTUM = Decimal(1).scaleb(-CURRENCY_PRECISION)


def test_generator_covers_the_whole_registry():
    assert set(INSTRUMENTS) >= set(KEYS)


@pytest.fixture(scope="module")
def catalog(tmp_path_factory):
    root = tmp_path_factory.mktemp("registry")
    for key in KEYS:
        generate_day(root / "raw", DAY, key, start_time=START, end_time=END)
        convert_day(root / "raw", root / "catalog", DAY, key)
    return root


def _parent_quantity(spec, base_units: float) -> Decimal:
    """``base_units`` of the base currency in the instrument's size unit, on its lot grid."""
    unit = INSTRUMENTS[spec.key].price if spec.is_inverse else 1.0
    lot = Decimal(spec.size_increment)
    return (Decimal(str(base_units * unit)) / lot).to_integral_value() * lot


def _config(spec) -> dict:
    buy, sell = _parent_quantity(spec, 0.2), _parent_quantity(spec, 0.1)
    return {
        "instrument": {"id": spec.key},
        "time_window": {"start": "2023-05-23T19:20:30Z", "end": "2023-05-23T19:23:30Z"},
        "strategy": {
            "submission_mode": "parent_orders",
            "parent_orders": [
                {"side": "BUY", "quantity": str(buy), "arrival": "2023-05-23T19:21:00Z"},
                {"side": "SELL", "quantity": str(sell), "arrival": "2023-05-23T19:22:00Z"},
            ],
        },
        "environment": {"mode": "report"},
    }


def _on_grid(values, step: str) -> bool:
    return all(Decimal(str(v)) % Decimal(step) == 0 for v in values)


def _expected_fee(spec, config, fill) -> tuple[Decimal, str]:
    rate = config.venue.maker_fee if fill.liquidity_side == "MAKER" else config.venue.taker_fee
    qty, px = Decimal(str(fill.last_qty)), Decimal(str(fill.last_px))
    if spec.is_inverse:
        return qty / px * rate, spec.base
    return qty * px * rate, spec.quote


def _expected_changes(spec, fills: pd.DataFrame) -> dict[str, Decimal]:
    """What the fills do to each balance: a cash account exchanges currencies, a margin account
    settles the closed position's PnL (the run ends flat: close_positions)."""
    changes: dict[str, Decimal] = {}
    for fill in fills.itertuples():
        sign = 1 if fill.side == "BUY" else -1
        qty, px, fee = Decimal(str(fill.last_qty)), Decimal(str(fill.last_px)), Decimal(str(fill.commission))
        if spec.instrument_class == "CurrencyPair":  # the notional is Money: rounded to the quote's precision
            notional = (qty * px).quantize(QUANTUM, ROUND_HALF_EVEN)
            changes[spec.base] = changes.get(spec.base, Decimal(0)) + sign * qty
            changes[spec.quote] = changes.get(spec.quote, Decimal(0)) - sign * notional
        elif spec.is_inverse:
            changes[spec.base] = changes.get(spec.base, Decimal(0)) + sign * qty / px
        else:
            changes[spec.quote] = changes.get(spec.quote, Decimal(0)) - sign * qty * px
        changes[fill.commission_currency] = changes.get(fill.commission_currency, Decimal(0)) - fee
    return changes


@pytest.mark.parametrize("algorithm", sorted(ALGORITHMS))
@pytest.mark.parametrize("key", KEYS)
def test_registry_instrument_backtests(catalog, tmp_path, key, algorithm):
    spec = resolve(key)
    config = parse_config(_config(spec))
    outcome = run_backtest(
        config,
        algorithm=AlgorithmSpec(name=algorithm, params=ALGORITHMS[algorithm]),
        algorithms_root=SHIPPED_ALGORITHMS,
        catalog_root=catalog / "catalog",
        results_root=tmp_path,
        mode="report",
    )
    summary, figures = outcome.summary, outcome.summary["summary"]
    fills = pd.read_parquet(outcome.result_path / "fills.parquet")
    entries = fills[~fills["is_close"]]

    # fills: both parents traded, on the instrument's grids, and the run ends flat
    assert figures["fills"] == len(fills) > 0
    assert set(entries["side"]) == {"BUY", "SELL"}
    assert _on_grid(fills["last_px"], spec.price_increment) and _on_grid(fills["last_qty"], spec.size_increment)
    signed = sum(Decimal(str(q)) * (1 if s == "BUY" else -1) for q, s in zip(fills["last_qty"], fills["side"]))
    assert signed == 0
    if algorithm == "TWAP":
        assert figures["child_orders"] >= 2

    # fees: notional x rate, in the currency NautilusTrader charges
    quantum = QUANTUM
    for fill in fills.itertuples():
        fee, currency = _expected_fee(spec, config, fill)
        assert fill.commission_currency == currency
        assert abs(Decimal(str(fill.commission)) - fee.quantize(quantum, ROUND_HALF_EVEN)) <= quantum
    fee_currency = spec.base if spec.is_inverse else spec.quote
    assert summary["currencies"]["fee_currency"] == fee_currency
    assert Decimal(summary["currencies"]["fees"][fee_currency]) == sum(Decimal(str(c)) for c in fills["commission"])

    # the accounting identity, per currency, from the fills against the account's balances
    expected = _expected_changes(spec, fills)
    balances = summary["currencies"]["balances"]
    assert set(balances) == set(config.venue.starting_balances)
    tolerance = quantum * len(fills) if spec.is_inverse else Decimal(0)  # 1/price: rounded once per fill
    for code, block in balances.items():
        change = Decimal(block["final"]) - Decimal(block["starting"])
        assert Decimal(block["starting"]) == config.venue.starting_balances[code]
        assert abs(change - expected.get(code, Decimal(0))) <= tolerance, (code, change, expected)
        assert block["identity_holds"] is True
    assert summary["identity_holds"] is True

    # the single-currency figures say their currency; PnL is valued in the quote currency
    assert summary["currency"] == (spec.settlement if spec.instrument_class != "CurrencyPair" else spec.quote)
    assert summary["currencies"]["quote_currency"] == spec.quote
    mark = Decimal(summary["currencies"]["end_mark_price"])
    valued = sum(
        (Decimal(b["final"]) - Decimal(b["starting"])) * (1 if code == spec.quote else mark)
        for code, b in balances.items()
    )
    assert Decimal(summary["currencies"]["net_pnl_quote"]) == valued
    assert figures["fees"] > 0
