"""Default locations, from the environment variables the desk already uses, else folders under ./var."""

from __future__ import annotations

import os
from pathlib import Path

#: Repository root when running from a checkout; the working directory otherwise.
PROJECT_ROOT = Path(__file__).resolve().parent.parent


def var_root() -> Path:
    return Path(os.environ.get("ODUM_VAR_ROOT", PROJECT_ROOT / "var"))


def raw_root() -> Path:
    """The folder that holds ``raw_tick_data/`` (``UNIFIED_CLOUD_LOCAL_PATH``)."""
    return Path(os.environ.get("UNIFIED_CLOUD_LOCAL_PATH", var_root() / "raw"))


def catalog_root() -> Path:
    """The NautilusTrader ``ParquetDataCatalog`` root (``DATA_CATALOG_PATH``)."""
    return Path(os.environ.get("DATA_CATALOG_PATH", var_root() / "catalog"))


def results_root() -> Path:
    """Backtest results (``BACKTEST_RESULTS_PATH``)."""
    return Path(os.environ.get("BACKTEST_RESULTS_PATH", var_root() / "backtest_results"))


def configs_root() -> Path:
    return Path(os.environ.get("ODUM_CONFIGS_PATH", PROJECT_ROOT / "configs"))


def algorithms_root() -> Path:
    return Path(os.environ.get("ODUM_ALGORITHMS_PATH", PROJECT_ROOT / "algorithms"))
