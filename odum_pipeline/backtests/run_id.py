"""Run ids: ``VENUE_INSTRUMENT_YYYYMMDD_HHMMSSff_CONFIGHASH6_UUID6``.

e.g. ``BNF_BTC_20230523_19231200_018dd7_c54988``: venue and instrument abbreviations from the
registry, the window start to the hundredth of a second, the first 6 hex digits of the config's
content hash and 6 hex digits of a fresh uuid4 (so re-runs of one config never collide).
"""

from __future__ import annotations

import datetime as dt
import re
import uuid

from odum_pipeline.instruments.registry import InstrumentSpec, instrument_abbreviation, venue_abbreviation

RUN_ID_PATTERN = re.compile(r"^[A-Z0-9]+_[A-Z0-9]+_\d{8}_\d{8}_[0-9a-f]{6}_[0-9a-f]{6}$")


def make_run_id(spec: InstrumentSpec, window_start: dt.datetime, config_sha256: str, *, unique: str | None = None) -> str:
    start = window_start.astimezone(dt.UTC)
    hundredths = start.microsecond // 10_000
    stamp = f"{start:%Y%m%d_%H%M%S}{hundredths:02d}"
    suffix = (unique or uuid.uuid4().hex)[:6]
    return f"{venue_abbreviation(spec.venue)}_{instrument_abbreviation(spec)}_{stamp}_{config_sha256[:6]}_{suffix}"


def is_run_id(text: str) -> bool:
    return bool(RUN_ID_PATTERN.match(text))
