"""One backtest partition, (config, algorithm), from files to results. Shared by Dagster and the CLI.

A config lists the algorithms it compares (``execution.algorithms``), possibly several parameter
variants of one algorithm. The partition for an algorithm runs each of the config's plain variants
of it; when the config does not list the algorithm, it runs it with the registry's defaults. A
sweep variant (``TWAP[horizon_secs=60]``) is a partition of its own.
"""

from __future__ import annotations

import datetime as dt
import logging
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from odum_pipeline.algorithms.gate import ensure_runnable
from odum_pipeline.algorithms.registry import discover, load_exec_algorithms, resolve_params
from odum_pipeline.backtests.config import (
    AlgorithmChoice,
    BacktestConfig,
    MarketPreset,
    SubmissionMode,
    setup_sha256,
    variant_base_name,
    with_market_preset,
)
from odum_pipeline.backtests.engine import AlgorithmSpec, BacktestOutcome, BacktestSetupError, run_backtest
from odum_pipeline.backtests.impact import ImpactCalibrationError
from odum_pipeline.backtests.limits import BacktestRunError, timeout_for, wall_clock_limit
from odum_pipeline.backtests.results import check_results_root
from odum_pipeline.catalog.preflight import catalog_days, missing_catalog_partitions, require_market_data
from odum_pipeline.catalog.store import CatalogError

logger = logging.getLogger(__name__)


class AlgorithmRaisedError(BacktestRunError):
    """The execution algorithm's own code raised during the replay."""


class WindowNotCoveredError(BacktestSetupError):
    """The catalog lacks (day, instrument) partitions the window needs."""

    def __init__(self, missing: list[tuple[dt.date, str]], held: list[dt.date] | None = None) -> None:
        self.missing = missing
        keys = [f"{day.isoformat()}|{instrument}" for day, instrument in missing]
        shown = ", ".join(keys[:3]) + (f" and {len(keys) - 3:,} more" if len(keys) > 3 else "")
        held_text = f"it holds {held[0]} to {held[-1]}" if held else "it holds no day of the instrument"
        super().__init__(
            f"the window is not covered by the catalog ({held_text}); missing (day|instrument) partitions: "
            f"{shown}. Materialize these tick_catalog partitions first (or run `odum data convert`)."
        )


@dataclass(frozen=True)
class Variant:
    label: str
    algorithm: AlgorithmSpec
    registry_entry: Any


def algorithm_variants(config: BacktestConfig, algorithm_key: str, algorithms_root: Path) -> list[Variant]:
    """The variants a partition runs, with parameters validated by the registry: for an algorithm's
    name its plain variants (the registry's defaults when the config does not list it), for a
    ``NAME[...]`` key (a sweep variant) that one variant."""
    registry = discover(algorithms_root)
    name = variant_base_name(algorithm_key).upper()
    if name not in registry:
        raise BacktestSetupError(f"unknown execution algorithm {algorithm_key!r}; available: {sorted(registry)}")
    entry = registry[name]
    key = algorithm_key if "[" in algorithm_key else name
    listed = config.execution.entries_for(key)
    if not listed:
        if key != name:
            raise BacktestSetupError(
                f"config {config.name} lists no variant {algorithm_key!r}; its partitions: {config.execution.partition_keys()}"
            )
        listed = [AlgorithmChoice(name=name)]
    return [
        Variant(
            label=item.label,
            algorithm=AlgorithmSpec(
                name=name, params=resolve_params(entry, item.params), version=entry.version, label=item.label
            ),
            registry_entry=entry,
        )
        for item in listed
    ]


def check_window_covered(config: BacktestConfig, catalog_root: Path) -> None:
    """Every day of the window in the catalog, readable as one version, with market data in the window."""
    window = (config.instrument.id, config.time_window.start, config.time_window.end, config.data_catalog.snapshot_mode.value)
    try:
        missing = missing_catalog_partitions(catalog_root, *window)
        if missing:
            raise WindowNotCoveredError(missing, catalog_days(catalog_root, window[0], window[3]))
        require_market_data(catalog_root, *window)
    except CatalogError as error:  # a damaged day, no market data: the run cannot start
        raise BacktestSetupError(str(error)) from None


def run_partition(
    config: BacktestConfig,
    algorithm_name: str,
    *,
    algorithms_root: Path,
    var_root: Path,
    catalog_root: Path,
    results_root: Path,
    mode: str | None = None,
    export_ticks: bool | None = None,
    progress: Callable[[str, float, int], None] | None = None,
    timeout_secs: float | None = None,
) -> list[tuple[Variant, BacktestOutcome]]:
    """Pre-flight, then every variant of the algorithm over the config's window.

    ``progress(label, share, events)``: the variant, the share of its window replayed, the data
    events the engine has processed so far. Each variant runs under a wall-clock limit
    (``timeout_secs``, else ``limits.timeout_for(config)``); past it, ``BacktestTimeoutError``."""
    check_window_covered(config, catalog_root)
    check_results_root(results_root)  # a file or a read-only folder fails now, not after the replay
    variants = algorithm_variants(config, algorithm_name, algorithms_root)
    ensure_runnable(variants[0].registry_entry, var_root=var_root)  # only a version that validated may run; it is archived
    limit = timeout_secs if timeout_secs is not None else timeout_for(config)
    source = "--timeout" if timeout_secs is not None else "environment.timeout_secs"
    mode = mode or config.environment.mode.value
    outcomes = []
    for variant in variants:
        for market_config, label, model_risk_of in _market_variants(config, variant.label, mode):
            try:
                with wall_clock_limit(limit, f"backtest {config.name}/{label}", source), _algorithm_errors(variant):
                    outcome = run_backtest(
                        market_config,
                        algorithm=variant.algorithm,
                        catalog_root=catalog_root,
                        results_root=results_root,
                        mode=mode,
                        export_ticks=config.environment.export_ticks if export_ticks is None else export_ticks,
                        progress_events=(lambda share, events, label=label: progress(label, share, events))
                        if progress
                        else None,
                        exec_algorithms=load_exec_algorithms(
                            variant.registry_entry, variant.algorithm.params, catalog_root=catalog_root
                        ),
                        model_risk_of=model_risk_of,
                    )
            except ImpactCalibrationError as error:
                if model_risk_of is None:
                    raise
                # The main run stands; the comparison says which preset has no run.
                logger.warning(f"model-risk run {label} skipped: {error}")
                continue
            outcomes.append((Variant(label, variant.algorithm, variant.registry_entry), outcome))
    return outcomes


def model_risk_enabled(config: BacktestConfig, mode: str) -> bool:
    """Model-risk runs by default for parent orders in report mode (the comparison needs their TCA)."""
    if mode != "report":
        return False
    if config.environment.model_risk is not None:
        return config.environment.model_risk
    return config.strategy.submission_mode is SubmissionMode.PARENT_ORDERS


def _market_variants(config: BacktestConfig, label: str, mode: str):
    """(config, label, model_risk_of) of the main run, then of each other preset when model risk is on."""
    yield config, label, None
    if not model_risk_enabled(config, mode):
        return
    main_setup = setup_sha256(config)
    for preset in MarketPreset:
        if preset is not config.market.preset:
            yield with_market_preset(config, preset), f"{label} [{preset.value}]", main_setup


@contextmanager
def _algorithm_errors(variant: Variant) -> Iterator[None]:
    """An exception raised in the algorithm's file becomes one line naming the algorithm, the
    exception and where in the file (the traceback stays on ``__cause__`` for --debug)."""
    try:
        yield
    except BacktestRunError:
        raise
    except Exception as error:
        path = getattr(variant.registry_entry, "path", None)
        frames = [f for f in traceback.extract_tb(error.__traceback__) if path is not None and Path(f.filename) == Path(path)]
        if not frames:
            raise
        where = f"{Path(frames[-1].filename).name} line {frames[-1].lineno}, in {frames[-1].name}"
        raise AlgorithmRaisedError(
            f"algorithm {variant.label} raised {type(error).__name__}: {error} ({where})"
        ) from error
