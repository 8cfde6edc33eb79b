"""The HTML report (benchmark/reporting/html.py, benchmark/reporting/figures.py, benchmark/reporting/listen.py; stages `listen` and `html`),
checked in a real browser: headless Chromium loads the page built from the tiny fixture from disk."""

import io
import json
import re
import shutil

import numpy as np
import pytest

from benchmark.task import testset
from benchmark.cli import main

import chromium


@pytest.fixture(scope="module")
def report(baseline_results, tmp_path_factory):
    """A full report folder of the tiny fixture: report + silence + listen stages, then the html stage."""
    from models import checkpoint, registry

    base = tmp_path_factory.mktemp("html")
    for name in ("ts", "results"):  # the shared fixture's test set and baseline results (tests/conftest.py)
        (base / name).symlink_to(baseline_results / name)
    ckpt = base / "runs" / "u7-dcse" / "vocals" / "seed0" / "model.pt"  # untrained: the pipeline, not the quality
    checkpoint.save(registry.create("u7-dcse", profile="embedded", seed=0), ckpt)
    out = base / "report"
    assert main(["-q", "report", "--results", str(base / "results"), "--testset", str(base / "ts"),
                 "--out", str(out), "--profile", "embedded"]) == 0
    assert main(["-q", "silence", "--runs", str(base / "runs"), "--out", str(out / "silence"),
                 "--profile", "embedded", "--seconds", "1"]) == 0
    assert main(["-q", "listen", "--testset", str(base / "ts"), "--out", str(out / "listen"), "--runs",
                 str(base / "runs"), "--models", "u7-dcse", "--baselines", "oracle,dsp-mixture",
                 "--tasks", "sdr-vocals,pan-left-drums", "--seconds", "1", "--profile", "embedded"]) == 0
    assert main(["-q", "html", "--report", str(out), "--profile", "embedded"]) == 0
    return out


#: what a person checks on the page, gathered in the page itself once every <audio> has its metadata (or failed)
PAGE_CHECK = """
(async () => {
  const audios = [...document.querySelectorAll('audio')];
  await Promise.all(audios.map(a => a.readyState >= 1 ? null : new Promise(done => {
    a.addEventListener('loadedmetadata', done); a.addEventListener('error', done, true);
    a.querySelector('source')?.addEventListener('error', done); setTimeout(done, 8000); })));
  await Promise.all([...document.images].map(i => i.decode().catch(() => null)));
  const cells = [...document.querySelectorAll('td')].map(td => td.textContent.trim());
  return {
    tables: document.querySelectorAll('table').length,
    numeric_cells: cells.filter(t => /^-?\\d+\\.\\d\\d\\b/.test(t)).length,
    headings: [...document.querySelectorAll('h2, h3')].map(h => h.textContent),
    images: [...document.images].map(i => ({src: i.getAttribute('src'), w: i.naturalWidth, h: i.naturalHeight})),
    audio: audios.map(a => ({src: a.currentSrc, can: a.canPlayType(a.querySelector('source').type),
                             ready: a.readyState, duration: a.duration, error: a.error && a.error.code})),
    external: [...document.querySelectorAll('[src], link[href]')]
      .map(e => e.getAttribute('src') || e.getAttribute('href')).filter(u => /^(https?:)?\\/\\//.test(u)),
  };
})()
"""


def test_page_in_headless_chromium(report, tmp_path):
    if chromium.find_binary() is None:
        pytest.fail(chromium.MISSING)  # a declared system dependency: never skipped
    result = chromium.load(report / "index.html", PAGE_CHECK, full_page=False)
    page = result["value"]
    assert result["errors"] == [], result["errors"]
    assert page["external"] == []  # self-contained: nothing from the network
    # every thesis table, the overviews, the do-nothing and learning checks, Figure 3.10 and the silence table
    assert page["tables"] >= 11 + 2 + 2 + 1
    assert page["numeric_cells"] > 50
    headings = " | ".join(page["headings"])
    for want in ("Table 3.1 — ", "Table 5.3 — ", "Better than doing nothing?", "Preservation of untouched sources",
                 "Figure 3.10", "sdr-vocals: separate vocals", "Listening"):
        assert want in headings, want
    # images: the overview and per-table figures, the silence figure and one spectrogram per clip, all decoded
    srcs = {i["src"]: i for i in page["images"]}
    assert {"sdr.png", "rmse_mfcc.png", "silence/silence.png", "figures/table-5.3.png"} <= set(srcs)
    assert all(i["w"] > 0 and i["h"] > 0 for i in page["images"]), [i for i in page["images"] if not i["w"]]
    # listening: input, target, the untrained u7-dcse, oracle and dsp-mixture on sdr-vocals; u7-dcse cannot pan
    clips = [a["src"].split("/listen/")[1] for a in page["audio"]]
    assert clips == ["sdr-vocals/input.ogg", "sdr-vocals/target.ogg", "sdr-vocals/u7-dcse.ogg",
                     "sdr-vocals/oracle.ogg", "sdr-vocals/dsp-mixture.ogg", "pan-left-drums/input.ogg",
                     "pan-left-drums/target.ogg", "pan-left-drums/oracle.ogg", "pan-left-drums/dsp-mixture.ogg"]
    for a in page["audio"]:
        assert a["can"] in ("probably", "maybe") and a["error"] is None and a["ready"] >= 1, a
        assert a["duration"] == pytest.approx(1.0, abs=0.05), a  # Opus pre-skip trimmed: the 1-s clip
    from PIL import Image

    shot = Image.open(io.BytesIO(result["screenshot"]))
    assert shot.size == (1280, 900) and len(shot.convert("L").getcolors(1 << 16) or ()) > 10  # not a blank page


def test_page_content_and_determinism(report, tmp_path):
    html = (report / "index.html").read_text()
    assert "not comparable with the thesis" in html
    assert re.search(r"<h3>Table 3\.1 — .*?</h3>\s*<p><img src=\"figures/table-3\.1\.png\"", html)
    # published column and the missing-cell reasons come through from tables.md
    assert "published, not recomputed" in html and "Missing cells:" in html
    assert '<h2 id="preservation-of-untouched-sources">' in html and 'href="#preservation-of-untouched-sources"' in html
    listen = json.loads((report / "listen" / "listen.json").read_text())
    assert [t["task"] for t in listen["tasks"]] == ["sdr-vocals", "pan-left-drums"]
    assert listen["tasks"][0]["start_s"] == pytest.approx(1.0)  # 1 s around the middle of a 3-s track
    # a second run over the same inputs: byte-identical page, figures and clips
    copy = tmp_path / "again"
    shutil.copytree(report, copy)
    for p in [copy / "index.html", *(copy / "figures").glob("*.png")]:
        p.unlink()
    shutil.rmtree(copy / "listen")
    assert main(["-q", "listen", "--testset", str(report.parent / "ts"), "--out", str(copy / "listen"), "--runs",
                 str(report.parent / "runs"), "--models", "u7-dcse", "--baselines", "oracle,dsp-mixture",
                 "--tasks", "sdr-vocals,pan-left-drums", "--seconds", "1", "--profile", "embedded"]) == 0
    assert main(["-q", "html", "--report", str(copy), "--profile", "embedded"]) == 0
    for p in sorted(report.rglob("*")):
        if p.is_file() and (p.suffix in (".html", ".ogg") or p.parent.name == "figures" or p.parent.parent.name
                            == "listen"):
            assert p.read_bytes() == (copy / p.relative_to(report)).read_bytes(), p


def test_clip_is_the_window_of_the_pair(report):
    """The oracle clip decodes to the target window of the test pair (Opus: close, not exact)."""
    import subprocess

    ts = testset.TestSet.open(report.parent / "ts")
    track = ts.tracks()[0]
    pair = ts.load_pair("sdr-vocals", track)
    a = len(pair.target) // 2 - 22050
    want = pair.target[a:a + 44100].mean(axis=1)
    raw = subprocess.run(["ffmpeg", "-loglevel", "error", "-i", str(report / "listen" / "sdr-vocals" / "oracle.ogg"),
                          "-ar", "44100", "-ac", "1", "-f", "f32le", "-"], capture_output=True, check=True).stdout
    got = np.frombuffer(raw, dtype=np.float32)[:len(want)]
    assert len(got) == len(want)
    corr = float(np.dot(got, want) / np.linalg.norm(got) / np.linalg.norm(want))
    assert corr > 0.95


def test_malformed_input_leaves_previous_page(report, tmp_path, capsys):
    copy = tmp_path / "r"
    shutil.copytree(report, copy)
    before = (copy / "index.html").read_bytes()
    (copy / "listen" / "listen.json").write_text('{"track": "x"')
    assert main(["html", "--report", str(copy), "--profile", "embedded"]) == 2
    err = capsys.readouterr().err
    assert "listen.json: not valid JSON" in err and str(copy / "listen" / "listen.json") in err
    assert (copy / "index.html").read_bytes() == before
    (copy / "listen" / "listen.json").write_text(json.dumps({"track": "x", "seconds": 1, "codec": "opus",
                                                             "tasks": [{"task": "t", "query": "q", "clips": [
                                                                 {"title": "a", "audio": "t/a.ogg",
                                                                  "spectrogram": "t/a.png"}]}]}))
    assert main(["html", "--report", str(copy), "--profile", "embedded"]) == 2
    assert "t/a.ogg (task t) not found" in capsys.readouterr().err
    (copy / "tables.json").write_text(json.dumps({"profile": "embedded", "testset": {}}))
    assert main(["html", "--report", str(copy), "--profile", "embedded"]) == 2
    assert "tables.json: missing key(s) tables" in capsys.readouterr().err
    assert (copy / "index.html").read_bytes() == before


def test_listen_errors(report, tmp_path, capsys):
    args = ["listen", "--testset", str(report.parent / "ts"), "--out", str(tmp_path / "l"), "--baselines", "oracle",
            "--models", ""]
    assert main(args + ["--tasks", "sdr-kazoo"]) == 2
    assert "task(s) sdr-kazoo not in the test set" in capsys.readouterr().err
    assert main(args[:-2] + ["--models", "amss-net", "--runs", str(report.parent / "runs")]) == 2
    assert "no checkpoint for model(s) amss-net (have: u7-dcse)" in capsys.readouterr().err
    assert not (tmp_path / "l").exists()


def _cell(system, column, ours, paper, **extra):
    return {"system": system, "column": column, "ours": ours, "paper": paper, "convention": "museval",
            "at_floor": False, **extra}


def test_table_figures_draw_computed_systems_only(monkeypatch):
    """A figure per table with a computed cell; bars = ours, diamonds = published, published-only rows not drawn."""
    from benchmark.reporting import figures

    drawn = []
    import matplotlib.axes

    bar, scatter = matplotlib.axes.Axes.bar, matplotlib.axes.Axes.scatter
    monkeypatch.setattr(matplotlib.axes.Axes, "bar",
                        lambda self, x, h, **k: drawn.append(("bar", k.get("label"), list(h))) or bar(self, x, h, **k))
    monkeypatch.setattr(matplotlib.axes.Axes, "scatter",
                        lambda self, x, y, **k: drawn.append(("paper", list(y))) or scatter(self, x, y, **k))
    doc = {"tables": [
        {"id": "9.1", "metric": "SDR", "unit": "dB", "higher_is_better": True, "rows": [
            _cell("A", "vocals", 5.0, 6.01), _cell("A", "drums", None, 4.17, missing_reason="not evaluated"),
            _cell("A", "vocals", 4.0, None, convention="global"),
            _cell("B", "vocals", 1.5, None), _cell("B", "drums", 2.5, None),
            _cell("Other", "vocals", None, 7.0, published_only=True)]},
        {"id": "9.2", "metric": "SDR", "unit": "dB", "higher_is_better": True, "rows": [
            _cell("Other", "vocals", None, 7.0, published_only=True)]}]}
    out = figures.table_figures(doc, "embedded")
    assert list(out) == ["figures/table-9.1.png"]
    png = out["figures/table-9.1.png"]
    assert png.startswith(b"\x89PNG") and b"Software" not in png and b"Matplotlib" not in png
    bars = [d for d in drawn if d[0] == "bar"]
    assert [b[1] for b in bars] == ["A", "B"]
    assert bars[0][2][0] == 5.0 and np.isnan(bars[0][2][1]) and bars[1][2] == [1.5, 2.5]
    assert [d for d in drawn if d[0] == "paper"] == [("paper", [6.01, 4.17])]


def test_a_figure_does_not_depend_on_what_was_drawn_before():
    """Every figure is drawn under matplotlib's default style (benchmark.reporting.plotting.pristine): a seaborn theme or an
    rcParams change left by an earlier figure or test of the same process does not change its bytes."""
    import matplotlib
    import seaborn as sns

    from benchmark.reporting.listen import spectrogram_png

    audio = np.random.default_rng(0).standard_normal((44100, 2)).astype(np.float32) * 0.1
    before = spectrogram_png(audio, "noise")
    with matplotlib.rc_context():
        sns.set_theme(style="darkgrid", context="poster")
        matplotlib.rcParams["font.size"] = 17
        during = spectrogram_png(audio, "noise")
    assert during == before


def test_no_browser_process_outlives_a_session(tmp_path, monkeypatch):
    """Debian's chromium-headless-shell is a wrapper script whose child is the browser: every process of the session
    (found by its profile folder on the command line) must be gone when ``chromium.load`` returns, or every test
    leaves a browser running."""
    import subprocess
    from pathlib import Path

    if chromium.find_binary() is None:
        pytest.skip(chromium.MISSING)
    if not Path("/proc/self/cmdline").is_file():
        pytest.skip("no /proc to list the running processes (Linux only)")

    profiles = []
    popen = subprocess.Popen

    def recording_popen(args, *rest, **kwargs):
        profiles.extend(a for a in args if str(a).startswith("--user-data-dir="))
        return popen(args, *rest, **kwargs)

    def running(marker: str) -> list[str]:
        found = []
        for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
            try:
                text = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:  # the process ended while we looked
                continue
            if marker in text:
                found.append(text[:120])
        return found

    monkeypatch.setattr(subprocess, "Popen", recording_popen)
    page = tmp_path / "page.html"
    page.write_text("<!doctype html><title>t</title><p id=x>ok</p>")
    out = chromium.load(page, "document.getElementById('x').textContent")
    assert out["value"] == "ok"
    assert len(profiles) == 1
    assert running(profiles[0]) == []
