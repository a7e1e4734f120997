"""Jobs launched from the Dagster UI's Launchpad: publish a config, save an algorithm, an ad-hoc backtest.

Their run config is small and typed (Dagster ``Config`` classes); the documents themselves (a
backtest config, an algorithm's source) are validated by the project's own validators, the
pydantic ``BacktestConfig`` and the algorithm validator, so the rules live in one place and
every field-level message becomes the failure's description in the run.

- ``publish_config``: ``name`` + ``config_json`` (the JSON config) -> ``configs/<name>.json``,
  previous version kept in ``configs/.history/<name>/`` (``config_store.publish_config``);
  ``backtest_sources_sensor`` then observes it and requests its backtests.
- ``save_algorithm``: ``name`` + ``source`` (Python code) -> validated in a subprocess, then
  installed as ``odum algorithms save`` does (``algorithm_store.save_algorithm_source``).
- ``adhoc_backtest``: one config (by name) with overrides -> ``run_partition`` per algorithm;
  the run ids, result paths and headline figures become the op's output metadata.
"""


import json
from enum import Enum
from pathlib import Path
from typing import Any

from dagster import Config, Failure, MetadataValue, OpExecutionContext, Output, job, op
from pydantic import Field

from odum_pipeline.algorithms.algorithm_store import AlgorithmSaveError, save_algorithm_source
from odum_pipeline.algorithms.validation import DEFAULT_TIMEOUT_SECS
from odum_pipeline.backtests.assets import _metadata, _progress_logger
from odum_pipeline.backtests.boundary import USER_ERRORS
from odum_pipeline.backtests.config import BacktestConfig, ConfigError, parse_config, read_document
from odum_pipeline.backtests.config_store import check_name, publish_config
from odum_pipeline.backtests.overrides import with_overrides
from odum_pipeline.backtests.resources import AlgorithmsResource, ConfigsResource, ResultsResource
from odum_pipeline.backtests.runs import run_partition
from odum_pipeline.catalog.resources import CatalogResource

EXAMPLE_CONFIG = {
    "description": "TWAP against a plain market order for one parent order",
    "instrument": {"id": "BINANCE-FUTURES:PERPETUAL:BTC-USDT"},
    "time_window": {"start": "2023-04-05T00:00:00Z", "end": "2023-04-05T00:06:00Z"},
    "strategy": {
        "submission_mode": "parent_orders",
        "parent_orders": [{"side": "BUY", "quantity": "2", "arrival": "2023-04-05T00:00:30Z"}],
    },
    "execution": {"algorithms": [{"name": "NORMAL"}, {"name": "TWAP", "params": {"horizon_secs": 240}}]},
    "environment": {"mode": "report"},
}


def _type_name(annotation: Any) -> str:
    text = getattr(annotation, "__name__", None) or str(annotation)
    return text.replace("typing.", "").replace("odum_pipeline.backtests.config.", "")


def config_schema_summary(model: type = BacktestConfig, prefix: str = "") -> list[str]:
    """One line per field of the pydantic model: path, type, default, description (for the Launchpad)."""
    lines = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        nested = annotation if isinstance(annotation, type) and hasattr(annotation, "model_fields") else None
        if nested is not None:
            lines.append(f"{prefix}{name}: section{'' if not field.is_required() else ' (required)'}")
            lines += config_schema_summary(nested, prefix=f"{prefix}{name}.")
            continue
        if field.is_required():
            default = "required"
        elif field.default_factory is not None:
            default = "default: see the model"
        else:
            value = field.default.value if isinstance(field.default, Enum) else field.default
            default = f"default {json.dumps(value, default=str)}"
        lines.append(f"{prefix}{name} ({_type_name(annotation)}; {default}): {field.description or ''}")
    return lines


class PublishConfigRequest(Config):
    """A backtest config to publish into configs/ (validated by the BacktestConfig pydantic model)."""

    name: str = Field(description="Config name = file stem in configs/ (letters, digits, '_', '-', '.').")
    config_json: str = Field(
        default=json.dumps(EXAMPLE_CONFIG, indent=2),
        description=(
            "The backtest config as a JSON object; unknown keys are errors; every section has defaults. "
            "Fields:\n" + "\n".join(config_schema_summary())
        ),
    )


@op(description="Validate a backtest config and write it as a new version of configs/<name>.json (history kept).")
def publish_config_op(context: OpExecutionContext, config: PublishConfigRequest, configs: ConfigsResource):
    try:
        published = publish_config(configs.path, config.name, config.config_json)
    except ConfigError as error:
        raise Failure(
            description=f"config {config.name!r} rejected, nothing written:\n{error}",
            metadata={"errors": MetadataValue.md(f"```\n{error}\n```")},
        ) from None
    if published.changed:
        kept = f"; previous version kept as {published.history_path}" if published.history_path else " (new config)"
        context.log.info(f"published {published.path} version {published.sha256[:12]}{kept}")
    else:
        context.log.info(f"{published.path} already holds this content (version {published.sha256[:12]}): nothing written")
    return Output(
        str(published.path),
        metadata={
            "path": MetadataValue.path(str(published.path)),
            "sha256": published.sha256,
            "changed": published.changed,
            "previous_sha256": published.previous_sha256 or "",
            "history_path": MetadataValue.path(str(published.history_path)) if published.history_path else "",
            "algorithms": [entry.label for entry in published.config.execution.algorithms],
        },
    )


@job(
    name="publish_config",
    description=(
        "Publish a backtest config from the Launchpad: validated with the BacktestConfig model, written to "
        "configs/<name>.json with the previous version kept in configs/.history/. backtest_sources_sensor "
        "then requests its backtests."
    ),
    tags={"odum/kind": "publish"},
)
def publish_config_job():
    publish_config_op()


class SaveAlgorithmRequest(Config):
    """An execution algorithm's source to validate and install in algorithms/."""

    name: str = Field(description="Algorithm name = the ExecAlgorithm id the source declares (e.g. TWAP).")
    source: str = Field(
        description="Python source: one ExecAlgorithm and one ExecAlgorithmConfig, a module-level PARAMETERS schema."
    )
    timeout_secs: float = Field(default=DEFAULT_TIMEOUT_SECS, description="Validation (subprocess) time limit.")


@op(description="Validate an algorithm's source in a subprocess and install it (history and store kept).")
def save_algorithm_op(context: OpExecutionContext, config: SaveAlgorithmRequest, algorithms: AlgorithmsResource):
    try:
        saved = save_algorithm_source(
            algorithms.path, config.name, config.source, var_root=algorithms.var_root, timeout_secs=config.timeout_secs
        )
    except AlgorithmSaveError as error:
        raise Failure(description=str(error)) from None
    context.log.info(saved.report.summary())
    if saved.changed:
        kept = f"; previous version {saved.previous_version} kept in {saved.history_path}" if saved.history_path else ""
        context.log.info(f"saved {saved.name} version {saved.version} to {saved.path}{kept}")
    else:
        context.log.info(f"{saved.name}: unchanged (version {saved.version})")
    return Output(
        str(saved.path),
        metadata={
            "path": MetadataValue.path(str(saved.path)),
            "version": saved.version,
            "changed": saved.changed,
            "previous_version": saved.previous_version or "",
            "parameters": MetadataValue.json(saved.report.parameters),
        },
    )


@job(name="save_algorithm", description="Validate and install an execution algorithm from the Launchpad.")
def save_algorithm_job():
    save_algorithm_op()


class SnapshotModeChoice(str, Enum):
    trades = "trades"
    book = "book"
    both = "both"


class ModeChoice(str, Enum):
    fast = "fast"
    report = "report"


class ReplayChoice(str, Enum):
    active = "active"
    full = "full"


class AdhocBacktestRequest(Config):
    """One backtest of a config in configs/, with the Run Backtest page's overrides."""

    config_name: str = Field(description="A config in configs/ (file stem).")
    start: str | None = Field(default=None, description="Window start override, ISO UTC (e.g. 2023-04-05T00:00:00Z).")
    end: str | None = Field(default=None, description="Window end override, ISO UTC.")
    snapshot_mode: SnapshotModeChoice | None = Field(default=None, description="Market data replayed override.")
    algorithm: str | None = Field(
        default=None, description="Run only this algorithm (NORMAL, TWAP, ...). Default: every algorithm the config lists."
    )
    params_json: str | None = Field(default=None, description="JSON object of parameters for `algorithm`.")
    mode: ModeChoice | None = Field(default=None, description="'fast' (summary only) or 'report' (full results).")
    export_ticks: bool = Field(default=False, description="Export the window's ticks too (report mode).")
    replay: ReplayChoice | None = Field(
        default=None, description="'active' (only the intervals in which a parent works) or 'full'; same results."
    )


def adhoc_config(data: dict[str, Any], request: AdhocBacktestRequest) -> BacktestConfig:
    """The config file's content with the request's overrides, validated (``ConfigError`` names the field)."""
    data = with_overrides(
        data,
        start=request.start,
        end=request.end,
        snapshot_mode=request.snapshot_mode.value if request.snapshot_mode else None,
        mode=request.mode.value if request.mode else None,
        export_ticks=request.export_ticks,
        replay=request.replay.value if request.replay else None,
        algorithm=request.algorithm,
        params_json=request.params_json,
        labels=("algorithm", "params_json"),
    )
    data.setdefault("name", request.config_name)
    return parse_config(data, source=f"{request.config_name}.json (with the ad-hoc overrides)")


def adhoc_config_path(configs: ConfigsResource, config_name: str) -> Path:
    """The config file ``config_name`` names, checked like ``publish_config`` names: only a plain name
    of a file directly in the configs root (no ``../``, no path), else ``Failure`` naming the field."""
    try:
        check_name(config_name)
    except ConfigError as error:
        raise Failure(description=f"config_{error}") from None
    path = configs.config_path(config_name)
    if path.resolve().parent != configs.path.resolve():
        raise Failure(description=f"config_name: {config_name!r} is not a config directly under {configs.path}")
    return path


@op(pool="nautilus", description="Run one backtest of a config with overrides (every listed algorithm, or one).")
def adhoc_backtest_op(
    context: OpExecutionContext,
    config: AdhocBacktestRequest,
    configs: ConfigsResource,
    algorithms: AlgorithmsResource,
    catalog: CatalogResource,
    results: ResultsResource,
):
    path = adhoc_config_path(configs, config.config_name)
    if not path.is_file():
        raise Failure(description=f"config_name: {config.config_name!r}: no config file {path}")
    try:
        backtest_config = adhoc_config(read_document(path), config)
    except ConfigError as error:
        raise Failure(description=f"{error}") from None
    names = backtest_config.execution.names()
    metadata: dict[str, Any] = {}
    lines = ["| variant | run id | net PnL | fill ratio | result |", "|---|---|---|---|---|"]
    for name in names:
        try:
            outcomes = run_partition(
                backtest_config,
                name,
                algorithms_root=algorithms.path,
                var_root=Path(algorithms.var_root),
                catalog_root=catalog.path,
                results_root=results.path,
                progress=_progress_logger(context),
            )
        except USER_ERRORS as error:
            raise Failure(description=f"{config.config_name} / {name}: {error}") from None
        for variant, outcome in outcomes:
            figures = outcome.summary["summary"]
            context.log.info(f"{variant.label}: run id {outcome.run_id}, result {outcome.result_path}")
            lines.append(
                f"| {variant.label} | {outcome.run_id} | {figures.get('net_pnl')} | {figures.get('fill_ratio')} "
                f"| {outcome.result_path} |"
            )
        if len(names) == 1:
            metadata.update(_metadata(outcomes))
        metadata.setdefault("run_ids", [])
        metadata["run_ids"] += [outcome.run_id for _, outcome in outcomes]
    metadata["runs"] = MetadataValue.md("\n".join(lines))
    metadata["config"] = config.config_name
    metadata["window"] = f"{backtest_config.time_window.start.isoformat()} .. {backtest_config.time_window.end.isoformat()}"
    return Output(metadata["run_ids"], metadata=metadata)


@job(
    name="adhoc_backtest",
    description="Run Backtest: one config from configs/ with overrides (window, snapshot mode, algorithm and "
    "parameters, fast/report, export ticks); results under the results root, run ids in the output metadata.",
)
def adhoc_backtest_job():
    adhoc_backtest_op()

