"""The wall-clock limit of one backtest: ``environment.timeout_secs``, else a default scaled by the window.

``wall_clock_limit(seconds, ...)`` arms ``SIGALRM`` in the main thread (the CLI, a Dagster step, an
in-process ``materialize``): when it fires, ``BacktestTimeoutError`` is raised wherever the replay
is (NautilusTrader calls back into Python for every event the strategy sees, so even a hung
algorithm is interrupted), the engine is disposed by its ``finally`` and the Dagster step fails,
which frees its ``nautilus`` pool slot. Off the main thread it is a no-op; there Dagster's run
monitoring (``dagster/max_runtime`` tag, ``run_monitoring.max_runtime_seconds``) is the backstop.
"""

from __future__ import annotations

import datetime as dt
import math
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from odum_pipeline.errors import OdumError

BASE_SECS = 600.0
SECS_PER_WINDOW_HOUR = 600.0
MAX_SECS = 7 * 86_400.0
#: Added to a run's limit for Dagster's run monitoring, which only steps in when the run itself did not.
MONITORING_MARGIN_SECS = 300


class BacktestRunError(OdumError, RuntimeError):
    """A backtest that started and was stopped; the message is one line saying why."""


class BacktestTimeoutError(BacktestRunError):
    """The backtest ran past its wall-clock limit."""


def default_timeout_secs(start: dt.datetime, end: dt.datetime) -> float:
    """10 minutes plus 10 minutes per hour of window (a day: 4 h 10 min), far above measured rates."""
    hours = max(0.0, (end - start).total_seconds()) / 3600
    return min(MAX_SECS, BASE_SECS + SECS_PER_WINDOW_HOUR * math.ceil(hours))


def timeout_for(config) -> float:
    """The config's ``environment.timeout_secs``, else the default for its window."""
    explicit = config.environment.timeout_secs
    return float(explicit) if explicit is not None else default_timeout_secs(config.time_window.start, config.time_window.end)


@contextmanager
def wall_clock_limit(seconds: float, what: str, source: str = "environment.timeout_secs") -> Iterator[None]:
    """Raise ``BacktestTimeoutError`` naming ``source`` if the block runs longer than ``seconds``."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield
        return

    def expire(signum, frame) -> None:
        raise BacktestTimeoutError(f"{what} stopped after its wall-clock limit of {seconds:g} s ({source})")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
