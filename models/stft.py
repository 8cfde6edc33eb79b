"""STFT front end shared by every model (models.md §0.2).

* Hann window of length ``n_fft`` (periodic, the PyTorch default; computed without MKL, ``models.portable``),
  registered as a **buffer** (never a parameter, so it is not counted and is not part of checkpoints).
* Centred frames, reflect padding, one-sided spectrum, no normalisation.
* Complex-as-channels (CaC): each stereo channel is transformed separately and the result is stacked as
  ``[Re L, Re R, Im L, Im R]`` (real parts of all channels, then imaginary parts).
* Magnitude variant: ``[|X_L|, |X_R|]`` (linear, no log); synthesis re-uses the mixture phase.

Layout of every spectrogram tensor: ``(B, C, T, F)`` (batch, channels, frames, bins).

The transforms always run in float32, also inside an autocast region (the network may run in bf16/fp16).
"""

from __future__ import annotations

import torch
from torch import nn

from . import portable


def _no_autocast(device_type: str):
    return torch.autocast(device_type=device_type, enabled=False)


class STFT(nn.Module):
    """Stereo STFT / iSTFT with the thesis conventions.

    Args:
        n_fft: FFT size (2048 for the "_11" models, 4096 for the "large"/"_12" models).
        hop_length: hop in samples (1024 for every paper configuration).
    """

    def __init__(self, n_fft: int = 2048, hop_length: int = 1024):
        super().__init__()
        if hop_length > n_fft:
            raise ValueError(f"hop_length ({hop_length}) must not exceed n_fft ({n_fft}) (iSTFT would not invert)")
        self.n_fft = int(n_fft)
        self.hop_length = int(hop_length)
        # A constant: buffer, not parameter (models.md §0.2, §6 item 5); not persistent -> not in state_dict.
        self.register_buffer("window", portable.hann_window(self.n_fft), persistent=False)

    @property
    def n_bins(self) -> int:
        return self.n_fft // 2 + 1

    def num_frames(self, n_samples: int) -> int:
        """Number of frames of a centred STFT of ``n_samples`` samples."""
        return n_samples // self.hop_length + 1

    # ------------------------------------------------------------------ complex
    def complex(self, wave: torch.Tensor) -> torch.Tensor:
        """(B, C, N) real -> (B, C, T, F) complex64."""
        if wave.dim() != 3:
            raise ValueError(f"expected a (B, channels, samples) waveform, got shape {tuple(wave.shape)}")
        b, c, n = wave.shape
        with _no_autocast(wave.device.type):
            x = wave.reshape(b * c, n).float()
            spec = torch.stft(
                x,
                n_fft=self.n_fft,
                hop_length=self.hop_length,
                window=self.window.to(device=x.device, dtype=torch.float32),
                center=True,
                pad_mode="reflect",
                normalized=False,
                onesided=True,
                return_complex=True,
            )  # (B*C, F, T)
        f, t = spec.shape[-2:]
        return spec.reshape(b, c, f, t).transpose(2, 3)

    def inverse_complex(self, spec: torch.Tensor, length: int) -> torch.Tensor:
        """(B, C, T, F) complex -> (B, C, length) float32."""
        b, c, t, f = spec.shape
        with _no_autocast(spec.device.type):
            x = spec.transpose(2, 3).reshape(b * c, f, t)
            if not torch.is_complex(x):
                raise ValueError("inverse_complex expects a complex tensor")
            x = x.to(torch.complex64)
            wave = torch.istft(
                x,
                n_fft=self.n_fft,
                hop_length=self.hop_length,
                window=self.window.to(device=x.device, dtype=torch.float32),
                center=True,
                normalized=False,
                onesided=True,
                length=int(length),
            )
        return wave.reshape(b, c, -1)

    # ------------------------------------------------------------------ CaC
    def cac(self, wave: torch.Tensor) -> torch.Tensor:
        """(B, 2, N) -> (B, 4, T, F) ordered [Re L, Re R, Im L, Im R]."""
        spec = self.complex(wave)
        return torch.cat([spec.real, spec.imag], dim=1)

    def inverse_cac(self, cac: torch.Tensor, length: int) -> torch.Tensor:
        """(B, 2C, T, F) CaC -> (B, C, length)."""
        with _no_autocast(cac.device.type):
            cac = cac.float()
            c = cac.shape[1] // 2
            spec = torch.complex(cac[:, :c], cac[:, c:])
        return self.inverse_complex(spec, length)

    # ------------------------------------------------------------------ magnitude
    def magnitude(self, wave: torch.Tensor) -> torch.Tensor:
        """(B, 2, N) -> (B, 2, T, F) linear magnitude."""
        return self.complex(wave).abs()

    def inverse_magnitude(
        self, mag: torch.Tensor, mixture_wave: torch.Tensor, length: int | None = None
    ) -> torch.Tensor:
        """Synthesise a magnitude estimate with the mixture phase (bins where the mixture is 0 get phase 0)."""
        mix = self.complex(mixture_wave)
        with _no_autocast(mag.device.type):
            phase = torch.angle(mix)
            spec = torch.polar(mag.float(), phase)
        return self.inverse_complex(spec, mixture_wave.shape[-1] if length is None else length)
