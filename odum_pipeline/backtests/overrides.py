"""A run's overrides of a config document: the ``run-backtest`` flags and the ad-hoc Launchpad job.

Both change the same fields of the JSON document before it is validated (so a bad override is
reported like any config error, naming the field). ``None`` keeps the config's value.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from odum_pipeline.backtests.config import ConfigError


def with_overrides(
    data: dict[str, Any],
    *,
    instrument: str | None = None,
    start: str | None = None,
    end: str | None = None,
    snapshot_mode: str | None = None,
    data_source: str | None = None,
    mode: str | None = None,
    export_ticks: bool = False,
    close_positions: bool | None = None,
    replay: str | None = None,
    algorithm: str | None = None,
    params_json: str | None = None,
    labels: tuple[str, str] = ("algorithm", "params"),
) -> dict[str, Any]:
    """A copy of ``data`` with the overrides applied. ``algorithm`` replaces the config's list of
    algorithms with that one, run with ``params_json`` (a JSON object); ``labels`` are what the
    caller calls the algorithm and its parameters, for the messages."""
    data = copy.deepcopy(data)
    if instrument:
        data["instrument"] = {"id": instrument}
    window = data.setdefault("time_window", {})
    if start:
        window["start"] = start
    if end:
        window["end"] = end
    if snapshot_mode:
        data.setdefault("data_catalog", {})["snapshot_mode"] = snapshot_mode
    environment = data.setdefault("environment", {})
    if data_source:
        environment["data_source"] = data_source
    if mode:
        environment["mode"] = mode
    if export_ticks:
        environment["export_ticks"] = True
    if replay:
        environment["replay"] = replay
    if close_positions is not None:
        data.setdefault("strategy", {})["close_positions"] = close_positions
    if algorithm:
        data.setdefault("execution", {})["algorithms"] = [{"name": algorithm, "params": _params(params_json, labels[1])}]
    elif params_json is not None:
        raise ConfigError(f"{labels[1]}: needs {labels[0]}")
    return data


def _params(params_json: str | None, label: str) -> dict[str, Any]:
    try:
        params = json.loads(params_json or "{}")
    except json.JSONDecodeError as error:
        raise ConfigError(f"{label}: invalid JSON ({error.msg})") from None
    if not isinstance(params, dict):
        raise ConfigError(f"{label}: expected a JSON object")
    return params
