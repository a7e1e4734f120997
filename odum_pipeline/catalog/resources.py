"""Dagster resources of the catalog domain: where raw ticks are read and where the catalog is written.

Defaults come from :mod:`odum_pipeline.settings` (the desk's environment variables, else ./var),
so the same definitions run locally and in production without code changes.

Raw data: ``data_source`` ``local`` (a folder) or ``gcs`` (a bucket read through dagster-gcp's
``GCSResource`` client, or a gcsfuse mount of it); :meth:`RawDataResource.source` builds the
:class:`~odum_pipeline.catalog.raw_sources.RawSource` every consumer uses. The catalog root may be a
``gs://`` URI (``location``).
"""

from __future__ import annotations

from pathlib import Path

from dagster import ConfigurableResource
from pydantic import Field

from odum_pipeline import settings
from odum_pipeline.catalog.raw_sources import RawSource, raw_source
from odum_pipeline.gcs import location


def raw_source_from_settings(
    data_source: str | None = None, *, root: Path | str | None = None, bucket: str | None = None
) -> RawSource:
    """:func:`~odum_pipeline.catalog.raw_sources.raw_source` with the environment's defaults, for the CLI.

    ``data_source``: else ``ODUM_DATA_SOURCE``, else local. ``root``: else ``UNIFIED_CLOUD_LOCAL_PATH``
    (for ``gcs``, a gcsfuse mount of the bucket; for ``local``, else ./var/raw). ``bucket``: else
    ``UNIFIED_CLOUD_SERVICES_GCS_BUCKET``. ``UNIFIED_CLOUD_SERVICES_USE_DIRECT_GCS`` reads through the
    API even when a mount exists.
    """
    data_source = (data_source or settings.data_source()).lower()
    if root is None:
        root = settings.raw_root() if data_source == "local" else settings.explicit_raw_root()
    return raw_source(
        data_source, root=root, bucket=bucket or settings.gcs_bucket(), use_direct_gcs=settings.use_direct_gcs()
    )


class RawDataResource(ConfigurableResource):
    """Where raw ticks are: a folder holding ``raw_tick_data/`` (local disk or a GCS FUSE mount) or a bucket."""

    root: str = Field(default_factory=lambda: str(settings.raw_root()))
    data_source: str = Field(
        default_factory=settings.data_source, description="'local' or 'gcs' (default: ODUM_DATA_SOURCE, else local)."
    )
    gcs_bucket: str | None = Field(
        default_factory=settings.gcs_bucket,
        description="Raw bucket, 'name' or 'gs://name/prefix' (UNIFIED_CLOUD_SERVICES_GCS_BUCKET).",
    )
    use_direct_gcs: bool = Field(
        default_factory=settings.use_direct_gcs,
        description="Read the bucket through the API even when a mount exists (UNIFIED_CLOUD_SERVICES_USE_DIRECT_GCS).",
    )
    gcs_project: str | None = Field(default=None, description="Project of the GCSResource client.")

    @property
    def path(self) -> Path:
        return Path(self.root)

    def source(self) -> RawSource:
        """The :class:`~odum_pipeline.catalog.raw_sources.RawSource` for this configuration."""
        if self.data_source == "local":
            return raw_source("local", root=self.root)
        mount = self.root if (settings.explicit_raw_root() or self.root != str(settings.raw_root())) else None
        return raw_source(
            "gcs", root=mount, bucket=self.gcs_bucket or settings.gcs_bucket(), use_direct_gcs=self.use_direct_gcs, project=self.gcs_project
        )


class CatalogResource(ConfigurableResource):
    """Root of the NautilusTrader ``ParquetDataCatalog``."""

    root: str = Field(default_factory=lambda: str(settings.catalog_location()))
    max_gap_secs: float = Field(60.0, description="Gaps between ticks longer than this raise a WARN check.")

    @property
    def path(self) -> Path | str:
        """A ``Path``, or the ``gs://`` URI as a string."""
        return location(self.root)
