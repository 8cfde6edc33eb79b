"""What the mutants of models/inference.py showed untested (make mutation, docs/testing.md): the overlap-add helpers
with a geometry other than the defaults, the coverage count's type and defaults, the exact shape error, and the
16-bit PCM round trip's format (float32, always two-dimensional, the 16-bit grid). Expectations are computed here
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
