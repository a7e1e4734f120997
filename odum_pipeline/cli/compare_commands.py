"""``odum compare``: rank the algorithms of each config (TCA computed where missing), print the
table, write the self-contained HTML report and print its path."""

from __future__ import annotations

from pathlib import Path

from odum_pipeline import settings


def register(commands) -> None:
    parser = commands.add_parser(
        "compare", help="compare execution algorithms per config: TCA, ranking, charts, HTML report"
    )
    parser.add_argument("--config", default=None, help="only this config (name); default: every config with report runs")
    parser.add_argument("--results", type=Path, default=None, help="results root (default: the settings')")
    parser.add_argument("--catalog", type=Path, default=None, help="catalog root, for the market data (default: the settings')")
    parser.add_argument("--refresh-tca", action="store_true", help="recompute TCA even where a current one exists")
    parser.set_defaults(handler=_compare)


def _compare(args) -> int:
    from odum_pipeline.reports import compare
    from odum_pipeline.reports.compare_charts import comparison_charts

    results = args.results or settings.results_root()
    catalog = args.catalog or settings.catalog_root()
    comparisons, computed = compare.build_comparisons(results, catalog, config=args.config, refresh_tca=args.refresh_tca)
    if not comparisons:
        which = f"config {args.config!r}" if args.config else "any config"
        raise FileNotFoundError(f"{results}: no report-mode runs of {which} (run backtests with mode 'report' first)")
    if computed:
        print(f"TCA computed for {len(computed)} run(s)")
    for comparison in comparisons:
        print(f"\n== {comparison.config} (config sha256 {comparison.config_sha[:12]}) ==")
        print(compare.text_table(comparison))
        for note in comparison.notes:
            print(f"note: {note}")
        path = compare.write_html(comparison, results, comparison_charts(comparison, catalog))
        print(f"HTML report: {path}")
    return 0
