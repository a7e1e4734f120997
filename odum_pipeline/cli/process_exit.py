"""Ending a command's process once its work is done and written."""

from __future__ import annotations

import logging
import os
import sys
from typing import NoReturn


def exit_without_teardown(status: int | None) -> NoReturn:
    """Flush the output and end the process with ``status``, skipping the interpreter's teardown.

    pyarrow's reads through fsspec (``gs://`` roots) run on pyarrow's own IO threads, which call into
    Python; one still winding down at teardown aborts the process ("terminate called without an
    active exception", SIGABRT) after every result was written (apache/arrow#34314, #39162). By the
    time a command returns, its files are closed and its engine disposed, so the teardown has
    nothing left to save and the exit status stays the command's own.
    """
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing left to deliver
            pass
    os._exit(0 if status is None else int(status))
