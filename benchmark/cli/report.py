"""``amss-bench report``: tables and figures of a results folder (the `report` pipeline stage)."""

from __future__ import annotations

from benchmark.cli import fail


def _report(args) -> int:
    from benchmark.scoring.aggregate import AggregationError
    from benchmark.reporting.report import build_report

    try:
        path = build_report(args.results, args.testset, args.out, profile=args.profile, properties=args.properties)
    except (AggregationError, FileNotFoundError, ValueError) as err:
        return fail(str(err))
    print(f"wrote {path}")
    return 0


def register(sub) -> None:
    p = sub.add_parser("report", help="aggregate a results folder into summary.json, tables.md and figures")
    p.add_argument("--results", required=True, help="results folder (<system>/<task>/<track>.json)")
    p.add_argument("--testset", required=True, help="test-set folder (manifest.json)")
    p.add_argument("--out", required=True, help="report folder")
    p.add_argument("--profile", required=True, help="profile the results belong to (printed on every output)")
    p.add_argument("--properties", metavar="DIR", help="folder of the evaluate-properties stages "
                   "(<run>/properties.json): drift and level-control sections, figures 5.7/5.8")
    p.set_defaults(func=_report)
