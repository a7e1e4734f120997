"""Benchmark: catalog conversion of a synthetic full day of one instrument.

Requirement: converting a synthetic full day of one instrument (~3 million trades and ~3
million book rows) - rows/s, peak memory, and the ratio to a bare pyarrow read+write of the
same files measured in the same run. Targets: ratio <= 3, peak memory < 4 GiB.

This is a benchmark, not a test: it prints figures and PASS/MISS, it asserts nothing about time.

    .venv/bin/python benchmarks/convert_full_day.py [--workdir DIR] [--trades-per-second N] [--keep]

Steps:

1. Generate the synthetic day (``odum_pipeline.catalog.sample.generate_day``) into the workdir
   (not counted).
2. Baseline: ``pq.read_table`` of both raw files + ``pq.write_table`` of them (snappy,
   row_group_size 50_000, as the catalog writes) into another folder.
3. Conversion: ``odum_pipeline.catalog.convert.convert_day`` into a fresh catalog directory.

Each measurement runs in its own fresh subprocess (this script with ``--worker``) so its peak
RSS (``ru_maxrss``) is its own; imports happen before the clock starts. Baseline and
conversion alternate, ``--repeats`` (default 2) times each; the best time counts and the peak
memory reported is the highest seen. If the ratio target is missed, convert_day is profiled
(cProfile, in one more subprocess) and the top functions by cumulative time are printed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time
from pathlib import Path

import harness

DAY = dt.date(2023, 5, 23)
INSTRUMENT_KEY = "BINANCE-FUTURES:PERPETUAL:BTC-USDT"
SNAPSHOT_INTERVAL_MS = (15, 60)
DEFAULT_TRADES_PER_SECOND = 35.0
ROW_GROUP_SIZE = 5_000  # as odum_pipeline.catalog.store writes
COMPRESSION = "snappy"
RATIO_TARGET = 3.0
MEMORY_TARGET_BYTES = 4 * 1024**3
GIB = 1024**3


# ------------------------------------------------------------------------------ worker side


def _worker_generate(raw_root: Path, trades_per_second: float) -> dict:
    from odum_pipeline.catalog.sample import generate_day

    start = time.perf_counter()
    files = generate_day(
        raw_root, DAY, INSTRUMENT_KEY, trades_per_second=trades_per_second, snapshot_interval_ms=SNAPSHOT_INTERVAL_MS
    )
    return {
        "seconds": time.perf_counter() - start,
        "paths": {"trades": str(files.trades_path), "book_snapshot_5": str(files.book_path)},
        "rows": {"trades": files.trades_rows, "book_snapshot_5": files.book_rows},
    }


def _worker_baseline(raw_files: dict[str, str], out: Path) -> dict:
    import pyarrow.parquet as pq  # only pyarrow: the bare baseline imports nothing of the project

    files = {data_type: Path(path) for data_type, path in raw_files.items()}
    rss_before = harness.peak_rss_bytes()
    start = time.perf_counter()
    rows = {}
    for data_type, path in files.items():
        table = pq.read_table(path)
        target = out / data_type / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, target, row_group_size=ROW_GROUP_SIZE, compression=COMPRESSION)
        rows[data_type] = table.num_rows
        del table
    seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        "rows": rows,
        "peak_rss": harness.peak_rss_bytes(),
        "vm_hwm": harness.vm_hwm_bytes(),
        "rss_after_imports": rss_before,
    }


def _worker_convert(raw_root: Path, out: Path) -> dict:
    from odum_pipeline.catalog import store
    from odum_pipeline.catalog.convert import CATALOG_CLASSES, convert_day
    from odum_pipeline.instruments import resolve

    rss_before = harness.peak_rss_bytes()
    start = time.perf_counter()
    result = convert_day(raw_root, out, DAY, INSTRUMENT_KEY)
    seconds = time.perf_counter() - start
    instrument_id = resolve(INSTRUMENT_KEY).instrument_id
    return {
        "seconds": seconds,
        "rows": result.rows,
        "directories": {t: str(store.data_directory(out, cls, instrument_id)) for t, cls in CATALOG_CLASSES.items()},
        "peak_rss": harness.peak_rss_bytes(),
        "vm_hwm": harness.vm_hwm_bytes(),
        "rss_after_imports": rss_before,
    }


# Stages of convert_day, located in the profile by (module file suffix, function name).
_STAGES = [
    ("source sha256", "catalog/convert.py", "file_sha256"),
    ("read_raw (read + normalise)", "catalog/readers.py", "read_raw"),
    ("check_ticks", "catalog/checks.py", "check_ticks"),
    ("_write_instrument", "catalog/convert.py", "_write_instrument"),
    ("_encode (Nautilus Arrow)", "catalog/convert.py", "_encode"),
    ("store.replace_day (write)", "catalog/store.py", "replace_day"),
    ("  of which pq.write_table", "pyarrow/parquet/core.py", "write_table"),
    ("  of which os.fsync", "~", "<built-in method posix.fsync>"),
]


def _worker_profile(raw_root: Path, out: Path, top: int) -> dict:
    from odum_pipeline.catalog.convert import convert_day

    return harness.profiled(lambda: convert_day(raw_root, out, DAY, INSTRUMENT_KEY), _STAGES, top)


def _run_worker(args: argparse.Namespace) -> None:
    raw_root, out = Path(args.raw_root), Path(args.out)
    if args.worker == "generate":
        report = _worker_generate(raw_root, args.trades_per_second)
    elif args.worker == "baseline":
        report = _worker_baseline(json.loads(args.raw_files), out)
    elif args.worker == "convert":
        report = _worker_convert(raw_root, out)
    else:
        report = _worker_profile(raw_root, out, args.top)
    harness.emit(report)


# ------------------------------------------------------------------------------ driver side


def _spawn(kind: str, raw_root: Path, out: Path, *extra: str) -> dict:
    """One measurement in a fresh interpreter (see ``harness``: the driver stays light)."""
    return harness.spawn(__file__, kind, ["--raw-root", str(raw_root), *extra], out=out)


def _parquet_rows(path: Path) -> int:
    import pyarrow.parquet as pq

    return pq.ParquetFile(path).metadata.num_rows


def _catalog_rows(directories: dict[str, str]) -> dict[str, tuple[int, list[Path]]]:
    """Rows (Parquet metadata) of the ``*.parquet`` files on disk in each catalog data directory."""
    found = {}
    for data_type, directory in directories.items():
        files = sorted(Path(directory).glob("*.parquet"))
        found[data_type] = (sum(_parquet_rows(f) for f in files), files)
    return found


def _fmt_bytes(n: float) -> str:
    return f"{n / GIB:.2f} GiB ({n / 1024**2:,.0f} MiB)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, help="where to put raw files and outputs (default: a new temp dir)")
    parser.add_argument("--trades-per-second", type=float, default=DEFAULT_TRADES_PER_SECOND)
    parser.add_argument("--keep", action="store_true", help="keep the workdir afterwards")
    parser.add_argument("--repeats", type=int, default=2, help="runs of each measurement; the best time counts")
    parser.add_argument("--profile", action="store_true", help="profile convert_day even if the ratio target is met")
    parser.add_argument("--top", type=int, default=15, help="profile lines to print")
    parser.add_argument("--worker", choices=("generate", "baseline", "convert", "profile"), help=argparse.SUPPRESS)
    parser.add_argument("--raw-root", help=argparse.SUPPRESS)
    parser.add_argument("--raw-files", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        _run_worker(args)
        return 0

    with harness.workdir(args.workdir, prefix="odum-bench-convert-", keep=args.keep) as workdir:
        return _benchmark(args, workdir, workdir / "raw")


def _benchmark(args: argparse.Namespace, workdir: Path, raw_root: Path) -> int:
    print(f"workdir: {workdir}")
    print(f"generating {INSTRUMENT_KEY} {DAY} (full day, trades_per_second={args.trades_per_second:g}, "
          f"snapshot_interval_ms={SNAPSHOT_INTERVAL_MS}) ...", flush=True)
    generated = _spawn("generate", raw_root, raw_root, "--trades-per-second", str(args.trades_per_second))
    raw_files = generated["paths"]
    raw_rows = generated["rows"]
    total_rows = sum(raw_rows.values())
    raw_bytes = sum(Path(path).stat().st_size for path in raw_files.values())
    print(f"generated {raw_rows['trades']:,} trades + {raw_rows['book_snapshot_5']:,} book rows = {total_rows:,} rows, "
          f"{raw_bytes / 1024**2:,.1f} MiB Parquet, in {generated['seconds']:.1f} s (not counted)", flush=True)

    baselines, conversions = [], []
    for run in range(1, args.repeats + 1):
        baselines.append(_spawn("baseline", raw_root, workdir / "baseline", "--raw-files", json.dumps(raw_files)))
        print(f"run {run}: baseline   {baselines[-1]['seconds']:7.2f} s, peak RSS {_fmt_bytes(baselines[-1]['peak_rss'])}",
              flush=True)
        conversions.append(_spawn("convert", raw_root, workdir / "catalog"))
        print(f"run {run}: conversion {conversions[-1]['seconds']:7.2f} s, peak RSS {_fmt_bytes(conversions[-1]['peak_rss'])}",
              flush=True)

    base_s = min(r["seconds"] for r in baselines)
    conv_s = min(r["seconds"] for r in conversions)
    base_peak = max(r["peak_rss"] for r in baselines)
    conv_peak = max(r["peak_rss"] for r in conversions)
    ratio = conv_s / base_s
    ratio_ok = ratio <= RATIO_TARGET
    memory_ok = conv_peak < MEMORY_TARGET_BYTES

    # Row counts, all from Parquet metadata: the raw files vs the files of the last catalog on disk.
    catalog = _catalog_rows(conversions[-1]["directories"])
    rows_ok = True
    count_lines = []
    for data_type, generated_rows in raw_rows.items():
        raw_count = _parquet_rows(Path(raw_files[data_type]))
        cat_count, cat_files = catalog[data_type]
        ok = raw_count == generated_rows == cat_count and len(cat_files) == 1
        rows_ok &= ok
        count_lines.append(f"  {data_type:<16} raw {raw_count:>12,}   catalog {cat_count:>12,} "
                           f"({len(cat_files)} file)   {'OK' if ok else 'MISMATCH'}")

    width = 34
    print()
    print(f"Catalog conversion benchmark: {INSTRUMENT_KEY} {DAY}, full day, best of {args.repeats}")
    print("-" * 84)
    print(f"{'rows (trades + book)':<{width}} {total_rows:>14,}   ({raw_rows['trades']:,} + {raw_rows['book_snapshot_5']:,})")
    print(f"{'baseline: pyarrow read+write':<{width}} {base_s:>12.2f} s   ({total_rows / base_s:,.0f} rows/s)")
    print(f"{'conversion: convert_day':<{width}} {conv_s:>12.2f} s")
    print(f"{'conversion rows/s':<{width}} {total_rows / conv_s:>14,.0f}")
    print(f"{'ratio conversion / baseline':<{width}} {ratio:>14.2f}   target <= {RATIO_TARGET:g}      {harness.verdict(ratio_ok)}")
    print(f"{'peak memory (RSS), baseline':<{width}} {base_peak / GIB:>10.2f} GiB   ({base_peak / 1024**2:,.0f} MiB)")
    print(f"{'peak memory (RSS), conversion':<{width}} {conv_peak / GIB:>10.2f} GiB   ({conv_peak / 1024**2:,.0f} MiB)  "
          f"target < 4 GiB   {harness.verdict(memory_ok)}")
    print(f"{'catalog rows == raw rows':<{width}} {'yes' if rows_ok else 'NO':>14}")
    print("\n".join(count_lines))
    print("-" * 84)
    print("all runs (s):  baseline " + ", ".join(f"{r['seconds']:.2f}" for r in baselines)
          + "   conversion " + ", ".join(f"{r['seconds']:.2f}" for r in conversions))
    print("peak RSS after imports, before the clock: "
          f"baseline {baselines[0]['rss_after_imports'] / 1024**2:,.0f} MiB, "
          f"conversion {conversions[0]['rss_after_imports'] / 1024**2:,.0f} MiB")
    hwm = [r.get("vm_hwm") for r in baselines + conversions]
    if all(hwm):
        print(f"cross-check VmHWM (MiB): baseline {', '.join(f'{h / 1024**2:,.0f}' for h in hwm[:len(baselines)])}   "
              f"conversion {', '.join(f'{h / 1024**2:,.0f}' for h in hwm[len(baselines):])}")

    if not ratio_ok or args.profile:
        print()
        print(("ratio target missed: " if not ratio_ok else "") + "profiling convert_day (cProfile, separate subprocess) ...",
              flush=True)
        profile = _spawn("profile", raw_root, workdir / "catalog-profile", "--top", str(args.top))
        total = profile["seconds"]
        print(f"\nconvert_day under cProfile: {total:.2f} s (profiler overhead included)")
        print("stage breakdown (cumulative):")
        for label, _calls, seconds in profile["stages"]:
            print(f"  {label:<30} {seconds:8.2f} s  {100 * seconds / total:5.1f} %")
        print(f"\ntop {args.top} by cumulative time:")
        print(profile["top"].rstrip())
    return 0 if rows_ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
