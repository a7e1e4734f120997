"""The errors the boundaries report as one line: the command line (exit code 2) and the Dagster assets
and jobs (a ``Failure``). Everything else is a bug and keeps its traceback."""

from __future__ import annotations

from odum_pipeline.backtests.algorithm_store import AlgorithmSaveError
from odum_pipeline.backtests.results import ResultsWriteError
from odum_pipeline.catalog.store import CatalogError
from odum_pipeline.errors import OdumError

#: Every domain error derives from ``OdumError``, except three in modules reworked on another branch
#: (issue 14, items 1 and 3: the store over fsspec, the results layout, the algorithm store's move).
#: Once they derive from ``OdumError`` too, this is ``(OdumError,)``.
DOMAIN_ERRORS: tuple[type[Exception], ...] = (OdumError, CatalogError, ResultsWriteError, AlgorithmSaveError)

#: A path the user named that is missing or not readable: also one line.
USER_ERRORS: tuple[type[Exception], ...] = (*DOMAIN_ERRORS, FileNotFoundError, PermissionError)
