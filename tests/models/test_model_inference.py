"""Full-track inference (protocol §4): chunk/stitch as pure functions, identity reconstruction, overlap-add with the
1.5x gain bug fixed, and the manipulate() plumbing (batching, modes, autocast)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from models import inference, registry
from models.base import IdentityModel

W, TRIM_AMSS, TRIM_LASAFT = 130_048, 16_384, 5_120
T_AMSS, T_LASAFT = W - 2 * TRIM_AMSS, W - 2 * TRIM_LASAFT
H = int(T_LASAFT * 0.5)  # 59 904

LENGTHS = [1, 2, 1023, 44_100, T_AMSS - 1, T_AMSS, T_AMSS + 1, W - 1, W, W + 1, 2 * T_AMSS, 3 * T_AMSS + 17,
           T_LASAFT, T_LASAFT + 1, 441_000, 1_000_003]
# lengths that triggered the LaSAFT-HEAD 1.5x bug: (N - T) mod H < trim
BUG_LENGTHS = [T_LASAFT + k * H + r for k in (1, 2, 5) for r in (1, 100, 5_119)] + [T_LASAFT + H]


def test_constants():
    assert inference.window_length() == W
    assert inference.trim_length(16_384) == TRIM_AMSS and inference.trim_length(5_000) == TRIM_LASAFT
    assert inference.useful_length() == 97_280
    assert inference.useful_length(min_trim=5_000) == 119_808
    assert inference.overlap_hop() == 59_904
    assert inference.num_windows(240 * 44_100) == 109  # protocol §4.1: a 240 s track needs 109 windows


@pytest.mark.parametrize("n", LENGTHS)
@pytest.mark.parametrize("min_trim", [16_384, 5_000])
def test_chunk_stitch_identity_exact(n, min_trim):
    rng = np.random.default_rng(n)
    track = rng.standard_normal((n, 2)).astype(np.float32)
    windows = inference.chunk(track, min_trim=min_trim)
    trim = inference.trim_length(min_trim)
    assert windows.shape == (int(np.ceil(n / (W - 2 * trim))), W, 2)
    assert windows.dtype == np.float32
    # trim regions are always zeros (no context)
    assert not windows[:, :trim].any() and not windows[:, W - trim :].any()
    out = inference.stitch(windows, n, min_trim=min_trim)
    assert out.shape == (n, 2) and np.array_equal(out, track)


def test_chunk_layout_matches_reference():
    n = T_AMSS + 10
    track = np.arange(1, n + 1, dtype=np.float32)[:, None].repeat(2, 1)
    w = inference.chunk(track)
    assert w.shape == (2, W, 2)
    assert np.array_equal(w[0, TRIM_AMSS : TRIM_AMSS + T_AMSS, 0], track[:T_AMSS, 0])
    assert np.array_equal(w[1, TRIM_AMSS : TRIM_AMSS + 10, 0], track[T_AMSS:, 0])
    assert not w[1, TRIM_AMSS + 10 :].any()  # last window zero-padded on the right


@pytest.mark.parametrize("n", LENGTHS + BUG_LENGTHS)
def test_overlap_identity_exact(n):
    rng = np.random.default_rng(n + 1)
    track = rng.standard_normal((n, 2)).astype(np.float32)
    windows = inference.chunk_overlap(track)
    k = windows.shape[0]
    assert k == (1 if n <= T_LASAFT else int(np.ceil((n - T_LASAFT) / H)) + 1)
    out = inference.stitch_overlap(windows, n)
    assert out.dtype == np.float32 and np.array_equal(out, track)


@pytest.mark.parametrize("n", BUG_LENGTHS)
def test_bug_lengths_have_unit_gain(n):
    assert (n - T_LASAFT) % H < TRIM_LASAFT
    ones = np.ones((n, 1), dtype=np.float32)
    out = inference.stitch_overlap(inference.chunk_overlap(ones), n)
    assert np.array_equal(out, ones)  # the reference produced 1.5 in the overlapped regions here
    assert inference.overlap_coverage(n).max() == 2


def test_overlap_windows_carry_real_context():
    n = 300_000
    track = np.arange(n, dtype=np.float32)[:, None]
    w = inference.chunk_overlap(track)
    assert not w[0, :TRIM_LASAFT].any()  # zeros only before the track start
    # window 1 starts its useful region at H; its left trim holds the preceding audio
    assert np.array_equal(w[1, :TRIM_LASAFT, 0], track[H - TRIM_LASAFT : H, 0])
    assert np.array_equal(w[1, TRIM_LASAFT + T_LASAFT :, 0], track[H + T_LASAFT : H + T_LASAFT + TRIM_LASAFT, 0])


@pytest.mark.parametrize("ratio", [0.25, 0.5, 0.75, 0.9])
def test_overlap_other_ratios_identity(ratio):
    n = 777_777
    track = np.random.default_rng(0).standard_normal((n, 2)).astype(np.float32)
    out = inference.stitch_overlap(inference.chunk_overlap(track, overlap_ratio=ratio), n, overlap_ratio=ratio)
    assert np.array_equal(out, track)


def test_stitch_rejects_wrong_shapes():
    with pytest.raises(ValueError):
        inference.stitch(np.zeros((1, 1000, 2)), 10)
    with pytest.raises(ValueError, match="cover only"):
        inference.stitch(np.zeros((1, W, 2)), T_AMSS + 1)
    with pytest.raises(ValueError, match="expected 2"):
        inference.stitch_overlap(np.zeros((1, W, 2), np.float32), T_LASAFT + 1)
    with pytest.raises(ValueError, match="too short"):
        inference.useful_length(hop=256, num_frame=128, min_trim=16_384)


def test_empty_track():
    assert inference.chunk(np.zeros((0, 2), np.float32)).shape == (0, W, 2)
    assert inference.stitch(np.zeros((0, W, 2), np.float32), 0).shape == (0, 2)
    assert inference.stitch_overlap(inference.chunk_overlap(np.zeros((0, 2), np.float32)), 0).shape == (0, 2)


@pytest.mark.parametrize("mode", ["amss", "lasaft", "overlap"])
@pytest.mark.parametrize("n", [5, 97_281, 400_001])
@pytest.mark.parametrize("batch_size", [1, 3])
def test_identity_model_through_manipulate(mode, n, batch_size):
    track = np.random.default_rng(n).uniform(-1, 1, (n, 2)).astype(np.float32)
    out = IdentityModel().manipulate(track, "anything", mode=mode, batch_size=batch_size)
    assert out.dtype == np.float32 and np.array_equal(out, track)


def test_pcm16_roundtrip_is_optional_and_quantises():
    track = np.random.default_rng(0).uniform(-0.5, 0.5, (50_000, 2)).astype(np.float32)
    out = IdentityModel().manipulate(track, "x", mode="overlap", pcm16=True)
    assert not np.array_equal(out, track) and np.abs(out - track).max() < 1.0 / 32768 + 1e-7


def test_manipulate_input_validation():
    m = IdentityModel()
    with pytest.raises(ValueError, match="stereo"):
        m.manipulate(np.zeros(100, np.float32), "x")
    with pytest.raises(ValueError, match="mono"):
        m.manipulate(np.zeros((100, 1), np.float32), "x")
    with pytest.raises(ValueError, match="floating"):
        m.manipulate(np.zeros((100, 2), np.int16), "x")
    with pytest.raises(ValueError, match="NaN"):
        m.manipulate(np.full((100, 2), np.nan, np.float32), "x")
    with pytest.raises(ValueError, match="unknown inference mode"):
        m.manipulate(np.zeros((100, 2), np.float32), "x", mode="nope")


def test_default_modes_per_family():
    assert registry.create("amss-net", "embedded", init=False).inference_params()["mode"] == "amss"
    p = registry.create("u7-dcse", init=False).inference_params()
    assert p["mode"] == "lasaft" and p["min_trim"] == 5000
    assert registry.create("cunet-film", init=False).inference_params()["mode"] == "lasaft"
    assert registry.create("amss-net", init=False).inference_params()["min_trim"] == 16_384


def test_real_model_batch_size_invariance_and_eval_restored():
    model = registry.create("cunet-gpocm-lasaft", profile="embedded", seed=1)
    model.train()
    track = np.random.default_rng(0).uniform(-0.5, 0.5, (70_000, 2)).astype(np.float32)  # 3 windows
    a = model.manipulate(track, "separate drums", batch_size=1)
    b = model.manipulate(track, "separate drums", batch_size=4)
    assert model.training  # restored
    assert a.shape == track.shape
    np.testing.assert_allclose(a, b, atol=1e-5)
    c = model.manipulate(track, "mute vocals, drums, bass", mode="overlap")
    assert c.shape == track.shape and np.isfinite(c).all()


@pytest.mark.parametrize("dtype", ["bf16", "fp16"])
def test_autocast_on_cpu_close_to_fp32(dtype):
    model = registry.create("amss-net", profile="embedded", seed=2)
    track = np.random.default_rng(1).uniform(-0.5, 0.5, (20_000, 2)).astype(np.float32)
    ref = model.manipulate(track, "decrease the volume of bass")
    low = model.manipulate(track, "decrease the volume of bass", autocast=dtype)
    assert low.dtype == np.float32 and np.isfinite(low).all()
    rel = np.linalg.norm(low - ref) / max(np.linalg.norm(ref), 1e-12)
    assert rel < 0.1
    with pytest.raises(ValueError, match="autocast"):
        model.manipulate(track, "separate bass", autocast="int8")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_cpu():  # pragma: no cover - runs only where a GPU exists
    model = registry.create("amss-net", profile="embedded", seed=2)
    track = np.random.default_rng(1).uniform(-0.5, 0.5, (40_000, 2)).astype(np.float32)
    ref = model.manipulate(track, "separate vocals")
    gpu = model.manipulate(track, "separate vocals", device="cuda")
    np.testing.assert_allclose(gpu, ref, atol=1e-3)
