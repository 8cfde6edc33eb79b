"""The contracts of benchmark/task/dsp.py that its mutants showed untested (make mutation, docs/testing.md): the SoX pipe
for every dtype and channel count and every way SoX can fail, the scipy biquad's clipping, the fields of a Pair on
every path of make_pair, and the error messages."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from benchmark.task import aml, dsp
from benchmark.base.constants import SOURCES


@pytest.fixture(scope="module")
def stems():
    rng = np.random.default_rng(5)
    return rng.uniform(-0.3, 0.3, size=(4, 256, 2)).astype(np.float32)


# ------------------------------------------------------------------------------------------------ the SoX pipe

@pytest.mark.parametrize("dtype,channels", [(np.float32, 1), (np.float32, 3), (np.float64, 2), (np.int16, 2)])
def test_sox_pipe_keeps_every_dtype_and_channel_count(dtype, channels):
    rng = np.random.default_rng(channels)
    x = rng.uniform(-0.5, 0.5, size=(1000, channels))
    x = (x * 20000).astype(np.int16) if dtype is np.int16 else x.astype(dtype)
    y, clipped = dsp.sox_effect(x, ("gain", "0"))
    assert y.dtype == x.dtype and y.shape == x.shape and (clipped == 0 or dtype is np.int16)
    np.testing.assert_allclose(y, x, rtol=0, atol=1 if dtype is np.int16 else 1e-7)  # SoX works in 32-bit ints


def test_sox_filters_each_of_three_channels_on_its_own():
    """A filter keeps state per channel: a wrong channel count on the pipe would interleave them."""
    x = np.random.default_rng(3).uniform(-0.2, 0.2, size=(3000, 3)).astype(np.float32)
    y, _ = dsp.sox_effect(x, dsp.biquad_args("lowpass", 344))
    np.testing.assert_allclose(y, dsp.biquad_scipy(x, "lowpass", 344), rtol=0, atol=1e-6)


def test_encodings_and_their_refusal():
    assert [dsp._dtype_encoding(np.dtype(t)) for t in (np.float32, np.float64, np.int16)] == ["f32", "f64", "s16"]
    with pytest.raises(TypeError) as err:
        dsp._dtype_encoding(np.dtype(np.int32))
    assert str(err.value) == "SoX pipe supports float32, float64 and int16 arrays, got int32"


def test_sox_refuses_a_one_dimensional_array():
    with pytest.raises(ValueError) as err:
        dsp.sox_effect(np.zeros(10, np.float32), ("gain", "0"))
    assert str(err.value) == "expected an (N, channels) array, got shape (10,)"


def _fake_sox(monkeypatch, status, out, err):
    import sox

    monkeypatch.setattr(sox.core, "sox", lambda cmd, src_array: (status, out, err))


CMD = "sox -N -V1 -t f32 -r 44100 -c 2 - -t f32 -r 44100 -c 2 - gain 0"


@pytest.mark.parametrize("status,out,err,tail", [
    (1, b"\0" * 80, "", "(exit 1): is the sox binary installed?"),  # a failure status with output
    (0, None, "", "(exit 0): is the sox binary installed?"),  # no output at all
    (0, b"\0" * 80, "sox WARN: something", "(exit 0): sox WARN: something"),  # any message on stderr
    (2, None, "sox FAIL: bad", "(exit 2): sox FAIL: bad"),
])
def test_every_sox_failure_is_an_error_naming_the_command(monkeypatch, status, out, err, tail):
    _fake_sox(monkeypatch, status, out, err)
    with pytest.raises(dsp.SoxError) as e:
        dsp.sox_effect(np.zeros((10, 2), np.float32), ("gain", "0"))
    assert str(e.value) == f"SoX failed on {CMD!r} {tail}"


def test_sox_returning_another_length_is_an_error(monkeypatch):
    _fake_sox(monkeypatch, 0, np.zeros((5, 2), np.float32).tobytes(), "")
    with pytest.raises(dsp.SoxError) as e:
        dsp.sox_effect(np.zeros((10, 2), np.float32), ("gain", "0"))
    assert str(e.value) == f"SoX returned 5 frames for 10 input frames ({CMD})"


def test_clipping_count_is_strictly_over_full_scale_on_input(monkeypatch):
    x = np.array([[1.0, -1.0], [0.5, 1.5], [-2.0, 0.0]], np.float32)
    _fake_sox(monkeypatch, 0, np.zeros_like(x).tobytes(), "")
    _, clipped = dsp.sox_effect(x, ("gain", "0"))
    assert clipped == 2  # 1.5 and -2.0; exactly ±1 is not a clipped input sample
    _fake_sox(monkeypatch, 0, np.array([[1.0, -1.0], [0.99, 0], [0, 0]], np.float32).tobytes(), "")
    _, clipped = dsp.sox_effect(np.zeros_like(x), ("gain", "0"))
    assert clipped == 2  # output samples at full scale


def test_int16_clipping_count_is_against_int16_full_scale():
    x = np.array([[1000, -1000], [20000, 0]], np.int16)
    _, clipped = dsp.sox_effect(x, ("gain", "0"))
    assert clipped == 0


# ------------------------------------------------------------------------------------------------ scipy biquad

def test_scipy_biquad_clips_input_and_output_and_keeps_the_dtype():
    from scipy.signal import lfilter

    x = np.zeros((400, 2), np.float32)
    x[0] = [3.0, -3.0]  # impulses over full scale: clipped to ±1 before the filter
    x[200:] = [1.7, -1.7]  # a step over full scale: the resonance drives the output past ±1, clipped after it
    y = dsp.biquad_scipy(x, "lowpass", 344)
    b, a = dsp.rbj_biquad("lowpass", 344)
    want = np.clip(lfilter(b, a, np.clip(x.astype(np.float64), -1, 1), axis=0), -1, 1).astype(np.float32)
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y, want)
    raw = lfilter(b, a, np.clip(x.astype(np.float64), -1, 1), axis=0)
    assert raw.max() > 1 and raw.min() < -1  # the fixture exercises both output clips
    y64 = dsp.biquad_scipy(x.astype(np.float64), "highpass", 5512)
    assert y64.dtype == np.float64


def test_scipy_biquad_uses_its_q():
    x = np.random.default_rng(0).uniform(-0.1, 0.1, (2000, 2)).astype(np.float32)
    b, a = dsp.rbj_biquad("lowpass", 689, 0.707)
    from scipy.signal import lfilter

    want = np.clip(lfilter(b, a, x.astype(np.float64), axis=0), -1, 1).astype(np.float32)
    np.testing.assert_array_equal(dsp.biquad_scipy(x, "lowpass", 689, q=0.707), want)
    assert not np.array_equal(dsp.biquad_scipy(x, "lowpass", 689), want)


def test_filter_errors_name_the_operation(stems):
    for f in (lambda: dsp.biquad_args("bandpass", 100), lambda: dsp.rbj_biquad("bandpass", 100)):
        with pytest.raises(ValueError) as err:
            f()
        assert str(err.value) == "not a filter operation: 'bandpass'"
    with pytest.raises(ValueError) as err:
        dsp.apply_to_source(stems[0], aml.parse("separate vocals"), "vocals")
    assert str(err.value) == "operation 'separate' does not edit a single source"


# ------------------------------------------------------------------------------------------------ pan, gains, pairs

def test_pan_leaves_its_input_alone(stems):
    x = stems[0].copy()
    y = dsp.pan(x, 1.0, 0.0)
    np.testing.assert_array_equal(x, stems[0])
    assert not np.shares_memory(x, y)


def test_volume_edits_report_no_clipping(stems):
    for desc in ("increase the volume of vocals, bass", "decrease the volume of drums"):
        p = dsp.make_pair(stems, desc)
        assert p.clipped == {s: 0 for s in aml.parse(desc).targets} and p.total_clipped == 0


def test_peak_normalisation_divides_by_the_peak_above_one():
    a = np.array([[1.5, 0.2]], np.float32)
    b = np.array([[0.1, 0.3]], np.float32)
    na, nb, g = dsp.peak_normalize(a, b)
    assert g == 1.5
    np.testing.assert_allclose(na, a / 1.5)
    np.testing.assert_allclose(nb, b / 1.5)


def test_pair_fields_on_every_path(stems, monkeypatch, caplog):
    p = dsp.make_pair(stems, "separate drums")
    assert p.query == aml.parse("separate drums") and p.gain == 1.0
    p = dsp.make_pair(stems * 8, "mute bass", normalize=False)
    assert p.gain == 1.0 and np.abs(p.input).max() > 1  # not normalised
    # peak_mode reaches the normalisation: a negative over only counts in "abs"
    neg = stems.copy()
    neg[1, 3] = [-4.0, -4.0]
    assert dsp.make_pair(neg, "mute bass").gain == 1.0
    assert dsp.make_pair(neg, "mute bass", peak_mode="abs").gain == pytest.approx(
        np.abs(neg.sum(axis=0)).max())
    # dereverb: input and target swapped, with the query, the gain and the clipped counts kept
    monkeypatch.setattr(dsp, "sox_effect", lambda x, effect: (x * 3.0, 7))
    with caplog.at_level(logging.DEBUG, logger="amss_bench.dsp"):
        p = dsp.make_pair(stems, "remove reverb from vocals, drums")
    assert p.query == aml.parse("remove reverb from vocals, drums")
    assert p.clipped == {"vocals": 7, "drums": 7} and p.total_clipped == 14
    wet = stems.copy()
    wet[:2] *= 3.0
    assert p.gain == pytest.approx(max(float(wet.sum(axis=0).max()), 1.0))
    np.testing.assert_allclose(p.input, wet.sum(axis=0) / p.gain, atol=1e-6)
    np.testing.assert_allclose(p.target, stems.sum(axis=0) / p.gain, atol=1e-6)
    assert caplog.messages == ["remove reverb from vocals, drums: SoX clipped 14 samples"]
    assert [s for s in SOURCES if s in p.clipped] == ["vocals", "drums"]
