"""A NautilusTrader catalog in a GCS bucket (``gs://bucket/prefix``), through fsspec (gcsfs).

Reading: NautilusTrader queries its built-in types with its Rust DataFusion backend, which talks to
GCS with its own ``object_store`` client (Google credentials only, no emulator, and no way to see
what it reads). :class:`RemoteCatalog` hands NautilusTrader the window's files instead (chosen by
the time range NautilusTrader encodes in every file name), which makes it use its PyArrow backend:
a dataset over the gcsfs filesystem filtered on ``ts_init``, so only the footers and the row
groups overlapping the window are downloaded (ranged reads, counted in ``gcs.READ_STATS``). The
objects decoded are the same as from a local catalog.

Writing a day (:func:`replace_day`): the same layout, per-day manifests and journal as the local
store, with fsspec operations. What GCS guarantees is atomicity per object: an object is created
or replaced whole (a reader sees the old or the new content, never a mix); there is no rename and
no multi-object transaction. So:

1. the new day file and its manifest are uploaded under temporary names (``.NAME.tmp-UUID``,
   which NautilusTrader's ``*.parquet`` globs ignore);
2. a journal object listing the moves and removals is written (one atomic object create);
3. each move is a server-side copy to the final name (atomic per object) then a delete; then the
   old day's file is deleted when its name differs; then the journal is deleted.

Steps 2 and 3, and reading the manifests they are planned from, run under the catalog's lock
object (``<catalog>/.odum-lock``, created with ``ifGenerationMatch=0`` so only one writer can
hold it, deleted with its own generation; one older than ``LOCK_STALE_SECS`` is a dead writer's
and is broken). A crash anywhere is rolled forward by :func:`recover` (run before every
conversion and by readers): before the journal exists nothing visible has changed; after, every
step is idempotent. A reader listing the
directory *during* step 3 can, for a moment, see the old and the new file of the day together
(when the new file's name differs, i.e. its first/last timestamps changed); when the names are
equal the replacement is a single atomic object overwrite. Local catalogs avoid that window with
``os.replace``; a desk that needs strict isolation in GCS should not backtest a day while it is
being re-converted (Dagster does not: the backtest depends on the materialized catalog partition).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import logging
import random
import time
import uuid
from collections.abc import Iterator

import pyarrow as pa
import pyarrow.parquet as pq
from nautilus_trader.persistence.catalog import ParquetDataCatalog
from nautilus_trader.persistence.catalog.parquet import _timestamps_to_filename

from odum_pipeline import gcs
from odum_pipeline.catalog.store import (
    _TMP_MARKER,
    JOURNAL_DIR,
    LOCK_NAME,
    MANIFEST_DIR,
    ORPHAN_GRACE_SECS,
    PARQUET_OPTIONS,
    REFUSED_DIR,
    CatalogError,
    Manifests,
    checked_plan,
    parse_manifest,
)

log = logging.getLogger(__name__)

#: A lock object older than this belongs to a dead writer (a swap takes seconds): it is broken.
LOCK_STALE_SECS = 600.0
#: How long a writer waits for the lock before giving up with a one-line error.
LOCK_WAIT_SECS = 900.0


class RemoteCatalog(ParquetDataCatalog):
    """A ``ParquetDataCatalog`` over gcsfs that reads only the window's files, with the PyArrow backend."""

    def query(self, data_cls, identifiers=None, start=None, end=None, where=None, files=None, **kwargs):
        if files is None and self.fs_protocol != "file":
            files = self._query_files(data_cls, identifiers, start, end)
            if not files:
                return []
        return super().query(data_cls, identifiers=identifiers, start=start, end=end, where=where, files=files, **kwargs)


def open_catalog(uri: str) -> RemoteCatalog:
    gcs.check_remote_root(uri)  # one-line errors for a malformed URI or a missing bucket
    catalog = RemoteCatalog.from_uri(uri, fs_storage_options=gcs.gcsfs_options())
    catalog.fs = gcs.filesystem()  # the counting gcsfs, with small read-ahead blocks
    return catalog


def _fs():
    return gcs.filesystem()


def load_manifests(directory: str) -> Manifests:
    fs = _fs()
    try:
        names = sorted(fs.ls(f"{directory}/{MANIFEST_DIR}", detail=False, refresh=True))
    except FileNotFoundError:
        return Manifests()
    manifests = Manifests(managed=True)
    for name in names:
        if not name.endswith(".json"):
            continue
        day, uri = name.rsplit("/", 1)[-1][: -len(".json")], f"gs://{name}"
        try:
            manifests.entries[day] = parse_manifest(uri, fs.cat_file(uri))
        except CatalogError as error:
            manifests.damaged[day] = str(error)
    return manifests


def read_manifest(directory: str) -> dict[str, dict]:
    return load_manifests(directory).entries


@contextlib.contextmanager
def catalog_lock(catalog_root: str) -> Iterator[None]:
    """The lock object: created only when absent (ifGenerationMatch=0), deleted only as our generation."""
    from google.api_core.exceptions import NotFound, PreconditionFailed

    bucket_name, prefix = gcs.split_gs(catalog_root)
    name = "/".join(p for p in (prefix, LOCK_NAME) if p)
    bucket = gcs.storage_client().bucket(bucket_name)
    deadline = time.monotonic() + LOCK_WAIT_SECS
    while True:
        blob = bucket.blob(name)
        try:
            blob.upload_from_string(f"{uuid.uuid4().hex}\n".encode(), if_generation_match=0)
            break
        except PreconditionFailed:
            _break_if_stale(bucket, name)
        except Exception as error:  # noqa: BLE001
            raise gcs.translate(error, bucket=bucket_name, name=name) from None
        if time.monotonic() > deadline:
            raise CatalogError(f"gs://{bucket_name}/{name}: catalog lock still held after {LOCK_WAIT_SECS:.0f} s by another conversion")
        time.sleep(0.1 + random.random() * 0.2)
    try:
        yield
    finally:
        with contextlib.suppress(NotFound, PreconditionFailed):
            blob.delete(if_generation_match=blob.generation)


def _break_if_stale(bucket, name: str) -> None:
    from google.api_core.exceptions import NotFound, PreconditionFailed

    held = bucket.get_blob(name)
    if held is None or held.updated is None:
        return
    age = time.time() - held.updated.timestamp()
    if age > LOCK_STALE_SECS:
        log.warning("gs://%s/%s: breaking a catalog lock %.0f s old (its writer died)", bucket.name, name, age)
        with contextlib.suppress(NotFound, PreconditionFailed):
            held.delete(if_generation_match=held.generation)


def replace_day(catalog_root: str, day: dt.date, tables: dict) -> dict[str, str | None]:
    fs = _fs()
    temporaries: list[str] = []
    written = {}
    journal = None
    try:
        for directory, (table, _) in tables.items():
            if table is not None and table.num_rows:
                ts_init = table.column("ts_init")
                final = f"{directory}/{_timestamps_to_filename(ts_init[0].as_py(), ts_init[-1].as_py())}"
                written[directory] = (final, _write_temporary(fs, final, table))
                temporaries.append(written[directory][1])
        with catalog_lock(catalog_root):
            _recover_locked(fs, catalog_root, ORPHAN_GRACE_SECS)
            moves, removals, finals = _plan(fs, day, tables, written, temporaries)
            journal = _write_journal(fs, catalog_root, {"moves": moves, "removals": removals})
            _apply(fs, journal)
            for directory in tables:  # a day whose manifest was damaged left its old file unnamed
                _remove_strays(fs, directory)
    except Exception:
        if journal is None:
            for temporary in temporaries:
                with contextlib.suppress(FileNotFoundError):
                    fs.rm_file(temporary)
        raise
    return finals


def _plan(fs, day: dt.date, tables: dict, written: dict, temporaries: list) -> tuple[list, list, dict]:
    moves: list[tuple[str, str]] = []
    removals: list[str] = []
    finals: dict[str, str | None] = {}
    for directory, (_, info) in tables.items():
        day_manifest = f"{directory}/{MANIFEST_DIR}/{day.isoformat()}.json"
        old = read_manifest(directory).get(day.isoformat())
        final = None
        if directory in written:
            final, temporary = written[directory]
            moves.append((temporary, final))
            entry = json.dumps({"file": final.rsplit("/", 1)[-1], **info}, indent=1)
            temporaries.append(_write_temporary(fs, day_manifest, entry))
            moves.append((temporaries[-1], day_manifest))
        else:
            removals.append(day_manifest)
        if old and old["file"] != (final.rsplit("/", 1)[-1] if final else None):
            removals.append(f"{directory}/{old['file']}")
        finals[directory] = final
    return moves, removals, finals


def _write_journal(fs, catalog_root: str, plan: dict) -> str:
    journal = f"{catalog_root.rstrip('/')}/{JOURNAL_DIR}/{uuid.uuid4().hex}.json"
    fs.pipe_file(journal, json.dumps(plan).encode())  # one object create: there whole or not at all
    return journal


def recover(catalog_root: str, orphan_grace_secs: float = ORPHAN_GRACE_SECS) -> int:
    gcs.check_remote_root(catalog_root)
    fs = _fs()
    with catalog_lock(catalog_root):
        return _recover_locked(fs, catalog_root, orphan_grace_secs)


def _recover_locked(fs, catalog_root: str, orphan_grace_secs: float) -> int:
    applied = 0
    for journal in _journals(fs, catalog_root):
        try:
            checked_plan(journal, catalog_root, fs.cat_file(journal))
        except FileNotFoundError:
            continue
        except CatalogError as error:
            _refuse(fs, journal, error)
            continue
        _apply(fs, journal)
        applied += 1
    try:
        found = fs.find(f"{catalog_root.rstrip('/')}/data", detail=True)
    except FileNotFoundError:
        found = {}
    cutoff = time.time() - orphan_grace_secs
    for name, info in found.items():
        if _TMP_MARKER in name.rsplit("/", 1)[-1] and _modified(info) <= cutoff:
            fs.rm_file(name)
    for directory in sorted({f"gs://{n.rsplit('/', 2)[0]}" for n in found if f"/{MANIFEST_DIR}/" in n}):
        _remove_strays(fs, directory)
    fs.invalidate_cache()
    return applied


def _journals(fs, catalog_root: str) -> list[str]:
    try:
        names = fs.ls(f"{catalog_root.rstrip('/')}/{JOURNAL_DIR}", detail=False, refresh=True)
    except FileNotFoundError:
        return []
    return sorted(f"gs://{name}" for name in names if name.endswith(".json"))


def _day_files(fs, directory: str) -> list[str]:
    try:
        names = fs.ls(directory, detail=False, refresh=True)
    except FileNotFoundError:
        return []
    return [name.rsplit("/", 1)[-1] for name in names if name.endswith(".parquet")]


def _remove_strays(fs, directory: str) -> None:
    for name in load_manifests(directory).strays(_day_files(fs, directory)):
        log.warning("%s/%s: stray day file no manifest names (a duplicate of a day); removed", directory, name)
        with contextlib.suppress(FileNotFoundError):
            fs.rm_file(f"{directory}/{name}")


def needs_recovery(catalog_root: str, directories: list[str]) -> bool:
    fs = _fs()
    return bool(_journals(fs, catalog_root)) or any(
        load_manifests(d).strays(_day_files(fs, d)) for d in directories
    )


def _refuse(fs, journal: str, error: CatalogError) -> None:
    directory, name = journal.rsplit("/", 1)
    refused = f"{directory}/{REFUSED_DIR}/{name}"
    fs.copy(journal, refused)
    fs.rm_file(journal)
    log.warning("%s (moved to %s)", error, refused)


def _modified(info: dict) -> float:
    stamp = info.get("updated") or info.get("timeCreated")
    if not stamp:
        return time.time()
    return dt.datetime.fromisoformat(str(stamp).replace("Z", "+00:00")).timestamp()


def _write_temporary(fs, final: str, content: pa.Table | str) -> str:
    directory, name = final.rsplit("/", 1)
    temporary = f"{directory}/.{name}{_TMP_MARKER}{uuid.uuid4().hex}"
    if isinstance(content, str):
        fs.pipe_file(temporary, content.encode())
    else:
        buffer = io.BytesIO()
        pq.write_table(content, buffer, **PARQUET_OPTIONS)
        fs.pipe_file(temporary, buffer.getvalue())
    return temporary


def _apply(fs, journal: str) -> None:
    try:
        content = fs.cat_file(journal)
    except FileNotFoundError:  # applied and removed meanwhile by another process
        return
    catalog_root = journal.rsplit("/", 2)[0]
    try:
        plan = checked_plan(journal, catalog_root, content)
    except CatalogError as error:
        _refuse(fs, journal, error)
        return
    for temporary, final in plan["moves"]:
        if fs.exists(temporary):
            fs.copy(temporary, final)  # server-side rewrite: the final object appears whole
            fs.rm_file(temporary)
    for old in plan["removals"]:
        if fs.exists(old):
            fs.rm_file(old)
    if fs.exists(journal):
        fs.rm_file(journal)
    fs.invalidate_cache()
