"""A NautilusTrader catalog in a GCS bucket (``gs://bucket/prefix``), through fsspec (gcsfs).

Reading: NautilusTrader queries its built-in types with its Rust DataFusion backend, which talks to
GCS with its own ``object_store`` client (Google credentials only, no emulator, and no way to see
what it reads). :class:`RemoteCatalog` hands NautilusTrader the window's files instead (chosen by
the time range NautilusTrader encodes in every file name), which makes it use its PyArrow backend:
a dataset over the gcsfs filesystem filtered on ``ts_init``, so only the footers and the row
groups overlapping the window are downloaded (ranged reads, counted in ``gcs.READ_STATS``). The
objects decoded are the same as from a local catalog.

Writing a day is :mod:`odum_pipeline.catalog.store`'s, over the same gcsfs filesystem.
"""

from __future__ import annotations

from nautilus_trader.persistence.catalog import ParquetDataCatalog

from odum_pipeline import gcs


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
