"""The IS (Almgren-Chriss) schedule against its closed form, its calibration (no look-ahead), the
PARAMETERS-vs-config defaults check, sweeps in the config and the cost/risk frontier."""

from __future__ import annotations

import math
from decimal import Decimal as D

import numpy as np
import pandas as pd
import pytest

from odum_pipeline.algorithms.calibration import CalibrationError, calibrate
from odum_pipeline.algorithms.registry import algorithm_classes, defaults_drift, discover, load_module
from odum_pipeline.algorithms.slicing import (
    NS_PER_SEC,
    almgren_chriss_holdings,
    almgren_chriss_kappa,
    is_schedule,
    twap_schedule,
)
from odum_pipeline.backtests.config import ConfigError, parse_config
from odum_pipeline.reports.frontier import frontier, frontier_charts, frontier_notes
from odum_pipeline_tests.conftest import BTC_PERP, REPO_ROOT

T0 = 1_680_652_830 * NS_PER_SEC
INC = D("0.001")


# --- the schedule --------------------------------------------------------------------------------


def test_kappa_solves_the_discrete_almgren_chriss_equation():
    risk_aversion, sigma, eta, tau = 2e-5, 2.5, 0.04 * 30, 30.0
    kappa = almgren_chriss_kappa(risk_aversion, sigma, eta, tau)
    assert 2 * (math.cosh(kappa * tau) - 1) / tau**2 == pytest.approx(risk_aversion * sigma**2 / eta, rel=1e-12)
    assert almgren_chriss_kappa(0, sigma, eta, tau) == 0.0


def test_is_schedule_is_the_closed_form_trade_list():
    kappa, horizon, intervals, total = 0.01, 300, 10, D("10")
    slices = is_schedule(T0, total, horizon, intervals, kappa, INC)
    assert [s.ts_ns for s in slices] == [T0 + k * 30 * NS_PER_SEC for k in range(intervals)]
    # x_k = Q sinh(kappa (T - t_k)) / sinh(kappa T); interval k trades x_k - x_{k+1}, floored cumulatively
    held = [float(total) * math.sinh(kappa * (horizon - 30 * k)) / math.sinh(kappa * horizon) for k in range(intervals + 1)]
    cumulative = [math.floor(round((float(total) - held[k + 1]) / float(INC), 6)) for k in range(intervals)]
    expected = [D(c - p) * INC for c, p in zip(cumulative, [0] + cumulative[:-1])]
    assert [s.quantity for s in slices] == expected
    assert sum(s.quantity for s in slices) == total
    assert almgren_chriss_holdings(kappa, horizon, intervals) == pytest.approx([h / 10 for h in held], rel=1e-12)


def test_high_risk_aversion_front_loads_and_zero_is_twap():
    sigma, eta, tau = 3.0, 1.2, 30.0
    urgent = is_schedule(T0, D("2"), 300, 10, almgren_chriss_kappa(1e-3, sigma, eta, tau), INC)
    quantities = [s.quantity for s in urgent]
    assert quantities == sorted(quantities, reverse=True) and quantities[0] > 3 * quantities[-1]
    straight = is_schedule(T0, D("2"), 300, 10, almgren_chriss_kappa(0.0, sigma, eta, tau), INC)
    assert straight == twap_schedule(T0, D("2"), 300, 30, INC)
    nearly = is_schedule(T0, D("2"), 300, 10, almgren_chriss_kappa(1e-12, sigma, eta, tau), INC)
    assert max(abs(a.quantity - b.quantity) for a, b in zip(nearly, straight)) <= INC  # lambda -> 0: the line


# --- calibration ---------------------------------------------------------------------------------


def test_calibration_reads_only_data_before_the_arrival(tmp_path):
    from odum_pipeline.algorithms import smoke
    from odum_pipeline.instruments.registry import build_instrument

    instrument = build_instrument(smoke.INSTRUMENT_KEY)
    depths, _ = smoke.write_catalog(tmp_path, instrument, 200)
    arrival = smoke._day_start_ns(smoke.DAY) + 100 * NS_PER_SEC
    result = calibrate(tmp_path, instrument.id.value, arrival, 60, 30.0)
    before = [d for d in depths if arrival - 60 * NS_PER_SEC <= d.ts_init < arrival]
    assert (result.data_start_ns, result.data_end_ns) == (before[0].ts_init, before[-1].ts_init)
    assert result.data_end_ns < arrival and result.snapshots == len(before)
    mids = np.array([(d.bids[0].price.as_double() + d.asks[0].price.as_double()) / 2 for d in before])
    assert result.sigma == pytest.approx(float(np.std(np.diff(mids), ddof=1)), rel=1e-9)  # one snapshot a second
    assert result.book_slope == pytest.approx(0.4 / 2.0)  # 4 ticks of 0.1 over 4 levels of 0.5
    assert result.eta == pytest.approx(0.2 * 30.0)
    with pytest.raises(CalibrationError, match="too few to calibrate"):
        calibrate(tmp_path, instrument.id.value, smoke._day_start_ns(smoke.DAY) - 86_400 * NS_PER_SEC + 2 * NS_PER_SEC, 60, 30.0)


# --- PARAMETERS defaults == config defaults ------------------------------------------------------


def test_shipped_parameters_defaults_equal_their_config_classes():
    for name, entry in discover(REPO_ROOT / "algorithms").items():
        if entry.is_builtin:
            continue
        _, configs = algorithm_classes(load_module(entry))
        assert defaults_drift(entry, configs[0]) is None, name


def test_drifted_defaults_fail_validation(tmp_path):
    from odum_pipeline.algorithms.validation import validate_file

    source = (REPO_ROOT / "algorithms" / "twap.py").read_text().replace("interval_secs: int = 60", "interval_secs: int = 30")
    path = tmp_path / "twap.py"
    path.write_text(source)
    report = validate_file(path)
    assert not report.ok
    assert report.errors == ["PARAMETERS defaults differ from TWAPConfig's: interval_secs: PARAMETERS 60, config 30"]


# --- sweeps --------------------------------------------------------------------------------------


def sweep_config(entry: dict) -> dict:
    return {
        "instrument": {"id": BTC_PERP},
        "time_window": {"start": "2023-04-05T00:00:00Z", "end": "2023-04-05T00:06:00Z"},
        "execution": {"algorithms": [{"name": "NORMAL"}, entry]},
    }


def test_a_sweep_expands_into_labelled_variants_each_its_own_partition():
    config = parse_config(
        sweep_config({"name": "twap", "params": {"interval_secs": 10}, "sweep": {"placement": ["passive", "adaptive"], "horizon_secs": [120, 30, 60]}})
    )
    labels = [entry.label for entry in config.execution.algorithms]
    assert labels == ["NORMAL"] + [
        f"TWAP[horizon_secs={h},placement={p}]" for h in (30, 60, 120) for p in ("adaptive", "passive")
    ]
    assert config.execution.partition_keys() == labels
    variant = config.execution.by_label("TWAP[horizon_secs=60,placement=passive]")
    assert variant.params == {"interval_secs": 10, "horizon_secs": 60, "placement": "passive"}
    # the expansion is the content: the same sweep written differently hashes the same
    other = parse_config(
        sweep_config({"name": "TWAP", "sweep": {"horizon_secs": [60, 120, 30], "placement": ["adaptive", "passive"]}, "params": {"interval_secs": 10}})
    )
    from odum_pipeline.backtests.config import config_sha256

    assert config_sha256(other) == config_sha256(config)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"name": "TWAP", "sweep": {}}, "at least one parameter"),
        ({"name": "TWAP", "sweep": {"horizon_secs": []}}, "at least one value"),
        ({"name": "TWAP", "sweep": {"horizon_secs": [60, 60]}}, "repeated values"),
        ({"name": "TWAP", "params": {"horizon_secs": 60}, "sweep": {"horizon_secs": [30]}}, "also fixed in params"),
        ({"name": "TWAP", "label": "x", "sweep": {"horizon_secs": [30]}}, "labels its variants itself"),
        ({"name": "TWAP", "label": "VWAP[horizon_secs=30]"}, "must be TWAP\\[param=value"),
        ({"name": "TWAP", "label": "a|b"}, "must not contain"),
    ],
)
def test_bad_sweeps_are_one_clear_error(entry, message):
    with pytest.raises(ConfigError, match=message):
        parse_config(sweep_config(entry))


def test_sweep_variant_partitions_run_only_their_variant(tmp_path):
    from odum_pipeline.backtests.engine import BacktestSetupError
    from odum_pipeline.backtests.runs import algorithm_variants

    config = parse_config(sweep_config({"name": "TWAP", "sweep": {"horizon_secs": [30, 60]}}))
    variants = algorithm_variants(config, "TWAP[horizon_secs=60]", REPO_ROOT / "algorithms")
    assert [(v.label, v.algorithm.params["horizon_secs"]) for v in variants] == [("TWAP[horizon_secs=60]", 60)]
    with pytest.raises(BacktestSetupError, match="lists no variant"):
        algorithm_variants(config, "TWAP[horizon_secs=90]", REPO_ROOT / "algorithms")


# --- frontier ------------------------------------------------------------------------------------


def costs(*values: float) -> pd.DataFrame:
    return pd.DataFrame({"total_cost_bps": values})


def test_frontier_marks_the_variants_no_other_beats_on_both_mean_and_spread():
    per_order = {
        "A": costs(1, 3),  # mean 2, std 1.414
        "B": costs(0, 6),  # mean 3, std 4.24: dominated by A
        "C": costs(1.5, 1.5),  # mean 1.5, std 0: efficient
        "D": costs(-1, 3, 1),  # mean 1, std 2: efficient (lowest mean)
    }
    result = frontier(per_order)
    table = result.points.set_index("label")
    assert table.loc["A", "mean_cost_bps"] == 2 and table.loc["A", "std_cost_bps"] == pytest.approx(math.sqrt(2))
    assert dict(table["efficient"]) == {"A": False, "B": False, "C": True, "D": True}
    assert result.efficient == ["D", "C"]
    assert "efficient variants: D (mean 1.000 bps, std 2.000 bps); C (mean 1.500 bps, std 0.000 bps)" in frontier_notes(per_order)[0]
    png = frontier_charts(per_order)["Cost/risk frontier"]
    assert png.startswith(b"\x89PNG")
    assert frontier_charts({"A": costs(1)}) == {} and frontier_notes({"A": costs(1)}) == []


def test_the_sources_sensor_plans_one_backtest_per_sweep_variant(tmp_path):
    import json
    import shutil

    from odum_pipeline.backtests.sensors import SourcesCursor, plan_sources_tick

    configs, algorithms = tmp_path / "configs", tmp_path / "algorithms"
    configs.mkdir()
    shutil.copytree(REPO_ROOT / "algorithms", algorithms)
    (configs / "swept.json").write_text(json.dumps(sweep_config({"name": "TWAP", "sweep": {"horizon_secs": [60, 30]}})))
    first = plan_sources_tick(SourcesCursor(), configs, algorithms, set(), set())
    variants = ["TWAP[horizon_secs=30]", "TWAP[horizon_secs=60]"]
    assert first.backtests == [("swept", "NORMAL")] + [("swept", v) for v in variants]
    assert set(variants) <= set(first.new_algorithms) and "TWAP" in first.new_algorithms
    # an edited TWAP requests exactly the config's TWAP variants again
    twap = algorithms / "twap.py"
    twap.write_text(twap.read_text() + "\n# edited\n")
    known = set(first.new_algorithms)
    second = plan_sources_tick(first.cursor, configs, algorithms, {"swept"}, known)
    assert second.changed_algorithms == ["TWAP"] and second.backtests == [("swept", v) for v in variants]
    assert second.new_algorithms == []


def test_placement_parameters_are_declared_identically_by_every_placement_algorithm():
    from odum_pipeline.algorithms.placement import PLACEMENT_PARAMETERS
    from odum_pipeline.algorithms.schema import describe, validate_schema

    expected = describe(validate_schema(PLACEMENT_PARAMETERS))
    entries = discover(REPO_ROOT / "algorithms")
    for name in ("TWAP", "VWAP", "POV", "IS"):
        declared = [p for p in entries[name].schema() if p["name"] in ("placement", "catch_up_pct")]
        assert declared == expected, name
