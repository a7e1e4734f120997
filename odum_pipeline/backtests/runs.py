"""One backtest partition, (config, algorithm), from files to results. Shared by Dagster and the CLI.

A config lists the algorithms it compares (``execution.algorithms``), possibly several parameter
variants of one algorithm. The partition for an algorithm runs each of the config's variants
of it; when the config does not list the algorithm, it runs it with the registry's defaults.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from odum_pipeline.algorithms.gate import ensure_runnable
from odum_pipeline.algorithms.registry import discover, load_exec_algorithms, resolve_params
from odum_pipeline.backtests.config import AlgorithmEntry, BacktestConfig
from odum_pipeline.backtests.engine import AlgorithmSpec, BacktestOutcome, BacktestSetupError, run_backtest
from odum_pipeline.catalog.preflight import catalog_days, missing_catalog_partitions, require_market_data
from odum_pipeline.catalog.store import CatalogError


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


def algorithm_variants(config: BacktestConfig, algorithm_name: str, algorithms_root: Path) -> list[Variant]:
    """The variants of ``algorithm_name`` this config runs, with parameters validated by the registry."""
    registry = discover(algorithms_root)
    name = algorithm_name.upper()
    if name not in registry:
        raise BacktestSetupError(f"unknown execution algorithm {algorithm_name!r}; available: {sorted(registry)}")
    entry = registry[name]
    listed = [item for item in config.execution.algorithms if item.name == name] or [AlgorithmEntry(name=name)]
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
    catalog_root: Path,
    results_root: Path,
    mode: str | None = None,
    export_ticks: bool | None = None,
    progress: Callable[[str, float, int], None] | None = None,
) -> list[tuple[Variant, BacktestOutcome]]:
    """Pre-flight, then every variant of the algorithm over the config's window.

    ``progress(label, share, events)``: the variant, the share of its window replayed, the data
    events the engine has processed so far."""
    check_window_covered(config, catalog_root)
    variants = algorithm_variants(config, algorithm_name, algorithms_root)
    ensure_runnable(variants[0].registry_entry)  # only a version that validated may run; it is archived
    outcomes = []
    for variant in variants:
        outcome = run_backtest(
            config,
            algorithm=variant.algorithm,
            catalog_root=catalog_root,
            results_root=results_root,
            mode=mode or config.environment.mode.value,
            export_ticks=config.environment.export_ticks if export_ticks is None else export_ticks,
            progress_events=(lambda share, events, label=variant.label: progress(label, share, events))
            if progress
            else None,
            exec_algorithms=load_exec_algorithms(
                variant.registry_entry, variant.algorithm.params, catalog_root=catalog_root
            ),
        )
        outcomes.append((variant, outcome))
    return outcomes
