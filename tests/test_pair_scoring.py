"""Chapter 3 scoring (docs/fidelity.md §1): each dedicated model scored on its own, as the ISMIR 2020 code did —
``museval.eval_mus_track(track, {target: ŝ, "accompaniment": mixture − ŝ})`` — and the stem sum
(``linear_mixture``) as its input.

The golden values come from museval itself, called the way the reference called it (a stand-in musdb track whose
targets are musdb's: the four stems, ``accompaniment`` = drums + bass + other). Clips are 3 s (museval ≈ 1.3 s per
second of audio for two sources)."""

from __future__ import annotations

import json
import shutil
import types
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from baselines.base import System
from baselines.identity import IdentitySystem
from benchmark.scoring import evaluate as ev
from benchmark.scoring import results as res
from benchmark.reporting import tables
from benchmark.base.constants import SOURCES, SR
from benchmark.scoring.metrics import bss_eval_track, to_museval_json
from benchmark.base.provenance import array_sha256
from benchmark.task.testset import TestSet, TestSetIntegrityError, build, pcm16_sum

SECONDS = 3
TOL_DB = 0.01  # fast vs museval, after museval's 5-decimal quantisation (as tests/metrics)
METRICS = ("SDR", "SIR", "ISR", "SAR")


# ------------------------------------------------------------------------------------------------------ signals

def _pcm16(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(x * 32768), -32768, 32767) / 32768


@pytest.fixture(scope="module")
def clip():
    """Four 16-bit stereo stems with independent channels (a well-posed Gram matrix); **drums exactly silent in the
    second frame** [1 s, 2 s). A vocals estimate with drums/bass leakage and noise; the mixture = stem sum."""
    rng = np.random.default_rng(9)
    n = SECONDS * SR
    t = np.arange(n) / SR
    stems = {}
    for k, s in enumerate(SOURCES):
        tone = np.sin(2 * np.pi * (130 * (k + 1)) * t)[:, None] * [0.3, 0.2]
        stems[s] = _pcm16(0.1 * tone + rng.standard_normal((n, 2)) * (0.03 + 0.02 * k))
    stems["drums"][SR:2 * SR] = 0.0
    mixture = sum(stems.values())
    est = {"vocals": stems["vocals"] + 0.3 * stems["drums"] + 0.2 * stems["bass"] + 0.01 * rng.standard_normal((n, 2)),
           "drums": stems["drums"] + 0.25 * stems["vocals"] + 0.01 * rng.standard_normal((n, 2))}
    est = {k: v.astype(np.float32) for k, v in est.items()}
    return stems, mixture.astype(np.float32), est


def _reference_call(stems, mixture, target, estimate):
    """What separation_framework.on_test_epoch_end did, with museval: musdb's targets on a stand-in track."""
    import museval

    audio = dict(stems)
    audio["accompaniment"] = stems["drums"] + stems["bass"] + stems["other"]  # musdb configs/mus.yaml
    track = types.SimpleNamespace(name="clip", rate=SR,
                                  targets={k: types.SimpleNamespace(audio=v) for k, v in audio.items()})
    score = museval.eval_mus_track(track, {target: estimate, "accompaniment": mixture - estimate})
    (tgt,) = [x for x in json.loads(score.json)["targets"] if x["name"] == target]
    return tgt["frames"]


def _ours(stems, mixture, target, estimate, backend):
    acc = stems["drums"] + stems["bass"] + stems["other"]
    scores = ev.pair_scores(target, stems[target], estimate, mixture, acc, backend=backend)
    (tgt,) = to_museval_json({target: scores[target]}, "clip")["targets"]
    return tgt["frames"]


def _values(frames, metric):
    return np.array([np.nan if f["metrics"][metric] is None else float(f["metrics"][metric]) for f in frames])


@pytest.fixture(scope="module")
def museval_frames(clip):
    stems, mixture, est = clip
    return {t: {"reference": _reference_call(stems, mixture, t, est[t]),
                "ours": _ours(stems, mixture, t, est[t], "museval")} for t in ("vocals", "drums")}


# ------------------------------------------------------------------------------------------------------ the metric

@pytest.mark.parametrize("target", ["vocals", "drums"])
def test_pair_scores_equal_museval_two_source_call(museval_frames, target):
    """Our museval back-end on the pair path = the reference's own eval_mus_track call, every frame and metric
    (drums: the second reference is musdb's accompaniment, which contains drums — as the reference had it)."""
    ref, ours = museval_frames[target]["reference"], museval_frames[target]["ours"]
    assert len(ref) == len(ours) == SECONDS
    for m in METRICS:
        np.testing.assert_array_equal(_values(ours, m), _values(ref, m), err_msg=f"{target} {m}")


@pytest.mark.parametrize("target", ["vocals", "drums"])
def test_fast_backend_agrees_with_museval_on_the_pair_path(clip, museval_frames, target):
    stems, mixture, est = clip
    fast = _ours(stems, mixture, target, est[target], "fast")
    ref = museval_frames[target]["reference"]
    for m in METRICS:
        a, b = _values(fast, m), _values(ref, m)
        assert np.array_equal(np.isnan(a), np.isnan(b)), (target, m)
        np.testing.assert_allclose(a[~np.isnan(a)], b[~np.isnan(b)], atol=TOL_DB, rtol=0, err_msg=f"{target} {m}")


def test_another_silent_source_leaves_the_target_frames_finite(clip, museval_frames):
    """Drums are silent in frame 1. Pair scoring of vocals: every frame finite (neither vocals nor the
    accompaniment is silent there). The joint 4-target call (the old path) makes that frame NaN for vocals."""
    stems, mixture, est = clip
    for backend in ("fast", "museval"):
        frames = _ours(stems, mixture, "vocals", est["vocals"], backend) if backend == "fast" \
            else museval_frames["vocals"]["ours"]
        for m in METRICS:
            assert np.isfinite(_values(frames, m)).all(), (backend, m)
    ests4 = {"vocals": est["vocals"], "drums": est["drums"], "bass": stems["bass"] * 0.9,
             "other": stems["other"] * 0.9}
    joint = to_museval_json(bss_eval_track(stems, ests4, backend="fast"), "clip")["targets"][0]
    assert joint["name"] == "vocals"
    assert np.isnan(_values(joint["frames"], "SDR")[1]) and np.isfinite(_values(joint["frames"], "SDR")[[0, 2]]).all()
    # the target's own silent frame stays NaN on the pair path too (museval's rule, not ours)
    assert np.isnan(_values(museval_frames["drums"]["ours"], "SDR")[1])


def test_sir_against_two_references_differs_from_the_joint_call(clip, museval_frames):
    """The reason for the pair path: SIR against {vocals, accompaniment} is not SIR against the four stems."""
    stems, mixture, est = clip
    ests4 = {"vocals": est["vocals"], "drums": est["drums"], "bass": stems["bass"] * 0.9,
             "other": stems["other"] * 0.9}
    joint = to_museval_json(bss_eval_track(stems, ests4, backend="fast"), "clip")["targets"][0]["frames"]
    pair = museval_frames["vocals"]["reference"]
    assert abs(_values(pair, "SIR")[0] - _values(joint, "SIR")[0]) > 0.1


# ------------------------------------------------------------------------------------------------------ the input

def test_pcm16_sum_clips_like_a_16_bit_file():
    q = 2.0 ** -15
    stems = np.zeros((4, 3, 2))
    stems[:, 0, 0] = [0.5, 0.5, 0.25, 3 * q]      # 1.25 + 3q  -> clipped to 1 - q
    stems[:, 1, 1] = [-0.5, -0.5, -0.5, 0.0]      # -1.5       -> clipped to -1
    stems[:, 2, 0] = [0.25, 0.125, -q, 7 * q]     # 0.375 + 6q -> exact
    out, clipped = pcm16_sum(stems)
    assert out.dtype == np.float32 and clipped == 2
    assert out[0, 0] == 1 - q and out[1, 1] == -1.0 and out[2, 0] == 0.375 + 6 * q and out[0, 1] == 0.0


@pytest.fixture(scope="module")
def ts(tiny_root, tmp_path_factory) -> TestSet:
    out = tmp_path_factory.mktemp("testset-pair")
    build(tiny_root, out, tasks=tuple(t for t in ev.EVAL_TASKS if t.kind == "sdr"), progress=False)
    return TestSet.open(out)


def _int_sum(track_dir: Path) -> np.ndarray:
    ints = sum(sf.read(track_dir / f"{s}.wav", dtype="int16")[0].astype(np.int32) for s in SOURCES)
    return (np.clip(ints, -32768, 32767) / 32768).astype(np.float32)


def test_linear_mixture_derived_from_the_stems_or_read_from_its_file(ts, tiny_root, tmp_path):
    track = ts.tracks()[0]
    lin, how = ts.linear_mixture(track)
    assert how == {"derivation": "stem-sum-16bit", "clipped_samples": 0}
    np.testing.assert_array_equal(lin, _int_sum(tiny_root / "test" / track))
    acc = ts.accompaniment(track)
    ints = sum(sf.read(tiny_root / "test" / track / f"{s}.wav", dtype="int16")[0].astype(np.int64)
               for s in ("drums", "bass", "other"))
    np.testing.assert_array_equal(acc, ints / 32768)
    # a musdbconvert tree: <track>/linear_mixture.wav is read as it is
    root = tmp_path / "root"
    shutil.copytree(tiny_root, root)
    planted = (lin * 0.5).astype(np.float32)
    sf.write(root / "test" / track / "linear_mixture.wav", np.round(planted * 32768).astype(np.int16), SR,
             subtype="PCM_16")
    got, how = TestSet.open(ts.path.parent, root).linear_mixture(track)
    assert how["derivation"] == "linear_mixture.wav"
    np.testing.assert_array_equal(got, np.round(planted * 32768) / 32768)
    sf.write(root / "test" / track / "linear_mixture.wav", np.zeros((100, 2), np.int16), SR, subtype="PCM_16")
    with pytest.raises(TestSetIntegrityError, match=r"linear_mixture\.wav: 100 samples × 2 channels, expected"):
        TestSet.open(ts.path.parent, root).linear_mixture(track)


# ------------------------------------------------------------------------------------------------------ the runner

class _Dedicated(System):
    """A stand-in dedicated-family model: target + 10 % of its input (so the input it was given matters)."""

    family = "dedicated"
    uses_target = True

    def __init__(self, name="dedicated-stub"):
        super().__init__(name)
        self.inputs = {}

    def estimate(self, task, pair, *, track=None):
        self.inputs[(task.id, track)] = pair.input
        return (pair.target + 0.1 * pair.input).astype(np.float32)


def test_resolution_of_scoring_and_input():
    assert ev.resolve_scoring(_Dedicated()) == "pair"
    assert ev.resolve_scoring(_Dedicated(), "joint") == "joint"
    assert ev.resolve_scoring(IdentitySystem()) == "joint"
    assert ev.resolve_sdr_input(_Dedicated()) == "linear_mixture"
    assert ev.resolve_sdr_input(IdentitySystem()) == "mixture"
    assert ev.resolve_sdr_input(_Dedicated(), "mixture") == "mixture"
    conditioned = types.SimpleNamespace(family="conditioned", mode=None)
    assert ev.resolve_sdr_input(conditioned) == "linear_mixture"  # LaSAFT 2021-03 (thesis era)
    conditioned.mode = "overlap"
    assert ev.resolve_sdr_input(conditioned) == "mixture"  # LaSAFT HEAD
    assert ev.resolve_sdr_input(types.SimpleNamespace(family="amss")) == "mixture"  # AMSS task1_eval.py
    with pytest.raises(ValueError, match="dedicated_scoring must be one of pair, joint"):
        ev.resolve_scoring(_Dedicated(), "both")
    with pytest.raises(ValueError, match="sdr_input must be one of"):
        ev.resolve_sdr_input(_Dedicated(), "stems")


def test_dedicated_system_is_scored_per_task_with_the_linear_mixture(ts, tiny_root, tmp_path):
    system = _Dedicated()
    ev.evaluate(system, ts, tmp_path, tasks="sdr", backend="fast", progress=False)
    track = ts.tracks()[0]
    d = tiny_root / "test" / track
    stems = {s: sf.read(d / f"{s}.wav", dtype="int16")[0] / 32768 for s in SOURCES}
    mixture = sf.read(d / "mixture.wav", dtype="float32")[0]
    lin = _int_sum(d)
    acc = stems["drums"] + stems["bass"] + stems["other"]
    for s in SOURCES:
        tid = f"sdr-{s}"
        np.testing.assert_array_equal(system.inputs[(tid, track)], lin)
        doc = res.read_result(res.result_path(tmp_path, system.name, tid, track))
        assert doc["metric"]["scoring"] == "pair" and doc["metric"]["second_reference"] == "accompaniment"
        assert doc["metric"]["joint_tasks"] == [tid] and doc["metric"]["joint_targets"] == [s]
        assert doc["provenance"]["model_input"] == {"signal": "linear_mixture", "derivation": "stem-sum-16bit",
                                                    "clipped_samples": 0, "sha256": array_sha256(lin)}
        est = (stems[s].astype(np.float32) + 0.1 * lin).astype(np.float32)
        want = bss_eval_track({s: stems[s], "accompaniment": acc}, {s: est, "accompaniment": mixture - est})
        (frames,) = [x["frames"] for x in to_museval_json(want, track)["targets"] if x["name"] == s]
        for m in METRICS:  # the tiny set's panned-mono stems put ISR/SIR near the float floor: last-digit noise
            np.testing.assert_allclose(_values(doc["targets"][0]["frames"], m), _values(frames, m), atol=TOL_DB,
                                       rtol=0, err_msg=f"{s} {m}")
    summary = json.loads((tmp_path / system.name / "summary.json").read_text())
    assert summary["sdr_scoring"] == ["pair"]
    # resumable: a second run finds every result up to date
    assert ev.evaluate(_Dedicated(), ts, tmp_path, tasks="sdr", backend="fast", progress=False).skipped == len(
        ts.tracks())


def test_joint_option_and_other_systems_keep_the_4_target_call(ts, tmp_path):
    ev.evaluate(_Dedicated(), ts, tmp_path, tasks="sdr", backend="sdr-only", progress=False,
                dedicated_scoring="joint", sdr_input="mixture")
    ev.evaluate(IdentitySystem(), ts, tmp_path, tasks="sdr", backend="sdr-only", progress=False)
    track = ts.tracks()[0]
    for name in ("dedicated-stub", "identity"):
        doc = res.read_result(res.result_path(tmp_path, name, "sdr-vocals", track))
        assert doc["metric"]["scoring"] == "joint"
        assert doc["metric"]["joint_tasks"] == ["sdr-vocals", "sdr-drums", "sdr-bass", "sdr-other"]
        assert "model_input" not in doc["provenance"]


def test_old_results_without_scoring_read_as_joint_and_bad_values_are_refused(ts, tmp_path):
    ev.evaluate(IdentitySystem(), ts, tmp_path, tasks="sdr-vocals", backend="sdr-only", progress=False,
                summary=False)
    path = res.result_path(tmp_path, "identity", "sdr-vocals", ts.tracks()[0])
    doc = res.read_result(path)
    del doc["metric"]["scoring"]
    res.validate(doc)
    assert res.sdr_scoring(doc) == "joint" and res.model_input(doc) == {}
    doc["metric"]["scoring"] = "both"
    with pytest.raises(res.ResultValidationError, match="/metric/scoring"):
        res.validate(doc, path)


def test_cli_flags(tmp_path):
    import argparse

    from benchmark.cli import evaluate as cmd

    p = argparse.ArgumentParser()
    cmd.add_arguments(p)
    base = ["--system", "identity", "--testset", "t", "--out", "o"]
    args = p.parse_args(base)
    assert (args.dedicated_scoring, args.sdr_input) == ("pair", "auto")
    args = p.parse_args(base + ["--dedicated-scoring", "joint", "--sdr-input", "linear_mixture"])
    assert (args.dedicated_scoring, args.sdr_input) == ("joint", "linear_mixture")
    with pytest.raises(SystemExit):
        p.parse_args(base + ["--dedicated-scoring", "both"])


def test_table_header_states_the_scoring():
    assert tables.scoring_note(None) == ""
    assert tables.scoring_note(["joint"]) == " (scoring: joint)"
    assert tables.scoring_note(["joint", "pair"]).startswith(" (scoring: joint, pair; pair = dedicated models")


def test_estimate_is_fitted_to_the_track_before_the_accompaniment_is_formed():
    """ISMIR 2020 cut ŝ to the track length (and raised when shorter); we cut, or zero-pad like museval's
    pad_or_truncate, so that mixture − ŝ is defined."""
    est = np.arange(10, dtype=np.float32).reshape(5, 2)
    np.testing.assert_array_equal(ev.fit_length(est, 3), est[:3])
    padded = ev.fit_length(est, 7)
    assert padded.shape == (7, 2) and not padded[5:].any()
    np.testing.assert_array_equal(padded[:5], est)
