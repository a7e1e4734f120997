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

Writers and recovery hold the catalog's lock (:func:`catalog_lock`: ``flock`` on ``.odum-lock``
locally, a generation-precondition object in GCS) from reading the manifests to applying the
journal, so two conversions of the same day cannot both land: the second plans against the
first's manifest and replaces its file. Reading, checking and encoding, and writing the
temporaries, happen outside the lock. Under the lock, recovery also removes any ``*.parquet``
file no manifest names (a "stray", e.g. left by a conversion from before the lock), so a reader
never replays a day twice; readers call :func:`prepare_for_reading` first. A journal is applied
only when every path it lists is inside the catalog's ``data/`` folder; a damaged one, or one
pointing elsewhere, is moved to ``.odum-journal/refused/`` and reported. A damaged manifest
blocks its own day only (``CatalogError`` naming it), until the day is converted again.

A ``gs://`` catalog root is handled by :mod:`odum_pipeline.catalog.remote` (same layout, manifests
and journal over fsspec; see there for the atomicity GCS gives).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import logging
import os
import posixpath
import time
import uuid
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from nautilus_trader.persistence.catalog.parquet import _timestamps_to_filename
from nautilus_trader.persistence.catalog import ParquetDataCatalog
from nautilus_trader.persistence.funcs import class_to_filename, urisafe_identifier

from odum_pipeline.gcs import is_remote, join

log = logging.getLogger(__name__)

MANIFEST_DIR = ".odum-days"
ORPHAN_GRACE_SECS = 600.0
JOURNAL_DIR = ".odum-journal"
REFUSED_DIR = "refused"
LOCK_NAME = ".odum-lock"
ROW_GROUP_SIZE = 50_000
#: How a day file is written, locally and in GCS. Statistics only where queries prune (time):
#: min/max of 40 fixed-point columns cost a third of the write.
PARQUET_OPTIONS = {"row_group_size": ROW_GROUP_SIZE, "compression": "snappy", "write_statistics": ["ts_event", "ts_init"]}
_TMP_MARKER = ".tmp-"


class CatalogError(ValueError):
    """A catalog problem that stops one day or one write; the message is one line naming the path."""


def open_catalog(catalog_root: Path | str) -> ParquetDataCatalog:
    """The ``ParquetDataCatalog`` at a folder or a ``gs://`` URI."""
    if is_remote(catalog_root):
        from odum_pipeline.catalog import remote

        return remote.open_catalog(str(catalog_root))
    return ParquetDataCatalog(str(catalog_root))


def data_directory(catalog_root: Path | str, data_cls: type, instrument_id: str) -> Path | str:
    return join(catalog_root, "data", class_to_filename(data_cls), urisafe_identifier(instrument_id))


# --- manifests -----------------------------------------------------------------------------------


@dataclass
class Manifests:
    """The manifests of one data directory: good entries, and the days whose manifest is damaged."""

    entries: dict[str, dict] = field(default_factory=dict)  # day (ISO) -> {"file": name, **info}
    damaged: dict[str, str] = field(default_factory=dict)  # day (ISO) -> one-line problem naming the file
    #: The directory has a manifest folder: this store writes it (an instrument's folder has none).
    managed: bool = False

    def strays(self, parquet_names: Iterable[str]) -> list[str]:
        """Day files no manifest names (none are judged while a manifest is damaged: it may name them)."""
        if self.damaged or not self.managed:
            return []
        named = {entry["file"] for entry in self.entries.values()}
        return sorted(name for name in parquet_names if name not in named)


def parse_manifest(label: str, content: bytes | str) -> dict:
    """One day's manifest entry, or CatalogError naming ``label``."""
    try:
        entry = json.loads(content)
    except (ValueError, UnicodeDecodeError):
        raise CatalogError(f"{label}: damaged catalog manifest (not valid JSON); convert its day again to repair it") from None
    name = entry.get("file") if isinstance(entry, dict) else None
    if not isinstance(name, str) or "/" in name or not name.endswith(".parquet"):
        raise CatalogError(f"{label}: damaged catalog manifest (no day file name); convert its day again to repair it")
    return entry


def load_manifests(directory: Path | str) -> Manifests:
    if is_remote(directory):
        from odum_pipeline.catalog import remote

        return remote.load_manifests(str(directory))
    manifest_dir = Path(directory) / MANIFEST_DIR
    manifests = Manifests(managed=manifest_dir.is_dir())
    if not manifests.managed:
        return manifests
    for path in sorted(manifest_dir.glob("*.json")):
        try:
            manifests.entries[path.stem] = parse_manifest(str(path), path.read_bytes())
        except CatalogError as error:
            manifests.damaged[path.stem] = str(error)
    return manifests


def read_manifest(directory: Path | str) -> dict[str, dict]:
    """day (ISO) -> {"file": name, **info} for the days converted into ``directory`` (damaged ones left out)."""
    return load_manifests(directory).entries


def days_present(directory: Path | str) -> set[str]:
    return set(read_manifest(directory))


# --- journals ------------------------------------------------------------------------------------


def checked_plan(journal: str, catalog_root: str, content: bytes | str) -> dict:
    """A journal's plan when every path in it is a catalog day file or manifest; else CatalogError."""
    try:
        plan = json.loads(content)
    except (ValueError, UnicodeDecodeError):
        raise CatalogError(f"{journal}: damaged catalog journal (not valid JSON); refused, not applied") from None
    if not (
        isinstance(plan, dict)
        and isinstance(plan.get("moves"), list)
        and isinstance(plan.get("removals"), list)
        and all(isinstance(m, list) and len(m) == 2 for m in plan["moves"])
    ):
        raise CatalogError(f"{journal}: damaged catalog journal (no moves/removals lists); refused, not applied")
    data_root = posixpath.join(str(catalog_root).rstrip("/"), "data") + "/"
    for path in [p for move in plan["moves"] for p in move] + plan["removals"]:
        if not isinstance(path, str) or not _catalog_file(path, data_root):
            raise CatalogError(f"{journal}: lists {path!r}, outside the catalog's data files; refused, not applied")
    for temporary, final in plan["moves"]:
        if posixpath.dirname(temporary) != posixpath.dirname(final) or _TMP_MARKER not in posixpath.basename(temporary):
            raise CatalogError(f"{journal}: moves {temporary!r}, not a temporary beside {final!r}; refused, not applied")
    return plan


def _catalog_file(path: str, data_root: str) -> bool:
    """A day file or a manifest (or a temporary of one) under ``data_root``, after resolving ``..``."""
    scheme, _, rest = path.rpartition("://")
    normal = (f"{scheme}://" if scheme else "") + posixpath.normpath(rest)
    if normal != path or not normal.startswith(data_root):
        return False
    name = posixpath.basename(normal)
    in_manifests = posixpath.basename(posixpath.dirname(normal)) == MANIFEST_DIR
    return (name.endswith(".parquet") or name.startswith(".") and ".parquet" + _TMP_MARKER in name) or (
        in_manifests and (name.endswith(".json") or ".json" + _TMP_MARKER in name)
    )


# --- the lock ------------------------------------------------------------------------------------


def check_root(catalog_root: Path | str) -> Path | str:
    """A local catalog root must be a folder (or not exist yet); a gs:// one's bucket must exist."""
    if is_remote(catalog_root):
        from odum_pipeline.gcs import check_remote_root

        check_remote_root(str(catalog_root))
        return catalog_root
    root = Path(catalog_root)
    if root.exists() and not root.is_dir():
        raise CatalogError(f"{root}: the catalog root is a file, not a folder")
    return root


@contextlib.contextmanager
def catalog_lock(catalog_root: Path | str) -> Iterator[None]:
    """Exclusive, across processes and threads: ``flock`` locally, a precondition object in GCS."""
    if is_remote(catalog_root):
        from odum_pipeline.catalog import remote

        with remote.catalog_lock(str(catalog_root)):
            yield
        return
    root = check_root(catalog_root)
    root.mkdir(parents=True, exist_ok=True)
    with open(root / LOCK_NAME, "a") as handle:  # flock: per open file, released when the process dies
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


# --- writing a day -------------------------------------------------------------------------------


def replace_day(
    catalog_root: Path, day: dt.date, tables: dict[Path, tuple[pa.Table | None, dict]]
) -> dict[Path, Path | None]:
    """Make each directory's file for ``day`` exactly ``tables[directory][0]`` (None: no file), atomically.

    ``tables[directory][1]`` is recorded in the manifest with the file. Returns the final file per directory.
    A failure before the journal is written removes the temporaries it wrote.
    """
    if is_remote(catalog_root):
        from odum_pipeline.catalog import remote

        return remote.replace_day(str(catalog_root), day, tables)
    written = _write_tables_in_parallel(tables)
    temporaries = [temporary for _, temporary in written.values()]
    journal = None
    try:
        with catalog_lock(catalog_root):
            _recover_locked(Path(catalog_root), ORPHAN_GRACE_SECS)
            moves, removals, finals = _plan(day, tables, written, temporaries)
            journal = _write_journal(Path(catalog_root), {"moves": moves, "removals": removals})
            _apply(journal)
            for directory in tables:  # a day whose manifest was damaged left its old file unnamed
                _remove_strays(Path(directory))
    except Exception:
        if journal is None:
            for temporary in temporaries:
                Path(temporary).unlink(missing_ok=True)
        raise
    return finals


def _plan(day: dt.date, tables: dict, written: dict, temporaries: list) -> tuple[list, list, dict]:
    """The moves and removals that make ``day`` the new files, against the manifests as they are now."""
    moves: list[tuple[str, str]] = []
    removals: list[str] = []
    finals: dict[Path, Path | None] = {}
    for directory, (_, info) in tables.items():
        manifest_dir = directory / MANIFEST_DIR
        manifest_dir.mkdir(parents=True, exist_ok=True)
        day_manifest = manifest_dir / f"{day.isoformat()}.json"
        old = read_manifest(directory).get(day.isoformat())
        final = None
        if directory in written:
            final, temporary = written[directory]
            moves.append((str(temporary), str(final)))
            entry = json.dumps({"file": final.name, **info}, indent=1)
            manifest_temporary = _write_temporary(manifest_dir, day_manifest.name, entry)
            temporaries.append(manifest_temporary)
            moves.append((str(manifest_temporary), str(day_manifest)))
        else:
            removals.append(str(day_manifest))
        if old and old["file"] != (final.name if final else None):
            removals.append(str(directory / old["file"]))
        finals[directory] = final
    return moves, removals, finals


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
    written = {directory: future.result() for directory, future in futures.items() if not future.exception()}
    failed = [future.exception() for future in futures.values() if future.exception()]
    if failed:
        for _, temporary in written.values():
            temporary.unlink(missing_ok=True)
        raise failed[0]
    return written


def _write_temporary(directory: Path, final_name: str, content: pa.Table | str) -> Path:
    temporary = directory / f".{final_name}{_TMP_MARKER}{uuid.uuid4().hex}"
    try:
        if isinstance(content, str):
            temporary.write_text(content)
        else:
            pq.write_table(content, temporary, **PARQUET_OPTIONS)
        with open(temporary, "rb") as handle:
            os.fsync(handle.fileno())
    except OSError as error:  # a full disk, a read-only catalog: nothing day-sized is left behind
        temporary.unlink(missing_ok=True)
        reason = error.strerror or str(error)
        raise CatalogError(f"{directory}: cannot write {final_name} ({reason}); the catalog was left as it was") from None
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
    """Idempotent: every step can be repeated after a crash. Only a plan inside its catalog acts."""
    try:
        content = journal.read_bytes()
    except FileNotFoundError:  # applied and removed meanwhile
        return
    try:
        plan = checked_plan(str(journal), str(journal.parent.parent), content)
    except CatalogError as error:
        _refuse(journal, error)
        return
    for temporary, final in plan["moves"]:
        if os.path.exists(temporary):
            os.replace(temporary, final)
    for old in plan["removals"]:
        Path(old).unlink(missing_ok=True)
    journal.unlink(missing_ok=True)


def _refuse(journal: Path, error: CatalogError) -> None:
    refused = journal.parent / REFUSED_DIR
    refused.mkdir(exist_ok=True)
    os.replace(journal, refused / journal.name)
    log.warning("%s (moved to %s)", error, refused / journal.name)


# --- recovery and reading ------------------------------------------------------------------------


def recover(catalog_root: Path, orphan_grace_secs: float = ORPHAN_GRACE_SECS) -> int:
    """Under the lock: finish interrupted swaps, drop stale temporaries and stray day files.

    Returns the swaps rolled forward (refused journals are reported, not counted)."""
    if is_remote(catalog_root):
        from odum_pipeline.catalog import remote

        return remote.recover(str(catalog_root), orphan_grace_secs)
    with catalog_lock(catalog_root):
        return _recover_locked(Path(catalog_root), orphan_grace_secs)


def _recover_locked(root: Path, orphan_grace_secs: float) -> int:
    applied = 0
    for journal in _journals(root):
        try:
            checked_plan(str(journal), str(root), journal.read_bytes())
        except CatalogError as error:
            _refuse(journal, error)
            continue
        _apply(journal)
        applied += 1
    cutoff = time.time() - orphan_grace_secs
    data_root = root / "data"
    for orphan in data_root.glob(f"**/.*{_TMP_MARKER}*") if data_root.is_dir() else []:
        with contextlib.suppress(FileNotFoundError):
            if orphan.stat().st_mtime <= cutoff:
                orphan.unlink()
    for directory in _data_directories(root):
        _remove_strays(directory)
    return applied


def _remove_strays(directory: Path) -> None:
    for name in load_manifests(directory).strays(p.name for p in directory.glob("*.parquet")):
        log.warning("%s: stray day file no manifest names (a duplicate of a day); removed", directory / name)
        (directory / name).unlink(missing_ok=True)


def _journals(root: Path) -> list[Path]:
    journal_dir = root / JOURNAL_DIR
    return sorted(journal_dir.glob("*.json")) if journal_dir.is_dir() else []


def _data_directories(root: Path) -> list[Path]:
    """``data/<class>/<instrument>/`` folders this store writes (they hold a manifest folder)."""
    data_root = root / "data"
    return sorted(p.parent for p in data_root.glob(f"*/*/{MANIFEST_DIR}")) if data_root.is_dir() else []


def prepare_for_reading(catalog_root: Path | str, directories: list, days: Iterable[dt.date]) -> None:
    """Before a reader looks: recover when a swap is pending or a stray file is there; refuse a damaged day.

    Raises CatalogError (one line naming the manifest or file) for a day in ``days`` that cannot
    be read as exactly one version; other days are unaffected."""
    if is_remote(catalog_root):
        from odum_pipeline.catalog import remote

        needs_recovery = remote.needs_recovery(str(catalog_root), directories)
    else:
        needs_recovery = bool(_journals(Path(catalog_root))) or any(
            load_manifests(d).strays(p.name for p in Path(d).glob("*.parquet")) for d in directories
        )
    if needs_recovery:
        recover(catalog_root)
    wanted = {day.isoformat() for day in days}
    for directory in directories:
        damaged = load_manifests(directory).damaged
        for day in sorted(wanted & set(damaged)):
            raise CatalogError(damaged[day])
