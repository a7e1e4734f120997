"""Execution algorithms (Dagster-free): the registry of ``algorithms/*.py``, the pure slicing math,
the shared NautilusTrader glue, VWAP volume profiles and subprocess validation.

- ``registry``: ``discover``, ``resolve_params``, ``load_exec_algorithms``, ``archive``, ``load_version``;
- ``slicing``: TWAP/VWAP/Iceberg/POV schedules as plain functions;
- ``schema``: the ``PARAMETERS`` format;
- ``base``: ``SlicingExecAlgorithm``, the base of the shipped algorithm files;
- ``profiles``: VWAP volume profiles from the catalog;
- ``validation``: ``validate_file`` (subprocess, timeout, smoke run from ``smoke``).
"""

from odum_pipeline.algorithms.registry import (
    NORMAL,
    AlgorithmEntry,
    AlgorithmRegistryError,
    archive,
    discover,
    load_exec_algorithms,
    load_version,
    resolve_params,
)
from odum_pipeline.algorithms.schema import AlgorithmParameterError

__all__ = [
    "NORMAL",
    "AlgorithmEntry",
    "AlgorithmParameterError",
    "AlgorithmRegistryError",
    "archive",
    "discover",
    "load_exec_algorithms",
    "load_version",
    "resolve_params",
]
