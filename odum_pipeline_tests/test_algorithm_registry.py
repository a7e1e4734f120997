"""The algorithm registry: discovery without importing, versions by content, parameters, store."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from odum_pipeline.algorithms import registry
from odum_pipeline.algorithms.registry import (
    NORMAL,
    AlgorithmRegistryError,
    archive,
    discover,
    load_exec_algorithms,
    load_version,
    resolve_params,
    stored_versions,
)
from odum_pipeline.algorithms.schema import AlgorithmParameterError

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "algorithms"
BAD = Path(__file__).resolve().parent / "bad_algorithms"


@pytest.fixture
def algo_root(tmp_path) -> Path:
    root = tmp_path / "algorithms"
    shutil.copytree(SHIPPED, root, ignore=shutil.ignore_patterns(".history", "__pycache__"))
    return root


def test_discover_shipped_algorithms():
    entries = discover(SHIPPED)
    assert set(entries) == {NORMAL, "TWAP", "VWAP", "ICEBERG", "POV", "IS"}
    assert entries[NORMAL].is_builtin and entries[NORMAL].version == "builtin"
    twap = entries["TWAP"]
    assert twap.path == (SHIPPED / "twap.py").resolve()
    assert twap.version == twap.source_sha256[:12] and len(twap.source_sha256) == 64
    assert [p.name for p in twap.parameters] == ["horizon_secs", "interval_secs", "placement", "catch_up_pct"]
    assert {p.name for p in entries["POV"].parameters} >= {"participation_rate", "max_slice", "interval_secs"}
    assert {p.name for p in entries["ICEBERG"].parameters} == {"display_qty", "visible_pct"}
    assert {p.name for p in entries["VWAP"].parameters} >= {"horizon_secs", "intervals", "profile"}


def test_discover_does_not_import(tmp_path):
    root = tmp_path / "algorithms"
    root.mkdir()
    shutil.copy(BAD / "endless_import.py", root / "loop.py")  # would hang if imported
    assert set(discover(root)) == {NORMAL, "LOOP"}


def test_version_changes_with_the_source_and_only_for_that_file(algo_root):
    before = discover(algo_root)
    path = algo_root / "twap.py"
    path.write_text(path.read_text() + "\n# tweak\n")
    after = discover(algo_root)
    assert after["TWAP"].version != before["TWAP"].version
    assert all(after[n].version == before[n].version for n in ("VWAP", "ICEBERG", "POV"))


def test_duplicate_names_and_strict_discovery(algo_root):
    shutil.copy(algo_root / "twap.py", algo_root / "twap_copy.py")
    with pytest.raises(AlgorithmRegistryError, match="TWAP is defined twice"):
        discover(algo_root)
    (algo_root / "twap_copy.py").unlink()
    shutil.copy(BAD / "invalid_schema.py", algo_root / "odd.py")
    assert "ODD" not in discover(algo_root)
    with pytest.raises(AlgorithmRegistryError, match="PARAMETERS"):
        discover(algo_root, strict=True)


def test_resolve_params_defaults_and_errors():
    entries = discover(SHIPPED)
    assert resolve_params(entries["TWAP"], {}) == {
        "horizon_secs": 300, "interval_secs": 60, "placement": "aggressive", "catch_up_pct": 10.0,
    }  # fmt: skip
    assert resolve_params(entries["TWAP"], {"interval_secs": 10}) == {
        "horizon_secs": 300, "interval_secs": 10, "placement": "aggressive", "catch_up_pct": 10.0,
    }  # fmt: skip
    with pytest.raises(AlgorithmParameterError, match="algorithm TWAP: parameter interval_secs: 0 is below the minimum"):
        resolve_params(entries["TWAP"], {"interval_secs": 0})
    with pytest.raises(AlgorithmParameterError, match="algorithm POV: parameter participation_rate: 1.5 is above"):
        resolve_params(entries["POV"], {"participation_rate": 1.5})
    with pytest.raises(AlgorithmParameterError, match="algorithm VWAP: unknown parameter"):
        resolve_params(entries["VWAP"], {"slices": 3})
    with pytest.raises(AlgorithmParameterError, match="algorithm VWAP: parameter profile_source: 'future'"):
        resolve_params(entries["VWAP"], {"profile_source": "future"})
    assert resolve_params(entries[NORMAL], {}) == {}


def test_load_exec_algorithms_gives_fresh_instances_with_the_registry_id(tmp_path):
    entries = discover(SHIPPED)
    for name in ("TWAP", "VWAP", "ICEBERG", "POV"):
        first = load_exec_algorithms(entries[name], {}, catalog_root=tmp_path)
        second = load_exec_algorithms(entries[name], {}, catalog_root=tmp_path)
        assert len(first) == 1 and first[0].id.value == name
        assert first[0] is not second[0]
    twap = load_exec_algorithms(entries["TWAP"], {"interval_secs": 15})[0]
    assert twap.config.interval_secs == 15 and twap.config.horizon_secs == 300
    vwap = load_exec_algorithms(entries["VWAP"], {"profile": [1, 2, 3], "intervals": 3}, catalog_root=tmp_path)[0]
    assert vwap.config.profile == [1.0, 2.0, 3.0] and vwap.config.catalog_path == str(tmp_path)
    (normal,) = load_exec_algorithms(entries[NORMAL], {})  # built in: the whole order at once
    assert normal.id.value == NORMAL
    with pytest.raises(AlgorithmParameterError):
        load_exec_algorithms(entries["TWAP"], {"horizon_secs": -1})


def test_store_is_content_addressed_and_write_once(algo_root, tmp_path):
    var = tmp_path / "var"
    entry = discover(algo_root)["TWAP"]
    stored = archive(entry, var_root=var)
    assert stored == var / "algorithm_store" / f"{entry.source_sha256}.py"
    assert stored.read_bytes() == entry.path.read_bytes()
    assert archive(entry, var_root=var) == stored  # idempotent
    path = algo_root / "twap.py"
    path.write_text(path.read_text() + "\n# version 2\n")
    with pytest.raises(AlgorithmRegistryError, match="changed since it was read"):
        archive(entry, var_root=var)
    entry2 = discover(algo_root)["TWAP"]
    archive(entry2, var_root=var)
    assert {e.version for e in stored_versions("TWAP", var_root=var)} == {entry.version, entry2.version}
    old = load_version("TWAP", entry.version, var_root=var)
    assert old.source_sha256 == entry.source_sha256 and old.path == stored
    instances = load_exec_algorithms(old, {})
    assert instances[0].id.value == "TWAP"
    with pytest.raises(AlgorithmRegistryError, match="not in the store"):
        load_version("TWAP", "0" * 12, var_root=var)
    with pytest.raises(AlgorithmRegistryError, match="not in the store"):
        load_version("VWAP", entry.version, var_root=var)
    assert load_version("NORMAL", "builtin", var_root=var).is_builtin


def test_get_unknown():
    with pytest.raises(AlgorithmRegistryError, match="unknown algorithm 'SNIPER'"):
        registry.get("SNIPER", SHIPPED)
    assert registry.get("twap", SHIPPED).name == "TWAP"


def _cli(*argv: str) -> int:
    import argparse

    from odum_pipeline.cli import algorithm_commands

    parser = argparse.ArgumentParser(prog="odum")
    algorithm_commands.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    return args.handler(args)


def test_cli_list_show_and_save_keeps_history(algo_root, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ODUM_VAR_ROOT", str(tmp_path / "var"))
    assert _cli("algorithms", "--root", str(algo_root), "list") == 0
    listing = capsys.readouterr().out
    assert all(name in listing for name in ("NORMAL", "TWAP", "VWAP", "ICEBERG", "POV"))
    assert _cli("algorithms", "--root", str(algo_root), "show", "pov") == 0
    assert "participation_rate" in capsys.readouterr().out

    old = discover(algo_root)["TWAP"]
    new_file = tmp_path / "my_twap.py"
    new_file.write_text((algo_root / "twap.py").read_text().replace("Equal slices", "Equal slices (v2)") + "\n# v2\n")
    assert _cli("algorithms", "--root", str(algo_root), "save", "twap", str(new_file)) == 0
    new = discover(algo_root)["TWAP"]
    assert new.version != old.version and (algo_root / "twap.py").read_bytes() == new_file.read_bytes()
    history = list((algo_root / ".history" / "twap").glob(f"*_{old.version}.py"))
    assert len(history) == 1 and history[0].read_bytes() != new_file.read_bytes()
    store = tmp_path / "var" / "algorithm_store"
    assert {p.stem for p in store.glob("*.py")} == {old.source_sha256, new.source_sha256}
    assert load_version("TWAP", old.version, var_root=tmp_path / "var").source_sha256 == old.source_sha256

    with pytest.raises(ValueError, match="POV: not saved, the source declares algorithm TWAP"):
        _cli("algorithms", "--root", str(algo_root), "save", "pov", str(new_file))
    with pytest.raises(ValueError, match="validation failed"):
        _cli("algorithms", "--root", str(algo_root), "save", "twin", str(BAD / "two_algorithms.py"))
    assert (algo_root / "twap.py").read_bytes() == new_file.read_bytes()
