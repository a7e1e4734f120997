"""The versioned sources of backtests: config files and algorithm files, observed per partition.

A source's data version is its content hash, so editing one config or one algorithm makes
exactly the backtest partitions that depend on it stale.
"""

import hashlib
import json
from pathlib import Path

from dagster import AssetObservation, DataVersion, DataVersionsByPartition, MetadataValue, observable_source_asset
from dagster._core.definitions.data_version import DATA_VERSION_TAG

from odum_pipeline.algorithms.registry import AlgorithmEntry, discover
from odum_pipeline.backtests.config import (
    BacktestConfig,
    ConfigError,
    config_sha256,
    list_configs,
    load_config,
    variant_base_name,
)
from odum_pipeline.backtests.partitions import algorithm_partitions, config_partitions
from odum_pipeline.backtests.resources import AlgorithmsResource, ConfigsResource


def config_version(path: Path) -> str:
    """The config's canonical content hash; an invalid file is versioned by its bytes (and fails at run time)."""
    try:
        return valid_config_version(load_config(path))
    except ConfigError:
        return invalid_config_version(path)


def valid_config_version(config: BacktestConfig) -> str:
    return config_sha256(config)[:16]


def invalid_config_version(path: Path) -> str:
    return "invalid-" + hashlib.sha256(path.read_bytes()).hexdigest()[:16]


@observable_source_asset(
    partitions_def=config_partitions,
    group_name="backtests",
    description="Backtest config JSON files in configs/, one partition per file; data version = content hash.",
)
def backtest_configs(context, configs: ConfigsResource) -> DataVersionsByPartition:
    registered = set(context.instance.get_dynamic_partitions(config_partitions.name))
    return DataVersionsByPartition(
        {path.stem: DataVersion(config_version(path)) for path in list_configs(configs.path) if path.stem in registered}
    )


@observable_source_asset(
    partitions_def=algorithm_partitions,
    group_name="backtests",
    description="Execution algorithm files in algorithms/ (NORMAL built in); data version = source hash. "
    "Each partition's observation shows the algorithm's parameters (schema and defaults) and its source.",
)
def algorithm_registry(context, algorithms: AlgorithmsResource) -> DataVersionsByPartition:
    """A sweep variant's partition (``TWAP[horizon_secs=60]``) has its algorithm's version."""
    registered = set(context.instance.get_dynamic_partitions(algorithm_partitions.name))
    entries = discover(algorithms.path)
    for key in sorted(registered):
        entry = entries.get(variant_base_name(key))
        if entry is not None:  # logged here (not returned) so that each observation carries its metadata
            context.log_event(algorithm_observation(entry, partition=key))
    return DataVersionsByPartition({})


def algorithm_observation(entry: AlgorithmEntry, partition: str | None = None) -> AssetObservation:
    """One algorithm's observation (of its own partition, or of a sweep variant's): its data version
    (the source hash) and what the UI should show."""
    return AssetObservation(
        "algorithm_registry", partition=partition or entry.name, tags={DATA_VERSION_TAG: entry.version},
        metadata=algorithm_metadata(entry),
    )


MAX_SOURCE_CHARS = 60_000


def algorithm_metadata(entry: AlgorithmEntry) -> dict:
    """Parameters (a Markdown table and the JSON schema), version, file and the full source."""
    if entry.is_builtin:
        return {"version": entry.version, "parameters": MetadataValue.md(
            "Built in: the whole parent order at once; a remainder the visible book could not fill keeps "
            "working on the next book updates. No parameters.")}
    rows = ["| parameter | type | default | bounds | description |", "|---|---|---|---|---|"]
    for spec in entry.parameters:
        bounds = ", ".join(
            part for part in (
                f"{'>' if spec.exclusive_min else '>='} {spec.min:g}" if spec.min is not None else "",
                f"<= {spec.max:g}" if spec.max is not None else "",
                "one of " + " / ".join(spec.choices) if spec.choices else "",
            ) if part
        )
        default = "required" if spec.required else f"`{json.dumps(spec.default)}`"
        rows.append(f"| `{spec.name}` | {spec.type} | {default} | {bounds or '-'} | {spec.doc.replace('|', '/')} |")
    source = entry.path.read_text(encoding="utf-8", errors="replace")
    shown = source if len(source) <= MAX_SOURCE_CHARS else source[:MAX_SOURCE_CHARS] + "\n# ... (truncated; see the file)"
    return {
        "version": entry.version,
        "sha256": entry.source_sha256,
        "path": MetadataValue.path(str(entry.path)),
        "parameters": MetadataValue.md("\n".join(rows) if entry.parameters else "No parameters."),
        "parameters_schema": MetadataValue.json(entry.schema()),
        "source": MetadataValue.md(f"```python\n{shown.replace('```', '` ` `')}\n```"),
    }
