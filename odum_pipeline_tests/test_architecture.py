"""Imports follow the data flow: the import graph of ``odum_pipeline/`` has no cycles and no upward edge.

Read with :mod:`ast` only (nothing is imported, so the check takes milliseconds). Every import
counts, including the deferred ones inside functions: a deferred import hides a dependency from the
reader, not from the design.

Layers, bottom to top (a package may import its own layer and the layers below it):

ground helpers (errors, files, gcs, settings, timestamps, instruments, charts, the Dagster instance
and materialization helpers) -> catalog -> algorithms -> backtests -> reports -> the edge
(definitions, pipeline, cli, api).

Configuration enters at the edge: only the resources, the CLI and the instance set-up read
environment variables; the engine, the registry and the config loader are handed their roots.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = "odum_pipeline"
SOURCE_ROOT = Path(__file__).resolve().parent.parent / PACKAGE

LAYERS: list[set[str]] = [
    {"errors", "files", "gcs", "settings", "timestamps", "instruments", "charts", "instance", "materialized"},
    {"catalog"},
    {"algorithms"},
    {"backtests"},
    {"reports"},
    {"definitions", "pipeline", "cli", "api"},
]

#: Nothing is exempt: kept as the one place an exception would be named (and argued for).
KNOWN_UPWARD_EDGES: set[tuple[str, str]] = set()
KNOWN_MODULE_CYCLES: list[set[str]] = []


def _module_name(path: Path) -> str:
    parts = path.relative_to(SOURCE_ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    """Every module but the empty top-level ``odum_pipeline/__init__.py``."""
    modules = {_module_name(path): path for path in SOURCE_ROOT.rglob("*.py")}
    modules.pop(PACKAGE, None)
    return modules


def _imported_names(module: str, path: Path) -> set[str]:
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return {name for name in names if name == PACKAGE or name.startswith(PACKAGE + ".")}


def module_graph() -> dict[str, set[str]]:
    """{module: the project modules it imports}; ``from pkg import name`` resolves to the submodule when one exists."""
    modules = _modules()

    def resolve(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name if name and name != PACKAGE else None

    graph = {}
    for module, path in modules.items():
        targets = {resolve(name) for name in _imported_names(module, path)}
        graph[module] = {target for target in targets if target and target != module}
    return graph


def package_of(module: str) -> str:
    """The first name below ``odum_pipeline``: ``catalog`` for ``odum_pipeline.catalog.store``, ``gcs`` for ``odum_pipeline.gcs``."""
    return module.split(".")[1]


def package_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    packages: dict[str, set[str]] = {package_of(module): set() for module in graph}
    for module, targets in graph.items():
        packages[package_of(module)].update(package_of(t) for t in targets if package_of(t) != package_of(module))
    return packages


def cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """Strongly connected components with more than one node (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, successors = work[-1]
            for successor in successors:
                if successor not in index:
                    index[successor] = low[successor] = len(index)
                    stack.append(successor)
                    on_stack.add(successor)
                    work.append((successor, iter(sorted(graph.get(successor, ())))))
                    break
                if successor in on_stack:
                    low[node] = min(low[node], index[successor])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.add(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(component)
    return found


def layer_of(package: str) -> int:
    for level, members in enumerate(LAYERS):
        if package in members:
            return level
    raise AssertionError(f"odum_pipeline/{package} has no layer: add it to LAYERS in {Path(__file__).name}")


def upward_edges(graph: dict[str, set[str]]) -> list[tuple[str, str]]:
    return sorted(
        (module, target)
        for module, targets in graph.items()
        for target in targets
        if layer_of(package_of(target)) > layer_of(package_of(module))
    )


def _without_known_edges(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    return {module: {t for t in targets if (module, t) not in KNOWN_UPWARD_EDGES} for module, targets in graph.items()}


def test_the_graph_is_read_from_the_source():
    graph = module_graph()
    assert "odum_pipeline.backtests.engine" in graph
    # a deferred import inside a function counts
    assert "odum_pipeline.pipeline" in graph["odum_pipeline.cli.pipeline_commands"]


def test_every_package_has_a_layer():
    for package in package_graph(module_graph()):
        layer_of(package)


def test_no_package_imports_a_package_above_it():
    offending = [edge for edge in upward_edges(module_graph()) if edge not in KNOWN_UPWARD_EDGES]
    assert not offending, "imports against the data flow:\n" + "\n".join(f"  {a} -> {b}" for a, b in offending)


def test_no_package_cycles():
    found = cycles(package_graph(_without_known_edges(module_graph())))
    assert not found, f"package cycles: {[sorted(c) for c in found]}"


def test_no_module_cycles():
    found = [c for c in cycles(_without_known_edges(module_graph())) if c not in KNOWN_MODULE_CYCLES]
    assert not found, f"module cycles: {[sorted(c) for c in found]}"


# Configuration enters at the edge: only these read environment variables (``os.environ`` or the
# functions of ``settings``); everything else takes its roots as arguments.
READS_ENVIRONMENT = {
    "odum_pipeline.settings",
    "odum_pipeline.instance",  # DAGSTER_HOME
    "odum_pipeline.gcs",  # the client's own STORAGE_EMULATOR_HOST and GOOGLE_CLOUD_PROJECT
    "odum_pipeline.algorithms.validation",  # hands the environment to the validation subprocess
}
SETTINGS_CONSTANTS = {"PROJECT_ROOT"}


def _at_the_edge(module: str) -> bool:
    return module in READS_ENVIRONMENT or module.endswith(".resources") or package_of(module) == "cli"


def reads_environment(path: Path) -> list[str]:
    """What a module reads from the environment: ``os.environ``/``os.getenv`` and ``settings`` functions."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if node.value.id == "os" and node.attr in ("environ", "getenv"):
                found.append(f"os.{node.attr}")
            elif node.value.id == "settings" and node.attr not in SETTINGS_CONSTANTS:
                found.append(f"settings.{node.attr}")
        elif isinstance(node, ast.ImportFrom) and node.module == f"{PACKAGE}.settings":
            found += [f"settings.{a.name}" for a in node.names if a.name not in SETTINGS_CONSTANTS]
    return found


def test_only_the_edge_reads_the_environment():
    offending = {
        module: reads
        for module, path in _modules().items()
        if not _at_the_edge(module) and (reads := reads_environment(path))
    }
    assert not offending, f"environment read below the edge (pass the value in instead): {offending}"


def test_the_environment_check_sees_reads():
    engine = SOURCE_ROOT / "backtests" / "engine.py"
    assert reads_environment(engine) == []
    assert "os.environ" in reads_environment(SOURCE_ROOT / "instance.py")
    assert "settings.raw_root" in reads_environment(SOURCE_ROOT / "catalog" / "resources.py")


def error_classes() -> dict[str, list[str]]:
    """{class name: its base names} of every ``...Error`` class defined in ``odum_pipeline/``."""
    classes = {}
    for path in _modules().values():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ClassDef) and node.name.endswith("Error"):
                classes[node.name] = [ast.unparse(base).rpartition(".")[2] for base in node.bases]
    return classes


def test_every_domain_error_is_an_odum_error():
    """The CLI and the Dagster boundary catch OdumError: a domain error outside it would surface as a bug."""
    classes = error_classes()

    def is_odum(name: str, seen: frozenset = frozenset()) -> bool:
        bases = classes.get(name, [])
        return "OdumError" in bases or any(is_odum(b, seen | {name}) for b in bases if b in classes and b not in seen)

    outside = sorted(name for name in classes if name != "OdumError" and not is_odum(name))
    assert outside == [], f"domain errors not deriving from OdumError: {outside}"
    assert "BacktestSetupError" in classes and is_odum("WindowNotCoveredError")


def test_the_cycle_finder_finds_cycles():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [{"a", "b", "c"}]
    assert cycles({"a": {"b"}, "b": set()}) == []


if __name__ == "__main__":  # print the graph: python odum_pipeline_tests/test_architecture.py
    modules = module_graph()
    packages = package_graph(modules)
    print("package cycles:", [sorted(c) for c in cycles(packages)])
    print("module cycles:", [sorted(c) for c in cycles(modules)])
    for package in sorted(packages):
        print(f"{package} -> {sorted(packages[package])}")
    print("upward edges:", *(f"\n  {a} -> {b}" for a, b in upward_edges(modules)))
