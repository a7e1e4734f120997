"""The benchmark scripts run end to end (small sizes): they are not tests of speed, but they must work."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
RESULT_MARK = "@@RESULT@@"  # benchmarks/harness.py


@pytest.mark.slow
def test_desk_day_quick_runs_the_day_through_dagster(tmp_path):
    """`desk_day.py --quick`: a 10-minute synthetic day through a real instance and daemon: the sensors
    pick the files up and run the catalog, the five algorithms' backtests, then the comparison report."""
    completed = subprocess.run(
        [sys.executable, str(REPO_ROOT / "benchmarks" / "desk_day.py"), "--quick", "--no-full",
         "--workdir", str(tmp_path), "--keep"],
        capture_output=True, text=True, cwd=REPO_ROOT, timeout=900,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    lines = [line for line in completed.stdout.splitlines() if line.startswith(RESULT_MARK)]
    report = json.loads(lines[-1][len(RESULT_MARK) :])
    stages = {stage["label"]: stage for stage in report["stages"]}

    assert [stage["label"] for stage in report["stages"]] == ["catalog", "backtests", "report"]
    assert (stages["catalog"]["runs"], stages["backtests"]["runs"], stages["report"]["runs"]) == (1, 5, 1)
    assert all(stage["failed"] == 0 for stage in report["stages"])
    assert stages["backtests"]["peak_rss_mib"] > 100
    assert "desk day, end to end through the sensors:" in completed.stdout and "active vs full replay" in completed.stdout
    # The daemon launched each stage only once the one before it was done, and the end to end time
    # holds every stage's runs and the gaps before them.
    assert all(stage["waiting"] >= 0 for stage in report["stages"])
    assert report["end_to_end"] >= sum(stage["wall"] + stage["waiting"] for stage in report["stages"]) - 1e-6
    # What the stages produced: five report-mode runs of the config and its comparison report.
    summaries = [json.loads(p.read_text()) for p in (tmp_path / "results" / "report").glob("*/summary.json")]
    assert len(summaries) == 5
    # Each backtest replayed only the intervals in which its parents worked (the default), and the
    # events the stage counted from the runs' progress lines are the events the runs replayed.
    assert {s["replay"]["mode"] for s in summaries} == {"active"}
    assert all(0 < s["replay"]["replayed_share"] < 1 for s in summaries)
    assert 0 < stages["backtests"]["events"] <= sum(s["replay"]["events"] for s in summaries)
    assert {s["algorithm"]["name"] for s in summaries} == {"NORMAL", "TWAP", "VWAP", "POV", "ICEBERG"}
    assert (tmp_path / "results" / "comparison" / "desk_day.html").is_file()
