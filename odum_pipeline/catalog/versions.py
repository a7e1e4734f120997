"""The data version of one (day, instrument) of raw ticks: a hash of its files' content versions.

Shared by the ``raw_ticks`` observation and ``raw_files_sensor`` (which asks whether the catalog
partition was already converted from exactly these files)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from odum_pipeline.catalog.layout import RawFile


def raw_cell_version(source, files: Iterable[RawFile]) -> str:
    """SHA-256 over each file's data type and content version (local: content hash; GCS: generation + md5)."""
    digest = hashlib.sha256()
    for raw_file in sorted(files):
        digest.update(f"{raw_file.data_type}:{source.version(raw_file)}\n".encode())
    return digest.hexdigest()[:24]
