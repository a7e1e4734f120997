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


# --- data source (local | gcs) and the seed's GCS variables --------------------------------------

_TRUE = ("1", "true", "yes", "on")


def data_source() -> str:
    """``local`` or ``gcs`` (``ODUM_DATA_SOURCE``; default ``local``)."""
    return os.environ.get("ODUM_DATA_SOURCE", "local").strip().lower() or "local"


def explicit_raw_root() -> Path | None:
    """``UNIFIED_CLOUD_LOCAL_PATH`` when set (a local folder or a GCS FUSE mount), else None."""
    value = os.environ.get("UNIFIED_CLOUD_LOCAL_PATH")
    return Path(value) if value else None


def gcs_bucket() -> str | None:
    """The raw-data bucket (``UNIFIED_CLOUD_SERVICES_GCS_BUCKET``: ``name`` or ``gs://name/prefix``)."""
    return os.environ.get("UNIFIED_CLOUD_SERVICES_GCS_BUCKET") or None


def use_direct_gcs() -> bool:
    """``UNIFIED_CLOUD_SERVICES_USE_DIRECT_GCS``: read through the API even when a mount exists."""
    return os.environ.get("UNIFIED_CLOUD_SERVICES_USE_DIRECT_GCS", "").strip().lower() in _TRUE


def catalog_location() -> str | Path:
    """Like :func:`catalog_root`, but a ``gs://`` URI stays a string."""
    value = os.environ.get("DATA_CATALOG_PATH")
    return value if value and "://" in value else catalog_root()


def results_location() -> str | Path:
    """Like :func:`results_root`, but a ``gs://`` URI stays a string."""
    value = os.environ.get("BACKTEST_RESULTS_PATH")
    return value if value and "://" in value else results_root()
