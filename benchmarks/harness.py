"""What the benchmark scripts share.

Every measurement runs in a fresh interpreter: the script re-runs itself with ``--worker KIND``,
the worker prints its result as one JSON line after :data:`RESULT_MARK`, and the driver
(:func:`spawn`) reads it back. So each worker's peak RSS (``ru_maxrss``) is its own: on Linux a
child's ``ru_maxrss`` starts from its parent's (fork copies the counter; vfork + exec carries the
parent's high-water mark), which is why the drivers import only the standard library and keep
no data. Standard library only; imported by the scripts as a sibling module.
"""

from __future__ import annotations

import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

RESULT_MARK = "@@RESULT@@"


# --- worker side ---------------------------------------------------------------------------------


def peak_rss_bytes() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # Linux reports KiB


def vm_hwm_bytes() -> int | None:
    """The peak RSS of this process image (Linux ``VmHWM``); a cross-check of ``ru_maxrss``."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def emit(report: dict) -> None:
    """The worker's result, for :func:`spawn`."""
    print(RESULT_MARK + json.dumps(report))


def profiled(call: Callable[[], object], stages: Sequence[tuple], top: int) -> dict:
    """Run ``call`` under cProfile: wall seconds, the ``top`` functions by cumulative time, and
    per stage ``(label, calls, seconds)``.

    A stage is ``(label, file suffix, function name[, "tottime"])``: the function's cumulative
    time (its self time with ``"tottime"``), the max over same-named matches, because same-named
    functions of one file nest (``pq.write_table`` -> ``ParquetWriter.write_table``).
    """
    import cProfile
    import io
    import pstats

    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    call()
    profiler.disable()
    seconds = time.perf_counter() - started
    stream = io.StringIO()
    stats = pstats.Stats(profiler, stream=stream)
    stats.sort_stats("cumulative").print_stats(top)
    table = []
    for label, file_suffix, name, *which in stages:
        column = 2 if which == ["tottime"] else 3
        matches = [
            (entry[1], entry[column])
            for (file, _line, func), entry in stats.stats.items()
            if func == name and file.endswith(file_suffix)
        ]
        table.append((label, max((m[0] for m in matches), default=0), max((m[1] for m in matches), default=0.0)))
    return {"seconds": seconds, "top": stream.getvalue(), "stages": table}


# --- driver side ---------------------------------------------------------------------------------


def spawn(script: str | Path, kind: str, args: Sequence[str], *, out: Path | None = None, cwd: Path | None = None) -> dict:
    """Run ``script --worker KIND ARGS... [--out OUT]`` in a fresh interpreter and return its result.

    ``out`` is emptied first. A failing worker's output tail is shown and the benchmark stops.
    """
    command = [sys.executable, str(Path(script).resolve()), "--worker", kind, *args]
    if out is not None:
        if out.exists():
            shutil.rmtree(out)
        out.mkdir(parents=True)
        command += ["--out", str(out)]
    completed = subprocess.run(command, capture_output=True, text=True, cwd=cwd)
    if completed.returncode != 0:
        sys.stderr.write(completed.stdout[-5000:] + completed.stderr[-5000:])
        raise SystemExit(f"{kind} worker failed with exit code {completed.returncode}")
    for line in completed.stdout.splitlines():
        if line.startswith(RESULT_MARK):
            return json.loads(line[len(RESULT_MARK) :])
    raise SystemExit(f"{kind} worker printed no result:\n{completed.stdout[-5000:]}{completed.stderr[-5000:]}")


@contextmanager
def workdir(path: Path | None, *, prefix: str, keep: bool) -> Iterator[Path]:
    """``path`` (created) or a new temporary folder; removed afterwards unless ``keep``."""
    if path:
        folder = path.resolve()
        folder.mkdir(parents=True, exist_ok=True)
    else:
        folder = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield folder
    finally:
        if keep:
            print(f"\nworkdir kept: {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
            print(f"\nworkdir removed: {folder}")


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"
