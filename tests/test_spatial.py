"""The training-free spatial separators (baselines/spatial): STFT helpers, the stem assignment, each method's output
shape, determinism and a quality floor on synthetic mixtures whose sources and positions are known, and the systems.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import baselines
from baselines.base import SystemConfigError
from baselines.spatial import DEFAULTS, SpatialSeparator, SpatialSystem, assign, resolve_params
from baselines.spatial.stft import Grid, OverlapAdd, frames
from benchmark.base.constants import SOURCES, SR
from benchmark.task import dsp
from benchmark.task.tasks import EVAL_TASKS, get_task

SECONDS = 3.0


def pan_gains(p: float) -> np.ndarray:
    """The constant-power pan law of the synthetic renderer (benchmark.data.synth), −1 left … +1 right."""
    th = (p + 1) * math.pi / 4
    return np.array([math.sqrt(2) * math.cos(th), math.sqrt(2) * math.sin(th)])


def sources(n: int, seed: int = 0) -> np.ndarray:
    """Four mono sources with the character of their stems (SOURCES order), each at RMS 0.1."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / SR
    env = lambda rate, ph: 0.5 + 0.5 * np.sin(2 * np.pi * rate * t + ph)  # noqa: E731
    vocals = sum(np.sin(2 * np.pi * 440 * h * t * (1 + 0.003 * np.sin(2 * np.pi * 5 * t))) / h
                 for h in range(1, 6)) * env(1.3, 0)
    hits = np.zeros(n)
    hits[::SR // 4] = 1
    drums = np.convolve(hits, rng.standard_normal(2000) * np.exp(-np.arange(2000) / 300), mode="same")
    bass = sum(np.sin(2 * np.pi * 55 * h * t) / h for h in range(1, 4)) * env(0.7, 1)
    other = sum(np.sin(2 * np.pi * f * t) for f in (1318.5, 1568.0, 1975.5)) * env(0.9, 2)
    s = np.stack([vocals, drums, bass, other])
    return 0.1 * s / np.sqrt((s ** 2).mean(axis=1, keepdims=True))


def mixture(positions: dict[str, tuple[float, int]], seconds: float = SECONDS):
    """Images (4, N, 2) and mixture (N, 2): source → (pan, delay of the right channel in samples)."""
    s = sources(int(seconds * SR))
    imgs = []
    for i, src in enumerate(SOURCES):
        pan, delay = positions[src]
        g = pan_gains(pan)
        imgs.append(np.stack([s[i] * g[0], np.roll(s[i], delay) * g[1]], axis=1))
    imgs = np.stack(imgs).astype(np.float32)
    return imgs, imgs.sum(axis=0)


def sdr(ref: np.ndarray, est: np.ndarray) -> float:
    return float(10 * np.log10(np.sum(ref.astype(np.float64) ** 2) / np.sum((ref - est).astype(np.float64) ** 2)))


# pan only, in the order of the assignment rule (vocals and bass central, drums spread, other widest)
PANNED = {"vocals": (0.2, 0), "drums": (-0.45, 0), "bass": (0.0, 0), "other": (0.7, 0)}
# level and delay, inside Rickard's histogram range (|α| < 0.7, |δ| < 3.6): DUET's own case
ANECHOIC = {"vocals": (0.1, -2), "drums": (-0.15, 2), "bass": (0.0, 0), "other": (0.2, 1)}
# two positions: vocals+bass at one pan, drums+other at another (ICA's 2 components can be exact)
TWO_POSITIONS = {"vocals": (0.1, 0), "bass": (0.1, 0), "drums": (-0.6, 0), "other": (-0.6, 0)}


# ---------------------------------------------------------------------------------------------------- helpers

@pytest.mark.parametrize("win,hop,name", [(1024, 512, "hamming"), (4096, 1024, "hann")])
def test_stft_round_trip_and_block_independence(win, hop, name):
    x = np.random.default_rng(1).standard_normal((30011, 2))
    grid = Grid(len(x), win, hop, name)
    outs = []
    for block in (7, 1000):
        ola = OverlapAdd(grid)
        for t0, X in frames(x, grid, block):
            assert X.shape[0] == win // 2 + 1 and X.shape[2] == 2 and X.dtype == np.complex64
            ola.add(t0, X)
        outs.append(ola.result())
    np.testing.assert_allclose(outs[0], x, atol=2e-5)  # complex64 frames
    np.testing.assert_allclose(outs[0], outs[1], rtol=0, atol=1e-12)  # the FFT's batching: last bits only
    with pytest.raises(ValueError, match="multiple of the hop"):
        Grid(100, 1000, 300, "hann")


def test_assignment_rule():
    # four components: pans −0.6, 0.05, 0.3, −0.1; centroids 3000, 100, 2000, 800 Hz
    w = assign.stem_weights([-0.6, 0.05, 0.3, -0.1], [3000, 100, 2000, 800])
    # centrality: comp1 (0.05), comp3 (0.1), comp2 (0.3), comp0 (0.6); of comp1/comp3, comp1 is lower → bass
    expect = {"bass": 1, "vocals": 3, "drums": 2, "other": 0}
    for s, src in enumerate(SOURCES):
        assert w[s].tolist() == [1.0 if k == expect[src] else 0.0 for k in range(4)], src
    # same pans, centroids swapped: vocals and bass swap
    w2 = assign.stem_weights([-0.6, 0.05, 0.3, -0.1], [3000, 900, 2000, 100])
    assert w2[SOURCES.index("bass"), 3] == 1 and w2[SOURCES.index("vocals"), 1] == 1
    # two components (ICA): the central one is halved between vocals and bass, the other between drums and other
    w3 = assign.stem_weights([0.7, -0.2], [500, 400])
    np.testing.assert_array_equal(w3.sum(axis=0), [1.0, 1.0])
    assert w3[SOURCES.index("vocals")].tolist() == [0.0, 0.5] and w3[SOURCES.index("bass")].tolist() == [0.0, 0.5]
    assert w3[SOURCES.index("drums")].tolist() == [0.5, 0.0] and w3[SOURCES.index("other")].tolist() == [0.5, 0.0]
    with pytest.raises(ValueError, match="1 to 4 components"):
        assign.stem_weights(np.zeros(5), np.zeros(5))


def test_features_of_a_panned_image():
    x = np.random.default_rng(0).standard_normal(SR)
    img = np.stack([x[:, None] * pan_gains(p)[None] for p in (-0.5, 0.0, 0.9)])
    f = assign.time_features(img, SR)
    g = [pan_gains(p) ** 2 for p in (-0.5, 0.0, 0.9)]
    np.testing.assert_allclose(f["pan"], [(b - a) / (a + b) for a, b in g], atol=1e-12)
    assert 8000 < f["centroid"][0] < 14000  # white noise: centroid near SR/4


# ---------------------------------------------------------------------------------------------------- methods

# method → (mixture, floor on every stem (dB) or None, floor on the groups vocals+bass / drums+other). A trivial
# split (a quarter of the mixture per stem) scores ≈ 0 dB on the groups. Measured at the defaults: ICA groups ≈ 54
# dB (stems 3.0: half a group each); DUET stems 13.1-15.4; ADRess 14.6-18.0; PROJET (50 iterations) groups 5.2,
# stems −1.1 to 7.4.
CASES = {
    "ica": (TWO_POSITIONS, None, 20.0),
    "duet": (ANECHOIC, 8.0, None),
    "adress": (PANNED, 8.0, None),
    "projet": (PANNED, None, 4.0),
}


@pytest.mark.parametrize("method", sorted(CASES))
def test_method_shape_determinism_and_quality(method):
    positions, floor, group_floor = CASES[method]
    imgs, mix = mixture(positions)
    stems = SpatialSeparator(method)(mix)
    assert stems.shape == (4, *mix.shape) and stems.dtype == np.float32
    np.testing.assert_array_equal(SpatialSeparator(method)(mix), stems)  # a fresh separator: the same bits
    np.testing.assert_allclose(stems.sum(axis=0), mix, atol=1e-5)  # the components sum to the mixture
    scores = {src: sdr(imgs[i], stems[i]) for i, src in enumerate(SOURCES)}
    if floor is not None:
        assert min(scores.values()) >= floor, scores
    if group_floor is not None:
        v, d, b, o = (SOURCES.index(s) for s in ("vocals", "drums", "bass", "other"))
        centre = sdr(imgs[v] + imgs[b], stems[v] + stems[b])
        side = sdr(imgs[d] + imgs[o], stems[d] + stems[o])
        assert min(centre, side) >= group_floor, (centre, side, scores)


def test_ica_splits_each_component_between_its_two_stems():
    _imgs, mix = mixture(TWO_POSITIONS)
    stems = SpatialSeparator("ica")(mix)
    v, d, b, o = (SOURCES.index(s) for s in ("vocals", "drums", "bass", "other"))
    np.testing.assert_array_equal(stems[v], stems[b])
    np.testing.assert_array_equal(stems[d], stems[o])


def test_duet_finds_the_sources_positions():
    sep = SpatialSeparator("duet")
    sep(mixture(ANECHOIC)[1])
    found = sorted(zip(sep.last_info["alpha"], sep.last_info["delay"]))
    want = []
    for pan, delay in ANECHOIC.values():
        a = pan_gains(pan)[1] / pan_gains(pan)[0]
        want.append((a - 1 / a, float(delay)))
    for (fa, fd), (wa, wd) in zip(found, sorted(want)):
        assert abs(fa - wa) <= 0.08 and abs(fd - wd) <= 0.3, (found, sorted(want))


def test_projet_chunks_bound_the_work_and_change_nothing_within_a_chunk():
    _imgs, mix = mixture(PANNED, seconds=2.0)
    one = SpatialSeparator("projet", {"chunk_seconds": 5.0, "iterations": 10})
    two = SpatialSeparator("projet", {"chunk_seconds": 1.0, "iterations": 10})
    a, b = one(mix), two(mix)
    assert len(one.last_info["chunks"]) == 1 and len(two.last_info["chunks"]) == 3
    np.testing.assert_allclose(b.sum(axis=0), mix, atol=1e-5)
    assert not np.array_equal(a, b)


# ---------------------------------------------------------------------------------------------------- systems

def test_registry_params_and_fingerprints():
    for m in ("ica", "duet", "adress", "projet"):
        s = baselines.get_system(m)
        assert isinstance(s, SpatialSystem) and s.name == m
        assert s.metadata()["params"] == DEFAULTS[m] and s.metadata()["method"] == m
    assert baselines.get_system("duet", params={"smooth": 5}).fingerprint != baselines.get_system("duet").fingerprint
    assert baselines.get_system("duet", name="x").fingerprint == baselines.get_system("duet").fingerprint
    with pytest.raises(SystemConfigError, match="unknown parameter"):
        resolve_params("duet", {"smoth": 3})
    with pytest.raises(SystemConfigError, match="expected int"):
        resolve_params("adress", {"beta": "100"})
    assert resolve_params("projet", {"chunk_seconds": 10})["chunk_seconds"] == 10


def test_supported_tasks():
    sdr_ids = {t.id for t in EVAL_TASKS if t.kind == "sdr"}
    dereverb = {t.id for t in EVAL_TASKS if t.query.operation == "dereverb"}
    assert set(baselines.get_system("adress").unsupported_tasks()) == dereverb
    for m in ("ica", "duet", "projet"):
        assert set(baselines.get_system(m).unsupported_tasks()) == {t.id for t in EVAL_TASKS} - sdr_ids
    assert set(baselines.get_system("projet", params={"cascade": True}).unsupported_tasks()) == dereverb
    assert not baselines.get_system("duet").supports(get_task("pan-left-drums"))


def test_system_answers_the_sdr_tasks_with_the_stems_and_edits_through_the_cascade():
    imgs, mix = mixture(PANNED, seconds=2.0)
    system = baselines.get_system("adress")
    stems = SpatialSeparator("adress")(mix)
    pair = dsp.Pair(mix, imgs[0])
    for src in ("vocals", "drums", "bass"):
        np.testing.assert_array_equal(system.estimate(get_task(f"sdr-{src}"), pair), stems[SOURCES.index(src)])
    np.testing.assert_allclose(system.estimate(get_task("sdr-other"), pair), stems[3], atol=1e-6)
    task = get_task("volume-up-drums")
    est = system.estimate(task, dsp.Pair(mix, mix))
    np.testing.assert_allclose(est, dsp.make_pair(stems, task.query).target, atol=1e-6)
    with pytest.raises(SystemConfigError):
        system.estimate(get_task("dereverb-vocals"), pair)


def test_cli_reads_the_parameters_file_and_records_them(tiny_root, tmp_path, capsys):
    from benchmark.cli import evaluate as cmd
    from benchmark.scoring import results as res
    from benchmark.task import testset

    testset.build(tiny_root, tmp_path / "ts", progress=False)
    params = tmp_path / "params.yaml"
    params.write_text("profile: embedded\nbaselines:\n  duet:\n    smooth: 5\n")
    base = ["--testset", str(tmp_path / "ts"), "--out", str(tmp_path / "res"), "--no-progress", "-q", "--workers", "1",
            "--backend", "sdr-only", "--params", str(params)]
    assert cmd.main(base + ["--system", "duet", "--tasks", "all"]) == 0  # the edit tasks: dropped, recorded
    doc = res.read_result(tmp_path / "res" / "duet" / "sdr-vocals" / "Noise 00 - Test.json")
    meta = doc["system"]["metadata"]
    assert meta["params"] == {**DEFAULTS["duet"], "smooth": 5} and meta["method"] == "duet"
    assert "pan-left-drums" in meta["unsupported_tasks"]
    assert not (tmp_path / "res" / "duet" / "pan-left-drums").exists()
    params.write_text("profile: embedded\nbaselines:\n  duet:\n    smoth: 5\n")
    assert cmd.main(base + ["--system", "duet"]) == 2
    assert "unknown parameter(s) smoth" in capsys.readouterr().err
