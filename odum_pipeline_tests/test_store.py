"""Crash safety and idempotence of the day-granular catalog store.

A "kill" is simulated by making the store's own steps raise at the chosen point (the journal is
written but not applied; part of it applied; the temporaries written but no journal). Afterwards
``store.recover`` must leave exactly one version of the day - the new one when the journal made it
to disk, the old one otherwise - readable by NautilusTrader's ``ParquetDataCatalog`` with no
duplicate rows. Inputs are small slices of the real Binance futures ticks (../shared/data/real).
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from nautilus_trader.model.data import OrderBookDepth10, TradeTick
from nautilus_trader.persistence.catalog import ParquetDataCatalog

from odum_pipeline.catalog import store
from odum_pipeline.catalog.convert import convert_day, file_sha256
from odum_pipeline.catalog.layout import BOOK, TRADES, raw_path
from odum_pipeline.instruments import resolve
from odum_pipeline_tests.conftest import REAL_DATA, requires_real_data

KEY = "BINANCE-FUTURES:PERPETUAL:BTC-USDT"
INSTRUMENT_ID = resolve(KEY).instrument_id
DAY = dt.date(2023, 4, 4)
OTHER_DAY = dt.date(2023, 4, 5)
OLD_ROWS, NEW_ROWS, OTHER_ROWS = 300, 220, 150


REAL = REAL_DATA
pytestmark = requires_real_data


class SimulatedKill(BaseException):
    """Stands for the process dying: not an Exception, so nothing on the way can swallow it."""


@functools.cache
def _real(day: dt.date, data_type: str) -> pa.Table:
    return pq.read_table(raw_path(REAL, day, data_type, KEY))


def _write_day(raw_root: Path, day: dt.date, rows: int, tweak=None) -> None:
    for data_type in (TRADES, BOOK):
        table = _real(day, data_type).slice(0, rows)
        if tweak:
            table = tweak(data_type, table)
        path = raw_path(raw_root, day, data_type, KEY)
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, path)


def _dirs(catalog: Path) -> dict[str, Path]:
    return {
        TRADES: store.data_directory(catalog, TradeTick, INSTRUMENT_ID),
        BOOK: store.data_directory(catalog, OrderBookDepth10, INSTRUMENT_ID),
    }


def _visible(directory: Path) -> list[str]:
    """The files NautilusTrader reads: ``*.parquet`` (temporaries are dot-named and end otherwise)."""
    return sorted(p.name for p in directory.glob("*.parquet"))


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _leftovers(catalog: Path) -> list[str]:
    """Temporaries and journals still on disk."""
    found = [str(p) for p in (catalog / "data").rglob(f"*{store._TMP_MARKER}*")]
    journal_dir = catalog / store.JOURNAL_DIR
    if journal_dir.is_dir():
        found += [str(p) for p in journal_dir.iterdir()]
    return found


def _ticks(catalog: Path) -> tuple[list, list]:
    reader = ParquetDataCatalog(str(catalog))
    return reader.trade_ticks(instrument_ids=[INSTRUMENT_ID]), reader.order_book_depth10(instrument_ids=[INSTRUMENT_ID])


def _assert_exactly(catalog: Path, trades_rows: int, book_rows: int, day_trades: pa.Table) -> None:
    """The catalog replays exactly these rows, each once, and the day's trades are the given ones."""
    trades, book = _ticks(catalog)
    ids = [t.trade_id.value for t in trades]
    assert len(ids) == len(set(ids)) == trades_rows
    assert len(book) == book_rows
    assert len({d.ts_init for d in book}) == book_rows  # real snapshots have distinct receive times
    assert set(day_trades.column("id").to_pylist()) <= set(ids)


@pytest.fixture
def roots(tmp_path):
    """A catalog holding the OLD version of DAY and the OTHER_DAY; the raw tree now holds the NEW DAY."""
    raw, catalog = tmp_path / "raw", tmp_path / "catalog"
    _write_day(raw, OTHER_DAY, OTHER_ROWS)
    _write_day(raw, DAY, OLD_ROWS)
    convert_day(raw, catalog, OTHER_DAY, KEY)
    convert_day(raw, catalog, DAY, KEY)
    old = {
        "snapshot": _snapshot(catalog),
        "visible": {t: _visible(d) for t, d in _dirs(catalog).items()},
        "manifest": {t: store.read_manifest(d) for t, d in _dirs(catalog).items()},
    }
    _write_day(raw, DAY, NEW_ROWS)
    return raw, catalog, old


def _new_day_files(catalog: Path, old) -> dict[str, str]:
    """The one visible file per directory that the old state did not have (DAY's new file)."""
    files = {}
    for data_type, directory in _dirs(catalog).items():
        added = sorted(set(_visible(directory)) - set(old["visible"][data_type]))
        assert len(added) == 1, (data_type, added)
        files[data_type] = added[0]
    return files


def _assert_new_state(catalog: Path, old) -> None:
    """DAY is the new version only; OTHER_DAY is untouched; nothing is left over."""
    assert _leftovers(catalog) == []
    new_files = _new_day_files(catalog, old)
    for data_type, directory in _dirs(catalog).items():
        manifest = store.read_manifest(directory)
        old_day_file = old["manifest"][data_type][DAY.isoformat()]["file"]
        other_file = old["manifest"][data_type][OTHER_DAY.isoformat()]["file"]
        assert _visible(directory) == sorted([new_files[data_type], other_file])
        assert old_day_file not in _visible(directory)
        assert manifest[DAY.isoformat()]["file"] == new_files[data_type]
        assert manifest[OTHER_DAY.isoformat()] == old["manifest"][data_type][OTHER_DAY.isoformat()]
        rel = str((directory / other_file).relative_to(catalog))
        assert (catalog / rel).read_bytes() == old["snapshot"][rel]
    _assert_exactly(
        catalog,
        NEW_ROWS + OTHER_ROWS,
        NEW_ROWS + OTHER_ROWS,
        _real(DAY, TRADES).slice(0, NEW_ROWS),
    )


def _assert_old_state(catalog: Path, old) -> None:
    """Byte for byte what it was before the interrupted conversion."""
    assert _leftovers(catalog) == []
    assert _snapshot(catalog) == old["snapshot"]
    _assert_exactly(catalog, OLD_ROWS + OTHER_ROWS, OLD_ROWS + OTHER_ROWS, _real(DAY, TRADES).slice(0, OLD_ROWS))


def _kill_first_apply(monkeypatch) -> list[Path]:
    """Make the first ``store._apply`` die before touching anything; later calls work."""
    real_apply, journals = store._apply, []

    def apply(journal: Path) -> None:
        if not journals:
            journals.append(journal)
            raise SimulatedKill(f"killed before applying {journal}")
        real_apply(journal)

    monkeypatch.setattr(store, "_apply", apply)
    return journals


# ----------------------------------------------------------------------------- the fixture itself


def test_setup_old_state_is_what_it_claims(roots):
    raw, catalog, old = roots
    _assert_old_state(catalog, old)
    for data_type in (TRADES, BOOK):
        assert set(old["manifest"][data_type]) == {DAY.isoformat(), OTHER_DAY.isoformat()}


# ----------------------------------------------------------------------------- kill after the journal


def test_kill_after_journal_before_apply_then_recover(roots, monkeypatch):
    raw, catalog, old = roots
    journals = _kill_first_apply(monkeypatch)

    with pytest.raises(SimulatedKill):
        convert_day(raw, catalog, DAY, KEY)

    # Killed: the journal and its temporaries are on disk, nothing visible has changed yet.
    assert len(journals) == 1 and journals[0].is_file()
    plan = json.loads(journals[0].read_text())
    assert len(plan["moves"]) == 4 and len(plan["removals"]) == 2
    assert all(os.path.exists(temporary) for temporary, _ in plan["moves"])
    for data_type, directory in _dirs(catalog).items():
        assert _visible(directory) == old["visible"][data_type]
        assert store.read_manifest(directory) == old["manifest"][data_type]
    _assert_exactly(catalog, OLD_ROWS + OTHER_ROWS, OLD_ROWS + OTHER_ROWS, _real(DAY, TRADES).slice(0, OLD_ROWS))

    assert store.recover(catalog) == 1
    _assert_new_state(catalog, old)
    assert store.recover(catalog) == 0  # nothing left to do; still the new state
    _assert_new_state(catalog, old)


def test_next_conversion_rolls_an_interrupted_swap_forward(roots, monkeypatch):
    """convert_day recovers first: converting another day finishes the interrupted one."""
    raw, catalog, old = roots
    _kill_first_apply(monkeypatch)
    with pytest.raises(SimulatedKill):
        convert_day(raw, catalog, DAY, KEY)

    convert_day(raw, catalog, OTHER_DAY, KEY)  # same raw as before: the other day is rewritten identically

    _assert_new_state(catalog, old)


@pytest.mark.parametrize(
    "moves_done, removals_done",
    [(0, 0), (1, 0), (2, 0), (3, 0), (4, 0), (4, 1), (4, 2)],
    ids=lambda v: str(v),
)
def test_kill_halfway_through_apply_then_recover(roots, monkeypatch, moves_done, removals_done):
    raw, catalog, old = roots
    journals = _kill_first_apply(monkeypatch)
    with pytest.raises(SimulatedKill):
        convert_day(raw, catalog, DAY, KEY)
    journal = journals[0]
    plan = json.loads(journal.read_text())

    # The part of _apply that ran before the kill, step by step as _apply does it.
    for temporary, final in plan["moves"][:moves_done]:
        os.replace(temporary, final)
    for removal in plan["removals"][:removals_done]:
        Path(removal).unlink()
    assert journal.is_file()

    assert store.recover(catalog) == 1
    _assert_new_state(catalog, old)


def test_kill_during_recovery_then_recover_again(roots, monkeypatch):
    """Recovery itself killed after one move: a second recovery still ends in the new state."""
    raw, catalog, old = roots
    journals = _kill_first_apply(monkeypatch)
    with pytest.raises(SimulatedKill):
        convert_day(raw, catalog, DAY, KEY)
    monkeypatch.undo()

    real_replace, calls = os.replace, []

    def replace_then_die(source, target):
        real_replace(source, target)
        calls.append(target)
        if len(calls) == 2:
            raise SimulatedKill("killed during recovery")

    monkeypatch.setattr(store.os, "replace", replace_then_die)
    with pytest.raises(SimulatedKill):
        store.recover(catalog)
    monkeypatch.undo()

    assert journals[0].is_file()
    assert store.recover(catalog) == 1
    _assert_new_state(catalog, old)


# ----------------------------------------------------------------------------- kill before the journal


def test_kill_before_journal_leaves_orphans_that_recover_removes(roots, monkeypatch):
    raw, catalog, old = roots

    def no_journal(catalog_root, plan):
        raise SimulatedKill("killed before the journal was written")

    monkeypatch.setattr(store, "_write_journal", no_journal)
    with pytest.raises(SimulatedKill):
        convert_day(raw, catalog, DAY, KEY)
    monkeypatch.undo()

    orphans = [p for p in (catalog / "data").rglob(f"*{store._TMP_MARKER}*")]
    assert len(orphans) == 4  # a data file and a manifest per directory
    assert all(p.name.startswith(".") for p in orphans)
    for data_type, directory in _dirs(catalog).items():
        assert _visible(directory) == old["visible"][data_type]

    assert store.recover(catalog) == 0  # young orphans may belong to a conversion still running
    assert all(p.exists() for p in orphans)
    assert store.recover(catalog, orphan_grace_secs=0) == 0
    assert not any(p.exists() for p in orphans)
    _assert_old_state(catalog, old)


def test_stray_temporary_files_are_removed_and_the_day_kept(roots):
    raw, catalog, old = roots
    directory = _dirs(catalog)[TRADES]
    stray = directory / f".{old['visible'][TRADES][0]}{store._TMP_MARKER}deadbeef"
    stray.write_bytes(b"half-written")
    assert store.recover(catalog, orphan_grace_secs=0) == 0
    assert not stray.exists()
    _assert_old_state(catalog, old)


# ----------------------------------------------------------------------------- idempotence and replacement


def test_reconverting_the_same_raw_is_byte_identical(tmp_path):
    raw, catalog = tmp_path / "raw", tmp_path / "catalog"
    _write_day(raw, DAY, OLD_ROWS)
    _write_day(raw, OTHER_DAY, OTHER_ROWS)
    first = [convert_day(raw, catalog, day, KEY).catalog_files for day in (DAY, OTHER_DAY)]
    before = _snapshot(catalog)

    second = [convert_day(raw, catalog, day, KEY).catalog_files for day in (DAY, OTHER_DAY)]

    assert second == first
    assert _snapshot(catalog) == before
    assert _leftovers(catalog) == []
    _assert_exactly(catalog, OLD_ROWS + OTHER_ROWS, OLD_ROWS + OTHER_ROWS, _real(DAY, TRADES).slice(0, OLD_ROWS))


def test_changed_raw_replaces_the_day_file(roots):
    raw, catalog, old = roots
    result = convert_day(raw, catalog, DAY, KEY)

    _assert_new_state(catalog, old)
    for data_type, directory in _dirs(catalog).items():
        entry = store.read_manifest(directory)[DAY.isoformat()]
        assert entry["file"] == Path(result.catalog_files[data_type]).name
        assert entry["source_sha256"] == file_sha256(raw_path(raw, DAY, data_type, KEY))
        assert entry["source_sha256"] != old["manifest"][data_type][DAY.isoformat()]["source_sha256"]
        assert store.days_present(directory) == {DAY.isoformat(), OTHER_DAY.isoformat()}


def test_changed_raw_with_the_same_time_span_rewrites_the_same_file_name(roots):
    """Same first/last ts_init, different content: the file keeps its name and gets the new bytes."""
    raw, catalog, old = roots

    def bigger_sizes(data_type, table):
        name = "amount" if data_type == TRADES else "bids[0].amount"
        values = table.column(name).to_pylist()
        values[10] = round(values[10] + 1.0, 3)
        return table.set_column(table.column_names.index(name), name, pa.array(values, pa.float64()))

    _write_day(raw, DAY, OLD_ROWS, tweak=bigger_sizes)
    convert_day(raw, catalog, DAY, KEY)

    assert _leftovers(catalog) == []
    for data_type, directory in _dirs(catalog).items():
        assert _visible(directory) == old["visible"][data_type]
        name = old["manifest"][data_type][DAY.isoformat()]["file"]
        rel = str((directory / name).relative_to(catalog))
        assert (catalog / rel).read_bytes() != old["snapshot"][rel]
        assert store.read_manifest(directory)[DAY.isoformat()]["file"] == name
    trades, _ = _ticks(catalog)
    assert len(trades) == OLD_ROWS + OTHER_ROWS
    expected = _real(DAY, TRADES).column("amount")[10].as_py() + 1.0
    tick = next(t for t in trades if t.trade_id.value == _real(DAY, TRADES).column("id")[10].as_py())
    assert float(tick.size) == pytest.approx(expected)


def test_a_data_type_gone_from_the_raw_day_is_removed_from_the_catalog(roots):
    raw, catalog, old = roots
    raw_path(raw, DAY, BOOK, KEY).unlink()
    trades_only = _real(DAY, TRADES).slice(0, OLD_ROWS)
    pq.write_table(trades_only, raw_path(raw, DAY, TRADES, KEY))

    convert_day(raw, catalog, DAY, KEY)

    book_dir, trades_dir = _dirs(catalog)[BOOK], _dirs(catalog)[TRADES]
    assert store.days_present(book_dir) == {OTHER_DAY.isoformat()}
    assert _visible(book_dir) == [old["manifest"][BOOK][OTHER_DAY.isoformat()]["file"]]
    assert _visible(trades_dir) == old["visible"][TRADES]
    _assert_exactly(catalog, OLD_ROWS + OTHER_ROWS, OTHER_ROWS, trades_only)


# ----------------------------------------------------------------------------- two conversions at once


def test_interleaved_conversions_of_two_days_keep_both(roots, monkeypatch):
    raw, catalog, old = roots
    _write_day(raw, OTHER_DAY, OTHER_ROWS - 30)  # a new version of the other day as well
    real_write_journal, interleaved = store._write_journal, []

    def journal_after_other_conversion(catalog_root, plan):
        if not interleaved:  # the DAY conversion, temporaries written: now the OTHER_DAY run goes through
            interleaved.append(True)
            convert_day(raw, catalog, OTHER_DAY, KEY)
        return real_write_journal(catalog_root, plan)

    monkeypatch.setattr(store, "_write_journal", journal_after_other_conversion)
    convert_day(raw, catalog, DAY, KEY)
    monkeypatch.undo()

    store.recover(catalog)
    for data_type, directory in _dirs(catalog).items():
        manifest = store.read_manifest(directory)
        assert set(manifest) == {DAY.isoformat(), OTHER_DAY.isoformat()}
        assert sorted(entry["file"] for entry in manifest.values()) == _visible(directory)
    total = NEW_ROWS + OTHER_ROWS - 30
    _assert_exactly(catalog, total, total, _real(DAY, TRADES).slice(0, NEW_ROWS))
