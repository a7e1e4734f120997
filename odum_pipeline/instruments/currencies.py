"""Money with its currency: default starting balances, display precision, formatting.

Default starting balances are per currency, worth roughly 1,000,000 USD at 2023-2024 prices, so
a BTC-settled (inverse) account does not start with a million BTC. Figures are printed at the
currency's precision: NautilusTrader's (8 decimals for BTC and ETH), except USD stablecoins and
fiat, shown with cents (2 decimals) because NautilusTrader gives USDT 8 decimals that carry no
information in a PnL line. Exact values stay in the summary's ``exact`` block.
"""

from __future__ import annotations

from decimal import Decimal

from nautilus_trader.model.currencies import Currency

#: The starting balance of a currency when the config gives none (about 1M USD each).
DEFAULT_STARTING_BALANCES: dict[str, Decimal] = {
    "USDT": Decimal(1_000_000),
    "USDC": Decimal(1_000_000),
    "USD": Decimal(1_000_000),
    "BTC": Decimal(20),
    "ETH": Decimal(400),
}

_CENT_CURRENCIES = frozenset({"USD", "USDT", "USDC", "EUR"})


def default_starting_balance(code: str) -> Decimal:
    """The documented default starting balance of ``code`` (``ValueError`` naming it if none)."""
    try:
        return DEFAULT_STARTING_BALANCES[code.upper()]
    except KeyError:
        raise ValueError(
            f"no default starting balance for {code!r}; set venue.starting_balances.{code.upper()}"
        ) from None


def display_decimals(code: str) -> int:
    """Decimals a figure in ``code`` is printed with (BTC 8, USDT 2)."""
    code = code.upper()
    if code in _CENT_CURRENCIES:
        return 2
    try:
        return Currency.from_str(code).precision
    except (ValueError, KeyError):
        return 8


def format_money(amount: float | Decimal | None, code: str) -> str:
    """``-0.00012345 BTC``, ``1,234.56 USDT``; ``n/a`` for a missing figure."""
    if amount is None:
        return f"n/a {code}"
    return f"{Decimal(str(amount)):,.{display_decimals(code)}f} {code.upper()}"


def summary_money_line(summary: dict) -> str:
    """A run summary's money in one line, each figure with its currency: net PnL, fees, and the
    PnL valued in the quote currency when the account's currency is another (inverse contracts)."""
    figures = summary["summary"]
    currency = summary.get("currency") or "?"
    block = summary.get("currencies") or {}
    fee_currency = block.get("fee_currency", currency)
    parts = [f"net PnL {format_money(figures.get('net_pnl'), currency)}", f"fees {format_money(figures.get('fees'), fee_currency)}"]
    quote = block.get("quote_currency")
    valued = block.get("net_pnl_quote")
    if quote and valued is not None and quote != currency:
        parts.append(f"net PnL in {quote} at the end mark {format_money(valued, quote)}")
    return "  ".join(parts)
