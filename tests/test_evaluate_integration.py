"""Where the pieces meet: the numbers the runner writes against an independent computation on the same
loaded pair, the exit status of `evaluate` for each outcome, corrupt/truncated estimate files, the multi-checkpoint
call of dvc.yaml, and resumption over unusable result files."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from baselines.identity import IdentitySystem
from benchmark.scoring import evaluate as ev
from benchmark.scoring import results as res
from benchmark.cli import evaluate as cmd
from benchmark.base.constants import SR
from benchmark.task.tasks import TASK_GROUPS, get_task
from benchmark.task.testset import TestSet, build

SDR_IDS = [t.id for t in TASK_GROUPS["sdr"]]
MFCC_IDS = ["pan-left-vocals", "lowpass-bass"]


@pytest.fixture(scope="module")
def ts_dir(tiny_root, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("testset")
    build(tiny_root, out, tasks=tuple(get_task(t) for t in SDR_IDS + MFCC_IDS), progress=False)
    return out


@pytest.fixture(scope="module")
def testset(ts_dir) -> TestSet:
    return TestSet.open(ts_dir)


class Scaled(IdentitySystem):
    """The mixture scaled per task plus a little seeded noise: an estimate that is neither the reference nor
    symmetric with it, with finite SIR/SAR/ISR (a pure mixture would leave no artefacts: SAR near +inf, noise)."""

    def estimate(self, task, pair, *, track=None):
        k = SDR_IDS.index(task.id) if task.kind == "sdr" else 4
        noise = np.random.default_rng(k).normal(0, 0.01, pair.input.shape).astype(np.float32)
        return ((0.25 + 0.1 * k) * pair.input + noise).astype(np.float32)


@pytest.fixture(scope="module")
def fast_out(testset, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("fast")
    report = ev.evaluate(Scaled(name="scaled"), testset, out, tasks="sdr", backend="fast", progress=False)
    assert len(report.computed) == 8 and report.skipped == 0
    return out


def _global_sdr_by_hand(s, e, delta=1e-7):
    s, e = np.asarray(s, np.float64), np.asarray(e, np.float64)
    return 10 * math.log10((np.sum(s ** 2) + delta) / (np.sum((s - e) ** 2) + delta))


def test_result_sdr_equals_bss_eval_on_the_loaded_pair(fast_out, testset):
    """Every frame value and the global SDR in the files against a BSS-Eval call made here, with references = the
    test pair's targets and estimates = what the system returns (a swapped call gives other numbers)."""
    from benchmark.scoring.metrics import bss_eval_track, to_museval_json

    system = Scaled(name="scaled")
    for track in testset.tracks():
        pairs = {tid: testset.load_pair(tid, track) for tid in SDR_IDS}
        refs = {get_task(t).museval_target: pairs[t].target for t in SDR_IDS}
        ests = {get_task(t).museval_target: np.asarray(system.estimate(get_task(t), pairs[t]), np.float32)
                for t in SDR_IDS}
        with ev.limited_threads(1):
            want = to_museval_json(bss_eval_track(refs, ests, backend="fast", win=SR, hop=SR), track)
            swapped = to_museval_json(bss_eval_track(ests, refs, backend="fast", win=SR, hop=SR), track)
        for tid in SDR_IDS:
            target = get_task(tid).museval_target
            doc = res.read_result(res.result_path(fast_out, "scaled", tid, track))
            frames = doc["targets"][0]["frames"]
            wf = next(t for t in want["targets"] if t["name"] == target)["frames"]
            sf_ = next(t for t in swapped["targets"] if t["name"] == target)["frames"]
            assert len(frames) == len(wf) == 3
            for got, exp, swp in zip(frames, wf, sf_):
                assert (got["time"], got["duration"]) == (exp["time"], exp["duration"])
                for m in ("SDR", "SIR", "SAR", "ISR"):
                    assert got["metrics"][m] == pytest.approx(exp["metrics"][m], abs=1e-9), (tid, track, m)
                assert abs(got["metrics"]["SDR"] - swp["metrics"]["SDR"]) > 0.5  # the check can tell a swap
            g = _global_sdr_by_hand(pairs[tid].target, ests[target])
            assert doc["global_sdr"] == pytest.approx(g, abs=1e-9)
            assert abs(doc["global_sdr"] - _global_sdr_by_hand(ests[target], pairs[tid].target)) > 0.5
            assert doc["estimate"]["sha256"] != "0" * 64 and doc["estimate"]["frames"] == pairs[tid].target.shape[0]


def test_summary_numbers_equal_the_statistics_of_the_files(fast_out, testset):
    summary = json.loads((fast_out / "scaled" / "summary.json").read_text())
    cells = {(c["task_id"], c["metric"]): c for c in summary["cells"]}
    for tid in SDR_IDS:
        docs = [res.read_result(res.result_path(fast_out, "scaled", tid, tr)) for tr in testset.tracks()]
        per_track = [np.nanmedian([np.nan if f["metrics"]["SDR"] is None else f["metrics"]["SDR"]
                                   for f in d["targets"][0]["frames"]]) for d in docs]
        assert cells[(tid, "SDR")]["value"] == pytest.approx(float(np.median(per_track)), abs=1e-12)
        assert cells[(tid, "global_SDR")]["value"] == pytest.approx(np.mean([d["global_sdr"] for d in docs]),
                                                                    abs=1e-12)


# ------------------------------------------------------------------------------------------------ exit statuses

def _argv(ts_dir, out, *extra):
    return ["--testset", str(ts_dir), "--out", str(out), "--no-progress", "-q", "--workers", "1", *extra]


def test_evaluate_exit_0_on_success(ts_dir, tmp_path, capsys):
    assert cmd.main(_argv(ts_dir, tmp_path, "--system", "identity", "--tasks", "pan-left-vocals")) == 0
    out = capsys.readouterr()
    assert "identity: 2 result(s) written" in out.out and "error" not in out.err
    assert cmd.main(_argv(ts_dir, tmp_path, "--system", "identity", "--tasks", "pan-left-vocals")) == 0
    assert "0 result(s) written, 2 unit(s) already done" in capsys.readouterr().out


def test_evaluate_exit_1_when_a_unit_fails(ts_dir, tmp_path, capsys, monkeypatch):
    import benchmark.scoring.metrics as metrics

    def broken(*a, **kw):
        raise RuntimeError("metric blew up")

    monkeypatch.setattr(metrics, "rmse_mfcc", broken)
    assert cmd.main(_argv(ts_dir, tmp_path, "--system", "identity", "--tasks", "pan-left-vocals")) == 1
    err = capsys.readouterr().err
    assert "metric blew up" in err and "pan-left-vocals" in err and "identity" in err
    assert not list(res.iter_result_paths(tmp_path))  # nothing written, no summary
    assert not (tmp_path / "identity" / "summary.json").exists()


def test_evaluate_exit_1_when_the_results_cannot_be_aggregated(ts_dir, tmp_path, capsys):
    """A result of another test set already in the output folder: the run's own units are done, but the summary
    must refuse to mix them (exit 1, not 0 and not a traceback)."""
    assert cmd.main(_argv(ts_dir, tmp_path, "--system", "identity", "--tasks", "pan-left-vocals")) == 0
    capsys.readouterr()
    p = next(res.iter_result_paths(tmp_path / "identity"))
    doc = json.loads(p.read_text())
    doc["track"] = "Someone - Else"
    res.write_result(tmp_path, doc)
    assert cmd.main(_argv(ts_dir, tmp_path, "--system", "identity", "--tasks", "pan-left-vocals")) == 1
    assert "tracks not in the test set: Someone - Else" in capsys.readouterr().err


def test_evaluate_exit_2_on_bad_input(ts_dir, tmp_path, capsys):
    assert cmd.main(_argv(ts_dir, tmp_path, "--system", "identity", "--tasks", "mfcc")) == 2  # not in this test set
    assert "no pair for task(s)" in capsys.readouterr().err
    assert cmd.main(_argv(ts_dir, tmp_path, "--system", "identity", "--workers", "0")) == 2
    assert cmd.main(_argv(ts_dir, tmp_path, "--system", "identity", "--threads", "0")) == 2
    assert cmd.main(_argv(ts_dir, tmp_path, "--estimates", str(tmp_path / "nowhere"))) == 2
    assert "estimates folder not found" in capsys.readouterr().err
    assert not list(res.iter_result_paths(tmp_path))


def test_evaluate_refuses_a_batch_size_below_one(ts_dir, tmp_path, capsys):
    # infer_track sliced its windows by the raw batch size: --batch-size 0 scored silence (docs/testing.md)
    for size in ("0", "-1"):
        assert cmd.main(_argv(ts_dir, tmp_path, "--system", "identity", "--batch-size", size)) == 2
        assert f"--batch-size must be >= 1, got {size}" in capsys.readouterr().err
    assert not list(res.iter_result_paths(tmp_path))


def test_top_level_cli_passes_the_status_through(ts_dir, tmp_path, monkeypatch, capsys):
    from benchmark import cli

    assert cli.main(["-q", "evaluate", "--testset", str(ts_dir), "--out", str(tmp_path), "--system", "nope"]) == 2
    assert "unknown system 'nope'" in capsys.readouterr().err
    assert cli.main(["-q", "aml", "parse", "apply heavy lowpass to guitar"]) == 2
    assert cli.main(["-q", "aml", "parse", "apply heavy lowpass to bass"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["generator_id"] == "lowpass:heavy:bass"
    with pytest.raises(SystemExit) as e:  # argparse usage errors
        cli.main(["evaluate", "--system", "identity"])
    assert e.value.code == 2


# ------------------------------------------------------------------------------------------------ corrupt / truncated WAVs

def _truncate(path: Path, keep: int) -> None:
    data = path.read_bytes()
    path.write_bytes(data[:keep])


def _garbage(path: Path) -> None:
    path.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunkjunkjunk" + bytes(range(256)))


def _estimates(testset, d: Path, task_ids, subtype="FLOAT"):
    for tid in task_ids:
        for track in testset.tracks():
            pair = testset.load_pair(tid, track)
            (d / tid).mkdir(parents=True, exist_ok=True)
            sf.write(d / tid / f"{track}.wav", pair.input, SR, subtype=subtype)


@pytest.mark.parametrize("damage", ["garbage", "header-only", "empty"])
def test_estimates_corrupt_files_exit_2_naming_the_file(testset, ts_dir, tmp_path, capsys, damage):
    est = tmp_path / "est"
    _estimates(testset, est, ["pan-left-vocals"])
    f = est / "pan-left-vocals" / f"{testset.tracks()[1]}.wav"
    {"garbage": _garbage, "header-only": lambda p: _truncate(p, 30), "empty": lambda p: p.write_bytes(b"")}[damage](f)
    argv = _argv(ts_dir, tmp_path / "out", "--estimates", str(est), "--tasks", "pan-left-vocals")
    assert cmd.main(argv) == 2
    err = capsys.readouterr().err
    assert str(f) in err and "not a readable audio file" in err
    assert not list(res.iter_result_paths(tmp_path / "out"))


def test_estimates_truncated_data_is_refused_for_rmse_mfcc(testset, ts_dir, tmp_path, capsys):
    """A WAV cut short in its data chunk (the header still announces every frame): an RMSE-MFCC estimate must have
    the length of the pair, so the run refuses it (bad input, 2) and names the file."""
    est = tmp_path / "est"
    _estimates(testset, est, ["pan-left-vocals"], subtype="PCM_16")
    f = est / "pan-left-vocals" / f"{testset.tracks()[0]}.wav"
    _truncate(f, f.stat().st_size - 4000)
    argv = _argv(ts_dir, tmp_path / "out", "--estimates", str(est), "--tasks", "pan-left-vocals")
    assert cmd.main(argv) == 2
    err = capsys.readouterr().err
    assert testset.tracks()[0] in err and "samples" in err
    assert not (tmp_path / "out" / "est" / "pan-left-vocals" / f"{testset.tracks()[0]}.json").exists()


def _bss_dirs(tmp_path, n=SR * 2):
    rng = np.random.default_rng(0)
    ref, est = tmp_path / "ref", tmp_path / "est"
    for d in (ref, est):
        d.mkdir()
    for t in ("vocals", "drums"):
        s = rng.uniform(-0.3, 0.3, (n, 2)).astype(np.float32)
        sf.write(ref / f"{t}.wav", s, SR, subtype="PCM_16")
        sf.write(est / f"{t}.wav", s + rng.normal(0, 0.05, s.shape).astype(np.float32), SR, subtype="PCM_16")
    return ref, est


def _metrics_main(argv):
    import argparse

    from benchmark.cli import metrics

    ap = argparse.ArgumentParser()
    metrics.register(ap.add_subparsers(dest="command", required=True))
    a = ap.parse_args(argv)
    return a.func(a)


@pytest.mark.parametrize("damage", ["garbage", "header-only"])
def test_metrics_corrupt_wavs_exit_2(tmp_path, capsys, damage):
    ref, est = _bss_dirs(tmp_path)
    f = est / "drums.wav"
    (_garbage if damage == "garbage" else lambda p: _truncate(p, 30))(f)
    assert _metrics_main(["metrics", "bss", "--reference", str(ref), "--estimate", str(est),
                          "--backend", "sdr-only"]) == 2
    err = capsys.readouterr().err
    assert str(f) in err and "not a readable audio file" in err
    assert _metrics_main(["metrics", "rmse-mfcc", "--reference", str(ref / "vocals.wav"), "--estimate", str(f)]) == 2
    assert str(f) in capsys.readouterr().err


def test_metrics_truncated_wav(tmp_path, capsys):
    """rmse-mfcc refuses an estimate cut short (names the file and both lengths); bss zero-pads it like museval and
    says so in the numbers: the frames past the cut are not those of the intact file."""
    ref, est = _bss_dirs(tmp_path)
    _truncate(est / "vocals.wav", (est / "vocals.wav").stat().st_size - SR * 2)  # ~0.5 s of 16-bit stereo
    assert _metrics_main(["metrics", "rmse-mfcc", "--reference", str(ref / "vocals.wav"),
                          "--estimate", str(est / "vocals.wav")]) == 2
    err = capsys.readouterr().err
    assert f"{est / 'vocals.wav'}: " in err and f"expected {SR * 2} like" in err
    assert _metrics_main(["metrics", "bss", "--reference", str(ref), "--estimate", str(est),
                          "--backend", "sdr-only"]) == 0
    doc = json.loads(capsys.readouterr().out)
    vocals = next(t for t in doc["targets"] if t["name"] == "vocals")["frames"]
    drums = next(t for t in doc["targets"] if t["name"] == "drums")["frames"]
    assert len(vocals) == 2 and vocals[1]["metrics"]["SDR"] < drums[1]["metrics"]["SDR"] - 3


@pytest.mark.parametrize("damage", ["garbage", "header-only", "missing"])
def test_manipulate_corrupt_input_exit_2(tmp_path, capsys, damage):
    from benchmark.cli import models

    import argparse

    f = tmp_path / "in.wav"
    sf.write(f, np.zeros((SR // 2, 2), np.float32), SR, subtype="PCM_16")
    if damage == "garbage":
        _garbage(f)
    elif damage == "header-only":
        _truncate(f, 30)
    else:
        f.unlink()
    ap = argparse.ArgumentParser()
    models.register(ap.add_subparsers(dest="command", required=True))
    a = ap.parse_args(["manipulate", str(f), "separate vocals", "--model", "u7-dcse", "--profile", "embedded",
                       "-o", str(tmp_path / "out.wav")])
    assert a.func(a) == 2
    err = capsys.readouterr().err
    assert str(f) in err and ("not a readable audio file" in err or "file not found" in err)
    assert not (tmp_path / "out.wav").exists()


# ------------------------------------------------------------------------------------------------ dvc.yaml's call

@pytest.fixture(scope="module")
def dedicated(tmp_path_factory):
    from models import checkpoint, registry

    d = tmp_path_factory.mktemp("ckpt")
    paths = {}
    for k, source in enumerate(("vocals", "drums", "bass", "other")):
        model = registry.create("u7-dcse", profile="embedded", source=source, seed=k)
        paths[source] = checkpoint.save(model, d / source / "seed2019" / "model.pt", {"seed": 2019})
    return paths


def test_evaluate_several_checkpoints_with_name_and_label_as_dvc_yaml(dedicated, ts_dir, testset, tmp_path, capsys):
    """`amss-bench evaluate --model M --checkpoint <4 stems> --tasks sdr --name M-seedS --label M` (dvc.yaml,
    evaluate-dedicated): one system, each SDR task answered by its own stem's network, results under --name with
    the row --label, and the same numbers as evaluating one checkpoint alone."""
    out = tmp_path / "results"
    argv = ["--model", "u7-dcse", "--checkpoint", *(str(dedicated[s]) for s in ("vocals", "drums", "bass", "other")),
            "--tasks", "sdr", "--testset", str(ts_dir), "--out", str(out), "--name", "u7-dcse-seed2019",
            "--label", "u7-dcse", "--backend", "sdr-only", "--workers", "1", "--no-progress", "-q"]
    assert cmd.main(argv) == 0
    assert "u7-dcse-seed2019: 8 result(s) written" in capsys.readouterr().out
    docs = {(d["task"]["id"], d["track"]): d for d in res.load_results(out / "u7-dcse-seed2019")}
    assert set(docs) == {(t, tr) for t in SDR_IDS for tr in testset.tracks()}
    assert {(d["system"]["name"], d["system"]["label"], d["run"]["seed"]) for d in docs.values()} == {
        ("u7-dcse-seed2019", "u7-dcse", 2019)}
    assert len({d["estimate"]["sha256"] for d in docs.values()}) == 8  # four different networks, two tracks
    summary = json.loads((out / "u7-dcse-seed2019" / "summary.json").read_text())
    assert summary["labels"] == ["u7-dcse"] and summary["systems"] == ["u7-dcse-seed2019"]
    # the drums network alone gives the drums results of the joint system
    solo = tmp_path / "solo"
    assert cmd.main(["--model", "u7-dcse", "--checkpoint", str(dedicated["drums"]), "--tasks", "sdr-drums",
                     "--testset", str(ts_dir), "--out", str(solo), "--name", "solo", "--backend", "sdr-only",
                     "--workers", "1", "--no-progress", "-q"]) == 0
    for tr in testset.tracks():
        alone = res.read_result(res.result_path(solo, "solo", "sdr-drums", tr))
        assert alone["estimate"]["sha256"] == docs[("sdr-drums", tr)]["estimate"]["sha256"]
    # a rerun of the same call is a no-op
    assert cmd.main(argv) == 0
    assert "0 result(s) written, 2 unit(s) already done" in capsys.readouterr().out


def test_several_checkpoints_of_the_wrong_model_are_refused(dedicated, ts_dir, tmp_path, capsys):
    argv = ["--model", "u7-dme", "--checkpoint", str(dedicated["vocals"]), str(dedicated["drums"]),
            "--tasks", "sdr", "--testset", str(ts_dir), "--out", str(tmp_path), "--name", "x", "--no-progress", "-q"]
    assert cmd.main(argv) == 2
    assert "u7-dme" in capsys.readouterr().err
    assert not list(res.iter_result_paths(tmp_path))


# ------------------------------------------------------------------------------------------------ resumption

def _reference_run(testset, out):
    ev.evaluate(IdentitySystem(), testset, out, tasks="pan-left-vocals,lowpass-bass", backend="sdr-only",
                progress=False)
    return {p: p.read_bytes() for p in res.iter_result_paths(out / "identity")}


CORRUPTIONS = {
    "truncated JSON": lambda b: b[: len(b) // 2],
    "empty": lambda b: b"",
    "NUL bytes": lambda b: b"\x00" * len(b),
    "not an object": lambda b: b"[]",
    "valid JSON, wrong content": lambda b: json.dumps({"schema_version": 1}).encode(),
    "another result's numbers": lambda b: json.dumps({**json.loads(b), "scores": {"mfcc_rmse": -1}}).encode(),
    "invalid UTF-8": lambda b: b"\xff\xfe" + b[2:],
}


@pytest.mark.parametrize("what", list(CORRUPTIONS))
def test_resume_recomputes_a_corrupt_result_file(testset, tmp_path, what):
    want = _reference_run(testset, tmp_path / "ref")
    out = tmp_path / "out"
    shutil.copytree(tmp_path / "ref", out)
    victim = res.result_path(out, "identity", "lowpass-bass", testset.tracks()[1])
    victim.write_bytes(CORRUPTIONS[what](victim.read_bytes()))
    report = ev.evaluate(IdentitySystem(), testset, out, tasks="pan-left-vocals,lowpass-bass", backend="sdr-only",
                         progress=False)
    assert report.computed == [victim] and report.skipped == 3
    got = {p: p.read_bytes() for p in res.iter_result_paths(out / "identity")}
    assert {p.relative_to(out): b for p, b in got.items()} == {p.relative_to(tmp_path / "ref"): b
                                                               for p, b in want.items()}


def test_resume_recomputes_a_result_of_other_provenance(testset, tmp_path, caplog):
    _reference_run(testset, tmp_path)
    caplog.set_level("INFO", logger="amss_bench.evaluate")
    victim = res.result_path(tmp_path, "identity", "pan-left-vocals", testset.tracks()[0])
    doc = json.loads(victim.read_text())
    doc["scores"]["mfcc_rmse"] = 123.0  # numbers are not provenance: a tampered value is kept ...
    doc["testset"]["target_sha256"] = "d" * 64  # ... but another pair is not
    res.write_result(tmp_path, doc)
    report = ev.evaluate(IdentitySystem(), testset, tmp_path, tasks="pan-left-vocals,lowpass-bass",
                         backend="sdr-only", progress=False)
    assert report.computed == [victim] and report.skipped == 3
    assert res.read_result(victim)["scores"]["mfcc_rmse"] != 123.0
    assert caplog.messages == [f"{victim}: provenance differs (target_sha256); recomputing",
                               "identity: 3 of 4 unit(s) already done (matching provenance), skipped"]


# ------------------------------------------------------------------------------------------------ other commands

def test_data_check_and_testset_exit_codes_on_a_corrupt_stem(tiny_root, tmp_path, capsys):
    from benchmark import cli

    assert cli.main(["-q", "data", "check", "--root", str(tiny_root)]) == 0
    assert "test: 2 tracks" in capsys.readouterr().out
    track = "Noise 00 - Test"
    assert cli.main(["-q", "testset", "pair", "--root", str(tiny_root), "--track", track, "--query",
                     "apply heavy highpass to bass", "-o", str(tmp_path / "pair")]) == 0
    assert "normalisation gain" in capsys.readouterr().out
    assert cli.main(["-q", "testset", "pair", "--root", str(tiny_root), "--track", track, "--query",
                     "apply heavy highpass to guitar", "-o", str(tmp_path / "pair2")]) == 2
    assert cli.main(["-q", "testset", "pair", "--root", str(tiny_root), "--track", "No - Such", "--query",
                     "separate bass", "-o", str(tmp_path / "pair3")]) == 2
    capsys.readouterr()
    root = tmp_path / "root"
    shutil.copytree(tiny_root, root)
    bad = root / "test" / "Noise 01 - Test" / "drums.wav"
    _truncate(bad, 30)
    assert cli.main(["-q", "data", "check", "--root", str(root)]) == 2
    assert "drums.wav" in capsys.readouterr().err
    assert cli.main(["-q", "testset", "build", "--root", str(root), "--out", str(tmp_path / "ts")]) == 2
    assert "drums.wav" in capsys.readouterr().err
    assert not (tmp_path / "ts" / "manifest.json").exists()
