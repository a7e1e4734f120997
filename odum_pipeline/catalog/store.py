"""Day-granular, crash-safe writes into a NautilusTrader ``ParquetDataCatalog`` directory tree.

Each converted (day, data type, instrument) is one Parquet file named the way NautilusTrader
names catalog files (``<first ts_init>_<last ts_init>.parquet``). A manifest beside the files
(``.odum-days/<day>.json``: the file and its source hash) says which file holds which day, so a
day can be replaced; it cannot live in the Parquet metadata, because NautilusTrader merges the
schemas of a directory's files and refuses differing metadata. One manifest file per day keeps
conversions of different days independent (no shared file to read-modify-write).

Replacing a day is a journaled swap: new files are first written under temporary names
(which NautilusTrader's ``*.parquet`` globs ignore), then a journal listing the renames and
removals is written atomically, then applied, then deleted. :func:`recover` rolls an
interrupted swap forward, so readers never see a day twice or lose it. Temporary files without
a journal are removed only once older than a grace period: they may belong to a conversion
still running in another process.

A ``gs://`` catalog root is handled by :mod:`odum_pipeline.catalog.remote` (same layout, manifests
and journal over fsspec; see there for the atomicity GCS gives).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from nautilus_trader.persistence.catalog.parquet import _timestamps_to_filename
from nautilus_trader.persistence.catalog import ParquetDataCatalog
from nautilus_trader.persistence.funcs import class_to_filename, urisafe_identifier

from odum_pipeline.gcs import is_remote, join

MANIFEST_DIR = ".odum-days"
ORPHAN_GRACE_SECS = 600.0
JOURNAL_DIR = ".odum-journal"
ROW_GROUP_SIZE = 50_000
#: How a day file is written, locally and in GCS. Statistics only where queries prune (time):
#: min/max of 40 fixed-point columns cost a third of the write.
PARQUET_OPTIONS = {"row_group_size": ROW_GROUP_SIZE, "compression": "snappy", "write_statistics": ["ts_event", "ts_init"]}
_TMP_MARKER = ".tmp-"


def open_catalog(catalog_root: Path | str) -> ParquetDataCatalog:
    """The ``ParquetDataCatalog`` at a folder or a ``gs://`` URI."""
    if is_remote(catalog_root):
        from odum_pipeline.catalog import remote

        return remote.open_catalog(str(catalog_root))
    return ParquetDataCatalog(str(catalog_root))


def data_directory(catalog_root: Path | str, data_cls: type, instrument_id: str) -> Path | str:
    return join(catalog_root, "data", class_to_filename(data_cls), urisafe_identifier(instrument_id))


def read_manifest(directory: Path) -> dict[str, dict]:
    """day (ISO) -> {"file": name, **info} for the days converted into ``directory``."""
    if is_remote(directory):
        from odum_pipeline.catalog import remote

        return remote.read_manifest(str(directory))
    manifest_dir = Path(directory) / MANIFEST_DIR
    if not manifest_dir.is_dir():
        return {}
    return {path.stem: json.loads(path.read_text()) for path in sorted(manifest_dir.glob("*.json"))}


def days_present(directory: Path) -> set[str]:
    return set(read_manifest(directory))


def replace_day(
    catalog_root: Path, day: dt.date, tables: dict[Path, tuple[pa.Table | None, dict]]
) -> dict[Path, Path | None]:
    """Make each directory's file for ``day`` exactly ``tables[directory][0]`` (None: no file), atomically.

    ``tables[directory][1]`` is recorded in the manifest with the file. Returns the final file per directory.
    """
    if is_remote(catalog_root):
        from odum_pipeline.catalog import remote

        return remote.replace_day(str(catalog_root), day, tables)
    moves: list[tuple[str, str]] = []
    removals: list[str] = []
    finals: dict[Path, Path | None] = {}
    written = _write_tables_in_parallel(tables)
    for directory, (table, info) in tables.items():
        manifest_dir = directory / MANIFEST_DIR
        manifest_dir.mkdir(parents=True, exist_ok=True)
        day_manifest = manifest_dir / f"{day.isoformat()}.json"
        old = read_manifest(directory).get(day.isoformat())
        final = None
        if directory in written:
            final, temporary = written[directory]
            moves.append((str(temporary), str(final)))
            entry = json.dumps({"file": final.name, **info}, indent=1)
            moves.append((str(_write_temporary(manifest_dir, day_manifest.name, entry)), str(day_manifest)))
        else:
            removals.append(str(day_manifest))
        if old and old["file"] != (final.name if final else None):
            removals.append(str(directory / old["file"]))
        finals[directory] = final
    _apply(_write_journal(Path(catalog_root), {"moves": moves, "removals": removals}))
    return finals


def _write_tables_in_parallel(tables: dict[Path, tuple[pa.Table | None, dict]]) -> dict[Path, tuple[Path, Path]]:
    """Each non-empty table to a temporary file beside its final name: directory -> (final, temporary)."""

    def write(directory: Path, table: pa.Table) -> tuple[Path, Path]:
        directory.mkdir(parents=True, exist_ok=True)
        ts_init = table.column("ts_init")
        final = directory / _timestamps_to_filename(ts_init[0].as_py(), ts_init[-1].as_py())
        return final, _write_temporary(directory, final.name, table)

    jobs = {directory: table for directory, (table, _) in tables.items() if table is not None and table.num_rows}
    with ThreadPoolExecutor(max_workers=max(1, len(jobs))) as pool:  # Parquet writers release the GIL
        futures = {directory: pool.submit(write, directory, table) for directory, table in jobs.items()}
        return {directory: future.result() for directory, future in futures.items()}


def recover(catalog_root: Path, orphan_grace_secs: float = ORPHAN_GRACE_SECS) -> int:
    """Finish any interrupted swap and drop stale orphaned temporary files; returns swaps rolled forward."""
    if is_remote(catalog_root):
        from odum_pipeline.catalog import remote

        return remote.recover(str(catalog_root), orphan_grace_secs)
    journal_dir = Path(catalog_root) / JOURNAL_DIR
    journals = sorted(journal_dir.glob("*.json")) if journal_dir.is_dir() else []
    for journal in journals:
        _apply(journal)
    data_root = Path(catalog_root) / "data"
    if data_root.is_dir():
        cutoff = time.time() - orphan_grace_secs
        for orphan in data_root.glob(f"**/.*{_TMP_MARKER}*"):
            with contextlib.suppress(FileNotFoundError):
                if orphan.stat().st_mtime <= cutoff:
                    orphan.unlink()
    return len(journals)


def _write_temporary(directory: Path, final_name: str, content: pa.Table | str) -> Path:
    temporary = directory / f".{final_name}{_TMP_MARKER}{uuid.uuid4().hex}"
    if isinstance(content, str):
        temporary.write_text(content)
    else:
        pq.write_table(content, temporary, **PARQUET_OPTIONS)
    with open(temporary, "rb") as handle:
        os.fsync(handle.fileno())
    return temporary


def _write_journal(catalog_root: Path, plan: dict) -> Path:
    journal_dir = catalog_root / JOURNAL_DIR
    journal_dir.mkdir(parents=True, exist_ok=True)
    journal = journal_dir / f"{uuid.uuid4().hex}.json"
    staging = journal.with_suffix(".json.partial")
    staging.write_text(json.dumps(plan))
    with open(staging, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(staging, journal)
    return journal


def _apply(journal: Path) -> None:
    """Idempotent: every step can be repeated after a crash."""
    try:
        plan = json.loads(journal.read_text())
    except FileNotFoundError:  # applied and removed meanwhile by another process
        return
    for temporary, final in plan["moves"]:
        if os.path.exists(temporary):
            os.replace(temporary, final)
    for old in plan["removals"]:
        Path(old).unlink(missing_ok=True)
    journal.unlink(missing_ok=True)  # another process may have finished the same journal
