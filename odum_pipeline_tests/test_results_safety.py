"""No raw tracebacks and no half results: a bad results root is refused before the replay, an
algorithm that raises is one line, a failed report write leaves no half report folder."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from odum_pipeline.backtests.config import parse_config
from odum_pipeline.backtests.results import ResultsWriteError
from odum_pipeline.backtests.run_folder import PARTIAL_DIR
from odum_pipeline.backtests.runs import AlgorithmRaisedError, run_partition
from odum_pipeline.cli import run_backtest
from odum_pipeline_tests.conftest import BTC_PERP
from odum_pipeline_tests.gcs_emulator import gcs_bucket, gcs_client, gcs_emulator  # noqa: F401

WINDOW = {"start": "2023-04-05T00:00:00Z", "end": "2023-04-05T00:02:00Z"}
PARENT = {"submission_mode": "parent_orders", "parent_orders": [{"side": "BUY", "quantity": 0.01, "arrival": "2023-04-05T00:00:30Z"}]}

#: Passes validation (the smoke run is in 2024), divides by zero on the real data (2023).
RAISES_ON_REAL_DATA = '''
from nautilus_trader.config import ExecAlgorithmConfig
from nautilus_trader.execution.algorithm import ExecAlgorithm

PARAMETERS = []


class BoomConfig(ExecAlgorithmConfig, frozen=True):
    exec_algorithm_id: str | None = "BOOM"


class Boom(ExecAlgorithm):
    def on_order(self, order) -> None:
        if self.clock.timestamp_ns() < 1_704_067_200_000_000_000:
            order_size = 1 / 0
        self.submit_order(order)
'''


def _config_file(tmp_path: Path) -> Path:
    path = tmp_path / "boom_cfg.json"
    path.write_text(json.dumps({"instrument": {"id": BTC_PERP}, "time_window": WINDOW, "strategy": PARENT}))
    return path


@pytest.mark.parametrize("kind", ["a file", "under a file"])
def test_a_results_root_that_cannot_hold_results_is_refused_before_the_run(real_catalog, tmp_path, capsys, kind):
    blocker = tmp_path / "results.txt"
    blocker.write_text("not a folder")
    results = blocker if kind == "a file" else blocker / "results"
    started = time.monotonic()
    code = run_backtest.run(["--config", str(_config_file(tmp_path)), "--catalog", str(real_catalog), "--results", str(results)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and "Traceback" not in "\n".join(err)
    expected = f"error: results root {results} is a file, not a folder" if kind == "a file" else (
        f"error: results root {results} is not writable (Not a directory)")
    assert err[-1] == expected
    assert time.monotonic() - started < 15  # refused up front, no replay
    assert blocker.read_text() == "not a folder"


def test_an_algorithm_that_raises_is_one_line(real_catalog, tmp_path, capsys, monkeypatch):
    algorithms = tmp_path / "algorithms"
    algorithms.mkdir()
    (algorithms / "boom.py").write_text(RAISES_ON_REAL_DATA)
    monkeypatch.setenv("ODUM_ALGORITHMS_PATH", str(algorithms))
    code = run_backtest.run(["--config", str(_config_file(tmp_path)), "--exec_algorithm", "BOOM",
                             "--catalog", str(real_catalog), "--results", str(tmp_path / "results")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and "Traceback" not in "\n".join(err)
    assert err[-1] == "error: algorithm BOOM raised ZeroDivisionError: division by zero (boom.py line 15, in on_order)"
    config = parse_config({"name": "boom_cfg", "instrument": {"id": BTC_PERP}, "time_window": WINDOW, "strategy": PARENT})
    with pytest.raises(AlgorithmRaisedError) as error:
        run_partition(config, "BOOM", algorithms_root=algorithms, var_root=tmp_path / "var", catalog_root=real_catalog,
                      results_root=tmp_path / "results")
    assert isinstance(error.value.__cause__, ZeroDivisionError)


WRITE_WITH_A_FILE_SIZE_LIMIT = textwrap.dedent('''
    import resource, signal, sys
    import pandas as pd
    from odum_pipeline.backtests.metrics import RunData
    from odum_pipeline.backtests.results import write_report, ResultsWriteError

    small = pd.DataFrame({"client_order_id": ["O-1"], "qty": [1.0]})
    big = pd.DataFrame({"client_order_id": [f"O-{i}" for i in range(50_000)], "px": [float(i) for i in range(50_000)]})
    data = RunData(orders=small, fills=big, positions=small, parents=small, timeline=[])
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG ("disk full" stand-in)
    resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))
    try:
        write_report(sys.argv[1], "RUN_1", {"run_id": "RUN_1"}, data)
    except ResultsWriteError as error:
        print(error)
        sys.exit(2)
''')


def test_a_failed_report_write_leaves_no_half_report_folder(tmp_path):
    results = tmp_path / "results"
    done = subprocess.run([sys.executable, "-c", WRITE_WITH_A_FILE_SIZE_LIMIT, str(results)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    line = done.stdout.strip()
    assert line.startswith(f"cannot write the report {results / 'report' / 'RUN_1'}: ") and line.endswith("File too large")
    assert not (results / "report" / "RUN_1").exists()
    assert not (results / PARTIAL_DIR).exists()
    assert [p for p in results.rglob("*") if p.is_file()] == []


def test_a_report_write_that_succeeds_is_complete(tmp_path):
    import pandas as pd

    from odum_pipeline.backtests.metrics import RunData
    from odum_pipeline.backtests.results import write_report

    small = pd.DataFrame({"client_order_id": ["O-1"], "qty": [1.0]})
    data = RunData(orders=small, fills=small, positions=small, parents=small, timeline=[])
    directory = write_report(tmp_path, "RUN_2", {"run_id": "RUN_2"}, data)
    assert directory == tmp_path / "report" / "RUN_2"
    assert {p.name for p in directory.iterdir()} >= {"summary.json", "orders.parquet", "fills.parquet"}
    assert not (tmp_path / PARTIAL_DIR).exists()
    with pytest.raises(ResultsWriteError):
        write_report(tmp_path, "RUN_2", {"run_id": "RUN_2"}, data)  # never merged into an existing report


@pytest.mark.parametrize("backend", ["local", "gs"])
def test_results_are_written_and_read_back_the_same_way_in_a_folder_and_a_bucket(backend, tmp_path, request):
    """One code path over the root's filesystem: the same files, the summary read back as written."""
    import pandas as pd

    from odum_pipeline.backtests.metrics import RunData
    from odum_pipeline.backtests.results import write_fast, write_report
    from odum_pipeline.backtests.run_folder import REPORT_FILES, SUMMARY_FILE, read_summary
    from odum_pipeline.files import files_for

    root = f"gs://{request.getfixturevalue('gcs_bucket')}/results" if backend == "gs" else tmp_path / "results"
    small = pd.DataFrame({"client_order_id": ["O-1"], "qty": [1.0]})
    data = RunData(orders=small, fills=small, positions=small, parents=small, timeline=[])
    summary = {"run_id": "RUN_3", "net_pnl": "1.25"}

    directory = write_report(root, "RUN_3", summary, data)
    fast = write_fast(root, "RUN_4", {**summary, "run_id": "RUN_4"})

    files = files_for(root)
    names = {p.rsplit("/", 1)[-1] for p in files.fs.ls(str(directory), detail=False)}
    assert names == {SUMMARY_FILE, *REPORT_FILES} - {"ticks.parquet"}
    assert str(directory).endswith("/report/RUN_3") and str(fast).endswith("/fast/RUN_4.json")
    assert read_summary(directory) == summary and read_summary(fast)["run_id"] == "RUN_4"
    assert not files.fs.exists(f"{root}/{PARTIAL_DIR}")
