"""STFT front end: CaC channel order, inversion, window buffer, magnitude synthesis with the mixture phase."""

from __future__ import annotations

import numpy as np
import torch

from models.stft import STFT


def test_cac_layout_and_shapes():
    st = STFT(2048, 1024)
    wave = torch.randn(2, 2, 1024 * 127)
    cac = st.cac(wave)
    assert cac.shape == (2, 4, 128, 1025)  # 130 048 samples -> exactly 128 frames
    spec = torch.stft(wave[1, 1], 2048, 1024, window=torch.hann_window(2048), center=True, pad_mode="reflect",
                      return_complex=True).T
    assert torch.allclose(cac[1, 1], spec.real, atol=1e-4)  # Re R
    assert torch.allclose(cac[1, 3], spec.imag, atol=1e-4)  # Im R
    assert torch.allclose(cac[1, 0], st.complex(wave)[1, 0].real)  # Re L


def test_inverse_roundtrip_and_length():
    st = STFT(512, 256)
    wave = torch.randn(1, 2, 10_001)
    back = st.inverse_cac(st.cac(wave), wave.shape[-1])
    assert back.shape == wave.shape
    assert torch.allclose(back, wave, atol=1e-5)
    mag = st.magnitude(wave)
    assert mag.shape == (1, 2, 10_001 // 256 + 1, 257)
    assert torch.allclose(st.inverse_magnitude(mag, wave), wave, atol=1e-5)


def test_window_is_buffer_not_parameter():
    st = STFT(4096, 1024)
    assert len(list(st.parameters())) == 0
    assert "window" in dict(st.named_buffers())
    assert "window" not in st.state_dict()
    assert torch.equal(st.window, torch.hann_window(4096))  # periodic Hann


def test_zero_input_magnitude_synthesis_is_zero():
    st = STFT(512, 256)
    z = torch.zeros(1, 2, 4096)
    assert torch.count_nonzero(st.inverse_magnitude(st.magnitude(z) * 0.5, z)) == 0


def test_autocast_keeps_transform_in_float32():
    st = STFT(512, 256)
    wave = torch.randn(1, 2, 4096)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        cac = st.cac(wave)
        back = st.inverse_cac(cac.bfloat16(), 4096)
    assert cac.dtype == torch.float32 and back.dtype == torch.float32
    assert np.isfinite(back.numpy()).all()
