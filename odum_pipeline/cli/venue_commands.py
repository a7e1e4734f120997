"""``odum venues``: the venue and instrument registry."""

from __future__ import annotations

from odum_pipeline.instruments import list_instrument_types, list_instruments, list_venues


def register(commands) -> None:
    venues = commands.add_parser("venues", help="list venues, instrument types and instruments")
    venues.add_argument("venue", nargs="?", help="only this venue")
    venues.add_argument("--type", dest="instrument_type", help="only this instrument type")
    venues.set_defaults(handler=_venues)


def _venues(args) -> int:
    for venue in [args.venue] if args.venue else list_venues():
        types = [args.instrument_type] if args.instrument_type else list_instrument_types(venue)
        print(f"{venue}: {', '.join(types)}")
        for spec in list_instruments(venue, args.instrument_type):
            print(
                f"  {spec.key:<40} {spec.instrument_id:<26} {spec.instrument_class:<16} "
                f"tick {spec.price_increment:<10} lot {spec.size_increment:<10} "
                f"maker {spec.maker_fee:<6} taker {spec.taker_fee:<7} {_account(spec)}"
            )
    return 0


def _account(spec) -> str:
    """The default account a backtest of ``spec`` runs on, and the unit of its quantities."""
    if spec.instrument_class == "CurrencyPair":
        return f"cash {spec.quote}+{spec.base}, sizes in {spec.base}"
    unit = spec.quote if spec.is_inverse else spec.base
    return f"margin {spec.settlement}, sizes in {unit}"
