"""``odum data ...``: sample data, conversion into the catalog, pre-flight checks."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from odum_pipeline import settings
from odum_pipeline.backtests.boundary import DOMAIN_ERRORS
from odum_pipeline.catalog import store
from odum_pipeline.catalog.convert import ConversionError, convert_day
from odum_pipeline.catalog.preflight import SNAPSHOT_MODES, check_raw_coverage
from odum_pipeline.catalog.raw_sources import RawSource
from odum_pipeline.catalog.resources import raw_source_from_settings
from odum_pipeline.catalog.sample import DEFAULT_SAMPLE, generate_sample
from odum_pipeline.cli.arguments import UsageError, iso_date, iso_datetime, iso_time
from odum_pipeline.gcs import location


def _add_source_arguments(parser) -> None:
    parser.add_argument(
        "--raw-root", default=None, help="raw root folder (or gs://bucket/prefix); default: $UNIFIED_CLOUD_LOCAL_PATH or ./var/raw"
    )
    parser.add_argument(
        "--data-source",
        "--data_source",  # the seed's spelling, as on run-backtest
        dest="data_source",
        choices=("local", "gcs"),
        default=None,
        help="default: $ODUM_DATA_SOURCE, else local",
    )
    parser.add_argument("--bucket", default=None, help="raw bucket for --data-source gcs (default: $UNIFIED_CLOUD_SERVICES_GCS_BUCKET)")


def _source(args) -> RawSource:
    return raw_source_from_settings(args.data_source, root=args.raw_root, bucket=args.bucket)


def register(commands) -> None:
    data = commands.add_parser("data", help="raw tick data and the catalog").add_subparsers(
        dest="data_command", required=True, metavar="SUBCOMMAND"
    )

    sample = data.add_parser("sample", help="write a deterministic synthetic market in the raw layout")
    sample.add_argument("--raw-root", type=Path, default=None, help="default: $UNIFIED_CLOUD_LOCAL_PATH or ./var/raw")
    sample.add_argument("--day", dest="days", action="append", type=iso_date, help="YYYY-MM-DD (repeatable)")
    sample.add_argument("--instrument", dest="instruments", action="append", help="instrument key (repeatable)")
    sample.add_argument("--start-time", type=iso_time, default=DEFAULT_SAMPLE["start_time"], help="HH:MM UTC")
    sample.add_argument("--end-time", type=iso_time, default=DEFAULT_SAMPLE["end_time"], help="HH:MM UTC")
    sample.add_argument("--schema", choices=("tardis", "nautilus"), default="tardis")
    sample.set_defaults(handler=_sample)

    convert = data.add_parser("convert", help="convert raw files into the NautilusTrader catalog")
    _add_source_arguments(convert)
    convert.add_argument("--catalog", default=None, help="folder or gs:// URI; default: $DATA_CATALOG_PATH or ./var/catalog")
    convert.add_argument("--day", type=iso_date, default=None, help="only this day")
    convert.add_argument("--instrument", default=None, help="only this instrument key")
    convert.set_defaults(handler=_convert)

    check = data.add_parser("check", help="pre-flight: does the raw data cover a window? (coverage only; exit 1 if not)")
    _add_source_arguments(check)
    check.add_argument("--instrument", required=True)
    check.add_argument("--start", required=True, type=iso_datetime, help="ISO time, UTC if no offset")
    check.add_argument("--end", required=True, type=iso_datetime)
    check.add_argument("--snapshot-mode", choices=SNAPSHOT_MODES, default="both")
    check.add_argument("--json", action="store_true", help="print the report as JSON")
    check.set_defaults(handler=_check)


def _sample(args) -> int:
    raw_root = args.raw_root or settings.raw_root()
    files = generate_sample(
        raw_root,
        days=args.days or DEFAULT_SAMPLE["days"],
        instrument_keys=args.instruments or DEFAULT_SAMPLE["instrument_keys"],
        start_time=args.start_time,
        end_time=args.end_time,
        schema=args.schema,
    )
    for item in files:
        print(f"{item.day} {item.instrument_key}: {item.trades_rows:,} trades, {item.book_rows:,} book snapshots")
    print(f"raw root: {raw_root}")
    return 0


def _convert(args) -> int:
    source = _source(args)
    catalog = location(args.catalog) if args.catalog else settings.catalog_location()
    store.check_root(catalog)  # one line once, not once per (day, instrument)
    files_by_cell: dict = {}
    for raw_file in source.discover():
        files_by_cell.setdefault((raw_file.day, raw_file.instrument_key), []).append(str(raw_file.path))
    cells = sorted(files_by_cell)
    cells = [c for c in cells if (args.day is None or c[0] == args.day) and (args.instrument in (None, c[1]))]
    if not cells:
        raise UsageError(
            f"no raw files under {source.label}/raw_tick_data/by_date"
            + (f" for day {args.day}" if args.day else "")
            + (f" for instrument {args.instrument}" if args.instrument else "")
        )
    failed = 0
    for index, (day, instrument) in enumerate(cells, 1):
        try:
            result = convert_day(source, catalog, day, instrument)
        except ConversionError as error:  # already names each file and its problem
            failed += 1
            print(f"error: {error}", file=sys.stderr)
            continue
        except (*DOMAIN_ERRORS, OSError) as error:  # an unknown instrument key, a storage problem: name the files
            failed += 1
            print(f"error: skipped {', '.join(files_by_cell[(day, instrument)])}: {error}", file=sys.stderr)
            continue
        warnings = [str(p) for report in result.reports.values() for p in report.warnings]
        rows = ", ".join(f"{data_type} {count:,}" for data_type, count in result.rows.items())
        print(f"[{index}/{len(cells)}] {day} {instrument}: {rows}" + (f"  warnings: {warnings}" if warnings else ""))
    print(f"catalog: {catalog}")
    if failed:
        print(f"error: {failed} of {len(cells)} (day, instrument) not converted; their catalog days are as they were", file=sys.stderr)
        return 2
    return 0


def _check(args) -> int:
    report = check_raw_coverage(_source(args), args.instrument, args.start, args.end, args.snapshot_mode)
    print(json.dumps(report.to_dict(), indent=2) if args.json else report.describe())
    return 0 if report.covered else 1
