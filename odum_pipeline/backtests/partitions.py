"""The (config, algorithm) partitions of backtest runs, and the config / algorithm partitions of their sources."""

from __future__ import annotations

from dagster import DynamicPartitionsDefinition, MultiPartitionKey, MultiPartitionsDefinition

config_partitions = DynamicPartitionsDefinition(name="config")
algorithm_partitions = DynamicPartitionsDefinition(name="algorithm")
# Keys are ordered by dimension name: "TWAP|sample_eth_parent_orders".
backtest_partitions = MultiPartitionsDefinition({"algorithm": algorithm_partitions, "config": config_partitions})


def backtest_partition_key(config_name: str, algorithm_name: str) -> MultiPartitionKey:
    return MultiPartitionKey({"config": config_name, "algorithm": algorithm_name})


def parse_backtest_partition(partition_key) -> tuple[str, str]:
    """(config name, algorithm name) of a backtest partition key."""
    if isinstance(partition_key, MultiPartitionKey):
        keys = partition_key.keys_by_dimension
        return keys["config"], keys["algorithm"]
    algorithm, config = str(partition_key).split("|", 1)
    return config, algorithm
