"""DeepConvSep (P. Chandna, M. Miron, J. Janer, E. Gómez, "Monoaural audio source separation using deep
convolutional neural networks", LVA/ICA 2017; shared/spec/survey.md §2). Written from the paper's description and the
spec (the authors' code is AGPL and was not used).

One network, four decoders (multi-output): a block of ``num_frame`` magnitude frames (B, C, T, F) in, four soft masks
out, the selected source's mask applied to the mixture magnitude (resynthesis with the mixture phase):

* a *vertical* convolution: ``vertical_filters`` filters of 1 frame × all F bins (timbre), no padding → (T, 1);
* a *horizontal* convolution: ``horizontal_filters`` filters of ``horizontal_kernel`` frames × 1 → (T − k + 1, 1);
* flatten, a dense bottleneck of ``bottleneck`` units (ReLU);
* per source: a dense layer back to the flattened size (ReLU), the transposed horizontal and the transposed vertical
  convolution up to (C, T, F), ReLU: the source magnitude estimate ŝ_j;
* soft masks ŝ_j / (Σ_i ŝ_i + ε), applied to the mixture magnitude.

``audio_channels: 1`` (the paper: mono) takes the mean of the two channels' magnitudes as input and applies each mono
mask to both channels. Convolutions are linear; the dense layers and the source estimates use ReLU (the spec does not
name the non-linearities; docs/models.md).
"""

from __future__ import annotations

import torch
from torch import nn

from models.base import SOURCES

from .common import MultiOutputQueries, SurveyModel

EPS = 1e-8


class Decoder(nn.Module):
    def __init__(self, bottleneck: int, hf: int, t_h: int, vf: int, kh: int, c: int, n_bins: int):
        super().__init__()
        self.shape = (hf, t_h)
        self.dense = nn.Linear(bottleneck, hf * t_h)
        self.h = nn.ConvTranspose2d(hf, vf, (kh, 1))
        self.v = nn.ConvTranspose2d(vf, c, (1, n_bins))

    def forward(self, z):
        x = torch.relu(self.dense(z)).reshape(z.shape[0], *self.shape, 1)
        return torch.relu(self.v(self.h(x)))


class DeepConvSep(MultiOutputQueries, SurveyModel):
    representation = "mag"

    def __init__(self, config: dict):
        super().__init__(config)
        cfg = self.config
        c, t, nb = int(cfg["audio_channels"]), cfg["num_frame"], self.stft.n_bins
        vf, hf, kh, b = cfg["vertical_filters"], cfg["horizontal_filters"], cfg["horizontal_kernel"], cfg["bottleneck"]
        if not 1 <= kh <= t:
            raise ValueError(f"horizontal_kernel {kh} must be between 1 and num_frame {t}")
        self.time_multiple = t  # the network takes exactly num_frame frames (its dense layers are sized by them)
        t_h = t - kh + 1
        self.vertical = nn.Conv2d(c, vf, (1, nb))
        self.horizontal = nn.Conv2d(vf, hf, (kh, 1))
        self.bottleneck = nn.Linear(hf * t_h, b)
        self.decoders = nn.ModuleList(Decoder(b, hf, t_h, vf, kh, c, nb) for _ in SOURCES)

    def masks(self, spec: torch.Tensor) -> torch.Tensor:
        """(B, 2, T, F) mixture magnitude -> (B, 4, C, T, F) soft masks."""
        t = self.config["num_frame"]
        if spec.shape[2] != t:
            raise ValueError(f"DeepConvSep takes blocks of exactly num_frame = {t} frames, got {spec.shape[2]} "
                             f"(window of hop·(num_frame − 1) = {self.chunk_samples} samples)")
        x = spec.mean(dim=1, keepdim=True) if self.config["audio_channels"] == 1 else spec
        z = self.horizontal(self.vertical(x)).flatten(1)
        z = torch.relu(self.bottleneck(z))
        est = torch.stack([d(z) for d in self.decoders], dim=1)
        return est / (est.sum(dim=1, keepdim=True) + EPS)

    def estimate(self, spec: torch.Tensor, cond=None) -> torch.Tensor:
        return self.select(self.masks(spec), cond) * spec
