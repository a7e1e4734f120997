"""Sensor registering a partition per config file and per algorithm (file or built-in)."""

from dagster import DefaultSensorStatus, SensorEvaluationContext, SensorResult, sensor

from odum_pipeline.algorithms.registry import discover
from odum_pipeline.backtests.config import list_configs
from odum_pipeline.backtests.partitions import algorithm_partitions, config_partitions
from odum_pipeline.resources import AlgorithmsResource, ConfigsResource


def new_source_partitions(instance, configs_root, algorithms_root) -> tuple[list[str], list[str]]:
    """Config stems and algorithm names on disk that are not partitions yet."""
    known_configs = set(instance.get_dynamic_partitions(config_partitions.name))
    known_algorithms = set(instance.get_dynamic_partitions(algorithm_partitions.name))
    configs = sorted(path.stem for path in list_configs(configs_root) if path.stem not in known_configs)
    algorithms = sorted(name for name in discover(algorithms_root) if name not in known_algorithms)
    return configs, algorithms


@sensor(
    minimum_interval_seconds=30,
    default_status=DefaultSensorStatus.RUNNING,
    description="Registers a partition for each new config file in configs/ and each new algorithm in algorithms/.",
)
def backtest_sources_sensor(
    context: SensorEvaluationContext, configs: ConfigsResource, algorithms: AlgorithmsResource
) -> SensorResult:
    new_configs, new_algorithms = new_source_partitions(context.instance, configs.path, algorithms.path)
    requests = []
    if new_configs:
        requests.append(config_partitions.build_add_request(new_configs))
    if new_algorithms:
        requests.append(algorithm_partitions.build_add_request(new_algorithms))
    return SensorResult(dynamic_partitions_requests=requests)
