"""The gate between algorithm files and backtests: only a version that validated may run.

Validation (parse, import, one ExecAlgorithm, parameter schema, smoke run) happens in a
subprocess and takes seconds, so its verdict is cached per source hash under the algorithm
store: editing a file means a new hash, hence a fresh validation. A validator that died or timed
out (``complete=False``, already retried once by ``validate_file``) is no verdict on the code: it
is never cached, and the run stops with "validation could not complete". ``odum algorithms test``
replaces the cached verdict with its own (``record_verdict``).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from odum_pipeline.algorithms.registry import AlgorithmEntry, AlgorithmRegistryError, archive, store_root
from odum_pipeline.algorithms.validation import ValidationReport, validate_file
from odum_pipeline.files import atomic_write


class InvalidAlgorithmError(AlgorithmRegistryError):
    """The algorithm's current source failed validation: backtests may not use it."""


def _verdict_path(entry: AlgorithmEntry, var_root: Path) -> Path:
    return store_root(var_root) / "validation" / f"{entry.source_sha256}.json"


def validation_verdict(entry: AlgorithmEntry, *, var_root: Path) -> ValidationReport:
    """The (cached) validation report of this exact source; built-ins are always valid."""
    if entry.is_builtin:
        return ValidationReport(ok=True, errors=[], name=entry.name)
    cached = _verdict_path(entry, var_root)
    if cached.is_file():
        return ValidationReport(**json.loads(cached.read_text()))
    report = validate_file(entry.path)
    record_verdict(entry, report, var_root=var_root)
    return report


def record_verdict(entry: AlgorithmEntry, report: ValidationReport, *, var_root: Path) -> bool:
    """Cache ``report`` as the verdict on this exact source (default parameters); False if it is none."""
    if entry.is_builtin or not report.complete or report.source_sha256 != entry.source_sha256:
        return False
    cached = _verdict_path(entry, var_root)
    atomic_write(cached, json.dumps(asdict(report), default=str))
    return True


def ensure_runnable(entry: AlgorithmEntry, *, var_root: Path) -> None:
    """Raise unless this version validated; archive it, so every version that ran is kept."""
    report = validation_verdict(entry, var_root=var_root)
    if not report.complete:
        raise InvalidAlgorithmError(
            f"algorithm {entry.name} ({entry.path}, version {entry.version}): validation could not complete "
            f"after {report.attempts} attempt(s): {'; '.join(report.errors)}"
        )
    if not report.ok:
        problems = "; ".join(report.errors) or f"failed at stage {report.stage!r}"
        raise InvalidAlgorithmError(
            f"algorithm {entry.name} ({entry.path}, version {entry.version}) failed validation: {problems}"
        )
    if not entry.is_builtin:
        archive(entry, var_root=var_root)
