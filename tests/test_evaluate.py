"""End-to-end evaluation on the tiny test set: baselines, estimates folders, resumption, workers, rank sharding."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from baselines.identity import IdentitySystem
from baselines.oracle import OracleSystem
from benchmark.scoring import aggregate as agg
from benchmark.scoring import evaluate as ev
from benchmark.scoring import results as res
from benchmark.cli import evaluate as cmd
from benchmark.base.constants import SR
from benchmark.task.tasks import EVAL_TASKS, TASK_GROUPS
from benchmark.task.testset import TestSet, build

SMALL = "sdr,pan-left-vocals,lowpass-bass,volume-up-drums"  # 1 joint SDR unit + 3 RMSE-MFCC units per track
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def ts_dir(tiny_root, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("testset")
    build(tiny_root, out, progress=False)
    return out


@pytest.fixture(scope="module")
def testset(ts_dir) -> TestSet:
    return TestSet.open(ts_dir)


@pytest.fixture(scope="module")
def identity_out(testset, tmp_path_factory) -> Path:
    """identity on all 25 tasks (SDR with the closed-form back-end), one process."""
    out = tmp_path_factory.mktemp("identity")
    report = ev.evaluate(IdentitySystem(), testset, out, tasks="all", backend="sdr-only", progress=False)
    assert len(report.computed) == 25 * 2 and report.skipped == 0 and report.summary is not None
    return out


def _files(root: Path, system: str) -> dict[str, dict]:
    return {str(p.relative_to(root / system)): json.loads(p.read_text())
            for p in res.iter_result_paths(root / system)}


def _mfcc():
    from benchmark.scoring.metrics import rmse_mfcc

    return rmse_mfcc


# ------------------------------------------------------------------------------------------------ baselines e2e

def test_identity_end_to_end(identity_out, testset):
    files = _files(identity_out, "identity")
    assert len(files) == 50 and set(files) == {f"{t.id}/{tr}.json" for t in EVAL_TASKS for tr in testset.tracks()}
    rmse_mfcc = _mfcc()
    for rel, doc in files.items():
        res.validate(doc)
        assert doc["testset"]["manifest_hash"] == testset.manifest_hash
        assert doc["provenance"]["environment"]["packages"]["museval"] == "0.4.1"
        if doc["kind"] == "sdr":
            sdr = [fr["metrics"]["SDR"] for fr in doc["targets"][0]["frames"]]
            assert len(sdr) == 3 and all(isinstance(v, float) and np.isfinite(v) for v in sdr), rel  # 3 s → 3 frames
            assert doc["metric"]["joint_tasks"] == [t.id for t in TASK_GROUPS["sdr"]]
            assert doc["global_sdr"] < 0  # the mixture is a poor estimate of one stem
        else:  # identity = the reference loss of protocol §3.2: metric(A', A)
            pair = testset.load_pair(doc["task"]["id"], doc["track"])
            with ev.limited_threads(1):  # the runner's thread count (float32 MFCC sums depend on it)
                want = rmse_mfcc(pair.target, pair.input)
            assert doc["scores"] == {k: float(want[k]) for k in res.MFCC_KEYS}, rel
            assert doc["scores"]["mfcc_rmse"] > 0
    summary = json.loads((identity_out / "identity" / "summary.json").read_text())
    cells = {(c["task_id"], c["metric"]): c for c in summary["cells"]}
    assert {t.id for t in EVAL_TASKS} == {k[0] for k in cells}
    assert cells[("sdr-vocals", "SDR")]["value"] is not None and cells[("sdr-vocals", "SDR")]["n_tracks"] == 2
    assert cells[("sdr-vocals", "global_SDR")]["stat"].startswith("whole-track SDR")
    groups = {(g["group"], g["metric"]) for g in summary["groups"]}
    assert {("AVG", "SDR"), ("AVG", "global_SDR"), ("vocals", "mfcc_rmse"), ("bass", "mae")} <= groups
    assert summary["testset"]["manifest_hash"] == testset.manifest_hash


def test_oracle_end_to_end(testset, tmp_path):
    report = ev.evaluate(OracleSystem(), testset, tmp_path, tasks="sdr,pan-left-vocals,dereverb-bass",
                         backend="sdr-only", progress=False)
    assert len(report.computed) == 12
    for rel, doc in _files(tmp_path, "oracle").items():
        if doc["kind"] == "sdr":
            # perfect estimate: SDR = +inf in every frame → NaN by museval's storage rule → null
            assert [fr["metrics"]["SDR"] for fr in doc["targets"][0]["frames"]] == [None] * 3, rel
            assert np.isfinite(doc["global_sdr"]) and doc["global_sdr"] > 50  # 10·log10((Σs² + δ) / δ)
        else:
            assert doc["scores"] == {k: 0.0 for k in res.MFCC_KEYS}, rel
    summary = json.loads((tmp_path / "oracle" / "summary.json").read_text())
    sdr = [c for c in summary["cells"] if c["metric"] == "SDR"]
    assert len(sdr) == 4 and all(c["value"] is None for c in sdr)  # reported as NaN (null)
    mfcc = [c for c in summary["cells"] if c["family"] == "rmse_mfcc"]
    assert mfcc and all(c["value"] == 0.0 for c in mfcc)


def test_backend_and_device_reach_the_metric_and_the_files(testset, tmp_path, monkeypatch):
    """The --backend choice is what BSS-Eval runs and what the files record. (museval itself is slow — seconds per
    track even for 3 s tracks — and its equality with the fast back-ends is tested in tests/metrics; here a spy
    stands in for it: the closed-form SDR, with SIR/SAR/ISR copied from it.)"""
    import benchmark.scoring.metrics as metrics

    calls = []
    real = metrics.bss_eval_track

    def spy(refs, ests, *, backend, device, **kw):
        calls.append((tuple(refs), backend, device))
        out = real(refs, ests, backend="sdr-only", device=device, **kw)
        return {t: {"SDR": m["SDR"], "SIR": m["SDR"], "SAR": m["SDR"], "ISR": m["SDR"]} for t, m in out.items()}

    monkeypatch.setattr(metrics, "bss_eval_track", spy)
    ev.evaluate(IdentitySystem(), testset, tmp_path, tasks="sdr", backend="museval", progress=False)
    assert calls == [(("vocals", "drums", "bass", "other"), "museval", "cpu")] * 2  # one joint call per track
    summary = json.loads((tmp_path / "identity" / "summary.json").read_text())
    assert summary["sdr_backend"] == ["museval"]
    for doc in _files(tmp_path, "identity").values():
        assert doc["metric"]["backend"] == "museval"


def test_model_system_end_to_end(identity_out, testset, tmp_path):
    from baselines.model import ModelSystem
    from models.base import IdentityModel

    system = ModelSystem(model=IdentityModel(), name="identity-model")
    ev.evaluate(system, testset, tmp_path, tasks="sdr,pan-left-vocals", backend="sdr-only", progress=False)
    ref = _files(identity_out, "identity")
    got = _files(tmp_path, "identity-model")
    assert len(got) == 10
    for rel, doc in got.items():
        assert doc["system"]["kind"] == "model" and doc["estimate"]["sha256"] == ref[rel]["estimate"]["sha256"]
        if doc["kind"] == "sdr":
            assert doc["targets"] == ref[rel]["targets"]
        else:
            assert doc["scores"] == ref[rel]["scores"]


# ------------------------------------------------------------------------------------------------ resumption

class Crashing(IdentitySystem):
    """identity that dies after ``k`` estimates (a run killed part-way); same provenance as identity."""

    def __init__(self, k: int):
        super().__init__()
        self.k, self.calls = k, 0

    @property
    def fingerprint(self):
        return IdentitySystem().fingerprint

    def metadata(self):
        return IdentitySystem().metadata()

    def estimate(self, task, pair, *, track=None):
        self.calls += 1
        if self.calls > self.k:
            raise RuntimeError("simulated crash")
        return super().estimate(task, pair, track=track)


def test_interrupted_run_resumes_to_exactly_the_uninterrupted_results(identity_out, testset, tmp_path):
    with pytest.raises(ev.EvaluationError, match="simulated crash"):
        ev.evaluate(Crashing(k=5), testset, tmp_path, tasks=SMALL, backend="sdr-only", progress=False)
    partial = _files(tmp_path, "identity")
    assert len(partial) == 5  # the 4 joint SDR results of track 0 + one RMSE-MFCC result
    # a temporary file a killed atomic write can leave behind
    stale_tmp = tmp_path / "identity" / "lowpass-bass" / ".Noise 01 - Test.json.abc123.json"
    stale_tmp.parent.mkdir(parents=True, exist_ok=True)
    stale_tmp.write_text("{")
    mtimes = {p: p.stat().st_mtime_ns for p in res.iter_result_paths(tmp_path / "identity")}

    report = ev.evaluate(IdentitySystem(), testset, tmp_path, tasks=SMALL, backend="sdr-only", progress=False)
    assert len(report.computed) == 14 - 5 and report.skipped == 2
    assert not stale_tmp.exists()
    assert all(p.stat().st_mtime_ns == t for p, t in mtimes.items())  # finished results untouched
    final = _files(tmp_path, "identity")
    clean = {k: v for k, v in _files(identity_out, "identity").items() if k in final}
    assert set(final) == set(clean) and len(final) == 14
    for rel in final:
        assert res.comparable(final[rel]) == res.comparable(clean[rel]), rel
    # the wall times: those of the crashed run's 2 units and of the 6 computed now
    timing = json.loads((tmp_path / "identity" / "timing.json").read_text())
    assert len(timing["units"]) == 8 and timing["computed"] == 6 and timing["skipped"] == 2
    assert {k: timing[k] for k in ("format", "system", "rank", "world_size", "workers", "threads", "device",
                                   "backend")} == {"format": "amss-bench-eval-timing/1", "system": "identity",
                                                   "rank": 0, "world_size": 1, "workers": 1, "threads": 1,
                                                   "device": "cpu", "backend": "sdr-only"}
    assert set(timing) == {"format", "system", "rank", "world_size", "workers", "threads", "git_commit", "device",
                           "backend", "computed", "skipped", "elapsed_s", "units"}
    assert isinstance(timing["elapsed_s"], float) and timing["elapsed_s"] >= 0
    units = ev.plan(testset, ev.select_tasks(SMALL))
    assert [(tuple(u["tasks"]), u["track"]) for u in timing["units"]] == [(u.task_ids, u.track) for u in units]

    # complete: a rerun does nothing
    again = ev.evaluate(IdentitySystem(), testset, tmp_path, tasks=SMALL, backend="sdr-only", progress=False)
    assert again.computed == [] and again.skipped == 8

    # one file of a joint SDR unit lost → the whole unit (4 results) is recomputed, nothing else
    (tmp_path / "identity" / "sdr-drums" / "Noise 01 - Test.json").unlink()
    again = ev.evaluate(IdentitySystem(), testset, tmp_path, tasks=SMALL, backend="sdr-only", progress=False)
    assert sorted(p.parent.name for p in again.computed) == ["sdr-bass", "sdr-drums", "sdr-other", "sdr-vocals"]
    assert {p.stem for p in again.computed} == {"Noise 01 - Test"}

    # other provenance (metric back-end) → the SDR results are recomputed, the RMSE-MFCC results kept
    # (rank 0 of 2: track 0 only, to keep the full BSS-Eval back-end cheap)
    again = ev.evaluate(IdentitySystem(), testset, tmp_path, tasks=SMALL, backend="fast", progress=False, rank=0,
                        world_size=2, summary=False)
    assert len(again.computed) == 4 and {p.parent.name for p in again.computed} == {t.id for t in TASK_GROUPS["sdr"]}
    assert again.skipped == 3  # the RMSE-MFCC units of track 0
    doc = res.read_result(tmp_path / "identity" / "sdr-bass" / "Noise 00 - Test.json")
    assert doc["metric"]["backend"] == "fast" and set(doc["targets"][0]["frames"][0]["metrics"]) == {
        "SDR", "SIR", "SAR", "ISR"}


def test_parallel_workers_give_the_same_results(identity_out, testset, tmp_path):
    # bit-identical to the one-process run, RMSE-MFCC included (one BLAS/torch thread per unit everywhere)
    report = ev.evaluate(IdentitySystem(), testset, tmp_path, tasks="sdr,lowpass-bass,pan-left-vocals",
                         backend="sdr-only", workers=2, progress=False)
    assert report.workers == 2 and len(report.computed) == 12
    ref = _files(identity_out, "identity")
    for rel, doc in _files(tmp_path, "identity").items():
        assert res.comparable(doc) == res.comparable(ref[rel]), rel


def test_parent_process_computes_beside_its_workers(testset, tmp_path, monkeypatch):
    """With workers=2 this process computes units while the spawned worker starts (and after), the worker computes
    the others; every result file is byte-identical to a one-process run's."""
    local = []
    real = ev.run_unit_timed

    def spy(system, ts, unit, opts, out):
        local.append(unit)
        return real(system, ts, unit, opts, out)

    import concurrent.futures as cf

    contexts = []
    real_pool = cf.ProcessPoolExecutor

    def pool(*a, **kw):
        contexts.append((kw["mp_context"].get_start_method(), kw["max_workers"]))
        return real_pool(*a, **kw)

    one = ev.evaluate(IdentitySystem(), testset, tmp_path / "one", tasks=SMALL, backend="sdr-only", progress=False)
    monkeypatch.setattr(ev, "run_unit_timed", spy)
    monkeypatch.setattr(cf, "ProcessPoolExecutor", pool)
    two = ev.evaluate(IdentitySystem(), testset, tmp_path / "two", tasks=SMALL, backend="sdr-only", workers=2,
                      progress=False)
    n_units = len(one.timings)
    # spawned, not forked: a forked worker would inherit this process's torch/OpenMP state (docs/evaluation.md)
    assert contexts == [("spawn", 1)]
    assert two.workers == 2 and len(two.timings) == n_units == 8
    assert 1 <= len(local) < n_units  # both the parent and the worker took units
    assert sorted(map(str, two.computed)) == sorted(str(p).replace("/one/", "/two/") for p in one.computed)
    for p in one.computed:
        q = tmp_path / "two" / Path(p).relative_to(tmp_path / "one")
        assert q.read_bytes() == Path(p).read_bytes(), q


def test_two_runs_write_byte_identical_results(testset, tmp_path):
    """Results and summary hold no wall time, date, host name or output path, so two runs (into two
    folders) write the same bytes; the wall times are in timing.json, which is not a result."""
    outs = [tmp_path / "a", tmp_path / "b" / "elsewhere"]
    reports = [ev.evaluate(IdentitySystem(), testset, out, tasks=SMALL, backend="sdr-only", progress=False)
               for out in outs]
    files = [{str(p.relative_to(out / "identity")): p.read_bytes() for p in sorted((out / "identity").rglob("*"))
              if p.is_file()} for out in outs]
    assert set(files[0]) == set(files[1]) and len(files[0]) == 14 + 2  # 14 results, summary.json, timing.json
    for rel, data in files[0].items():
        if rel != res.TIMING:
            assert data == files[1][rel], rel
            assert str(tmp_path).encode() not in data and b"wall_time" not in data, rel
    for out, report in zip(outs, reports):
        timing = json.loads((out / "identity" / res.TIMING).read_text())
        assert report.timing == out / "identity" / res.TIMING and timing["computed"] == 8
        assert {(tuple(u["tasks"]), u["track"]) for u in timing["units"]} == {
            (u.task_ids, u.track) for u in ev.plan(testset, ev.select_tasks(SMALL))}
        assert all(u["wall_time_s"] >= u["estimate_s"] >= 0 for u in timing["units"])
    assert [p.name for p in res.iter_result_paths(outs[0])].count(res.TIMING) == 0


def test_rank_sharding_with_two_processes(identity_out, ts_dir, tmp_path):
    out = tmp_path / "out"
    procs = []
    for rank in (0, 1):
        env = {**os.environ, "RANK": str(rank), "WORLD_SIZE": "2", "LOCAL_RANK": str(rank)}
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "benchmark.cli.evaluate", "-q", "--system", "identity", "--tasks",
             "sdr", "--backend", "sdr-only", "--testset", str(ts_dir), "--out", str(out),
             "--workers", "1", "--no-progress"], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True))
    for p in procs:
        stdout, stderr = p.communicate(timeout=300)
        assert p.returncode == 0, stderr
    tracks = TestSet.open(ts_dir).tracks()
    ref = _files(identity_out, "identity")
    got = _files(out, "identity")
    assert len(got) == 8
    for rel, doc in got.items():
        assert doc["run"]["world_size"] == 2 and doc["run"]["rank"] == tracks.index(doc["track"]) % 2
        a, b = res.comparable(doc), res.comparable(ref[rel])
        a.pop("run"), b.pop("run")
        assert a == b, rel
    summary = json.loads((out / "identity" / "summary.json").read_text())  # written by rank 0 after both
    assert {c["n_tracks"] for c in summary["cells"]} == {2}
    for rank in (0, 1):  # one wall-time file per rank (not results)
        timing = json.loads((out / "identity" / f"timing.rank{rank}.json").read_text())
        assert timing["rank"] == rank and [u["track"] for u in timing["units"]] == [tracks[rank]]


# ------------------------------------------------------------------------------------------------ estimates folder

def _write_identity_estimates(testset, d: Path, task_ids):
    for tid in task_ids:
        for track in testset.tracks():
            pair = testset.load_pair(tid, track)
            (d / tid).mkdir(parents=True, exist_ok=True)
            sf.write(d / tid / f"{track}.wav", pair.input, SR, subtype="FLOAT")


def test_estimates_folder(identity_out, testset, ts_dir, tmp_path, capsys):
    est = tmp_path / "my-estimates"
    tids = [t.id for t in TASK_GROUPS["sdr"]] + ["pan-left-vocals"]
    _write_identity_estimates(testset, est, tids)
    out = tmp_path / "out"
    argv = ["--estimates", str(est), "--tasks", ",".join(tids), "--testset", str(ts_dir), "--out", str(out),
            "--backend", "sdr-only", "--workers", "1", "--no-progress", "-q"]
    assert cmd.main(argv) == 0
    assert "my-estimates: 10 result(s) written" in capsys.readouterr().out
    ref = _files(identity_out, "identity")
    for rel, doc in _files(out, "my-estimates").items():
        assert doc["system"]["kind"] == "estimates" and doc["estimate"]["source_sha256"] is not None
        assert doc["estimate"]["sha256"] == ref[rel]["estimate"]["sha256"]  # float32 WAV round trip is exact
        assert doc.get("targets") == ref[rel].get("targets") and doc.get("scores") == ref[rel].get("scores")

    # replacing one estimate file invalidates exactly the results computed from it
    track = testset.tracks()[0]
    f = est / "pan-left-vocals" / f"{track}.wav"
    audio, _ = sf.read(f, dtype="float32")
    sf.write(f, audio * 0.5, SR, subtype="FLOAT")
    report = ev.evaluate(cmd._build_system(cmd_args(est)), testset, out, tasks=",".join(tids), backend="sdr-only",
                         progress=False)
    assert [str(p.relative_to(out)) for p in report.computed] == [f"my-estimates/pan-left-vocals/{track}.json"]

    # a missing file: exit status 2, the message names the file, nothing is computed
    f.unlink()
    assert cmd.main(argv) == 2
    err = capsys.readouterr().err
    assert str(f) in err and "missing" in err
    # a wrong sample rate: named as well
    sf.write(f, audio, 22050, subtype="FLOAT")
    assert cmd.main(argv) == 2
    err = capsys.readouterr().err
    assert f"{f}: sample rate 22050 Hz, expected 44100 Hz" in err


def cmd_args(est):
    import argparse

    return argparse.Namespace(model=None, checkpoint=None, system=None, estimates=str(est), name=None, label=None,
                              seed=None)


# ------------------------------------------------------------------------------------------------ CLI + helpers

def test_cli_usage_errors(ts_dir, tmp_path, capsys):
    base = ["--testset", str(ts_dir), "--out", str(tmp_path), "--no-progress", "-q", "--workers", "1"]
    assert cmd.main(base) == 2
    assert "exactly one of" in capsys.readouterr().err
    assert cmd.main(base + ["--system", "identity", "--estimates", str(tmp_path)]) == 2
    capsys.readouterr()
    assert cmd.main(base + ["--system", "nope"]) == 2
    assert "unknown system 'nope'" in capsys.readouterr().err
    assert cmd.main(base + ["--system", "identity", "--tasks", "bogus"]) == 2
    assert "unknown task id 'bogus'" in capsys.readouterr().err
    assert cmd.main(base + ["--model", "u7-dcse"]) == 2
    assert "--checkpoint" in capsys.readouterr().err
    assert cmd.main(["--testset", str(tmp_path / "none"), "--out", str(tmp_path), "--system", "identity"]) == 2
    assert "no test-set manifest" in capsys.readouterr().err
    # a run with one SDR task only: its own joint set
    assert cmd.main(base + ["--system", "dsp-mixture", "--tasks", "sdr-vocals", "--backend", "sdr-only"]) == 0
    doc = res.read_result(tmp_path / "dsp-mixture" / "sdr-vocals" / "Noise 00 - Test.json")
    assert doc["metric"]["joint_tasks"] == ["sdr-vocals"]


def test_register_adds_the_evaluate_command():
    import argparse

    parser = argparse.ArgumentParser()
    cmd.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["evaluate", "--system", "identity", "--testset", "t", "--out", "o"])
    assert args.func is cmd._evaluate and args.backend == "fast" and args.tasks == "all"


def test_incomplete_results_on_disk_are_an_error(identity_out, testset, tmp_path):
    import shutil

    shutil.copytree(identity_out / "identity", tmp_path / "identity")
    (tmp_path / "identity" / "highpass-drums" / "Noise 01 - Test.json").unlink()
    with pytest.raises(agg.IncompleteResultsError, match=r"highpass-drums: 1 of 2 tracks missing: Noise 01 - Test"):
        agg.write_summary(tmp_path / "identity", testset)


def test_task_selection_planning_and_worker_defaults(testset, monkeypatch):
    assert [t.id for t in ev.select_tasks("sdr")] == [t.id for t in TASK_GROUPS["sdr"]]
    assert len(ev.select_tasks("all")) == 25 and len(ev.select_tasks("mfcc,sdr-vocals")) == 22
    with pytest.raises(KeyError):
        ev.select_tasks("sdr,nope")
    tasks = ev.select_tasks(SMALL)
    units = ev.plan(testset, tasks)
    assert [(u.kind, len(u.task_ids)) for u in units[:4]] == [("sdr", 4), ("mfcc", 1), ("mfcc", 1), ("mfcc", 1)]
    r0, r1 = ev.plan(testset, tasks, 0, 2), ev.plan(testset, tasks, 1, 2)
    assert {u.track for u in r0} == {testset.tracks()[0]} and {u.track for u in r1} == {testset.tracks()[1]}
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert ev.distributed_env() == (1, 2) and ev.rank_device("cuda") == "cuda:1" and ev.rank_device("cpu") == "cpu"
    # memory-aware default: never more than the CPUs, the units, or what RAM allows
    assert 1 <= ev.default_workers(testset, units, "fast") <= min(ev.cpu_count(), len(units))
    monkeypatch.setattr(ev, "available_memory", lambda: 100 << 20)
    assert ev.default_workers(testset, units, "museval") == 1
    assert 6e9 < ev.unit_memory(240 * SR, "museval") < 9e9  # protocol §5.4: 7.2 GB at 240 s


def test_run_unit_writes_what_run_unit_timed_writes(testset, tmp_path):
    tasks = ev.select_tasks(SMALL)
    opts = ev.Options(backend="sdr-only", scoring=ev.resolve_scoring(IdentitySystem(), "pair"),
                      sdr_input=ev.resolve_sdr_input(IdentitySystem(), "auto"))
    for unit in ev.plan(testset, tasks)[:2]:  # the SDR unit and an RMSE-MFCC unit of the first track
        paths = ev.run_unit(IdentitySystem(), testset, unit, opts, tmp_path / "a")
        timed, timing = ev.run_unit_timed(IdentitySystem(), testset, unit, opts, tmp_path / "b")
        assert [p.relative_to(tmp_path / "a") for p in paths] == [p.relative_to(tmp_path / "b") for p in timed]
        assert len(paths) == len(unit.task_ids) and timing["track"] == unit.track
        seconds = {k: v for k, v in timing.items() if k.endswith("_s")}
        assert seconds and all(v == round(v, 6) >= 0 for v in seconds.values()), timing  # µs resolution
        for p, q in zip(paths, timed):
            assert p.read_bytes() == q.read_bytes(), p


# ------------------------------------------------------------------------------------------------ runner details

class _Short(IdentitySystem):
    """The mixture, ``cut`` samples short."""

    def __init__(self, cut, **kw):
        super().__init__(name="short", **kw)
        self.cut = cut

    def estimate(self, task, pair, *, track=None):
        return super().estimate(task, pair, track=track)[: -self.cut]


def test_a_short_sdr_estimate_is_padded_and_a_short_mfcc_estimate_refused(testset, tmp_path):
    track = testset.tracks()[0]
    sdr_unit = ev.Unit("sdr", ("sdr-vocals",), track, 0)
    opts = ev.Options(backend="sdr-only", scoring="joint")
    (path,) = ev.run_unit(_Short(100), testset, sdr_unit, opts, tmp_path)  # BSS-Eval pads, as museval does
    assert res.read_result(path)["kind"] == "sdr"
    with pytest.raises(ev.EvaluationError) as err:
        ev.run_unit(_Short(100), testset, ev.Unit("mfcc", ("pan-left-vocals",), track, 0), opts, tmp_path)
    n = testset.load_pair("pan-left-vocals", track).target.shape[0]
    assert str(err.value) == (f"system 'short', task(s) pan-left-vocals, track {track!r}: ValueError: estimate has "
                              f"{n - 100} samples, the test pair {n}")


def _fake_units(monkeypatch):
    """run_unit_timed replaced by a recorder that writes nothing (the runner's bookkeeping is under test)."""
    ran = []

    def fake(system, ts, unit, opts, out):
        ran.append((unit, opts))
        return [], {"tasks": list(unit.task_ids), "track": unit.track, "seconds": 0.0}

    monkeypatch.setattr(ev, "run_unit_timed", fake)
    return ran


def test_worker_default_one_on_cuda_else_memory_aware_with_the_system_kind(testset, tmp_path, monkeypatch):
    ran = _fake_units(monkeypatch)
    asked = []
    monkeypatch.setattr(ev, "default_workers", lambda *a: asked.append(a) or 1)
    monkeypatch.setattr(ev, "_run_pool", lambda *a: pytest.fail("no pool for one worker"))
    report = ev.evaluate(IdentitySystem(), testset, tmp_path / "cpu", tasks=SMALL, backend="sdr-only", workers=None,
                         progress=False, summary=False)
    (ts, todo, backend, kind), = asked
    assert ts is testset and backend == "sdr-only" and kind == "baseline" and todo == ev.plan(testset,
                                                                                               ev.select_tasks(SMALL))
    assert report.workers == 1 and len(ran) == 8
    asked.clear()
    report = ev.evaluate(IdentitySystem(), testset, tmp_path / "cuda", tasks=SMALL, backend="sdr-only", workers=None,
                         device="cuda", progress=False, summary=False)
    assert asked == [] and report.workers == 1  # one process per GPU
    assert {str(o.device) for _, o in ran[8:]} == {"cuda"}


def test_a_timing_file_that_cannot_be_written_is_a_warning(testset, tmp_path, monkeypatch, caplog):
    _fake_units(monkeypatch)

    def no_disk(*a):
        raise OSError("disk full")

    monkeypatch.setattr(ev, "_write_timing", no_disk)
    report = ev.evaluate(IdentitySystem(), testset, tmp_path, tasks="pan-left-vocals", backend="sdr-only",
                         progress=False, summary=False)
    assert report.timing is None and len(report.timings) == 2
    assert ("amss_bench.evaluate", 30, "identity: could not write the wall times (disk full)") in caplog.record_tuples


def test_rank_0_of_several_waits_with_its_own_options(testset, tmp_path, monkeypatch):
    _fake_units(monkeypatch)
    waited = []
    monkeypatch.setattr(ev, "_wait_for_all", lambda *a: waited.append(a))
    from benchmark.scoring import aggregate

    monkeypatch.setattr(aggregate, "write_summary", lambda folder, ts: folder / "summary.json")
    report = ev.evaluate(IdentitySystem(), testset, tmp_path, tasks="pan-left-vocals", backend="sdr-only",
                         progress=False, rank=0, world_size=2, wait_timeout=5.0, poll_interval=0.5)
    (system, ts, selected, out, opts, world, timeout, poll), = waited
    assert ts is testset and out == tmp_path and world == 2 and (timeout, poll) == (5.0, 0.5)
    assert [t.id for t in selected] == ["pan-left-vocals"]
    assert isinstance(opts, ev.Options) and (opts.rank, opts.world_size, opts.backend) == (0, 2, "sdr-only")
    assert report.summary == tmp_path / "identity" / "summary.json"


@pytest.mark.parametrize("progress", [True, False])
def test_the_progress_bar_is_drawn_when_asked(testset, tmp_path, monkeypatch, capsys, progress):
    _fake_units(monkeypatch)
    ev.evaluate(IdentitySystem(), testset, tmp_path, tasks="pan-left-vocals", backend="sdr-only", progress=progress,
                summary=False)
    err = capsys.readouterr().err
    assert ("evaluate identity: 100%" in err and "2/2" in err and "result/s]" in err) == progress, err


def test_stale_temporary_files_are_removed_even_when_one_vanishes(testset, tmp_path, monkeypatch, caplog):
    caplog.set_level("INFO", logger="amss_bench.evaluate")
    unit = ev.plan(testset, ev.select_tasks("pan-left-vocals"))[0]
    (final,) = ev.unit_paths(tmp_path, IdentitySystem(), unit)
    final.parent.mkdir(parents=True)
    gone, stale = final.parent / f".{final.name}.gone", final.parent / f".{final.name}.abc123"
    gone.write_text("x")
    stale.write_text("x")
    real_unlink = Path.unlink

    def unlink(self, *a, **kw):
        if self == gone:  # another process removed it between the listing and the unlink
            real_unlink(self)
        return real_unlink(self, *a, **kw)

    monkeypatch.setattr(Path, "unlink", unlink)
    ev._clean_stale_temps(tmp_path, IdentitySystem(), [unit])
    assert not stale.exists() and not gone.exists()
    assert caplog.messages == [f"removed stale temporary file {stale}"]


def test_rank_0_returns_at_once_when_every_result_is_there(identity_out, testset):
    system = IdentitySystem()
    opts = ev.Options(backend="sdr-only", seed=system.seed, scoring=ev.resolve_scoring(system, "pair"),
                      sdr_input=ev.resolve_sdr_input(system, "auto"))
    assert ev._wait_for_all(system, testset, ev.select_tasks("all"), identity_out, opts, 1, 0.0, 0.0) is None
    # another provenance (a seed the results were not computed with): stale, so still waiting when the time is up
    stale = dataclasses.replace(opts, seed=12345)
    with pytest.raises(ev.EvaluationError, match=r"^rank 0 waited 0 s for the other ranks; still missing 44 unit"):
        ev._wait_for_all(system, testset, ev.select_tasks("all"), identity_out, stale, 1, 0.0, 0.0)


def test_workers_read_the_stems_from_the_root_given_to_the_run(ts_dir, tiny_root, tmp_path):
    """A test set whose data has moved: opened with the new root, the spawned workers must use it too."""
    import shutil

    moved = tmp_path / "ts"
    shutil.copytree(ts_dir, moved)
    manifest = json.loads((moved / "manifest.json").read_text())
    manifest["data"]["root"] = str(tmp_path / "moved-away")
    (moved / "manifest.json").write_text(json.dumps(manifest))
    ts = TestSet.open(moved, tiny_root)
    report = ev.evaluate(IdentitySystem(), ts, tmp_path / "out", tasks=SMALL, backend="sdr-only", workers=2,
                         progress=False, summary=False)
    assert report.workers == 2 and len(report.computed) == 2 * 7


def test_the_run_takes_the_rank_and_seed_it_is_given(testset, tmp_path, monkeypatch):
    ran = _fake_units(monkeypatch)
    tracks = testset.tracks()
    report = ev.evaluate(IdentitySystem(seed=3), testset, tmp_path / "a", tasks=SMALL, backend="sdr-only",
                         rank=1, world_size=2, progress=False, summary=False)
    assert (report.rank, report.world_size) == (1, 2) and {u.track for u, _ in ran} == {tracks[1]}
    assert {(o.rank, o.world_size, o.seed) for _, o in ran} == {(1, 2, 3)}  # the system's seed by default
    ran.clear()
    ev.evaluate(IdentitySystem(seed=3), testset, tmp_path / "b", tasks=SMALL, backend="sdr-only", seed=7,
                progress=False, summary=False)
    assert {(o.rank, o.world_size, o.seed) for _, o in ran} == {(0, 1, 7)} and len(ran) == 8


def test_the_progress_bar_counts_the_results_a_resumed_run_skips(testset, tmp_path, capsys):
    ev.evaluate(IdentitySystem(), testset, tmp_path, tasks="sdr,pan-left-vocals", backend="sdr-only",
                progress=False)
    capsys.readouterr()
    again = ev.evaluate(IdentitySystem(), testset, tmp_path, tasks="sdr,pan-left-vocals", backend="sdr-only",
                        progress=True, summary=False)
    assert again.skipped == 4 and again.computed == []
    err = capsys.readouterr().err
    assert "evaluate identity: 100%" in err and " 10/10 " in err, err  # 2 tracks x (4 SDR + 1 RMSE-MFCC) results


class _Mono(IdentitySystem):
    def estimate(self, task, pair, *, track=None):
        return np.asarray(pair.input)[:, 0]


def test_an_estimate_that_is_not_stereo_is_refused_with_its_shape(testset, tmp_path):
    track = testset.tracks()[0]
    unit = ev.Unit("mfcc", ("pan-left-vocals",), track, 0)
    with pytest.raises(ev.EvaluationError) as err:
        ev.run_unit(_Mono(), testset, unit, ev.Options(backend="sdr-only"), tmp_path)
    n = testset.load_pair("pan-left-vocals", track).input.shape[0]
    assert str(err.value) == (f"system 'identity', task(s) pan-left-vocals, track {track!r}: ValueError: estimate of "
                              f"shape ({n},), expected (samples, 2)")


def test_sdr_results_record_the_input_the_system_was_given(testset, tmp_path):
    ev.evaluate(IdentitySystem(), testset, tmp_path, tasks="sdr-vocals,pan-left-vocals", backend="sdr-only",
                sdr_input="linear_mixture", progress=False, summary=False)
    docs = _files(tmp_path, "identity")
    assert len(docs) == 4
    for rel, doc in docs.items():
        if doc["kind"] == "sdr":  # the stem sum, not the test pair's input
            assert doc["provenance"]["model_input"]["signal"] == "linear_mixture", rel
        else:
            assert "model_input" not in doc["provenance"], rel
