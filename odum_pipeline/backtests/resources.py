"""Dagster resources of the backtests domain: the folders of backtest configs and algorithm files, and the results root.

The algorithms package itself stays Dagster-free, so its folder resource lives here, beside the
versioned-source assets that observe it."""

from __future__ import annotations

from pathlib import Path

from dagster import ConfigurableResource
from pydantic import Field

from odum_pipeline import settings
from odum_pipeline.gcs import location


class ConfigsResource(ConfigurableResource):
    """Folder of backtest config JSON files (one partition each, named by file stem)."""

    root: str = Field(default_factory=lambda: str(settings.configs_root()))

    @property
    def path(self) -> Path:
        return Path(self.root)

    def config_path(self, name: str) -> Path:
        return self.path / f"{name}.json"


class AlgorithmsResource(ConfigurableResource):
    """Folder of execution algorithm files (one partition each; NORMAL is built in)."""

    root: str = Field(default_factory=lambda: str(settings.algorithms_root()))
    var_root: str = Field(
        default_factory=lambda: str(settings.var_root()),
        description="Holds algorithm_store/, the content-addressed archive of every saved version.",
    )

    @property
    def path(self) -> Path:
        return Path(self.root)


class ResultsResource(ConfigurableResource):
    """Root of the backtest results (``fast/`` and ``report/``)."""

    root: str = Field(default_factory=lambda: str(settings.results_location()))

    @property
    def path(self) -> Path | str:
        """A ``Path``, or the ``gs://`` URI as a string."""
        return location(self.root)
