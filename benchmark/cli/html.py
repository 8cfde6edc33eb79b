"""``amss-bench html``: the self-contained HTML report of a report folder (the `html` pipeline stage)."""

from __future__ import annotations

from benchmark.cli import fail


def _html(args) -> int:
    from benchmark.reporting.html import HtmlError, build

    try:
        path = build(args.report, profile=args.profile)
    except HtmlError as err:
        return fail(str(err))
    print(f"wrote {path}")
    return 0


def register(sub) -> None:
    p = sub.add_parser("html", help="index.html (tables, figures, silent mixture, listening) of a report folder")
    p.add_argument("--report", required=True,
                   help="report folder (tables.md, tables.json, silence/, listen/ of the other stages)")
    p.add_argument("--profile", required=True, help="profile of the report (printed on the page)")
    p.set_defaults(func=_html)
