"""Statistics of a ranking: the per-parent total-cost difference between two runs and its bootstrap CI.

The difference is paired parent by parent when both runs worked the same parents (arrival, side,
quantity), else the two samples are resampled independently; each parent is weighted by its arrival
value Q·M0, so the observed difference is exactly the difference of the two runs' total cost.
numpy, a fixed seed, 2000 resamples by default.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

N_RESAMPLES = 2000
SEED = 20230405
CONFIDENCE = 0.95


def bootstrap_mean_difference(
    values: np.ndarray,
    best: np.ndarray,
    *,
    paired: bool,
    n_resamples: int = N_RESAMPLES,
    seed: int = SEED,
    confidence: float = CONFIDENCE,
    weights: np.ndarray | None = None,
    best_weights: np.ndarray | None = None,
) -> dict[str, Any]:
    """Percentile bootstrap CI of ``mean(values) - mean(best)``, weighted means when weights are given.

    ``paired``: the i-th values are the same parent order (the differences are resampled, with the
    parents' ``weights``); otherwise each sample is resampled on its own (``weights`` and
    ``best_weights``). With each parent weighted by its arrival value Q·M0 the observed difference is
    exactly the difference of the two runs' ``total_cost_bps``. ``significant`` = the CI excludes 0.
    """
    values, best = np.asarray(values, dtype=float), np.asarray(best, dtype=float)
    weights = np.ones_like(values) if weights is None else np.asarray(weights, dtype=float)
    best_weights = (weights if paired else np.ones_like(best)) if best_weights is None else np.asarray(best_weights, dtype=float)
    rng = np.random.default_rng(seed)
    if paired:
        if values.shape != best.shape:
            raise ValueError("paired bootstrap needs samples of equal length")
        differences, kept_weights = paired_differences(values, best, weights)
        n = len(differences)
        if n == 0:
            raise ValueError("no paired observations")
        means = _resampled_means(differences, n_resamples, rng, kept_weights)
        observed = weighted_mean(differences, kept_weights)
    else:
        (values, weights), (best, best_weights) = valid(values, weights), valid(best, best_weights)
        if not len(values) or not len(best):
            raise ValueError("empty sample")
        means = _resampled_means(values, n_resamples, rng, weights) - _resampled_means(best, n_resamples, rng, best_weights)
        observed = weighted_mean(values, weights) - weighted_mean(best, best_weights)
        n = min(len(values), len(best))
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return {
        "difference": observed,
        "low": float(low),
        "high": float(high),
        "significant": bool(low > 0 or high < 0),
        "paired": paired,
        "n": int(n),
        "resamples": n_resamples,
        "seed": seed,
        "confidence": confidence,
    }


#: Resampling indices are drawn in blocks of at most this many, so a run with 100k orders does not
#: allocate a 2000 x 100k index matrix at once.
_BLOCK = 4_000_000


def paired_differences(values: np.ndarray, best: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-parent differences and their weights, where both runs (and the weight) have a value."""
    keep = ~(np.isnan(values) | np.isnan(best) | np.isnan(weights))
    return values[keep] - best[keep], weights[keep]


def valid(values: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The values (and their weights) where both are known."""
    keep = ~np.isnan(values) & ~np.isnan(weights)
    return values[keep], weights[keep]


def weighted_mean(sample: np.ndarray, weights: np.ndarray) -> float:
    return float(np.sum(sample * weights) / np.sum(weights))


def _resampled_means(sample: np.ndarray, n_resamples: int, rng: np.random.Generator, weights: np.ndarray | None = None) -> np.ndarray:
    n = len(sample)
    weights = np.ones(n) if weights is None else weights
    rows = max(1, _BLOCK // n)
    blocks = []
    for start in range(0, n_resamples, rows):
        count = min(rows, n_resamples - start)
        index = rng.integers(0, n, size=(count, n))
        blocks.append((sample[index] * weights[index]).sum(axis=1) / weights[index].sum(axis=1))
    return np.concatenate(blocks)


def same_orders(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    """Did the two runs work the same parent orders (arrival, side, quantity)? Then their differences pair up."""
    keys = ["arrival_ns", "side", "requested_qty"]
    if len(a) != len(b):
        return False
    left = a[keys].sort_values(keys).reset_index(drop=True)
    right = b[keys].sort_values(keys).reset_index(drop=True)
    return left.equals(right)


def ordered_parents(frame: pd.DataFrame) -> pd.DataFrame:
    """Per-parent rows in a canonical order (arrival, side, quantity), so two runs' rows line up."""
    return frame.sort_values(["arrival_ns", "side", "requested_qty"], kind="stable").reset_index(drop=True)


def jsonable(value: Any) -> Any:
    """A numpy scalar as its JSON value (NaN and infinities: None)."""
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return float(value) if np.isfinite(value) else None
    if isinstance(value, np.bool_):
        return bool(value)
    return value
