"""A corpus of bad raw inputs, each converted over a catalog that already holds a good day.

Every bad file must be refused with an error naming the raw file and the problem, and the
catalog must be left byte for byte as it was. Inputs are small slices of the real Binance
futures data (Tardis form), modified with pyarrow; the real data is read in place, never copied.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.compute  # noqa: F401 - pa.compute
import pyarrow.parquet as pq
import pytest

from odum_pipeline.catalog.convert import ConversionError, convert_day
from odum_pipeline.catalog.layout import BOOK, TRADES, raw_path
from odum_pipeline.catalog.preflight import check_raw_coverage
from odum_pipeline.cli.main import run
from odum_pipeline.instruments import UnknownInstrumentError
from odum_pipeline_tests.conftest import REAL_DATA, requires_real_data

KEY = "BINANCE-FUTURES:PERPETUAL:BTC-USDT"
DAY = dt.date(2023, 4, 4)
ROWS = 300


REAL = REAL_DATA
pytestmark = requires_real_data


@functools.cache
def _real(day: dt.date, data_type: str) -> pa.Table:
    return pq.read_table(raw_path(REAL, day, data_type, KEY)).slice(0, ROWS)


def _write(raw_root: Path, data_type: str, content: pa.Table | bytes, key: str = KEY, day: dt.date = DAY) -> Path:
    path = raw_path(raw_root, day, data_type, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        pq.write_table(content, path)
    return path


def _snapshot(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (hidden ones included) -> its bytes."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _set(table: pa.Table, name: str, rows: dict[int, object]) -> pa.Table:
    values = table.column(name).to_pylist()
    for row, value in rows.items():
        values[row] = value
    index = table.column_names.index(name)
    return table.set_column(index, name, pa.array(values, table.schema.field(name).type))


@pytest.fixture
def good(tmp_path):
    """A raw tree with one good day, converted into a catalog."""
    raw, catalog = tmp_path / "raw", tmp_path / "catalog"
    paths = {data_type: _write(raw, data_type, _real(DAY, data_type)) for data_type in (TRADES, BOOK)}
    result = convert_day(raw, catalog, DAY, KEY)
    assert set(result.catalog_files) == {TRADES, BOOK}
    snapshot = _snapshot(catalog)
    assert any(name.endswith(".parquet") and "trade_tick" in name for name in snapshot)
    return raw, catalog, paths, snapshot


# ----------------------------------------------------------------------------- the corpus
# Each case: (data type of the file it replaces, good table/bytes -> bad content, expected substrings).


def _empty(table, path):
    return b""


def _truncated(table, path):
    data = path.read_bytes()
    return data[: len(data) // 2]


def _drop_amount(table, path):
    return table.drop_columns(["amount"])


def _nan_price(table, path):
    return _set(table, "price", {5: float("nan")})


def _zero_size(table, path):
    return _set(table, "amount", {9: 0.0})


def _negative_price(table, path):
    return _set(table, "price", {11: -28145.1})


def _crossed(table, path):
    asks = table.column("asks[0].price").to_pylist()
    return _set(table, "bids[0].price", {3: asks[3], 50: asks[50] + 0.5})


def _unsorted(table, path):
    for name in ("timestamp", "local_timestamp"):
        values = table.column(name).to_pylist()
        assert values[20] < values[ROWS - 1]
        table = _set(table, name, {20: values[ROWS - 1], ROWS - 1: values[20]})
    return table


def _duplicate_ids(table, path):
    return _set(table, "id", {8: table.column("id")[7].as_py()})


def _bad_side(table, path):
    return _set(table, "side", {13: "BUY?"})


def _off_grid_price(table, path):
    return _set(table, "price", {17: 28155.15})


def _off_grid_size(table, path):
    return _set(table, "amount", {19: 0.0015})


CASES = {
    "empty-file": (TRADES, _empty, ["empty", "0 bytes"]),
    "truncated-parquet": (TRADES, _truncated, ["truncated", "Parquet"]),
    "missing-column": (TRADES, _drop_amount, ["missing column", "amount"]),
    "nan-price": (TRADES, _nan_price, ["'price'", "NaN", "row(s) 5"]),
    "zero-size": (TRADES, _zero_size, ["'size'", "zero", "row(s) 9"]),
    "negative-price": (TRADES, _negative_price, ["'price'", "negative", "row(s) 11"]),
    "crossed-book": (BOOK, _crossed, ["crossed", "best bid >= best ask", "2 snapshot(s)", "row(s) 3, 50"]),
    "unsorted-timestamps": (TRADES, _unsorted, ["back in time", "ts_event", "ts_init", "row(s) 21"]),
    "unsorted-book-timestamps": (BOOK, _unsorted, ["back in time", "ts_event", "ts_init", "row(s) 21"]),
    "duplicate-trade-ids": (TRADES, _duplicate_ids, ["duplicate", "1 duplicate trade id"]),
    "bad-side": (TRADES, _bad_side, ["'side'", "buy?"]),
    "off-grid-price": (TRADES, _off_grid_price, ["'price'", "precision 1", "row(s) 17"]),
    "off-grid-size": (TRADES, _off_grid_size, ["'size'", "precision 3", "row(s) 19"]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_refused_and_catalog_untouched(good, case):
    raw, catalog, paths, before = good
    data_type, make_bad, expected = CASES[case]
    path = paths[data_type]
    bad = make_bad(_real(DAY, data_type), path)
    _write(raw, data_type, bad)

    with pytest.raises(ConversionError) as info:
        convert_day(raw, catalog, DAY, KEY)

    message = str(info.value)
    assert str(path) in message
    assert "the catalog was left as it was" in message
    for text in expected:
        assert text.lower() in message.lower(), f"{text!r} not in {message!r}"
    # Only the bad file is blamed; the good file of the other data type is not.
    assert info.value.problems and {p for p, _ in info.value.problems} == {str(path)}
    assert info.value.day == DAY and info.value.instrument_key == KEY
    assert _snapshot(catalog) == before


def test_unknown_instrument_key_is_refused_and_catalog_untouched(good):
    raw, catalog, paths, before = good
    bad_key = "FOO:BAR:BAZ"
    path = _write(raw, TRADES, _real(DAY, TRADES), key=bad_key)
    assert path.name == "FOO:BAR:BAZ.parquet"

    with pytest.raises(UnknownInstrumentError) as info:
        convert_day(raw, catalog, DAY, bad_key)

    assert bad_key in str(info.value)
    assert _snapshot(catalog) == before


def test_several_problems_in_one_file_are_all_reported(good):
    raw, catalog, paths, before = good
    bad = _duplicate_ids(_nan_price(_real(DAY, TRADES), None), None)
    _write(raw, TRADES, bad)
    with pytest.raises(ConversionError) as info:
        convert_day(raw, catalog, DAY, KEY)
    checks = {problem.check for _, problem in info.value.problems}
    assert {"positive_price", "trade_ids"} <= checks
    assert _snapshot(catalog) == before


def test_good_file_with_long_gap_is_a_warning_not_a_block(good):
    """Control case: a WARN (gap) must not block, so the corpus above fails for its own reason."""
    raw, catalog, _, _ = good
    result = convert_day(raw, catalog, DAY, KEY, max_gap_secs=0.001)
    assert result.reports[TRADES].warnings and not result.reports[TRADES].errors


# ----------------------------------------------------------------------------- CLI


@pytest.fixture
def no_debug(monkeypatch):
    monkeypatch.delenv("ODUM_DEBUG", raising=False)


def test_cli_convert_bad_file_exits_2_without_traceback(good, capsys, no_debug):
    raw, catalog, paths, before = good
    _write(raw, TRADES, _nan_price(_real(DAY, TRADES), None))

    code = run(["data", "convert", "--raw-root", str(raw), "--catalog", str(catalog)])

    captured = capsys.readouterr()
    assert code == 2
    assert "error:" in captured.err
    assert str(paths[TRADES]) in captured.err
    assert "NaN" in captured.err
    assert "Traceback" not in captured.err + captured.out
    assert _snapshot(catalog) == before


def test_cli_convert_truncated_file_exits_2_without_traceback(good, capsys, no_debug):
    raw, catalog, paths, before = good
    _write(raw, BOOK, _truncated(None, paths[BOOK]))

    code = run(["data", "convert", "--raw-root", str(raw), "--catalog", str(catalog), "--day", DAY.isoformat()])

    captured = capsys.readouterr()
    assert code == 2
    assert "error:" in captured.err and str(paths[BOOK]) in captured.err
    assert "Traceback" not in captured.err + captured.out
    assert _snapshot(catalog) == before


def test_cli_convert_unknown_instrument_file_exits_2(good, capsys, no_debug):
    raw, catalog, _, before = good
    _write(raw, TRADES, _real(DAY, TRADES), key="FOO:BAR:BAZ")

    code = run(["data", "convert", "--raw-root", str(raw), "--catalog", str(catalog)])

    captured = capsys.readouterr()
    assert code == 2
    assert "error:" in captured.err and "FOO:BAR:BAZ" in captured.err
    assert "Traceback" not in captured.err + captured.out
    # The good BTC day was re-converted first (idempotently): still byte-identical.
    assert _snapshot(catalog) == before


# ----------------------------------------------------------------------------- coverage


def _utc_from_micros(micros: int) -> dt.datetime:
    return dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=int(micros))


def _covered_window() -> tuple[dt.datetime, dt.datetime]:
    firsts = [_real(DAY, t).column("local_timestamp")[0].as_py() for t in (TRADES, BOOK)]
    lasts = [_real(DAY, t).column("local_timestamp")[-1].as_py() for t in (TRADES, BOOK)]
    return _utc_from_micros(max(firsts)), _utc_from_micros(min(lasts) + 1)


@pytest.fixture
def raw_day(tmp_path) -> Path:
    raw = tmp_path / "raw"
    for data_type in (TRADES, BOOK):
        _write(raw, data_type, _real(DAY, data_type))
    return raw


def test_coverage_of_a_covered_window(raw_day):
    start, end = _covered_window()
    report = check_raw_coverage(raw_day, KEY, start, end)
    assert report.covered, report.describe()
    assert [day.day for day in report.days] == [DAY]
    assert all(item.rows_in_window > 0 for item in report.days[0].data)
    assert "NOT covered" not in report.describe()


def test_coverage_of_a_window_running_into_a_missing_day(raw_day):
    start, _ = _covered_window()
    end = dt.datetime(2023, 4, 5, 1, 0, tzinfo=dt.UTC)
    report = check_raw_coverage(raw_day, KEY, start, end)
    assert not report.covered
    assert [day.day for day in report.days] == [DAY, DAY + dt.timedelta(days=1)]
    assert report.days[0].ok and not report.days[1].ok
    assert {item.problem for item in report.days[1].data} == {"file not present"}
    text = report.describe()
    assert "NOT covered" in text
    missing_lines = [line for line in text.splitlines() if "MISSING" in line]
    assert missing_lines and all("2023-04-05" in line for line in missing_lines)


def test_coverage_reports_an_unreadable_file(raw_day):
    path = raw_path(raw_day, DAY, TRADES, KEY)
    path.write_bytes(path.read_bytes()[:100])
    start, end = _covered_window()
    report = check_raw_coverage(raw_day, KEY, start, end)
    assert not report.covered
    trades = next(item for item in report.days[0].data if item.data_type == TRADES)
    assert trades.path == str(path) and "Parquet" in trades.problem


def test_cli_check_covered_window_exits_0(raw_day, capsys, no_debug):
    start, end = _covered_window()
    code = run(
        ["data", "check", "--raw-root", str(raw_day), "--instrument", KEY,
         "--start", start.isoformat(), "--end", end.isoformat()]
    )
    captured = capsys.readouterr()
    assert code == 0, captured
    assert "covered" in captured.out and "NOT covered" not in captured.out


def test_cli_check_uncovered_window_exits_1_and_names_the_day(raw_day, capsys, no_debug):
    start, _ = _covered_window()
    code = run(
        ["data", "check", "--raw-root", str(raw_day), "--instrument", KEY,
         "--start", start.isoformat(), "--end", "2023-04-05T01:00:00Z"]
    )
    captured = capsys.readouterr()
    assert code == 1, captured
    assert "NOT covered" in captured.out
    assert any("2023-04-05" in line and "MISSING" in line for line in captured.out.splitlines())


def test_cli_check_json_names_the_missing_day(raw_day, capsys, no_debug):
    import json

    start, _ = _covered_window()
    code = run(
        ["data", "check", "--raw-root", str(raw_day), "--instrument", KEY, "--json",
         "--start", start.isoformat(), "--end", "2023-04-05T01:00:00Z"]
    )
    report = json.loads(capsys.readouterr().out)
    assert code == 1 and report["covered"] is False
    assert [day["day"] for day in report["days"] if not day["ok"]] == ["2023-04-05"]


def test_cli_check_unknown_instrument_exits_2(raw_day, capsys, no_debug):
    code = run(
        ["data", "check", "--raw-root", str(raw_day), "--instrument", "FOO:BAR:BAZ",
         "--start", "2023-04-04T00:00:00Z", "--end", "2023-04-05T00:00:00Z"]
    )
    captured = capsys.readouterr()
    assert code == 2 and "error:" in captured.err and "FOO:BAR:BAZ" in captured.err
    assert "Traceback" not in captured.err


# ----------------------------------------------------------------------------- known gaps (bugs)
# Values that must be refused before encoding (once let through: inf, overflow, negative time).

GAPS = {
    # inf > 0 passes the positive check and the grid check skips non-finite values; the encoder then
    # writes rint(inf).astype(uint64) - in practice a 0.0 price in the catalog.
    "inf-price": (TRADES, lambda t: _set(t, "price", {5: float("inf")}), ["'price'", "inf"]),
    # Above NautilusTrader's PRICE_MAX (~1.7e13): written to the catalog, after which every
    # ParquetDataCatalog.trade_ticks() read panics in the Rust backend ("outside valid range").
    "price-above-nautilus-max": (TRADES, lambda t: _set(t, "price", {5: 1e15}), ["'price'"]),
    # size * 10**3 exceeds 2**64: the uint64 mantissa silently wraps.
    "size-overflowing-u64": (TRADES, lambda t: _set(t, "amount", {5: 1e17}), ["'size'"]),
    # A negative timestamp escapes as a bare pyarrow ArrowInvalid ("Integer value -5000 not in range")
    # from the encoder, naming neither the file nor the column.
    "negative-timestamp": (TRADES, lambda t: _set(t, "timestamp", {0: -5}), ["ts_event"]),
}


@pytest.mark.parametrize("case", list(GAPS))

def test_out_of_range_values_are_refused(good, case):
    raw, catalog, paths, before = good
    data_type, make_bad, expected = GAPS[case]
    _write(raw, data_type, make_bad(_real(DAY, data_type)))
    try:
        with pytest.raises(ConversionError) as info:
            convert_day(raw, catalog, DAY, KEY)
        for text in [str(paths[data_type]), *expected]:
            assert text.lower() in str(info.value).lower()
    finally:
        # A conversion that went through has replaced the good day; it must not have.
        assert _snapshot(catalog) == before


def test_rows_from_another_day_are_refused(tmp_path):
    raw, catalog = tmp_path / "raw", tmp_path / "catalog"
    next_day = DAY + dt.timedelta(days=1)
    for data_type in (TRADES, BOOK):
        _write(raw, data_type, _real(next_day, data_type), day=next_day)
    convert_day(raw, catalog, next_day, KEY)
    before = _snapshot(catalog)
    # The 2023-04-05 trades and book copied into the 2023-04-04 directory by mistake.
    for data_type in (TRADES, BOOK):
        _write(raw, data_type, _real(next_day, data_type), day=DAY)
    with pytest.raises(ConversionError) as info:
        convert_day(raw, catalog, DAY, KEY)
    assert str(raw_path(raw, DAY, TRADES, KEY)) in str(info.value)
    assert _snapshot(catalog) == before


# ----------------------------------------------------------------------------- issue 11: nothing lost


def _dangling(path: Path) -> None:
    path.symlink_to(path.parent / "gone.parquet")


def _loop(path: Path) -> None:
    path.symlink_to(path)


def _directory(path: Path) -> None:
    path.mkdir()


def _fifo(path: Path) -> None:
    os.mkfifo(path)  # reading it would block forever: it must be refused before it is opened


def _device(path: Path) -> None:
    path.symlink_to("/dev/null")


UNREADABLE = {
    "dangling-symlink": (_dangling, "dangling symlink"),
    "symlink-loop": (_loop, "symlink loop"),
    "directory": (_directory, "is a directory"),
    "fifo": (_fifo, "not a regular file"),
    "device": (_device, "not a regular file"),
}


@pytest.mark.parametrize("data_type", [TRADES, BOOK])
@pytest.mark.parametrize("case", list(UNREADABLE))
def test_an_unreadable_raw_file_is_an_error_and_keeps_the_catalog_day(good, case, data_type):
    raw, catalog, paths, before = good
    make, expected = UNREADABLE[case]
    paths[data_type].unlink()
    make(paths[data_type])

    with pytest.raises(ConversionError) as info:
        convert_day(raw, catalog, DAY, KEY)

    assert str(paths[data_type]) in str(info.value)
    assert expected in str(info.value)
    assert _snapshot(catalog) == before


@pytest.mark.parametrize("case", list(UNREADABLE))
def test_cli_convert_reports_an_unreadable_file_and_exits_non_zero(good, case, capsys, no_debug):
    raw, catalog, paths, before = good
    make, expected = UNREADABLE[case]
    paths[BOOK].unlink()
    make(paths[BOOK])

    code = run(["data", "convert", "--raw-root", str(raw), "--catalog", str(catalog)])

    captured = capsys.readouterr()
    assert code == 2
    assert str(paths[BOOK]) in captured.err and expected in captured.err
    assert "Traceback" not in captured.err + captured.out
    assert _snapshot(catalog) == before


@pytest.mark.parametrize("missing", [TRADES, BOOK])
def test_a_missing_data_type_converts_nothing_and_keeps_the_catalog_day(good, missing, capsys, no_debug):
    raw, catalog, paths, before = good
    paths[missing].unlink()

    with pytest.raises(ConversionError) as info:
        convert_day(raw, catalog, DAY, KEY)
    assert str(paths[missing]) in str(info.value) and missing in str(info.value)
    assert _snapshot(catalog) == before

    code = run(["data", "convert", "--raw-root", str(raw), "--catalog", str(catalog)])
    captured = capsys.readouterr()
    assert code == 2 and str(paths[missing]) in captured.err
    assert _snapshot(catalog) == before


def test_tardis_timestamps_in_nanoseconds_are_one_clear_line(good, capsys, no_debug):
    raw, catalog, paths, before = good
    table = _real(DAY, TRADES)
    for name in ("timestamp", "local_timestamp"):
        index = table.column_names.index(name)
        table = table.set_column(index, name, pa.compute.multiply(table.column(name), 1000))
    _write(raw, TRADES, table)

    with pytest.raises(ConversionError) as info:
        convert_day(raw, catalog, DAY, KEY)
    assert str(paths[TRADES]) in str(info.value) and "nanoseconds" in str(info.value)

    code = run(["data", "convert", "--raw-root", str(raw), "--catalog", str(catalog)])
    captured = capsys.readouterr()
    assert code == 2 and "overflow" not in captured.err.split(":", 1)[1][:20]
    assert str(paths[TRADES]) in captured.err and "nanoseconds" in captured.err
    assert _snapshot(catalog) == before


@pytest.mark.parametrize("unit", ["us", "ns"])
def test_arrow_timestamp_columns_convert_and_are_covered(tmp_path, unit):
    raw, catalog = tmp_path / "raw", tmp_path / "catalog"
    for data_type in (TRADES, BOOK):
        table = _real(DAY, data_type)
        for name in ("timestamp", "local_timestamp"):
            micros = table.column(name).cast(pa.int64())
            values = micros if unit == "us" else pa.compute.multiply(micros, 1000)
            table = table.set_column(table.column_names.index(name), name, values.cast(pa.timestamp(unit, "UTC")))
        _write(raw, data_type, table)

    result = convert_day(raw, catalog, DAY, KEY)
    assert result.rows == {TRADES: ROWS, BOOK: ROWS}
    start, end = _covered_window()
    report = check_raw_coverage(raw, KEY, start, end)
    assert report.covered, report.describe()
    reference = check_raw_coverage(_reference_raw(tmp_path), KEY, start, end)
    assert [i.rows_in_window for d in report.days for i in d.data] == [
        i.rows_in_window for d in reference.days for i in d.data
    ]


def _reference_raw(tmp_path: Path) -> Path:
    raw = tmp_path / "reference"
    for data_type in (TRADES, BOOK):
        _write(raw, data_type, _real(DAY, data_type))
    return raw


def test_data_check_says_it_checks_coverage_only(raw_day, capsys, no_debug):
    start, end = _covered_window()
    run(["data", "check", "--raw-root", str(raw_day), "--instrument", KEY, "--start", start.isoformat(), "--end", end.isoformat()])
    assert "coverage only" in capsys.readouterr().out


@pytest.mark.parametrize("name", ["BINANCE-FUTURES:PERPETUAL:BTC USDT", "FOO:BAR:BAZ", "BINANCE-FUTURES:PERPETUAL:BTC-ÜSDT"])
def test_one_stray_raw_file_is_reported_and_skipped(tmp_path, name, capsys, no_debug):
    raw, catalog = tmp_path / "raw", tmp_path / "catalog"
    next_day = DAY + dt.timedelta(days=1)
    for day in (DAY, next_day):
        for data_type in (TRADES, BOOK):
            _write(raw, data_type, pq.read_table(raw_path(REAL, day, data_type, KEY)).slice(0, ROWS), day=day)
    stray = _write(raw, TRADES, _real(DAY, TRADES), key=name)

    code = run(["data", "convert", "--raw-root", str(raw), "--catalog", str(catalog)])

    captured = capsys.readouterr()
    assert code == 2
    assert str(stray) in captured.err
    assert "Traceback" not in captured.err + captured.out
    from odum_pipeline.catalog.preflight import missing_catalog_partitions

    window = (dt.datetime(2023, 4, 4, tzinfo=dt.UTC), dt.datetime(2023, 4, 6, tzinfo=dt.UTC))
    assert missing_catalog_partitions(catalog, KEY, *window) == []


# ----------------------------------------------------------------------------- issue 11.10: bounded windows


def test_a_window_of_thousands_of_years_fails_at_once_with_a_short_message(good, raw_day):
    import time

    from odum_pipeline.catalog.preflight import missing_catalog_partitions

    raw, catalog, _, _ = good
    start, end = dt.datetime(2023, 4, 4, tzinfo=dt.UTC), dt.datetime(9999, 1, 1, tzinfo=dt.UTC)
    for check in (lambda: missing_catalog_partitions(catalog, KEY, start, end), lambda: check_raw_coverage(raw_day, KEY, start, end)):
        began = time.monotonic()
        with pytest.raises(ValueError) as info:
            check()
        assert time.monotonic() - began < 1.0
        assert "9999-01-01" in str(info.value) and "years" in str(info.value) and len(str(info.value)) < 300


def test_a_window_far_from_the_catalog_is_one_short_line(good):
    from odum_pipeline.backtests.runs import check_window_covered
    from odum_pipeline_tests.conftest import REPO_ROOT

    raw, catalog, _, _ = good
    data = json.loads((REPO_ROOT / "configs" / "sample_btc_per_trade_tick.json").read_text())
    data["time_window"] = {"start": "2026-01-01T00:00:00Z", "end": "2028-12-31T00:00:00Z"}
    config = _config(data)
    with pytest.raises(ValueError) as info:
        check_window_covered(config, catalog)
    message = str(info.value)
    assert len(message) < 400 and "2026-01-01" in message and "more" in message and "2023-04-04" in message


def _config(data: dict):
    from odum_pipeline.backtests.config import parse_config

    return parse_config(data)


def test_a_window_with_no_market_data_fails_the_preflight(good):
    from odum_pipeline.backtests.runs import check_window_covered
    from odum_pipeline_tests.conftest import REPO_ROOT

    raw, catalog, _, _ = good
    data = json.loads((REPO_ROOT / "configs" / "sample_btc_per_trade_tick.json").read_text())
    data["time_window"] = {"start": "2023-04-04T10:00:00Z", "end": "2023-04-04T11:00:00Z"}  # the rows are at 23:58
    with pytest.raises(ValueError) as info:
        check_window_covered(_config(data), catalog)
    assert "no market data between 2023-04-04T10:00:00" in str(info.value)

    start, end = _covered_window()
    data["time_window"] = {"start": start.isoformat(), "end": end.isoformat()}
    check_window_covered(_config(data), catalog)  # the control: rows in the window pass


def test_run_backtest_with_a_day_missing_its_book_converts_nothing_and_names_the_file(tmp_path, capsys, no_debug):
    """Issue 11.1: run-backtest must not convert half a day and then advise running the conversion."""
    from odum_pipeline.cli.run_backtest import run as run_backtest

    raw, catalog = tmp_path / "raw", tmp_path / "catalog"
    trades = _write(raw, TRADES, _real(DAY, TRADES))
    start, end = _covered_window()
    code = run_backtest(
        ["--config", "sample_btc_per_trade_tick", "--start", start.isoformat(), "--end", end.isoformat(),
         "--raw-root", str(raw), "--catalog", str(catalog), "--results", str(tmp_path / "results")]
    )
    err = capsys.readouterr().err
    assert code == 2, err
    assert str(raw_path(raw, DAY, BOOK, KEY)) in err and "odum data convert" not in err
    assert trades.exists() and not (catalog / "data").exists()


def test_a_catalog_root_that_is_a_file_is_one_line(raw_day, tmp_path, capsys, no_debug):
    catalog = tmp_path / "catalog-is-a-file"
    catalog.write_text("not a folder")
    code = run(["data", "convert", "--raw-root", str(raw_day), "--catalog", str(catalog)])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and "unexpected" not in err
    assert f"{catalog}: the catalog root is a file" in err
    assert catalog.read_text() == "not a folder"


def test_pipeline_skips_a_config_whose_window_has_no_market_data(good, tmp_path):
    from types import SimpleNamespace

    from odum_pipeline.pipeline import runnable_backtests
    from odum_pipeline_tests.conftest import REPO_ROOT

    raw, catalog, _, _ = good
    configs = tmp_path / "configs"
    configs.mkdir()
    data = json.loads((REPO_ROOT / "configs" / "sample_btc_per_trade_tick.json").read_text())
    data["time_window"] = {"start": "2023-04-04T10:00:00Z", "end": "2023-04-04T11:00:00Z"}
    (configs / "quiet_hour.json").write_text(json.dumps(data))
    lines = []
    resources = {"configs": SimpleNamespace(path=configs), "catalog": SimpleNamespace(path=catalog)}
    assert runnable_backtests(resources, log=lines.append) == []
    assert len(lines) == 1 and "quiet_hour" in lines[0] and "no market data" in lines[0]
