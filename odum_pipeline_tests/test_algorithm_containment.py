"""The validator contains the code it checks: limits, writes only in its temporary copy's folder,
no child left behind however the parent stops, and no verdict from a validator that died."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from odum_pipeline.algorithms import registry
from odum_pipeline.algorithms.containment import ADDRESS_SPACE_BYTES, OPEN_FILES, landlock_abi
from odum_pipeline.algorithms.gate import InvalidAlgorithmError, ensure_runnable, validation_verdict
from odum_pipeline.algorithms.validation import WORKDIR_PREFIX, validate_file

REPO = Path(__file__).resolve().parents[1]
BAD = Path(__file__).resolve().parent / "bad_algorithms"

VALID_TAIL = '''
from nautilus_trader.config import ExecAlgorithmConfig
from nautilus_trader.execution.algorithm import ExecAlgorithm

PARAMETERS = []


class ProbeConfig(ExecAlgorithmConfig, frozen=True):
    exec_algorithm_id: str | None = "PROBE"


class Probe(ExecAlgorithm):
    def on_order(self, order) -> None:
        self.submit_order(order)
'''


def _probe(tmp_path: Path, prelude: str) -> Path:
    path = tmp_path / "algos" / "probe.py"
    path.parent.mkdir(exist_ok=True)
    path.write_text(prelude + VALID_TAIL)
    return path


def test_a_plain_algorithm_passes(tmp_path):
    report = validate_file(_probe(tmp_path, ""), timeout_secs=60)
    assert report.ok, report.errors


def test_memory_is_limited(tmp_path):
    size = ADDRESS_SPACE_BYTES + 2**30  # never touched: without a limit the allocation succeeds
    report = validate_file(_probe(tmp_path, f"_hog = bytearray({size})\n"), timeout_secs=60)
    assert not report.ok and report.stage == "import"
    assert "import failed: MemoryError" in report.errors[0]


def test_open_files_are_limited(tmp_path):
    report = validate_file(_probe(tmp_path, f"import os\n_fds = [open(os.devnull) for _ in range({OPEN_FILES + 10})]\n"), timeout_secs=60)
    assert not report.ok and "Too many open files" in report.errors[0]


@pytest.mark.skipif(landlock_abi() < 1, reason="the kernel has no Landlock: writes cannot be confined")
def test_writes_land_only_in_the_temporary_copy(tmp_path, monkeypatch):
    """The file validated is a copy; the original, the store and the network stay out of reach."""
    store = tmp_path / "var" / "algorithm_store"
    store.mkdir(parents=True)
    (store / "kept.py").write_text("kept\n")
    prelude = (
        "import os, socket\n"
        "_attempts = {}\n"
        f"for _target in ({str(tmp_path / 'algos' / 'probe.py')!r}, __file__, {str(store / 'kept.py')!r}, {str(store / 'new.py')!r}):\n"
        "    try:\n"
        "        with open(_target, 'a') as _handle:\n"
        "            _handle.write('# tampered')\n"
        "        _attempts[_target] = 'written'\n"
        "    except OSError as _exc:\n"
        "        _attempts[_target] = type(_exc).__name__\n"
        "try:\n"
        "    socket.create_connection(('127.0.0.1', 9), timeout=2)\n"
        "except OSError as _exc:\n"
        "    _net = type(_exc).__name__\n"
        "if not __file__.startswith(os.environ['TMPDIR']) or any(v == 'written' for k, v in _attempts.items() if k != __file__):\n"
        "    raise RuntimeError(f'escaped: {__file__} {_attempts}')\n"
        "if _net != 'PermissionError':\n"
        "    raise RuntimeError(f'network reachable: {_net}')\n"
    )
    path = _probe(tmp_path, prelude)
    original = path.read_bytes()
    report = validate_file(path, timeout_secs=60)
    assert report.ok, report.errors
    assert report.confined
    assert path.read_bytes() == original
    assert sorted(p.name for p in store.iterdir()) == ["kept.py"] and (store / "kept.py").read_text() == "kept\n"


def _children(pid: int) -> list[int]:
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line)
        except OSError:
            continue
        if fields.get("PPid", "").strip() == str(pid):
            found.append(int(status.parent.name))
    return found


def _gone(pid: int, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0]
        except (OSError, IndexError):
            return True
        if state == "Z":
            return True
        time.sleep(0.1)
    return False


def _start_validation(tmp_path: Path) -> tuple[subprocess.Popen, int]:
    """A parent process validating an endless import; returns it and its validator child."""
    code = (
        "import sys; from odum_pipeline.algorithms.validation import validate_file; "
        f"validate_file({str(BAD / 'endless_import.py')!r}, timeout_secs=120); sys.exit(3)"
    )
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    parent = subprocess.Popen([sys.executable, "-c", code], env=env, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        children = _children(parent.pid)
        if children and list(tmp_path.glob(f"{WORKDIR_PREFIX}*")):
            time.sleep(1.5)  # the child is importing the endless file by now
            return parent, children[0]
        time.sleep(0.1)
    parent.kill()
    pytest.fail("the validator child never started")


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL], ids=["ctrl-c", "sigterm", "kill-9"])
def test_stopping_the_parent_stops_the_validator(tmp_path, how):
    parent, child = _start_validation(tmp_path)
    try:
        parent.send_signal(how)
        parent.wait(timeout=30)
        assert _gone(child, within=10), f"validator {child} outlived its parent ({how.name})"
        if how == signal.SIGINT:
            assert not list(tmp_path.glob(f"{WORKDIR_PREFIX}*")), "temporary directory left behind"
    finally:
        for pid in (child, parent.pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def test_a_killed_parents_leftover_folder_is_removed_by_the_next_validation(tmp_path, monkeypatch):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    leftover = tmp_path / f"{WORKDIR_PREFIX}{dead.pid}-abc"
    leftover.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    validate_file(BAD / "syntax_error.py")  # parse only: no child
    validate_file(BAD / "no_exec_algorithm.py", timeout_secs=60)
    assert not leftover.exists()


DIES = "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n"


def test_a_validator_that_died_is_no_verdict(tmp_path):
    path = _probe(tmp_path, DIES)
    entry = registry.read_entry(path)
    var = tmp_path / "var"
    report = validation_verdict(entry, var_root=var)
    assert not report.ok and not report.complete and report.attempts == 2
    assert "validator process died during stage 'import'" in report.errors[0]
    assert report.summary().startswith("validation could not complete")
    assert not list((var / "algorithm_store").rglob("*.json")), "a died validator's report was cached"
    with pytest.raises(InvalidAlgorithmError, match="validation could not complete"):
        ensure_runnable(entry, var_root=var)


def test_algorithms_test_refreshes_the_cached_verdict(tmp_path, monkeypatch):
    from odum_pipeline.cli.main import run

    algos = tmp_path / "algos"
    path = _probe(tmp_path, "")
    entry = registry.read_entry(path)
    var = tmp_path / "var"
    monkeypatch.setenv("ODUM_VAR_ROOT", str(var))
    cached = var / "algorithm_store" / "validation" / f"{entry.source_sha256}.json"
    cached.parent.mkdir(parents=True)
    cached.write_text(json.dumps({"ok": False, "errors": ["stale verdict"], "name": "PROBE"}))
    assert validation_verdict(entry, var_root=var).errors == ["stale verdict"]
    assert run(["algorithms", "--root", str(algos), "test", "probe"]) == 0
    refreshed = validation_verdict(entry, var_root=var)
    assert refreshed.ok and refreshed.errors == []
    ensure_runnable(entry, var_root=var)
