"""Raw readers: Tardis Parquet, pre-converted Parquet and Tardis ``.csv.gz`` read to one normalised
form; Tardis 'unknown' sides stay NO_AGGRESSOR in the catalog; the fixed-point encoder agrees with
NautilusTrader's own ``Price``/``Quantity`` raws.

The rows are real Binance futures BTCUSDT ticks, sliced from ../shared/data/real and written in
each raw form under tmp_path (never copied into the repo).
"""

from __future__ import annotations

import datetime as dt
import functools
import gzip
import io
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from nautilus_trader.model.enums import AggressorSide
from nautilus_trader.model.objects import PRICE_MAX, QUANTITY_MAX, Price, Quantity
from nautilus_trader.persistence.catalog import ParquetDataCatalog

from odum_pipeline.catalog import store
from odum_pipeline.catalog.convert import convert_day
from odum_pipeline.catalog.layout import (
    AGGRESSOR_BUYER,
    AGGRESSOR_SELLER,
    AGGRESSOR_UNKNOWN,
    BOOK,
    BOOK_COLUMNS,
    BOOK_DEPTH,
    RAW_DIR,
    TRADE_COLUMNS,
    TRADES,
    raw_path,
)
from odum_pipeline.catalog.nautilus_arrow import fixed_point_raws
from odum_pipeline.catalog.readers import RawDataError, raw_schema_kind, read_raw
from odum_pipeline_tests.conftest import REAL_DATA, requires_real_data

KEY = "BINANCE-FUTURES:PERPETUAL:BTC-USDT"
DAY = dt.date(2023, 4, 5)
ROWS = 500


REAL = REAL_DATA
needs_real = requires_real_data


@functools.cache
def _tardis(data_type: str) -> pa.Table:
    return pq.read_table(raw_path(REAL, DAY, data_type, KEY)).slice(0, ROWS)


def _with_sides(table: pa.Table, sides: dict[int, str]) -> pa.Table:
    values = table.column("side").to_pylist()
    for row, side in sides.items():
        values[row] = side
    return table.set_column(table.column_names.index("side"), "side", pa.array(values, pa.string()))


# --- the other raw forms, built from the Tardis columns independently of the reader ---

_SIDE_CODES = {"buy": AGGRESSOR_BUYER, "sell": AGGRESSOR_SELLER, "unknown": AGGRESSOR_UNKNOWN}


def _preconverted_trades(tardis: pa.Table) -> pa.Table:
    n = tardis.num_rows
    return pa.table(
        {
            "instrument_key": pa.array([KEY] * n),
            "price": tardis.column("price"),
            "size": tardis.column("amount"),
            "aggressor_side": pa.array([_SIDE_CODES[s] for s in tardis.column("side").to_pylist()], pa.int8()),
            "trade_id": tardis.column("id"),
            "ts_event": pa.array(np.asarray(tardis.column("timestamp")) * 1000, pa.int64()),
            "ts_init": pa.array(np.asarray(tardis.column("local_timestamp")) * 1000, pa.int64()),
        }
    )


def _preconverted_book(tardis: pa.Table) -> pa.Table:
    n = tardis.num_rows
    columns = {
        "instrument_key": pa.array([KEY] * n),
        "ts_event": pa.array(np.asarray(tardis.column("timestamp")) * 1000, pa.int64()),
        "ts_init": pa.array(np.asarray(tardis.column("local_timestamp")) * 1000, pa.int64()),
    }
    for side, tardis_side in (("bid", "bids"), ("ask", "asks")):
        for kind, field in (("price", "price"), ("size", "amount")):
            for i in range(BOOK_DEPTH):
                columns[f"{side}_{kind}_{i}"] = tardis.column(f"{tardis_side}[{i}].{field}")
    return pa.table(columns)


def _write_parquet(path: Path, table: pa.Table) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)
    return path


def _write_csv_gz(path: Path, table: pa.Table) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    pacsv.write_csv(table, buffer)
    path.write_bytes(gzip.compress(buffer.getvalue()))
    return path


def _three_forms(tmp_path: Path, data_type: str, tardis: pa.Table) -> dict[str, Path]:
    """The same rows as Tardis Parquet, pre-converted Parquet and Tardis csv.gz, each in its own raw root."""
    preconverted = _preconverted_trades(tardis) if data_type == TRADES else _preconverted_book(tardis)
    return {
        "tardis-parquet": _write_parquet(raw_path(tmp_path / "tardis", DAY, data_type, KEY), tardis),
        "nautilus-parquet": _write_parquet(raw_path(tmp_path / "nautilus", DAY, data_type, KEY), preconverted),
        "tardis-csv.gz": _write_csv_gz(raw_path(tmp_path / "csv", DAY, data_type, KEY, ".csv.gz"), tardis),
    }


# ----------------------------------------------------------------------------- read_raw


@needs_real
@pytest.mark.parametrize("data_type", [TRADES, BOOK])
def test_three_raw_forms_read_to_identical_tables(tmp_path, data_type):
    tardis = _tardis(data_type)
    if data_type == TRADES:
        tardis = _with_sides(tardis, {3: "unknown", 77: "unknown"})
    paths = _three_forms(tmp_path, data_type, tardis)

    tables = {form: read_raw(path, data_type) for form, path in paths.items()}

    reference = tables["tardis-parquet"]
    expected_columns = list(TRADE_COLUMNS if data_type == TRADES else BOOK_COLUMNS)
    for form, table in tables.items():
        assert table.column_names == expected_columns, form
        assert table.num_rows == ROWS, form
        assert table.schema == reference.schema, form
        assert table.equals(reference), f"{form} differs from the Tardis Parquet read"
    # Values as they are in the raw file: µs -> ns exactly, prices untouched.
    assert reference.column("ts_init").to_pylist() == [t * 1000 for t in tardis.column("local_timestamp").to_pylist()]
    assert reference.column("ts_event").to_pylist() == [t * 1000 for t in tardis.column("timestamp").to_pylist()]
    if data_type == TRADES:
        assert reference.column("price").to_pylist() == tardis.column("price").to_pylist()
        assert reference.column("trade_id").to_pylist() == tardis.column("id").to_pylist()
        assert reference.schema.field("aggressor_side").type == pa.int8()
    else:
        assert reference.column("bid_price_0").to_pylist() == tardis.column("bids[0].price").to_pylist()
        assert reference.column("ask_size_4").to_pylist() == tardis.column("asks[4].amount").to_pylist()


@needs_real
@pytest.mark.parametrize("data_type", [TRADES, BOOK])
def test_schema_kind_is_detected(tmp_path, data_type):
    paths = _three_forms(tmp_path, data_type, _tardis(data_type))
    assert raw_schema_kind(paths["tardis-parquet"], data_type) == "tardis"
    assert raw_schema_kind(paths["tardis-csv.gz"], data_type) == "tardis"
    assert raw_schema_kind(paths["nautilus-parquet"], data_type) == "nautilus"


@needs_real
def test_tardis_sides_map_to_aggressor_codes(tmp_path):
    tardis = _with_sides(_tardis(TRADES), {0: "unknown", 1: "buy", 2: "sell", 3: "unknown"})
    path = _write_parquet(tmp_path / "t.parquet", tardis)
    codes = read_raw(path, TRADES).column("aggressor_side").to_pylist()
    assert codes[:4] == [AGGRESSOR_UNKNOWN, AGGRESSOR_BUYER, AGGRESSOR_SELLER, AGGRESSOR_UNKNOWN]
    expected = [_SIDE_CODES[s] for s in tardis.column("side").to_pylist()]
    assert codes == expected


def test_unknown_data_type_is_refused(tmp_path):
    path = _write_parquet(tmp_path / "t.parquet", pa.table({"ts_event": [1], "ts_init": [1]}))
    with pytest.raises(ValueError, match="unknown data type"):
        read_raw(path, "quotes")


def test_corrupt_csv_gz_names_the_file(tmp_path):
    path = tmp_path / "x.csv.gz"
    path.write_bytes(gzip.compress(b"timestamp,local_timestamp\n1,2\n")[:15])
    with pytest.raises(RawDataError) as info:
        read_raw(path, TRADES)
    assert str(path) in str(info.value)


# ----------------------------------------------------------------------------- unknown side in the catalog


def _catalog_ticks(catalog_root: Path) -> list:
    return ParquetDataCatalog(str(catalog_root)).trade_ticks()


@needs_real
@pytest.mark.parametrize("form", ["tardis-parquet", "tardis-csv.gz", "nautilus-parquet"])
def test_unknown_side_is_no_aggressor_in_catalog(tmp_path, form):
    unknown_rows = {0, 5, 6, 123, ROWS - 1}
    tardis = _with_sides(_tardis(TRADES), {row: "unknown" for row in unknown_rows})
    paths = _three_forms(tmp_path / "raw", TRADES, tardis)
    raw_root = paths[form].parents[4]
    assert (raw_root / RAW_DIR).is_dir()
    book = raw_path(raw_root, DAY, BOOK, KEY)  # a day converts only with both of its files
    book.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(_tardis(BOOK), book)

    convert_day(raw_root, tmp_path / "catalog", DAY, KEY)
    ticks = _catalog_ticks(tmp_path / "catalog")

    assert len(ticks) == ROWS
    by_id = {t.trade_id.value: t.aggressor_side for t in ticks}
    assert len(by_id) == ROWS
    sides = tardis.column("side").to_pylist()
    ids = tardis.column("id").to_pylist()
    expected = {"buy": AggressorSide.BUYER, "sell": AggressorSide.SELLER, "unknown": AggressorSide.NO_AGGRESSOR}
    for trade_id, side in zip(ids, sides, strict=True):
        assert by_id[str(trade_id)] == expected[side], (trade_id, side)
    no_aggressor = {i for i, trade_id in enumerate(ids) if by_id[str(trade_id)] == AggressorSide.NO_AGGRESSOR}
    assert no_aggressor == unknown_rows


@needs_real
def test_three_forms_convert_to_identical_catalog_files(tmp_path):
    """Not just equal normalised tables: the catalog Parquet bytes are the same whatever the raw form."""
    files: dict[str, dict[str, bytes]] = {}
    for data_type in (TRADES, BOOK):
        _three_forms(tmp_path / "raw", data_type, _tardis(data_type))
    for form in ("tardis", "nautilus", "csv"):
        catalog = tmp_path / f"catalog-{form}"
        convert_day(tmp_path / "raw" / form, catalog, DAY, KEY)
        files[form] = {
            str(p.relative_to(catalog)): p.read_bytes()
            for p in sorted((catalog / "data").rglob("*.parquet"))
        }
    assert files["tardis"] and files["tardis"] == files["nautilus"] == files["csv"]
    # And the readers agree on what is in them.
    assert len(_catalog_ticks(tmp_path / "catalog-csv")) == ROWS
    days = store.read_manifest(store.data_directory(tmp_path / "catalog-csv", _trade_tick_cls(), _instrument_id()))
    assert days[DAY.isoformat()]["source"].endswith(".csv.gz")


def _trade_tick_cls():
    from nautilus_trader.model.data import TradeTick

    return TradeTick


def _instrument_id() -> str:
    from odum_pipeline.instruments import resolve

    return resolve(KEY).instrument_id


# ----------------------------------------------------------------------------- fixed-point raws


def _raws_as_ints(array: pa.FixedSizeBinaryArray) -> list[int]:
    return [int.from_bytes(value, "little", signed=True) for value in array.to_pylist()]


@pytest.mark.parametrize("precision", range(9))
def test_fixed_point_raws_match_nautilus(precision):
    rng = np.random.default_rng(20230405 + precision)
    n = 400
    # Mantissas log-uniform over 1 .. 10**13 (so values span 10**-precision .. 10**(13 - precision)),
    # kept where float64 still holds the decimal exactly enough and below NautilusTrader's maxima.
    mantissa = np.unique(np.rint(10 ** rng.uniform(0, 13, n)).astype(np.int64))
    edge = np.array([1, 9, 10, 11, 99, 100, 101, 10**precision, 10**precision + 1, 5 * 10**precision - 1])
    mantissa = np.unique(np.concatenate([mantissa, edge]))
    values = [int(m) / 10**precision for m in mantissa]
    values = [v for v in values if v < min(PRICE_MAX, QUANTITY_MAX)]
    assert len(values) > 300

    price_raws = _raws_as_ints(fixed_point_raws(np.array(values), precision))
    expected_prices = [Price(v, precision).raw for v in values]
    expected_quantities = [Quantity(v, precision).raw for v in values]
    mismatches = [(v, got, want) for v, got, want in zip(values, price_raws, expected_prices) if got != want]
    assert not mismatches, mismatches[:5]
    assert price_raws == expected_quantities
    # And NautilusTrader decodes the raw back to the same decimal.
    for v, raw in zip(values[:50], price_raws[:50]):
        assert Price.from_raw(raw, precision) == Price(v, precision)


@needs_real
def test_fixed_point_raws_of_real_prices_and_sizes():
    trades, book = _tardis(TRADES), _tardis(BOOK)
    columns = [(trades.column("price"), 1), (trades.column("amount"), 3)]
    columns += [(book.column(f"{s}[{i}].price"), 1) for s in ("bids", "asks") for i in range(BOOK_DEPTH)]
    columns += [(book.column(f"{s}[{i}].amount"), 3) for s in ("bids", "asks") for i in range(BOOK_DEPTH)]
    for column, precision in columns:
        values = column.to_pylist()
        assert _raws_as_ints(fixed_point_raws(column.to_numpy(), precision)) == [
            Price(v, precision).raw for v in values
        ]


def test_fixed_point_raws_width_and_zero():
    raws = fixed_point_raws(np.zeros(3), 0)
    assert raws.type == pa.binary(16) or raws.type == pa.binary(8)
    assert _raws_as_ints(raws) == [0, 0, 0]
