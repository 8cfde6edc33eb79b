"""Progressive-manipulation drift and effect-level control (benchmark/task/properties.py,
benchmark/scoring/properties.py): the metrics on hand-made cases, the anchors (oracle perfect, identity without
control), a fixed-filter and a drifting system, the `amss-bench properties` command on the tiny fixture, and the
report / leaderboard / gate plumbing."""

from __future__ import annotations

import json

import numpy as np
import pytest

from baselines import get_system
from baselines.base import System, as_estimate
from benchmark.base.constants import SR
from benchmark.scoring import properties as ps
from benchmark.task import aml, dsp
from benchmark.task import properties as pt


# ------------------------------------------------------------------------------------------------ metrics

def test_drift_auc_is_the_mean_height_of_the_curve():
    assert ps.drift_auc([2.0, 2.0, 2.0]) == 2.0
    assert ps.drift_auc([0.0, 2.0]) == 1.0            # one trapezoid of width 1, K - 1 = 1
    assert ps.drift_auc([1.0, 3.0, 5.0]) == 3.0       # (2 + 4) / 2
    assert ps.drift_auc([7.0]) == 7.0                 # K = 1: the value
    with pytest.raises(ValueError):
        ps.drift_auc([])
    with pytest.raises(ValueError):
        ps.drift_auc([1.0, float("nan")])


def test_doubling_k():
    assert ps.doubling_k([1.0, 1.5, 2.0, 3.0]) == 3
    assert ps.doubling_k([1.0, 1.9, 1.99]) is None    # never doubles within K
    assert ps.doubling_k([0.0, 0.0, 0.1]) == 3        # exact at k = 1: the first k with any error
    assert ps.doubling_k([0.0, 0.0]) is None          # the oracle
    assert ps.doubling_k([2.0, 1.0, 4.0]) == 3


def test_spearman_and_order():
    up = {"light": 1.0, "medium": 5.0, "heavy": 9.0}
    assert ps.spearman_with_levels(up) == 1.0 and ps.order_holds(up)
    down = {"light": 9.0, "medium": 5.0, "heavy": 1.0}
    assert ps.spearman_with_levels(down) == -1.0 and not ps.order_holds(down)
    flat = {"light": 3.0, "medium": 3.0, "heavy": 3.0}
    assert ps.spearman_with_levels(flat) == 0.0 and not ps.order_holds(flat)
    assert ps.spearman_with_levels({"light": 1.0, "medium": 3.0, "heavy": 2.0}) == 0.5
    tiny_steps = {"light": 1.0, "medium": 1.05, "heavy": 1.1}  # float-noise steps are not control
    assert not ps.order_holds(tiny_steps) and ps.order_holds(tiny_steps, margin=0.01)


def test_applied_level_of_the_sox_filters_on_white_noise():
    rng = np.random.default_rng(0)
    src = (rng.standard_normal((SR, 2)) * 0.1).astype(np.float32)
    rest = (rng.standard_normal((SR, 2)) * 0.05).astype(np.float32)
    mix = src + rest
    assert ps.applied_level_db(src, mix, mix, "lowpass", "vocals") == 0.0        # nothing applied
    levels = {}
    for lv in aml.LEVELS:
        y, _ = dsp.apply_to_source(src, aml.parse(f"apply {lv} lowpass to vocals"), "vocals")
        levels[lv] = ps.applied_level_db(src, mix, rest + y, "lowpass", "vocals")
    # 12 dB/octave beyond the cutoff, band from 2 x 1378 Hz: each level an octave further -> about 12 dB more
    assert 6 < levels["light"] < levels["medium"] < levels["heavy"]
    assert 8 < levels["medium"] - levels["light"] < 16 and 8 < levels["heavy"] - levels["medium"] < 16
    silent = np.zeros_like(src)
    assert ps.applied_level_db(silent, rest, rest, "lowpass", "vocals") is None   # no band energy: not measurable
    assert pt.level_band("highpass", "bass") == (0.0, 43.0)
    assert pt.level_band("lowpass", "drums") == (2756.0, SR / 2)


def test_drift_truth_is_the_k_fold_dsp_and_one_scale():
    rng = np.random.default_rng(1)
    stems = (rng.standard_normal((4, SR // 2, 2)) * 0.3).astype(np.float32)
    task = pt.get_drift_task("drift-highpass-drums")
    truth = pt.drift_truth(stems, task, 3)
    assert len(truth.targets) == 3
    src = stems[1]
    for _ in range(2):
        src, _c = dsp.apply_to_source(src, task.query, "drums")
    expect = (stems[0] + src + stems[2] + stems[3]) / truth.gain
    np.testing.assert_allclose(truth.targets[1], expect, atol=1e-6)
    np.testing.assert_allclose(truth.input, stems.sum(axis=0) / truth.gain, atol=1e-6)
    assert truth.gain >= 1.0
    dry = pt.drift_truth(stems, pt.get_drift_task("drift-dereverb-vocals"), 2)
    np.testing.assert_array_equal(dry.targets[0], dry.targets[1])                # removal: the dry mix every k
    assert not np.allclose(dry.input, dry.targets[0])


# ------------------------------------------------------------------------------------------------ systems

class FixedLevelSystem(System):
    """Applies the filter at the medium level whatever the adverb (the DSP-on-mixture baseline, adverb ignored)."""

    def __init__(self):
        super().__init__("fixed-level")
        self.inner = get_system("dsp-mixture")

    def estimate(self, task, pair, *, track=None):
        q = task.query
        if q.operation in ("lowpass", "highpass"):
            task = pt.task_of(task.id, f"apply medium {q.operation} to {task.source}")
        return self.inner.estimate(task, pair, track=track)


class DriftingSystem(System):
    """The exact answer plus an error that grows by the same amount with every application (reads the target)."""

    uses_target = True

    def __init__(self):
        super().__init__("drifting")
        self.calls: dict[str, int] = {}

    def estimate(self, task, pair, *, track=None):
        k = self.calls[task.id] = self.calls.get(task.id, 0) + 1
        err = np.random.default_rng(0).standard_normal(pair.target.shape).astype(np.float32) * 0.01
        return as_estimate(pair.target + k * err)


@pytest.fixture(scope="module")
def tiny_testset(tiny_root, tmp_path_factory):
    from benchmark.task import testset

    out = tmp_path_factory.mktemp("props-ts") / "ts"
    testset.build(tiny_root, out, progress=False)
    return testset.TestSet.open(out)


def _run(system, ts, **kw):
    kw = {"k_max": 3, "k_others": 2, "segment_seconds": 1.0, "tracks": ts.tracks()[:1], **kw}
    return ps.evaluate_properties(system, ts, **kw)


def test_oracle_is_perfect_and_identity_has_no_control(tiny_testset):
    oracle = _run(get_system("oracle"), tiny_testset)
    d, c = oracle["properties"]["drift"], oracle["properties"]["control"]
    assert d["summary"]["drift_auc"] == 0.0 and d["summary"]["drift_auc_mae"] == 0.0
    assert all(v is None for v in d["summary"]["doubling_k"].values())
    assert c["summary"]["control_order"] == 1.0 and c["summary"]["control_spearman"] == 1.0
    assert c["summary"]["cases"] == 6 and c["summary"]["cases_without_band_energy"] == 0
    assert d["tasks"]["drift-highpass-drums"]["k_max"] == 3 and d["tasks"]["drift-pan-left-vocals"]["k_max"] == 2
    assert ps.headline(oracle)["doubling_k_highpass_drums"] == 4                   # never within K = 3 -> K + 1

    ident = _run(get_system("identity"), tiny_testset)
    c = ident["properties"]["control"]
    assert c["summary"]["control_order"] == 0.0 and c["summary"]["control_spearman"] == 0.0
    assert all(lv == {"light": 0.0, "medium": 0.0, "heavy": 0.0} for lv in (x["levels"] for x in c["cases"]))
    curve = ident["properties"]["drift"]["tasks"]["drift-highpass-drums"]["curve"]["mfcc_rmse"]
    assert all(v > 0 for v in curve) and ident["properties"]["drift"]["summary"]["drift_auc"] > 0


def test_a_fixed_filter_fails_control_and_a_drifting_system_drifts(tiny_testset):
    fixed = _run(FixedLevelSystem(), tiny_testset)["properties"]["control"]
    assert fixed["summary"]["control_order"] == 0.0           # three identical outputs: no order
    assert all(len(set(x["levels"].values())) == 1 for x in fixed["cases"])
    dsp_mix = _run(get_system("dsp-mixture"), tiny_testset)["properties"]["control"]
    assert dsp_mix["summary"]["control_order"] > 0            # the adverb changes its cutoff

    doc = _run(DriftingSystem(), tiny_testset, k_max=4, k_others=4)
    t = doc["properties"]["drift"]["tasks"]["drift-highpass-drums"]
    mae = t["curve"]["mae"]
    assert all(b > a for a, b in zip(mae, mae[1:]))
    np.testing.assert_allclose(np.asarray(mae) / mae[0], [1, 2, 3, 4], rtol=0.02)   # error grows linearly in k
    rmse = t["curve"]["mfcc_rmse"]
    assert all(b > a for a, b in zip(rmse, rmse[1:])) and t["doubling_k"] == ps.doubling_k(rmse)
    assert t["drift_auc"] == pytest.approx(ps.drift_auc(rmse))


# ------------------------------------------------------------------------------------------------ CLI + report

def _cli(*args) -> int:
    from benchmark.cli import main

    return main(["-q", "properties", *args])


def test_cli_writes_a_deterministic_document_and_the_report_reads_it(baseline_results, tmp_path, capsys):
    from benchmark.reporting.report import build_report

    ts = baseline_results / "ts"
    out = tmp_path / "props"
    common = ["--testset", str(ts), "--out", str(out), "--k", "2", "--k-others", "2", "--segment-seconds", "1",
              "--tracks", "1"]
    for name in ("identity", "oracle", "dsp-mixture"):
        assert _cli("--system", name, *common) == 0
    doc = json.loads((out / "oracle" / "properties.json").read_text())
    assert doc["system"]["name"] == "oracle" and "provenance" in doc and doc["settings"]["k_max"] == 2
    assert (out / "oracle" / "drift-highpass-drums-k2.wav").is_file()
    first = (out / "identity" / "properties.json").read_bytes()
    assert _cli("--system", "identity", *common) == 0
    assert (out / "identity" / "properties.json").read_bytes() == first           # same inputs, same bytes
    assert _cli("--system", "nonsense", *common) == 2
    assert "nonsense" in capsys.readouterr().err
    assert _cli(*common) == 2                                                        # neither --model nor --system

    report = tmp_path / "report"
    build_report(baseline_results / "results", ts, report, profile="embedded", properties=out)
    md = (report / "tables.md").read_text()
    assert "## Progressive manipulation (drift)" in md and "## Effect-level control" in md
    metrics = json.loads((report / "metrics" / "oracle.json").read_text())
    assert metrics["drift_auc"] == 0.0 and metrics["control_order"] == 1.0
    assert json.loads((report / "metrics" / "identity.json").read_text())["control_order"] == 0.0
    tables = json.loads((report / "tables.json").read_text())
    assert set(tables["properties"]) == {"drift", "control"}
    assert tables["properties"]["control"]["rows"]["identity"]["control_order"] == 0.0
    summary = json.loads((report / "summary.json").read_text())
    cells = {(c["label"], c["metric"]): c["value"] for c in summary["property_cells"]}
    assert cells[("oracle", "drift_auc")] == 0.0 and cells[("identity", "control_spearman")] == 0.0
    for name in ("drift.png", "figure-5.7.png", "figure-5.8.png", "clips.json"):
        assert (report / "properties" / name).is_file()
    clips = json.loads((report / "properties" / "clips.json").read_text())["clips"]
    assert clips and all((report / "properties" / c["audio"]).is_file() for c in clips)
    from benchmark.reporting.html import _property_clips

    listening = _property_clips(report)                       # the HTML listening section's property clips
    assert listening.count("<audio") == len(clips) and "properties/clips/" in listening

    # runs measured with other settings are never put in one table
    assert _cli("--system", "identity", *common[:-6], "--k", "3", "--k-others", "2", "--segment-seconds", "1",
                "--tracks", "1") == 0
    from benchmark.reporting.properties import PropertyError

    with pytest.raises(PropertyError, match="settings"):
        build_report(baseline_results / "results", ts, tmp_path / "report2", profile="embedded", properties=out)


def test_gate_compares_property_cells_and_leaderboard_shows_them():
    from benchmark.gate import results as gres
    from benchmark.leaderboard.board import _property_lines, property_values

    def summary(order, version=1):
        return {"profile": "embedded", "cells": [], "groups": [],
                "property_cells": [{"label": "amss-net", "property": "control", "metric": "control_order",
                                    "value": order, "version": version, "runs": 1},
                                   {"label": "oracle", "property": "drift", "metric": "drift_auc", "value": 0.0,
                                    "version": 1, "runs": 1}]}

    gate = {"tolerance": {"cell": {"control_order": 0.1, "drift_auc": {"rel": 0.1}}, "group": {},
                          "baseline": {"abs": 1e-9, "rel": 1e-9}}, "baselines": ["oracle"]}
    policy = gres.policy_from_params(gate)
    status = {c.key: c.status for c in gres.compare(summary(0.5), summary(0.2), policy).cells}
    assert status["amss-net/control/control_order"] == "regressed"
    assert status["oracle/drift/drift_auc"] == "unchanged"
    status = {c.key: c.status for c in gres.compare(summary(0.5), summary(0.55), policy).cells}
    assert status["amss-net/control/control_order"] == "within tolerance"
    status = {c.key: c.status for c in gres.compare(summary(0.5), summary(0.5, version=2), policy).cells}
    assert status["amss-net/control/control_order"] == "redefined"

    values = property_values(summary(0.5), "amss-net")
    assert values == {"control_order": 0.5}
    lines = "\n".join(_property_lines([{"name": "amss-net", "type": "thesis model", "properties": values}]))
    assert "Effect-level control" in lines and "| amss-net | thesis model | 0.500" in lines
    assert "Progressive manipulation" not in lines                                  # no drift numbers: no table


def test_tasks_a_system_cannot_answer_are_recorded_not_run(tiny_testset):
    class NoReverbNoBass(type(get_system("identity"))):
        def supports(self, task):
            return task.query.operation != "dereverb" and task.source != "bass"

    doc = _run(NoReverbNoBass(), tiny_testset)["properties"]
    assert doc["drift"]["not_supported"] == ["drift-lowpass-bass", "drift-dereverb-vocals"]
    assert set(doc["drift"]["tasks"]) == {"drift-highpass-drums", "drift-pan-left-vocals"}
    assert doc["control"]["not_supported"] == ["lowpass-bass", "highpass-bass"]
    assert doc["control"]["summary"]["cases"] == 4
