"""``odum``: the project's command line (one entry point, subcommands per domain)."""

from __future__ import annotations

import argparse
import os
import sys
import traceback
import warnings

from dagster import BetaWarning, PreviewWarning

# Dagster flags observable source assets as beta; users of the CLI cannot act on that.
warnings.filterwarnings("ignore", category=BetaWarning)
warnings.filterwarnings("ignore", category=PreviewWarning)

from odum_pipeline.backtests.boundary import USER_ERRORS  # noqa: E402
from odum_pipeline.cli import (  # noqa: E402
    algorithm_commands,
    compare_commands,
    data_commands,
    pipeline_commands,
    venue_commands,
)
from odum_pipeline.cli.process_exit import exit_without_teardown  # noqa: E402

COMMAND_GROUPS = (data_commands, venue_commands, algorithm_commands, compare_commands, pipeline_commands)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="odum", description="odum-pipeline: execution-algorithm backtesting.")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in COMMAND_GROUPS:
        group.register(commands)
    return parser


def run(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except USER_ERRORS as error:  # bad input: our errors say what is wrong
        if args.debug or os.environ.get("ODUM_DEBUG"):
            traceback.print_exc()
        print(f"error: {error}", file=sys.stderr)
        return 2
    except Exception as error:  # noqa: BLE001 - a bug (a pandas ValueError too): say so, keep the trace behind --debug
        if args.debug or os.environ.get("ODUM_DEBUG"):
            traceback.print_exc()
        print(f"error: unexpected {type(error).__name__}: {error} (run with --debug for the traceback)", file=sys.stderr)
        return 1


def main() -> None:
    exit_without_teardown(run())


if __name__ == "__main__":
    main()
