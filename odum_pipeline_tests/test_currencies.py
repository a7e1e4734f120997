"""Accounts and money per currency: starting balances in the config, printing with the currency."""

from __future__ import annotations

from decimal import Decimal

import pytest

from odum_pipeline.backtests.config import ConfigError, config_sha256, parse_config
from odum_pipeline.backtests.engine import _venue_config
from odum_pipeline.instruments.currencies import (
    DEFAULT_STARTING_BALANCES,
    display_decimals,
    format_money,
    summary_money_line,
)

WINDOW = {"start": "2023-05-23T19:21:00Z", "end": "2023-05-23T19:25:00Z"}
SPOT = "BINANCE:SPOT:BTC-USDT"
INVERSE = "DERIBIT:PERPETUAL:BTC-USD@INV"
PERP = "BINANCE-FUTURES:PERPETUAL:BTC-USDT"


def config(key: str, venue: dict | None = None, parents: list[dict] | None = None):
    data = {"instrument": {"id": key}, "time_window": WINDOW, "venue": venue or {}}
    if parents:
        data["strategy"] = {"submission_mode": "parent_orders", "parent_orders": parents}
    return parse_config(data, source="cfg.json")


def sell(quantity: str) -> dict:
    return {"side": "SELL", "quantity": quantity, "arrival": "2023-05-23T19:22:00Z"}


def test_spot_defaults_to_a_multi_currency_cash_account_holding_both_currencies():
    venue = config(SPOT).venue
    assert venue.account_type.value == "CASH" and venue.base_currency is None
    assert venue.starting_balances == {"USDT": Decimal(1_000_000), "BTC": DEFAULT_STARTING_BALANCES["BTC"]}
    nautilus = _venue_config(config(SPOT))
    assert nautilus.base_currency is None
    assert sorted(nautilus.starting_balances) == ["1000000 USDT", "20 BTC"]


def test_default_starting_balance_follows_the_settlement_currency():
    inverse = config(INVERSE).venue
    assert (inverse.base_currency, inverse.starting_balance) == ("BTC", Decimal(20))
    assert inverse.starting_balances == {"BTC": Decimal(20)}
    perp = config(PERP).venue
    assert perp.starting_balances == {"USDT": Decimal(1_000_000)} and perp.starting_balance == Decimal(1_000_000)


def test_legacy_starting_balance_is_the_account_currency_and_hashes_like_the_new_form():
    legacy = config(PERP, {"starting_balance": 5000})
    new = config(PERP, {"starting_balances": {"usdt": "5000.0"}})
    assert legacy.venue.starting_balances == new.venue.starting_balances == {"USDT": Decimal(5000)}
    assert config_sha256(legacy) == config_sha256(new)
    spot = config(SPOT, {"starting_balance": 700})
    assert spot.venue.starting_balances == {"USDT": Decimal(700), "BTC": Decimal(20)}


@pytest.mark.parametrize(
    ("key", "venue", "parents", "message"),
    [
        (SPOT, {"starting_balances": {"BTC": 1}}, [sell("0.6"), sell("0.5")],
         "strategy.parent_orders[1].quantity: SELL parents total 1.1 BTC, more than the account holds "
         "(venue.starting_balances.BTC = 1)"),
        (SPOT, {"starting_balances": {"BTC": 0}}, [sell("0.1")], "venue.starting_balances.BTC = 0"),
        (SPOT, {"base_currency": "USDT"}, None, "venue.base_currency: must be null for a spot pair on a CASH account"),
        (SPOT, {"starting_balances": {"ETH": 1}}, None, "venue.starting_balances.ETH: not a currency of this account"),
        (PERP, {"starting_balances": {"BTC": 1}}, None, "venue.starting_balances.BTC: not a currency of this account"),
        (PERP, {"starting_balance": 5, "starting_balances": {"USDT": 6}}, None, "venue.starting_balance: 5 contradicts"),
        (PERP, {"starting_balances": {"USDT": -1}}, None, "venue.starting_balances.USDT"),
        (SPOT, {"starting_balances": {"USDT": 0, "BTC": 0}}, None, "at least one balance must be positive"),
    ],
)  # fmt: skip
def test_balance_errors_name_the_field(key, venue, parents, message):
    with pytest.raises(ConfigError) as error:
        config(key, venue, parents)
    assert message in str(error.value)
    assert str(error.value).startswith("cfg.json: invalid backtest config")


def test_sell_within_the_base_balance_is_accepted():
    assert config(SPOT, {"starting_balances": {"BTC": "1.1"}}, [sell("0.6"), sell("0.5")]).venue.starting_balances["BTC"]


def test_money_is_printed_at_its_currency_precision():
    assert display_decimals("BTC") == 8 and display_decimals("USDT") == 2
    assert format_money(-0.00012345, "BTC") == "-0.00012345 BTC"
    assert format_money(Decimal("1234.567"), "USDT") == "1,234.57 USDT"
    assert format_money(None, "ETH") == "n/a ETH"


def test_summary_money_line_names_currencies_and_values_inverse_pnl_in_the_quote():
    summary = {
        "summary": {"net_pnl": -0.0002323, "fees": 0.00011}, "currency": "BTC",
        "currencies": {"fee_currency": "BTC", "quote_currency": "USD", "net_pnl_quote": "-6.2721", "account_type": "MARGIN"},
    }  # fmt: skip
    line = summary_money_line(summary)
    assert line == "net PnL -0.00023230 BTC  fees 0.00011000 BTC  net PnL in USD at the end mark -6.27 USD"


def test_cli_prints_inverse_money_in_btc_with_eight_decimals(tmp_path, capsys):
    """The issue's case: a Deribit inverse run printed 'net PnL -0.00  fees 0.00'."""
    import datetime as dt
    import json
    import re

    from odum_pipeline.catalog.sample import generate_day
    from odum_pipeline.cli import run_backtest

    generate_day(tmp_path / "raw", dt.date(2023, 5, 23), INVERSE, start_time=dt.time(19, 20), end_time=dt.time(19, 24))
    path = tmp_path / "inverse.json"
    path.write_text(json.dumps({
        "instrument": {"id": INVERSE}, "time_window": WINDOW,
        "strategy": {"submission_mode": "parent_orders",
                     "parent_orders": [{"side": "BUY", "quantity": 5000, "arrival": "2023-05-23T19:22:00Z"}]},
    }))  # fmt: skip
    code = run_backtest.run([
        "--config", str(path), "--raw-root", str(tmp_path / "raw"),
        "--catalog", str(tmp_path / "catalog"), "--results", str(tmp_path / "results"),
    ])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0, out
    money = next(line for line in out.splitlines() if "net PnL" in line)
    match = re.search(r"net PnL (-?[\d,]+\.(\d+)) BTC  fees ([\d,]+\.(\d+)) BTC  net PnL in USD at the end mark", money)
    assert match, money
    assert len(match.group(2)) == len(match.group(4)) == 8
    assert Decimal(match.group(3)) > 0  # the fee of 5000 USD at 5 bps is about 0.0000926 BTC, not 0.00


def test_odum_venues_says_which_account_and_size_unit_each_instrument_uses(capsys):
    from odum_pipeline.cli.main import run

    assert run(["venues"]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines() if line.startswith("  ")}
    assert lines[SPOT].endswith("cash USDT+BTC, sizes in BTC")
    assert lines[INVERSE].endswith("margin BTC, sizes in USD")
    assert lines[PERP].endswith("margin USDT, sizes in BTC")

