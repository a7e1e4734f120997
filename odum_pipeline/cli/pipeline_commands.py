"""``odum main``: the main job on the embedded defaults, recorded in the local Dagster instance."""

from __future__ import annotations

from pathlib import Path

from odum_pipeline import settings
from odum_pipeline.gcs import location


def register(commands) -> None:
    main = commands.add_parser(
        "main", help="run the main job: sample data (if no raw data) -> catalog -> backtests, in Dagster"
    )
    main.add_argument("--raw-root", type=Path, default=None)
    main.add_argument("--catalog", type=location, default=None, help="folder or gs:// URI")
    main.add_argument("--results", type=location, default=None, help="folder or gs:// URI")
    main.set_defaults(handler=_main)


def _main(args) -> int:
    from odum_pipeline.instance import local_instance
    from odum_pipeline.pipeline import run_main

    instance = local_instance()
    print(f"Dagster home: {instance.root_directory}")
    outcome = run_main(
        instance,
        args.raw_root or settings.raw_root(),
        args.catalog or settings.catalog_location(),
        args.results or settings.results_location(),
        settings.configs_root(),
        settings.algorithms_root(),
    )
    print(
        f"done: {len(outcome['catalog_partitions'])} catalog partition(s), "
        f"{len(outcome['backtests'])} backtest(s), {len(outcome['reports'])} comparison report(s) materialized. "
        "Open the UI: see README (dagster dev)."
    )
    return 0 if outcome["catalog_partitions"] and outcome["backtests"] else 1
