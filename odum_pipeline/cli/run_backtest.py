"""``run-backtest``: one backtest from the shell, with the seed's flags.

The config (a file, or a name in configs/) is overridden by the flags, validated like any
config, checked against the catalog (missing days are converted from the raw root first), run,
and its run id and result path printed. The same run through Dagster:
``dagster asset materialize -m odum_pipeline.definitions --select backtest_run --partition "ALGO|CONFIG"``.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

from dagster import BetaWarning, PreviewWarning

warnings.filterwarnings("ignore", category=BetaWarning)
warnings.filterwarnings("ignore", category=PreviewWarning)

from odum_pipeline import settings  # noqa: E402
from odum_pipeline.backtests.boundary import USER_ERRORS  # noqa: E402
from odum_pipeline.backtests.config import ConfigError, parse_config, read_document  # noqa: E402
from odum_pipeline.backtests.overrides import with_overrides  # noqa: E402
from odum_pipeline.backtests.runs import WindowNotCoveredError, check_window_covered, run_partition  # noqa: E402
from odum_pipeline.catalog.convert import convert_day  # noqa: E402
from odum_pipeline.catalog.raw_sources import RawSource  # noqa: E402
from odum_pipeline.catalog.resources import raw_source_from_settings  # noqa: E402
from odum_pipeline.cli.arguments import iso_datetime  # noqa: E402
from odum_pipeline.cli.process_exit import exit_without_teardown  # noqa: E402
from odum_pipeline.gcs import location  # noqa: E402
from odum_pipeline.instruments.currencies import summary_money_line  # noqa: E402


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="run-backtest", description="Run one execution backtest on NautilusTrader.")
    parser.add_argument("--config", help="config file, or the name of one in configs/ (default: built from the flags)")
    parser.add_argument("--instrument", help="instrument key, e.g. BINANCE-FUTURES:PERPETUAL:BTC-USDT")
    parser.add_argument("--dataset", help="day of the data set (YYYY-MM-DD); must lie in the window")
    parser.add_argument("--start", type=iso_datetime, help="window start, ISO UTC (overrides the config)")
    parser.add_argument("--end", type=iso_datetime, help="window end, ISO UTC (overrides the config)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--fast", action="store_true", help="write only the summary JSON (default)")
    mode.add_argument("--report", action="store_true", help="write the full report (orders, fills, equity, ...)")
    parser.add_argument("--export_ticks", action="store_true", help="also export the window's ticks (needs --report)")
    parser.add_argument("--snapshot_mode", choices=("trades", "book", "both"))
    parser.add_argument(
        "--data_source",
        choices=("local", "gcs"),
        help="raw data from local disk or GCS (default: the config's environment.data_source, else $ODUM_DATA_SOURCE)",
    )
    parser.add_argument(
        "--replay", choices=("active", "full"),
        help="replay only the intervals in which a parent works (active, default) or every event (full); same results",
    )
    parser.add_argument("--no_close_positions", action="store_true", help="leave the final position open")
    parser.add_argument("--exec_algorithm", help="execution algorithm name (NORMAL, TWAP, ...)")
    parser.add_argument("--exec_algorithm_params", help="JSON object of algorithm parameters")
    parser.add_argument(
        "--raw-root", default=None, help="raw root (folder, gcsfuse mount or gs://bucket/prefix) to convert missing days"
    )
    parser.add_argument("--catalog", default=None, help="catalog folder or gs:// URI")
    parser.add_argument("--results", default=None, help="results folder or gs:// URI")
    parser.add_argument(
        "--timeout", type=_positive_seconds, default=None,
        help="wall-clock limit of each backtest run, seconds (default: environment.timeout_secs, else 600 + 600 per window hour)",
    )
    return parser


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be > 0 seconds, got {text!r}")
    return value


def _config_data(args) -> tuple[dict, str | Path]:
    if args.config:
        path = Path(args.config)
        if not path.exists() and (settings.configs_root() / f"{args.config}.json").exists():
            path = settings.configs_root() / f"{args.config}.json"
        return read_document(path), path
    missing = [flag for flag in ("instrument", "start", "end") if getattr(args, flag) is None]
    if missing:
        raise ConfigError(f"without --config, --{', --'.join(missing)} must be given")
    return {"name": "cli", "instrument": {"id": args.instrument}, "time_window": {}}, "<command line>"


def apply_overrides(data: dict, args) -> dict:
    """The flags win over the config file."""
    return with_overrides(
        data,
        instrument=args.instrument,
        start=args.start.isoformat() if args.start else None,
        end=args.end.isoformat() if args.end else None,
        snapshot_mode=args.snapshot_mode,
        data_source=args.data_source,
        mode=("report" if args.report else "fast") if args.fast or args.report else None,
        export_ticks=args.export_ticks,
        close_positions=False if args.no_close_positions else None,
        replay=args.replay,
        algorithm=args.exec_algorithm,
        params_json=args.exec_algorithm_params,
        labels=("--exec_algorithm", "--exec_algorithm_params"),
    )


def _check_dataset(config, dataset: str | None) -> None:
    if dataset is None:
        return
    day = dataset.removeprefix("day-")
    start, end = config.time_window.start.date().isoformat(), config.time_window.end.date().isoformat()
    if not (start <= day <= end):
        raise ConfigError(f"--dataset {dataset} is outside the window {config.time_window.start} -> {config.time_window.end}")


def _raw_source(config, raw_root: str | None) -> RawSource:
    """The flag or the config's ``environment.data_source`` when set there, else ``$ODUM_DATA_SOURCE``."""
    explicit = "data_source" in config.environment.model_fields_set
    return raw_source_from_settings(config.environment.data_source.value if explicit else None, root=raw_root)


def _ensure_catalog(config, raw_root: RawSource, catalog_root: Path | str) -> None:
    """Convert the window's missing days from the raw source, so a first run just works."""
    try:
        check_window_covered(config, catalog_root)
        return
    except WindowNotCoveredError as error:
        convertible = [
            (day, key) for day, key in error.missing if raw_root.find(day, "trades", key) is not None
        ]
        if len(convertible) < len(error.missing):
            raise
    for day, key in convertible:
        print(f"converting {key} {day} from {raw_root} into the catalog ...", file=sys.stderr)
        convert_day(raw_root, catalog_root, day, key)


class Progress:
    """Progress of the replay on stderr: a redrawn bar on a terminal; elsewhere (a pipe, a CI or
    Dagster log) one plain line per 10 % step or every ``every_secs``, whichever comes first."""

    def __init__(self, stream=None, every_secs: float = 5.0, clock=time.monotonic) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.every_secs, self.clock = every_secs, clock
        self.label: str | None = None
        self.step = -1
        self.at = 0.0

    def __call__(self, label: str, share: float, events: int | None = None) -> None:
        counted = f" {events:>12,} events" if events is not None else ""
        if self.tty:
            filled = int(share * 30)
            self.stream.write(f"\r{label:<12} [{'#' * filled}{'.' * (30 - filled)}] {share:6.1%}{counted}")
            if share >= 1.0:
                self.stream.write("\n")
        else:
            if label != self.label:
                self.label, self.step, self.at = label, -1, self.clock()
            step, now = int(share * 10), self.clock()
            if step <= self.step and now - self.at < self.every_secs:
                return
            if share >= 1.0 and self.step == 10:
                return
            self.step, self.at = max(step, self.step), now
            plain = f" ({events:,} events)" if events is not None else ""
            self.stream.write(f"{label}: {share:.0%} of the window replayed{plain}\n")
        self.stream.flush()


def market_line(summary: dict) -> str:
    """What the run's numbers assume, and what it left unfilled."""
    market = summary.get("market") or {}
    figures = summary["summary"]
    flags = [name for name in ("liquidity_consumption", "queue_position", "impact") if market.get(name)]
    look_ahead = "  LOOK-AHEAD (not ranked)" if (summary.get("look_ahead") or {}).get("used") else ""
    return (
        f"market {market.get('preset')}: latency {market.get('order_latency_ms', 0):g} ms, "
        f"{', '.join(flags) or 'no consumption/queue/impact'}  unfilled {figures.get('unfilled_qty', 0):g}{look_ahead}"
    )


def run(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.export_ticks and not args.report:
        parser.error("--export_ticks needs --report")
    try:
        data, source = _config_data(args)
        config = parse_config(apply_overrides(data, args), source=source)
        _check_dataset(config, args.dataset)
        catalog_root = location(args.catalog or config.data_catalog.path or settings.catalog_location())
        _ensure_catalog(config, _raw_source(config, args.raw_root), catalog_root)
        for name in config.execution.names():
            for variant, outcome in run_partition(
                config,
                name,
                algorithms_root=settings.algorithms_root(),
                var_root=settings.var_root(),
                catalog_root=catalog_root,
                results_root=location(args.results) if args.results else settings.results_location(),
                progress=Progress(),
                timeout_secs=args.timeout,
            ):
                figures = outcome.summary["summary"]
                print(f"{variant.label}: run id {outcome.run_id}")
                print(f"  result: {outcome.result_path}")
                print(f"  orders {figures['orders']}  fills {figures['fills']}  filled {figures['filled_qty']}")
                print(f"  {summary_money_line(outcome.summary)}")
                print(f"  {market_line(outcome.summary)}")
        return 0
    except USER_ERRORS as error:  # BacktestRunError (a timeout, the algorithm raised) included
        print(f"\nerror: {error}", file=sys.stderr)
        return 2


def main() -> None:
    exit_without_teardown(run())
