"""Publishing a backtest config into ``configs/`` with its history kept. Plain Python (no Dagster).

``publish_config(root, name, document)`` validates the document with the pydantic model
(``parse_config``: every problem named by field), then writes it as ``<root>/<name>.json``.
The version it replaces is kept as ``<root>/.history/<name>/<UTC timestamp>_<sha12>.json``
(``sha12``: the replaced version's content hash, as ``backtest_configs`` versions it), so every
config a past run used can be found again. A document whose content hash equals the current
file's writes nothing. An invalid document writes nothing and raises ``ConfigError``.

Used by the ``publish_config`` Dagster job; the CLI can use it the same way.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from odum_pipeline.backtests.config import BacktestConfig, ConfigError, config_sha256, parse_config, parse_document
from odum_pipeline.files import HISTORY_DIR, atomic_write, keep_previous

NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")


@dataclass(frozen=True)
class PublishedConfig:
    name: str
    path: Path
    sha256: str
    changed: bool  # False: the same content was there already, nothing written
    config: BacktestConfig
    previous_sha256: str | None = None  # the content hash of the replaced version (None: a new config)
    history_path: Path | None = None  # where the replaced version was kept


def check_name(name: str) -> str:
    if not NAME_PATTERN.fullmatch(name or "") or name.endswith(".json"):
        raise ConfigError(
            f"name: {name!r} is not a valid config name (letters, digits, '_', '-', '.'; "
            "starting with a letter or digit; without '.json'; at most 100 characters)"
        )
    return name


def validate_document(name: str, document: str | dict[str, Any]) -> tuple[dict[str, Any], BacktestConfig]:
    """The parsed document and its validated config; ``ConfigError`` naming the field otherwise."""
    check_name(name)
    source = f"{name}.json"
    data = parse_document(document, source) if isinstance(document, str) else document
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a JSON object at the top level, got {type(data).__name__}")
    if data.get("name") not in (None, name):
        raise ConfigError(f"{source}: invalid backtest config (1 error(s))\n  - name: {data['name']!r} differs from the file name {name!r}")
    return data, parse_config(data, source=Path(source))


def history_dir(root: str | Path, name: str) -> Path:
    return Path(root) / HISTORY_DIR / name


def config_history(root: str | Path, name: str) -> list[Path]:
    """The kept previous versions of ``name``, oldest first."""
    directory = history_dir(root, name)
    return sorted(directory.glob("*.json")) if directory.is_dir() else []


def _content_hash(path: Path) -> str:
    """The canonical content hash of a stored version; its bytes' hash when it is not a valid config."""
    try:
        return config_sha256(path)
    except ConfigError:
        return hashlib.sha256(path.read_bytes()).hexdigest()


def publish_config(
    root: str | Path, name: str, document: str | dict[str, Any], *, now: dt.datetime | None = None
) -> PublishedConfig:
    """Validate ``document`` and install it as ``<root>/<name>.json``, keeping the version it replaces."""
    data, config = validate_document(name, document)
    root = Path(root)
    target = root / f"{name}.json"
    sha = config_sha256(config)
    previous_sha = history_path = None
    if target.exists():
        previous_sha = _content_hash(target)
        if previous_sha == sha:
            return PublishedConfig(name, target, sha, False, config, previous_sha)
        history_path = keep_previous(target, history_dir(root, name), previous_sha[:12], now=now)
    atomic_write(target, json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    return PublishedConfig(name, target, sha, True, config, previous_sha, history_path)
