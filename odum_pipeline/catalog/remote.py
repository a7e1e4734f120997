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

A crash anywhere is rolled forward by :func:`recover` (run before every conversion): before the
journal exists nothing visible has changed; after, every step is idempotent. A reader listing the
directory *during* step 3 can, for a moment, see the old and the new file of the day together
(when the new file's name differs, i.e. its first/last timestamps changed); when the names are
equal the replacement is a single atomic object overwrite. Local catalogs avoid that window with
``os.replace``; a desk that needs strict isolation in GCS should not backtest a day while it is
being re-converted (Dagster does not: the backtest depends on the materialized catalog partition).
"""

from __future__ import annotations

import datetime as dt
import io
import json
import time
import uuid

import pyarrow as pa
import pyarrow.parquet as pq
from nautilus_trader.persistence.catalog import ParquetDataCatalog
from nautilus_trader.persistence.catalog.parquet import _timestamps_to_filename

from odum_pipeline import gcs
from odum_pipeline.catalog.store import _TMP_MARKER, JOURNAL_DIR, MANIFEST_DIR, ORPHAN_GRACE_SECS, PARQUET_OPTIONS


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


def read_manifest(directory: str) -> dict[str, dict]:
    fs = _fs()
    try:
        names = sorted(fs.ls(f"{directory}/{MANIFEST_DIR}", detail=False, refresh=True))
    except FileNotFoundError:
        return {}
    return {
        name.rsplit("/", 1)[-1][: -len(".json")]: json.loads(fs.cat_file(name))
        for name in names
        if name.endswith(".json")
    }


def replace_day(catalog_root: str, day: dt.date, tables: dict) -> dict[str, str | None]:
    fs = _fs()
    moves: list[tuple[str, str]] = []
    removals: list[str] = []
    finals: dict[str, str | None] = {}
    for directory, (table, info) in tables.items():
        day_manifest = f"{directory}/{MANIFEST_DIR}/{day.isoformat()}.json"
        old = read_manifest(directory).get(day.isoformat())
        final = None
        if table is not None and table.num_rows:
            ts_init = table.column("ts_init")
            final = f"{directory}/{_timestamps_to_filename(ts_init[0].as_py(), ts_init[-1].as_py())}"
            moves.append((_write_temporary(fs, final, table), final))
            entry = json.dumps({"file": final.rsplit("/", 1)[-1], **info}, indent=1)
            moves.append((_write_temporary(fs, day_manifest, entry), day_manifest))
        else:
            removals.append(day_manifest)
        if old and old["file"] != (final.rsplit("/", 1)[-1] if final else None):
            removals.append(f"{directory}/{old['file']}")
        finals[directory] = final
    journal = f"{catalog_root.rstrip('/')}/{JOURNAL_DIR}/{uuid.uuid4().hex}.json"
    fs.pipe_file(journal, json.dumps({"moves": moves, "removals": removals}).encode())
    _apply(fs, journal)
    return finals


def recover(catalog_root: str, orphan_grace_secs: float = ORPHAN_GRACE_SECS) -> int:
    gcs.check_remote_root(catalog_root)
    fs = _fs()
    try:
        journals = sorted(fs.ls(f"{catalog_root.rstrip('/')}/{JOURNAL_DIR}", detail=False, refresh=True))
    except FileNotFoundError:
        journals = []
    for journal in journals:
        _apply(fs, f"gs://{journal}")
    try:
        found = fs.find(f"{catalog_root.rstrip('/')}/data", detail=True)
    except FileNotFoundError:
        found = {}
    cutoff = time.time() - orphan_grace_secs
    for name, info in found.items():
        if _TMP_MARKER in name.rsplit("/", 1)[-1] and _modified(info) <= cutoff:
            fs.rm_file(name)
    return len(journals)


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
        plan = json.loads(fs.cat_file(journal))
    except FileNotFoundError:  # applied and removed meanwhile by another process
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
