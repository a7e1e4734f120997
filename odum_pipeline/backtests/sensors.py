"""Sensor over the versioned backtest sources: config files and algorithm files.

Each tick it compares the content versions on disk (``sources.config_version``, the registry's
source hash) with the versions in its cursor:

- a new config or algorithm gets its partition registered;
- a new or changed config, or algorithm, is reported as an observation of ``backtest_configs`` /
  ``algorithm_registry`` carrying its new data version (so staleness shows at once, and the
  declarative automation sees the change *before* the run it requests here completes);
- a new or changed config requests its backtests, one per algorithm it lists
  (``execution.algorithms``); a new or changed algorithm requests the backtests of the configs
  that list it. Run keys name both content versions, so a (config, algorithm) pair at given
  versions is never requested twice, even after the cursor is reset.

Invalid configs are registered and observed (their partition fails at run time with the field
that is wrong) but request nothing; they are logged as warnings.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from dagster import (
    AssetObservation,
    DefaultSensorStatus,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)
from dagster._core.definitions.data_version import DATA_VERSION_TAG

from odum_pipeline.algorithms.registry import AlgorithmRegistryError, discover
from odum_pipeline.backtests.assets import backtest_run
from odum_pipeline.backtests.config import (
    BacktestConfig,
    ConfigError,
    config_sha256,
    list_configs,
    load_config,
    variant_base_name,
)
from odum_pipeline.backtests.engine import BacktestSetupError
from odum_pipeline.backtests.partitions import algorithm_partitions, backtest_partition_key, config_partitions
from odum_pipeline.backtests.resources import AlgorithmsResource, ConfigsResource
from odum_pipeline.backtests.runs import check_window_covered
from odum_pipeline.backtests.source_assets import algorithm_observation, invalid_config_version, valid_config_version
from odum_pipeline.catalog.resources import CatalogResource
from odum_pipeline.materialized import materialization_is_current

TRIGGER_TAG = "odum/trigger"


def new_source_partitions(instance, configs_root, algorithms_root) -> tuple[list[str], list[str]]:
    """Config stems and algorithm partition keys (names, and the configs' sweep variants) that are not
    partitions yet."""
    known_configs = set(instance.get_dynamic_partitions(config_partitions.name))
    known_algorithms = set(instance.get_dynamic_partitions(algorithm_partitions.name))
    paths = list_configs(configs_root)
    configs = sorted(path.stem for path in paths if path.stem not in known_configs)
    _, listed, _ = _read_configs(paths)
    keys = algorithm_keys(set(discover(algorithms_root)), listed)
    return configs, sorted(keys - known_algorithms)


def algorithm_keys(names: set[str], listed: dict[str, list[str]]) -> set[str]:
    """The registry's names and every variant key a config lists of a known algorithm."""
    return set(names) | {key for keys in listed.values() for key in keys if variant_base_name(key) in names}


@dataclass
class SourcesCursor:
    """The content version of every config and algorithm seen at the last tick, and the backtests
    ("config|algorithm") waiting for the catalog to cover their window."""

    configs: dict[str, str] = field(default_factory=dict)
    algorithms: dict[str, str] = field(default_factory=dict)
    waiting: list[str] = field(default_factory=list)

    @classmethod
    def parse(cls, text: str | None) -> SourcesCursor:
        if not text:
            return cls()
        data = json.loads(text)
        return cls(
            configs=dict(data.get("configs", {})),
            algorithms=dict(data.get("algorithms", {})),
            waiting=list(data.get("waiting", [])),
        )

    def dump(self) -> str:
        return json.dumps(
            {"configs": self.configs, "algorithms": self.algorithms, "waiting": sorted(self.waiting)}, sort_keys=True
        )


@dataclass
class SourcesPlan:
    """What one tick does: partitions to register, observations to report, backtests to request."""

    cursor: SourcesCursor
    new_configs: list[str]
    new_algorithms: list[str]
    changed_configs: list[str]
    changed_algorithms: list[str]
    backtests: list[tuple[str, str]]  # (config, algorithm)
    warnings: list[str]
    listed: dict[str, list[str]] = field(default_factory=dict)  # valid config -> its algorithm keys


def plan_keys(plan: SourcesPlan) -> set[str]:
    """The algorithm partition keys a tick's backtests name (sweep variants included)."""
    return {algorithm for _, algorithm in plan.backtests}


def backtest_run_key(config: str, algorithm: str, config_ver: str, algorithm_ver: str) -> str:
    return f"backtest:{config}|{algorithm}@{config_ver}:{algorithm_ver}"


def _read_configs(paths: list[Path]) -> tuple[dict[str, str], dict[str, list[str]], dict[str, ConfigError]]:
    """Each config file read once: its version, its algorithms (valid ones) or its error (invalid ones)."""
    versions: dict[str, str] = {}
    listed: dict[str, list[str]] = {}
    invalid: dict[str, ConfigError] = {}
    for path in paths:
        try:
            config = load_config(path)
        except ConfigError as error:
            versions[path.stem], invalid[path.stem] = invalid_config_version(path), error
            continue
        versions[path.stem], listed[path.stem] = valid_config_version(config), config.execution.names()
    return versions, listed, invalid


def plan_sources_tick(
    previous: SourcesCursor,
    configs_root: Path,
    algorithms_root: Path,
    known_configs: set[str],
    known_algorithms: set[str],
) -> SourcesPlan:
    """The plain (Dagster-free) decision of one tick."""
    warnings: list[str] = []
    config_versions, listed, invalid = _read_configs(list_configs(configs_root))
    try:
        algorithm_versions = {name: entry.version for name, entry in discover(algorithms_root).items()}
    except AlgorithmRegistryError as error:  # e.g. two files declaring one name: keep the last good view
        warnings.append(f"algorithm registry unreadable, algorithms left as they were: {error}")
        algorithm_versions = dict(previous.algorithms)

    for name, error in invalid.items():
        if previous.configs.get(name) != config_versions[name]:
            warnings.append(f"config {name} is invalid, no backtests requested:\n{error}")

    changed_configs = sorted(n for n, v in config_versions.items() if previous.configs.get(n) != v)
    changed_algorithms = sorted(n for n, v in algorithm_versions.items() if previous.algorithms.get(n) != v)
    pairs: set[tuple[str, str]] = set()
    for config in changed_configs:
        for algorithm in listed.get(config, []):
            if variant_base_name(algorithm) in algorithm_versions:
                pairs.add((config, algorithm))
            else:
                warnings.append(f"config {config} lists unknown algorithm {algorithm}: not requested")
    for algorithm in changed_algorithms:
        pairs.update(
            (config, key) for config, keys in listed.items() for key in keys if variant_base_name(key) == algorithm
        )

    return SourcesPlan(
        cursor=SourcesCursor(configs=config_versions, algorithms=algorithm_versions),
        new_configs=sorted(set(config_versions) - known_configs),
        new_algorithms=sorted(algorithm_keys(set(algorithm_versions), listed) - known_algorithms),
        changed_configs=changed_configs,
        changed_algorithms=changed_algorithms,
        backtests=sorted(pairs),
        warnings=warnings,
        listed=listed,
    )


@dataclass
class Triage:
    """The backtests a tick considered: to request, finished already, waiting for the catalog (with why)."""

    requested: list[tuple[str, str]] = field(default_factory=list)
    finished: list[tuple[str, str]] = field(default_factory=list)
    waiting: dict[tuple[str, str], str] = field(default_factory=dict)


def candidate_backtests(plan: SourcesPlan, previous: SourcesCursor) -> list[tuple[str, str]]:
    """The plan's backtests and those still waiting for data (if their config still lists them)."""
    waiting = {tuple(key.split("|", 1)) for key in previous.waiting}
    still_listed = {(config, key) for config, keys in plan.listed.items() for key in keys}
    return sorted(set(plan.backtests) | (waiting & still_listed))


def triage_backtests(
    instance, pairs: list[tuple[str, str]], versions: SourcesCursor, configs_root: Path, catalog_root: Path
) -> Triage:
    triage = Triage()
    configs: dict[str, BacktestConfig | None] = {}
    coverage: dict[str, str | None] = {}  # config -> why its window is not covered, None when it is
    for config_name, algorithm in pairs:
        if config_name not in configs:
            try:
                configs[config_name] = load_config(configs_root / f"{config_name}.json")
            except ConfigError:  # edited into an invalid file since this tick read it: the next tick warns
                configs[config_name] = None
        config = configs[config_name]
        if config is None:
            continue
        current = {
            "config_sha256": config_sha256(config),
            "algorithm_version": versions.algorithms[variant_base_name(algorithm)],
        }
        if materialization_is_current(instance, backtest_run, backtest_partition_key(config_name, algorithm), current):
            triage.finished.append((config_name, algorithm))
            continue
        if config_name not in coverage:
            coverage[config_name] = _not_covered(config, catalog_root)
        if coverage[config_name]:
            triage.waiting[(config_name, algorithm)] = coverage[config_name]
        else:
            triage.requested.append((config_name, algorithm))
    return triage


def _not_covered(config: BacktestConfig, catalog_root: Path) -> str | None:
    """Why the catalog cannot feed the window (missing or damaged days, no market data), None if it can."""
    try:
        check_window_covered(config, catalog_root)
    except BacktestSetupError as error:  # WindowNotCoveredError and the other pre-flight failures
        return str(error)
    return None


@sensor(
    minimum_interval_seconds=10,
    default_status=DefaultSensorStatus.RUNNING,
    asset_selection=[backtest_run],
    description=(
        "Registers a partition per config file in configs/ and per algorithm in algorithms/; a new or "
        "changed config requests its backtests (one per algorithm it lists), a new or changed algorithm "
        "the backtests of the configs listing it. Run keys carry both content hashes."
    ),
)
def backtest_sources_sensor(
    context: SensorEvaluationContext, configs: ConfigsResource, algorithms: AlgorithmsResource, catalog: CatalogResource
) -> SensorResult:
    instance = context.instance
    previous = SourcesCursor.parse(context.cursor)
    plan = plan_sources_tick(
        previous,
        configs.path,
        algorithms.path,
        set(instance.get_dynamic_partitions(config_partitions.name)),
        set(instance.get_dynamic_partitions(algorithm_partitions.name)),
    )
    for warning in plan.warnings:
        context.log.warning(warning)
    versions = plan.cursor
    triage = triage_backtests(instance, candidate_backtests(plan, previous), versions, configs.path, catalog.path)
    versions.waiting = [f"{config}|{algorithm}" for config, algorithm in triage.waiting]
    skipped = _log_skipped(context, triage)
    observations = [
        AssetObservation("backtest_configs", partition=name, tags={DATA_VERSION_TAG: versions.configs[name]})
        for name in plan.changed_configs
    ] + _algorithm_observations(algorithms.path, plan.changed_algorithms, versions.algorithms, plan_keys(plan))
    run_requests = [
        RunRequest(
            partition_key=backtest_partition_key(config, algorithm),
            run_key=backtest_run_key(
                config, algorithm, versions.configs[config], versions.algorithms[variant_base_name(algorithm)]
            ),
            tags={TRIGGER_TAG: "backtest_sources_sensor"},
        )
        for config, algorithm in triage.requested
    ]
    requests = []
    if plan.new_configs:
        requests.append(config_partitions.build_add_request(plan.new_configs))
    if plan.new_algorithms:
        requests.append(algorithm_partitions.build_add_request(plan.new_algorithms))
    return SensorResult(
        run_requests=run_requests,
        dynamic_partitions_requests=requests,
        asset_events=observations,
        cursor=versions.dump(),
        skip_reason=SkipReason(skipped) if skipped and not run_requests else None,
    )


def _algorithm_observations(
    root: Path, names: list[str], versions: dict[str, str], keys: set[str] = frozenset()
) -> list[AssetObservation]:
    """Changed algorithms' observations, of their own partitions and of their sweep variants' (``keys``),
    with their parameters and source when the file still reads."""
    try:
        entries = discover(root)
    except AlgorithmRegistryError:
        entries = {}
    return [
        algorithm_observation(entries[name], partition=key)
        if name in entries and entries[name].version == versions[name]
        else AssetObservation("algorithm_registry", partition=key, tags={DATA_VERSION_TAG: versions[name]})
        for name in names
        for key in sorted({name} | {k for k in keys if variant_base_name(k) == name})
    ]


def _log_skipped(context, triage: Triage) -> str:
    """Log each skipped backtest with its reason; one line for the tick's skip reason."""
    for config, algorithm in triage.finished:
        context.log.info(
            f"backtest {config}|{algorithm} skipped: its latest materialization has the current config, "
            "algorithm and code versions"
        )
    for (config, algorithm), reason in triage.waiting.items():
        context.log.info(f"backtest {config}|{algorithm} waits for data: {reason}")
    parts = []
    if triage.finished:
        parts.append(f"{len(triage.finished)} backtest(s) already current")
    if triage.waiting:
        keys = ", ".join(f"{c}|{a}" for c, a in triage.waiting)
        parts.append(f"{len(triage.waiting)} waiting for the catalog to cover their window ({keys})")
    return "; ".join(parts)
