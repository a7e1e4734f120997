"""Passive and adaptive placement on hand-built books: the exact children (times, quantities, prices
relative to the touch) a real NautilusTrader engine receives from TWAP, POV and ICEBERG.

The book (``book_harness``): five levels of 1 BTC, 0.1 apart; best bid/ask 30000.0/30000.1 until
15 s, 30000.5/30000.6 until 26 s, then 30000.2/30000.3. Trades: a 0.05 sell at 30000.5 (22.2 s) and
a 0.02 sell at 30000.2 (27.3 s). A parent of 0.3 BTC arrives at 10 s; TWAP over 30 s every 10 s
releases 0.1 at 10, 20 and 30 s. No order latency: a cancel is acknowledged at once.
"""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from odum_pipeline.algorithms.placement import catch_up_quantity, moved_away, passive_price
from odum_pipeline.algorithms.registry import discover, load_exec_algorithms
from odum_pipeline_tests.book_harness import run_on_book
from odum_pipeline_tests.conftest import REPO_ROOT

BOOKS = [(0, 30000.0, 30000.1), (15, 30000.5, 30000.6), (26, 30000.2, 30000.3)]
TRADES = [(22.2, 30000.5, 0.05, "SELL"), (27.3, 30000.2, 0.02, "SELL")]
ENTRIES = discover(REPO_ROOT / "algorithms")


def twap(placement: str, **extra):
    params = {"horizon_secs": 30, "interval_secs": 10, "placement": placement, **extra}
    return load_exec_algorithms(ENTRIES["TWAP"], params)[0]


def children(run) -> list[tuple]:
    """(time s, type, price, quantity, tag) of every child, in order."""
    rows = run.orders[~run.orders["primary"]]
    return [(r.t, r.type, r.price, r.qty, r.tags[-1]) for r in rows.itertuples()]


def fills(run) -> list[tuple]:
    return [(r.t, r.id.rsplit("-", 1)[1], r.price, r.qty, r.liquidity) for r in run.fills.itertuples()]


def test_pure_placement_rules():
    assert passive_price(True, D("10.0"), D("10.1"), None) == D("10.0")
    assert passive_price(False, D("10.0"), D("10.1"), None) == D("10.1")
    assert passive_price(True, D("10.0"), D("10.1"), D("9.8")) == D("9.8")  # the limit bounds a buy
    assert passive_price(False, D("10.0"), D("10.1"), D("10.3")) == D("10.3")  # and a sell
    assert moved_away(True, D("10.0"), D("10.2")) and not moved_away(True, D("10.0"), D("9.9"))
    assert moved_away(False, D("10.1"), D("10.0")) and not moved_away(False, D("10.1"), D("10.2"))
    # adaptive: cross the lag only beyond catch_up_pct of the parent; everything in the last interval
    assert catch_up_quantity("adaptive", D("0.2"), D("0.15"), D("1"), 10, final=False, released_after=D("0.3")) == 0
    assert catch_up_quantity("adaptive", D("0.2"), D("0.05"), D("1"), 10, final=False, released_after=D("0.3")) == D("0.15")
    assert catch_up_quantity("adaptive", D("0.2"), D("0.2"), D("1"), 10, final=True, released_after=D("0.3")) == D("0.1")
    assert catch_up_quantity("passive", D("0.2"), D("0"), D("1"), 10, final=True, released_after=D("0.3")) == 0


def test_passive_twap_rests_at_the_touch_replaces_and_rolls_leftovers():
    run = run_on_book(twap("passive"), BOOKS, TRADES, arrival=10, quantity="0.300")
    assert children(run) == [
        (10.0, "LIMIT", D("30000.0"), D("0.100"), "PASSIVE"),  # slice 1 at the best bid
        (15.0, "LIMIT", D("30000.5"), D("0.100"), "PASSIVE"),  # the bid moved away: cancel, replace
        (20.0, "LIMIT", D("30000.5"), D("0.200"), "PASSIVE"),  # slice 2 + slice 1's leftover
        (30.0, "LIMIT", D("30000.2"), D("0.100"), "PASSIVE"),  # slice 3 at the new (lower) bid
    ]
    statuses = list(run.orders[~run.orders["primary"]]["status"])
    assert statuses == ["CANCELED", "CANCELED", "FILLED", "ACCEPTED"]
    # fills only as a maker at the child's own price: the sell through it, then the ask coming down to it
    assert fills(run) == [(22.2, "E3", D("30000.5"), D("0.05"), "MAKER"), (26.0, "E3", D("30000.5"), D("0.15"), "MAKER")]
    # passive never crosses: 0.1 is left resting when the data ends
    assert sum(run.fills["qty"]) == D("0.2")


def test_adaptive_twap_crosses_the_lag_and_the_last_interval():
    run = run_on_book(twap("adaptive", catch_up_pct=10), BOOKS, TRADES, arrival=10, quantity="0.300")
    assert children(run) == [
        (10.0, "LIMIT", D("30000.0"), D("0.100"), "PASSIVE"),
        (15.0, "LIMIT", D("30000.5"), D("0.100"), "PASSIVE"),
        (20.0, "MARKET", None, D("0.100"), "CROSS"),  # 0.1 behind > 10% of 0.3: cross the lag
        (20.0, "LIMIT", D("30000.5"), D("0.100"), "PASSIVE"),  # the new slice rests
        (30.0, "MARKET", None, D("0.100"), "CROSS"),  # last interval: cross all that is left
    ]
    assert fills(run) == [
        (20.0, "E3", D("30000.6"), D("0.1"), "TAKER"),
        (22.2, "E4", D("30000.5"), D("0.05"), "MAKER"),
        (26.0, "E4", D("30000.5"), D("0.05"), "MAKER"),
        (30.0, "E5", D("30000.3"), D("0.1"), "TAKER"),
    ]
    assert sum(run.fills["qty"]) == D("0.3")  # complete by the last slice, before the 30 s horizon (40 s)
    assert run.record["placement_counts"] == {"release": 3, "rest": 3, "cross": 2}


def test_a_limit_parent_bounds_every_child():
    run = run_on_book(twap("adaptive"), BOOKS, TRADES, arrival=10, quantity="0.300", limit="30000.3")
    assert children(run) == [
        (10.0, "LIMIT", D("30000.0"), D("0.100"), "PASSIVE"),
        (15.0, "LIMIT", D("30000.3"), D("0.100"), "PASSIVE"),  # the bid is 30000.5: capped at the limit
        (20.0, "LIMIT", D("30000.3"), D("0.100"), "CROSS"),  # crossing = a limit at the parent's price
        (20.0, "LIMIT", D("30000.3"), D("0.100"), "PASSIVE"),
        (30.0, "LIMIT", D("30000.3"), D("0.100"), "CROSS"),
    ]
    assert all(price <= D("30000.3") for price in run.fills["price"])
    assert sum(run.fills["qty"]) == D("0.3")


def test_passive_sell_rests_at_the_ask():
    books = [(0, 30000.0, 30000.1), (15, 29999.5, 29999.6)]
    run = run_on_book(twap("passive"), books, [(17.0, 29999.6, 0.3, "BUY")], arrival=10, quantity="0.200", side="SELL")
    assert children(run)[:2] == [
        (10.0, "LIMIT", D("30000.1"), D("0.066"), "PASSIVE"),
        (15.0, "LIMIT", D("29999.6"), D("0.066"), "PASSIVE"),  # the ask fell away from it
    ]
    assert fills(run)[0] == (17.0, "E2", D("29999.6"), D("0.066"), "MAKER")


def test_iceberg_market_parent_rests_clips_at_the_touch_and_refills():
    algorithm = load_exec_algorithms(ENTRIES["ICEBERG"], {"display_qty": 0.1})[0]
    trades = [(12.0, 30000.0, 0.1, "SELL"), (13.0, 30000.0, 0.04, "SELL"), (17.0, 30000.5, 0.1, "SELL")]
    run = run_on_book(algorithm, BOOKS, trades, arrival=10, quantity="0.300")
    assert children(run) == [
        (10.0, "LIMIT", D("30000.0"), D("0.100"), "PASSIVE"),
        (12.0, "LIMIT", D("30000.0"), D("0.100"), "PASSIVE"),  # clip 1 filled: clip 2 shown at the touch
        (15.0, "LIMIT", D("30000.5"), D("0.060"), "PASSIVE"),  # re-priced: what clip 2 has left
        (17.0, "LIMIT", D("30000.5"), D("0.100"), "PASSIVE"),  # clip 3 once clip 2 has filled
    ]
    assert all(f[-1] == "MAKER" for f in fills(run))


def test_passive_pov_rests_each_participation_slice():
    algorithm = load_exec_algorithms(
        ENTRIES["POV"], {"participation_rate": 0.5, "interval_secs": 5, "horizon_secs": 20, "placement": "passive"}
    )[0]
    trades = [(11.0, 30000.1, 0.2, "BUY"), (21.0, 30000.6, 0.1, "BUY")]
    run = run_on_book(algorithm, BOOKS, trades, arrival=10, quantity="0.300")
    assert children(run) == [
        (15.0, "LIMIT", D("30000.5"), D("0.100"), "PASSIVE"),  # 50% of the 0.2 traded in 10-15 s
        (25.0, "LIMIT", D("30000.5"), D("0.150"), "PASSIVE"),  # + 50% of 0.1 (21 s): replaced with the sum
        (30.0, "LIMIT", D("30000.2"), D("0.150"), "PASSIVE"),  # horizon: the rest rests (passive never crosses)
    ]
    assert fills(run) == [(26.0, "E2", D("30000.5"), D("0.15"), "MAKER")]  # the ask came down through it


@pytest.mark.parametrize("placement", ["aggressive", "passive", "adaptive"])
def test_every_placement_passes_the_validation_smoke_run(placement):
    from odum_pipeline.algorithms.validation import validate_file

    for name in ("twap.py", "is.py"):
        report = validate_file(REPO_ROOT / "algorithms" / name, params={"placement": placement})
        assert report.ok, report.summary()
