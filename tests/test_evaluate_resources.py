"""The runner's resource heuristics and its one-pair scorer, each against numbers worked out in the test: the memory
a unit needs (protocol §5.4), the memory-aware worker count, the CPU and RAM probes with their fallbacks, and
``pair_scores``' call of the BSS back-end (what the ISMIR 2020 code scored). No test set is built here."""

from __future__ import annotations

import io
import os
from types import SimpleNamespace

import numpy as np
import pytest

from benchmark.scoring import evaluate as ev
from benchmark.scoring import results as res
from benchmark.base.constants import SR

MB = 10 ** 6


# ------------------------------------------------------------------------------------------------ unit memory

def test_unit_memory_museval_is_430_bytes_per_fft_point_plus_300_mb():
    n = 2 ** 20 - 510  # n + 511 = 2^20 + 1: museval's FFT has 2^21 points (n - 511 would give 2^20)
    assert ev.unit_memory(n, "museval") == 300 * MB + 430 * 2 ** 21
    assert ev.unit_memory(2 ** 20 - 511, "museval") == 300 * MB + 430 * 2 ** 20  # exactly 2^20
    assert ev.unit_memory(30 * SR, "museval", "sdr") == 300 * MB + 430 * 2 ** 21  # 1 323 000 + 511 < 2^21
    assert ev.unit_memory(240 * SR, "museval", "sdr", "model") == 300 * MB + 430 * 2 ** 24 + 1000 * MB


@pytest.mark.parametrize("backend, kind", [("fast", "sdr"), ("sdr-only", "sdr"), ("museval", "mfcc"),
                                           ("fast", "mfcc")])
def test_unit_memory_elsewhere_is_400_bytes_per_sample_plus_300_mb(backend, kind):
    assert ev.unit_memory(1000, backend, kind) == 300 * MB + 400 * 1000
    assert ev.unit_memory(30 * SR, backend, kind, "baseline") == 300 * MB + 400 * 30 * SR
    assert ev.unit_memory(30 * SR, backend, kind, "model") == 1300 * MB + 400 * 30 * SR  # a model adds 1 GB
    assert isinstance(ev.unit_memory(7, backend, kind), int)


# ------------------------------------------------------------------------------------------------ worker count

def _units(kinds):
    return [ev.Unit(kind, (f"t{i}",), "A - B", 0) for i, kind in enumerate(kinds)]


FAKE_TESTSET = SimpleNamespace(entries=[SimpleNamespace(frames=10 * SR), SimpleNamespace(frames=30 * SR)])


def test_default_workers_divides_the_available_ram_by_the_largest_need(monkeypatch):
    monkeypatch.setattr(ev, "cpu_count", lambda: 64)
    units = _units(["sdr"] + ["mfcc"] * 9)
    museval_sdr = 300 * MB + 430 * 2 ** 21  # the longest track (30 s), museval: the largest need
    monkeypatch.setattr(ev, "available_memory", lambda: 3 * museval_sdr + 1)
    assert ev.default_workers(FAKE_TESTSET, units, "museval") == 3
    fast = 300 * MB + 400 * 30 * SR
    assert ev.default_workers(FAKE_TESTSET, units, "fast") == (3 * museval_sdr + 1) // fast == 4
    # a model adds 1 GB to every unit
    monkeypatch.setattr(ev, "available_memory", lambda: 2 * (museval_sdr + 1000 * MB))
    assert ev.default_workers(FAKE_TESTSET, units, "museval", "model") == 2
    assert ev.default_workers(FAKE_TESTSET, units, "museval", "baseline") == 2 * (museval_sdr + 1000 * MB) // \
        museval_sdr


def test_default_workers_is_capped_by_cpus_and_units_and_at_least_one(monkeypatch):
    monkeypatch.setattr(ev, "available_memory", lambda: 1 << 50)
    monkeypatch.setattr(ev, "cpu_count", lambda: 3)
    assert ev.default_workers(FAKE_TESTSET, _units(["mfcc"] * 10), "fast") == 3
    monkeypatch.setattr(ev, "cpu_count", lambda: 16)
    assert ev.default_workers(FAKE_TESTSET, _units(["mfcc"] * 5), "fast") == 5
    monkeypatch.setattr(ev, "available_memory", lambda: 1)  # not even one unit fits: still one worker
    assert ev.default_workers(FAKE_TESTSET, _units(["sdr", "mfcc"]), "museval") == 1
    assert ev.default_workers(FAKE_TESTSET, [], "fast") == 1
    assert isinstance(ev.default_workers(FAKE_TESTSET, _units(["sdr"]), "fast"), int)


# ------------------------------------------------------------------------------------------------ probes

def test_cpu_count_is_the_affinity_set_else_os_cpu_count_else_one(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 3, 5}, raising=False)
    assert ev.cpu_count() == 3
    monkeypatch.delattr(os, "sched_getaffinity")
    monkeypatch.setattr(os, "cpu_count", lambda: 6)
    assert ev.cpu_count() == 6
    monkeypatch.setattr(os, "cpu_count", lambda: None)
    assert ev.cpu_count() == 1


def test_available_memory_reads_memavailable_then_psutil_then_4_gib(monkeypatch):
    import psutil

    meminfo = "MemTotal:       16384 kB\nMemFree:         1024 kB\nMemAvailable:    2048 kB\n"
    opened = []

    def fake_open(path, *a, **kw):
        opened.append(path)
        return io.StringIO(meminfo)

    monkeypatch.setattr(ev, "open", fake_open, raising=False)
    monkeypatch.setattr(psutil, "virtual_memory", lambda: SimpleNamespace(available=12345.0))
    assert ev.available_memory() == 2048 * 1024 and opened == ["/proc/meminfo"]
    meminfo = "MemTotal:       16384 kB\n"  # no MemAvailable line: psutil
    assert ev.available_memory() == 12345 and isinstance(ev.available_memory(), int)

    def no_file(path, *a, **kw):
        raise OSError("no /proc here")

    monkeypatch.setattr(ev, "open", no_file, raising=False)
    assert ev.available_memory() == 12345

    def broken():
        raise RuntimeError("psutil cannot tell")

    monkeypatch.setattr(psutil, "virtual_memory", broken)
    assert ev.available_memory() == 4 << 30


# ------------------------------------------------------------------------------------------------ pair_scores

def test_pair_scores_is_a_two_source_call_against_target_and_accompaniment(monkeypatch):
    calls = []

    def bss_eval_track(refs, ests, **kw):
        calls.append((refs, ests, kw))
        return {"scores": True}

    monkeypatch.setattr(ev.metricinfo, "family", lambda name: SimpleNamespace(
        function=lambda: bss_eval_track) if name == "bss_eval" else pytest.fail(f"family {name!r}"))
    rng = np.random.default_rng(0)
    reference = rng.standard_normal((100, 2)).astype(np.float32)
    accompaniment = rng.standard_normal((100, 2)).astype(np.float32)
    mixture = rng.standard_normal((100, 2))  # float64: used as float32
    estimate = rng.standard_normal((90, 2))  # 10 samples short: zero-padded to the track

    assert ev.pair_scores("vocals", reference, estimate, mixture, accompaniment) == {"scores": True}
    (refs, ests, kw), = calls
    assert kw == {"backend": "fast", "device": "cpu", "win": 44100, "hop": 44100}
    assert list(refs) == ["vocals", "accompaniment"] and list(ests) == ["vocals", "accompaniment"]
    assert refs["vocals"] is reference and refs["accompaniment"] is accompaniment
    want = np.zeros((100, 2), np.float32)
    want[:90] = estimate.astype(np.float32)
    assert ests["vocals"].dtype == np.float32 and np.array_equal(ests["vocals"], want)
    assert ests["accompaniment"].dtype == np.float32
    assert np.array_equal(ests["accompaniment"], mixture.astype(np.float32) - want)

    ev.pair_scores("drums", reference, np.ones((120, 2)), mixture, accompaniment, backend="museval", device="cuda:1")
    (refs, ests, kw) = calls[-1]
    assert kw == {"backend": "museval", "device": "cuda:1", "win": 44100, "hop": 44100}
    assert list(refs) == ["drums", "accompaniment"] and ests["drums"].shape == (100, 2)  # cut to the track


# ------------------------------------------------------------------------------------------------ threads per unit

@pytest.mark.parametrize("threads", [1, 3])
def test_a_unit_runs_with_the_asked_thread_count_and_restores_it(monkeypatch, threads):
    import torch
    from threadpoolctl import threadpool_info

    seen = []

    def unit_body(system, testset, unit, opts, out):
        seen.append((torch.get_num_threads(), {p["num_threads"] for p in threadpool_info()}))
        return ["a.json"], {"track": unit.track}

    monkeypatch.setattr(ev, "_run_unit", unit_body)
    before = torch.get_num_threads()
    opts = ev.Options(threads=threads)
    unit = ev.Unit("mfcc", ("pan-left-vocals",), "A - B", 0)
    assert ev.run_unit_timed(None, None, unit, opts, "out") == (["a.json"], {"track": "A - B"})
    assert ev.run_unit(None, None, unit, opts, "out") == ["a.json"]
    assert seen == [(threads, {threads})] * 2 and torch.get_num_threads() == before


def test_a_failing_unit_names_system_tasks_and_track(monkeypatch):
    def unit_body(system, testset, unit, opts, out):
        raise KeyError("boom")

    monkeypatch.setattr(ev, "_run_unit", unit_body)
    unit = ev.Unit("sdr", ("sdr-vocals", "sdr-drums"), "A - B", 0)
    with pytest.raises(ev.EvaluationError) as err:
        ev.run_unit_timed(SimpleNamespace(name="sys"), None, unit, ev.Options(), "out")
    assert str(err.value) == "system 'sys', task(s) sdr-vocals, sdr-drums, track 'A - B': KeyError: 'boom'"
    assert isinstance(err.value.__cause__, KeyError)


# ------------------------------------------------------------------------------------------------ rank 0 waits

def _fake_testset(tracks, task_ids):
    return SimpleNamespace(path="ts/manifest.json", tracks=lambda: list(tracks),
                           entries=[SimpleNamespace(task_id=t, track=tr) for t in task_ids for tr in tracks])


def test_rank_0_names_the_missing_units_of_every_rank_in_rank_order(tmp_path):
    tracks = [f"T{i}" for i in range(5)]
    tasks = ev.select_tasks("pan-left-vocals")
    ts = _fake_testset(tracks, ["pan-left-vocals"])
    system = SimpleNamespace(name="sys")
    done = res.result_path(tmp_path, "sys", "pan-left-vocals", "T0")  # rank 0's first track only
    done.parent.mkdir(parents=True)
    done.write_text("{}")
    with pytest.raises(ev.EvaluationError) as err:
        ev._wait_for_all(system, ts, tasks, tmp_path, ev.Options(), 2, 0.0, 0.0)
    # world 2: rank 0 has T0, T2, T4 and rank 1 T1, T3; the missing ones in that order
    assert str(err.value) == ("rank 0 waited 0 s for the other ranks; still missing 4 unit(s): "
                              "pan-left-vocals on 'T2', pan-left-vocals on 'T4', pan-left-vocals on 'T1', "
                              "pan-left-vocals on 'T3'")


def test_rank_0_lists_at_most_ten_missing_units(tmp_path):
    tracks = [f"T{i:02d}" for i in range(12)]
    ts = _fake_testset(tracks, ["pan-left-vocals"])
    with pytest.raises(ev.EvaluationError) as err:
        ev._wait_for_all(SimpleNamespace(name="s"), ts, ev.select_tasks("pan-left-vocals"), tmp_path, ev.Options(),
                         1, 0.0, 0.0)
    message = str(err.value)
    assert message.startswith("rank 0 waited 0 s for the other ranks; still missing 12 unit(s): ")
    assert message.count("pan-left-vocals on") == 10 and message.endswith("pan-left-vocals on 'T09'")


# ------------------------------------------------------------------------------------------------ resolution tables

@pytest.mark.parametrize("family, mode, scoring, sdr_input", [
    ("dedicated", None, "pair", "linear_mixture"),
    ("conditioned", "lasaft", "joint", "linear_mixture"),
    ("conditioned", "overlap", "joint", "mixture"),  # LaSAFT HEAD reads the mixture
    ("amss", "amss", "joint", "mixture"),
    (None, None, "joint", "mixture"),  # baselines, estimates folders
])
def test_scoring_and_sdr_input_by_family_with_the_defaults(family, mode, scoring, sdr_input):
    system = SimpleNamespace(family=family, mode=mode) if family else SimpleNamespace()
    assert ev.resolve_scoring(system) == scoring
    assert ev.resolve_scoring(system, "joint") == "joint"
    assert ev.resolve_sdr_input(system) == sdr_input
    for explicit in ("mixture", "linear_mixture"):
        assert ev.resolve_sdr_input(system, explicit) == explicit


def test_unknown_scoring_and_sdr_input_are_refused_by_name():
    with pytest.raises(ValueError) as err:
        ev.resolve_scoring(SimpleNamespace(), "both")
    assert str(err.value) == "dedicated_scoring must be one of pair, joint, got 'both'"
    with pytest.raises(ValueError) as err:
        ev.resolve_sdr_input(SimpleNamespace(), "stems")
    assert str(err.value) == "sdr_input must be one of auto, mixture, linear_mixture, got 'stems'"


def test_a_unit_names_its_tasks_and_track():
    assert str(ev.Unit("sdr", ("sdr-vocals", "sdr-drums"), "A - B", 3)) == "sdr-vocals+sdr-drums on 'A - B'"
    assert str(ev.Unit("mfcc", ("pan-left-vocals",), "It's", 0)) == "pan-left-vocals on \"It's\""
