"""``odum compare``: rank the algorithms of each config (TCA computed where missing), print the
table, write the self-contained HTML report and print its path."""

from __future__ import annotations

from odum_pipeline import settings
from odum_pipeline.gcs import location


def register(commands) -> None:
    parser = commands.add_parser(
        "compare", help="compare execution algorithms per config: TCA, ranking, charts, HTML report"
    )
    parser.add_argument("--config", default=None, help="only this config (name); default: every config with report runs")
    parser.add_argument("--results", type=location, default=None, help="results root, folder or gs:// URI (default: the settings')")
    parser.add_argument("--catalog", type=location, default=None, help="catalog root, for the market data (default: the settings')")
    parser.add_argument("--refresh-tca", action="store_true", help="recompute TCA even where a current one exists")
    parser.add_argument(
        "--include-look-ahead", action="store_true",
        help="also rank runs that used information from after their decision times (listed apart by default)",
    )  # fmt: skip
    parser.set_defaults(handler=_compare)


def _compare(args) -> int:
    from odum_pipeline.reports import compare, rendering
    from odum_pipeline.reports.compare_charts import comparison_charts
    from odum_pipeline.reports.results_copy import working_copy

    results = args.results or settings.results_location()
    catalog = args.catalog or settings.catalog_location()
    with working_copy(results, config=args.config) as copy:
        comparisons, computed = compare.build_comparisons(
            copy.root, catalog, config=args.config, refresh_tca=args.refresh_tca,
            include_look_ahead=args.include_look_ahead,
        )  # fmt: skip
        if not comparisons:
            which = f"config {args.config!r}" if args.config else "any config"
            raise FileNotFoundError(f"{results}: no report-mode runs of {which} (run backtests with mode 'report' first)")
        if computed:
            print(f"TCA computed for {len(computed)} run(s)")
        for comparison in comparisons:
            print(f"\n== {comparison.config} (config sha256 {comparison.config_sha[:12]}) ==")
            print(rendering.setup_line(comparison))
            print(rendering.text_table(comparison))
            if comparison.model_risk is not None:
                print(f"model risk: {comparison.model_risk.verdict}")
            for note in comparison.notes:
                print(f"note: {note}")
            html = rendering.write_html(comparison, copy.root, comparison_charts(comparison, catalog))
            print(f"HTML report: {copy.location_of(html)}")
    return 0
