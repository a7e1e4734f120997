"""Writing files safely, once for the whole code base: local folders and ``gs://`` alike.

- :func:`atomic_write`: a local file written to a temporary name beside it and renamed over the
  final name, so a reader sees the old or the new content whole, never half a file;
- :func:`keep_previous`: the version a file is about to lose, kept as
  ``<history folder>/<UTC timestamp>_<version><suffix>`` (configs and algorithms);
- :class:`LocalFiles` and :class:`GcsFiles`: one fsspec filesystem each (``file`` or gcsfs), and the
  few operations where a folder and a bucket differ: a durable write, publishing a temporary
  under its final name (``os.replace`` + fsync locally; server-side copy + delete in GCS, where an
  object appears whole), putting a file whole (:func:`atomic_write` locally; one object upload in
  GCS), assembling a folder that appears whole (a staging folder renamed into place locally; in
  GCS each object appears whole and the caller writes the marker file last), and an exclusive
  lock (``flock`` locally; an object created with ``ifGenerationMatch=0`` in GCS).
  :func:`files_for` picks one from a location, once.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import io
import logging
import os
import random
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from odum_pipeline import gcs

log = logging.getLogger(__name__)

HISTORY_DIR = ".history"
#: A GCS lock object older than this belongs to a dead writer (a swap takes seconds): it is broken.
LOCK_STALE_SECS = 600.0
#: How long a writer waits for a lock before giving up with a one-line error.
LOCK_WAIT_SECS = 900.0

#: What a file is written from: bytes, text (UTF-8), or a function writing to the path it is given.
Content = bytes | str | Callable[[str], None]


# --- local files ---------------------------------------------------------------------------------


def atomic_write(path: str | Path, content: Content, *, read_only: bool = False) -> Path:
    """Write ``path`` via a temporary file beside it and a rename; no temporary is left on failure."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        if callable(content):
            content(str(temporary))
        else:
            temporary.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
        if read_only:
            temporary.chmod(0o444)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return path


def keep_previous(path: str | Path, history_folder: str | Path, version: str, *, now: dt.datetime | None = None) -> Path:
    """Copy ``path`` to ``<history_folder>/<UTC timestamp>_<version><suffix>`` before it is replaced."""
    path = Path(path)
    stamp = (now or dt.datetime.now(dt.UTC)).strftime("%Y%m%dT%H%M%S%fZ")
    kept = Path(history_folder) / f"{stamp}_{version}{path.suffix}"
    kept.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(path, kept)
    return kept


# --- one filesystem per location -----------------------------------------------------------------


class Files:
    """One fsspec filesystem (``fs``) and how its paths are spelled (``prefix`` + what ``fs`` lists)."""

    prefix = ""
    fs = None

    def path(self, location: str | Path) -> str:
        """The location as this store names it (local: absolute; no trailing slash)."""
        return self.prefix + self.fs._strip_protocol(str(location)).rstrip("/")

    def full(self, listed: str) -> str:
        """A name ``fs.ls``/``fs.find`` returned, as a location."""
        return listed if listed.startswith(self.prefix) else self.prefix + listed


class LocalFiles(Files):
    """A local folder through fsspec's ``file`` filesystem; paths are absolute POSIX strings."""

    def __init__(self) -> None:
        import fsspec

        self.fs = fsspec.filesystem("file")

    def check_root(self, root: str) -> None:
        if os.path.exists(root) and not os.path.isdir(root):
            raise NotADirectoryError(root)

    def write(self, path: str, produce: Callable[[str | BinaryIO], None]) -> None:
        """``produce(sink)`` writes the file; it is on disk (fsync) when this returns."""
        os.makedirs(os.path.dirname(path), exist_ok=True)
        produce(path)
        with open(path, "rb") as handle:
            os.fsync(handle.fileno())

    def publish(self, temporary: str, final: str) -> None:
        os.makedirs(os.path.dirname(final), exist_ok=True)
        os.replace(temporary, final)

    def put(self, path: str, content: Content) -> None:
        """``path`` appears whole (readers never see half a file)."""
        atomic_write(path, content)

    def probe_writable(self, root: str) -> None:
        """OSError unless ``root`` is (or can be made) a folder this process can write in."""
        os.makedirs(root, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=root, prefix=".write-check-"):
            pass

    @contextlib.contextmanager
    def assembled(self, folder: str, staging: str) -> Iterator[str]:
        """Write the folder's files into the yielded path; it appears as ``folder`` whole, or not at all."""
        try:
            os.makedirs(staging)
            yield staging
            os.makedirs(os.path.dirname(folder), exist_ok=True)
            os.rename(staging, folder)  # an existing report is never merged into
        finally:
            shutil.rmtree(staging, ignore_errors=True)
            with contextlib.suppress(OSError):
                os.rmdir(os.path.dirname(staging))  # when empty

    def modified(self, info: dict) -> float:
        return info["mtime"]

    def refresh(self) -> None:
        """Forget cached listings (none locally)."""

    @contextlib.contextmanager
    def lock(self, lock_path: str) -> Iterator[None]:
        """Exclusive across processes and threads: ``flock``, released when the process dies."""
        os.makedirs(os.path.dirname(lock_path), exist_ok=True)
        with open(lock_path, "a") as handle:  # flock: per open file
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


class GcsFiles(Files):
    """A ``gs://`` prefix through the process's counting gcsfs; paths are ``gs://bucket/...`` strings.

    GCS makes each object create or replace atomic, and has no rename: a temporary is published by
    a server-side copy (the final object appears whole) and a delete."""

    prefix = "gs://"

    def __init__(self) -> None:
        self.fs = gcs.filesystem()

    def check_root(self, root: str) -> None:
        gcs.check_remote_root(root)  # one line naming the bucket

    def write(self, path: str, produce: Callable[[str | BinaryIO], None]) -> None:
        buffer = io.BytesIO()
        produce(buffer)
        self.fs.pipe_file(path, buffer.getvalue())  # one object create: there whole or not at all

    def publish(self, temporary: str, final: str) -> None:
        self.fs.copy(temporary, final)
        self.fs.rm_file(temporary)

    def put(self, path: str, content: Content) -> None:
        """One object upload: GCS makes it appear whole (no temporary needed)."""
        if callable(content):
            self.write(path, content)
        else:
            self.fs.pipe_file(path, content.encode("utf-8") if isinstance(content, str) else content)

    def probe_writable(self, root: str) -> None:
        """Nothing to probe beyond the bucket (:meth:`check_root`): permissions show on the first write."""

    @contextlib.contextmanager
    def assembled(self, folder: str, staging: str) -> Iterator[str]:
        """Objects are written in place, each whole; the caller writes its completion marker last."""
        yield folder

    def modified(self, info: dict) -> float:
        stamp = info.get("updated") or info.get("timeCreated")
        if not stamp:
            return time.time()
        return dt.datetime.fromisoformat(str(stamp).replace("Z", "+00:00")).timestamp()

    def refresh(self) -> None:
        self.fs.invalidate_cache()

    @contextlib.contextmanager
    def lock(self, lock_path: str) -> Iterator[None]:
        """A lock object, created only when absent (ifGenerationMatch=0), deleted only as our generation."""
        from google.api_core.exceptions import NotFound, PreconditionFailed

        bucket_name, name = gcs.split_gs(lock_path)
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
                raise gcs.StorageError(f"{lock_path}: lock still held after {LOCK_WAIT_SECS:.0f} s by another writer")
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
        log.warning("gs://%s/%s: breaking a lock %.0f s old (its writer died)", bucket.name, name, age)
        with contextlib.suppress(NotFound, PreconditionFailed):
            held.delete(if_generation_match=held.generation)


def files_for(location: str | Path) -> Files:
    """The filesystem of a location: :class:`GcsFiles` for ``gs://``, else :class:`LocalFiles`."""
    return GcsFiles() if gcs.is_remote(location) else LocalFiles()
