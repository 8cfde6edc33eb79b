"""STFT front end: CaC channel order, inversion, window buffer, magnitude synthesis with the mixture phase."""

from __future__ import annotations

import numpy as np
import torch

from models import portable

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
    assert torch.equal(st.window, portable.hann_window(4096))  # periodic Hann, computed without MKL
    assert torch.allclose(st.window, torch.hann_window(4096), rtol=0, atol=1e-6)


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


# ---------------------------------------------------------------------------------------------------------------
# What reading the mutants of models/stft.py showed untested; expected values from torch.stft/istft
# called here, or spelled out.

def test_defaults_are_the_paper_front_end():
    st = STFT()
    assert (st.n_fft, st.hop_length, st.n_bins) == (2048, 1024, 1025)
    assert torch.equal(st.window, portable.hann_window(2048))
    assert torch.allclose(st.window, torch.hann_window(2048), rtol=0, atol=1e-6)


def test_hop_up_to_n_fft_is_accepted_and_beyond_is_refused():
    st = STFT(512, 512)  # hop == n_fft still inverts (periodic Hann, COLA fails only beyond)
    assert st.hop_length == 512
    import pytest

    with pytest.raises(ValueError) as err:
        STFT(512, 513)
    assert str(err.value) == "hop_length (513) must not exceed n_fft (512) (iSTFT would not invert)"


def test_shape_and_type_errors_say_what_was_expected():
    import pytest

    st = STFT(512, 256)
    with pytest.raises(ValueError) as err:
        st.complex(torch.zeros(2, 100))
    assert str(err.value) == "expected a (B, channels, samples) waveform, got shape (2, 100)"
    with pytest.raises(ValueError) as err:
        st.inverse_complex(torch.zeros(1, 2, 3, 257), 512)
    assert str(err.value) == "inverse_complex expects a complex tensor"


def test_num_frames_is_the_frame_count_of_the_transform():
    st = STFT(512, 256)
    for n in (1000, 1024, 4097, 5000):
        want = torch.stft(torch.zeros(n), 512, 256, window=torch.hann_window(512), center=True, pad_mode="reflect",
                          return_complex=True).shape[-1]
        assert st.num_frames(n) == want == st.cac(torch.zeros(1, 2, n)).shape[2]


def test_a_module_cast_to_bf16_still_transforms_in_float32():
    """module.to(bf16) casts the window buffer too; the transforms cast it back to float32 (the bf16-rounded Hann)."""
    st = STFT(512, 256).to(torch.bfloat16)
    assert st.window.dtype == torch.bfloat16
    wave = torch.randn(1, 2, 4096)
    window = torch.hann_window(512).bfloat16().float()
    spec = torch.stft(wave[0, 1], 512, 256, window=window, center=True, pad_mode="reflect", return_complex=True).T
    cac = st.cac(wave)
    assert cac.dtype == torch.float32 and torch.allclose(cac[0, 1], spec.real, atol=1e-4)
    back = st.inverse_cac(cac, 4096)
    assert back.dtype == torch.float32 and torch.allclose(back, wave, atol=1e-4)


def test_inverse_complex_of_complex128_gives_float32():
    st = STFT(512, 256)
    wave = torch.randn(1, 2, 2048)
    back = st.inverse_complex(st.complex(wave).to(torch.complex128), 2048)
    assert back.dtype == torch.float32 and torch.allclose(back, wave, atol=1e-5)


def test_inverse_magnitude_honours_an_explicit_length():
    st = STFT(512, 256)
    wave = torch.randn(1, 2, 4096)
    mag = st.magnitude(wave)
    full = st.inverse_magnitude(mag, wave)
    short = st.inverse_magnitude(mag, wave, length=3000)
    assert full.shape == (1, 2, 4096) and short.shape == (1, 2, 3000)
    assert torch.allclose(short, wave[..., :3000], atol=1e-5)
