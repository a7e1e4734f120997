"""Google Cloud Storage plumbing: clients, one-line errors, counted ranged reads, ``gs://`` locations.

Two clients, each where it fits:

- raw tick objects go through dagster-gcp's ``GCSResource`` (a ``google.cloud.storage.Client``):
  listing, object metadata (generation, md5, crc32c) and ranged reads
  (:class:`BlobRangeReader`, ``blob.download_as_bytes(start=, end=)``);
- the NautilusTrader catalog and the results are ``gs://`` URIs read and written through fsspec
  (gcsfs), because that is what ``ParquetDataCatalog`` speaks. :class:`CountingGCSFileSystem`
  counts what it downloads, with small read-ahead blocks so that a window reads a window.

Both honour ``STORAGE_EMULATOR_HOST`` (``gcp-storage-emulator`` in the tests). Every failure a user
can fix (no bucket, no object, no credentials, no permission) becomes a :class:`StorageError`
whose message is one line naming the bucket/object and what to set.
"""

from __future__ import annotations

import io
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from odum_pipeline.errors import OdumError

#: Read-ahead block of the catalog's gcsfs files (gcsfs defaults to 5 MiB, a whole day's file).
CATALOG_BLOCK_SIZE = 256 * 1024

CREDENTIALS_HINT = (
    "set GOOGLE_APPLICATION_CREDENTIALS to a service-account key file "
    "(or run `gcloud auth application-default login`; STORAGE_EMULATOR_HOST=http://host:port for an emulator)"
)


class StorageError(OdumError, ValueError):
    """A storage problem the user can fix; the message is one line (bucket/object, what to set)."""


# --- locations -----------------------------------------------------------------------------------


def is_remote(location: str | Path | None) -> bool:
    return isinstance(location, str) and "://" in location and not location.startswith("file://")


def location(value: str | Path) -> str | Path:
    """``gs://...`` stays a string (``Path`` would collapse the ``//``); anything else is a ``Path``."""
    return value if is_remote(value) else Path(value)


def join(root: str | Path, *parts: str) -> str | Path:
    if is_remote(root):
        return "/".join([str(root).rstrip("/"), *parts])
    return Path(root).joinpath(*parts)


def split_gs(uri: str) -> tuple[str, str]:
    """``gs://bucket/a/b`` -> (``bucket``, ``a/b``)."""
    if not uri.startswith(("gs://", "gcs://")):
        raise StorageError(f"{uri}: not a gs:// URI")
    rest = uri.split("://", 1)[1]
    bucket, _, prefix = rest.partition("/")
    if not bucket:
        raise StorageError(f"{uri}: no bucket in the URI (expected gs://BUCKET/path)")
    return bucket, prefix.strip("/")


# --- byte accounting -----------------------------------------------------------------------------


@dataclass
class ReadStats:
    """Bytes and requests downloaded from GCS (raw ranged reads and catalog reads), process-wide."""

    bytes: int = 0
    requests: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    def add(self, count: int) -> None:
        with self._lock:
            self.bytes += count
            self.requests += 1

    def reset(self) -> ReadStats:
        with self._lock:
            snapshot = ReadStats(self.bytes, self.requests)
            self.bytes = self.requests = 0
        return snapshot


#: Everything downloaded by this module's readers since the last ``reset()``.
READ_STATS = ReadStats()


# --- clients and errors --------------------------------------------------------------------------


def emulator_host() -> str | None:
    return os.environ.get("STORAGE_EMULATOR_HOST") or None


def storage_client(project: str | None = None):
    """A ``google.cloud.storage.Client`` made by dagster-gcp's ``GCSResource``; clear error without credentials."""
    from dagster_gcp import GCSResource
    from google.auth.exceptions import DefaultCredentialsError

    project = project or os.environ.get("GOOGLE_CLOUD_PROJECT") or ("odum-emulator" if emulator_host() else None)
    try:
        return GCSResource(project=project).get_client()
    except DefaultCredentialsError:
        raise StorageError(f"no Google Cloud credentials for GCS: {CREDENTIALS_HINT}") from None


def translate(error: Exception, *, bucket: str, name: str | None = None) -> Exception:
    """A google-cloud exception as a one-line :class:`StorageError` (other exceptions unchanged)."""
    from google.api_core import exceptions as gexc
    from google.auth.exceptions import DefaultCredentialsError, RefreshError

    where = f"gs://{bucket}/{name}" if name else f"gs://{bucket}"
    if isinstance(error, (DefaultCredentialsError, RefreshError)) or isinstance(error, gexc.Unauthorized):
        return StorageError(f"{where}: no valid Google Cloud credentials: {CREDENTIALS_HINT}")
    if isinstance(error, gexc.Forbidden):
        return StorageError(f"{where}: access denied for these credentials (grant storage.objects.get/list on the bucket)")
    if isinstance(error, gexc.NotFound):
        if name is None:
            return StorageError(
                f"GCS bucket {bucket!r} does not exist (check UNIFIED_CLOUD_SERVICES_GCS_BUCKET / the gs:// URI)"
            )
        return StorageError(f"{where}: object not found")
    if isinstance(error, OSError) and "credentials" in str(error).lower():
        return StorageError(f"{where}: {CREDENTIALS_HINT}")
    return error


def require_bucket(client, bucket: str) -> None:
    """Raise a one-line StorageError when ``bucket`` does not exist or cannot be read.

    Lists one object rather than reading the bucket's metadata: a reader's role
    (``roles/storage.objectViewer``) grants ``storage.objects.list`` but not ``storage.buckets.get``.
    """
    try:
        list(client.list_blobs(bucket, max_results=1))
    except Exception as error:  # noqa: BLE001 - translated, or re-raised as is
        raise translate(error, bucket=bucket) from None


# --- ranged reads through google-cloud-storage ---------------------------------------------------


class BlobRangeReader(io.RawIOBase):
    """A seekable, read-only file over one GCS object: every ``read`` is one ranged download.

    pyarrow reads Parquet through it (footer, then only the column chunks of the row groups it
    needs); the bytes are counted in :data:`READ_STATS` and on the reader (``bytes_read``).
    """

    def __init__(self, blob, size: int) -> None:
        super().__init__()
        self._blob = blob  # made with its generation: every range comes from the same object version
        self._size = size
        self._position = 0
        self.bytes_read = 0
        self.requests = 0

    @property
    def name(self) -> str:
        return f"gs://{self._blob.bucket.name}/{self._blob.name}"

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def size(self) -> int:
        return self._size

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        self._position = max(0, base + offset)
        return self._position

    def read(self, size: int = -1) -> bytes:
        end = self._size if size is None or size < 0 else min(self._size, self._position + size)
        if end <= self._position:
            return b""
        data = self.read_range(self._position, end)
        self._position += len(data)
        return data

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def readall(self) -> bytes:
        return self.read(-1)

    def read_range(self, start: int, end: int) -> bytes:
        """Bytes [start, end) of the object (one ranged GET)."""
        try:
            data = self._blob.download_as_bytes(start=start, end=end - 1, checksum=None)
        except Exception as error:  # noqa: BLE001
            raise translate(error, bucket=self._blob.bucket.name, name=self._blob.name) from None
        self.bytes_read += len(data)
        self.requests += 1
        READ_STATS.add(len(data))
        return data


# --- fsspec (gcsfs) for the catalog and results --------------------------------------------------


def _counting_filesystem_class():
    import gcsfs

    class CountingGCSFileSystem(gcsfs.GCSFileSystem):
        """gcsfs with small read-ahead blocks, counting the bytes it downloads into READ_STATS."""

        async def _cat_file(self, path, start=None, end=None, **kwargs):
            data = await super()._cat_file(path, start=start, end=end, **kwargs)
            READ_STATS.add(len(data))
            return data

    return CountingGCSFileSystem


_FS_CLASS = None


def gcsfs_options() -> dict:
    """fsspec storage options for gs:// (anonymous against an emulator, else Google's default credentials)."""
    if emulator_host():
        return {
            "token": "anon",
            "project": os.environ.get("GOOGLE_CLOUD_PROJECT", "odum-emulator"),
            "endpoint_url": emulator_host(),  # also keys fsspec's instance cache per emulator
        }
    import google.auth
    from google.auth.exceptions import DefaultCredentialsError

    try:
        google.auth.default()
    except DefaultCredentialsError:
        raise StorageError(f"no Google Cloud credentials for gs:// catalog/results: {CREDENTIALS_HINT}") from None
    options = {"token": "google_default"}
    if os.environ.get("GOOGLE_CLOUD_PROJECT"):
        options["project"] = os.environ["GOOGLE_CLOUD_PROJECT"]
    return options


def filesystem():
    """The process's counting gcsfs filesystem (registered as fsspec's ``gs``/``gcs`` implementation)."""
    global _FS_CLASS
    import fsspec

    if _FS_CLASS is None:
        _FS_CLASS = _counting_filesystem_class()
        for protocol in ("gs", "gcs"):
            fsspec.register_implementation(protocol, _FS_CLASS, clobber=True)
    return fsspec.filesystem("gs", block_size=CATALOG_BLOCK_SIZE, **gcsfs_options())


_CHECKED_BUCKETS: set[tuple[str | None, str]] = set()


def check_remote_root(uri: str) -> None:
    """One-line error when a gs:// catalog/results root's bucket does not exist (checked once per process)."""
    bucket, _ = split_gs(uri)
    if (emulator_host(), bucket) in _CHECKED_BUCKETS:
        return
    fs = filesystem()
    try:
        fs.ls(bucket, detail=False)
    except FileNotFoundError:
        raise StorageError(
            f"GCS bucket {bucket!r} of {uri} does not exist (check DATA_CATALOG_PATH / BACKTEST_RESULTS_PATH / the gs:// URI)"
        ) from None
    except OSError as error:
        raise translate(error, bucket=bucket) from None
    _CHECKED_BUCKETS.add((emulator_host(), bucket))
