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

Everything here runs once over an fsspec filesystem, a local folder or a ``gs://`` prefix
(:func:`odum_pipeline.files.files_for`, picked once per call from the root). The backends differ
only in how a temporary is published under its final name and how the lock is held: locally
``os.replace`` after an fsync, atomic for readers; in GCS a server-side copy (the object appears
whole) and a delete. GCS has no multi-object rename, so a reader listing a directory *during*
the apply step can, for a moment, see the old and the new file of the day together (when their
names differ); a desk that needs strict isolation in GCS should not backtest a day while it is
being re-converted (Dagster does not: the backtest depends on the materialized catalog partition).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import posixpath
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq
from nautilus_trader.persistence.catalog import ParquetDataCatalog
from nautilus_trader.persistence.catalog.parquet import _timestamps_to_filename
from nautilus_trader.persistence.funcs import class_to_filename, urisafe_identifier

from odum_pipeline.catalog import remote
from odum_pipeline.errors import OdumError
from odum_pipeline.files import Files, files_for
from odum_pipeline.gcs import is_remote, join, location

log = logging.getLogger(__name__)

MANIFEST_DIR = ".odum-days"
ORPHAN_GRACE_SECS = 600.0
JOURNAL_DIR = ".odum-journal"
REFUSED_DIR = "refused"
LOCK_NAME = ".odum-lock"
#: Small enough that a reader wanting a few seconds of a day (an active replay restarting, a level
#: index's partial row group) decodes little more than that: 5,000 snapshots are 2-5 minutes of a
#: liquid instrument. Larger groups barely compress better (the day's depth file: 8 % smaller at 50,000).
ROW_GROUP_SIZE = 5_000
#: How a day file is written, locally and in GCS. Statistics only where queries prune (time):
#: min/max of 40 fixed-point columns cost a third of the write.
PARQUET_OPTIONS = {"row_group_size": ROW_GROUP_SIZE, "compression": "snappy", "write_statistics": ["ts_event", "ts_init"]}
_TMP_MARKER = ".tmp-"
INDEX_DIR = ".odum-index"
#: Not ``.parquet``: NautilusTrader's catalog globs a data directory's Parquet files recursively.
INDEX_SUFFIX = ".index"
#: Builds a day table's index (bytes, None: no index) from the table and the row group size it is written with.
IndexBuilder = Callable[[pa.Table, int], bytes | None]


def index_path(data_file: str) -> str:
    """Where the index of a day file lives: ``INDEX_DIR/<its name>.index`` in its directory."""
    directory, name = posixpath.split(data_file)
    return f"{directory}/{INDEX_DIR}/{name}{INDEX_SUFFIX}"


class CatalogError(OdumError, ValueError):
    """A catalog problem that stops one day or one write; the message is one line naming the path."""


def open_catalog(catalog_root: Path | str) -> ParquetDataCatalog:
    """The ``ParquetDataCatalog`` at a folder or a ``gs://`` URI."""
    if is_remote(catalog_root):
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
    files = files_for(directory)
    return _load_manifests(files, files.path(directory))


def _load_manifests(files: Files, directory: str) -> Manifests:
    names = _listing(files, f"{directory}/{MANIFEST_DIR}")
    if names is None:
        return Manifests()
    manifests = Manifests(managed=True)
    for name in sorted(n for n in names if n.endswith(".json")):
        try:
            manifests.entries[posixpath.basename(name)[: -len(".json")]] = parse_manifest(name, files.fs.cat_file(name))
        except CatalogError as error:
            manifests.damaged[posixpath.basename(name)[: -len(".json")]] = str(error)
    return manifests


def read_manifest(directory: Path | str) -> dict[str, dict]:
    """day (ISO) -> {"file": name, **info} for the days converted into ``directory`` (damaged ones left out)."""
    return load_manifests(directory).entries


def days_present(directory: Path | str) -> set[str]:
    return set(read_manifest(directory))


def _listing(files: Files, directory: str) -> list[str] | None:
    """The locations in ``directory`` (None: it does not exist)."""
    try:
        return [files.full(name) for name in files.fs.ls(directory, detail=False, refresh=True)]
    except FileNotFoundError:
        return None


def _day_files(files: Files, directory: str) -> list[str]:
    return [posixpath.basename(name) for name in _listing(files, directory) or [] if name.endswith(".parquet")]


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
    """A day file, a manifest or a day file's index (or a temporary of one) under ``data_root``, after
    resolving ``..``."""
    scheme, _, rest = path.rpartition("://")
    normal = (f"{scheme}://" if scheme else "") + posixpath.normpath(rest)
    if normal != path or not normal.startswith(data_root):
        return False
    name = posixpath.basename(normal)
    folder = posixpath.basename(posixpath.dirname(normal))
    in_manifests, in_indexes = folder == MANIFEST_DIR, folder == INDEX_DIR
    return (
        (name.endswith(".parquet") and not in_indexes)
        or (name.startswith(".") and ".parquet" + _TMP_MARKER in name)
        or (in_manifests and (name.endswith(".json") or ".json" + _TMP_MARKER in name))
        or (in_indexes and (name.endswith(INDEX_SUFFIX) or INDEX_SUFFIX + _TMP_MARKER in name))
    )


# --- the lock ------------------------------------------------------------------------------------


def check_root(catalog_root: Path | str) -> Path | str:
    """A local catalog root must be a folder (or not exist yet); a gs:// one's bucket must exist."""
    files = files_for(catalog_root)
    try:
        files.check_root(files.path(catalog_root))
    except NotADirectoryError:
        raise CatalogError(f"{catalog_root}: the catalog root is a file, not a folder") from None
    return location(catalog_root)


@contextlib.contextmanager
def catalog_lock(catalog_root: Path | str) -> Iterator[None]:
    """Exclusive, across processes and threads: ``flock`` locally, a precondition object in GCS."""
    check_root(catalog_root)
    files = files_for(catalog_root)
    with files.lock(f"{files.path(catalog_root)}/{LOCK_NAME}"):
        yield


# --- writing a day -------------------------------------------------------------------------------


def replace_day(
    catalog_root: Path | str,
    day: dt.date,
    tables: dict[Path | str, tuple[pa.Table | None, dict]],
    indexes: dict[Path | str, IndexBuilder] | None = None,
) -> dict[Path | str, Path | str | None]:
    """Make each directory's file for ``day`` exactly ``tables[directory][0]`` (None: no file), atomically.

    ``tables[directory][1]`` is recorded in the manifest with the file; ``indexes[directory]`` (optional)
    builds an index of the table, written beside the file as ``INDEX_DIR/<file name>`` and replaced with
    it (``catalog.depth_index``). Returns the final file per directory.
    A failure before the journal is written removes the temporaries it wrote.
    """
    files = files_for(catalog_root)
    root = files.path(catalog_root)
    keys = {files.path(directory): directory for directory in tables}
    tables = {files.path(directory): value for directory, value in tables.items()}
    indexes = {files.path(directory): build for directory, build in (indexes or {}).items()}
    written = _write_tables_in_parallel(files, tables, indexes)
    temporaries = [temporary for _, temporary, index in written.values() for temporary in (temporary, index) if temporary]
    journal = None
    try:
        with catalog_lock(catalog_root):
            _recover_locked(files, root, ORPHAN_GRACE_SECS)
            moves, removals, finals = _plan(files, day, tables, indexes, written, temporaries)
            journal = _write_journal(files, root, {"moves": moves, "removals": removals})
            _apply(files, journal)
            for directory in tables:  # a day whose manifest was damaged left its old file unnamed
                _remove_strays(files, directory)
    except Exception:
        if journal is None:
            for temporary in temporaries:
                _remove(files, temporary)
        raise
    return {keys[directory]: location(final) if final else None for directory, final in finals.items()}


def _plan(
    files: Files, day: dt.date, tables: dict, indexes: dict, written: dict, temporaries: list
) -> tuple[list, list, dict]:
    """The moves and removals that make ``day`` the new files, against the manifests as they are now."""
    moves: list[tuple[str, str]] = []
    removals: list[str] = []
    finals: dict[str, str | None] = {}
    for directory, (_, info) in tables.items():
        day_manifest = f"{directory}/{MANIFEST_DIR}/{day.isoformat()}.json"
        old = _load_manifests(files, directory).entries.get(day.isoformat())
        final = None
        if directory in written:
            final, temporary, index = written[directory]
            moves.append((temporary, final))
            if index:
                moves.append((index, index_path(final)))
            entry = json.dumps({"file": posixpath.basename(final), **info}, indent=1)
            temporaries.append(_write_temporary(files, day_manifest, entry))
            moves.append((temporaries[-1], day_manifest))
        else:
            removals.append(day_manifest)
        if old and old["file"] != (posixpath.basename(final) if final else None):
            removals.append(f"{directory}/{old['file']}")
            if directory in indexes:
                removals.append(index_path(f"{directory}/{old['file']}"))
        elif old and final and directory in indexes and not written[directory][2]:  # same name, no index now
            removals.append(index_path(final))
        finals[directory] = final
    return moves, removals, finals


def _write_tables_in_parallel(
    files: Files, tables: dict[str, tuple[pa.Table | None, dict]], indexes: dict[str, IndexBuilder]
) -> dict[str, tuple[str, str, str | None]]:
    """Each non-empty table to a temporary file beside its final name, and its index (if it has one)
    beside the index's: directory -> (final, temporary, index temporary or None)."""

    def write(directory: str, table: pa.Table) -> tuple[str, str, str | None]:
        ts_init = table.column("ts_init")
        final = f"{directory}/{_timestamps_to_filename(ts_init[0].as_py(), ts_init[-1].as_py())}"
        temporary = _write_temporary(files, final, table)
        try:
            index = indexes[directory](table, PARQUET_OPTIONS["row_group_size"]) if directory in indexes else None
            return final, temporary, _write_temporary(files, index_path(final), index) if index else None
        except BaseException:
            _remove(files, temporary)
            raise

    jobs = {directory: table for directory, (table, _) in tables.items() if table is not None and table.num_rows}
    with ThreadPoolExecutor(max_workers=max(1, len(jobs))) as pool:  # Parquet writers release the GIL
        futures = {directory: pool.submit(write, directory, table) for directory, table in jobs.items()}
    written = {directory: future.result() for directory, future in futures.items() if not future.exception()}
    failed = [future.exception() for future in futures.values() if future.exception()]
    if failed:
        for temporaries in written.values():
            for temporary in temporaries[1:]:
                if temporary:
                    _remove(files, temporary)
        raise failed[0]
    return written


def _write_temporary(files: Files, final: str, content: pa.Table | str | bytes) -> str:
    """``content`` under a dot-named temporary beside ``final`` (which ``*.parquet`` globs ignore)."""
    directory, final_name = posixpath.split(final)
    temporary = f"{directory}/.{final_name}{_TMP_MARKER}{uuid.uuid4().hex}"
    try:
        files.write(temporary, _writer(content))
    except OSError as error:  # a full disk, a read-only catalog: nothing day-sized is left behind
        _remove(files, temporary)
        reason = error.strerror or str(error)
        raise CatalogError(f"{directory}: cannot write {final_name} ({reason}); the catalog was left as it was") from None
    return temporary


def _writer(content: pa.Table | str | bytes) -> Callable[[str | BinaryIO], None]:
    """Writes ``content`` to a path or a binary file."""
    if isinstance(content, pa.Table):
        return lambda sink: pq.write_table(content, sink, **PARQUET_OPTIONS)
    data = content.encode() if isinstance(content, str) else content

    def write(sink: str | BinaryIO) -> None:
        if isinstance(sink, str):
            Path(sink).write_bytes(data)
        else:
            sink.write(data)

    return write


def _write_journal(files: Files, catalog_root: str, plan: dict) -> str:
    journal = f"{catalog_root}/{JOURNAL_DIR}/{uuid.uuid4().hex}.json"
    staging = f"{journal}.partial"
    files.write(staging, _writer(json.dumps(plan)))
    files.publish(staging, journal)  # the journal is there whole or not at all
    return journal


def _apply(files: Files, journal: str) -> None:
    """Idempotent: every step can be repeated after a crash. Only a plan inside its catalog acts."""
    try:
        content = files.fs.cat_file(journal)
    except FileNotFoundError:  # applied and removed meanwhile
        return
    try:
        plan = checked_plan(journal, journal.rsplit("/", 2)[0], content)
    except CatalogError as error:
        _refuse(files, journal, error)
        return
    for temporary, final in plan["moves"]:
        if files.fs.exists(temporary):
            files.publish(temporary, final)
    for old in plan["removals"]:
        _remove(files, old)
    _remove(files, journal)
    files.refresh()


def _refuse(files: Files, journal: str, error: CatalogError) -> None:
    directory, name = journal.rsplit("/", 1)
    refused = f"{directory}/{REFUSED_DIR}/{name}"
    files.publish(journal, refused)
    log.warning("%s (moved to %s)", error, refused)


def _remove(files: Files, path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        files.fs.rm_file(path)


# --- recovery and reading ------------------------------------------------------------------------


def recover(catalog_root: Path | str, orphan_grace_secs: float = ORPHAN_GRACE_SECS) -> int:
    """Under the lock: finish interrupted swaps, drop stale temporaries and stray day files.

    Returns the swaps rolled forward (refused journals are reported, not counted)."""
    files = files_for(catalog_root)
    with catalog_lock(catalog_root):
        return _recover_locked(files, files.path(catalog_root), orphan_grace_secs)


def _recover_locked(files: Files, root: str, orphan_grace_secs: float) -> int:
    applied = 0
    for journal in _journals(files, root):
        try:
            checked_plan(journal, root, files.fs.cat_file(journal))
        except FileNotFoundError:
            continue
        except CatalogError as error:
            _refuse(files, journal, error)
            continue
        _apply(files, journal)
        applied += 1
    try:
        found = {files.full(name): info for name, info in files.fs.find(f"{root}/data", detail=True).items()}
    except FileNotFoundError:
        found = {}
    cutoff = time.time() - orphan_grace_secs
    for name, info in found.items():
        base = posixpath.basename(name)
        if base.startswith(".") and _TMP_MARKER in base and files.modified(info) <= cutoff:
            _remove(files, name)
    managed = {posixpath.dirname(posixpath.dirname(n)) for n in found if posixpath.basename(posixpath.dirname(n)) == MANIFEST_DIR}
    for directory in sorted(managed):
        _remove_strays(files, directory)
    files.refresh()
    return applied


def _remove_strays(files: Files, directory: str) -> None:
    for name in _load_manifests(files, directory).strays(_day_files(files, directory)):
        log.warning("%s/%s: stray day file no manifest names (a duplicate of a day); removed", directory, name)
        _remove(files, f"{directory}/{name}")


def _journals(files: Files, root: str) -> list[str]:
    return sorted(name for name in _listing(files, f"{root}/{JOURNAL_DIR}") or [] if name.endswith(".json"))


def prepare_for_reading(catalog_root: Path | str, directories: list, days: Iterable[dt.date]) -> None:
    """Before a reader looks: recover when a swap is pending or a stray file is there; refuse a damaged day.

    Raises CatalogError (one line naming the manifest or file) for a day in ``days`` that cannot
    be read as exactly one version; other days are unaffected."""
    files = files_for(catalog_root)
    directories = [files.path(directory) for directory in directories]
    if _journals(files, files.path(catalog_root)) or any(
        _load_manifests(files, d).strays(_day_files(files, d)) for d in directories
    ):
        recover(catalog_root)
    wanted = {day.isoformat() for day in days}
    for directory in directories:
        damaged = _load_manifests(files, directory).damaged
        for day in sorted(wanted & set(damaged)):
            raise CatalogError(damaged[day])
