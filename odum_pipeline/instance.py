"""The persistent local Dagster instance (SQLite under ./var/dagster_home unless DAGSTER_HOME says otherwise)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from dagster import DagsterInstance

from odum_pipeline import settings

INSTANCE_TEMPLATE = settings.PROJECT_ROOT / "dagster.yaml"


def ensure_dagster_home() -> Path:
    """Set DAGSTER_HOME (default ./var/dagster_home), creating it with the project's dagster.yaml."""
    home = Path(os.environ.get("DAGSTER_HOME", settings.var_root() / "dagster_home")).resolve()
    os.environ["DAGSTER_HOME"] = str(home)
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists() and INSTANCE_TEMPLATE.exists():
        shutil.copy(INSTANCE_TEMPLATE, home / "dagster.yaml")
    return home


def local_instance() -> DagsterInstance:
    ensure_dagster_home()
    return DagsterInstance.get()
