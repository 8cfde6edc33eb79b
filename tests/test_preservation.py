"""The preservation of the untouched sources by an edit (benchmark/scoring/metrics/preservation.py, docs/metrics.md):
hand-made cases with known answers, the registry entry, the result-document field, and the evaluation of the
anchors (identity, oracle, dsp-mixture) and of a system that also dulls the vocals on the tiny test set."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy.signal import lfilter

from baselines.base import System, as_estimate
from benchmark.scoring import metricinfo
from benchmark.scoring import results as res
from benchmark.scoring.evaluate import evaluate
from benchmark.scoring.metrics.preservation import CAP_DB, FILTER_TAPS, decompose, preservation
from benchmark.task.tasks import EVAL_TASKS, get_task

N = 22050
SOURCES = ("vocals", "drums", "bass", "other")


def _sources(seed: int = 0) -> dict:
    """Four independent coloured-noise stereo sources (N, 2), float64, silent over their last FILTER_TAPS samples:
    a filtered source then ends inside the track, so a short filter of a source is exactly in the span of its
    delayed copies (the fit, like BSS-Eval's, sees the copies over N + L − 1 samples; on a 0.5-s signal the one sample
    a delay pushes past the end would otherwise be a visible part of the error, ~85 dB)."""
    rng = np.random.default_rng(seed)
    out = {k: lfilter([1.0], [1.0, -0.2 * i], 0.1 * rng.standard_normal((N, 2)), axis=0)
           for i, k in enumerate(SOURCES)}
    for v in out.values():
        v[-FILTER_TAPS:] = 0.0
    return out


def _dull(x: np.ndarray) -> np.ndarray:
    """A 2-tap moving average: the "dulled" version of a source (a short filter, inside the fit's span)."""
    return lfilter([0.5, 0.5], [1.0], x, axis=0)


@pytest.fixture(scope="module")
def edit():
    """A volume-down edit of the drums (× 0.5): the input, the target and the target's sources."""
    src = _sources()
    tgt = dict(src)
    tgt["drums"] = 0.5 * src["drums"]
    return {"input": sum(src.values()), "target": sum(tgt.values()), "sources": tgt, "orig": src}


def _score(edit, est) -> dict:
    return preservation(edit["target"], est, sources=edit["sources"], edited="drums")


# ------------------------------------------------------------------------------------------- hand-made cases

def test_the_oracle_scores_the_cap_on_every_source(edit):
    out = _score(edit, edit["target"].astype(np.float32).astype(np.float64))
    block = out["preservation_block"]
    assert out["preservation"] == block["db"] == CAP_DB
    assert block["sources"] == {"vocals": CAP_DB, "bass": CAP_DB, "other": CAP_DB}
    assert block["edited"] == "drums" and block["filter_taps"] == FILTER_TAPS and block["cap_db"] == CAP_DB


def test_the_identity_damages_only_the_edited_source(edit):
    # its error, (1 − 0.5) · drums, lies on the edited source: nothing of the others is touched
    out = _score(edit, edit["input"])
    assert out["preservation"] >= metricinfo.info("preservation").floor
    parts, energies, _ = decompose(edit["input"] - edit["target"], edit["sources"])
    assert parts["drums"] == pytest.approx(energies["drums"], rel=1e-6)  # the error 0.5 d is the target drums
    assert max(parts[k] for k in ("vocals", "bass", "other")) < 1e-9 * parts["drums"]


def test_a_system_that_damages_only_the_target_keeps_the_others(edit):
    est = edit["target"] + 0.3 * _dull(edit["sources"]["drums"])
    assert _score(edit, est)["preservation"] >= metricinfo.info("preservation").floor


def test_a_system_that_also_dulls_the_vocals_scores_lower_by_the_known_amount(edit):
    v = edit["sources"]["vocals"]
    est = edit["target"] + 0.3 * _dull(edit["sources"]["drums"]) - v + _dull(v)
    out = _score(edit, est)
    # its error on the vocals is dull(v) − v, a 2-tap filter of v: inside the fit, so exactly recovered
    want_vocals = 10 * math.log10(np.sum(v ** 2) / np.sum((_dull(v) - v) ** 2))
    block = out["preservation_block"]
    assert block["sources"]["vocals"] == pytest.approx(want_vocals, abs=1e-6)
    assert block["sources"]["bass"] >= 85 and block["sources"]["other"] >= 85
    pooled = 10 * math.log10(sum(np.sum(edit["sources"][k] ** 2) for k in ("vocals", "bass", "other"))
                             / np.sum((_dull(v) - v) ** 2))
    assert out["preservation"] == pytest.approx(pooled, abs=1e-4)
    assert out["preservation"] < 30


def test_the_edit_applied_to_the_whole_mixture_has_the_closed_form_value(edit):
    # dsp-mixture on a × 0.5 volume edit: the untouched sources are halved as well, error −0.5 s_j: 20 log10(2)
    out = _score(edit, 0.5 * edit["input"])
    assert out["preservation"] == pytest.approx(20 * math.log10(2), abs=1e-6)
    for v in out["preservation_block"]["sources"].values():
        assert v == pytest.approx(20 * math.log10(2), abs=1e-6)


def test_the_ordering_of_the_four_cases(edit):
    v = edit["sources"]["vocals"]
    dmg = edit["target"] + 0.3 * _dull(edit["sources"]["drums"])
    scores = [_score(edit, est)["preservation"] for est in
              (edit["target"], edit["input"], dmg, dmg - v + _dull(v), 0.5 * edit["input"])]
    assert scores[0] == CAP_DB
    assert min(scores[1:3]) >= metricinfo.info("preservation").floor > scores[3] > scores[4]


def test_a_silent_untouched_source_is_left_out_and_all_silent_is_an_error(edit):
    src = dict(edit["sources"])
    src["bass"] = np.zeros_like(src["bass"])
    target = sum(src.values())
    out = preservation(target, target + 0.1 * src["vocals"], sources=src, edited="drums")
    assert out["preservation_block"]["sources"]["bass"] is None
    assert out["preservation_block"]["sources"]["vocals"] == pytest.approx(20.0, abs=1e-6)
    silent = {k: (src[k] if k == "drums" else np.zeros_like(src[k])) for k in SOURCES}
    with pytest.raises(ValueError, match="every untouched source is silent"):
        preservation(silent["drums"], silent["drums"], sources=silent, edited="drums")
    with pytest.raises(ValueError, match="edited source 'piano'"):
        preservation(target, target, sources=src, edited="piano")
    with pytest.raises(ValueError, match="source 'bass' has shape"):
        preservation(target, target, sources={**src, "bass": src["bass"][:100]}, edited="drums")


def test_a_short_estimate_is_zero_padded_like_museval(edit):
    short = edit["target"][:-2 * FILTER_TAPS]
    out = _score(edit, short)  # the missing tail is an error spread over every source
    assert out["preservation"] < CAP_DB


# ------------------------------------------------------------------------------------------- registry, documents

def test_the_registry_entry_and_the_edit_tasks_declaration():
    m = metricinfo.info("preservation")
    assert m.higher_is_better and m.unit == "dB" and m.floor == metricinfo.BSS_FLOOR_DB < CAP_DB
    fam = metricinfo.family("preservation")
    assert fam.metrics == ("preservation",) and fam.needs == ("sources",) and fam.block == "preservation"
    assert fam.function() is preservation and fam.group == "source"
    assert all(t.scores_with("preservation") == (t.kind == "mfcc") for t in EVAL_TASKS)
    doc = {"preservation": {"db": 12.5}}
    assert fam.per_track(doc) == [("preservation", 12.5)]
    assert metricinfo.format_value("preservation", CAP_DB) == "≥ floor"
    assert metricinfo.format_value("preservation", 12.345) == "12.35"


class DullVocals(System):
    """The oracle, except that the vocals (an untouched source on every non-vocals edit) are dulled by a 2-tap
    moving average: what "also damages the vocals" looks like to the metric."""

    kind = "baseline"
    version = 1
    uses_target = True

    def __init__(self, testset, name: str = "dull-vocals"):
        super().__init__(name)
        self.testset = testset

    def estimate(self, task, pair, *, track=None):
        v = self.testset.target_sources(task.id, track, pair)["vocals"]
        return as_estimate((pair.target - v + _dull(v)).astype(np.float32), who=self.name)


def test_the_evaluation_writes_the_block_and_the_anchors_order(baseline_results, tmp_path):
    from benchmark.task.testset import TestSet

    docs = [d for d in res.load_results(baseline_results / "results") if d["kind"] == "mfcc"]
    by = {(d["system"]["name"], d["task"]["id"], d["track"]): d for d in docs}
    assert docs and all(d["preservation"]["edited"] == d["task"]["source"] for d in docs)
    assert all(set(d["preservation"]["sources"]) == set(SOURCES) - {d["task"]["source"]} for d in docs)
    for (name, tid, track), d in by.items():
        if name != "oracle":
            continue
        assert d["preservation"]["db"] == CAP_DB  # the oracle: perfect preservation
        ident, dspm = (by[(s, tid, track)]["preservation"]["db"] for s in ("identity", "dsp-mixture"))
        if get_task(tid).column == "dereverberation":
            assert ident == dspm  # dsp-mixture passes the input through: it is the identity there
        else:
            assert ident > dspm, (tid, track)
        if tid.startswith("volume-down"):  # the whole mix × 0.5 (no clipping on the tiny set): 20 log10 2
            assert dspm == pytest.approx(20 * math.log10(2), abs=1e-3)
    # a system that dulls the vocals while it edits the drums scores lower than the identity
    ts = TestSet.open(baseline_results / "ts")
    out = tmp_path / "out"
    evaluate(DullVocals(ts), ts, out, tasks="lowpass-drums,volume-up-drums", backend="sdr-only", progress=False)
    for d in res.load_results(out):
        ident = by[("identity", d["task"]["id"], d["track"])]["preservation"]
        got = d["preservation"]
        msg = (d["task"]["id"], d["track"], got, ident)
        # lower than the identity's, on the vocals alone (bass and other keep the identity's level or better)
        assert got["db"] < ident["db"] - 6, msg
        assert got["sources"]["vocals"] < ident["sources"]["vocals"] - 6, msg
        assert got["sources"]["vocals"] < min(got["sources"]["bass"], got["sources"]["other"]) - 20, msg
    summary = json.loads((out / "dull-vocals" / res.SUMMARY).read_text())
    cells = [c for c in summary["cells"] if c["metric"] == "preservation"]
    assert len(cells) == 2 and all(c["family"] == "preservation" for c in cells)


def test_a_result_without_or_with_a_wrong_block_is_rejected(baseline_results):
    doc = next(d for d in res.load_results(baseline_results / "results") if d["kind"] == "mfcc")
    bad = {k: v for k, v in doc.items() if k != "preservation"}
    with pytest.raises(res.ResultValidationError, match="preservation"):
        res.validate(bad)
    wrong = json.loads(json.dumps(doc))
    wrong["preservation"]["edited"] = "other" if doc["task"]["source"] != "other" else "vocals"
    with pytest.raises(res.ResultValidationError, match="edited source"):
        res.validate(wrong)
    sdr = next(d for d in res.load_results(baseline_results / "results") if d["kind"] == "sdr")
    with pytest.raises(res.ResultValidationError):
        res.validate({**sdr, "preservation": doc["preservation"]})
    # resumption: another filter length is another computation
    other = json.loads(json.dumps(doc))
    other["preservation"]["filter_taps"] = 512
    assert res.resume_key(other) != res.resume_key(doc)


# ------------------------------------------------------------------------------ report, dvc metrics, board, gate

def test_report_section_tables_json_and_dvc_metrics(baseline_results, tmp_path):
    from benchmark.cli import main

    out = tmp_path / "report"
    assert main(["-q", "report", "--results", str(baseline_results / "results"), "--testset",
                 str(baseline_results / "ts"), "--out", str(out), "--profile", "embedded"]) == 0
    md = (out / "tables.md").read_text()
    section = md.split("## Preservation of untouched sources")[1].split("\n## ")[0]
    rows = {line.split(" | ")[0].strip("| "): line.split(" | ")[1:] for line in section.splitlines()
            if line.startswith("| ") and not line.startswith("| system")}
    assert set(rows) == {"identity", "oracle", "dsp-mixture"}
    assert len(rows["oracle"]) == 21 + 3 and all(v.strip(" |") == "≥ floor" for v in rows["oracle"])
    doc = json.loads((out / "tables.json").read_text())
    pres = doc["preservation"]
    assert pres["metric"] == "preservation" and pres["higher_is_better"] and pres["cap_db"] == CAP_DB
    means = {(r["system"], r["source"]): r for r in pres["rows"] if r["task"] == "mean"}
    assert len([r for r in pres["rows"] if r["task"] != "mean"]) == 3 * 21
    for s in ("vocals", "drums", "bass"):
        assert means[("oracle", s)]["at_floor"] and means[("oracle", s)]["ours"] == CAP_DB
        assert means[("identity", s)]["ours"] > means[("dsp-mixture", s)]["ours"]
    # never inside a thesis table (nor its averages)
    assert all(t["metric"] != "preservation" and all(r["metric"] != "preservation" for r in t["rows"])
               for t in doc["tables"])
    metrics = {p.stem: json.loads(p.read_text()) for p in (out / "metrics").glob("*.json")}
    assert {metrics["oracle"][f"PRES_mean_{s}"] for s in ("vocals", "drums", "bass")} == {CAP_DB}
    assert metrics["identity"]["PRES_mean_drums"] == pytest.approx(means[("identity", "drums")]["ours"], abs=1e-4)
    assert "RMSE_MFCC_mean_drums" in metrics["identity"]  # beside, not instead of, the thesis numbers


def test_leaderboard_extra_columns_never_ranked_nor_averaged(baseline_results, tmp_path):
    from benchmark.leaderboard.board import markdown, system_row
    from benchmark.scoring import aggregate as agg
    from benchmark.task.testset import TestSet

    ts = TestSet.open(baseline_results / "ts")
    docs = res.load_results(baseline_results / "results")
    summary = agg.summary_document(agg.aggregate_results(docs, ts), testset=ts, results=docs)
    rows = {label: system_row(summary, label, ts.tasks()) for label in ("identity", "oracle", "dsp-mixture")}
    for label, row in rows.items():
        m = row["metrics"]
        per = [m[f"PRES_{s}"]["value"] for s in ("vocals", "drums", "bass")]
        assert m["PRES_all"]["value"] == pytest.approx(sum(per) / 3)
        # RMSE-MFCC's average is its own: the preservation does not enter it
        assert m["RMSE_MFCC_all"]["value"] == pytest.approx(
            sum(m[f"RMSE_MFCC_{s}"]["value"] for s in ("vocals", "drums", "bass")) / 3)
    assert rows["oracle"]["metrics"]["PRES_all"]["value"] == CAP_DB
    assert rows["identity"]["metrics"]["PRES_all"]["value"] > rows["dsp-mixture"]["metrics"]["PRES_all"]["value"]
    doc = {"profile": "embedded", "note": "n", "testset": {"manifest_hash": "h", "n_tracks": 2, "source": "s"},
           "sdr_backend": ["sdr-only"], "reference_loss": None,
           "entries": [{"name": k, "type": "baseline", "how": "h", "oracle": k == "oracle", "extra_data": False,
                        "example": False, "rank": {"SDR_AVG": None, "RMSE_MFCC_all": None}, **v}
                       for k, v in rows.items()]}
    md = markdown(doc)
    assert "preservation all 21" in md
    edit = md.split("## Manipulation")[1].split("\n## ")[0]
    line = next(x for x in edit.splitlines() if x.startswith("| – | dsp-mixture"))
    assert f"{rows['dsp-mixture']['metrics']['PRES_all']['value']:.2f}" in line


def test_gate_compares_preservation_cells_with_their_tolerances():
    import yaml
    from pathlib import Path

    from benchmark.gate import results as gres

    gate = yaml.safe_load((Path(__file__).resolve().parents[1] / "params.yaml").read_text())["gate"]
    policy = gres.policy_from_params(gate)
    assert policy.tolerance("preservation", False, "amss-net").abs == 1.0
    assert policy.tolerance("preservation", True, "amss-net").abs == 0.5

    def summary(model, oracle):
        cell = {"task_id": "lowpass-drums", "metric": "preservation", "family": "preservation", "kind": "mfcc",
                "task_version": 1, "column": "lowpass filter", "ci_low": None, "ci_high": None}
        return {"profile": "embedded", "testset": {"manifest_hash": "m"}, "sdr_backend": ["fast"],
                "checkpoints": {}, "fingerprints": {}, "groups": [],
                "cells": [{**cell, "label": "amss-net", "value": model}, {**cell, "label": "oracle", "value": oracle}]}

    def status(head_model, head_oracle=CAP_DB):
        comp = gres.compare(summary(20.0, CAP_DB), summary(head_model, head_oracle), policy)
        return {c.system: c.status for c in comp.cells}

    assert status(19.5)["amss-net"] == "within tolerance"
    assert status(18.5)["amss-net"] == "regressed"       # lower preservation = worse
    assert status(21.5)["amss-net"] == "improved"
    assert status(20.0)["oracle"] == "floor"             # at the cap: never compared numerically
    assert status(20.0, 60.0)["oracle"] in ("regressed", "moved")  # the oracle left the floor: fails
