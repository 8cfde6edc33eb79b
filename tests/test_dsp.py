"""Effects and pair generation exactly as the reference (protocol §2.2–§2.5, §7, §9, §11)."""

import subprocess

import numpy as np
import pytest
from scipy.signal import lfilter

from benchmark.task import aml, dsp
from benchmark.base.constants import SR

@pytest.fixture(scope="module")
def music():
    rng = np.random.default_rng(1)
    t = np.arange(SR) / SR
    x = 0.05 * rng.standard_normal((SR, 2)) + 0.2 * np.sin(2 * np.pi * 220 * t)[:, None] * [1.0, 0.6]
    return x.astype(np.float32)


def test_volume_and_pan_arithmetic(music):
    assert np.array_equal(dsp.gain(music, 2.0), music * 2.0)
    m = music.mean(axis=-1)
    y = dsp.pan(music, 0.8, 0.2)
    assert y.dtype == np.float32
    assert np.array_equal(y[:, 0], m * 0.8) and np.array_equal(y[:, 1], m * 0.2)
    hard = dsp.pan(np.repeat(music[:, :1], 2, axis=1), 1.0, 0.0)  # centred mono source: L kept, R lost
    assert np.array_equal(hard[:, 0], music[:, 0]) and not hard[:, 1].any()


@pytest.mark.parametrize("op, fc", sorted({(op, fc) for (op, _, _), fc in aml.FILTER_CUTOFFS.items()}))
def test_sox_biquad_equals_rbj_formula(music, op, fc):
    quiet = music * 0.05  # no clipping even with the +20 dB resonance
    y, clipped = dsp.sox_effect(quiet, dsp.biquad_args(op, fc))
    b, a = dsp.rbj_biquad(op, fc)
    ref = lfilter(b, a, quiet.astype(np.float64), axis=0)
    assert clipped == 0 and y.shape == quiet.shape
    assert np.max(np.abs(y - ref)) < 1e-7


def test_rbj_formula_matches_cookbook_by_hand():
    b, a = dsp.rbj_biquad("lowpass", 344)
    w0 = 2 * np.pi * 344 / SR
    alpha = np.sin(w0) / 20
    assert np.allclose(a * (1 + alpha), [1 + alpha, -2 * np.cos(w0), 1 - alpha], atol=0)
    # |H(fc)| = Q for the Q = 10 biquad (+20 dB resonance)
    z = np.exp(1j * w0)
    h = np.polyval(b[::-1], 1 / z) / np.polyval(a[::-1], 1 / z)
    assert abs(abs(h) - 10) < 1e-6


def test_sox_path_equals_direct_sox_command(music, tmp_path):
    for effect in (dsp.biquad_args("highpass", 5512), dsp.REVERB_ARGS):
        y, _ = dsp.sox_effect(music, effect)
        cmd = dsp.sox_command(effect)
        direct = subprocess.run(cmd, input=music.tobytes(), capture_output=True, check=True).stdout
        assert np.array_equal(y, np.frombuffer(direct, dtype=np.float32).reshape(-1, 2))


def test_sox_pipe_identity_and_reverb_properties(music):
    y, _ = dsp.sox_effect(music, ("gain", "0"))
    assert np.max(np.abs(y - music)) < 1e-7
    r1, _ = dsp.sox_effect(music, dsp.REVERB_ARGS)
    r2, _ = dsp.sox_effect(music, dsp.REVERB_ARGS)
    assert r1.shape == music.shape and np.array_equal(r1, r2)  # same length, bit-identical reruns
    impulse = np.zeros((SR, 2), np.float32)
    impulse[0] = 0.5
    r, _ = dsp.sox_effect(impulse, dsp.REVERB_ARGS)
    assert r[0, 0] != 0 and not np.array_equal(r[:, 0], r[:, 1])  # dry passes at 0; L/R decorrelated


def test_sox_clipping_is_counted_not_hidden():
    t = np.arange(SR) / SR
    x = np.repeat((0.5 * np.sin(2 * np.pi * 344 * t)).astype(np.float32)[:, None], 2, axis=1)
    y, clipped = dsp.sox_effect(x, dsp.biquad_args("lowpass", 344))
    assert y.max() == 1.0 and clipped > 0.5 * x.size
    over = np.full((100, 2), 1.5, np.float32)
    _, clipped = dsp.sox_effect(over, ("gain", "0"))
    assert clipped == 400  # 200 input samples over 1 and 200 output samples at full scale


def test_commands_equal_pysndfx_0_3_6(music, monkeypatch):
    pysndfx_dsp = pytest.importorskip("pysndfx.dsp", reason="pysndfx is a test dependency (pyproject [test])")
    seen = {}

    class FakePopen:
        def __init__(self, cmd, **kw):
            seen["cmd"] = cmd

        def communicate(self, data=None):
            seen["stdin"] = data
            return b"", b""

    monkeypatch.setattr(pysndfx_dsp, "Popen", FakePopen)
    chains = {
        dsp.biquad_args("lowpass", 344): lambda: pysndfx_dsp.AudioEffectsChain().lowpass(344, 10),
        dsp.biquad_args("highpass", 5512): lambda: pysndfx_dsp.AudioEffectsChain().highpass(5512, 10),
        dsp.REVERB_ARGS: lambda: pysndfx_dsp.AudioEffectsChain().reverb(100, 50, 100, 100, 32, 3),
    }
    import sox

    for effect, chain in chains.items():
        chain()(music.T)  # the reference called the chain on the (2, N) view of an (N, 2) source
        assert seen["cmd"] == dsp.sox_command(effect)
        assert seen["stdin"] == music.T.tobytes(order="F")

        captured = {}

        def fake_sox(args, src_array=None, **kw):
            captured["args"], captured["bytes"] = list(args), src_array.T.tobytes(order="F")
            return 0, src_array.tobytes(), ""

        monkeypatch.setattr(sox.core, "sox", fake_sox)
        dsp.sox_effect(music, effect)
        monkeypatch.undo()
        monkeypatch.setattr(pysndfx_dsp, "Popen", FakePopen)
        assert captured["args"] == seen["cmd"] and captured["bytes"] == seen["stdin"]


def test_scipy_biquad_option_agrees_with_sox(music):
    y_sox, _ = dsp.sox_effect(music, dsp.biquad_args("lowpass", 689))
    y_sp = dsp.biquad_scipy(music, "lowpass", 689)
    assert np.max(np.abs(y_sox - y_sp)) < 1e-6


# ------------------------------------------------------------------------------------------------ normalisation

def test_peak_normalisation_signed_floor_shared():
    a = np.array([[0.5, -3.0]], np.float32)
    b = np.array([[0.2, 0.1]], np.float32)
    a2, b2, g = dsp.peak_normalize(a, b)
    assert g == 1 and a2 is not a and np.array_equal(a2, a)  # only negative overs: unscaled (reference)
    a3, b3, g = dsp.peak_normalize(a, b, "abs")
    assert g == 3.0 and np.allclose(a3, a / 3)
    c = np.array([[2.0, 0.0]], np.float32)
    c2, b4, g = dsp.peak_normalize(b, c)
    assert g == 2.0 and np.array_equal(b4, c / np.float32(2)) and np.array_equal(c2, b / np.float32(2))
    with pytest.raises(ValueError, match="peak_mode"):
        dsp.peak_normalize(a, b, "rms")


def _stems(seed=0, scale=0.3, n=SR):
    rng = np.random.default_rng(seed)
    return (scale * rng.standard_normal((4, n, 2))).astype(np.float32)


def test_make_pair_separate_mute_volume_pan():
    s = _stems(scale=0.05)
    total = np.sum(s, axis=0)
    p = dsp.make_pair(s, "separate vocals, bass")
    assert np.array_equal(p.input, total) and np.array_equal(p.target, s[0] + s[2])
    p = dsp.make_pair(s, "mute vocals, drums, bass")
    assert np.array_equal(p.target, np.sum(np.stack([0 * s[0], 0 * s[1], 0 * s[2], s[3]]), axis=0))
    p = dsp.make_pair(s, "decrease the volume of drums")
    assert np.array_equal(p.target, np.sum(np.stack([s[0], s[1] * 0.5, s[2], s[3]]), axis=0))
    p = dsp.make_pair(s, "pan bass completely to the right side")
    panned = np.zeros_like(s[2])
    panned[:, 1] = s[2].mean(axis=-1)
    assert np.array_equal(p.target, np.sum(np.stack([s[0], s[1], panned, s[3]]), axis=0))


def test_make_pair_normalises_jointly_and_never_boosts():
    s = _stems(scale=0.4)
    p = dsp.make_pair(s, "increase the volume of vocals")
    raw_in = np.sum(s, axis=0)
    raw_out = np.sum(np.stack([s[0] * 2.0, s[1], s[2], s[3]]), axis=0)
    g = max(raw_in.max(), raw_out.max())
    assert g > 1 and p.gain == pytest.approx(float(g))
    assert np.array_equal(p.input, raw_in / g) and np.array_equal(p.target, raw_out / g)
    quiet = dsp.make_pair(_stems(scale=0.01), "increase the volume of vocals")
    assert quiet.gain == 1.0


def test_dereverb_swaps_input_and_target():
    s = _stems(scale=0.05)
    p = dsp.make_pair(s, "remove reverb from vocals")
    assert np.array_equal(p.target, np.sum(s, axis=0))  # the dry mix is what the model should produce
    wet, _ = dsp.sox_effect(s[0], dsp.REVERB_ARGS)
    assert np.array_equal(p.input, np.sum(np.stack([wet, s[1], s[2], s[3]]), axis=0))


def test_filter_uses_bass_cutoffs_for_bass_and_reports_clipping():
    s = _stems(scale=0.05)
    p = dsp.make_pair(s, "apply heavy lowpass to bass")
    bass, _ = dsp.sox_effect(s[2], ("lowpass", "43", "10q"))
    assert np.array_equal(p.target, np.sum(np.stack([s[0], s[1], bass, s[3]]), axis=0))
    loud = _stems(scale=0.6)
    p = dsp.make_pair(loud, "apply heavy highpass to drums")
    assert p.clipped["drums"] > 0 and p.total_clipped == p.clipped["drums"]


def test_make_pair_rejects_bad_shapes():
    with pytest.raises(ValueError, match=r"\(4, N, 2\)"):
        dsp.make_pair(np.zeros((3, 10, 2), np.float32), "separate vocals")
