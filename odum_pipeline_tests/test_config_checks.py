"""Config values checked against the instrument at load, duplicate JSON keys refused, and the
ad-hoc job's config_name held to publish_config's rules. Each error names its field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from dagster import instance_for_test

from odum_pipeline.backtests.config import ConfigError, load_config, parse_config, parse_document
from odum_pipeline.definitions import build_definitions
from odum_pipeline.pipeline import storage_resources
from odum_pipeline_tests.conftest import BTC_PERP

WINDOW = {"start": "2023-04-05T00:00:00Z", "end": "2023-04-05T00:06:00Z"}


def _config(order: dict | None = None, **sections) -> dict:
    parent = {"side": "BUY", "quantity": "0.5", "arrival": "2023-04-05T00:00:30Z", **(order or {})}
    return {"instrument": {"id": BTC_PERP}, "time_window": WINDOW,
            "strategy": {"submission_mode": "parent_orders", "parent_orders": [parent]}, **sections}


CASES = {  # case: (config, the one line that must name the field)
    "quantity off the size increment": (
        _config({"quantity": "0.5005"}),
        "strategy.parent_orders[0].quantity: 0.5005 is not a multiple of BINANCE-FUTURES:PERPETUAL:BTC-USDT's size increment 0.001 (it would run as 0.5)",
    ),
    "limit price off the price increment": (
        _config({"limit_price": "28000.05"}),
        "strategy.parent_orders[0].limit_price: 28000.05 is not a multiple of BINANCE-FUTURES:PERPETUAL:BTC-USDT's price increment 0.1",
    ),
    "absurd quantity": (_config({"quantity": "1e15"}), "strategy.parent_orders[0].quantity: 1000000000000000 is absurd"),
    "absurd limit price": (_config({"limit_price": "1e14"}), "strategy.parent_orders[0].limit_price: 100000000000000 is absurd"),
    "quantity below the minimum": (_config({"quantity": "0.0001"}), "strategy.parent_orders[0].quantity: 0.0001 is not a multiple"),
    "absurd balance": (_config(venue={"starting_balance": "1e20"}), "venue.starting_balance: 100000000000000000000 is absurd"),
    "negative taker fee of -50 %": (_config(venue={"taker_fee": -0.5}), "venue.taker_fee: -0.5 is outside the sane range -0.001 .. 0.01"),
    "maker fee of 5 %": (_config(venue={"maker_fee": 0.05}), "venue.maker_fee: 0.05 is outside the sane range"),
    "absurd risk limit": (_config(risk={"max_order_quantity": "1e12"}), "risk.max_order_quantity: 1000000000000 is absurd"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_bad_value_is_refused_naming_its_field(case):
    data, line = CASES[case]
    with pytest.raises(ConfigError) as error:
        parse_config(data, source="c.json")
    assert line in str(error.value), str(error.value)


def test_every_problem_is_on_its_own_line():
    with pytest.raises(ConfigError) as error:
        parse_config(_config({"quantity": "0.5005", "limit_price": "28000.05"}, venue={"taker_fee": -0.5}), source="c.json")
    lines = str(error.value).splitlines()
    assert [line.split(":")[0].strip(" -") for line in lines[1:]] == [
        "strategy.parent_orders[0].quantity", "strategy.parent_orders[0].limit_price", "venue.taker_fee"]


def test_good_values_and_a_rebate_pass():
    config = parse_config(_config({"quantity": "0.501", "limit_price": "28000.1"}, venue={"maker_fee": -0.0001}))
    assert str(config.strategy.parent_orders[0].quantity) == "0.501"


def test_shipped_configs_still_load():
    for path in sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.json")):
        load_config(path)


def test_duplicate_keys_are_an_error_naming_their_path(tmp_path):
    text = json.dumps(_config())[:-1] + ', "time_window": {"start": "2023-04-05T00:00:00Z", "end": "2023-04-05T00:01:00Z"}}'
    text = text.replace('"quantity": "0.5"', '"quantity": "0.5", "quantity": "5"')
    path = tmp_path / "dup.json"
    path.write_text(text)
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert str(error.value) == (
        f"{path}: duplicate key(s) strategy.parent_orders[0].quantity, time_window (each key may appear once per object)"
    )
    assert parse_document('{"a": [{"b": 1}], "c": {"d": 2}}', "ok.json") == {"a": [{"b": 1}], "c": {"d": 2}}


@pytest.mark.parametrize("name", ["../outside", "sub/inner", "/etc/passwd", "..", ".hidden", "x.json"])
def test_adhoc_backtest_refuses_config_names_outside_the_configs_root(tmp_path, real_catalog, name):
    configs = tmp_path / "configs"
    (configs / "sub").mkdir(parents=True)
    for target in (tmp_path / "outside.json", configs / "sub" / "inner.json", configs / ".hidden.json"):
        target.write_text(json.dumps(_config()))
    resources = storage_resources(tmp_path / "raw", real_catalog, tmp_path / "results", configs, tmp_path / "algorithms")
    defs = build_definitions(resources)
    with instance_for_test() as instance:
        result = defs.get_job_def("adhoc_backtest").execute_in_process(
            run_config={"ops": {"adhoc_backtest_op": {"config": {"config_name": name}}}}, instance=instance, raise_on_error=False)
    assert not result.success
    failure = result.get_step_failure_events()[0].step_failure_data.user_failure_data
    assert failure is not None and failure.description.startswith(f"config_name: {name!r} is not a valid config name")
    assert not (tmp_path / "results").exists()
