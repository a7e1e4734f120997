"""Argument types shared by the commands: they turn bad input into argparse's one-line errors."""

from __future__ import annotations

import argparse
import datetime as dt

from odum_pipeline.errors import OdumError


class UsageError(OdumError, ValueError):
    """A command's input that is wrong in a way argparse cannot see (a JSON flag, nothing to act on)."""


def iso_date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date YYYY-MM-DD") from None


def iso_time(text: str) -> dt.time:
    try:
        return dt.time.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a time HH:MM[:SS]") from None


def iso_datetime(text: str) -> dt.datetime:
    """An ISO date-time; UTC when it carries no offset."""
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO date-time (e.g. 2023-05-23T19:23:00Z)") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
