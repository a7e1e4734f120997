"""Sensors, declarative automation and the Launchpad jobs, on a real (temporary) Dagster instance.

Everything runs against temporary configs/algorithms/results roots and the real-data catalog.
Backtest materializations are real NautilusTrader runs through Dagster, on a one-minute window
so that they stay quick: what is tested here is what gets requested and what goes stale.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from dagster import (
    AssetKey,
    AssetMaterialization,
    DagsterInstance,
    build_sensor_context,
    evaluate_automation_conditions,
    instance_for_test,
    materialize,
)
from dagster._core.definitions.data_version import StaleStatus
from dagster._core.definitions.observe import observe
from dagster._utils.test.data_versions import get_stale_status_resolver

from odum_pipeline.backtests.config import ConfigError
from odum_pipeline.backtests.config_store import config_history, publish_config
from odum_pipeline.backtests.jobs import publish_config_op
from odum_pipeline.backtests.partitions import algorithm_partitions, backtest_partition_key, config_partitions
from odum_pipeline.backtests.source_assets import algorithm_registry, backtest_configs
from odum_pipeline.catalog.partitions import catalog_partition_key, day_partitions, instrument_partitions
from odum_pipeline.definitions import build_definitions
from odum_pipeline.pipeline import ALL_ASSETS, storage_resources
from odum_pipeline_tests.conftest import BTC_PERP

REPO_ROOT = Path(__file__).resolve().parents[1]
WINDOW = {"start": "2023-04-05T00:00:00Z", "end": "2023-04-05T00:01:00Z"}
PARENT = {"side": "BUY", "quantity": "2", "arrival": "2023-04-05T00:00:30Z"}


def _config(algorithms=("NORMAL", "TWAP"), quantity="2") -> dict:
    return {
        "instrument": {"id": BTC_PERP},
        "time_window": WINDOW,
        "strategy": {"submission_mode": "parent_orders", "parent_orders": [{**PARENT, "quantity": quantity}]},
        "execution": {"algorithms": [{"name": name} for name in algorithms]},
    }


@pytest.fixture
def roots(tmp_path, real_catalog):
    configs = tmp_path / "configs"
    configs.mkdir()
    (configs / "cfg_a.json").write_text(json.dumps(_config(), indent=1))
    (configs / "cfg_b.json").write_text(json.dumps(_config(("NORMAL",)), indent=1))
    algorithms = tmp_path / "algorithms"
    shutil.copytree(REPO_ROOT / "algorithms", algorithms)
    resources = storage_resources(tmp_path / "raw", real_catalog, tmp_path / "results", configs, algorithms)
    resources["algorithms"] = type(resources["algorithms"])(root=str(algorithms), var_root=str(tmp_path / "var"))
    return SimpleNamespace(configs=configs, algorithms=algorithms, resources=resources, tmp=tmp_path)


@pytest.fixture
def defs(roots):
    return build_definitions(roots.resources)


@pytest.fixture
def instance():
    with instance_for_test() as instance:
        yield instance


def _tick(defs, resources, instance: DagsterInstance, cursor: str | None):
    """One evaluation of backtest_sources_sensor, applied to the instance as the daemon would."""
    sensor = defs.get_sensor_def("backtest_sources_sensor")
    # As a context manager: the instance it opens from the ref is closed here, not by the garbage
    # collector during some later test (which would put back a stale definitions-state storage).
    with build_sensor_context(
        instance_ref=instance.get_ref(), definitions=defs, resources=resources, cursor=cursor
    ) as context:
        data = sensor.evaluate_tick(context)
    for request in data.dynamic_partitions_requests:
        instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
    for event in data.asset_events:
        instance.report_runless_asset_event(event)
    return data


def _requested(data) -> list[str]:
    return sorted(str(request.partition_key) for request in data.run_requests)


# --- backtest_sources_sensor ----------------------------------------------------------------------


def test_new_config_requests_exactly_its_backtests_once_and_again_when_edited(defs, roots, instance):
    first = _tick(defs, roots.resources, instance, None)
    assert _requested(first) == ["NORMAL|cfg_a", "NORMAL|cfg_b", "TWAP|cfg_a"]  # listed algorithms only
    assert len({request.run_key for request in first.run_requests}) == 3
    assert set(instance.get_dynamic_partitions(config_partitions.name)) == {"cfg_a", "cfg_b"}
    assert {"NORMAL", "TWAP", "VWAP"} <= set(instance.get_dynamic_partitions(algorithm_partitions.name))

    again = _tick(defs, roots.resources, instance, first.cursor)
    assert again.run_requests == [] and again.dynamic_partitions_requests == []

    (roots.configs / "cfg_c.json").write_text(json.dumps(_config(("VWAP",))))
    new = _tick(defs, roots.resources, instance, again.cursor)
    assert _requested(new) == ["VWAP|cfg_c"]

    (roots.configs / "cfg_a.json").write_text(json.dumps(_config(quantity="3")))
    edited = _tick(defs, roots.resources, instance, new.cursor)
    assert _requested(edited) == ["NORMAL|cfg_a", "TWAP|cfg_a"]
    assert not {r.run_key for r in edited.run_requests} & {r.run_key for r in first.run_requests}
    observed = {(e.asset_key.to_user_string(), e.partition) for e in edited.asset_events}
    assert observed == {("backtest_configs", "cfg_a")}
    assert _tick(defs, roots.resources, instance, edited.cursor).run_requests == []


def test_reformatting_a_config_requests_nothing(defs, roots, instance):
    first = _tick(defs, roots.resources, instance, None)
    (roots.configs / "cfg_a.json").write_text(json.dumps(_config(), indent=4, sort_keys=True))  # same content
    assert _tick(defs, roots.resources, instance, first.cursor).run_requests == []


def test_new_or_edited_algorithm_requests_the_backtests_of_the_configs_listing_it(defs, roots, instance):
    first = _tick(defs, roots.resources, instance, None)
    twap = roots.algorithms / "twap.py"
    twap.write_text(twap.read_text() + "\n# edited\n")
    edited = _tick(defs, roots.resources, instance, first.cursor)
    assert _requested(edited) == ["TWAP|cfg_a"]


def test_invalid_config_is_registered_but_requests_nothing(defs, roots, instance):
    (roots.configs / "broken.json").write_text(json.dumps({**_config(), "venue": {"oms_type": "SOMETIMES"}}))
    data = _tick(defs, roots.resources, instance, None)
    assert "broken" in instance.get_dynamic_partitions(config_partitions.name)
    assert not any("broken" in key for key in _requested(data))


def test_catalog_rematerialization_requests_no_backtests_from_the_sensor(defs, roots, instance):
    first = _tick(defs, roots.resources, instance, None)
    _catalog_day(instance)
    assert _tick(defs, roots.resources, instance, first.cursor).run_requests == []


# --- declarative automation ----------------------------------------------------------------------


def _catalog_day(instance, day="2023-04-05"):
    instance.add_dynamic_partitions(day_partitions.name, [day])
    instance.add_dynamic_partitions(instrument_partitions.name, [BTC_PERP])
    instance.report_runless_asset_event(
        AssetMaterialization("tick_catalog", partition=str(catalog_partition_key(day, BTC_PERP)))
    )


def _materialize_backtests(instance, resources, keys):
    for config, algorithm in keys:
        result = materialize(
            ALL_ASSETS,
            selection=["backtest_run"],
            partition_key=backtest_partition_key(config, algorithm),
            instance=instance,
            resources=resources,
        )
        assert result.success


def _observe_sources(instance, resources):
    for source in (backtest_configs, algorithm_registry):
        assert observe([source], instance=instance, resources=resources).success


ALL_PAIRS = [("cfg_a", "NORMAL"), ("cfg_a", "TWAP"), ("cfg_b", "NORMAL"), ("cfg_b", "TWAP")]


@pytest.fixture
def materialized(defs, roots, instance):
    """Registered sources, observed, and every (config, algorithm) backtest materialized once."""
    instance.add_dynamic_partitions(config_partitions.name, ["cfg_a", "cfg_b"])
    instance.add_dynamic_partitions(algorithm_partitions.name, ["NORMAL", "TWAP"])
    _catalog_day(instance)
    _observe_sources(instance, roots.resources)
    _materialize_backtests(instance, roots.resources, ALL_PAIRS)
    return evaluate_automation_conditions(defs=defs, instance=instance)


def _automation_requests(result) -> list[str]:
    return sorted(str(key) for key in result.get_requested_partitions(AssetKey("backtest_run")))


def _report_requests(result) -> list[str]:
    return sorted(str(key) for key in result.get_requested_partitions(AssetKey("comparison_report")))


def test_automation_ignores_catalog_updates(defs, instance, materialized):
    assert _automation_requests(materialized) == []
    _catalog_day(instance)  # a catalog day re-materialized
    _catalog_day(instance, "2023-04-06")  # and a new one
    result = evaluate_automation_conditions(defs=defs, instance=instance, cursor=materialized.cursor)
    assert result.total_requested == 0


def test_automation_requests_only_the_changed_configs_partitions(defs, roots, instance, materialized):
    (roots.configs / "cfg_a.json").write_text(json.dumps(_config(quantity="5")))
    _observe_sources(instance, roots.resources)  # cfg_a gets a new data version, cfg_b keeps its own
    result = evaluate_automation_conditions(defs=defs, instance=instance, cursor=materialized.cursor)
    assert _automation_requests(result) == ["NORMAL|cfg_a", "TWAP|cfg_a"]
    again = evaluate_automation_conditions(defs=defs, instance=instance, cursor=result.cursor)
    assert again.total_requested == 0  # requested once, not on every tick


def test_automation_requests_only_the_changed_algorithms_partitions(defs, roots, instance, materialized):
    twap = roots.algorithms / "twap.py"
    twap.write_text(twap.read_text() + "\n# edited\n")
    _observe_sources(instance, roots.resources)
    result = evaluate_automation_conditions(defs=defs, instance=instance, cursor=materialized.cursor)
    assert _automation_requests(result) == ["TWAP|cfg_a", "TWAP|cfg_b"]


def test_automation_does_not_request_never_materialized_partitions(defs, roots, instance, materialized):
    instance.add_dynamic_partitions(config_partitions.name, ["cfg_new"])
    (roots.configs / "cfg_new.json").write_text(json.dumps(_config()))
    _observe_sources(instance, roots.resources)
    result = evaluate_automation_conditions(defs=defs, instance=instance, cursor=materialized.cursor)
    assert result.total_requested == 0  # new configs are the sensor's (listed algorithms only)


def test_reports_are_requested_once_their_configs_backtests_are_done(defs, roots, instance):
    instance.add_dynamic_partitions(config_partitions.name, ["cfg_a", "cfg_b"])
    instance.add_dynamic_partitions(algorithm_partitions.name, ["NORMAL", "TWAP"])
    _catalog_day(instance)
    _observe_sources(instance, roots.resources)
    before = evaluate_automation_conditions(defs=defs, instance=instance)  # the sensor's earlier tick
    assert _report_requests(before) == []
    _materialize_backtests(instance, roots.resources, ALL_PAIRS[:3])  # cfg_a's two, cfg_b's NORMAL
    after = evaluate_automation_conditions(defs=defs, instance=instance, cursor=before.cursor)
    assert _report_requests(after) == ["cfg_a", "cfg_b"]
    again = evaluate_automation_conditions(defs=defs, instance=instance, cursor=after.cursor)
    assert _report_requests(again) == []  # requested once, not on every tick


def test_a_report_waits_while_a_backtest_of_its_config_is_queued(defs, roots, instance, materialized):
    _materialize_backtests(instance, roots.resources, [("cfg_a", "NORMAL")])  # cfg_a's NORMAL ran again
    job = defs.resolve_implicit_job_def_def_for_assets([AssetKey("backtest_run")])
    queued = instance.create_run_for_job(
        job, asset_selection=frozenset({AssetKey("backtest_run")}),
        tags={"dagster/partition": str(backtest_partition_key("cfg_a", "TWAP"))},
    )  # fmt: skip
    held = evaluate_automation_conditions(defs=defs, instance=instance, cursor=materialized.cursor)
    assert _report_requests(held) == []  # cfg_a's TWAP has not run yet
    instance.report_run_canceled(queued)
    released = evaluate_automation_conditions(defs=defs, instance=instance, cursor=held.cursor)
    assert _report_requests(released) == ["cfg_a"]  # the update was remembered; cfg_b had none


# --- publish_config ------------------------------------------------------------------------------


def _publish(defs, instance, name, document):
    document = document if isinstance(document, str) else json.dumps(document)
    return defs.get_job_def("publish_config").execute_in_process(
        run_config={"ops": {"publish_config_op": {"config": {"name": name, "config_json": document}}}},
        instance=instance,
        raise_on_error=False,
    )


def _stale(instance, defs):
    resolver = get_stale_status_resolver(instance, list(defs.assets))
    return {
        str(backtest_partition_key(c, a)): resolver.get_status(AssetKey("backtest_run"), backtest_partition_key(c, a))
        for c, a in ALL_PAIRS
    }


def test_publish_config_versions_the_file_and_stales_only_its_backtests(defs, roots, instance, materialized):
    assert set(_stale(instance, defs).values()) == {StaleStatus.FRESH}
    previous = (roots.configs / "cfg_a.json").read_text()
    result = _publish(defs, instance, "cfg_a", _config(quantity="4"))
    assert result.success
    assert json.loads((roots.configs / "cfg_a.json").read_text())["strategy"]["parent_orders"][0]["quantity"] == "4"
    history = config_history(roots.configs, "cfg_a")
    assert len(history) == 1 and history[0].read_text() == previous
    assert history[0].parent == roots.configs / ".history" / "cfg_a"
    metadata = result.output_for_node("publish_config_op")
    assert metadata == str(roots.configs / "cfg_a.json")

    _observe_sources(instance, roots.resources)
    status = _stale(instance, defs)
    assert status == {
        "NORMAL|cfg_a": StaleStatus.STALE,
        "TWAP|cfg_a": StaleStatus.STALE,
        "NORMAL|cfg_b": StaleStatus.FRESH,
        "TWAP|cfg_b": StaleStatus.FRESH,
    }


def test_publishing_the_same_content_writes_nothing(defs, roots, instance):
    result = _publish(defs, instance, "cfg_b", json.dumps(_config(("NORMAL",)), indent=8))
    assert result.success
    assert config_history(roots.configs, "cfg_b") == []


def test_publish_config_creates_a_new_config(defs, roots, instance):
    assert _publish(defs, instance, "fresh_one", _config(("VWAP",))).success
    assert (roots.configs / "fresh_one.json").exists() and config_history(roots.configs, "fresh_one") == []


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ({**_config(), "venue": {"oms_type": "SOMETIMES"}}, "venue.oms_type"),
        (_config(quantity="-1"), "strategy.parent_orders[0].quantity"),
        ({**_config(), "colour": "blue"}, "colour: unknown key"),
        ({**_config(), "time_window": {"start": WINDOW["end"], "end": WINDOW["start"]}}, "time_window.end"),
        ('{"instrument": ', "invalid JSON at line 1"),
    ],
)
def test_invalid_config_is_rejected_with_the_field_and_writes_nothing(defs, roots, instance, document, field):
    before = {path: path.read_bytes() for path in roots.configs.rglob("*")}
    result = _publish(defs, instance, "cfg_a", document)
    assert not result.success
    failure = result.get_step_failure_events()[0].step_failure_data
    assert field in failure.user_failure_data.description
    assert field in str(result.get_run_failure_event().message) or field in failure.user_failure_data.description
    assert {path: path.read_bytes() for path in roots.configs.rglob("*")} == before


def test_publish_config_rejects_a_bad_name(tmp_path):
    with pytest.raises(ConfigError, match="name: '../evil'"):
        publish_config(tmp_path, "../evil", _config())
    assert list(tmp_path.iterdir()) == []


def test_publish_config_schema_is_documented_in_the_launchpad(defs):
    fields = publish_config_op.config_schema.config_type.fields
    description = fields["config_json"].description
    assert "strategy.parent_orders" in description and "venue.oms_type" in description
    json.loads(fields["config_json"].default_value)  # the default is a valid example to edit


# --- schedules and definitions -------------------------------------------------------------------


def test_daily_comparison_reports_requests_every_config(defs, instance):
    import datetime as dt

    from dagster import build_schedule_context

    instance.add_dynamic_partitions(config_partitions.name, ["cfg_a", "cfg_b"])
    schedule = defs.get_schedule_def("daily_comparison_reports")
    context = build_schedule_context(
        instance=instance, scheduled_execution_time=dt.datetime(2026, 1, 2, 6, tzinfo=dt.UTC), repository_def=defs.get_repository_def()
    )
    data = schedule.evaluate_tick(context)
    assert sorted(request.partition_key for request in data.run_requests) == ["cfg_a", "cfg_b"]
    assert {request.run_key for request in data.run_requests} == {"comparison:cfg_a@2026-01-02", "comparison:cfg_b@2026-01-02"}


def test_sensors_and_schedule_run_by_default(defs):
    from dagster import DefaultScheduleStatus, DefaultSensorStatus

    for name in ("backtest_sources_sensor", "backtest_automation_sensor", "report_automation_sensor", "raw_files_sensor"):
        assert defs.get_sensor_def(name).default_status == DefaultSensorStatus.RUNNING
    assert defs.get_schedule_def("daily_comparison_reports").default_status == DefaultScheduleStatus.RUNNING


# --- instance and deployment files ---------------------------------------------------------------


def test_instance_configs_parse(tmp_path, monkeypatch):
    from dagster._core.instance.config import dagster_instance_config

    local = yaml.safe_load((REPO_ROOT / "dagster.yaml").read_text())
    assert local["nux"]["enabled"] is False
    assert local["concurrency"]["runs"]["max_concurrent_runs"] >= 1
    assert local["concurrency"]["pools"]["default_limit"] >= 1  # the "nautilus" pool's limit
    production = yaml.safe_load((REPO_ROOT / "deploy/production/dagster.yaml").read_text())
    assert production["storage"]["postgres"]["postgres_db"]["password"] == {"env": "DAGSTER_PG_PASSWORD"}
    assert production["run_coordinator"]["class"] == "QueuedRunCoordinator"
    assert production["compute_logs"]["class"] == "GCSComputeLogManager"
    for source in (REPO_ROOT / "dagster.yaml", REPO_ROOT / "deploy/production/dagster.yaml"):
        home = tmp_path / source.parent.name
        home.mkdir()
        shutil.copy(source, home / "dagster.yaml")
        dagster_instance_config(str(home))  # Dagster's own schema check of the file


def test_backfill_runs_start_in_parallel_and_run_in_one_process(tmp_path, monkeypatch):
    """What lets a backfill fill both slots (issue 13): the queue launches runs in parallel threads and
    is polled every second, and a run executes its step in its own process (no second interpreter)."""
    from dagster import DagsterInstance, in_process_executor
    from dagster._core.instance.ref import InstanceRef

    for source in (REPO_ROOT / "dagster.yaml", REPO_ROOT / "deploy/production/dagster.yaml"):
        coordinator = yaml.safe_load(source.read_text())["run_coordinator"]["config"]
        assert coordinator == {"dequeue_interval_seconds": 1, "dequeue_use_threads": True}, source
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(REPO_ROOT / "dagster.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with DagsterInstance.from_ref(InstanceRef.from_dir(str(home))) as instance:
        assert instance.run_coordinator.dequeue_use_threads is True
        assert instance.run_coordinator.dequeue_interval_seconds == 1
    definitions = build_definitions()
    for job in (definitions.resolve_implicit_global_asset_job_def(), definitions.resolve_job_def("adhoc_backtest")):
        assert job.executor_def is in_process_executor


def test_docker_compose_parses_and_uses_one_image():
    compose = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"postgres", "webserver", "daemon", "code"} <= set(services)
    images = {services[name].get("image") for name in ("webserver", "daemon", "code")}
    assert len(images) == 1
    volumes = " ".join(str(v) for name in ("webserver", "daemon", "code") for v in services[name].get("volumes", []))
    for target in ("/data/raw", "/data/catalog", "/data/backtest_results"):
        assert target in volumes


def test_dockerfile_installs_with_the_script_ci_runs():
    dockerfile = (REPO_ROOT / "Dockerfile").read_text()
    run_steps = [line for line in dockerfile.splitlines() if line.startswith("RUN ")]
    assert any("scripts/bootstrap.sh" in step for step in run_steps)
    ci = (REPO_ROOT / ".ci" / "run").read_text() + (REPO_ROOT / "scripts" / "test.sh").read_text()
    assert "scripts/bootstrap.sh" in ci


def test_editing_one_algorithm_stales_only_its_backtests(defs, roots, instance, materialized):
    twap = roots.algorithms / "twap.py"
    twap.write_text(twap.read_text() + "\n# a comment: a new version of the source\n")
    _observe_sources(instance, roots.resources)
    assert _stale(instance, defs) == {
        "NORMAL|cfg_a": StaleStatus.FRESH,
        "TWAP|cfg_a": StaleStatus.STALE,
        "NORMAL|cfg_b": StaleStatus.FRESH,
        "TWAP|cfg_b": StaleStatus.STALE,
    }


# --- the other Launchpad jobs --------------------------------------------------------------------


def test_adhoc_backtest_runs_one_algorithm_with_overrides(defs, roots, instance):
    result = defs.get_job_def("adhoc_backtest").execute_in_process(
        run_config={
            "ops": {
                "adhoc_backtest_op": {
                    "config": {
                        "config_name": "cfg_b",
                        "end": "2023-04-05T00:00:45Z",
                        "algorithm": "TWAP",
                        "params_json": json.dumps({"horizon_secs": 10, "interval_secs": 5}),
                        "mode": "report",
                    }
                }
            }
        },
        instance=instance,
    )
    assert result.success
    run_id, *model_risk = result.output_for_node("adhoc_backtest_op")  # report mode: the other presets too
    assert len(model_risk) == 2
    summary = json.loads((roots.resources["results"].path / "report" / run_id / "summary.json").read_text())
    assert summary["market"]["preset"] == "realistic" and "model_risk" not in summary
    assert summary["algorithm"]["name"] == "TWAP" and summary["algorithm"]["params"]["horizon_secs"] == 10
    assert summary["window"]["end"] == "2023-04-05T00:00:45Z"
    assert summary["summary"]["filled_qty"] == pytest.approx(2.0)


def test_adhoc_backtest_rejects_bad_parameters_clearly(defs, instance):
    result = defs.get_job_def("adhoc_backtest").execute_in_process(
        run_config={"ops": {"adhoc_backtest_op": {"config": {"config_name": "cfg_b", "algorithm": "TWAP",
                                                              "params_json": json.dumps({"horizon_secs": -1})}}}},
        instance=instance,
        raise_on_error=False,
    )  # fmt: skip
    assert not result.success
    message = str(result.get_step_failure_events()[0].step_failure_data.error)
    assert "horizon_secs" in message


def test_save_algorithm_job_validates_then_installs_with_history(defs, roots, instance):
    twap = roots.algorithms / "twap.py"
    previous = twap.read_text()
    run_config = {"ops": {"save_algorithm_op": {"config": {"name": "TWAP", "source": previous + "\n# v2\n"}}}}
    result = defs.get_job_def("save_algorithm").execute_in_process(run_config=run_config, instance=instance)
    assert result.success
    assert twap.read_text().endswith("# v2\n")
    history = list((roots.algorithms / ".history").rglob("*.py"))
    assert [path.read_text() for path in history] == [previous]

    broken = {"ops": {"save_algorithm_op": {"config": {"name": "TWAP", "source": "def broken(:\n"}}}}
    failed = defs.get_job_def("save_algorithm").execute_in_process(run_config=broken, instance=instance, raise_on_error=False)
    assert not failed.success
    assert "syntax" in str(failed.get_step_failure_events()[0].step_failure_data.error).lower()
    assert twap.read_text().endswith("# v2\n")  # the broken source was not installed
