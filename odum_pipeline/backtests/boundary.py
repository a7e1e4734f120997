"""The errors the boundaries report as one line: the command line (exit code 2) and the Dagster assets
and jobs (a ``Failure``). Everything else is a bug and keeps its traceback."""

from __future__ import annotations

from odum_pipeline.errors import OdumError

#: Every domain error derives from ``OdumError``.
DOMAIN_ERRORS: tuple[type[Exception], ...] = (OdumError,)

#: A path the user named that is missing or not readable: also one line.
USER_ERRORS: tuple[type[Exception], ...] = (*DOMAIN_ERRORS, FileNotFoundError, PermissionError)
