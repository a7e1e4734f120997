"""Venue and instrument registry (Dagster-free)."""

from odum_pipeline.instruments.registry import (
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
