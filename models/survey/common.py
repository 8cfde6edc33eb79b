"""Shared parts of the survey's learned separators (docs/models.md, "Survey separators").

* The query mapping, a mixin on each model: a *dedicated* survey model (one network per source, as MMDenseNet)
  answers its own source's query exactly as the thesis's dedicated U-Nets (:class:`~models.base.SingleSourceQueries`);
  a *multi-output* survey model (one network with one output per source, as Wave-U-Net, the Wavenet-based separator
  and DeepConvSep) answers the four separation queries, the condition index (0 vocals, 1 drums, 2 bass, 3 other =
  ``mute vocals, drums, bass``, Table 5.2's mapping) selecting which of its outputs a pass returns
  (:class:`MultiOutputQueries`). The network always computes every output.
* Sample rate and channels of the papers' own configurations: the suite's audio is stereo 44.1 kHz. A model whose
  config has ``sample_rate`` ≠ 44 100 resamples each window band-limited (:func:`fft_resample`) to that rate and back;
  ``audio_channels: 1`` averages the two channels into one and returns the mono estimate on both channels.
* :class:`GemmConv1d`, the 1-D convolution of the waveform models: ``nn.Conv1d``'s parameters and result, computed as
  shifted copies of the input and one batched MKL matrix product instead of oneDNN (docs/performance.md,
  "Reproducible numerics").
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from models.base import AudioModel, SourceIndexQueries

SUITE_SR = 44100


def fft_resample(x: torch.Tensor, n_out: int) -> torch.Tensor:
    """Band-limited resampling of the last axis to ``n_out`` samples (real FFT, spectrum truncated or zero-padded).

    An exact inverse pair for down- then up-sampling of a band-limited signal; applied per window, so each window is
    treated as periodic (the window borders are trimmed by the suite's chunked inference)."""
    n = x.shape[-1]
    if n_out == n:
        return x
    spec = torch.fft.rfft(x.float(), dim=-1)
    bins = n_out // 2 + 1
    if spec.shape[-1] >= bins:
        spec = spec[..., :bins]
    else:
        spec = torch.nn.functional.pad(spec, (0, bins - spec.shape[-1]))
    return torch.fft.irfft(spec, n=n_out, dim=-1) * (n_out / n)


class GemmConv1d(nn.Conv1d):
    """``nn.Conv1d`` (zero padding, one group) computed without oneDNN: the ``kernel_size`` shifted, dilated and
    strided slices of the padded input are stacked into a (B, C·K, N') matrix and multiplied by the (O, C·K) weight in
    one batched MKL GEMM, whose results ``MKL_CBWR`` pins across processors. oneDNN's kernels for long 1-D
    convolutions choose their blocking from the processor's cache sizes, so Wave-U-Net trained to different last bits
    on two CPUs of the same ISA; this path has no such choice. Same parameters (names, shapes, initialisation) and
    the same result up to float rounding as ``nn.Conv1d``; the cost, measured side by side, is in
    docs/performance.md."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.groups != 1 or self.padding_mode != "zeros" or isinstance(self.padding, str):
            raise ValueError(f"GemmConv1d supports one group and numeric zero padding, got groups={self.groups}, "
                             f"padding={self.padding!r}, padding_mode={self.padding_mode!r}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        (k,), (d,), (s,), (p,) = self.kernel_size, self.dilation, self.stride, self.padding
        if k == 1 and s == 1 and p == 0:
            cols = x
        else:
            x = F.pad(x, (p, p))
            n = (x.shape[-1] - d * (k - 1) - 1) // s + 1
            # cols[b, c·K + j, t] = x[b, c, t·s + j·d], the order of weight.reshape(O, C·K)
            cols = torch.stack([x[..., j * d: j * d + s * (n - 1) + 1: s] for j in range(k)], dim=2).flatten(1, 2)
        y = torch.bmm(self.weight.reshape(self.out_channels, -1).expand(x.shape[0], -1, -1), cols)
        return y if self.bias is None else y + self.bias[:, None]


class SurveyModel(AudioModel):
    """Base of the survey separators: output selection, optional mono / other-rate processing. The query mapping
    comes from a mixin: :class:`~models.base.SingleSourceQueries` for a dedicated model (MMDenseNet),
    :class:`MultiOutputQueries` for a multi-output one."""

    @staticmethod
    def select(outputs: torch.Tensor, cond) -> torch.Tensor:
        """(B, S, ...) per-source outputs -> (B, ...) the output each item's condition asks for."""
        if cond is None:
            raise ValueError("a multi-output survey separator needs the condition (source index) of each item")
        if isinstance(cond, int):
            cond = torch.full((outputs.shape[0],), cond, dtype=torch.long, device=outputs.device)
        return outputs[torch.arange(outputs.shape[0], device=outputs.device), cond.to(outputs.device)]

    # ---------------------------------------------------------------- sample rate and channels
    def to_model_audio(self, wave: torch.Tensor) -> torch.Tensor:
        """(B, 2, N) suite audio -> (B, C, N') at the model's rate and channel count."""
        if self.config.get("audio_channels", 2) == 1:
            wave = wave.mean(dim=1, keepdim=True)
        sr = int(self.config.get("sample_rate", SUITE_SR))
        if sr != SUITE_SR:
            wave = fft_resample(wave, round(wave.shape[-1] * sr / SUITE_SR))
        return wave

    def to_suite_audio(self, wave: torch.Tensor, n: int) -> torch.Tensor:
        """(..., C, N') model-rate audio -> (..., 2, n) suite audio."""
        if wave.shape[-1] != n:
            wave = fft_resample(wave, n)
        if wave.shape[-2] == 1:
            wave = wave.expand(*wave.shape[:-2], 2, n)
        return wave

    def reset_parameters(self) -> None:
        """The modules' own (PyTorch default) initialisation, drawn again from the current RNG (the registry seeds
        it); the papers give no other scheme."""
        for m in self.modules():
            if m is not self and callable(getattr(m, "reset_parameters", None)) and \
                    not isinstance(m, SurveyModel):
                m.reset_parameters()


class MultiOutputQueries(SourceIndexQueries):
    """:class:`~models.base.SourceIndexQueries` under the survey's name for a multi-output separator (the name the
    unsupported-query error gives)."""

    query_role = "multi-output separator: one source per pass"


class WaveformModel(SurveyModel):
    """A waveform-domain separator: the training target is the waveform itself (``representation = "wave"``,
    ``spec`` is the identity, the trainer's MSE is a waveform MSE) and ``to_wave`` returns the estimate."""

    representation = "wave"

    def forward(self, wave: torch.Tensor, cond=None) -> torch.Tensor:
        return self.waveforms(wave, cond)

    def waveforms(self, wave: torch.Tensor, cond=None) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError
