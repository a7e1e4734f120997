"""Validate an algorithm file in a contained subprocess with a timeout (its code never runs in the caller).

The checks, in order (the first failure stops, and names what failed):

1. the file reads and parses (syntax);
2. ``PARAMETERS`` is a module-level literal and a valid parameter schema (see ``schema``);
3. it imports (a hang is caught by the timeout, reported with the stage it hung in);
4. it defines exactly one ``ExecAlgorithm`` subclass and exactly one ``ExecAlgorithmConfig``;
5. every parameter is a field of the config class; the algorithm's id is the registry name;
6. smoke run: a small marketable limit BUY parent order on synthetic ticks (``smoke``) is fully
   executed (filled qty == parent qty) and, when the algorithm has ``horizon_secs``, by its horizon.

Steps 1-2 run here (they only parse). Steps 3-6 run in a child process that validates a *copy* of
the file in a fresh temporary directory, the only place it may write (``containment``: Landlock,
``setrlimit``, parent-death signal), and that is killed with its process group on every way out.
The verdict is the parent's own: the child reports over an inherited pipe (no file the algorithm
could write), each message signed with a nonce read from stdin before any algorithm code is
imported, and a pass needs an exit status of 0 *and* smoke facts the synthetic market could have
produced (``smoke.implausible_facts``, re-checked here). A child that died or timed out gives a
report with ``complete=False``: "validation could not complete", not a verdict on the code.

``python -m odum_pipeline.algorithms.validation FILE`` validates from the shell (exit 0 when ok).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import traceback
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

DEFAULT_TIMEOUT_SECS = 120.0
HORIZON_TOLERANCE_NS = 1_000_000_000
WORKDIR_PREFIX = "odum-validate-"
CPU_SECS_MARGIN = 10


@dataclass
class ValidationReport:
    ok: bool
    errors: list[str]
    name: str | None = None
    parameters: list[dict[str, Any]] = field(default_factory=list)
    path: str = ""
    source_sha256: str = ""
    stage: str = ""  # the last stage reached
    smoke: dict[str, Any] | None = None  # the smoke run's result
    complete: bool = True  # False: the validator died or timed out, no verdict on the code
    attempts: int = 1
    confined: bool = False  # writes were confined to the validation's temporary directory

    def summary(self) -> str:
        if self.ok:
            smoke = self.smoke or {}
            return (
                f"OK {self.name} ({self.path}): smoke run filled {smoke.get('filled_qty')} of "
                f"{smoke.get('parent_qty')} with {smoke.get('children')} child orders"
            )
        if not self.complete:
            return f"validation could not complete for {self.path}: " + "; ".join(self.errors)
        return f"INVALID {self.path}: " + "; ".join(self.errors)


def validate_file(
    path: str | Path,
    timeout_secs: float = DEFAULT_TIMEOUT_SECS,
    params: dict[str, Any] | None = None,
    *,
    retries: int = 1,
) -> ValidationReport:
    """Validate ``path`` (see the module docstring); a run that could not complete is retried ``retries`` times."""
    path = Path(path).resolve()
    if not path.is_file():
        return ValidationReport(False, [f"{path}: no such file"], path=str(path))
    report = _static_checks(path)
    if report.errors:
        return report
    for attempt in range(1, retries + 2):
        report = _contained_run(path, timeout_secs, params or {}, report)
        report.attempts = attempt
        if report.complete:
            break
    return report


def _static_checks(path: Path) -> ValidationReport:
    """Parse and schema, here: nothing in the file runs."""
    from odum_pipeline.algorithms import registry
    from odum_pipeline.algorithms.schema import describe

    report = ValidationReport(False, [], path=str(path), stage="parse")
    try:
        compile(path.read_bytes(), str(path), "exec", dont_inherit=True)
    except SyntaxError as exc:
        report.errors.append(f"syntax error at line {exc.lineno}: {exc.msg}")
        return report
    except (OSError, ValueError) as exc:
        report.errors.append(f"cannot read: {exc}")
        return report
    report.stage = "schema"
    try:
        entry = registry.read_entry(path)
    except registry.AlgorithmRegistryError as exc:
        report.errors.append(f"invalid parameter schema: {exc}")
        return report
    report.name, report.source_sha256 = entry.name, entry.source_sha256
    report.parameters = describe(entry.parameters)
    return report


def _contained_run(path: Path, timeout_secs: float, params: dict[str, Any], static: ValidationReport) -> ValidationReport:
    _remove_orphaned_workdirs()
    workdir = Path(tempfile.mkdtemp(prefix=f"{WORKDIR_PREFIX}{os.getpid()}-"))
    process = reader = None
    read_end, write_end = os.pipe()
    try:
        copy = workdir / path.name
        shutil.copyfile(path, copy)
        nonce = secrets.token_hex(32)
        job = {"nonce": nonce, "fd": write_end, "path": str(copy), "original": str(path), "params": params,
               "parent": os.getpid(), "cpu_secs": timeout_secs + CPU_SECS_MARGIN}
        process = subprocess.Popen(
            [sys.executable, "-m", "odum_pipeline.algorithms.validation", "--child"],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, pass_fds=(write_end,),
            start_new_session=True, env=_child_environment(workdir), cwd=workdir,
        )
        os.close(write_end)
        write_end = -1
        messages: list[dict[str, Any]] = []
        reader = threading.Thread(target=_read_messages, args=(read_end, nonce, messages), daemon=True)
        reader.start()
        try:
            _, stderr = process.communicate(json.dumps(job).encode(), timeout=timeout_secs)
        except subprocess.TimeoutExpired:
            _kill_group(process)
            reader.join(timeout=5)
            stage = _last_stage(messages)
            return _incomplete(static, f"timed out after {timeout_secs:g} s during stage '{stage}' (endless loop or hang?)", stage)
        _kill_group(process)  # whatever it started is gone too
        reader.join(timeout=5)
        return _verdict(static, messages, process.returncode, stderr, params)
    finally:
        if process is not None:
            _kill_group(process)
        if write_end >= 0:
            os.close(write_end)
        if reader is None:
            os.close(read_end)
        shutil.rmtree(workdir, ignore_errors=True)


def _child_environment(workdir: Path) -> dict[str, str]:
    from odum_pipeline.settings import PROJECT_ROOT

    python_path = os.pathsep.join(p for p in (str(PROJECT_ROOT), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": python_path,
            "TMPDIR": str(workdir), "HOME": str(workdir)}


def _read_messages(fd: int, nonce: str, messages: list[dict[str, Any]]) -> None:
    """Every line the child signed with the nonce; anything else on the pipe is ignored."""
    with os.fdopen(fd, "rb") as pipe:
        for line in pipe:
            body, _, signature = line.rstrip(b"\n").rpartition(b"\t")
            if hmac.compare_digest(signature, _sign(nonce.encode(), body).encode()):
                try:
                    messages.append(json.loads(body))
                except ValueError:
                    continue


def _sign(key: bytes, body: bytes) -> str:
    return hmac.new(key, body, hashlib.sha256).hexdigest()


def _last_stage(messages: list[dict[str, Any]]) -> str:
    stages = [m["stage"] for m in messages if "stage" in m]
    return stages[-1] if stages else "start"


def _incomplete(static: ValidationReport, message: str, stage: str) -> ValidationReport:
    return ValidationReport(
        False, [message], name=static.name, parameters=static.parameters, path=static.path,
        source_sha256=static.source_sha256, stage=stage, complete=False,
    )


def _verdict(static: ValidationReport, messages: list[dict[str, Any]], returncode: int, stderr: bytes,
             params: dict[str, Any]) -> ValidationReport:
    """The parent's verdict from what it saw: signed messages, the exit status, plausible smoke facts."""
    stage = _last_stage(messages)
    finals = [m["report"] for m in messages if "report" in m]
    if len(finals) != 1 or returncode != 0:
        tail = stderr.decode(errors="replace").strip().splitlines()[-3:]
        why = "more than one report" if len(finals) > 1 else f"exit {returncode}"
        return _incomplete(static, f"validator process died during stage '{stage}' ({why}): {' | '.join(tail)}", stage)
    child = finals[0]
    report = ValidationReport(
        False, [str(e) for e in child.get("errors", [])], name=static.name, parameters=static.parameters,
        path=static.path, source_sha256=static.source_sha256, stage=str(child.get("stage", stage)),
        smoke=child.get("smoke"), confined=any(m.get("confined") for m in messages),
    )
    if report.errors:
        return report
    problems = _smoke_problems(static, report.smoke, params)
    if problems:
        report.stage = "smoke check"
        report.errors.append("smoke run result not credible: " + "; ".join(problems))
        return report
    report.ok = report.stage == "done"
    if not report.ok:
        report.errors.append(f"the validator stopped at stage '{report.stage}' without an error")
    return report


def _smoke_problems(static: ValidationReport, smoke: dict[str, Any] | None, params: dict[str, Any]) -> list[str]:
    from odum_pipeline.algorithms import registry
    from odum_pipeline.algorithms.smoke import PARENT_QTY, implausible_facts

    if not smoke:
        return ["no smoke result"]
    horizon = registry.resolve_params(registry.read_entry(static.path), params).get("horizon_secs")
    problems = implausible_facts(smoke, horizon)
    filled = sum((Decimal(f["qty"]) for f in smoke.get("fills") or []), Decimal(0))
    if filled != PARENT_QTY:
        problems.append(f"fills add up to {filled}, not the parent's {PARENT_QTY}")
    return problems


def _kill_group(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    process.wait()


def _remove_orphaned_workdirs() -> None:
    """Temporary directories of validations whose parent died (``kill -9``) before removing them."""
    for workdir in Path(tempfile.gettempdir()).glob(f"{WORKDIR_PREFIX}*-*"):
        owner = workdir.name[len(WORKDIR_PREFIX):].split("-", 1)[0]
        if owner.isdigit() and not _alive(int(owner)):
            shutil.rmtree(workdir, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# --- the child ----------------------------------------------------------------------------------


class _Failed(Exception):
    pass


def _check(path: Path, params: dict[str, Any], stage) -> dict[str, Any]:
    """Import, classes, instantiate, smoke run (parse and schema were checked by the parent)."""
    report: dict[str, Any] = {"errors": [], "stage": "import", "smoke": None}

    def enter(name: str) -> None:
        report["stage"] = name
        stage(name)

    def fail(message: str):
        report["errors"].append(message)
        raise _Failed

    try:
        from odum_pipeline.algorithms import registry
        from odum_pipeline.algorithms.schema import AlgorithmParameterError

        entry = registry.read_entry(path)
        enter("import")
        try:
            module = registry.load_module(entry)
        except Exception as exc:  # noqa: BLE001 - the algorithm's own failure is the report
            fail(f"import failed: {type(exc).__name__}: {exc}")
        enter("classes")
        algorithms, configs = registry.algorithm_classes(module)
        if len(algorithms) != 1:
            names = ", ".join(c.__name__ for c in algorithms) or "none"
            fail(f"expected exactly one ExecAlgorithm subclass defined in the file, found {len(algorithms)} ({names})")
        if len(configs) != 1:
            names = ", ".join(c.__name__ for c in configs) or "none"
            fail(f"expected exactly one ExecAlgorithmConfig subclass (its config) in the file, found {len(configs)} ({names})")
        fields = registry.config_fields(configs[0])
        missing = [spec.name for spec in entry.parameters if spec.name not in fields]
        if missing:
            fail(f"parameter(s) {', '.join(missing)} have no field in {configs[0].__name__}")
        registry.check_defaults(entry, configs[0], fail)  # PARAMETERS defaults == the config class's
        try:
            resolved = registry.resolve_params(entry, params)
        except AlgorithmParameterError as exc:
            fail(str(exc))

        enter("instantiate")
        try:
            instance = registry.load_exec_algorithms(entry, params, catalog_root=tempfile.gettempdir())[0]
        except Exception as exc:  # noqa: BLE001
            fail(f"cannot instantiate: {type(exc).__name__}: {exc}")

        enter("smoke run")
        from odum_pipeline.algorithms.smoke import smoke_run

        def make(catalog_path: str):
            return registry.load_exec_algorithms(entry, params, catalog_root=catalog_path)[0]

        del instance
        horizon = resolved.get("horizon_secs")
        try:
            result = smoke_run(make, horizon_secs=horizon)
        except Exception as exc:  # noqa: BLE001
            where = _algorithm_frame(exc, path)
            fail(f"smoke run raised {type(exc).__name__}: {exc}{where}")
        report["smoke"] = asdict(result)
        if Decimal(result.filled_qty) != Decimal(result.parent_qty):
            fail(
                f"smoke run: filled {result.filled_qty} of the parent's {result.parent_qty} "
                f"({result.children} child orders): the algorithm must execute the whole order"
            )
        if horizon is not None and result.last_fill_ns is not None:
            deadline = result.arrival_ns + int(horizon * 1e9) + HORIZON_TOLERANCE_NS
            if result.last_fill_ns > deadline:
                late = (result.last_fill_ns - result.arrival_ns) / 1e9
                fail(f"smoke run: last fill {late:g} s after arrival, beyond horizon_secs={horizon}")
        enter("done")
    except _Failed:
        pass
    return report


def _algorithm_frame(exc: BaseException, path: Path) -> str:
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if Path(f.filename).resolve() == path]
    if not frames:
        return ""
    frame = frames[-1]
    return f" (in {frame.name}, {path.name} line {frame.lineno})"


def _child() -> int:
    """Read the job from stdin, contain this process, then run the checks; report over the pipe."""
    from odum_pipeline.algorithms.containment import contain

    job = json.loads(sys.stdin.buffer.read())
    sys.stdin.close()
    key = job.pop("nonce").encode()
    pipe = os.fdopen(job["fd"], "wb", buffering=0)

    def send(message: dict[str, Any]) -> None:
        body = json.dumps(message, default=str).encode()
        pipe.write(body + b"\t" + _sign(key, body).encode() + b"\n")

    confined = contain(Path(job["path"]).parent, job["cpu_secs"], job["parent"])
    send({"stage": "contained", "confined": confined})
    report = _check(Path(job["path"]), job["params"], lambda name: send({"stage": name}))
    send({"report": report})
    pipe.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv == ["--child"]:
        return _child()
    if len(argv) != 1:
        print("usage: python -m odum_pipeline.algorithms.validation FILE", file=sys.stderr)
        return 2
    report = validate_file(argv[0])
    print(report.summary())
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
