"""Saving an execution algorithm from its source text, as ``odum algorithms save`` does. No Dagster.

``save_algorithm_source(root, name, source)``: the source is validated in a subprocess
(``validation.validate_file``: parse, schema, import, classes, smoke run) from a temporary file;
a failure raises ``AlgorithmSaveError`` with the validator's messages and writes nothing. Then it
is installed as the algorithm's file in ``root`` (the existing file of that name, else
``<name>.py``); the version it replaces is kept in the content-addressed store and in
``<root>/.history/<name>/<UTC timestamp>_<version>.py``; the new version is archived too.
Identical source writes nothing.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from dataclasses import dataclass
from pathlib import Path

from odum_pipeline.algorithms import registry
from odum_pipeline.algorithms.validation import DEFAULT_TIMEOUT_SECS, ValidationReport, validate_file
from odum_pipeline.errors import OdumError
from odum_pipeline.files import HISTORY_DIR, atomic_write, keep_previous


class AlgorithmSaveError(OdumError, ValueError):
    """The source was not saved; the message says why (validation errors, wrong name)."""

    def __init__(self, message: str, report: ValidationReport | None = None) -> None:
        super().__init__(message)
        self.report = report


@dataclass(frozen=True)
class SavedAlgorithm:
    name: str
    path: Path
    version: str
    changed: bool
    report: ValidationReport
    previous_version: str | None = None
    history_path: Path | None = None
    stored_path: Path | None = None


def save_algorithm_source(
    root: str | Path,
    name: str,
    source: str | bytes,
    *,
    var_root: str | Path | None = None,
    timeout_secs: float = DEFAULT_TIMEOUT_SECS,
    now: dt.datetime | None = None,
) -> SavedAlgorithm:
    name = name.strip().upper()
    if name == registry.NORMAL:
        raise AlgorithmSaveError("NORMAL is built in and cannot be replaced")
    if not name.replace("_", "").isalnum():
        raise AlgorithmSaveError(f"name: {name!r} must be letters, digits and '_'")
    new_bytes = source.encode("utf-8") if isinstance(source, str) else source
    with tempfile.TemporaryDirectory(prefix="odum-save-") as tmp:
        candidate = Path(tmp) / f"{name.lower()}.py"
        candidate.write_bytes(new_bytes)
        report = validate_file(candidate, timeout_secs=timeout_secs)
    if not report.ok:
        raise AlgorithmSaveError(
            f"{name}: not saved, validation failed at stage '{report.stage}':\n"
            + "\n".join(f"  - {error}" for error in report.errors),
            report,
        )
    if report.name != name:
        raise AlgorithmSaveError(
            f"{name}: not saved, the source declares algorithm {report.name} (its ExecAlgorithm id must be the name)",
            report,
        )
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    existing = registry.discover(root).get(name)
    target = existing.path if existing is not None and existing.path is not None else root / f"{name.lower()}.py"
    previous_version = history_path = None
    if existing is not None and existing.path is not None:
        if existing.path.read_bytes() == new_bytes:
            return SavedAlgorithm(name, target, existing.version, False, report, existing.version)
        registry.archive(existing, var_root=var_root)
        history_path = keep_previous(existing.path, root / HISTORY_DIR / name.lower(), existing.version, now=now)
        previous_version = existing.version
    atomic_write(target, new_bytes)
    entry = registry.read_entry(target)
    stored = registry.archive(entry, var_root=var_root)
    return SavedAlgorithm(name, target, entry.version, True, report, previous_version, history_path, stored)
