"""Dagster resources naming where raw ticks, the catalog and the results live.

Defaults come from :mod:`odum_pipeline.settings` (the desk's environment variables, else ./var),
so the same definitions run locally and in production without code changes.
"""

from __future__ import annotations

from pathlib import Path

from dagster import ConfigurableResource
from pydantic import Field

from odum_pipeline import settings


class RawDataResource(ConfigurableResource):
    """Root folder holding ``raw_tick_data/`` (a local disk or a GCS FUSE mount)."""

    root: str = Field(default_factory=lambda: str(settings.raw_root()))

    @property
    def path(self) -> Path:
        return Path(self.root)


class CatalogResource(ConfigurableResource):
    """Root of the NautilusTrader ``ParquetDataCatalog``."""

    root: str = Field(default_factory=lambda: str(settings.catalog_root()))
    max_gap_secs: float = Field(60.0, description="Gaps between ticks longer than this raise a WARN check.")

    @property
    def path(self) -> Path:
        return Path(self.root)


class ResultsResource(ConfigurableResource):
    """Root of the backtest results (``fast/`` and ``report/``)."""

    root: str = Field(default_factory=lambda: str(settings.results_root()))

    @property
    def path(self) -> Path:
        return Path(self.root)
