"""``odum algorithms``: list, show, validate, test and save execution algorithms.

- ``list``: every registered algorithm (NORMAL built in), its version and parameters;
- ``show NAME``: the parameter schema, the file, its sha256 and the archived versions;
- ``validate FILE``: the full validation (subprocess, timeout, smoke run) of any file;
- ``test NAME``: the same for a registered algorithm, with optional ``--params``; without them its
  report becomes the cached verdict backtests consult (a validation that could not complete is not kept);
- ``save NAME FILE``: validate FILE, then install it as ``algorithms/<name>.py``; the version it
  replaces is kept in the content-addressed store and in
  ``algorithms/.history/<name>/<UTC timestamp>_<sha12>.py``; the new one is archived too.
"""

from __future__ import annotations

import json
from pathlib import Path

from odum_pipeline import settings
from odum_pipeline.algorithms import registry
from odum_pipeline.algorithms.validation import DEFAULT_TIMEOUT_SECS, ValidationReport, validate_file
from odum_pipeline.cli.arguments import UsageError


def register(commands) -> None:
    algorithms = commands.add_parser("algorithms", help="list, show, validate, test and save execution algorithms")
    algorithms.add_argument("--root", type=Path, help="algorithms folder (default: ODUM_ALGORITHMS_PATH or ./algorithms)")
    sub = algorithms.add_subparsers(dest="algorithms_command", required=True, metavar="ACTION")

    listing = sub.add_parser("list", help="registered algorithms and their versions")
    listing.set_defaults(handler=_list)

    show = sub.add_parser("show", help="one algorithm's parameters, file and archived versions")
    show.add_argument("name")
    show.set_defaults(handler=_show)

    for action, help_text, target in (
        ("validate", "validate an algorithm file (subprocess, smoke run on synthetic ticks)", "file"),
        ("test", "validate a registered algorithm with optional parameters", "name"),
    ):
        command = sub.add_parser(action, help=help_text)
        command.add_argument(target)
        command.add_argument("--params", default="{}", help="JSON object of parameters for the smoke run")
        command.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_SECS, help="seconds before giving up")
        command.add_argument("--json", action="store_true", help="print the full report as JSON")
        command.set_defaults(handler=_validate if action == "validate" else _test)

    save = sub.add_parser("save", help="validate FILE and install it as algorithm NAME (history kept)")
    save.add_argument("name")
    save.add_argument("file", type=Path)
    save.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_SECS)
    save.set_defaults(handler=_save)


def _root(args) -> Path:
    return Path(args.root) if args.root else settings.algorithms_root()


def _params(text: str) -> dict:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"--params: invalid JSON ({exc.msg})") from None
    if not isinstance(value, dict):
        raise UsageError("--params: expected a JSON object")
    return value


def _format_spec(spec) -> str:
    bounds = []
    if spec.min is not None:
        bounds.append(f"{'>' if spec.exclusive_min else '>='} {spec.min:g}")
    if spec.max is not None:
        bounds.append(f"<= {spec.max:g}")
    if spec.choices:
        bounds.append("one of " + "|".join(spec.choices))
    default = "required" if spec.required else f"default {json.dumps(spec.default)}"
    extra = f", {', '.join(bounds)}" if bounds else ""
    return f"{spec.name:<20} {spec.type:<12} {default}{extra}\n{'':<24}{spec.doc}"


def _list(args) -> int:
    for name, entry in sorted(registry.discover(_root(args)).items()):
        params = ", ".join(spec.name for spec in entry.parameters) or "-"
        where = entry.path.name if entry.path else "built in (the whole order at once)"
        print(f"{name:<10} {entry.version:<13} {where:<32} {params}")
    return 0


def _show(args) -> int:
    entry = registry.get(args.name, _root(args))
    print(f"{entry.name}  version {entry.version}")
    if entry.is_builtin:
        print("built in: the parent order goes straight to the market, no parameters")
        return 0
    print(f"file     {entry.path}")
    print(f"sha256   {entry.source_sha256}")
    print("parameters:")
    for spec in entry.parameters:
        print("  " + _format_spec(spec).replace("\n", "\n  "))
    versions = registry.stored_versions(entry.name, var_root=settings.var_root())
    print(f"archived versions ({len(versions)}): {', '.join(v.version for v in versions) or 'none'}")
    return 0


def _print_report(report: ValidationReport, as_json: bool) -> int:
    if as_json:
        from dataclasses import asdict

        print(json.dumps(asdict(report), indent=2, default=str))
        return 0 if report.ok else 1
    print(report.summary())
    for error in report.errors:
        print(f"  - {error}")
    if report.ok and report.smoke:
        for order in report.smoke.get("orders", []):
            print(f"    {order['id']:<36} {order['type']:<7} qty {order['qty']:<8} filled {order['filled']:<8} {order['status']}")
    return 0 if report.ok else 1


def _validate(args) -> int:
    path = Path(args.file)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    return _print_report(validate_file(path, timeout_secs=args.timeout, params=_params(args.params)), args.json)


def _test(args) -> int:
    entry = registry.get(args.name, _root(args))
    if entry.is_builtin:
        print("NORMAL is built in (the whole order at once): nothing to test")
        return 0
    params = _params(args.params)
    report = validate_file(entry.path, timeout_secs=args.timeout, params=params)
    if not params:
        from odum_pipeline.algorithms.gate import record_verdict

        if record_verdict(entry, report, var_root=settings.var_root()) and not args.json:
            print(f"cached verdict for {entry.name} version {entry.version} updated")
    return _print_report(report, args.json)


def _save(args) -> int:
    from odum_pipeline.algorithms.algorithm_store import save_algorithm_source

    source = Path(args.file)
    if not source.is_file():
        raise FileNotFoundError(f"{source}: no such file")
    saved = save_algorithm_source(
        _root(args), args.name, source.read_bytes(), var_root=settings.var_root(), timeout_secs=args.timeout
    )
    if not saved.changed:
        print(f"{saved.name}: unchanged (version {saved.version})")
        return 0
    if saved.history_path:
        print(f"previous version {saved.previous_version} kept in {saved.history_path} and the store")
    print(f"saved {saved.name} version {saved.version} to {saved.path}")
    return 0
