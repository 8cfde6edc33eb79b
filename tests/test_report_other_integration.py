"""The other separators through the whole reporting chain on the tiny fixture (tests/conftest.py): a spatial
separator (DUET) evaluated on the tiny test set reaches the "Other separators" table of ``tables.json``, its dvc
metrics file, the HTML page and the leaderboard (as a built-in row of type "other separator")."""

import json
import shutil

import pytest

from benchmark.cli import main


@pytest.fixture(scope="module")
def report(baseline_results, tmp_path_factory):
    from baselines import get_system
    from benchmark.scoring.evaluate import evaluate

    base = tmp_path_factory.mktemp("other")
    (base / "ts").symlink_to(baseline_results / "ts")
    results = base / "results"
    results.mkdir()
    for run in (baseline_results / "results").iterdir():  # the shared baselines, and DUET beside them
        shutil.copytree(run, results / run.name)  # copies: the results loader does not follow linked folders
    evaluate(get_system("duet"), base / "ts", results, tasks="sdr", backend="sdr-only", progress=False)
    out = base / "report"
    assert main(["-q", "report", "--results", str(results), "--testset", str(base / "ts"), "--out", str(out),
                 "--profile", "embedded"]) == 0
    return out


def test_other_separators_in_tables_json_and_metrics(report):
    doc = json.loads((report / "tables.json").read_text())
    other = next(t for t in doc["tables"] if t["id"] == "other")
    duet = {r["column"]: r for r in other["rows"] if r["model"] == "duet"}
    assert set(duet) == {"vocals", "drums", "bass", "other", "AVG"}
    assert all(r["ours"] is not None and r["n_tracks"] == 2 for r in duet.values())
    ica = [r for r in other["rows"] if r["model"] == "ica"]
    assert ica and all(r["ours"] is None and "no results for ica" in r["missing_reason"] for r in ica)
    metrics = json.loads((report / "metrics" / "duet.json").read_text())  # dvc metrics: one flat file per system
    assert metrics["SDR_vocals"] == round(duet["vocals"]["ours"], 4)
    assert metrics["SDR_AVG"] == round(duet["AVG"]["ours"], 4)
    md = (report / "tables.md").read_text()
    assert "### Other separators" in md and "| duet *(ours only)* |" in md


def test_other_separators_in_the_html_page(report):
    from models import checkpoint, registry

    base = report.parent  # the html stage needs the silence and listen stages' outputs (as tests/test_report_html.py)
    ckpt = base / "runs" / "u7-dcse" / "vocals" / "seed0" / "model.pt"  # untrained: the pipeline, not the quality
    checkpoint.save(registry.create("u7-dcse", profile="embedded", seed=0), ckpt)
    assert main(["-q", "silence", "--runs", str(base / "runs"), "--out", str(report / "silence"),
                 "--profile", "embedded", "--seconds", "1"]) == 0
    assert main(["-q", "listen", "--testset", str(base / "ts"), "--out", str(report / "listen"), "--runs",
                 str(base / "runs"), "--models", "u7-dcse", "--baselines", "oracle", "--tasks", "sdr-vocals",
                 "--seconds", "1", "--profile", "embedded"]) == 0
    assert main(["-q", "html", "--report", str(report), "--profile", "embedded"]) == 0
    html = (report / "index.html").read_text()
    # the registry's MMDenseNet has no result here: its published SiSEC rows (TAK1 a sibling) still print beside it
    assert "Other separators" in html and "TAK1" in html and "sibling" in html
    assert "IRM2 oracle" in html and "SiSEC 2018" in html


def test_other_separators_on_the_leaderboard(report, tmp_path):
    from benchmark.leaderboard.board import build as build_board
    from benchmark.task.testset import TestSet

    ts = TestSet.open(report.parent / "ts")
    doc = build_board(summary_path=report / "summary.json", entries=[], testset=ts, out=tmp_path / "board",
                      profile="embedded")
    rows = {r["name"]: r for r in doc["entries"]}
    assert rows["duet"]["type"] == "other separator" and rows["identity"]["type"] == "baseline"
    assert rows["duet"]["metrics"]["SDR_AVG"]["value"] is not None
