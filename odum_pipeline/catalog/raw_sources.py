"""Where raw ticks come from: a local folder (or a GCS FUSE mount) or a GCS bucket read through the API.

One seam, :class:`RawSource`, used by discovery (sensor, observable source), conversion and the
pre-flight coverage, so none of them branches on the data source:

- ``discover()``: every raw file of the layout (:mod:`.layout`);
- ``find(day, data_type, key)``: one cell's file (Parquet preferred over ``.csv.gz``);
- ``signature(file)``: a cheap change detector (size+mtime locally; generation+md5 in GCS);
- ``version(file)``: the data version (content SHA-256 locally; generation + md5/crc32c in GCS,
  from the listing, without downloading anything);
- ``read(file)``: the whole file, normalised, and its content SHA-256 (conversion reads whole days);
- ``ts_init_in_window(file, start_ns, end_ns)``: only what a window needs: the one timestamp
  column of the row groups whose statistics overlap the window, through ranged reads.

:func:`raw_source` picks the source from the data source, a root, a bucket and the seed's
environment variables (``UNIFIED_CLOUD_SERVICES_GCS_BUCKET``, ``UNIFIED_CLOUD_SERVICES_USE_DIRECT_GCS``,
``UNIFIED_CLOUD_LOCAL_PATH``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import struct
from abc import ABC, abstractmethod
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from odum_pipeline import gcs
from odum_pipeline.catalog.layout import (
    RAW_DIR,
    RAW_SUFFIXES,
    RawFile,
    discover_raw_files,
    find_raw_file,
    parse_relative,
    relative_name,
)
from odum_pipeline.catalog.readers import NANOS_PER_UNIT, RawDataError, read_raw, read_raw_bytes, require_regular_file

#: First ranged read of a Parquet object: its tail, which usually holds the whole footer.
FOOTER_GUESS = 16 * 1024


def file_sha256(path: Path, chunk_size: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def time_column(schema: pa.Schema, label) -> tuple[str, int]:
    """The receive-time column of a raw file and its factor to ns (Tardis µs, pre-converted ns, or an
    Arrow timestamp column's own unit), as the readers convert it."""
    for name, factor in (("local_timestamp", NANOS_PER_UNIT["us"]), ("ts_init", 1)):
        if name in schema.names:
            type_ = schema.field(name).type
            return name, NANOS_PER_UNIT[type_.unit] if pa.types.is_timestamp(type_) else factor
    raise RawDataError(label, f"no local_timestamp or ts_init column; found {schema.names}")


def _bound(value: int, type_: pa.DataType):
    """A filter bound in the column's own type (an Arrow timestamp column compares with timestamps only)."""
    return pa.scalar(value, pa.int64()).cast(type_) if pa.types.is_timestamp(type_) else value


def _as_ints(values: pa.ChunkedArray) -> np.ndarray:
    return values.cast(pa.int64()).to_numpy() if pa.types.is_timestamp(values.type) else values.to_numpy()


class RawSource(ABC):
    """Raw tick files of the layout, wherever they are."""

    #: Shown in messages: the root folder or ``gs://bucket/prefix``.
    label: str

    @abstractmethod
    def discover(self) -> list[RawFile]: ...

    @abstractmethod
    def find(self, day: dt.date, data_type: str, instrument_key: str) -> RawFile | None: ...

    @abstractmethod
    def signature(self, raw_file: RawFile) -> str: ...

    @abstractmethod
    def version(self, raw_file: RawFile) -> str: ...

    @abstractmethod
    def read(self, raw_file: RawFile) -> tuple[pa.Table, str]: ...

    @abstractmethod
    def ts_init_in_window(self, raw_file: RawFile, start_ns: int, end_ns: int) -> np.ndarray: ...

    def __str__(self) -> str:
        return self.label


class LocalRawSource(RawSource):
    """A folder holding ``raw_tick_data/``: local disk, or a bucket mounted with gcsfuse."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self.label = str(self.root)

    def discover(self) -> list[RawFile]:
        return discover_raw_files(self.root)

    def find(self, day, data_type, instrument_key):
        path = find_raw_file(self.root, day, data_type, instrument_key)
        return None if path is None else RawFile(day, data_type, instrument_key, path)

    def signature(self, raw_file):
        try:
            stat = Path(raw_file.path).stat()
        except OSError as error:  # a dangling symlink or a loop: a signature still, conversion names it
            return f"unreadable:{error.errno}"
        return f"{stat.st_size}:{stat.st_mtime_ns}"

    def version(self, raw_file):
        try:
            require_regular_file(raw_file.path)
            return file_sha256(Path(raw_file.path))
        except (RawDataError, OSError) as error:
            return f"unreadable:{error}"

    def read(self, raw_file):
        path = Path(raw_file.path)
        return read_raw(path, raw_file.data_type), file_sha256(path)

    def ts_init_in_window(self, raw_file, start_ns, end_ns):
        path = Path(raw_file.path)
        if not path.name.endswith(".parquet"):
            return _in_window(read_raw(path, raw_file.data_type).column("ts_init").to_numpy(), start_ns, end_ns)
        require_regular_file(path)
        try:
            schema = pq.read_schema(path)
        except Exception as exc:  # noqa: BLE001 - any unreadable file is reported, not raised
            raise RawDataError(path, f"not a readable Parquet file ({exc})") from exc
        column, factor = time_column(schema, path)
        type_ = schema.field(column).type
        bounds = [(column, ">=", _bound(start_ns // factor, type_)), (column, "<", _bound(-(-end_ns // factor), type_))]
        try:
            values = _as_ints(pq.read_table(path, columns=[column], filters=bounds).column(column))
        except Exception as exc:  # noqa: BLE001
            raise RawDataError(path, f"cannot read column {column!r} ({exc})") from exc
        return _in_window(values.astype(np.int64) * factor, start_ns, end_ns)


class GcsRawSource(RawSource):
    """``gs://bucket/<prefix>/raw_tick_data/by_date/...`` through dagster-gcp's GCSResource client."""

    def __init__(self, client, bucket: str, prefix: str = "") -> None:
        self.client = client
        self.bucket_name = bucket
        self.prefix = prefix.strip("/")
        self.base = "/".join(p for p in (self.prefix, RAW_DIR) if p) + "/"
        self.label = f"gs://{bucket}/{self.prefix}".rstrip("/")
        self._checked = False

    @classmethod
    def from_uri(cls, uri: str, project: str | None = None) -> GcsRawSource:
        bucket, prefix = gcs.split_gs(uri)
        return cls(gcs.storage_client(project), bucket, prefix)

    def _bucket(self):
        if not self._checked:
            gcs.require_bucket(self.client, self.bucket_name)
            self._checked = True
        return self.client.bucket(self.bucket_name)

    def _raw_file(self, blob) -> RawFile | None:
        parsed = parse_relative(blob.name[len(self.base) :])
        if parsed is None:
            return None
        meta = (blob.size, blob.generation, blob.md5_hash, blob.crc32c)
        return RawFile(*parsed, f"gs://{self.bucket_name}/{blob.name}", meta=meta)

    def discover(self):
        self._bucket()
        try:
            blobs = list(self.client.list_blobs(self.bucket_name, prefix=self.base))
        except Exception as error:  # noqa: BLE001
            raise gcs.translate(error, bucket=self.bucket_name) from None
        return sorted(f for f in map(self._raw_file, blobs) if f is not None)

    def find(self, day, data_type, instrument_key):
        bucket = self._bucket()
        for suffix in RAW_SUFFIXES:
            name = self.base + relative_name(day, data_type, instrument_key, suffix)
            try:
                blob = bucket.get_blob(name)
            except Exception as error:  # noqa: BLE001
                raise gcs.translate(error, bucket=self.bucket_name, name=name) from None
            if blob is not None:
                return self._raw_file(blob)
        return None

    def _meta(self, raw_file: RawFile) -> tuple:
        if raw_file.meta is not None:
            return raw_file.meta
        fresh = self.find(raw_file.day, raw_file.data_type, raw_file.instrument_key)
        if fresh is None:
            raise gcs.StorageError(f"{raw_file.path}: object not found")
        return fresh.meta

    def signature(self, raw_file):
        size, generation, md5, crc32c = self._meta(raw_file)
        return f"{size}:{generation}:{md5 or crc32c}"

    def version(self, raw_file):
        size, generation, md5, crc32c = self._meta(raw_file)
        return f"gcs:{generation}:{md5 or crc32c}"

    def _reader(self, raw_file: RawFile) -> gcs.BlobRangeReader:
        size, generation, _, _ = self._meta(raw_file)
        name = str(raw_file.path).split("/", 3)[3]
        # pinned to the generation listed, so a concurrent re-upload cannot mix two versions
        return gcs.BlobRangeReader(self._bucket().blob(name, generation=generation), size)

    def read(self, raw_file):
        reader = self._reader(raw_file)
        data = reader.read_range(0, reader.size()) if reader.size() else b""
        table = read_raw_bytes(str(raw_file.path), data, raw_file.data_type)
        return table, hashlib.sha256(data).hexdigest()

    def ts_init_in_window(self, raw_file, start_ns, end_ns):
        if not str(raw_file.path).endswith(".parquet"):  # CSV has no index: the whole object
            return _in_window(self.read(raw_file)[0].column("ts_init").to_numpy(), start_ns, end_ns)
        reader = self._reader(raw_file)
        metadata = parquet_metadata(reader)
        column, factor = time_column(metadata.schema.to_arrow_schema(), raw_file.path)
        lo, hi = start_ns // factor, -(-end_ns // factor)
        groups = overlapping_row_groups(metadata, column, lo, hi)
        if not groups:
            return np.empty(0, np.int64)
        try:
            parquet = pq.ParquetFile(pa.PythonFile(reader, mode="r"), metadata=metadata)
            values = _as_ints(parquet.read_row_groups(groups, columns=[column]).column(column))
        except gcs.StorageError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise RawDataError(raw_file.path, f"cannot read column {column!r} ({exc})") from exc
        return _in_window(values.astype(np.int64) * factor, start_ns, end_ns)


def parquet_metadata(reader: gcs.BlobRangeReader) -> pq.FileMetaData:
    """A Parquet object's footer in one ranged read (two when the footer exceeds FOOTER_GUESS)."""
    size = reader.size()
    if size < 12:
        raise RawDataError(reader.name, f"not a readable Parquet file ({size} bytes)")
    tail = reader.read_range(max(0, size - FOOTER_GUESS), size)
    footer_length, magic = struct.unpack("<i4s", tail[-8:])
    if magic != b"PAR1" or footer_length + 8 > size:
        raise RawDataError(reader.name, "not a readable Parquet file (no Parquet footer)")
    if footer_length + 8 > len(tail):
        tail = reader.read_range(size - footer_length - 8, size - len(tail)) + tail
    footer = tail[-(footer_length + 8) :]
    try:
        # The footer alone, framed as a file: offsets inside still point into the real object.
        return pq.read_metadata(pa.BufferReader(b"PAR1" + footer))
    except Exception as exc:  # noqa: BLE001
        raise RawDataError(reader.name, f"not a readable Parquet file ({exc})") from exc


def overlapping_row_groups(metadata: pq.FileMetaData, column: str, lo: int, hi: int) -> list[int]:
    """Row groups whose min/max of ``column`` may overlap [lo, hi) (all when there are no statistics)."""
    index = metadata.schema.names.index(column)
    groups = []
    for i in range(metadata.num_row_groups):
        stats = metadata.row_group(i).column(index).statistics
        # raw (physical int64) values: a timestamp column's min/max would be datetimes
        if stats is None or not stats.has_min_max or (stats.max_raw >= lo and stats.min_raw < hi):
            groups.append(i)
    return groups


def _in_window(ts_init: np.ndarray, start_ns: int, end_ns: int) -> np.ndarray:
    ts_init = np.asarray(ts_init, dtype=np.int64)
    return np.sort(ts_init[(ts_init >= start_ns) & (ts_init < end_ns)])


def as_raw_source(value: RawSource | Path | str) -> RawSource:
    """A source from a source, a folder, or a ``gs://bucket/prefix`` URI."""
    if isinstance(value, RawSource):
        return value
    if gcs.is_remote(value):
        return GcsRawSource.from_uri(str(value))
    return LocalRawSource(Path(value))


def raw_source(
    data_source: str,
    *,
    root: Path | str | None = None,
    bucket: str | None = None,
    use_direct_gcs: bool = False,
    project: str | None = None,
) -> RawSource:
    """The raw source for ``data_source`` (``local`` | ``gcs``); every value is given by the caller
    (the environment's defaults are applied at the edge: ``catalog.resources.raw_source_from_settings``).

    ``local`` reads the folder ``root``. ``gcs`` reads a mounted bucket as a local root when one is
    given (``root``) and holds ``raw_tick_data/``, unless ``use_direct_gcs``; otherwise the API on
    ``bucket`` (a name or ``gs://bucket/prefix``).
    """
    data_source = data_source.lower()
    if data_source == "local":
        if root is None:
            raise gcs.StorageError("data source 'local' needs a raw root folder")
        return as_raw_source(root)
    if data_source != "gcs":
        raise gcs.StorageError(f"data source {data_source!r} is not 'local' or 'gcs'")
    if root is not None and gcs.is_remote(root):
        return GcsRawSource.from_uri(str(root), project)
    if root is not None and not use_direct_gcs and (Path(root) / RAW_DIR).is_dir():
        return LocalRawSource(Path(root))
    if not bucket:
        raise gcs.StorageError(
            "data source 'gcs' needs a bucket: set UNIFIED_CLOUD_SERVICES_GCS_BUCKET "
            "(or mount the bucket with gcsfuse and set UNIFIED_CLOUD_LOCAL_PATH to the mount)"
        )
    uri = bucket if bucket.startswith("gs://") else f"gs://{bucket}"
    return GcsRawSource.from_uri(uri, project)
