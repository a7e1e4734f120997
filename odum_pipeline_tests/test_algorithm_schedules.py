"""Exact child quantities and times of the scheduling math (no NautilusTrader), plus the schema."""

from __future__ import annotations

from decimal import Decimal as D

import numpy as np
import pytest

from odum_pipeline.algorithms.profiles import covered, given_profile, interval_volumes
from odum_pipeline.algorithms.schema import AlgorithmParameterError, ParameterSchemaError, resolve, validate_schema
from odum_pipeline.algorithms.slicing import (
    NS_PER_SEC,
    ScheduleError,
    Slice,
    display_quantity,
    iceberg_clips,
    pov_schedule,
    pov_slice,
    split_quantity,
    twap_schedule,
    vwap_schedule,
)

T0 = 1_680_652_830 * NS_PER_SEC
INC = D("0.001")


def qtys(*values: str) -> list[D]:
    return [D(v) for v in values]


# --- TWAP ----------------------------------------------------------------------------------------


def test_twap_equal_slices_on_the_interval_grid():
    slices = twap_schedule(T0, D("2"), 300, 60, INC, INC)
    assert slices == [Slice(T0 + k * 60 * NS_PER_SEC, D("0.400")) for k in range(5)]
    assert slices[-1].ts_ns < T0 + 300 * NS_PER_SEC  # the last slice completes the order by the horizon


def test_twap_rounding_remainder_carried_to_later_slices():
    # 0.010 in 3 slices of whole increments: floor(10/3)=3, floor(20/3)=6, 10 -> 3, 3, 4
    assert [s.quantity for s in twap_schedule(T0, D("0.010"), 30, 10, INC)] == qtys("0.003", "0.003", "0.004")
    # 1 BTC over 7 slices: nothing lost, every slice a multiple of the increment
    seven = [s.quantity for s in twap_schedule(T0, D("1"), 70, 10, INC)]
    assert seven == qtys("0.142", "0.143", "0.143", "0.143", "0.143", "0.143", "0.143")  # floor(1000 k / 7) differences
    assert sum(seven) == D("1")


def test_twap_slices_under_the_size_increment_are_carried_not_sent_whole():
    # 0.003 over 5 slices with increment 0.001: cumulative floors 0,1,1,2,3 -> slices at k=1,3,4
    slices = twap_schedule(T0, D("0.003"), 50, 10, INC)
    assert slices == [
        Slice(T0 + 10 * NS_PER_SEC, D("0.001")),
        Slice(T0 + 30 * NS_PER_SEC, D("0.001")),
        Slice(T0 + 40 * NS_PER_SEC, D("0.001")),
    ]


def test_twap_min_quantity_carries_small_slices_forward():
    # min qty 0.005: 0.012 in 4 slices (3 each) -> 0, 6 (3+3), 0, 6 ... last pending merges
    assert split_quantity(D("0.012"), [1, 1, 1, 1], INC, D("0.005")) == qtys("0", "0.006", "0", "0.006")
    # 0.011 in 5: raw 2, 2, 2, 2, 3 increments -> carried until >= 5: 0, 0, 6, 0, 5
    assert split_quantity(D("0.011"), [1, 1, 1, 1, 1], INC, D("0.005")) == qtys("0", "0", "0.006", "0", "0.005")
    # a final carry under the minimum is merged into the previous slice sent: raw 3, 3, 3, 1 (min 3)
    assert split_quantity(D("0.010"), [3, 3, 3, 1], INC, D("0.003")) == qtys("0.003", "0.003", "0.004", "0")
    # an order below the minimum quantity goes whole, in one slice
    assert split_quantity(D("0.002"), [1, 1, 1], INC, D("0.005")) == qtys("0", "0", "0.002")


def test_twap_horizon_not_a_multiple_of_the_interval():
    slices = twap_schedule(T0, D("1"), 100, 30, INC)
    assert [s.ts_ns - T0 for s in slices] == [0, 30 * NS_PER_SEC, 60 * NS_PER_SEC, 90 * NS_PER_SEC]
    assert [s.quantity for s in slices] == qtys("0.250", "0.250", "0.250", "0.250")


def test_schedule_errors():
    with pytest.raises(ScheduleError, match="not a multiple of the size increment"):
        split_quantity(D("0.0015"), [1, 1], INC)
    with pytest.raises(ScheduleError, match="must not exceed horizon_secs"):
        twap_schedule(T0, D("1"), 10, 60, INC)
    with pytest.raises(ScheduleError, match="must not all be zero"):
        split_quantity(D("1"), [0, 0], INC)
    with pytest.raises(ScheduleError, match="non-negative"):
        split_quantity(D("1"), [1, -1], INC)


# --- VWAP ----------------------------------------------------------------------------------------


def test_vwap_follows_the_given_profile_exactly():
    profile = [0.1, 0.4, 0.2, 0.3]
    slices = vwap_schedule(T0, D("2"), 120, profile, INC)
    assert [s.ts_ns - T0 for s in slices] == [0, 30 * NS_PER_SEC, 60 * NS_PER_SEC, 90 * NS_PER_SEC]
    assert [s.quantity for s in slices] == qtys("0.200", "0.800", "0.400", "0.600")


def test_vwap_is_never_an_equal_split_and_skips_quiet_intervals():
    slices = vwap_schedule(T0, D("1"), 300, [3, 0, 1, 0, 1], INC)
    assert [(s.ts_ns - T0) // NS_PER_SEC for s in slices] == [0, 120, 240]
    assert [s.quantity for s in slices] == qtys("0.600", "0.200", "0.200")


def test_vwap_profile_from_volumes_per_interval():
    ts = np.array([0, 5, 10, 29, 30, 31, 59, 60, 95]) * NS_PER_SEC + T0
    sizes = np.array([1, 1, 1, 1, 2, 2, 2, 5, 9], dtype=float)
    volumes = interval_volumes(ts, sizes, T0, 30 * NS_PER_SEC, 3)
    assert volumes.tolist() == [4.0, 6.0, 5.0]  # the trade at 95 s is beyond the 3 intervals
    profile = given_profile(volumes.tolist(), 3)
    assert profile.weights == [round(4 / 15, 12), round(6 / 15, 12), round(5 / 15, 12)]
    assert [s.quantity for s in vwap_schedule(T0, D("1.5"), 90, profile.weights, INC)] == qtys("0.400", "0.600", "0.500")


def test_catalog_coverage_rule():
    s = NS_PER_SEC
    assert covered([(0, 100 * s)], 10 * s, 90 * s, 5 * s)
    assert covered([(12 * s, 100 * s)], 10 * s, 90 * s, 5 * s)  # quiet first seconds are fine
    assert not covered([(30 * s, 100 * s)], 10 * s, 90 * s, 5 * s)  # starts too late
    assert not covered([(0, 40 * s), (60 * s, 100 * s)], 10 * s, 90 * s, 5 * s)  # a gap
    assert covered([(0, 40 * s), (42 * s, 100 * s)], 10 * s, 90 * s, 5 * s)
    assert not covered([], 0, 1, 1)


# --- ICEBERG -------------------------------------------------------------------------------------


def test_iceberg_clips_and_replenishment_order():
    assert iceberg_clips(D("2"), D("0.3"), INC) == qtys(*(["0.3"] * 6 + ["0.2"]))
    # a remainder under the minimum quantity joins the last clip
    assert iceberg_clips(D("1.002"), D("0.5"), INC, D("0.005")) == qtys("0.5", "0.502")
    assert display_quantity(D("2"), INC, INC, visible_pct=10) == D("0.200")
    assert display_quantity(D("2"), INC, INC, display_qty=0.2345) == D("0.234")  # floored to the increment
    assert display_quantity(D("0.004"), INC, D("0.005"), visible_pct=10) == D("0.004")  # never more than total
    assert display_quantity(D("2"), INC, D("0.005"), visible_pct=0.01) == D("0.005")  # at least the minimum


# --- POV -----------------------------------------------------------------------------------------


def test_pov_against_a_given_volume_stream():
    volumes = [D("10"), D("0"), D("3.3333"), D("50"), D("7")]
    # rate 0.1: 1.000; 0; 0.333 (0.00033 carried); capped at 2 (3.00003 cut); rest 0.667 of 0.7
    assert pov_schedule(D("4"), volumes, D("0.1"), INC, INC, D("2")) == qtys("1.000", "0", "0.333", "2.000", "0.667")


def test_pov_carries_rounding_and_min_quantity_but_not_the_cap():
    quantity, carry = pov_slice(D("0.0159"), D("0.1"), D("1"), INC, INC)  # owed 0.00159
    assert (quantity, carry) == (D("0.001"), D("0.00059"))
    quantity, carry = pov_slice(D("0.004"), D("0.1"), D("1"), INC, D("0.005"), None, carry)  # owed 0.00099
    assert quantity == 0 and carry == D("0.00099")
    quantity, carry = pov_slice(D("100"), D("0.5"), D("1"), INC, INC, D("0.25"))
    assert (quantity, carry) == (D("0.250"), D("0"))  # the capped excess is dropped
    assert pov_slice(D("100"), D("0.5"), D("0.123"), INC, INC)[0] == D("0.123")  # never more than what is left
    assert pov_schedule(D("0.5"), [D("1")] * 3, D("1"), INC) == qtys("0.5")  # stops when done


# --- parameter schema ----------------------------------------------------------------------------


SCHEMA = [
    {"name": "horizon_secs", "type": "int", "default": 300, "min": 1, "max": 3600, "doc": "Horizon."},
    {"name": "rate", "type": "float", "default": 0.1, "min": 0, "max": 1, "exclusive_min": True, "doc": "Rate."},
    {"name": "profile", "type": "list[float]", "default": None, "min": 0, "doc": "Weights."},
    {"name": "mode", "type": "str", "default": "auto", "choices": ["auto", "fixed"], "doc": "Mode."},
    {"name": "strict", "type": "bool", "default": True, "doc": "Strict."},
]


def test_resolve_fills_defaults_and_coerces():
    specs = validate_schema(SCHEMA)
    assert resolve("X", specs, {}) == {"horizon_secs": 300, "rate": 0.1, "profile": None, "mode": "auto", "strict": True}
    assert resolve("X", specs, {"horizon_secs": 60.0, "profile": [1, 2]})["horizon_secs"] == 60
    assert resolve("X", specs, {"profile": [1, 2]})["profile"] == [1.0, 2.0]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"horizon_secs": 0}, "parameter horizon_secs: 0 is below the minimum"),
        ({"horizon_secs": 1.5}, "parameter horizon_secs: expected an integer"),
        ({"horizon_secs": True}, "parameter horizon_secs: expected int"),
        ({"rate": 0}, r"parameter rate: 0.0 is below the minimum \(> 0\)"),
        ({"rate": 2}, "parameter rate: 2.0 is above the maximum"),
        ({"profile": [1, -1]}, r"parameter profile: element \[1\]"),
        ({"mode": "fast"}, "parameter mode: 'fast' is not one of auto, fixed"),
        ({"strict": "yes"}, "parameter strict: expected true or false"),
        ({"horizon": 5}, "unknown parameter"),
    ],
)
def test_resolve_errors_name_the_algorithm_and_parameter(params, message):
    with pytest.raises(AlgorithmParameterError, match=message) as info:
        resolve("TWAP", validate_schema(SCHEMA), params)
    assert "algorithm TWAP" in str(info.value)


def test_invalid_schemas():
    with pytest.raises(ParameterSchemaError, match="expected a list"):
        validate_schema({"name": "x"})
    with pytest.raises(ParameterSchemaError, match=r"\[0\] \('x'\): type"):
        validate_schema([{"name": "x", "type": "duration", "doc": "d"}])
    with pytest.raises(ParameterSchemaError, match="min .* > max"):
        validate_schema([{"name": "x", "type": "int", "min": 2, "max": 1, "doc": "d"}])
    with pytest.raises(ParameterSchemaError, match="default 0 is invalid"):
        validate_schema([{"name": "x", "type": "int", "default": 0, "min": 1, "doc": "d"}])
    with pytest.raises(ParameterSchemaError, match="duplicate"):
        validate_schema([{"name": "x", "type": "int", "doc": "d"}] * 2)
    with pytest.raises(ParameterSchemaError, match="doc"):
        validate_schema([{"name": "x", "type": "int"}])


def test_catalog_profile_historical_then_realized(tmp_path):
    """On a small synthetic catalog (two days, same clock window): the previous day's volumes per
    interval make a historical profile; without history or volume before the arrival, auto is flat
    (never the future); the realized one only by name, flagged look-ahead."""
    from odum_pipeline.algorithms import smoke
    from odum_pipeline.algorithms.profiles import ProfileError, catalog_profile
    from odum_pipeline.instruments.registry import build_instrument

    instrument = build_instrument(smoke.INSTRUMENT_KEY)
    smoke.write_catalog(tmp_path, instrument, 200)
    day = smoke._day_start_ns(smoke.DAY)
    start, horizon = day + 10 * NS_PER_SEC, 120 * NS_PER_SEC
    _, previous_trades = smoke.synthetic_market(instrument, day - 86_400 * NS_PER_SEC, 200, 11)
    ts = np.array([t.ts_init for t in previous_trades])
    sizes = np.array([t.size.as_double() for t in previous_trades])
    expected = interval_volumes(ts, sizes, start - 86_400 * NS_PER_SEC, 30 * NS_PER_SEC, 4)

    historical = catalog_profile(tmp_path, instrument.id.value, start, horizon, 4)
    assert historical.source == "historical" and not historical.look_ahead
    assert historical.days == ["2024-01-01"]
    assert historical.volumes == pytest.approx(expected.tolist(), abs=1e-9)
    assert sum(historical.weights) == pytest.approx(1)

    realized = catalog_profile(tmp_path, instrument.id.value, start, horizon, 4, source="realized")
    assert realized.source == "realized" and realized.look_ahead and realized.days == ["2024-01-02"]
    # the first day has no earlier history and 10 s of data before the arrival: auto is flat
    first_day = start - 86_400 * NS_PER_SEC
    flat = catalog_profile(tmp_path, instrument.id.value, first_day, horizon, 4)
    assert flat.source == "flat" and not flat.look_ahead and flat.weights == [0.25] * 4
    with pytest.raises(ProfileError, match="no previous day"):
        catalog_profile(tmp_path, instrument.id.value, first_day, horizon, 4, source="historical")
    with pytest.raises(ProfileError, match="do not cover"):
        catalog_profile(tmp_path, instrument.id.value, day + 150 * NS_PER_SEC, horizon, 4, source="realized")
