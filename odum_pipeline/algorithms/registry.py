"""The algorithm registry: the files in ``algorithms/``, versioned by the sha256 of their source.

Plain Python (no Dagster). Discovery reads each file *without importing it* (``ast``): the name is
the default ``exec_algorithm_id`` of its ``ExecAlgorithmConfig`` class (``ExecAlgorithmId("TWAP")``),
else a module-level ``NAME``, else the file stem upper-cased; the parameter schema is its
``PARAMETERS`` literal. ``NORMAL`` (the whole order at once, ``algorithms.normal``) is built in.

Every version that ran can be archived write-once in a content-addressed store
(``<var>/algorithm_store/<sha256>.py``) and loaded back by ``load_version(name, version)``.
Algorithm code only runs when :func:`load_exec_algorithms` imports a file to build the instances
for one backtest.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import inspect
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from odum_pipeline.algorithms.schema import (
    ParameterSchemaError,
    ParameterSpec,
    default_drift,
    describe,
    resolve,
    validate_schema,
)
from odum_pipeline.errors import OdumError
from odum_pipeline.files import atomic_write

NORMAL = "NORMAL"
BUILTIN_VERSION = "builtin"


class AlgorithmRegistryError(OdumError, ValueError):
    """An algorithm file that cannot be registered, or an unknown algorithm/version."""


@dataclass(frozen=True)
class AlgorithmEntry:
    name: str
    path: Path | None  # None for NORMAL
    source_sha256: str
    version: str  # sha256[:12], or "builtin"
    parameters: tuple[ParameterSpec, ...] = field(default_factory=tuple)

    @property
    def is_builtin(self) -> bool:
        return self.path is None

    def schema(self) -> list[dict[str, Any]]:
        return describe(self.parameters)


NORMAL_ENTRY = AlgorithmEntry(name=NORMAL, path=None, source_sha256="", version=BUILTIN_VERSION, parameters=())


# --- reading a file without running it -----------------------------------------------------------


def _literal_assignment(tree: ast.Module, name: str) -> ast.expr | None:
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            return node.value
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.target.id == name:
            return node.value
    return None


def _id_literal(value: ast.expr | None) -> str | None:
    if isinstance(value, ast.Constant) and isinstance(value.value, str):
        return value.value
    if isinstance(value, ast.Call) and value.args and isinstance(value.args[0], ast.Constant):
        if isinstance(value.args[0].value, str):
            return value.args[0].value
    return None


def declared_name(tree: ast.Module, path: Path) -> str:
    """The algorithm's name as the file declares it (see the module docstring)."""
    for node in tree.body:
        if not isinstance(node, ast.ClassDef):
            continue
        for item in node.body:
            target = item.target if isinstance(item, ast.AnnAssign) else None
            if isinstance(target, ast.Name) and target.id == "exec_algorithm_id":
                name = _id_literal(item.value)
                if name:
                    return name.upper()
    name = _id_literal(_literal_assignment(tree, "NAME"))
    return (name or path.stem).upper()


def read_entry(path: str | Path) -> AlgorithmEntry:
    """The registry entry of one file (parsed, not imported)."""
    path = Path(path).resolve()
    source = path.read_bytes()
    try:
        tree = ast.parse(source, filename=str(path))
    except SyntaxError as exc:
        raise AlgorithmRegistryError(f"{path}: syntax error at line {exc.lineno}: {exc.msg}") from None
    value = _literal_assignment(tree, "PARAMETERS")
    if value is None:
        raise AlgorithmRegistryError(f"{path}: no module-level PARAMETERS (the parameter schema)")
    try:
        parameters = ast.literal_eval(value)
    except ValueError:
        raise AlgorithmRegistryError(f"{path}: PARAMETERS must be a plain literal (list of dicts)") from None
    try:
        specs = validate_schema(parameters, source=f"{path.name}: PARAMETERS")
    except ParameterSchemaError as exc:
        raise AlgorithmRegistryError(str(exc)) from None
    sha = hashlib.sha256(source).hexdigest()
    return AlgorithmEntry(
        name=declared_name(tree, path), path=path, source_sha256=sha, version=sha[:12], parameters=tuple(specs)
    )


def discover(algorithms_root: str | Path, *, strict: bool = False) -> dict[str, AlgorithmEntry]:
    """``{name: entry}`` for NORMAL and every ``*.py`` in ``algorithms_root``.

    Files that cannot be read are skipped (``strict=True``: raise); two files with one name raise.
    """
    root = Path(algorithms_root)
    entries: dict[str, AlgorithmEntry] = {NORMAL: NORMAL_ENTRY}
    if not root.is_dir():
        return entries
    for path in sorted(root.glob("*.py")):
        if path.name.startswith(("_", ".")):
            continue
        try:
            entry = read_entry(path)
        except AlgorithmRegistryError:
            if strict:
                raise
            continue
        if entry.name in entries:
            other = entries[entry.name].path or "built in"
            raise AlgorithmRegistryError(f"algorithm {entry.name} is defined twice: {other} and {path}")
        entries[entry.name] = entry
    return entries


def get(name: str, algorithms_root: str | Path) -> AlgorithmEntry:
    entries = discover(algorithms_root)
    try:
        return entries[name.upper()]
    except KeyError:
        raise AlgorithmRegistryError(f"unknown algorithm {name!r}; known: {', '.join(sorted(entries))}") from None


def resolve_params(entry: AlgorithmEntry, params: dict[str, Any] | None) -> dict[str, Any]:
    """Defaults filled in, types and bounds checked (``AlgorithmParameterError`` names both)."""
    return resolve(entry.name, entry.parameters, params)


# --- loading (this runs the algorithm's code) ----------------------------------------------------


def load_module(entry: AlgorithmEntry):
    """Import ``entry.path`` as a module of its own (one per content version)."""
    if entry.path is None:
        raise AlgorithmRegistryError(f"{entry.name} is built in: there is no file to load")
    module_name = f"odum_algorithms.{entry.name.lower()}_{entry.version}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, entry.path)
    if spec is None or spec.loader is None:
        raise AlgorithmRegistryError(f"{entry.path}: cannot be imported")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(module_name, None)
        raise
    return module


def algorithm_classes(module) -> tuple[list[type], list[type]]:
    """The ``ExecAlgorithm`` and ``ExecAlgorithmConfig`` subclasses *defined* in ``module``."""
    from nautilus_trader.config import ExecAlgorithmConfig
    from nautilus_trader.execution.algorithm import ExecAlgorithm

    defined = [obj for obj in vars(module).values() if inspect.isclass(obj) and obj.__module__ == module.__name__]
    algorithms = [c for c in defined if issubclass(c, ExecAlgorithm)]
    configs = [c for c in defined if issubclass(c, ExecAlgorithmConfig)]
    return algorithms, configs


def config_fields(config_cls: type) -> tuple[str, ...]:
    return tuple(getattr(config_cls, "__struct_fields__", ()))


def defaults_drift(entry: AlgorithmEntry, config_cls: type) -> str | None:
    """One line naming every parameter whose ``PARAMETERS`` default differs from the config class's
    (the two must be one and the same: a run without parameters uses the config's); ``None`` when equal."""
    try:
        defaults = config_cls()
    except Exception as exc:  # noqa: BLE001 - a config that cannot be built with its defaults is the finding
        return f"{config_cls.__name__}() cannot be built with its defaults: {type(exc).__name__}: {exc}"
    fields = config_fields(config_cls)
    drift = [
        problem
        for spec in entry.parameters
        if spec.name in fields and (problem := default_drift(spec, getattr(defaults, spec.name))) is not None
    ]
    return f"PARAMETERS defaults differ from {config_cls.__name__}'s: " + "; ".join(drift) if drift else None


def check_defaults(entry: AlgorithmEntry, config_cls: type, fail) -> None:
    """Call ``fail(message)`` when the defaults drifted (the validation's hook)."""
    drift = defaults_drift(entry, config_cls)
    if drift:
        fail(drift)


def load_exec_algorithms(
    entry: AlgorithmEntry, params: dict[str, Any] | None = None, *, catalog_root: str | Path | None = None
) -> list:
    """Fresh ``ExecAlgorithm`` instances for one run (the built-in ``Normal`` for NORMAL).

    The config gets the resolved parameters (those it has fields for) and, when it has a
    ``catalog_path`` field, the catalog (``catalog_root``; none given: the field keeps its default) to read profiles from.
    """
    if entry.is_builtin:
        from odum_pipeline.algorithms.normal import Normal

        return [Normal()]
    resolved = resolve_params(entry, params)
    module = load_module(entry)
    algorithms, configs = algorithm_classes(module)
    if len(algorithms) != 1 or len(configs) != 1:
        raise AlgorithmRegistryError(
            f"{entry.path}: expected exactly one ExecAlgorithm subclass and one ExecAlgorithmConfig, "
            f"found {len(algorithms)} and {len(configs)}"
        )
    config_cls = configs[0]
    fields = config_fields(config_cls)
    kwargs = {name: value for name, value in resolved.items() if name in fields and value is not None}
    if "catalog_path" in fields and catalog_root is not None:
        kwargs["catalog_path"] = str(catalog_root)
    instance = algorithms[0](config_cls(**kwargs))
    if instance.id.value != entry.name:
        raise AlgorithmRegistryError(
            f"{entry.path}: the ExecAlgorithm id is {instance.id.value!r}, the registry name {entry.name!r}"
        )
    return [instance]


# --- the content-addressed store -----------------------------------------------------------------


def store_root(var_root: str | Path) -> Path:
    return Path(var_root) / "algorithm_store"


def archive(entry: AlgorithmEntry, *, var_root: str | Path) -> Path:
    """Copy the entry's source to ``algorithm_store/<sha256>.py`` (write-once; returns the path)."""
    if entry.path is None:
        raise AlgorithmRegistryError(f"{entry.name} is built in: nothing to archive")
    source = entry.path.read_bytes()
    if hashlib.sha256(source).hexdigest() != entry.source_sha256:
        raise AlgorithmRegistryError(f"{entry.path} changed since it was read (sha256 differs): discover it again")
    target = store_root(var_root) / f"{entry.source_sha256}.py"
    if target.exists():
        return target
    return atomic_write(target, source, read_only=True)


def stored_versions(name: str | None = None, *, var_root: str | Path) -> list[AlgorithmEntry]:
    """Every archived version (of ``name``), as entries pointing into the store."""
    root = store_root(var_root)
    out = []
    for path in sorted(root.glob("*.py")) if root.is_dir() else []:
        try:
            entry = read_entry(path)
        except AlgorithmRegistryError:
            continue
        if name is None or entry.name == name.upper():
            out.append(entry)
    return out


def load_version(name: str, version: str, *, var_root: str | Path) -> AlgorithmEntry:
    """The archived entry of ``name`` at ``version`` (sha256 prefix, at least 12 characters)."""
    if name.upper() == NORMAL:
        return NORMAL_ENTRY
    root = store_root(var_root)
    matches = sorted(root.glob(f"{version}*.py")) if len(version) >= 12 and root.is_dir() else []
    for path in matches:
        entry = read_entry(path)
        if entry.name == name.upper():
            if entry.source_sha256 != path.stem:
                raise AlgorithmRegistryError(f"{path}: content does not match its sha256 name (store corrupted)")
            return entry
    raise AlgorithmRegistryError(f"algorithm {name} version {version} is not in the store {root}")
