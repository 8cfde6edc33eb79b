"""Wave-U-Net (D. Stoller, S. Ewert, S. Dixon, "Wave-U-Net: a multi-scale neural network for end-to-end audio
source separation", ISMIR 2018; shared/spec/survey.md §2).

Waveform in, the four sources' waveforms out (one network, multi-output as the paper's multi-instrument model):

* ``levels`` down-sampling blocks: 1-D convolution with ``filters·i`` filters (kernel ``down_kernel``, 'same' zero
  padding), LeakyReLU, decimation by 2 (every other sample); the pre-decimation features are the block's skip;
* a bottleneck convolution with ``filters·(levels+1)`` filters (kernel ``down_kernel``);
* ``levels`` up-sampling blocks: linear interpolation ×2, concatenation with the skip of the same level, 1-D
  convolution with ``filters·i`` filters (kernel ``up_kernel``), LeakyReLU;
* concatenation with the input, a 1×1 convolution to (sources − 1) × channels outputs with tanh, and the *difference
  output*: the last source (other) is the input minus the sum of the others.

The paper's networks use unpadded convolutions and a larger input context than output; here every convolution is
zero-padded ('same') and the input is zero-padded to a multiple of 2^levels samples and cropped back: the chunked
inference of the suite gives each window its context instead (docs/models.md). Parameters are the same either way.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from models.base import SOURCES

from .common import GemmConv1d, MultiOutputQueries, WaveformModel


class WaveUNet(MultiOutputQueries, WaveformModel):

    def __init__(self, config: dict):
        super().__init__(config)
        cfg = self.config
        levels, fc, kd, ku = cfg["levels"], cfg["filters"], cfg["down_kernel"], cfg["up_kernel"]
        c = int(cfg["audio_channels"])
        if kd % 2 == 0 or ku % 2 == 0:
            raise ValueError(f"down_kernel and up_kernel must be odd ('same' padding), got {kd} and {ku}")
        self.levels = levels
        self.down = nn.ModuleList(GemmConv1d(c if i == 1 else fc * (i - 1), fc * i, kd, padding=kd // 2)
                                  for i in range(1, levels + 1))
        self.bottleneck = GemmConv1d(fc * levels, fc * (levels + 1), kd, padding=kd // 2)
        self.up = nn.ModuleList(GemmConv1d(fc * (i + 1) + fc * i, fc * i, ku, padding=ku // 2)
                                for i in range(levels, 0, -1))
        self.n_out = len(SOURCES) - 1 if cfg["difference_output"] else len(SOURCES)
        self.out = GemmConv1d(fc + c, self.n_out * c, 1)

    def all_sources(self, wave: torch.Tensor) -> torch.Tensor:
        """(B, 2, N) suite audio -> (B, 4, C, N') the four sources at the model's rate and channel count."""
        x = self.to_model_audio(wave)
        n = x.shape[-1]
        m = 2 ** self.levels
        inp = F.pad(x, (0, (-n) % m))
        h, skips = inp, []
        for conv in self.down:
            h = F.leaky_relu(conv(h), 0.2)
            skips.append(h)
            h = h[..., ::2]
        h = F.leaky_relu(self.bottleneck(h), 0.2)
        for conv, skip in zip(self.up, reversed(skips)):
            h = F.interpolate(h, scale_factor=2, mode="linear", align_corners=False)
            h = F.leaky_relu(conv(torch.cat([h, skip], dim=1)), 0.2)
        y = torch.tanh(self.out(torch.cat([h, inp], dim=1)))[..., :n]
        y = y.reshape(y.shape[0], self.n_out, x.shape[1], n)
        if self.n_out < len(SOURCES):
            y = torch.cat([y, (x - y.sum(dim=1)).unsqueeze(1)], dim=1)
        return y

    def waveforms(self, wave: torch.Tensor, cond=None) -> torch.Tensor:
        return self.to_suite_audio(self.select(self.all_sources(wave), cond), wave.shape[-1])
