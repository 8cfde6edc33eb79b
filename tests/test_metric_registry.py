"""The metric registry is the one place per metric: every key a result or a summary carries is in it, the
tasks declare their families there, and a metric added to the registry flows into evaluation, result validation,
aggregation and `amss-bench tasks` with no other edit."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from baselines.identity import IdentitySystem
from benchmark.scoring import aggregate as agg
from benchmark.scoring import metricinfo
from benchmark.scoring import results as res
from benchmark.task import tasks as tasks_mod
from benchmark.cli import main
from benchmark.scoring.evaluate import evaluate
from benchmark.task.tasks import EVAL_TASKS, get_task


def peak_error(reference, estimate) -> dict:
    """A metric that is not in the suite: the largest absolute sample error (the fake family's compute)."""
    return {"peak_error": float(np.max(np.abs(np.asarray(reference, np.float64) - estimate)))}


@pytest.fixture
def fake_metric(monkeypatch):
    """A new family ``peak`` (one key, ``peak_error``, stored under ``scores``) declared by the edit tasks — the
    registry entry and the declaration, nothing else."""
    fam = metricinfo.Family("peak", f"{__name__}:peak_error", "scores", "max over samples → mean over tracks → "
                            "mean over runs", "mean", "source", metricinfo._scores_per_track)
    monkeypatch.setitem(metricinfo.FAMILIES, "peak", fam)
    monkeypatch.setitem(metricinfo.METRICS, "peak_error",
                        metricinfo.MetricInfo("peak_error", "peak", False, "amplitude", None, "peak error"))
    declared = tasks_mod.KIND_FAMILIES["mfcc"]
    monkeypatch.setitem(tasks_mod.KIND_FAMILIES, "mfcc", (*declared, "peak"))
    edit = [t for t in EVAL_TASKS if t.kind == "mfcc"]
    for t in edit:  # what _build derives from KIND_FAMILIES at import (Task is frozen)
        object.__setattr__(t, "metric_families", (*declared, "peak"))
    res.schema.cache_clear()
    res._validator.cache_clear()
    try:
        yield fam
    finally:
        for t in edit:
            object.__setattr__(t, "metric_families", declared)
        res.schema.cache_clear()
        res._validator.cache_clear()


# ------------------------------------------------------------------------------------------------ the registry

def test_every_family_and_declaration_resolves():
    assert set(m.family for m in metricinfo.METRICS.values()) == set(metricinfo.FAMILIES)
    for kind, families in tasks_mod.KIND_FAMILIES.items():
        assert families and all(f in metricinfo.FAMILIES for f in families), kind
    for t in EVAL_TASKS:
        assert t.metric_families == tasks_mod.KIND_FAMILIES[t.kind]
        assert all(t.scores_with(f) for f in t.metric_families) and not t.scores_with("nope")
    for f in metricinfo.FAMILIES.values():
        assert callable(f.function()) and f.metrics and f.over_tracks in metricinfo.OVER_TRACKS
        assert f.group in ("AVG", "source")
    # the statistics of today's aggregation, word for word (summary.json "rules")
    assert agg.STAT == {"bss_eval": "median over frames (NaN skipped) → median over tracks → mean over runs",
                        "global_sdr": "whole-track SDR → mean over tracks → mean over runs",
                        "rmse_mfcc": "mean over tracks → mean over runs",
                        "preservation": "untouched sources' energy / their share of the error (256-tap fit, pooled, "
                                        "capped at 100 dB) → mean over tracks → mean over runs"}
    assert agg.SDR_METRICS == ("SDR", "ISR", "SIR", "SAR") and res.MFCC_KEYS == (
        "mfcc_rmse", "mfcc_rmse_left", "mfcc_rmse_right", "mae", "mae_left", "mae_right")


def test_the_schema_file_spells_out_the_registry_scores():
    on_disk = json.loads(res.SCHEMA_PATH.read_text())["properties"]["scores"]
    assert on_disk == res.scores_schema()


def test_importing_the_registry_imports_no_metric_back_end():
    code = ("import sys, benchmark.scoring.metricinfo, benchmark.task.tasks; "
            "print(sorted(m for m in ('torch', 'museval', 'librosa', 'benchmark.scoring.metrics') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_errors_name_the_unknown_metric_family_and_kind():
    with pytest.raises(KeyError, match="unknown metric 'SNR'.*SDR"):
        metricinfo.info("SNR")
    with pytest.raises(KeyError, match="unknown metric family 'pesq'.*bss_eval"):
        metricinfo.family("pesq")
    with pytest.raises(KeyError, match="unknown task kind 'asr'.*sdr"):
        tasks_mod.families_of_kind("asr")
    bare = tasks_mod.Task("x-1", 1, "separate vocals", "sdr", "vocals", "5.2", "vocals")
    with pytest.raises(ValueError, match="task 'x-1' declares no metric family"):
        metricinfo.task_metrics(bare)


def test_directions_floors_and_statistics_by_family():
    for m in metricinfo.METRICS.values():
        f = metricinfo.FAMILIES[m.family]
        assert m.higher_is_better == (f.name in ("bss_eval", "global_sdr", "preservation"))
        assert (m.floor == metricinfo.BSS_FLOOR_DB) == m.higher_is_better
    x = np.array([[1.0, np.nan, 3.0, 10.0]])
    assert metricinfo.family("bss_eval").track_stat()(x, axis=1).tolist() == [3.0]  # NaN skipped
    assert metricinfo.family("rmse_mfcc").track_stat()(np.array([[1.0, 2.0, 6.0]]), axis=1).tolist() == [3.0]


# ------------------------------------------------------------------------------------- results and summaries

def test_every_key_of_results_and_summary_is_in_the_registry(baseline_results):
    docs = res.load_results(baseline_results / "results")
    assert {d["kind"] for d in docs} == {"sdr", "mfcc"}
    for d in docs:
        task = get_task(d["task"]["id"])
        declared = set(metricinfo.task_metrics(task))
        if d["kind"] == "sdr":
            keys = {k for fr in d["targets"][0]["frames"] for k in fr["metrics"]} | {"global_SDR"}
        else:
            keys = set(d["scores"])
        assert keys <= declared, (d["task"]["id"], keys - declared)
    summary = json.loads((baseline_results / "results" / "identity" / res.SUMMARY).read_text())
    assert set(summary["rules"]) - {"std", "ci"} == set(metricinfo.FAMILIES)
    for row in summary["cells"] + summary["groups"]:
        info = metricinfo.info(row["metric"])
        assert row["family"] == info.family
        assert row["stat"].endswith(metricinfo.family(info.family).statistic)


# ------------------------------------------------------------------------------------- a metric added in one place

def test_a_new_metric_flows_into_evaluation_and_aggregation(fake_metric, tiny_root, tmp_path):
    from benchmark.task.testset import build

    ts = tmp_path / "ts"
    build(tiny_root, ts, tasks=(get_task("pan-left-vocals"),), progress=False)
    out = tmp_path / "out"
    evaluate(IdentitySystem(), ts, out, tasks="pan-left-vocals", backend="sdr-only", workers=1, progress=False)
    docs = res.load_results(out)  # validated against the schema, whose scores block now holds peak_error
    assert docs and all(set(d["scores"]) == {*res.MFCC_KEYS, "peak_error"} for d in docs)
    assert all(d["scores"]["peak_error"] >= 0 for d in docs)
    summary = json.loads((out / "identity" / res.SUMMARY).read_text())
    cell = [c for c in summary["cells"] if c["metric"] == "peak_error"]
    assert len(cell) == 1 and cell[0]["family"] == "peak" and cell[0]["stat"] == fake_metric.statistic
    assert cell[0]["value"] == pytest.approx(np.mean([d["scores"]["peak_error"] for d in docs]))
    group = [g for g in summary["groups"] if g["metric"] == "peak_error"]
    assert [g["group"] for g in group] == ["vocals"]
    assert summary["rules"]["peak"] == fake_metric.statistic


def test_tasks_list_shows_the_declared_metrics_and_tasks_metrics_the_registry(fake_metric, capsys):
    assert main(["tasks", "list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    for r in rows:
        t = get_task(r["id"])
        assert r["families"] == list(t.metric_families)
        assert r["metrics"] == list(metricinfo.metrics_of(t.metric_families))
    assert all(r["metrics"][-1] == "peak_error" for r in rows if r["kind"] == "mfcc")
    assert not any("peak_error" in r["metrics"] for r in rows if r["kind"] == "sdr")
    assert main(["tasks", "metrics", "--json"]) == 0
    reg = json.loads(capsys.readouterr().out)
    assert [r["metric"] for r in reg] == list(metricinfo.METRICS)
    peak = reg[-1]
    assert peak["family"] == "peak" and peak["tasks"] == 21 and peak["higher_is_better"] is False
    assert main(["tasks", "metrics"]) == 0
    text = capsys.readouterr().out
    assert "SDR" in text and "higher is better" in text and "peak_error" in text
