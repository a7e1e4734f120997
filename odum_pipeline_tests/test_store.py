"""Crash safety and idempotence of the day-granular catalog store.

A "kill" is simulated by making the store's own steps raise at the chosen point (the journal is
written but not applied; part of it applied; the temporaries written but no journal). Afterwards
``store.recover`` must leave exactly one version of the day - the new one when the journal made it
to disk, the old one otherwise - readable by NautilusTrader's ``ParquetDataCatalog`` with no
duplicate rows. Inputs are small slices of the real Binance futures ticks (../shared/data/real).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import functools
import json
import posixpath
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from nautilus_trader.model.data import OrderBookDepth10, TradeTick

from odum_pipeline.catalog import store
from odum_pipeline.catalog.convert import ConversionError, convert_day, file_sha256
from odum_pipeline.catalog.layout import BOOK, TRADES, raw_path
from odum_pipeline.catalog.preflight import missing_catalog_partitions
from odum_pipeline.files import Files, files_for
from odum_pipeline.instruments import resolve
from odum_pipeline_tests.conftest import REAL_DATA, requires_real_data
from odum_pipeline_tests.gcs_emulator import gcs_bucket, gcs_client, gcs_emulator  # noqa: F401

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


class Catalog(str):
    """A catalog under test (its location, as the pipeline is given it), in a folder or a ``gs://``
    bucket, seen through the store's own filesystem."""

    files: Files

    def __new__(cls, root: str) -> Catalog:
        catalog = super().__new__(cls, root)
        catalog.files = files_for(root)
        return catalog

    @property
    def base(self) -> str:
        return self.files.path(str(self))

    def read(self, path: str) -> bytes:
        return self.files.fs.cat_file(path)

    def write(self, path: str, data: bytes) -> None:
        self.files.fs.pipe_file(path, data)

    def exists(self, path: str) -> bool:
        self.files.refresh()
        return self.files.fs.exists(path)

    def find(self, under: str = "") -> list[str]:
        self.files.refresh()
        return sorted(self.files.full(n) for n in self.files.fs.find(f"{self.base}/{under}".rstrip("/")))

    def relative(self, path: str) -> str:
        return path[len(self.base) + 1 :]


def _dirs(catalog: Catalog) -> dict[str, str]:
    return {
        TRADES: catalog.files.path(store.data_directory(catalog, TradeTick, INSTRUMENT_ID)),
        BOOK: catalog.files.path(store.data_directory(catalog, OrderBookDepth10, INSTRUMENT_ID)),
    }


def _visible(catalog: Catalog, directory: str) -> list[str]:
    """The files NautilusTrader reads: ``*.parquet`` (temporaries are dot-named and end otherwise)."""
    catalog.files.refresh()
    try:
        names = catalog.files.fs.ls(directory, detail=False)
    except FileNotFoundError:
        return []
    return sorted(posixpath.basename(n) for n in names if n.endswith(".parquet"))


def _snapshot(catalog: Catalog) -> dict[str, bytes]:
    return {catalog.relative(p): catalog.read(p) for p in catalog.find()}


def _leftovers(catalog: Catalog) -> list[str]:
    """Temporaries and journals still there (refused journals are kept aside on purpose, for a person)."""
    found = [p for p in catalog.find("data") if store._TMP_MARKER in posixpath.basename(p)]
    return found + [p for p in catalog.find(store.JOURNAL_DIR) if f"/{store.REFUSED_DIR}/" not in p]


def _ticks(catalog: Catalog) -> tuple[list, list]:
    reader = store.open_catalog(catalog)
    return reader.trade_ticks(instrument_ids=[INSTRUMENT_ID]), reader.order_book_depth10(instrument_ids=[INSTRUMENT_ID])


def _assert_exactly(catalog: Catalog, trades_rows: int, book_rows: int, day_trades: pa.Table) -> None:
    """The catalog replays exactly these rows, each once, and the day's trades are the given ones."""
    trades, book = _ticks(catalog)
    ids = [t.trade_id.value for t in trades]
    assert len(ids) == len(set(ids)) == trades_rows
    assert len(book) == book_rows
    assert len({d.ts_init for d in book}) == book_rows  # real snapshots have distinct receive times
    assert set(day_trades.column("id").to_pylist()) <= set(ids)


@pytest.fixture(params=["local"])
def where(request, tmp_path) -> Catalog:
    """An empty catalog location: a folder, or (``gs``) a prefix in a fresh bucket of the GCS emulator."""
    if request.param == "gs":
        bucket = request.getfixturevalue("gcs_bucket")
        return Catalog(f"gs://{bucket}/catalog")
    return Catalog(str(tmp_path / "catalog"))


#: The crash-point tests run over both filesystems the store writes to.
BOTH_BACKENDS = pytest.mark.parametrize("where", ["local", "gs"], indirect=True)


@pytest.fixture
def roots(tmp_path, where):
    """A catalog holding the OLD version of DAY and the OTHER_DAY; the raw tree now holds the NEW DAY."""
    raw, catalog = tmp_path / "raw", where
    _write_day(raw, OTHER_DAY, OTHER_ROWS)
    _write_day(raw, DAY, OLD_ROWS)
    convert_day(raw, catalog, OTHER_DAY, KEY)
    convert_day(raw, catalog, DAY, KEY)
    old = {
        "snapshot": _snapshot(catalog),
        "visible": {t: _visible(catalog, d) for t, d in _dirs(catalog).items()},
        "manifest": {t: store.read_manifest(d) for t, d in _dirs(catalog).items()},
    }
    _write_day(raw, DAY, NEW_ROWS)
    return raw, catalog, old


def _new_day_files(catalog: Catalog, old) -> dict[str, str]:
    """The one visible file per directory that the old state did not have (DAY's new file)."""
    files = {}
    for data_type, directory in _dirs(catalog).items():
        added = sorted(set(_visible(catalog, directory)) - set(old["visible"][data_type]))
        assert len(added) == 1, (data_type, added)
        files[data_type] = added[0]
    return files


def _assert_new_state(catalog: Catalog, old) -> None:
    """DAY is the new version only; OTHER_DAY is untouched; nothing is left over."""
    assert _leftovers(catalog) == []
    new_files = _new_day_files(catalog, old)
    for data_type, directory in _dirs(catalog).items():
        manifest = store.read_manifest(directory)
        old_day_file = old["manifest"][data_type][DAY.isoformat()]["file"]
        other_file = old["manifest"][data_type][OTHER_DAY.isoformat()]["file"]
        assert _visible(catalog, directory) == sorted([new_files[data_type], other_file])
        assert old_day_file not in _visible(catalog, directory)
        assert manifest[DAY.isoformat()]["file"] == new_files[data_type]
        assert manifest[OTHER_DAY.isoformat()] == old["manifest"][data_type][OTHER_DAY.isoformat()]
        rel = catalog.relative(f"{directory}/{other_file}")
        assert catalog.read(f"{directory}/{other_file}") == old["snapshot"][rel]
    _assert_exactly(
        catalog,
        NEW_ROWS + OTHER_ROWS,
        NEW_ROWS + OTHER_ROWS,
        _real(DAY, TRADES).slice(0, NEW_ROWS),
    )


def _assert_old_state(catalog: Catalog, old) -> None:
    """Byte for byte what it was before the interrupted conversion."""
    assert _leftovers(catalog) == []
    assert _snapshot(catalog) == old["snapshot"]
    _assert_exactly(catalog, OLD_ROWS + OTHER_ROWS, OLD_ROWS + OTHER_ROWS, _real(DAY, TRADES).slice(0, OLD_ROWS))


def _kill_first_apply(monkeypatch) -> list[Path]:
    """Make the first ``store._apply`` die before touching anything; later calls work."""
    real_apply, journals = store._apply, []

    def apply(files, journal: str) -> None:
        if not journals:
            journals.append(journal)
            raise SimulatedKill(f"killed before applying {journal}")
        real_apply(files, journal)

    monkeypatch.setattr(store, "_apply", apply)
    return journals


def _apply_partly(catalog: Catalog, plan: dict, moves_done: int, removals_done: int) -> None:
    """The first steps of a journal's plan, as ``store._apply`` takes them (then a kill)."""
    for temporary, final in plan["moves"][:moves_done]:
        catalog.files.publish(temporary, final)
    for removal in plan["removals"][:removals_done]:
        catalog.files.fs.rm_file(removal)


# ----------------------------------------------------------------------------- the fixture itself


def test_setup_old_state_is_what_it_claims(roots):
    raw, catalog, old = roots
    _assert_old_state(catalog, old)
    for data_type in (TRADES, BOOK):
        assert set(old["manifest"][data_type]) == {DAY.isoformat(), OTHER_DAY.isoformat()}


# ----------------------------------------------------------------------------- kill after the journal


@BOTH_BACKENDS
def test_kill_after_journal_before_apply_then_recover(roots, monkeypatch):
    raw, catalog, old = roots
    journals = _kill_first_apply(monkeypatch)

    with pytest.raises(SimulatedKill):
        convert_day(raw, catalog, DAY, KEY)

    # Killed: the journal and its temporaries are on disk, nothing visible has changed yet.
    assert len(journals) == 1 and catalog.exists(journals[0])
    plan = json.loads(catalog.read(journals[0]))
    # A data file and a manifest per directory, the depth file's level index; the old files and index.
    assert len(plan["moves"]) == 5 and len(plan["removals"]) == 3
    assert all(catalog.exists(temporary) for temporary, _ in plan["moves"])
    for data_type, directory in _dirs(catalog).items():
        assert _visible(catalog, directory) == old["visible"][data_type]
        assert store.read_manifest(directory) == old["manifest"][data_type]
    _assert_exactly(catalog, OLD_ROWS + OTHER_ROWS, OLD_ROWS + OTHER_ROWS, _real(DAY, TRADES).slice(0, OLD_ROWS))

    assert store.recover(catalog) == 1
    _assert_new_state(catalog, old)
    assert store.recover(catalog) == 0  # nothing left to do; still the new state
    _assert_new_state(catalog, old)


@BOTH_BACKENDS
def test_next_conversion_rolls_an_interrupted_swap_forward(roots, monkeypatch):
    """convert_day recovers first: converting another day finishes the interrupted one."""
    raw, catalog, old = roots
    _kill_first_apply(monkeypatch)
    with pytest.raises(SimulatedKill):
        convert_day(raw, catalog, DAY, KEY)

    convert_day(raw, catalog, OTHER_DAY, KEY)  # same raw as before: the other day is rewritten identically

    _assert_new_state(catalog, old)


@BOTH_BACKENDS
@pytest.mark.parametrize(
    "moves_done, removals_done",
    [(0, 0), (1, 0), (2, 0), (3, 0), (4, 0), (5, 0), (5, 1), (5, 2), (5, 3)],
    ids=lambda v: str(v),
)
def test_kill_halfway_through_apply_then_recover(roots, monkeypatch, moves_done, removals_done):
    raw, catalog, old = roots
    journals = _kill_first_apply(monkeypatch)
    with pytest.raises(SimulatedKill):
        convert_day(raw, catalog, DAY, KEY)
    journal = journals[0]
    plan = json.loads(catalog.read(journal))

    # The part of _apply that ran before the kill, step by step as _apply does it.
    _apply_partly(catalog, plan, moves_done, removals_done)
    assert catalog.exists(journal)

    assert store.recover(catalog) == 1
    _assert_new_state(catalog, old)


@BOTH_BACKENDS
def test_kill_during_recovery_then_recover_again(roots, monkeypatch):
    """Recovery itself killed after one move: a second recovery still ends in the new state."""
    raw, catalog, old = roots
    journals = _kill_first_apply(monkeypatch)
    with pytest.raises(SimulatedKill):
        convert_day(raw, catalog, DAY, KEY)
    monkeypatch.undo()

    real_publish, calls = type(catalog.files).publish, []

    def publish_then_die(files, temporary, final):
        real_publish(files, temporary, final)
        calls.append(final)
        if len(calls) == 2:
            raise SimulatedKill("killed during recovery")

    monkeypatch.setattr(type(catalog.files), "publish", publish_then_die)
    with pytest.raises(SimulatedKill):
        store.recover(catalog)
    monkeypatch.undo()

    assert catalog.exists(journals[0])
    assert store.recover(catalog) == 1
    _assert_new_state(catalog, old)


# ----------------------------------------------------------------------------- kill before the journal


@BOTH_BACKENDS
def test_kill_before_journal_leaves_orphans_that_recover_removes(roots, monkeypatch):
    raw, catalog, old = roots

    def no_journal(files, catalog_root, plan):
        raise SimulatedKill("killed before the journal was written")

    monkeypatch.setattr(store, "_write_journal", no_journal)
    with pytest.raises(SimulatedKill):
        convert_day(raw, catalog, DAY, KEY)
    monkeypatch.undo()

    orphans = [p for p in catalog.find("data") if store._TMP_MARKER in posixpath.basename(p)]
    assert len(orphans) == 5  # a data file and a manifest per directory, the depth file's level index
    assert all(posixpath.basename(p).startswith(".") for p in orphans)
    for data_type, directory in _dirs(catalog).items():
        assert _visible(catalog, directory) == old["visible"][data_type]

    assert store.recover(catalog) == 0  # young orphans may belong to a conversion still running
    assert all(catalog.exists(p) for p in orphans)
    assert store.recover(catalog, orphan_grace_secs=0) == 0
    assert not any(catalog.exists(p) for p in orphans)
    _assert_old_state(catalog, old)


@BOTH_BACKENDS
def test_stray_temporary_files_are_removed_and_the_day_kept(roots):
    raw, catalog, old = roots
    directory = _dirs(catalog)[TRADES]
    stray = f"{directory}/.{old['visible'][TRADES][0]}{store._TMP_MARKER}deadbeef"
    catalog.write(stray, b"half-written")
    assert store.recover(catalog, orphan_grace_secs=0) == 0
    assert not catalog.exists(stray)
    _assert_old_state(catalog, old)


# ----------------------------------------------------------------------------- idempotence and replacement


def test_reconverting_the_same_raw_is_byte_identical(tmp_path):
    raw, catalog = tmp_path / "raw", Catalog(str(tmp_path / "catalog"))
    _write_day(raw, DAY, OLD_ROWS)
    _write_day(raw, OTHER_DAY, OTHER_ROWS)
    first = [convert_day(raw, catalog, day, KEY).catalog_files for day in (DAY, OTHER_DAY)]
    before = _snapshot(catalog)

    second = [convert_day(raw, catalog, day, KEY).catalog_files for day in (DAY, OTHER_DAY)]

    assert second == first
    assert _snapshot(catalog) == before
    assert _leftovers(catalog) == []
    _assert_exactly(catalog, OLD_ROWS + OTHER_ROWS, OLD_ROWS + OTHER_ROWS, _real(DAY, TRADES).slice(0, OLD_ROWS))


@BOTH_BACKENDS
def test_changed_raw_replaces_the_day_file(roots):
    raw, catalog, old = roots
    result = convert_day(raw, catalog, DAY, KEY)

    _assert_new_state(catalog, old)
    for data_type, directory in _dirs(catalog).items():
        entry = store.read_manifest(directory)[DAY.isoformat()]
        assert entry["file"] == posixpath.basename(result.catalog_files[data_type])
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
        assert _visible(catalog, directory) == old["visible"][data_type]
        name = old["manifest"][data_type][DAY.isoformat()]["file"]
        assert catalog.read(f"{directory}/{name}") != old["snapshot"][catalog.relative(f"{directory}/{name}")]
        assert store.read_manifest(directory)[DAY.isoformat()]["file"] == name
    trades, _ = _ticks(catalog)
    assert len(trades) == OLD_ROWS + OTHER_ROWS
    expected = _real(DAY, TRADES).column("amount")[10].as_py() + 1.0
    tick = next(t for t in trades if t.trade_id.value == _real(DAY, TRADES).column("id")[10].as_py())
    assert float(tick.size) == pytest.approx(expected)


def test_a_data_type_gone_from_the_raw_day_keeps_the_catalog_day(roots):
    """Issue 11.1: a book file gone from the raw day must not delete the catalog's book for that day."""
    raw, catalog, old = roots
    raw_path(raw, DAY, BOOK, KEY).unlink()
    pq.write_table(_real(DAY, TRADES).slice(0, OLD_ROWS), raw_path(raw, DAY, TRADES, KEY))

    with pytest.raises(ConversionError) as info:
        convert_day(raw, catalog, DAY, KEY)

    assert str(raw_path(raw, DAY, BOOK, KEY)) in str(info.value)
    _assert_old_state(catalog, old)


# ----------------------------------------------------------------------------- two conversions at once


def test_interleaved_conversions_of_two_days_keep_both(roots, monkeypatch):
    raw, catalog, old = roots
    _write_day(raw, OTHER_DAY, OTHER_ROWS - 30)  # a new version of the other day as well
    real_write_tables, interleaved = store._write_tables_in_parallel, []

    def other_conversion_after_writing(files, tables, indexes):
        written = real_write_tables(files, tables, indexes)
        if not interleaved:  # the DAY conversion, temporaries written: now the OTHER_DAY run goes through
            interleaved.append(True)
            convert_day(raw, catalog, OTHER_DAY, KEY)
        return written

    monkeypatch.setattr(store, "_write_tables_in_parallel", other_conversion_after_writing)
    convert_day(raw, catalog, DAY, KEY)
    monkeypatch.undo()

    store.recover(catalog)
    for data_type, directory in _dirs(catalog).items():
        manifest = store.read_manifest(directory)
        assert set(manifest) == {DAY.isoformat(), OTHER_DAY.isoformat()}
        assert sorted(entry["file"] for entry in manifest.values()) == _visible(catalog, directory)
    total = NEW_ROWS + OTHER_ROWS - 30
    _assert_exactly(catalog, total, total, _real(DAY, TRADES).slice(0, NEW_ROWS))


def test_two_conversions_of_the_same_day_never_both_land(roots, monkeypatch):
    """Issue 11.2: two conversions of different raw versions of DAY that both plan before either applies."""
    raw, catalog, old = roots
    other_raw = raw.parent / "raw-other-version"
    _write_day(other_raw, DAY, NEW_ROWS - 40)
    both_planned = threading.Barrier(2, timeout=3)
    real_write_journal = store._write_journal

    plans = []

    def meet_then_write_journal(files, catalog_root, plan):
        plans.append(plan)
        with contextlib.suppress(threading.BrokenBarrierError):  # with a lock, the other one waits outside
            both_planned.wait()
        return real_write_journal(files, catalog_root, plan)

    monkeypatch.setattr(store, "_write_journal", meet_then_write_journal)
    with ThreadPoolExecutor(max_workers=2) as pool:
        for future in [pool.submit(convert_day, source, catalog, DAY, KEY) for source in (raw, other_raw)]:
            future.result()
    monkeypatch.undo()

    for data_type, directory in _dirs(catalog).items():
        manifest = store.read_manifest(directory)
        assert sorted(entry["file"] for entry in manifest.values()) == _visible(catalog, directory), data_type
    # The second plan was made against the first's manifest: it removes the first's new day files.
    first_new = {final for _, final in plans[0]["moves"] if final.endswith(".parquet")}
    assert first_new and first_new <= set(plans[1]["removals"])
    trades, book = _ticks(catalog)
    day_rows = len(trades) - OTHER_ROWS
    assert day_rows in (NEW_ROWS, NEW_ROWS - 40)
    _assert_exactly(catalog, OTHER_ROWS + day_rows, OTHER_ROWS + day_rows, _real(DAY, TRADES).slice(0, day_rows))


def _leave_a_stray_day_file(raw: Path, catalog: Catalog, old) -> dict[str, str]:
    """The old DAY file of each directory back beside the new one: what the unlocked race left behind."""
    convert_day(raw, catalog, DAY, KEY)
    strays = {}
    for data_type, directory in _dirs(catalog).items():
        name = old["manifest"][data_type][DAY.isoformat()]["file"]
        strays[data_type] = f"{directory}/{name}"
        catalog.write(strays[data_type], old["snapshot"][catalog.relative(strays[data_type])])
    trades, _ = _ticks(catalog)
    assert len(trades) == NEW_ROWS + OLD_ROWS + OTHER_ROWS  # the day twice: what must not reach a reader
    return strays


@BOTH_BACKENDS
def test_a_stray_day_file_is_removed_by_recovery(roots):
    raw, catalog, old = roots
    strays = _leave_a_stray_day_file(raw, catalog, old)
    store.recover(catalog)
    assert not any(catalog.exists(path) for path in strays.values())
    _assert_new_state(catalog, old)


@BOTH_BACKENDS
def test_readers_never_see_a_stray_day_file(roots):
    raw, catalog, old = roots
    _leave_a_stray_day_file(raw, catalog, old)
    assert missing_catalog_partitions(catalog, KEY, *_window(DAY)) == []
    _assert_new_state(catalog, old)


def _window(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime.combine(day, dt.time(), dt.UTC)
    return start, start + dt.timedelta(days=1)


@BOTH_BACKENDS
@pytest.mark.parametrize("moves_done, removals_done", [(0, 0), (2, 0), (4, 0), (4, 1)], ids=str)
def test_readers_recover_an_interrupted_swap_before_reading(roots, monkeypatch, moves_done, removals_done):
    """Issue 11.3: the pre-flight every backtest runs finishes a crashed swap before anything is read."""
    raw, catalog, old = roots
    journals = _kill_first_apply(monkeypatch)
    with pytest.raises(SimulatedKill):
        convert_day(raw, catalog, DAY, KEY)
    monkeypatch.undo()
    _apply_partly(catalog, json.loads(catalog.read(journals[0])), moves_done, removals_done)

    assert missing_catalog_partitions(catalog, KEY, *_window(OTHER_DAY)) == []

    _assert_new_state(catalog, old)


@pytest.mark.parametrize("escape", ["absolute", "dot-dot"])
def test_a_journal_naming_paths_outside_the_catalog_is_refused(roots, tmp_path, caplog, escape):
    """Issue 11.4: a journal acts only inside its catalog root."""
    raw, catalog, old = roots
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    planted = tmp_path / f".planted.parquet{store._TMP_MARKER}x"
    planted.write_bytes(b"not a day file")
    directory = _dirs(catalog)[TRADES]
    outside = str(victim) if escape == "absolute" else f"{directory}/../../../../{victim.name}"
    journal = f"{catalog.base}/{store.JOURNAL_DIR}/planted.json"
    catalog.write(journal, json.dumps({"moves": [[str(planted), f"{directory}/planted.parquet"]], "removals": [outside]}).encode())

    with caplog.at_level("WARNING"):
        assert store.recover(catalog) == 0

    assert victim.read_text() == "keep me" and planted.exists()
    assert not catalog.exists(f"{directory}/planted.parquet")
    assert not catalog.exists(journal)
    assert any(journal in record.getMessage() and "outside" in record.getMessage() for record in caplog.records)
    _assert_exactly(catalog, OLD_ROWS + OTHER_ROWS, OLD_ROWS + OTHER_ROWS, _real(DAY, TRADES).slice(0, OLD_ROWS))
    convert_day(raw, catalog, DAY, KEY)  # the refused journal blocks nothing
    _assert_new_state(catalog, old)


def test_a_damaged_journal_is_one_line_and_blocks_nothing(roots, caplog):
    raw, catalog, old = roots
    journal = f"{catalog.base}/{store.JOURNAL_DIR}/damaged.json"
    catalog.write(journal, b"")
    with caplog.at_level("WARNING"):
        convert_day(raw, catalog, DAY, KEY)
    messages = [record.getMessage() for record in caplog.records if journal in record.getMessage()]
    assert messages and all("\n" not in message for message in messages)
    _assert_new_state(catalog, old)


@BOTH_BACKENDS
def test_a_damaged_manifest_blocks_only_its_own_day(roots):
    """Issue 11.14: one line naming the manifest, for a window on that day only; converting repairs it."""
    raw, catalog, old = roots
    manifest = f"{_dirs(catalog)[BOOK]}/{store.MANIFEST_DIR}/{DAY.isoformat()}.json"
    catalog.write(manifest, b"{not json")

    assert missing_catalog_partitions(catalog, KEY, *_window(OTHER_DAY)) == []
    with pytest.raises(ValueError) as info:
        missing_catalog_partitions(catalog, KEY, *_window(DAY))
    message = str(info.value)
    assert manifest in message and "\n" not in message and "Expecting" not in message.split(":", 1)[0]

    convert_day(raw, catalog, DAY, KEY)
    _assert_new_state(catalog, old)


def test_a_failed_write_leaves_no_temporary_files(roots, monkeypatch):
    """Issue 11.14: a full disk mid-conversion: one line naming the path, no day-sized leftovers."""
    raw, catalog, old = roots
    real_write_table = store.pq.write_table

    def disk_full_on_book(table, where, **options):
        if "bid_price_0" in table.column_names:
            Path(where).write_bytes(b"x" * 4096)  # part of the file made it to disk
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write_table(table, where, **options)

    monkeypatch.setattr(store.pq, "write_table", disk_full_on_book)
    with pytest.raises(ValueError) as info:
        convert_day(raw, catalog, DAY, KEY)
    monkeypatch.undo()

    message = str(info.value)
    assert "No space left on device" in message and str(_dirs(catalog)[BOOK]) in message and "\n" not in message
    _assert_old_state(catalog, old)


def test_a_kill_while_writing_a_first_day_leaves_orphans_that_recover_removes(tmp_path, monkeypatch):
    """A fresh catalog has no manifest folder yet: its orphaned temporaries are still found."""
    raw, catalog = tmp_path / "raw", Catalog(str(tmp_path / "catalog"))
    _write_day(raw, DAY, OLD_ROWS)
    real_write_tables = store._write_tables_in_parallel

    def write_then_die(files, tables, indexes):
        real_write_tables(files, tables, indexes)
        raise SimulatedKill("killed after writing the temporaries")

    monkeypatch.setattr(store, "_write_tables_in_parallel", write_then_die)
    with pytest.raises(SimulatedKill):
        convert_day(raw, catalog, DAY, KEY)
    monkeypatch.undo()
    assert len(_leftovers(catalog)) == 3  # the data files and the depth file's level index

    store.recover(catalog, orphan_grace_secs=0)
    assert _leftovers(catalog) == []
