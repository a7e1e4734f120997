"""Validate an algorithm file in a subprocess with a timeout (its code never runs in the caller).

The checks, in order (the first failure stops, and names what failed):

1. the file reads and parses (syntax);
2. ``PARAMETERS`` is a module-level literal and a valid parameter schema (see ``schema``);
3. it imports (a hang is caught by the timeout, reported with the stage it hung in);
4. it defines exactly one ``ExecAlgorithm`` subclass and exactly one ``ExecAlgorithmConfig``;
5. every parameter is a field of the config class; the algorithm's id is the registry name;
6. smoke run: a small marketable limit BUY parent order on synthetic ticks (``smoke``) is fully
   executed (filled qty == parent qty) and, when the algorithm has ``horizon_secs``, by its horizon.

``python -m odum_pipeline.algorithms.validation FILE`` validates from the shell (exit 0 when ok).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import traceback
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

DEFAULT_TIMEOUT_SECS = 120.0
HORIZON_TOLERANCE_NS = 1_000_000_000


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

    def summary(self) -> str:
        if self.ok:
            smoke = self.smoke or {}
            return (
                f"OK {self.name} ({self.path}): smoke run filled {smoke.get('filled_qty')} of "
                f"{smoke.get('parent_qty')} with {smoke.get('children')} child orders"
            )
        return f"INVALID {self.path}: " + "; ".join(self.errors)


def validate_file(
    path: str | Path, timeout_secs: float = DEFAULT_TIMEOUT_SECS, params: dict[str, Any] | None = None
) -> ValidationReport:
    """Validate ``path`` in a fresh Python subprocess, killed after ``timeout_secs``."""
    path = Path(path).resolve()
    if not path.is_file():
        return ValidationReport(False, [f"{path}: no such file"], path=str(path))
    with tempfile.TemporaryDirectory(prefix="odum-validate-") as tmp:
        result_file, stage_file = Path(tmp) / "result.json", Path(tmp) / "stage"
        command = [
            sys.executable, "-m", "odum_pipeline.algorithms.validation", "--child", str(path),
            "--result", str(result_file), "--stage", str(stage_file), "--params", json.dumps(params or {}),
        ]
        from odum_pipeline.settings import PROJECT_ROOT

        python_path = os.pathsep.join(p for p in (str(PROJECT_ROOT), os.environ.get("PYTHONPATH", "")) if p)
        env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": python_path}
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True, env=env, cwd=tmp
        )
        try:
            _, stderr = process.communicate(timeout=timeout_secs)
        except subprocess.TimeoutExpired:
            _kill_group(process)
            stage = stage_file.read_text().strip() if stage_file.exists() else "start"
            return ValidationReport(
                False, [f"timed out after {timeout_secs:g} s during stage '{stage}' (endless loop or hang?)"],
                path=str(path), stage=stage,
            )
        if result_file.exists():
            return ValidationReport(**json.loads(result_file.read_text()))
        stage = stage_file.read_text().strip() if stage_file.exists() else "start"
        tail = stderr.decode(errors="replace").strip().splitlines()[-3:]
        return ValidationReport(
            False,
            [f"validator process died during stage '{stage}' (exit {process.returncode}): {' | '.join(tail)}"],
            path=str(path), stage=stage,
        )


def _kill_group(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()


# --- the child ----------------------------------------------------------------------------------


class _Failed(Exception):
    pass


def _check(path: Path, params: dict[str, Any], stage_file: Path) -> ValidationReport:
    report = ValidationReport(False, [], path=str(path))

    def stage(name: str) -> None:
        report.stage = name
        stage_file.write_text(name)

    def fail(message: str):
        report.errors.append(message)
        raise _Failed

    try:
        stage("parse")
        source = path.read_bytes()
        try:
            compile(source, str(path), "exec")
        except SyntaxError as exc:
            fail(f"syntax error at line {exc.lineno}: {exc.msg}")
        stage("schema")
        from odum_pipeline.algorithms import registry
        from odum_pipeline.algorithms.schema import AlgorithmParameterError, describe

        try:
            entry = registry.read_entry(path)
        except registry.AlgorithmRegistryError as exc:
            fail(f"invalid parameter schema: {exc}")
        report.name, report.source_sha256 = entry.name, entry.source_sha256
        report.parameters = describe(entry.parameters)

        stage("import")
        try:
            module = registry.load_module(entry)
        except Exception as exc:  # noqa: BLE001 - the algorithm's own failure is the report
            fail(f"import failed: {type(exc).__name__}: {exc}")
        stage("classes")
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

        stage("instantiate")
        try:
            instance = registry.load_exec_algorithms(entry, params, catalog_root=tempfile.gettempdir())[0]
        except Exception as exc:  # noqa: BLE001
            fail(f"cannot instantiate: {type(exc).__name__}: {exc}")

        stage("smoke run")
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
        report.smoke = asdict(result)
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
        stage("done")
        report.ok = True
    except _Failed:
        pass
    return report


def _algorithm_frame(exc: BaseException, path: Path) -> str:
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if Path(f.filename).resolve() == path]
    if not frames:
        return ""
    frame = frames[-1]
    return f" (in {frame.name}, {path.name} line {frame.lineno})"


def _child(argv: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--child", required=True)
    parser.add_argument("--result", required=True)
    parser.add_argument("--stage", required=True)
    parser.add_argument("--params", default="{}")
    args = parser.parse_args(argv)
    report = _check(Path(args.child), json.loads(args.params), Path(args.stage))
    Path(args.result).write_text(json.dumps(asdict(report), default=str))
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if "--child" in argv:
        return _child(argv)
    if len(argv) != 1:
        print("usage: python -m odum_pipeline.algorithms.validation FILE", file=sys.stderr)
        return 2
    report = validate_file(argv[0])
    print(report.summary())
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
