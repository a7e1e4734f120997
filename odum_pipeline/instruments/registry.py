"""Venue and instrument registry: instrument keys -> NautilusTrader instruments.

Keys have the form ``VENUE:TYPE:BASE-QUOTE`` with an optional ``@LIN`` (linear)
or ``@INV`` (inverse) suffix, e.g. ``BINANCE-FUTURES:PERPETUAL:BTC-USDT`` or
``DERIBIT:PERPETUAL:BTC-USD@INV``. The NautilusTrader id (``BTCUSDT-PERP.BINANCE``)
is accepted as an alias. This module has no Dagster dependency.

Exchange filters (tick = price increment, step = size increment, min = min qty;
sizes in base units, except Deribit inverse perps which trade in USD):

=================  =========  ==========  =====  ==========  ========  ==============
venue              type       pair        tick   step        min qty   fees m/t
=================  =========  ==========  =====  ==========  ========  ==============
BINANCE-FUTURES    PERPETUAL  BTC-USDT    0.1    0.001       0.001     0.0002/0.0004
BINANCE-FUTURES    PERPETUAL  ETH-USDT    0.01   0.001       0.001     0.0002/0.0004
BINANCE            SPOT       BTC-USDT    0.01   0.00001     0.00001   0.001/0.001
BINANCE            SPOT       ETH-USDT    0.01   0.0001      0.0001    0.001/0.001
BYBIT              PERPETUAL  BTC-USDT    0.1    0.001       0.001     0.0002/0.00055
BYBIT              PERPETUAL  ETH-USDT    0.01   0.01        0.01      0.0002/0.00055
BYBIT              SPOT       BTC-USDT    0.01   0.000001    0.000048  0.001/0.001
BYBIT              SPOT       ETH-USDT    0.01   0.00001     0.00062   0.001/0.001
OKX                PERPETUAL  BTC-USDT    0.1    0.0001 (1)  0.0001    0.0002/0.0005
OKX                PERPETUAL  ETH-USDT    0.01   0.001  (1)  0.001     0.0002/0.0005
OKX                SPOT       BTC-USDT    0.1    0.00000001  0.00001   0.0008/0.001
OKX                SPOT       ETH-USDT    0.01   0.000001    0.0001    0.0008/0.001
DERIBIT            PERPETUAL  BTC-USD     0.5    10 USD      10 USD    0.0000/0.0005
DERIBIT            PERPETUAL  ETH-USD     0.05   1 USD       1 USD     0.0000/0.0005
=================  =========  ==========  =====  ==========  ========  ==============

(1) OKX swaps trade in contracts (0.01 lot x 0.01 BTC / 0.1 ETH face value); the
registry expresses them in base units so every linear instrument uses multiplier 1.
Perpetual margins model 20x leverage (init 0.05 / maint 0.025, as NautilusTrader's
test kit); spot margins are zero. Precisions are derived from the increments.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from nautilus_trader.model.currencies import Currency
from nautilus_trader.model.identifiers import InstrumentId, Symbol
from nautilus_trader.model.instruments import CryptoPerpetual, CurrencyPair, Instrument
from nautilus_trader.model.objects import Price, Quantity

from odum_pipeline.errors import OdumError

__all__ = [
    "InstrumentSpec",
    "UnknownInstrumentError",
    "build_instrument",
    "instrument_abbreviation",
    "list_instrument_types",
    "list_instruments",
    "list_venues",
    "resolve",
    "venue_abbreviation",
]


class UnknownInstrumentError(OdumError, ValueError):
    """An instrument key, venue, type or symbol the registry does not know."""


@dataclass(frozen=True)
class InstrumentSpec:
    """Everything needed to build one NautilusTrader instrument."""

    key: str
    venue: str
    instrument_type: str
    base: str
    quote: str
    settlement: str
    is_inverse: bool
    instrument_id: str
    nautilus_venue: str
    symbol: str
    raw_symbol: str
    instrument_class: str
    price_precision: int
    size_precision: int
    price_increment: str
    size_increment: str
    min_quantity: str
    maker_fee: Decimal
    taker_fee: Decimal
    margin_init: Decimal
    margin_maint: Decimal


@dataclass(frozen=True)
class _Market:
    """Per venue/type conventions: Nautilus symbology, class, default fees and margins."""

    nautilus_venue: str
    symbol: str  # format string with {b} base and {q} quote
    raw_symbol: str
    instrument_class: str
    is_inverse: bool
    maker_fee: str
    taker_fee: str
    margin_init: str = "0"
    margin_maint: str = "0"


_PERP = "CryptoPerpetual"
_PAIR = "CurrencyPair"

_VENUE_ABBREVIATIONS = {
    "BINANCE-FUTURES": "BNF",
    "BINANCE": "BN",
    "BYBIT": "BYB",
    "DERIBIT": "DER",
    "OKX": "OKX",
}

_MARKETS: dict[tuple[str, str], _Market] = {
    ("BINANCE-FUTURES", "PERPETUAL"): _Market(
        "BINANCE", "{b}{q}-PERP", "{b}{q}", _PERP, False, "0.0002", "0.0004", "0.05", "0.025"
    ),
    ("BINANCE", "SPOT"): _Market("BINANCE", "{b}{q}", "{b}{q}", _PAIR, False, "0.001", "0.001"),
    ("BYBIT", "PERPETUAL"): _Market(
        "BYBIT", "{b}{q}-LINEAR", "{b}{q}", _PERP, False, "0.0002", "0.00055", "0.05", "0.025"
    ),
    ("BYBIT", "SPOT"): _Market("BYBIT", "{b}{q}-SPOT", "{b}{q}", _PAIR, False, "0.001", "0.001"),
    ("OKX", "PERPETUAL"): _Market(
        "OKX", "{b}-{q}-SWAP", "{b}-{q}-SWAP", _PERP, False, "0.0002", "0.0005", "0.05", "0.025"
    ),
    ("OKX", "SPOT"): _Market("OKX", "{b}-{q}", "{b}-{q}", _PAIR, False, "0.0008", "0.001"),
    ("DERIBIT", "PERPETUAL"): _Market(
        "DERIBIT", "{b}-PERPETUAL", "{b}-PERPETUAL", _PERP, True, "0", "0.0005", "0.05", "0.025"
    ),
}

# (venue, type, base, quote) -> (tick size, size step, min quantity); see module table.
_FILTERS: dict[tuple[str, str, str, str], tuple[str, str, str]] = {
    ("BINANCE-FUTURES", "PERPETUAL", "BTC", "USDT"): ("0.1", "0.001", "0.001"),
    ("BINANCE-FUTURES", "PERPETUAL", "ETH", "USDT"): ("0.01", "0.001", "0.001"),
    ("BINANCE", "SPOT", "BTC", "USDT"): ("0.01", "0.00001", "0.00001"),
    ("BINANCE", "SPOT", "ETH", "USDT"): ("0.01", "0.0001", "0.0001"),
    ("BYBIT", "PERPETUAL", "BTC", "USDT"): ("0.1", "0.001", "0.001"),
    ("BYBIT", "PERPETUAL", "ETH", "USDT"): ("0.01", "0.01", "0.01"),
    ("BYBIT", "SPOT", "BTC", "USDT"): ("0.01", "0.000001", "0.000048"),
    ("BYBIT", "SPOT", "ETH", "USDT"): ("0.01", "0.00001", "0.00062"),
    ("OKX", "PERPETUAL", "BTC", "USDT"): ("0.1", "0.0001", "0.0001"),
    ("OKX", "PERPETUAL", "ETH", "USDT"): ("0.01", "0.001", "0.001"),
    ("OKX", "SPOT", "BTC", "USDT"): ("0.1", "0.00000001", "0.00001"),
    ("OKX", "SPOT", "ETH", "USDT"): ("0.01", "0.000001", "0.0001"),
    ("DERIBIT", "PERPETUAL", "BTC", "USD"): ("0.5", "10", "10"),
    ("DERIBIT", "PERPETUAL", "ETH", "USD"): ("0.05", "1", "1"),
}


def _precision(increment: str) -> int:
    return max(0, -Decimal(increment).as_tuple().exponent)


def _make_spec(venue: str, itype: str, base: str, quote: str) -> InstrumentSpec:
    market = _MARKETS[(venue, itype)]
    tick, step, min_qty = _FILTERS[(venue, itype, base, quote)]
    symbol = market.symbol.format(b=base, q=quote)
    return InstrumentSpec(
        key=f"{venue}:{itype}:{base}-{quote}" + ("@INV" if market.is_inverse else ""),
        venue=venue,
        instrument_type=itype,
        base=base,
        quote=quote,
        settlement=base if market.is_inverse else quote,
        is_inverse=market.is_inverse,
        instrument_id=f"{symbol}.{market.nautilus_venue}",
        nautilus_venue=market.nautilus_venue,
        symbol=symbol,
        raw_symbol=market.raw_symbol.format(b=base, q=quote),
        instrument_class=market.instrument_class,
        price_precision=_precision(tick),
        size_precision=_precision(step),
        price_increment=tick,
        size_increment=step,
        min_quantity=min_qty,
        maker_fee=Decimal(market.maker_fee),
        taker_fee=Decimal(market.taker_fee),
        margin_init=Decimal(market.margin_init),
        margin_maint=Decimal(market.margin_maint),
    )


_SPECS: dict[str, InstrumentSpec] = {
    spec.key: spec for spec in (_make_spec(*k) for k in _FILTERS)
}
_BY_NAUTILUS_ID = {spec.instrument_id.upper(): spec for spec in _SPECS.values()}
_KEY_FORMAT = (
    "'VENUE:TYPE:BASE-QUOTE[@LIN|@INV]' or a NautilusTrader id like 'BTCUSDT-PERP.BINANCE'"
)


def _norm_venue(venue: str) -> str:
    name = str(venue).strip().upper()
    if name not in _VENUE_ABBREVIATIONS:
        raise UnknownInstrumentError(
            f"Unknown venue {venue!r}; valid venues: {', '.join(list_venues())}"
        )
    return name


def _norm_type(venue: str, instrument_type: str) -> str:
    name = str(instrument_type).strip().upper()
    if (venue, name) not in _MARKETS:
        raise UnknownInstrumentError(
            f"Unknown instrument type {instrument_type!r} for venue {venue}; "
            f"valid types: {', '.join(list_instrument_types(venue))}"
        )
    return name


def list_venues() -> list[str]:
    """All supported venue names, sorted."""
    return sorted(_VENUE_ABBREVIATIONS)


def list_instrument_types(venue: str) -> list[str]:
    """Instrument types supported on ``venue`` (e.g. ``["PERPETUAL"]``)."""
    name = _norm_venue(venue)
    return sorted(t for v, t in _MARKETS if v == name)


def list_instruments(
    venue: str | None = None, instrument_type: str | None = None
) -> list[InstrumentSpec]:
    """Specs filtered by venue and/or instrument type, sorted by key."""
    specs = sorted(_SPECS.values(), key=lambda s: s.key)
    if venue is not None:
        venue = _norm_venue(venue)
        specs = [s for s in specs if s.venue == venue]
    if instrument_type is not None:
        wanted = str(instrument_type).strip().upper()
        valid = list_instrument_types(venue) if venue else sorted({t for _, t in _MARKETS})
        if wanted not in valid:
            where = f" for venue {venue}" if venue else ""
            raise UnknownInstrumentError(
                f"Unknown instrument type {instrument_type!r}{where}; "
                f"valid types: {', '.join(valid)}"
            )
        specs = [s for s in specs if s.instrument_type == wanted]
    return specs


def resolve(key: str | InstrumentSpec) -> InstrumentSpec:
    """Resolve an instrument key (or NautilusTrader id) to its :class:`InstrumentSpec`."""
    if isinstance(key, InstrumentSpec):
        return key
    if not isinstance(key, str) or not key.strip():
        raise UnknownInstrumentError(
            f"Instrument key {key!r} is not a string; expected {_KEY_FORMAT}"
        )
    text = key.strip()
    if text.upper() in _BY_NAUTILUS_ID:
        return _BY_NAUTILUS_ID[text.upper()]
    body, _, suffix = text.upper().partition("@")
    parts = body.split(":")
    if len(parts) != 3 or not all(p.strip() for p in parts):
        raise UnknownInstrumentError(
            f"Cannot parse instrument key {key!r}; expected {_KEY_FORMAT}. "
            f"Valid venues: {', '.join(list_venues())}"
        )
    if suffix not in ("", "LIN", "INV"):
        raise UnknownInstrumentError(
            f"Unknown suffix '@{suffix}' in instrument key {key!r}; valid suffixes: @LIN, @INV"
        )
    try:
        venue = _norm_venue(parts[0])
        itype = _norm_type(venue, parts[1])
    except UnknownInstrumentError as exc:
        raise UnknownInstrumentError(f"In instrument key {key!r}: {exc}") from None
    pair = parts[2].strip().replace("/", "-").replace("_", "-")
    candidates = {f"{s.base}-{s.quote}": s for s in list_instruments(venue, itype)}
    spec = candidates.get(pair) or next(
        (s for p, s in candidates.items() if p.replace("-", "") == pair), None
    )
    if spec is None:
        raise UnknownInstrumentError(
            f"Unknown symbol {parts[2]!r} in instrument key {key!r} for {venue}:{itype}; "
            f"valid symbols: {', '.join(sorted(candidates))}"
        )
    if suffix and (suffix == "INV") != spec.is_inverse:
        kind = "inverse" if spec.is_inverse else "linear"
        raise UnknownInstrumentError(
            f"Instrument key {key!r} asks for '@{suffix}' but {spec.key} is {kind}; "
            f"use '@{'INV' if spec.is_inverse else 'LIN'}' or no suffix"
        )
    return spec


def build_instrument(
    spec_or_key: InstrumentSpec | str,
    *,
    maker_fee: Decimal | str | float | None = None,
    taker_fee: Decimal | str | float | None = None,
    ts_init: int = 0,
) -> Instrument:
    """Build the NautilusTrader instrument; fee overrides replace the registry defaults."""
    spec = resolve(spec_or_key)
    common = dict(
        instrument_id=InstrumentId.from_str(spec.instrument_id),
        raw_symbol=Symbol(spec.raw_symbol),
        base_currency=Currency.from_str(spec.base),
        quote_currency=Currency.from_str(spec.quote),
        price_precision=spec.price_precision,
        size_precision=spec.size_precision,
        price_increment=Price.from_str(spec.price_increment),
        size_increment=Quantity.from_str(spec.size_increment),
        min_quantity=Quantity.from_str(spec.min_quantity),
        margin_init=spec.margin_init,
        margin_maint=spec.margin_maint,
        maker_fee=spec.maker_fee if maker_fee is None else Decimal(str(maker_fee)),
        taker_fee=spec.taker_fee if taker_fee is None else Decimal(str(taker_fee)),
        ts_event=ts_init,
        ts_init=ts_init,
    )
    if spec.instrument_class == _PAIR:
        return CurrencyPair(**common)
    return CryptoPerpetual(
        **common,
        settlement_currency=Currency.from_str(spec.settlement),
        is_inverse=spec.is_inverse,
    )


def venue_abbreviation(venue: str) -> str:
    """Short venue code for run ids (``BINANCE-FUTURES`` -> ``BNF``)."""
    return _VENUE_ABBREVIATIONS[_norm_venue(venue)]


def instrument_abbreviation(spec: InstrumentSpec | str) -> str:
    """Short instrument code for run ids: the base currency (``BTCUSDT`` -> ``BTC``).

    Accepts a spec, a key, a NautilusTrader id, or a bare (raw) symbol like ``BTCUSDT``.
    """
    if isinstance(spec, str) and ":" not in spec and "." not in spec:
        name = spec.strip().upper()
        for s in _SPECS.values():
            if name in (s.raw_symbol, s.symbol):
                return s.base
    return resolve(spec).base
