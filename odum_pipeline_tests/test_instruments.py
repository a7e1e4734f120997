"""Tests for the venue and instrument registry (real NautilusTrader objects)."""

from decimal import Decimal

import pytest
from nautilus_trader.model.currencies import BTC, USD, USDT
from nautilus_trader.model.instruments import CryptoPerpetual, CurrencyPair
from nautilus_trader.model.objects import Price, Quantity

from odum_pipeline.instruments import (
    InstrumentSpec,
    UnknownInstrumentError,
    build_instrument,
    instrument_abbreviation,
    list_instrument_types,
    list_instruments,
    list_venues,
    resolve,
    venue_abbreviation,
)

VENUE_CASES = [
    ("BINANCE-FUTURES:PERPETUAL:BTC-USDT", CryptoPerpetual, "BTCUSDT-PERP.BINANCE"),
    ("BINANCE-FUTURES:PERPETUAL:ETH-USDT@LIN", CryptoPerpetual, "ETHUSDT-PERP.BINANCE"),
    ("BINANCE:SPOT:BTC-USDT", CurrencyPair, "BTCUSDT.BINANCE"),
    ("BINANCE:SPOT:ETH-USDT", CurrencyPair, "ETHUSDT.BINANCE"),
    ("BYBIT:PERPETUAL:BTC-USDT", CryptoPerpetual, "BTCUSDT-LINEAR.BYBIT"),
    ("BYBIT:PERPETUAL:ETH-USDT", CryptoPerpetual, "ETHUSDT-LINEAR.BYBIT"),
    ("BYBIT:SPOT:BTC-USDT", CurrencyPair, "BTCUSDT-SPOT.BYBIT"),
    ("BYBIT:SPOT:ETH-USDT", CurrencyPair, "ETHUSDT-SPOT.BYBIT"),
    ("OKX:PERPETUAL:BTC-USDT", CryptoPerpetual, "BTC-USDT-SWAP.OKX"),
    ("OKX:PERPETUAL:ETH-USDT", CryptoPerpetual, "ETH-USDT-SWAP.OKX"),
    ("OKX:SPOT:BTC-USDT", CurrencyPair, "BTC-USDT.OKX"),
    ("OKX:SPOT:ETH-USDT", CurrencyPair, "ETH-USDT.OKX"),
    ("DERIBIT:PERPETUAL:BTC-USD@INV", CryptoPerpetual, "BTC-PERPETUAL.DERIBIT"),
    ("DERIBIT:PERPETUAL:ETH-USD", CryptoPerpetual, "ETH-PERPETUAL.DERIBIT"),
]


@pytest.mark.parametrize(("key", "cls", "instrument_id"), VENUE_CASES)
def test_class_and_id_per_venue(key, cls, instrument_id):
    spec = resolve(key)
    instrument = build_instrument(key)
    assert type(instrument) is cls
    assert spec.instrument_class == cls.__name__
    assert str(instrument.id) == spec.instrument_id == instrument_id
    assert instrument.raw_symbol.value == spec.raw_symbol
    assert instrument.price_precision == spec.price_precision
    assert instrument.size_precision == spec.size_precision
    assert instrument.price_increment == Price.from_str(spec.price_increment)
    assert instrument.size_increment == Quantity.from_str(spec.size_increment)
    assert instrument.min_quantity == Quantity.from_str(spec.min_quantity)
    # The NautilusTrader id is an alias for the same spec.
    assert resolve(instrument_id) == spec


def test_binance_btcusdt_perp_filters_and_fees():
    spec = resolve("BINANCE-FUTURES:PERPETUAL:BTC-USDT")
    assert spec == InstrumentSpec(
        key="BINANCE-FUTURES:PERPETUAL:BTC-USDT",
        venue="BINANCE-FUTURES",
        instrument_type="PERPETUAL",
        base="BTC",
        quote="USDT",
        settlement="USDT",
        is_inverse=False,
        instrument_id="BTCUSDT-PERP.BINANCE",
        nautilus_venue="BINANCE",
        symbol="BTCUSDT-PERP",
        raw_symbol="BTCUSDT",
        instrument_class="CryptoPerpetual",
        price_precision=1,
        size_precision=3,
        price_increment="0.1",
        size_increment="0.001",
        min_quantity="0.001",
        maker_fee=Decimal("0.0002"),
        taker_fee=Decimal("0.0004"),
        margin_init=Decimal("0.05"),
        margin_maint=Decimal("0.025"),
    )
    inst = build_instrument(spec, ts_init=123)
    assert inst.base_currency == BTC
    assert inst.quote_currency == USDT
    assert inst.settlement_currency == USDT
    assert not inst.is_inverse
    assert inst.price_precision == 1
    assert inst.size_precision == 3
    assert inst.price_increment == Price.from_str("0.1")
    assert inst.size_increment == Quantity.from_str("0.001")
    assert inst.min_quantity == Quantity.from_str("0.001")
    assert inst.maker_fee == Decimal("0.0002")
    assert inst.taker_fee == Decimal("0.0004")
    assert inst.margin_init == Decimal("0.05")
    assert inst.ts_init == inst.ts_event == 123
    # Orders can actually be sized/priced with the built instrument.
    assert inst.make_price(65000.123) == Price.from_str("65000.1")
    assert inst.make_qty(0.0015) == Quantity.from_str("0.002")


def test_ethusdt_perp_and_binance_spot_filters():
    eth = resolve("BINANCE-FUTURES:PERPETUAL:ETH-USDT")
    assert (eth.price_increment, eth.size_increment, eth.price_precision) == ("0.01", "0.001", 2)
    spot = resolve("BINANCE:SPOT:BTC-USDT")
    assert (spot.price_increment, spot.size_increment) == ("0.01", "0.00001")
    assert (spot.price_precision, spot.size_precision) == (2, 5)
    assert spot.margin_init == spot.margin_maint == Decimal(0)


def test_deribit_inverse_perp():
    spec = resolve("DERIBIT:PERPETUAL:BTC-USD@INV")
    assert spec.key == "DERIBIT:PERPETUAL:BTC-USD@INV"
    assert spec.is_inverse and spec.settlement == "BTC"
    inst = build_instrument(spec)
    assert inst.is_inverse
    assert inst.quote_currency == USD
    assert inst.settlement_currency == BTC
    assert inst.get_settlement_currency() == BTC


def test_lin_suffix_and_normalisation_alias_the_same_instrument():
    base = resolve("BINANCE-FUTURES:PERPETUAL:BTC-USDT")
    for alias in (
        "BINANCE-FUTURES:PERPETUAL:BTC-USDT@LIN",
        " binance-futures:perpetual:btc-usdt@lin ",
        "BINANCE-FUTURES:PERPETUAL:BTCUSDT",
        "BTCUSDT-PERP.BINANCE",
    ):
        assert resolve(alias) == base
    assert base.key == "BINANCE-FUTURES:PERPETUAL:BTC-USDT"
    assert build_instrument("BINANCE-FUTURES:PERPETUAL:BTC-USDT@LIN") == build_instrument(base)
    assert resolve(base) is base


def test_fee_overrides():
    inst = build_instrument("BTCUSDT-PERP.BINANCE", maker_fee="-0.0001", taker_fee=0.0005)
    assert inst.maker_fee == Decimal("-0.0001")
    assert inst.taker_fee == Decimal("0.0005")
    # Overrides do not leak into the registry.
    assert build_instrument("BTCUSDT-PERP.BINANCE").taker_fee == Decimal("0.0004")
    only_maker = build_instrument("BINANCE:SPOT:BTC-USDT", maker_fee=Decimal("0"))
    assert only_maker.maker_fee == Decimal("0")
    assert only_maker.taker_fee == Decimal("0.001")


def test_listing_functions():
    assert list_venues() == ["BINANCE", "BINANCE-FUTURES", "BYBIT", "DERIBIT", "OKX"]
    assert list_instrument_types("BINANCE-FUTURES") == ["PERPETUAL"]
    assert list_instrument_types("bybit") == ["PERPETUAL", "SPOT"]
    assert list_instrument_types("DERIBIT") == ["PERPETUAL"]
    everything = list_instruments()
    assert len(everything) == len({s.instrument_id for s in everything}) == 14
    for venue in list_venues():
        for itype in list_instrument_types(venue):
            bases = {s.base for s in list_instruments(venue, itype)}
            assert {"BTC", "ETH"} <= bases
    assert [s.instrument_id for s in list_instruments("OKX", "SPOT")] == [
        "BTC-USDT.OKX",
        "ETH-USDT.OKX",
    ]
    perps = list_instruments(instrument_type="PERPETUAL")
    assert {s.venue for s in perps} == {"BINANCE-FUTURES", "BYBIT", "OKX", "DERIBIT"}
    assert all(s.instrument_class == "CryptoPerpetual" for s in perps)


def test_abbreviations():
    assert {v: venue_abbreviation(v) for v in list_venues()} == {
        "BINANCE-FUTURES": "BNF",
        "BINANCE": "BN",
        "BYBIT": "BYB",
        "DERIBIT": "DER",
        "OKX": "OKX",
    }
    assert instrument_abbreviation(resolve("BTCUSDT-PERP.BINANCE")) == "BTC"
    assert instrument_abbreviation("BYBIT:SPOT:ETH-USDT") == "ETH"
    assert instrument_abbreviation("BTCUSDT") == "BTC"
    assert instrument_abbreviation("ETHUSDT") == "ETH"
    with pytest.raises(UnknownInstrumentError, match="BINANCE-FUTURES"):
        venue_abbreviation("KRAKEN")


@pytest.mark.parametrize(
    ("key", "fragments"),
    [
        ("KRAKEN:SPOT:BTC-USDT", ["KRAKEN:SPOT:BTC-USDT", "venue", "BINANCE-FUTURES", "OKX"]),
        ("BINANCE-FUTURES:SPOT:BTC-USDT", ["instrument type", "'SPOT'", "PERPETUAL"]),
        ("BINANCE:FUTURE:BTC-USDT", ["instrument type", "'FUTURE'", "SPOT"]),
        ("BYBIT:PERPETUAL:DOGE-USDT", ["symbol", "'DOGE-USDT'", "BTC-USDT", "ETH-USDT"]),
        ("DERIBIT:PERPETUAL:BTC-USDT", ["symbol", "BTC-USD, ETH-USD"]),
        ("BINANCE-FUTURES:PERPETUAL:BTC-USDT@INV", ["@INV", "linear"]),
        ("DERIBIT:PERPETUAL:BTC-USD@LIN", ["@LIN", "inverse"]),
        ("BINANCE:SPOT:BTC-USDT@XYZ", ["@XYZ", "@LIN, @INV"]),
        ("garbage", ["'garbage'", "VENUE:TYPE:BASE-QUOTE", "BINANCE-FUTURES"]),
        ("BINANCE:BTC-USDT", ["Cannot parse", "VENUE:TYPE:BASE-QUOTE"]),
        ("A:B:C:D", ["Cannot parse"]),
        ("::", ["Cannot parse"]),
        ("", ["not a string"]),
        ("BTCUSDT-PERP.KRAKEN", ["Cannot parse", "BTCUSDT-PERP.BINANCE"]),
    ],
)
def test_unknown_keys_raise_helpful_errors(key, fragments):
    with pytest.raises(UnknownInstrumentError) as exc_info:
        resolve(key)
    message = str(exc_info.value)
    for fragment in fragments:
        assert fragment in message, message
    assert isinstance(exc_info.value, ValueError)
    with pytest.raises(UnknownInstrumentError):
        build_instrument(key)


def test_non_string_key_and_unknown_listing_filters():
    with pytest.raises(UnknownInstrumentError):
        resolve(None)  # type: ignore[arg-type]
    with pytest.raises(UnknownInstrumentError, match="valid venues"):
        list_instrument_types("NASDAQ")
    with pytest.raises(UnknownInstrumentError, match="valid venues"):
        list_instruments("NASDAQ")
    with pytest.raises(UnknownInstrumentError, match="valid types: PERPETUAL"):
        list_instruments("DERIBIT", "SPOT")
    with pytest.raises(UnknownInstrumentError, match="valid types: PERPETUAL, SPOT"):
        list_instruments(instrument_type="OPTION")
