"""The backtest config schema: shipped configs load, errors name file + field + expectation."""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from pathlib import Path

import pytest

from odum_pipeline.backtests.config import (
    AccountType,
    BacktestConfig,
    ConfigError,
    SnapshotMode,
    SubmissionMode,
    config_sha256,
    list_configs,
    load_config,
    parse_config,
)

CONFIGS = Path(__file__).resolve().parent.parent / "configs"

MINIMAL = {
    "instrument": {"id": "BINANCE-FUTURES:PERPETUAL:BTC-USDT"},
    "time_window": {"start": "2023-04-05T00:00:00Z", "end": "2023-04-05T00:06:00Z"},
}


def write(tmp_path: Path, data: dict | str, name: str = "cfg.json") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data, indent=2))
    return path


def error_of(tmp_path: Path, data: dict | str, name: str = "bad.json") -> str:
    path = write(tmp_path, data, name)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert str(path) in message
    assert "Traceback" not in message
    return message


def with_changes(**sections) -> dict:
    data = copy.deepcopy(MINIMAL)
    for section, value in sections.items():
        if isinstance(value, dict) and isinstance(data.get(section), dict):
            data[section].update(value)
        else:
            data[section] = value
    return data


@pytest.mark.parametrize("path", list_configs(CONFIGS), ids=lambda p: p.name)
def test_shipped_configs_load(path: Path) -> None:
    config = load_config(path)
    assert config.name == path.stem
    assert config.execution.algorithms


def test_shipped_configs_are_the_three_documented_ones() -> None:
    names = {p.name for p in list_configs(CONFIGS)}
    assert {"sample_btc_per_trade_tick.json", "sample_eth_parent_orders.json", "real_btc_20230405.json"} <= names


def test_defaults_are_filled_from_the_registry(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL, "minimal.json"))
    assert config.name == "minimal"
    assert config.venue.name == "BINANCE"
    assert config.venue.account_type is AccountType.MARGIN
    assert config.venue.base_currency == "USDT"
    assert config.venue.starting_balance == Decimal(1_000_000)
    assert (config.venue.maker_fee, config.venue.taker_fee) == (Decimal("0.0002"), Decimal("0.0004"))
    assert config.data_catalog.snapshot_mode is SnapshotMode.BOTH
    assert config.strategy.submission_mode is SubmissionMode.PER_TRADE_TICK
    assert config.strategy.close_positions is True
    assert [a.label for a in config.execution.algorithms] == ["NORMAL"]
    assert config.risk.bypass is False
    assert config.environment.mode.value == "fast"


def test_spot_defaults_to_cash_account(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, with_changes(instrument={"id": "BINANCE:SPOT:BTC-USDT"})))
    assert config.venue.account_type is AccountType.CASH


def test_explicit_fees_override_the_registry(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, with_changes(venue={"taker_fee": 0.0005, "maker_fee": -0.0001})))
    assert config.venue.taker_fee == Decimal("0.0005")
    assert config.venue.maker_fee == Decimal("-0.0001")


def test_bad_json_gives_line_and_column(tmp_path: Path) -> None:
    message = error_of(tmp_path, '{\n  "instrument": {"id": "x"},\n  oops\n}')
    assert "line 3" in message and "column 3" in message


def test_unknown_keys_are_rejected_everywhere(tmp_path: Path) -> None:
    data = with_changes(venue={"fee": 0.1}, surprise=True)
    data["strategy"] = {"parent_orders": [], "close_position": False}
    message = error_of(tmp_path, data)
    for path in ("venue.fee", "surprise", "strategy.close_position"):
        assert f"{path}: unknown key" in message


def test_missing_required_section(tmp_path: Path) -> None:
    data = copy.deepcopy(MINIMAL)
    del data["time_window"]
    assert "time_window: required field is missing" in error_of(tmp_path, data)


def test_parent_order_quantity_must_be_positive(tmp_path: Path) -> None:
    data = with_changes(
        strategy={
            "submission_mode": "parent_orders",
            "parent_orders": [{"side": "BUY", "quantity": 0, "arrival": "2023-04-05T00:00:30Z"}],
        }
    )
    message = error_of(tmp_path, data)
    assert "strategy.parent_orders[0].quantity: Input should be greater than 0 (got 0)" in message


def test_wrong_enum_names_the_choices(tmp_path: Path) -> None:
    message = error_of(tmp_path, with_changes(venue={"oms_type": "NET"}))
    assert "venue.oms_type" in message and "'NETTING' or 'HEDGING'" in message


def test_end_must_follow_start(tmp_path: Path) -> None:
    data = with_changes(time_window={"start": "2023-04-05T00:06:00Z", "end": "2023-04-05T00:00:00Z"})
    assert "time_window.end: 2023-04-05T00:00:00+00:00 must be after start" in error_of(tmp_path, data)


def test_bad_timestamp(tmp_path: Path) -> None:
    message = error_of(tmp_path, with_changes(time_window={"end": "tomorrow"}))
    assert "time_window.end: Input should be a valid datetime" in message


def test_parent_orders_mode_needs_orders(tmp_path: Path) -> None:
    message = error_of(tmp_path, with_changes(strategy={"submission_mode": "parent_orders"}))
    assert "strategy.parent_orders: submission_mode 'parent_orders' needs a non-empty" in message


def test_arrival_outside_window(tmp_path: Path) -> None:
    order = {"side": "SELL", "quantity": 1, "arrival": "2023-04-05T01:00:00Z"}
    data = with_changes(strategy={"submission_mode": "parent_orders", "parent_orders": [order]})
    assert "strategy.parent_orders[0].arrival: 2023-04-05T01:00:00+00:00 is outside" in error_of(tmp_path, data)


def test_deadline_before_arrival(tmp_path: Path) -> None:
    order = {"side": "SELL", "quantity": 1, "arrival": "2023-04-05T00:01:00Z", "deadline": "2023-04-05T00:00:10Z"}
    data = with_changes(strategy={"submission_mode": "parent_orders", "parent_orders": [order]})
    assert "strategy.parent_orders[0].deadline:" in error_of(tmp_path, data)


def test_unknown_instrument(tmp_path: Path) -> None:
    message = error_of(tmp_path, with_changes(instrument={"id": "BINANCE-FUTURES:PERPETUAL:XRP-USDT"}))
    assert "instrument.id: unknown instrument 'BINANCE-FUTURES:PERPETUAL:XRP-USDT'" in message


def test_precision_is_checked_against_the_registry(tmp_path: Path) -> None:
    message = error_of(tmp_path, with_changes(instrument={"price_precision": 2}))
    assert "instrument.price_precision: 2 does not match the registry's 1" in message


def test_duplicate_algorithm_labels(tmp_path: Path) -> None:
    data = with_changes(execution={"algorithms": [{"name": "TWAP"}, {"name": "twap"}]})
    assert "execution.algorithms: algorithm labels must be unique; repeated: TWAP" in error_of(tmp_path, data)


def test_export_ticks_needs_report_mode(tmp_path: Path) -> None:
    data = with_changes(environment={"export_ticks": True})
    assert "environment.export_ticks: only valid with mode 'report'" in error_of(tmp_path, data)


def test_hash_ignores_formatting_key_order_and_file_name(tmp_path: Path) -> None:
    compact = write(tmp_path, json.dumps(MINIMAL, separators=(",", ":")), "a.json")
    reordered = dict(reversed(list(copy.deepcopy(MINIMAL).items())))
    pretty = write(tmp_path, json.dumps(reordered, indent=4), "b.json")
    explicit = with_changes(venue={"starting_balance": "1000000.00", "taker_fee": 0.00040})
    assert config_sha256(compact) == config_sha256(pretty) == config_sha256(write(tmp_path, explicit, "c.json"))


def test_hash_changes_with_content(tmp_path: Path) -> None:
    base = config_sha256(write(tmp_path, MINIMAL, "a.json"))
    changed = config_sha256(write(tmp_path, with_changes(venue={"taker_fee": 0.0005}), "b.json"))
    assert base != changed
    assert len(base) == 64


def test_hash_of_model_equals_hash_of_path(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL)
    assert config_sha256(load_config(path)) == config_sha256(path)


def test_model_round_trips_through_json(tmp_path: Path) -> None:
    config = load_config(CONFIGS / "sample_eth_parent_orders.json")
    again = BacktestConfig.model_validate_json(config.model_dump_json())
    assert config_sha256(again) == config_sha256(config)


def test_run_overrides_change_a_copy_and_name_bad_parameters() -> None:
    from odum_pipeline.backtests.overrides import with_overrides

    original = copy.deepcopy(MINIMAL)
    data = with_overrides(
        MINIMAL, instrument="BINANCE:SPOT:BTC-USDT", start="2023-04-05T00:01:00Z", snapshot_mode="book",
        data_source="gcs", mode="report", export_ticks=True, close_positions=False,
        algorithm="TWAP", params_json='{"horizon_secs": 30}',
    )  # fmt: skip
    assert MINIMAL == original  # the document itself is left alone
    config = parse_config(data)
    assert config.instrument.id == "BINANCE:SPOT:BTC-USDT"
    assert config.time_window.start.isoformat() == "2023-04-05T00:01:00+00:00"
    assert config.time_window.end == parse_config(MINIMAL).time_window.end
    assert config.data_catalog.snapshot_mode.value == "book"
    assert (config.environment.data_source.value, config.environment.mode.value) == ("gcs", "report")
    assert config.environment.export_ticks and not config.strategy.close_positions
    assert [(a.name, a.params) for a in config.execution.algorithms] == [("TWAP", {"horizon_secs": 30})]
    assert with_overrides(MINIMAL) == {**MINIMAL, "environment": {}}

    labels = ("--exec_algorithm", "--exec_algorithm_params")
    for params_json, message in (("{", "--exec_algorithm_params: invalid JSON"), ("[1]", "expected a JSON object")):
        with pytest.raises(ConfigError, match=message):
            with_overrides(MINIMAL, algorithm="TWAP", params_json=params_json, labels=labels)
    with pytest.raises(ConfigError, match="--exec_algorithm_params: needs --exec_algorithm"):
        with_overrides(MINIMAL, params_json="{}", labels=labels)
