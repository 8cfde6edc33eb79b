"""The Wavenet-based separator (F. Lluís, J. Pons, X. Serra, "End-to-end music source separation: is it possible in
the waveform domain?", Interspeech 2019; shared/spec/survey.md §2).

A non-causal WaveNet regressing the source waveforms directly (no μ-law, no softmax):

* input convolution (kernel ``kernel``) to ``channels`` residual channels;
* ``stacks`` × ``dilations`` residual layers, dilation 2^j (j = 0 … dilations − 1), each: a dilated convolution
  (kernel ``kernel``, 'same' zero padding on both sides: non-causal) to 2·``channels``, the gated unit
  tanh(a) ⊙ σ(b), a 1×1 convolution to 2·``channels`` split into the residual (added to the layer input) and the
  skip contribution;
* the sum of the skips → ReLU → convolution (kernel ``kernel``) to ``final[0]`` → ReLU → convolution (kernel
  ``kernel``) to ``final[1]`` → 1×1 convolution to ``outputs`` × channels (linear);
* 3 outputs (vocals, drums, bass); other is the remainder, the input minus their sum (the paper's multi-instrument
  set-up).
"""

from __future__ import annotations

import torch
from torch import nn

from models.base import SOURCES

from .common import GemmConv1d, MultiOutputQueries, WaveformModel


class ResidualLayer(nn.Module):
    def __init__(self, channels: int, kernel: int, dilation: int):
        super().__init__()
        self.dilated = GemmConv1d(channels, 2 * channels, kernel, dilation=dilation,
                                 padding=dilation * (kernel - 1) // 2)
        self.mix = GemmConv1d(channels, 2 * channels, 1)
        self.channels = channels

    def forward(self, x):
        a, b = self.dilated(x).chunk(2, dim=1)
        res, skip = self.mix(torch.tanh(a) * torch.sigmoid(b)).split(self.channels, dim=1)
        return x + res, skip


class WavenetSeparator(MultiOutputQueries, WaveformModel):

    def __init__(self, config: dict):
        super().__init__(config)
        cfg = self.config
        c, k, ch = int(cfg["audio_channels"]), cfg["kernel"], cfg["channels"]
        if k % 2 == 0:
            raise ValueError(f"kernel must be odd (non-causal 'same' padding), got {k}")
        if cfg["outputs"] not in (len(SOURCES) - 1, len(SOURCES)):
            raise ValueError(f"outputs must be 3 (other = remainder) or 4, got {cfg['outputs']}")
        self.inp = GemmConv1d(c, ch, k, padding=k // 2)
        self.layers = nn.ModuleList(ResidualLayer(ch, k, 2**j) for _ in range(cfg["stacks"])
                                    for j in range(cfg["dilations"]))
        f1, f2 = cfg["final"]
        self.head = nn.Sequential(nn.ReLU(), GemmConv1d(ch, f1, k, padding=k // 2), nn.ReLU(),
                                  GemmConv1d(f1, f2, k, padding=k // 2), GemmConv1d(f2, cfg["outputs"] * c, 1))

    def all_sources(self, wave: torch.Tensor) -> torch.Tensor:
        """(B, 2, N) suite audio -> (B, 4, C, N') the four sources at the model's rate and channel count."""
        x = self.to_model_audio(wave)
        h = self.inp(x)
        skips = 0
        for layer in self.layers:
            h, s = layer(h)
            skips = skips + s
        y = self.head(skips)
        y = y.reshape(y.shape[0], self.config["outputs"], x.shape[1], x.shape[-1])
        if y.shape[1] < len(SOURCES):
            y = torch.cat([y, (x - y.sum(dim=1)).unsqueeze(1)], dim=1)
        return y

    def waveforms(self, wave: torch.Tensor, cond=None) -> torch.Tensor:
        return self.to_suite_audio(self.select(self.all_sources(wave), cond), wave.shape[-1])
