"""TCA metrics on small hand-built markets with answers worked out by hand; the comparison's
bootstrap and run selection on synthetic runs. Fast (no NautilusTrader run)."""

from __future__ import annotations

import json
import os
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from odum_pipeline.catalog.market_data import Market
from odum_pipeline.reports import compare, rendering, statistics, tca
from odum_pipeline.reports.costs import compute_tca
from odum_pipeline.reports.parents import parents_from_results

S = 1_000_000_000  # ns per second
FEE = Decimal("0.0004")


def market() -> Market:
    # mids: t=0 100.0, t=10 100.5, t=12 101.0, t=20 99.0, t=40 102.0 (the data ends at t=40)
    book_ts = np.array([0, 10, 12, 20, 40]) * S
    mid = [100.0, 100.5, 101.0, 99.0, 102.0]
    # market trades (t, px, qty): before the BUY's interval, inside it (both ends inclusive), after it
    trades = [(4, 99.0, 5.0), (5, 100.0, 1.0), (8, 100.5, 2.0), (15, 101.0, 1.0), (16, 105.0, 10.0), (28, 98.9, 3.0)]
    return Market.from_arrays(book_ts, mid, [t * S for t, _, _ in trades], [p for _, p, _ in trades], [q for _, _, q in trades])


def fill(ts: int, parent: str, child: str, side: str, px: str, qty: str, close: bool = False) -> dict:
    price, quantity = Decimal(px), Decimal(qty)
    return {
        "ts_event": ts * S, "client_order_id": child, "parent_order_id": parent, "side": side, "last_px": price,
        "last_qty": quantity, "commission": price * quantity * FEE, "is_close": close,
    }  # fmt: skip


PARENTS = pd.DataFrame(
    {
        "parent_order_id": ["P-BUY", "P-SELL", "P-NONE"],
        "side": ["BUY", "SELL", "BUY"],
        "arrival_ns": [5 * S, 25 * S, 2 * S],
        "requested_qty": [2.0, 1.0, 1.0],
        "end_ns": [20 * S, 40 * S, 12 * S],  # end marks (deadline or window end): mids 99.0, 102.0, 101.0
    }
)
FILLS = pd.DataFrame(
    [
        fill(10, "P-BUY", "P-BUY-E1", "BUY", "100.6", "1"),
        fill(15, "P-BUY", "P-BUY-E2", "BUY", "101.2", "1"),
        fill(30, "P-SELL", "P-SELL", "SELL", "98.8", "1"),
        fill(50, "CLOSE-1", "CLOSE-1", "SELL", "90", "2", close=True),  # close-outs are no parent's
    ]
)


@pytest.fixture(scope="module")
def result() -> tca.TcaResult:
    return compute_tca(PARENTS, FILLS, market(), markout_secs=(1, 5, 10, 30))


def row(result, parent_id: str) -> pd.Series:
    return result.per_parent.set_index("parent_order_id").loc[parent_id]


def test_buy_parent_filled_at_two_prices(result) -> None:
    buy = row(result, "P-BUY")
    assert buy["filled_qty"] == 2.0 and buy["fill_ratio"] == 1.0 and bool(buy["completed"])
    assert buy["avg_px"] == pytest.approx(100.9)
    assert buy["arrival_mid"] == 100.0  # the snapshot at t=0 is the last one by the arrival at t=5
    assert buy["shortfall_bps"] == pytest.approx((100.9 - 100.0) / 100.0 * 1e4)  # 90 bps paid
    assert buy["shortfall_cost"] == pytest.approx(0.9 * 2)
    # interval [arrival 5 s, last fill 15 s], both ends in: trades 1@100, 2@100.5, 1@101
    assert (buy["interval_start_ns"], buy["interval_end_ns"]) == (5 * S, 15 * S)
    assert buy["market_volume"] == 4.0
    assert buy["interval_vwap"] == pytest.approx((100 + 201 + 101) / 4)
    assert buy["vwap_slippage_bps"] == pytest.approx((100.9 - 100.5) / 100.5 * 1e4)
    assert buy["participation_rate"] == pytest.approx(2 / 4)
    assert buy["time_to_complete_secs"] == 10.0
    # spread paid: 100.6 vs mid 100.5 at t=10, 101.2 vs mid 101.0 at t=15; equal quantities
    assert buy["spread_paid_bps"] == pytest.approx((0.1 / 100.5 * 1e4 + 0.2 / 101.0 * 1e4) / 2)
    assert buy["fees"] == pytest.approx(float((Decimal("100.6") + Decimal("101.2")) * FEE))
    fees = float((Decimal("100.6") + Decimal("101.2")) * FEE)
    assert buy["fees_bps"] == pytest.approx(fees / (2 * 100.0) * 1e4)  # bps of the arrival value Q·M0


def test_perold_cost_and_its_decomposition(result) -> None:
    """BUY: 2 @ M0 100, fills 100.6 (mid 100.5) and 101.2 (mid 101.0); SELL: 1 @ M0 99, fill 98.8
    (mid 99.0); NONE: 1 @ M0 100 never filled, mid 101.0 at its end mark."""
    buy, sell, none = row(result, "P-BUY"), row(result, "P-SELL"), row(result, "P-NONE")
    buy_fees = (100.6 + 101.2) * 0.0004
    assert buy["implementation_shortfall_bps"] == pytest.approx((0.6 + 1.2) / 200 * 1e4)
    assert buy["opportunity_cost_bps"] == 0.0 and buy["impact_cost_bps"] == 0.0
    assert buy["spread_cost_bps"] == pytest.approx((0.1 + 0.2) / 200 * 1e4)  # paid over each fill's mid
    assert buy["timing_cost_bps"] == pytest.approx((0.5 + 1.0) / 200 * 1e4)  # the mid drifted up while working
    assert buy["total_cost_bps"] == pytest.approx((1.8 + buy_fees) / 200 * 1e4)
    assert sell["implementation_shortfall_bps"] == pytest.approx(0.2 / 99 * 1e4)
    assert sell["spread_cost_bps"] == pytest.approx(0.2 / 99 * 1e4) and sell["timing_cost_bps"] == 0.0
    assert none["unfilled_qty"] == 1.0 and none["end_mid"] == 101.0
    assert none["opportunity_cost_bps"] == pytest.approx(1.0 / 100 * 1e4)  # it rose 1.0 while we did not buy
    assert none["total_cost_bps"] == none["implementation_shortfall_bps"] == none["opportunity_cost_bps"]
    for parent in (buy, sell, none):
        parts = sum(parent[f"{p}_bps"] for p in ("spread_cost", "impact_cost", "timing_cost", "opportunity_cost", "fees"))
        assert parts == pytest.approx(parent["total_cost_bps"], abs=1e-12)
    agg = result.aggregate
    scale = 200 + 99 + 100  # run level: weighted by each parent's arrival value Q·M0
    total = 1.8 + buy_fees + 0.2 + 98.8 * 0.0004 + 1.0
    assert agg["total_cost_bps"] == pytest.approx(total / scale * 1e4)
    assert agg["implementation_shortfall_bps"] == pytest.approx((1.8 + 0.2 + 1.0) / scale * 1e4)
    assert agg["opportunity_cost_bps"] == pytest.approx(1.0 / scale * 1e4)
    assert agg["unfilled_qty"] == 1.0


def test_buy_markouts_positive_when_the_mid_falls_after_buying(result) -> None:
    fills = result.per_fill.set_index("client_order_id")
    first, second = fills.loc["P-BUY-E1"], fills.loc["P-BUY-E2"]
    assert first["markout_1s_bps"] == 0.0 and second["markout_1s_bps"] == 0.0  # no new snapshot within 1 s
    assert first["markout_5s_bps"] == pytest.approx(-(101.0 - 100.5) / 100.5 * 1e4)  # rose after the buy: good
    assert second["markout_5s_bps"] == pytest.approx(-(99.0 - 101.0) / 101.0 * 1e4)  # fell after the buy: bad, +198
    assert first["markout_30s_bps"] == pytest.approx(-(102.0 - 100.5) / 100.5 * 1e4)
    assert np.isnan(second["markout_30s_bps"])  # t=45 is past the end of the market data
    buy = row(result, "P-BUY")
    assert buy["markout_5s_bps"] == pytest.approx((first["markout_5s_bps"] + second["markout_5s_bps"]) / 2)
    assert buy["markout_30s_bps"] == pytest.approx(first["markout_30s_bps"])  # only the fill with a value


def test_sell_signs_are_costs_too(result) -> None:
    sell = row(result, "P-SELL")
    assert sell["arrival_mid"] == 99.0
    assert sell["shortfall_bps"] == pytest.approx((99.0 - 98.8) / 99.0 * 1e4)  # sold below the mid: +20.2 bps cost
    assert sell["shortfall_bps"] > 0
    assert sell["spread_paid_bps"] == pytest.approx((99.0 - 98.8) / 99.0 * 1e4)
    assert sell["interval_vwap"] == pytest.approx(98.9, rel=1e-12) and sell["market_volume"] == 3.0  # the trade at t=28 only
    assert sell["vwap_slippage_bps"] == pytest.approx((98.9 - 98.8) / 98.9 * 1e4)
    assert sell["participation_rate"] == pytest.approx(1 / 3)
    # the mid rose from 99 to 102 ten seconds after selling: against us, positive
    assert sell["markout_10s_bps"] == pytest.approx((102.0 - 99.0) / 99.0 * 1e4)
    assert sell["markout_1s_bps"] == 0.0


def test_unfilled_parent_and_aggregate(result) -> None:
    none = row(result, "P-NONE")
    assert none["filled_qty"] == 0 and none["fill_ratio"] == 0 and not bool(none["completed"])
    assert np.isnan(none["shortfall_bps"]) and np.isnan(none["time_to_complete_secs"]) and np.isnan(none["market_volume"])
    agg = result.aggregate
    buy_is, sell_is = 90.0, (99.0 - 98.8) / 99.0 * 1e4
    assert agg["parents"] == 3 and agg["parents_filled"] == 2 and agg["parents_completed"] == 2 and agg["fills"] == 3
    assert agg["fill_ratio"] == pytest.approx(3 / 4)
    assert agg["execution_shortfall_bps"] == pytest.approx((2 * buy_is + 1 * sell_is) / 3)  # filled part only
    fees = (100.6 + 101.2 + 98.8) * 0.0004
    assert agg["fees_bps"] == pytest.approx(fees / (200 + 99 + 100) * 1e4)
    totals = result.per_parent["total_cost_bps"]
    assert agg["mean_total_cost_bps"] == pytest.approx(totals.mean())
    assert agg["participation_rate"] == pytest.approx((2 * 0.5 + 1 * (1 / 3)) / 3)
    assert agg["mean_time_to_complete_secs"] == pytest.approx((10 + 5) / 2)
    spreads = [0.1 / 100.5 * 1e4, 0.2 / 101.0 * 1e4, sell_is]
    assert agg["spread_paid_bps"] == pytest.approx(np.mean(spreads))
    json.dumps(agg)  # JSON-ready


def test_instantaneous_order_uses_the_minimum_interval() -> None:
    parents = pd.DataFrame({"parent_order_id": ["P"], "side": ["BUY"], "arrival_ns": [5 * S], "requested_qty": [1.0]})
    fills = pd.DataFrame([fill(5, "P", "P", "BUY", "100.1", "1")])
    per_parent = compute_tca(parents, fills, market()).per_parent.iloc[0]
    assert per_parent["time_to_complete_secs"] == 0.0
    assert (per_parent["interval_start_ns"], per_parent["interval_end_ns"]) == (5 * S, 6 * S)
    assert per_parent["market_volume"] == 1.0 and per_parent["interval_vwap"] == 100.0
    assert per_parent["participation_rate"] == 1.0
    wider = compute_tca(parents, fills, market(), min_interval_secs=3).per_parent.iloc[0]
    assert wider["market_volume"] == 3.0  # 1@100 at t=5 and 2@100.5 at t=8


def test_parents_from_results_recovers_requested_quantity() -> None:
    """A TWAP family: the primary's quantity was shrunk to 0.002 by its children; a close order is no parent."""
    orders = pd.DataFrame(
        {
            "client_order_id": ["O-1", "O-1-E1", "O-1-E2", "O-2", "O-3"],
            "parent_order_id": ["O-1", "O-1", "O-1", "O-2", "O-3"],
            "side": ["BUY", "BUY", "BUY", "SELL", "SELL"],
            "quantity": ["0.002", "0.999", "0.999", "1.500", "0.500"],
            "ts_init": [30 * S, 30 * S, 40 * S, 90 * S, 120 * S],
            "tags": ["['ENTRY']"] * 4 + ["['CLOSE']"],
        }
    )
    parents = parents_from_results(orders)
    assert list(parents["parent_order_id"]) == ["O-1", "O-2"]
    assert list(parents["requested_qty"]) == [2.0, 1.5] and list(parents["arrival_ns"]) == [30 * S, 90 * S]
    timeline = pd.DataFrame(
        {"ts": [30 * S], "event": ["parent_submitted"], "client_order_id": ["O-1"], "detail": ["BUY 2.5"]}
    )
    assert list(parents_from_results(orders, timeline)["requested_qty"]) == [2.5, 1.5]  # the submitted quantity wins


def test_market_lookups_are_as_of_inclusive() -> None:
    m = market()
    assert np.isnan(m.mid_at([-1])[0])
    assert list(m.mid_at(np.array([0, 9, 10, 11, 40, 99]) * S)) == [100.0, 100.0, 100.5, 100.5, 102.0, 102.0]
    assert np.isnan(m.mid_after([41 * S])[0]) and m.mid_after([40 * S])[0] == 102.0
    volume, vwap = m.volume_vwap([0, 17 * S], [4 * S, 27 * S])
    assert list(volume) == [5.0, 0.0] and vwap[0] == 99.0 and np.isnan(vwap[1])


# --- bootstrap -----------------------------------------------------------------------------------


def test_bootstrap_detects_a_real_difference() -> None:
    rng = np.random.default_rng(1)
    best = rng.normal(2.0, 1.0, 200)
    worse = best + rng.normal(1.0, 0.5, 200)  # the same orders, 1 bp worse on average
    result = statistics.bootstrap_mean_difference(worse, best, paired=True)
    assert result["significant"] and result["low"] > 0
    assert result["low"] < 1.0 < result["high"]
    assert result == statistics.bootstrap_mean_difference(worse, best, paired=True)  # fixed seed: reproducible
    unpaired = statistics.bootstrap_mean_difference(rng.normal(3.0, 1.0, 300), rng.normal(2.0, 1.0, 300), paired=False)
    assert unpaired["significant"] and not unpaired["paired"]


def test_bootstrap_says_when_the_difference_is_not_significant() -> None:
    rng = np.random.default_rng(2)
    best = rng.normal(2.0, 1.0, 100)
    same = best + rng.normal(0.0, 1.0, 100)
    result = statistics.bootstrap_mean_difference(same, best, paired=True)
    assert not result["significant"] and result["low"] < 0 < result["high"]
    assert result["resamples"] == 2000


# --- selecting and ranking runs ------------------------------------------------------------------


def fake_run(
    root: Path, run_id: str, *, algorithm: str, shortfalls, config_sha: str = "a" * 64, params=None, mtime=None,
    look_ahead: bool = False,
) -> Path:
    """A report directory with a summary, entry fills and a per-parent TCA of the given total costs."""
    directory = root / "report" / run_id
    directory.mkdir(parents=True)
    n = len(shortfalls)
    per_parent = pd.DataFrame(
        {
            "parent_order_id": [f"P{i}" for i in range(n)], "side": ["BUY"] * n, "arrival_ns": np.arange(n) * S,
            "requested_qty": [1.0] * n, "filled_qty": [1.0] * n, "arrival_mid": [100.0] * n,
            "arrival_value": [100.0] * n, "total_cost_bps": shortfalls,
        }
    )  # fmt: skip
    per_parent.to_parquet(directory / tca.TCA_FILE)
    pd.DataFrame([fill(i, f"P{i}", f"P{i}", "BUY", "100", "1") for i in range(n)]).astype({"last_px": float, "last_qty": float, "commission": float}).to_parquet(directory / "fills.parquet")
    summary = {
        "run_id": run_id, "mode": "report", "config": {"name": "cfg", "sha256": config_sha},
        "algorithm": {"name": algorithm, "version": "v1", "params": params or {}},
        "summary": {"net_pnl": -1.0, "fees": 0.5, "max_drawdown": 1.0},
        "tca": {"version": tca.TCA_VERSION, "parents": n, "total_cost_bps": float(np.mean(shortfalls)),
                "mean_total_cost_bps": float(np.mean(shortfalls)), "fill_ratio": 1.0},
        "look_ahead": {"used": look_ahead, "reasons": ["VWAP: the realized profile"] if look_ahead else []},
    }  # fmt: skip
    (directory / "summary.json").write_text(json.dumps(summary))
    if mtime is not None:
        os.utime(directory / "summary.json", (mtime, mtime))
    return directory


def test_compare_ranks_latest_runs_and_flags_significance(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    base = rng.normal(1.0, 1.0, 40)
    fake_run(tmp_path, "R-old-twap", algorithm="TWAP", shortfalls=base + 10, mtime=1000)
    noise = rng.normal(0.0, 0.3, 40)
    fake_run(tmp_path, "R-twap", algorithm="TWAP", shortfalls=base + 0.02 + noise - noise.mean(), mtime=2000)
    fake_run(tmp_path, "R-normal", algorithm="NORMAL", shortfalls=base + 3 + rng.normal(0, 0.3, 40), mtime=2001)
    fake_run(tmp_path, "R-best", algorithm="VWAP", shortfalls=base - 0.001, mtime=2002)
    fake_run(tmp_path, "R-stale-config", algorithm="POV", shortfalls=base - 50, config_sha="b" * 64, mtime=500)
    selected, notes = compare.latest_runs(tmp_path)
    assert {r.run_id for r in selected["cfg"]} == {"R-twap", "R-normal", "R-best"}
    assert notes["cfg"] == ["1 run(s) of other market setups of this config (other versions, windows or market models) left out."]
    comparison = compare.compare_runs("cfg", selected["cfg"], notes=notes["cfg"])
    table = comparison.table.set_index("algorithm")
    assert list(comparison.table["algorithm"]) == ["VWAP", "TWAP", "NORMAL"] and comparison.best == "VWAP"
    assert table.loc["VWAP", "run_id"] == "R-best" and table.loc["NORMAL", "run_id"] == "R-normal"
    assert table.loc["NORMAL", "significant"] is True and table.loc["NORMAL", "ci_low_bps"] > 2
    assert table.loc["TWAP", "significant"] is False  # 0.021 bp apart on average: CI includes 0
    assert comparison.significant is False
    assert any("not significant" in note and "TWAP" in note for note in comparison.notes)
    markdown = rendering.markdown_table(comparison)
    assert all(run_id in markdown for run_id in ("R-best", "R-twap", "R-normal"))
    path = rendering.write_html(comparison, tmp_path, {"chart": b"\x89PNG fake"})
    assert path == tmp_path / "comparison" / "cfg.html" and "R-normal" in path.read_text()


def test_latest_run_is_the_one_created_last_not_the_last_rewritten(tmp_path: Path) -> None:
    """Writing TCA into an older run's summary.json (or copying runs from GCS) bumps its mtime:
    the run's own ``created_at`` decides which run is the latest."""
    for run_id, created, mtime in (("R-first", "2026-01-01T00:00:00Z", 3000), ("R-second", "2026-01-01T00:00:01Z", 2000)):
        directory = fake_run(tmp_path, run_id, algorithm="TWAP", shortfalls=[1.0])
        summary = json.loads((directory / "summary.json").read_text())
        (directory / "summary.json").write_text(json.dumps({**summary, "created_at": created}))
        os.utime(directory / "summary.json", (mtime, mtime))
    selected, _ = compare.latest_runs(tmp_path)
    assert [r.run_id for r in selected["cfg"]] == ["R-second"]


def test_compare_with_few_orders_gives_no_ci(tmp_path: Path) -> None:
    fake_run(tmp_path, "R-a", algorithm="TWAP", shortfalls=[1.0, 2.0])
    fake_run(tmp_path, "R-b", algorithm="TWAP", params={"horizon_secs": 30}, shortfalls=[0.0, 0.5])
    selected, notes = compare.latest_runs(tmp_path)
    labels = sorted(r.label for r in selected["cfg"])
    assert labels == ["TWAP()", "TWAP(horizon_secs=30)"]  # same algorithm, two parameter sets
    comparison = compare.compare_runs("cfg", selected["cfg"])
    assert comparison.significant is None and comparison.table["significant"].isna().all()
    assert "too few orders" in comparison.table.iloc[1]["diff_vs_best"]
    assert comparison.notes and "no confidence interval" in comparison.notes[0]


def with_setup(directory: Path, setup: str) -> None:
    path = directory / "summary.json"
    mtime = path.stat().st_mtime
    summary = json.loads(path.read_text())
    summary["config"]["setup_sha256"] = setup
    path.write_text(json.dumps(summary))
    os.utime(path, (mtime, mtime))  # the run's time stays the one it was written at


def test_runs_of_one_market_setup_are_compared_whatever_config_version_ran_them(tmp_path: Path) -> None:
    """``run-backtest --exec_algorithm`` gives each run its own config hash (the execution section
    differs) but the same market setup: they are one comparison; another setup is left out."""
    with_setup(fake_run(tmp_path, "R-normal", algorithm="NORMAL", shortfalls=[3.0, 4.0], config_sha="1" * 64, mtime=10), "S")
    with_setup(fake_run(tmp_path, "R-twap", algorithm="TWAP", shortfalls=[1.0, 2.0], config_sha="2" * 64, mtime=20), "S")
    with_setup(fake_run(tmp_path, "R-other", algorithm="POV", shortfalls=[0.0, 0.0], config_sha="3" * 64, mtime=5), "T")
    selected, notes = compare.latest_runs(tmp_path)
    assert sorted(r.run_id for r in selected["cfg"]) == ["R-normal", "R-twap"]
    assert len(notes["cfg"]) == 1 and "1 run(s) of other market setups" in notes["cfg"][0]


def test_delta_vs_best_is_the_difference_of_the_ranked_total_costs(tmp_path: Path) -> None:
    """Parents of different sizes: Δ vs best is weighted by arrival value like the ranking column,
    so Δ equals the difference of the two rows' total cost and has the ranking's sign."""
    for run_id, costs in (("R-a", [10.0, 0.0, 0.0]), ("R-b", [0.0, 4.0, 4.0])):
        directory = fake_run(tmp_path, run_id, algorithm=run_id[-1].upper(), shortfalls=costs)
        per_parent = tca.read_tca(directory).assign(requested_qty=[5.0, 1.0, 1.0], arrival_value=[500.0, 100.0, 100.0])
        per_parent.to_parquet(directory / tca.TCA_FILE)
        summary = json.loads((directory / "summary.json").read_text())
        summary["tca"]["total_cost_bps"] = float(np.average(costs, weights=[5, 1, 1]))
        (directory / "summary.json").write_text(json.dumps(summary))
    selected, _ = compare.latest_runs(tmp_path)
    comparison = compare.compare_runs("cfg", selected["cfg"], min_orders=1)
    table = comparison.table.set_index("algorithm")
    assert list(comparison.table["algorithm"]) == ["B", "A"]  # 8/7 bps against 50/7 bps
    assert table.loc["A", "diff_vs_best_bps"] == pytest.approx(table.loc["A", "total_cost_bps"] - table.loc["B", "total_cost_bps"])
    assert table.loc["A", "diff_vs_best_bps"] > 0  # an unweighted mean (10/3 vs 8/3) would agree here, a median not


def test_look_ahead_runs_are_listed_apart_unless_asked_for(tmp_path: Path) -> None:
    fake_run(tmp_path, "R-twap", algorithm="TWAP", shortfalls=[2.0, 2.0])
    fake_run(tmp_path, "R-vwap", algorithm="VWAP", shortfalls=[0.5, 0.5], look_ahead=True)
    selected, _ = compare.latest_runs(tmp_path)
    default = compare.compare_runs("cfg", selected["cfg"])
    assert list(default.table["algorithm"]) == ["TWAP"] and [r.label for r in default.look_ahead_runs] == ["VWAP"]
    assert any("Not ranked: VWAP" in note for note in default.notes)
    assert "Look-ahead runs, not ranked" in rendering.render_html(default)
    included = compare.compare_runs("cfg", selected["cfg"], include_look_ahead=True)
    assert list(included.table["algorithm"]) == ["VWAP", "TWAP"] and bool(included.table.iloc[0]["look_ahead"])


def test_inverse_contracts_are_costed_in_their_quote_value() -> None:
    """1000 USD contracts bought at mid 50,000: 600 @ 50,100 and 300 @ 50,200, 100 left unfilled with the
    mid at 50,400 at the end mark; fees in BTC. Every cost in USD, in bps of the 1000 USD arrival value."""
    market = Market.from_arrays([0, 10 * S, 20 * S], [50_000.0, 50_150.0, 50_400.0])
    parents = pd.DataFrame({"parent_order_id": ["P"], "side": ["BUY"], "arrival_ns": [S], "requested_qty": [1000.0],
                            "end_ns": [30 * S]})  # fmt: skip
    fills = pd.DataFrame(
        [
            {**fill(11, "P", "P-E1", "BUY", "50100", "600"), "commission": Decimal(600) / Decimal(50100) * FEE},
            {**fill(12, "P", "P-E2", "BUY", "50200", "300"), "commission": Decimal(300) / Decimal(50200) * FEE},
        ]
    )
    row = compute_tca(parents, fills, market, inverse=True).per_parent.iloc[0]
    execution = 600 * (1 - 50_000 / 50_100) + 300 * (1 - 50_000 / 50_200)  # USD
    opportunity = 100 * (1 - 50_000 / 50_400)
    fees = 900 * 0.0004
    assert row["arrival_value"] == 1000.0 and row["unfilled_qty"] == 100.0
    assert row["implementation_shortfall_bps"] == pytest.approx((execution + opportunity) / 1000 * 1e4, rel=1e-12)
    assert row["fees_bps"] == pytest.approx(fees / 1000 * 1e4, rel=1e-9)
    assert row["total_cost_bps"] == pytest.approx((execution + opportunity + fees) / 1000 * 1e4, rel=1e-9)
