"""Fast BSS-Eval v4 and the SDR closed form against museval 0.4.1 itself (protocol §5, §11).

museval costs ≈ 0.65 s per second of audio on the reference 2-core VM, so the clips are short (1.5-7 s) and every
museval result is computed once per module. ``NearSingularWarning`` is turned into an error for every test but the
one about singular references: on the inputs compared with museval, the museval-identical path must be taken.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal

from benchmark.scoring.metrics import bss

SR = 44100
TARGETS = ("vocals", "drums", "bass", "other")
TOL_DB = 0.01  # acceptance: |Δ| ≤ 0.01 dB on every frame, after museval's 5-decimal quantisation

pytestmark = pytest.mark.filterwarnings("error::benchmark.scoring.metrics.bss.NearSingularWarning")


# ---------------------------------------------------------------------------------------------------------------
# signals


def _stereo(x: np.ndarray, pan: float, rng: np.random.Generator, delay: int = 7) -> np.ndarray:
    """Pan a mono signal and give it a little genuine stereo (an inter-channel delay and an independent −50 dB
    noise floor per channel). An exactly panned mono source (R = c·L) makes the reference Gram matrix singular, where
    museval's ISR/SIR/SAR are rounding noise (see test_singular_references_*)."""
    floor = 10 ** (-50 / 20) * np.std(x)
    left = x * np.sqrt(0.5 * (1 - pan)) + floor * rng.standard_normal(len(x))
    right = np.roll(x, delay) * np.sqrt(0.5 * (1 + pan)) + floor * rng.standard_normal(len(x))
    return np.stack([left, right], axis=1)


def music_like(seconds: float, seed: int = 0) -> dict[str, np.ndarray]:
    """Four stereo stems with musical structure: a vibrato voice with harmonics and note envelopes, noise-burst
    drums, a low-passed bass line, sustained chords; different pans. float64, peak ≈ 0.5."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    t = np.arange(n) / SR
    # vocals: harmonic notes with vibrato, 4 notes per second, attack/decay envelope
    f0 = 220 * 2 ** (rng.integers(0, 12, size=int(seconds * 4) + 1) / 12)
    note = np.minimum((t * 4).astype(int), len(f0) - 1)
    phase = 2 * np.pi * np.cumsum(f0[note] * (1 + 0.01 * np.sin(2 * np.pi * 5.5 * t))) / SR
    env = np.exp(-3 * ((t * 4) % 1)) * (1 - np.exp(-200 * ((t * 4) % 1)))
    voc = env * sum(np.sin(k * phase) / k for k in range(1, 8))
    # drums: decaying noise bursts (kick = low-passed, hat = high-passed) on an 8th-note grid
    hits = np.zeros(n)
    hits[(np.arange(0, seconds, 0.25) * SR).astype(int)] = 1.0
    burst = rng.standard_normal(n) * np.convolve(hits, np.exp(-np.arange(4000) / 600))[:n]
    b_lo, a_lo = scipy.signal.butter(2, 150 / (SR / 2))
    b_hi, a_hi = scipy.signal.butter(2, 5000 / (SR / 2), "high")
    drums = 3 * scipy.signal.lfilter(b_lo, a_lo, burst) + 0.3 * scipy.signal.lfilter(b_hi, a_hi, burst)
    # bass: low sawtooth-ish line, low-passed
    fb = 55 * 2 ** (rng.integers(0, 7, size=int(seconds * 2) + 1) / 12)
    pb = 2 * np.pi * np.cumsum(fb[np.minimum((t * 2).astype(int), len(fb) - 1)]) / SR
    bass = scipy.signal.lfilter(*scipy.signal.butter(4, 400 / (SR / 2)), sum(np.sin(k * pb) / k for k in range(1, 6)))
    # other: sustained triad chords plus a little noise (keeps the Gram matrix well defined)
    chord = sum(np.sin(2 * np.pi * 261.6 * r * t) for r in (1.0, 1.26, 1.5))
    other = chord * (0.6 + 0.4 * np.sin(2 * np.pi * 0.5 * t)) + 0.01 * rng.standard_normal(n)
    stems = {"vocals": _stereo(voc, -0.2, rng), "drums": _stereo(drums, 0.3, rng, 3), "bass": _stereo(bass, 0.0, rng),
             "other": _stereo(other, 0.6, rng, 11)}
    return {k: 0.5 * v / np.max(np.abs(v)) for k, v in stems.items()}


def separator_like(refs: dict[str, np.ndarray], seed: int = 1) -> dict[str, np.ndarray]:
    """Estimates that look like a separator's: low-passed and slightly delayed target, leakage of the other
    sources, additive artefacts; float32 (like model outputs)."""
    rng = np.random.default_rng(seed)
    mix = sum(refs.values())
    b, a = scipy.signal.butter(3, 9000 / (SR / 2))
    out = {}
    for i, (k, s) in enumerate(refs.items()):
        y = 0.9 * scipy.signal.lfilter(b, a, s, axis=0)
        y = np.roll(y, 3 + i, axis=0)
        y += (0.04 + 0.02 * i) * (mix - s) + 0.003 * rng.standard_normal(s.shape)
        out[k] = y.astype(np.float32)
    return out


def _compare(res_a: dict, res_b: dict, metrics=bss.METRICS) -> dict[str, float]:
    """Max |Δ| per metric over all targets and frames; asserts identical NaN patterns."""
    worst = {}
    for m in metrics:
        d = 0.0
        for t in res_a:
            a, b = np.asarray(res_a[t][m]), np.asarray(res_b[t][m])
            assert a.shape == b.shape, (t, m, a.shape, b.shape)
            np.testing.assert_array_equal(np.isnan(a), np.isnan(b), err_msg=f"NaN pattern differs for {t} {m}")
            ok = ~np.isnan(a)
            if ok.any():
                d = max(d, float(np.max(np.abs(a[ok] - b[ok]))))
        worst[m] = d
    return worst


# ---------------------------------------------------------------------------------------------------------------
# cases (each evaluated once by museval)


@pytest.fixture(scope="module")
def noise_case():
    """Gaussian references, 5 s + a partial second (dropped frame), estimates with leakage."""
    rng = np.random.default_rng(0)
    n = 5 * SR + 1234
    refs = {k: rng.standard_normal((n, 2)) for k in TARGETS}
    mix = sum(refs.values())
    ests = {k: (0.7 * r + 0.1 * mix + 0.05 * rng.standard_normal((n, 2))).astype(np.float32)
            for k, r in refs.items()}
    return refs, ests, bss.bss_eval_track_raw(refs, ests, backend="museval")


@pytest.fixture(scope="module")
def music_case():
    """Music-like stems with silent frames, an anti-phase (channel-sum-zero) frame and length mismatches."""
    refs = music_like(7.0, seed=3)
    ests = separator_like(refs)
    refs["vocals"][2 * SR:3 * SR] = 0.0  # a reference silent in frame 2 -> every target NaN there
    x = ests["other"][5 * SR:6 * SR, 0].copy()
    ests["other"][5 * SR:6 * SR] = np.stack([x, -x], axis=1)  # channel sum 0 in frame 5 -> "silent" for museval
    ests["drums"] = ests["drums"][: -3000]  # shorter: zero-padded at the end
    ests["bass"] = np.concatenate([ests["bass"], np.ones((5000, 2), np.float32)])  # longer: truncated
    return refs, ests, bss.bss_eval_track_raw(refs, ests, backend="museval")


@pytest.fixture(scope="module")
def overlap_case():
    """Two targets, overlapping frames (win 1 s, hop 0.5 s) — museval's general framing."""
    refs = {k: v for k, v in music_like(4.0, seed=5).items() if k in ("vocals", "bass")}
    ests = separator_like(refs, seed=6)
    kw = dict(win=SR, hop=SR // 2)
    return refs, ests, kw, bss.bss_eval_track_raw(refs, ests, backend="museval", **kw)


# ---------------------------------------------------------------------------------------------------------------
# tests


@pytest.mark.parametrize("solver", ["cholesky", "lu"])
def test_fast_matches_museval_on_noise(noise_case, solver):
    refs, ests, ref_raw = noise_case
    raw = bss.bss_eval_track_raw(refs, ests, backend="fast", solver=solver)
    assert _compare(ref_raw, raw) == pytest.approx({m: 0.0 for m in bss.METRICS}, abs=1e-9)
    assert len(raw["vocals"]["SDR"]) == 5  # floor(N / 44100): the trailing 1234 samples are no frame
    q_ref = {t: {m: bss.quantize(v) for m, v in d.items()} for t, d in ref_raw.items()}
    q = bss.bss_eval_track(refs, ests, backend="fast", solver=solver)
    assert max(_compare(q_ref, q).values()) <= 1e-5 + 1e-12  # at most one quantisation step


def test_fast_matches_museval_on_music(music_case):
    refs, ests, ref_raw = music_case
    raw = bss.bss_eval_track_raw(refs, ests, backend="fast")
    worst = _compare(ref_raw, raw)
    assert max(worst.values()) < 1e-4, worst
    q_ref = {t: {m: bss.quantize(v) for m, v in d.items()} for t, d in ref_raw.items()}
    worst_q = _compare(q_ref, bss.bss_eval_track(refs, ests, backend="fast"))
    assert max(worst_q.values()) <= TOL_DB, worst_q


def test_nan_rules_follow_museval(music_case):
    refs, ests, ref_raw = music_case
    res = bss.bss_eval_track(refs, ests, backend="fast")
    nan_frames = {i for i in range(7) if np.isnan(res["bass"]["SDR"][i])}
    assert nan_frames == {2, 5}  # silent reference frame 2, anti-phase estimate frame 5
    for t in TARGETS:
        for m in bss.METRICS:
            assert np.isnan(res[t][m][[2, 5]]).all()
            assert np.isnan(ref_raw[t][m][[2, 5]]).all()
            assert not np.isnan(res[t][m][[0, 1, 3, 4, 6]]).any()


def test_fast_matches_museval_with_overlapping_frames(overlap_case):
    refs, ests, kw, ref_raw = overlap_case
    raw = bss.bss_eval_track_raw(refs, ests, backend="fast", **kw)
    assert len(raw["vocals"]["SDR"]) == bss.n_frames(4 * SR, SR, SR // 2) == 7
    worst = _compare(ref_raw, raw)
    assert max(worst.values()) < 1e-4, worst


@pytest.mark.parametrize("case", ["noise_case", "music_case"])
def test_sdr_closed_form_equals_museval_sdr(case, request):
    refs, ests, ref_raw = request.getfixturevalue(case)
    raw = bss.bss_eval_track_raw(refs, ests, backend="sdr-only")
    assert set(raw["vocals"]) == {"SDR"}  # ISR/SIR/SAR are omitted, not NaN-filled
    assert _compare(ref_raw, raw, metrics=("SDR",))["SDR"] <= 1e-9


def test_sdr_only_overlapping_frames(overlap_case):
    refs, ests, kw, ref_raw = overlap_case
    raw = bss.bss_eval_track_raw(refs, ests, backend="sdr-only", **kw)
    assert _compare(ref_raw, raw, metrics=("SDR",))["SDR"] <= 1e-9


def test_museval_backend_is_museval_evaluate(noise_case):
    import museval

    refs, ests, _ = noise_case
    names = ("vocals", "bass")
    refs = {k: refs[k][: SR + SR // 2 + 99] for k in names}
    ests = {k: ests[k][: SR + SR // 2] for k in names}  # museval pads the estimates itself
    ours = bss.bss_eval_track_raw(refs, ests, backend="museval")
    sdr, isr, sir, sar = museval.evaluate([refs[t] for t in names], [ests[t] for t in names], win=SR, hop=SR)
    for i, t in enumerate(names):
        for m, v in zip(("SDR", "ISR", "SIR", "SAR"), (sdr, isr, sir, sar)):
            np.testing.assert_array_equal(ours[t][m], v[i])


def test_silent_channel_matches_museval():
    """A hard-panned reference (one channel exactly zero) is *not* degenerate for museval — its eps·I gives those
    filter taps exactly 0 — so the fast back-end must take the museval-identical path (no warning)."""
    refs = {k: v for k, v in music_like(3.0, seed=8).items() if k in ("vocals", "other")}
    refs["vocals"][:, 1] = 0.0
    ests = separator_like(refs, seed=9)
    ref_raw = bss.bss_eval_track_raw(refs, ests, backend="museval")
    raw = bss.bss_eval_track_raw(refs, ests, backend="fast")  # NearSingularWarning is an error here (see below)
    assert max(_compare(ref_raw, raw).values()) < 1e-6


@pytest.mark.filterwarnings("default::benchmark.scoring.metrics.bss.NearSingularWarning")
def test_singular_references_give_a_stable_projection():
    """An exactly mono reference (L == R) makes the Gram matrix singular. museval's ISR/SIR/SAR then depend on
    rounding (they move by dB when the references are rounded to float32); the fast back-end warns and returns the
    regularised projection, which is stable under the same perturbation. SDR does not involve the filters."""
    refs = music_like(3.0, seed=11)
    refs["bass"] = np.repeat(refs["bass"][:, :1], 2, axis=1)
    ests = separator_like(refs, seed=12)
    with pytest.warns(bss.NearSingularWarning, match="numerically singular"):
        a = bss.bss_eval_track_raw(refs, ests, backend="fast")
    refs32 = {k: v.astype(np.float32).astype(np.float64) for k, v in refs.items()}
    with pytest.warns(bss.NearSingularWarning):
        b = bss.bss_eval_track_raw(refs32, ests, backend="fast")
    assert max(_compare(a, b).values()) < 1e-3
    for t in refs:
        assert np.isfinite(a[t]["SIR"]).all() and np.isfinite(a[t]["SAR"]).all()
    sdr = bss.bss_eval_track_raw(refs, ests, backend="sdr-only")
    assert _compare(a, sdr, metrics=("SDR",))["SDR"] == 0.0
