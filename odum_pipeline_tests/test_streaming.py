"""A streamed replay (the window read from the catalog chunk by chunk) is the one-shot replay, event for event.

Also with snapshot_mode book (snapshots match, trades do not) and trades (an L1 book from trades).

Real windows spanning midnight (two catalog days), parent orders under NORMAL and TWAP with the
realistic market (delta batches, queue position, latency) and the optimistic one (depth
snapshots), chunks of a few seconds so that many chunk edges fall inside working orders: every
summary figure, order, fill, parent, TCA row, position, equity mark and timeline event must be equal.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from odum_pipeline.backtests import streaming
from odum_pipeline.backtests.config import parse_config
from odum_pipeline.backtests.engine import AlgorithmSpec, run_backtest
from odum_pipeline.backtests.streaming import time_chunks
from odum_pipeline.reports.tca import run_tca
from odum_pipeline_tests.conftest import BTC_PERP, SHIPPED_ALGORITHMS

TABLES = ("parents", "orders", "fills", "positions", "equity_curve", "timeline")
WINDOWS = {
    "2023-04-04/05": ("2023-04-04T23:58:30Z", "2023-04-05T00:06:00Z", "2023-04-04T23:59:00Z", "2023-04-05T00:02:00Z"),
    "2024-07-18/19": ("2024-07-18T23:57:10Z", "2024-07-19T00:05:00Z", "2024-07-18T23:58:00Z", "2024-07-19T00:01:00Z"),
}
#: A fresh UUID4 per order initialisation event, nothing the replay decides.
RANDOM_IDS = ("init_id",)
ALGORITHMS = {"NORMAL": {}, "TWAP": {"horizon_secs": 120, "interval_secs": 10}}


def _config(window: str, preset: str, snapshot_mode: str = "both"):
    start, end, first, second = WINDOWS[window]
    return parse_config(
        {
            "instrument": {"id": BTC_PERP},
            "venue": {"book_type": "L2_MBP"},
            "data_catalog": {"snapshot_mode": snapshot_mode},
            "time_window": {"start": start, "end": end},
            "strategy": {
                "submission_mode": "parent_orders",
                "parent_orders": [
                    {"side": "BUY", "quantity": "2", "arrival": first},
                    {"side": "SELL", "quantity": "1", "arrival": second},
                ],
                "close_positions": True,
            },
            "market": {"preset": preset},
            "environment": {"mode": "report", "replay": "full"},  # every chunk edge (active: test_active_replay)
        }
    )


def _run(config, algorithm: str, catalog: Path, results: Path, *, stream: bool):
    return run_backtest(
        config,
        algorithm=AlgorithmSpec(algorithm, ALGORITHMS[algorithm]),
        algorithms_root=SHIPPED_ALGORITHMS,
        catalog_root=catalog,
        results_root=results,
        mode="report",
        stream=stream,
    )


def _comparable(summary: dict) -> dict:
    return {key: value for key, value in summary.items() if key not in ("run_id", "result_path", "created_at")}


def _table(outcome, name: str) -> pd.DataFrame:
    frame = pq.read_table(outcome.result_path / f"{name}.parquet").to_pandas()
    return frame.drop(columns=[c for c in RANDOM_IDS if c in frame.columns])


def test_time_chunks_cover_the_window_once():
    assert list(time_chunks(0, 9, 4)) == [(0, 3), (4, 7), (8, 9)]
    assert list(time_chunks(5, 5, 4)) == [(5, 5)]


@pytest.mark.slow
@pytest.mark.parametrize(
    "window, preset, snapshot_mode",
    [(window, preset, "both") for window in sorted(WINDOWS) for preset in ("realistic", "optimistic")]
    + [("2023-04-04/05", "realistic", mode) for mode in ("book", "trades")],
)
def test_streamed_replay_equals_the_one_shot_replay(real_catalog, tmp_path, monkeypatch, window, preset, snapshot_mode):
    monkeypatch.setattr(streaming, "CHUNK_SECS", 7)  # dozens of chunk edges, inside working orders
    config = _config(window, preset, snapshot_mode)
    for algorithm in ALGORITHMS:
        one_shot = _run(config, algorithm, real_catalog, tmp_path / "one_shot", stream=False)
        streamed = _run(config, algorithm, real_catalog, tmp_path / "streamed", stream=True)
        assert streamed.summary["summary"]["fills"] > 0
        assert _comparable(streamed.summary) == _comparable(one_shot.summary)
        for table in TABLES:
            expected, actual = (_table(outcome, table) for outcome in (one_shot, streamed))
            pd.testing.assert_frame_equal(actual, expected, obj=f"{window} {preset} {snapshot_mode} {algorithm} {table}")
        tca = [run_tca(outcome.result_path, real_catalog) for outcome in (one_shot, streamed)]
        pd.testing.assert_frame_equal(tca[1].per_parent, tca[0].per_parent, obj=f"{window} {preset} {algorithm} TCA")
        pd.testing.assert_frame_equal(tca[1].per_fill, tca[0].per_fill, obj=f"{window} {preset} {algorithm} fill TCA")
        assert tca[1].aggregate == tca[0].aggregate
