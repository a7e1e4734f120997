"""The versions of one (day, instrument) of raw ticks: a cheap signature and a content version.

- signature: each file's size + mtime (GCS: size, generation, md5), what the sensor's cursor holds;
- content version: a hash of each file's content version (local: SHA-256 of the bytes; GCS:
  generation + md5), the ``raw_ticks`` data version.

``tick_catalog`` records both in its metadata, so ``raw_files_sensor`` can tell, without a cursor,
that a cell was already converted from these very files: same signature (a stat per file), or, for
a file touched or re-delivered with the same bytes, same content version."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from odum_pipeline.catalog.layout import RawFile


def raw_cell_signature(source, files: Iterable[RawFile]) -> str:
    return ";".join(sorted(source.signature(f) for f in files))


def raw_cell_version(source, files: Iterable[RawFile]) -> str:
    """SHA-256 over each file's data type and content version."""
    digest = hashlib.sha256()
    for raw_file in sorted(files):
        digest.update(f"{raw_file.data_type}:{source.version(raw_file)}\n".encode())
    return digest.hexdigest()[:24]
