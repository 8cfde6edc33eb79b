"""The self-contained HTML report (the `html` stage): ``reports/<profile>/index.html`` plus ``figures/``.

The page is made of what the other stages wrote into the report folder, never recomputed here:

* ``tables.md`` (the `report` stage: every thesis table with the published column, Δ, the 95 % intervals, runs and
  tracks per cell and the missing-cell reasons; every system at a glance with ``sdr.png``/``rmse_mfcc.png``; the
  "better than doing nothing" and "does every model learn" sections), rendered from markdown, with the figure of
  each thesis table (:mod:`benchmark.reporting.figures`, from ``tables.json``) under its heading;
* ``silence/silence.md`` and ``silence.png`` (the `silence` stage: thesis Figure 3.10);
* ``listen/listen.json`` (the `listen` stage): a *listening* section with an ``<audio>`` player and a spectrogram
  per clip;
* ``properties/`` (the `report` stage with ``--properties``): the drift and level-control sections are part of
  ``tables.md`` (their figures under ``properties/``); their clips (``properties/clips.json``) join the listening
  section.

No network: inline CSS, relative links to the PNGs and clips next to the page. Everything is read and checked
before anything is written; a missing or malformed input raises :class:`HtmlError` naming the file and leaves the
previous page and figures untouched. Same inputs → byte-identical page and figures.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

from benchmark.base.audio import atomic_write
from benchmark.reporting.htmlpage import page, render as _render

FIGURES_DIR = "figures"


class HtmlError(ValueError):
    """A missing or malformed input of the HTML report."""


def _read_json(path: Path, need: tuple[str, ...]) -> dict:
    if not path.is_file():
        raise HtmlError(f"{path}: not found (run the stage that writes it first)")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise HtmlError(f"{path}: not valid JSON ({err})") from None
    missing = [k for k in need if not isinstance(doc, dict) or k not in doc]
    if missing:
        raise HtmlError(f"{path}: missing key(s) {', '.join(missing)}")
    return doc


def _read_text(path: Path) -> str:
    if not path.is_file():
        raise HtmlError(f"{path}: not found (run the stage that writes it first)")
    return path.read_text(encoding="utf-8")


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _with_figures(md: str, figures: dict[str, bytes]) -> str:
    """tables.md with each thesis table's figure under its ``### Table <id> — …`` heading."""
    out = []
    for line in md.splitlines():
        out.append(line)
        m = re.match(r"### Table (\S+) — ", line)
        if m and f"{FIGURES_DIR}/table-{m.group(1)}.png" in figures:
            out += ["", f"![Table {m.group(1)}: ours vs published]({FIGURES_DIR}/table-{m.group(1)}.png)", ""]
    return "\n".join(out)


def _demote(md: str) -> str:
    """One heading level down (the silence page's ``#`` title becomes a section of this page)."""
    return "\n".join("#" + line if line.startswith("#") else line for line in md.splitlines())


def _listening(doc: dict, folder: Path, rel: str) -> str:
    parts = [f"<p>Track <code>{html.escape(doc['track'])}</code>, {doc['seconds']:g} s around the middle of the "
             f"track; {html.escape(doc['codec'])}. Every clip: the system's ordinary inference on that window only. "
             "Spectrograms: magnitude in dBFS, one colour scale (−100…0 dB) for every clip.</p>"]
    for t in doc["tasks"]:
        parts.append(f"<h3 id=\"listen-{_slug(t['task'])}\">{html.escape(t['task'])}: "
                     f"<q>{html.escape(t['query'])}</q></h3>")
        parts.append('<div class="clips">')
        for c in t["clips"]:
            for key in ("audio", "spectrogram"):
                if not (folder / c[key]).is_file():
                    raise HtmlError(f"{folder / 'listen.json'}: {c[key]} (task {t['task']}) not found")
            parts.append(f'<figure class="clip"><figcaption><strong>{html.escape(c["title"])}</strong>'
                         f'</figcaption><audio controls preload="auto"><source '
                         f'src="{rel}/{html.escape(c["audio"])}" type="audio/ogg; codecs=opus"></audio>'
                         f'<img src="{rel}/{html.escape(c["spectrogram"])}" '
                         f'alt="spectrogram: {html.escape(t["task"])}, {html.escape(c["title"])}"></figure>')
        parts.append("</div>")
    return "\n".join(parts)


def _property_clips(folder: Path) -> str:
    """The property clips (``properties/clips.json`` of the report stage): Figure 5.7's and 5.8's outputs."""
    doc = _read_json(folder / "properties" / "clips.json", ("clips",))
    parts = ['<h3 id="listen-properties">Properties: Figure 5.7 (after K applications) and Figure 5.8 (three '
             'levels)</h3>', '<div class="clips">']
    for c in doc["clips"]:
        if not (folder / "properties" / c["audio"]).is_file():
            raise HtmlError(f"{folder / 'properties' / 'clips.json'}: {c['audio']} not found")
        parts.append(f'<figure class="clip"><figcaption><strong>{html.escape(c["title"])}</strong></figcaption>'
                     f'<audio controls preload="auto"><source src="properties/{html.escape(c["audio"])}" '
                     'type="audio/ogg; codecs=opus"></audio></figure>')
    parts.append("</div>")
    return "\n".join(parts)


def build(report_dir: str | Path, *, profile: str) -> Path:
    """Write ``index.html`` and ``figures/table-<id>.png`` into ``report_dir`` from the files the report, silence
    and listen stages wrote there."""
    from benchmark.reporting.figures import table_figures

    folder = Path(report_dir)
    tables_md = _read_text(folder / "tables.md")
    doc = _read_json(folder / "tables.json", ("tables", "profile", "testset"))
    try:
        figures = table_figures(doc, profile)
    except (KeyError, TypeError) as err:
        raise HtmlError(f"{folder / 'tables.json'}: malformed table ({type(err).__name__}: {err})") from None
    _read_json(folder / "silence" / "silence.json", ("rows",))
    silence_md = _read_text(folder / "silence" / "silence.md").replace("](silence.png)", "](silence/silence.png)")
    listen = _read_json(folder / "listen" / "listen.json", ("track", "seconds", "codec", "tasks"))
    listening = _listening(listen, folder / "listen", "listen")
    if (folder / "properties" / "clips.json").is_file():  # the report stage ran with --properties
        listening += "\n" + _property_clips(folder)

    # tables.md without its "# Results" heading (the page's own h1); its first paragraph is the profile note
    body = _render(_with_figures(tables_md, figures)).split("\n", 1)[1]
    body = body.replace("<p>profile ", '<p class="note">profile ', 1)
    sections = re.findall(r'<h2>(.*?)</h2>', body)
    for title in sections:
        body = body.replace(f"<h2>{title}</h2>", f'<h2 id="{_slug(title)}">{title}</h2>', 1)
    nav = [(f"#{_slug(t)}", t) for t in sections] + [("#silent-mixture", "Figure 3.10 — silent mixture"),
                                                    ("#listening", "Listening")]
    body_parts = [f"<h1>amss-bench report — profile {html.escape(profile)}</h1>",
            f"<p>Test set manifest <code>{html.escape(str(doc['testset'].get('manifest_hash')))}</code>, "
            f"{doc['testset'].get('n_tracks')} tracks. Sources: <code>tables.md</code>, <code>tables.json</code>, "
            "<code>summary.json</code> (report stage), <code>silence/</code>, <code>listen/</code>.</p>",
            "<nav><ul>" + "".join(f'<li><a href="{h}">{t}</a></li>' for h, t in nav) + "</ul></nav>",
            body, '<h2 id="silent-mixture">Figure 3.10 — silent mixture</h2>',
            _render(_demote(_demote(silence_md))), '<h2 id="listening">Listening</h2>', listening]
    folder.joinpath(FIGURES_DIR).mkdir(parents=True, exist_ok=True)
    for name in sorted(figures):
        with atomic_write(folder / name, "wb") as fh:
            fh.write(figures[name])
    for stale in sorted((folder / FIGURES_DIR).glob("*.png")):
        if f"{FIGURES_DIR}/{stale.name}" not in figures:
            stale.unlink()
    with atomic_write(folder / "index.html", "w") as fh:
        fh.write(page(f"amss-bench report — profile {profile}", body_parts))
    return folder / "index.html"
