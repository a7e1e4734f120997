"""run-backtest's progress: a redrawn bar only on a terminal; in a pipe, a line per 10 % or few seconds."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from odum_pipeline.cli.run_backtest import Progress
from odum_pipeline_tests.conftest import BTC_PERP


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _feed(progress: Progress, updates: int = 300) -> None:
    for index in range(updates + 1):
        progress("TWAP", index / updates, index * 10)


def test_a_pipe_gets_a_line_per_ten_percent():
    stream = io.StringIO()
    _feed(Progress(stream, every_secs=1e9))
    lines = stream.getvalue().splitlines()
    assert "\r" not in stream.getvalue()
    assert lines[0] == "TWAP: 0% of the window replayed (0 events)"
    assert lines[-1] == "TWAP: 100% of the window replayed (3,000 events)"
    assert [line.split(": ")[1].split("%")[0] for line in lines] == [str(p) for p in range(0, 101, 10)]


def test_a_pipe_gets_a_line_every_few_seconds_when_progress_is_slow():
    stream, now = io.StringIO(), [0.0]
    progress = Progress(stream, every_secs=5.0, clock=lambda: now[0])
    for second in range(0, 31):  # 30 s spent between 0 % and 2 %
        now[0] = float(second)
        progress("VWAP", second / 1500)
    assert len(stream.getvalue().splitlines()) == 7  # t = 0, 5, 10, 15, 20, 25, 30


def test_a_terminal_gets_a_redrawn_bar():
    stream = _Terminal()
    _feed(Progress(stream))
    assert stream.getvalue().count("\r") == 301 and stream.getvalue().endswith("\n")


def test_run_backtest_in_a_pipe_writes_plain_lines(real_catalog, tmp_path):
    config = tmp_path / "cfg.json"
    config.write_text(json.dumps({"instrument": {"id": BTC_PERP},
                                  "time_window": {"start": "2023-04-05T00:00:00Z", "end": "2023-04-05T00:06:00Z"}}))
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", "import sys; from odum_pipeline.cli.run_backtest import main; sys.argv[0] = 'run-backtest'; main()", "--config", str(config), "--catalog", str(real_catalog),
         "--results", str(tmp_path / "results")],
        capture_output=True, timeout=300, env={**os.environ, "ODUM_VAR_ROOT": str(tmp_path / "var")},
        cwd=Path(__file__).resolve().parents[1],
    )
    stderr = done.stderr.decode()  # bytes: text mode would turn each carriage return into a newline
    assert done.returncode == 0, stderr
    assert "\r" not in stderr
    progress = [line for line in stderr.split("\n") if "of the window replayed" in line]
    # A line per 10 % step or per 5 s of the run, whichever comes first (never one per event).
    most = 11 + (time.monotonic() - started) / 5
    assert 2 <= len(progress) <= most and progress[-1].startswith("NORMAL: 100% of the window replayed")


def test_the_progress_timer_fires_once_a_second_on_short_windows_and_about_a_thousand_times_on_a_day():
    from odum_pipeline.backtests.strategy import progress_interval_ns

    second = 1_000_000_000
    assert progress_interval_ns(0, 6 * 60 * second) == second
    assert progress_interval_ns(0, 1000 * second) == second
    assert progress_interval_ns(0, 1001 * second) == 2 * second
    day = 86_400 * second
    assert 950 <= day // progress_interval_ns(0, day) <= 1000  # not 86,400 timer events
