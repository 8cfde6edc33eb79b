"""A self-contained HTML page from markdown: the look shared by the report (``benchmark/reporting/html.py``, ``index.html``)
and the leaderboard (``leaderboard.html``). Inline CSS, no scripts, nothing fetched; same text → same bytes."""

from __future__ import annotations

import html

CSS = """
body { font-family: system-ui, sans-serif; margin: 0 auto; max-width: 1280px; padding: 0 1.5em 4em;
       color: #1c1c1c; line-height: 1.45; }
h1 { margin-top: 1em; } h2 { border-bottom: 2px solid #ddd; padding-bottom: .2em; margin-top: 2em; }
h3 { margin-top: 1.6em; }
table { border-collapse: collapse; margin: .6em 0 1em; font-size: 13px; display: block; overflow-x: auto; }
th, td { border: 1px solid #d4d4d4; padding: 3px 7px; text-align: left; vertical-align: top; }
th { background: #f2f2f2; position: sticky; top: 0; } tr:nth-child(even) td { background: #fafafa; }
img { max-width: 100%; height: auto; } code { background: #f3f3f3; padding: 0 .25em; }
details { margin: .4em 0 1em; } summary { cursor: pointer; color: #0a58ca; }
nav ul { columns: 2; } .note { background: #fff6dd; border-left: 4px solid #e0a800; padding: .5em 1em; }
.clips { display: flex; flex-wrap: wrap; gap: 10px; }
figure.clip { margin: 0; }
.clip { border: 1px solid #ddd; border-radius: 4px; padding: 6px; width: 262px; font-size: 13px; }
.clip audio { width: 100%; } .clip img { width: 256px; display: block; }
"""


def render(md: str) -> str:
    """CommonMark with tables (markdown-it-py) → HTML; raw HTML in the markdown passes through."""
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": True}).enable("table").render(md)


def page(title: str, body: list[str]) -> str:
    """A whole page: the shared head (charset, viewport, ``title``, the inline CSS) around the ``body`` parts."""
    return "\n".join(["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
                      '<meta name="viewport" content="width=device-width, initial-scale=1">',
                      f"<title>{html.escape(title)}</title>", f"<style>{CSS}</style>", "</head>", "<body>",
                      *body, "</body>", "</html>", ""])


def standalone_page(title: str, markdown_text: str) -> str:
    """One markdown document (e.g. ``leaderboard.md``) as a whole page; its own ``#`` heading is the page's ``h1``."""
    return page(title, [render(markdown_text)])
