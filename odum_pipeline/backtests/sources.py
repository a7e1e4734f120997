"""The versioned sources of backtests: config files and algorithm files, observed per partition.

A source's data version is its content hash, so editing one config or one algorithm makes
exactly the backtest partitions that depend on it stale.
"""

import hashlib
from pathlib import Path

from dagster import DataVersion, DataVersionsByPartition, observable_source_asset

from odum_pipeline.algorithms.registry import discover
from odum_pipeline.backtests.config import (
    BacktestConfig,
    ConfigError,
    config_sha256,
    list_configs,
    load_config,
    variant_base_name,
)
from odum_pipeline.backtests.partitions import algorithm_partitions, config_partitions
from odum_pipeline.resources import AlgorithmsResource, ConfigsResource


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
    description="Execution algorithm files in algorithms/ (NORMAL built in); data version = source hash.",
)
def algorithm_registry(context, algorithms: AlgorithmsResource) -> DataVersionsByPartition:
    """A sweep variant's partition (``TWAP[horizon_secs=60]``) has its algorithm's version."""
    registered = set(context.instance.get_dynamic_partitions(algorithm_partitions.name))
    versions = {name: entry.version for name, entry in discover(algorithms.path).items()}
    return DataVersionsByPartition(
        {key: DataVersion(versions[variant_base_name(key)]) for key in registered if variant_base_name(key) in versions}
    )
