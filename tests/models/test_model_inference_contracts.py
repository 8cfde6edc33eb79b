"""What the mutants of models/inference.py showed untested (make mutation, docs/testing.md): the overlap-add helpers
with a geometry other than the defaults, the coverage count's type and defaults, the exact shape error, and the
16-bit PCM round trip's format (float32, always two-dimensional, the 16-bit grid); infer_track's and plan's
defaults (mode, each mode's trim, window, batch size, no progress bar, no round trip), overlap_hop's bounds and
messages, K for an empty track, the output dtype of stitch_overlap, chunk/stitch (§4.1) in another geometry,
the exact error messages of stitch and infer_track, the progress bar, useful_length's bounds and message, and
the (samples, channels) shapes accepted. Expectations are computed here
from the formulas of protocol §4 (W = hop·(num_frame − 1), trim = ⌈min_trim / hop⌉·hop, T = W − 2·trim,
H = int(T·(1 − overlap_ratio)), K = ⌈(n − T) / H⌉ + 1)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from models import inference

# a small geometry where every parameter differs from the defaults
HOP, NUM_FRAME, MIN_TRIM, RATIO = 64, 17, 100, 0.25
W = HOP * (NUM_FRAME - 1)  # 1024
TRIM = math.ceil(MIN_TRIM / HOP) * HOP  # 128
T = W - 2 * TRIM  # 768
H = int(T * (1 - RATIO))  # 576


def _k(n, t=T, h=H):
    return 0 if n <= 0 else 1 if n <= t else math.ceil((n - t) / h) + 1


def test_the_small_geometry_is_what_the_formulas_give():
    assert (W, TRIM, T, H) == (1024, 128, 768, 576)
    assert inference.window_length(HOP, NUM_FRAME) == W
    assert inference.trim_length(MIN_TRIM, HOP) == TRIM
    assert inference.overlap_hop(HOP, NUM_FRAME, MIN_TRIM, RATIO) == H
    assert inference.num_windows_overlap(2000, HOP, NUM_FRAME, MIN_TRIM, RATIO) == _k(2000) == 4


@pytest.mark.parametrize("n", [1, 767, 768, 769, 2000, 3000])
def test_chunk_overlap_with_another_geometry(n):
    rng = np.random.default_rng(n)
    track = rng.standard_normal((n, 2)).astype(np.float32)
    windows = inference.chunk_overlap(track, HOP, NUM_FRAME, MIN_TRIM, RATIO)
    expected = np.zeros((_k(n), W, 2), np.float32)
    for i in range(_k(n)):
        for j in range(W):
            s = i * H - TRIM + j
            if 0 <= s < n:
                expected[i, j] = track[s]
    assert windows.shape == expected.shape and np.array_equal(windows, expected)
    out = inference.stitch_overlap(windows, n, HOP, NUM_FRAME, MIN_TRIM, RATIO)
    assert np.array_equal(out, track)  # identity through the overlap-add


@pytest.mark.parametrize("n", [1, 768, 2000, 3000])
def test_overlap_coverage_with_another_geometry(n):
    cov = inference.overlap_coverage(n, HOP, NUM_FRAME, MIN_TRIM, RATIO)
    expected = np.zeros(n, np.int64)
    for i in range(_k(n)):
        expected[i * H: min(i * H + T, n)] += 1
    assert cov.dtype == np.int64 and np.array_equal(cov, expected)


def test_overlap_coverage_defaults_are_the_lasaft_geometry():
    w, trim = 1024 * 127, math.ceil(5000 / 1024) * 1024
    t = w - 2 * trim
    h = int(t * 0.5)
    n = 300_000
    expected = np.zeros(n, np.int64)
    for i in range(_k(n, t, h)):
        expected[i * h: min(i * h + t, n)] += 1
    assert np.array_equal(inference.overlap_coverage(n), expected)


def test_stitch_overlap_names_the_shape_it_refuses():
    with pytest.raises(ValueError) as err:
        inference.stitch_overlap(np.zeros((3, 2)), 10)
    assert str(err.value) == "expected window outputs (K, W, C), got shape (3, 2)"


def test_pcm16_roundtrip_is_float32_two_dimensional_on_the_16_bit_grid():
    # values on the 16-bit grid come back exactly (libsndfile's rounding of values between grid points is its own);
    # full scale 1.0 is one step beyond the largest 16-bit value and comes back as 32767 / 32768
    mono = np.array([[0.0], [0.25], [-0.25], [3 / 32768], [1.0], [-1.0]], np.float64)
    out = inference.pcm16_roundtrip(mono)
    assert out.dtype == np.float32 and out.shape == (6, 1)
    assert out[:, 0].tolist() == [0.0, 0.25, -0.25, 3 / 32768, 32767 / 32768, -1.0]
    stereo = np.stack([mono[:, 0], -mono[:, 0]], axis=1)
    assert inference.pcm16_roundtrip(stereo).shape == (6, 2)


# ---------------------------------------------------------------------------------------------- infer_track and plan
# the default geometry (hop 1024, 128 frames): W = 130 048; AMSS trim 16 384, T = 97 280; LaSAFT trim 5 120,
# T = 119 808, overlap hop 59 904
DW = 1024 * 127
DTRIM = {"amss": 16_384, "lasaft": 5_120, "overlap": 5_120}
DT = {m: DW - 2 * trim for m, trim in DTRIM.items()}
DH = int(DT["overlap"] * 0.5)


def _expected_windows(track, mode, w=DW, trim=None, t=None, h=None):
    """The windows of protocol §4 written out: §4.1 (no context, zero trims) or §4.2 overlap (real context)."""
    trim = DTRIM[mode] if trim is None else trim
    t = DT[mode] if t is None else t
    n, c = track.shape
    if mode == "overlap":
        h = DH if h is None else h
        k = _k(n, t, h)
        out = np.zeros((k, w, c), track.dtype)
        for i in range(k):
            for j0 in range(w):  # sample j0 of window i is track sample i·H − trim + j0
                s = i * h - trim + j0
                if 0 <= s < n:
                    out[i, j0] = track[s]
        return out
    k = math.ceil(n / t)
    out = np.zeros((k, w, c), track.dtype)
    for i in range(k):
        seg = track[i * t: min(i * t + t, n)]
        out[i, trim: trim + len(seg)] = seg
    return out


class _Recorder:
    """An identity model that remembers the batches it was given."""

    def __init__(self):
        self.batches = []

    def __call__(self, batch):
        self.batches.append(np.array(batch))
        return batch


@pytest.mark.parametrize(
    "mode, n", [("amss", 4 * 97_280 + 3), ("lasaft", 4 * 119_808 + 3), ("overlap", 119_808 + 3 * 59_904 + 3)]
)
def test_infer_track_defaults(mode, n, capsys):
    # each mode's default trim, the 130 048-sample window, batches of 4, no progress bar, no 16-bit round trip
    track = (np.arange(1, n + 1, dtype=np.float32) * 1e-7)[:, None] * np.array([1.0, -0.5], np.float32)
    rec = _Recorder()
    kwargs = {} if mode == "amss" else {"mode": mode}
    out = inference.infer_track(rec, track, **kwargs)
    assert [len(b) for b in rec.batches] == [4, 1]  # 5 windows
    assert all(b.shape[1:] == (DW, 2) for b in rec.batches)
    if mode != "overlap":  # the row-by-row reference below is slow; the small geometry covers the overlap layout
        assert np.array_equal(np.concatenate(rec.batches), _expected_windows(track, mode))
    else:
        windows = np.concatenate(rec.batches)
        assert not windows[0, :DTRIM[mode]].any()
        assert np.array_equal(windows[1, :, 0], track[DH - DTRIM[mode]: DH - DTRIM[mode] + DW, 0])
    assert out.dtype == np.float32 and np.array_equal(out, track)
    assert capsys.readouterr().err == ""


def test_infer_track_other_geometry_and_batching():
    # an explicit geometry reaches chunk and stitch: overlap with ratio 0.25 in the small geometry, batches of 3
    n = 3000
    track = np.random.default_rng(7).standard_normal((n, 2)).astype(np.float32)
    rec = _Recorder()
    out = inference.infer_track(rec, track, mode="overlap", hop=HOP, num_frame=NUM_FRAME, min_trim=MIN_TRIM,
                                overlap_ratio=RATIO, batch_size=3)
    assert _k(n) == 5 and [len(b) for b in rec.batches] == [3, 2]
    assert np.array_equal(np.concatenate(rec.batches), _expected_windows(track, "overlap", W, TRIM, T, H))
    assert np.array_equal(out, track)


def test_plan_overlap_default_ratio_is_one_half():
    n = 3000
    track = np.random.default_rng(8).standard_normal((n, 1)).astype(np.float32)
    chunk_fn, stitch_fn = inference.plan("overlap", n, HOP, NUM_FRAME, MIN_TRIM)
    windows = chunk_fn(track)
    h = int(T * 0.5)  # 384
    assert windows.shape == (_k(n, T, h), W, 1) == (7, W, 1)
    assert np.array_equal(windows, _expected_windows(track, "overlap", W, TRIM, T, h))
    assert np.array_equal(stitch_fn(windows), track)


def test_plan_names_the_unknown_mode():
    with pytest.raises(ValueError) as err:
        inference.plan("nope", 10, 1024, 128, 5000)
    assert str(err.value) == "unknown inference mode 'nope'; choose one of ('amss', 'lasaft', 'overlap')"


# ---------------------------------------------------------------------------------------------- overlap_hop and K


def test_overlap_hop_bounds_and_messages():
    assert inference.overlap_hop(HOP, NUM_FRAME, MIN_TRIM, 0.0) == T  # ratio 0 allowed: no overlap
    assert inference.overlap_hop(overlap_ratio=0.0) == 119_808
    assert inference.overlap_hop(HOP, NUM_FRAME, MIN_TRIM, 0.998) == 1  # int(768 · 0.002) = int(1.536)
    for ratio in (1.0, 1.5, -0.1):
        with pytest.raises(ValueError) as err:
            inference.overlap_hop(HOP, NUM_FRAME, MIN_TRIM, ratio)
        assert str(err.value) == "overlap_ratio must be in [0, 1)"
    with pytest.raises(ValueError) as err:
        inference.overlap_hop(HOP, NUM_FRAME, MIN_TRIM, 0.999)  # int(768 · 0.001) = 0
    assert str(err.value) == "overlap_ratio too close to 1: window hop would be 0"


def test_num_windows_overlap_defaults_and_empty_track():
    t, h = 119_808, 59_904
    for n, k in [(1, 1), (t, 1), (t + 1, 2), (t + 3 * h, 4), (t + 3 * h + 1, 5), (1_000_003, 16)]:
        assert math.ceil(max(n - t, 0) / h) + 1 == k
        assert inference.num_windows_overlap(n) == k
    assert inference.num_windows_overlap(0) == 0
    assert inference.chunk_overlap(np.zeros((0, 2), np.float32)).shape == (0, DW, 2)


# ---------------------------------------------------------------------------------------------- stitch_overlap


def test_stitch_overlap_names_the_window_length_it_expects():
    with pytest.raises(ValueError) as err:
        inference.stitch_overlap(np.zeros((1, 1000, 2)), 10, HOP, NUM_FRAME, MIN_TRIM, RATIO)
    assert str(err.value) == "window outputs have 1000 samples, expected 1024"


def test_stitch_overlap_keeps_float_dtypes_and_makes_integers_float32():
    n = 2000
    track = np.random.default_rng(9).standard_normal((n, 2))
    windows = inference.chunk_overlap(track, HOP, NUM_FRAME, MIN_TRIM, RATIO)
    out = inference.stitch_overlap(windows, n, HOP, NUM_FRAME, MIN_TRIM, RATIO)
    assert out.dtype == np.float64 and np.array_equal(out, track)
    ints = np.arange(n * 2, dtype=np.int16).reshape(n, 2)
    iw = inference.chunk_overlap(ints, HOP, NUM_FRAME, MIN_TRIM, RATIO)
    out = inference.stitch_overlap(iw, n, HOP, NUM_FRAME, MIN_TRIM, RATIO)
    assert out.dtype == np.float32 and np.array_equal(out, ints.astype(np.float32))


# ------------------------------------------------------------------------------------------ chunk and stitch (§4.1)


@pytest.mark.parametrize("mode", ["amss", "lasaft"])
@pytest.mark.parametrize("n", [1, 768, 769, 3000])
def test_chunk_stitch_and_infer_track_with_another_geometry(mode, n):
    # no overlap, zero trims: window k = 128 zeros ‖ track[768·k : 768·k + 768] ‖ zeros (protocol §4.1)
    track = np.random.default_rng(n).standard_normal((n, 2)).astype(np.float32)
    expected = _expected_windows(track, mode, W, TRIM, T)
    assert expected.shape == (math.ceil(n / T), W, 2)
    windows = inference.chunk(track, HOP, NUM_FRAME, MIN_TRIM)
    assert np.array_equal(windows, expected)
    assert np.array_equal(inference.stitch(windows, n, HOP, NUM_FRAME, MIN_TRIM), track)
    rec = _Recorder()
    out = inference.infer_track(rec, track, mode=mode, hop=HOP, num_frame=NUM_FRAME, min_trim=MIN_TRIM, batch_size=3)
    assert np.array_equal(np.concatenate(rec.batches), expected) and np.array_equal(out, track)


def test_stitch_error_messages():
    with pytest.raises(ValueError) as err:
        inference.stitch(np.zeros((3, 2)), 10)
    assert str(err.value) == "expected window outputs (K, W, C), got shape (3, 2)"
    with pytest.raises(ValueError) as err:
        inference.stitch(np.zeros((1, 1000, 2)), 10)
    assert str(err.value) == "window outputs have 1000 samples, expected 130048"
    with pytest.raises(ValueError) as err:
        inference.stitch(np.zeros((1, DW, 2)), 97_281)
    assert str(err.value) == "1 windows cover only 97280 of 97281 samples"


def test_infer_track_names_a_wrong_model_output_shape():
    with pytest.raises(ValueError) as err:
        inference.infer_track(lambda b: b[:, :10], np.zeros((100, 2), np.float32))
    assert str(err.value) == "model returned shape (1, 10, 2) for a window batch of shape (1, 130048, 2)"


@pytest.mark.parametrize("batch_size", [0, -1, 1.0, 2.5, True, "4", None])
def test_infer_track_refuses_a_batch_size_that_is_not_a_positive_integer(batch_size):
    # batch_size=0 used to step by max(1, 0) = 1 but slice windows[s:s+0]: empty batches, a silent output
    rec = _Recorder()
    with pytest.raises(ValueError) as err:
        inference.infer_track(rec, np.ones((3000, 2), np.float32), hop=HOP, num_frame=NUM_FRAME, min_trim=MIN_TRIM,
                              batch_size=batch_size)
    assert str(err.value) == (f"batch_size must be a positive integer (windows per forward pass), "
                              f"got {batch_size!r}")
    assert rec.batches == []


def test_infer_track_takes_a_numpy_integer_batch_size():
    track = np.random.default_rng(12).standard_normal((3000, 2)).astype(np.float32)
    rec = _Recorder()
    out = inference.infer_track(rec, track, hop=HOP, num_frame=NUM_FRAME, min_trim=MIN_TRIM, batch_size=np.int64(3))
    assert [len(b) for b in rec.batches] == [3, 1] and np.array_equal(out, track)


@pytest.mark.parametrize("batch_size, batches", [(1, 4), (3, 2)])
def test_infer_track_progress_bar(batch_size, batches, capsys):
    # 3000 samples in the small geometry: ⌈3000 / 768⌉ = 4 windows, so ⌈4 / batch_size⌉ batches
    track = np.random.default_rng(10).standard_normal((3000, 2)).astype(np.float32)
    rec = _Recorder()
    out = inference.infer_track(rec, track, hop=HOP, num_frame=NUM_FRAME, min_trim=MIN_TRIM, batch_size=batch_size,
                                progress=True)
    assert len(rec.batches) == batches and np.array_equal(out, track)
    err = capsys.readouterr().err
    assert "windows: 100%" in err and f" {batches}/{batches} " in err and ("batch/s]" in err or "s/batch]" in err)


# ---------------------------------------------------------------------------------------------- geometry helpers


def test_useful_length_in_other_geometries_and_its_message():
    assert inference.useful_length(HOP, NUM_FRAME, MIN_TRIM) == T == 768
    assert inference.useful_length(1, 4, 1) == 1  # W = 3, trim = 1: one useful sample is enough
    # hop 64, 5 frames: W = 256; min_trim 128 -> trim 128 on each side leaves T = 0
    with pytest.raises(ValueError) as err:
        inference.useful_length(64, 5, 128)
    assert str(err.value) == "window of 256 samples is too short for a trim of 128 samples on each side"


def test_num_windows_default_geometry():
    t = 130_048 - 2 * 16_384  # 97 280
    for n, k in [(1, 1), (t, 1), (t + 1, 2), (2 * t, 2), (2 * t + 1, 3)]:
        assert math.ceil(n / t) == k and inference.num_windows(n) == k


def test_a_mono_vector_is_one_channel_and_other_shapes_are_refused():
    n = 2000
    mono = np.random.default_rng(11).standard_normal(n).astype(np.float32)
    windows = inference.chunk(mono, HOP, NUM_FRAME, MIN_TRIM)
    assert np.array_equal(windows, _expected_windows(mono[:, None], "amss", W, TRIM, T))
    with pytest.raises(ValueError) as err:
        inference.chunk(np.zeros((2, 3, 4)), HOP, NUM_FRAME, MIN_TRIM)
    assert str(err.value) == "expected a (samples, channels) array, got shape (2, 3, 4)"
