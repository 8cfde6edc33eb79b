"""Chapter 3: dedicated U-Nets (one network per source) with the five spectrogram estimation methods
(models.md §1): DME, MME (magnitude), CME-σ, CME-tanh (complex masks on the 4 CaC channels), DCSE (direct CaC).

Skeleton (§0.8): first conv → L × (block, skip, down) → mid block → L × (up, concat[up, skip], block) → last conv.
"""

from __future__ import annotations

import torch
from torch import nn

from . import blocks, portable
from .base import SOURCES, AudioModel, SingleSourceQueries, pad_time

METHODS = ("dme", "mme", "cme_sigmoid", "cme_tanh", "dcse")


def level_sizes(dim_f: int, n_levels: int) -> list[int]:
    """Frequency size at encoder levels 0..L (the last entry is the mid block)."""
    sizes = [dim_f >> k for k in range(n_levels + 1)]
    if dim_f % (1 << n_levels):
        raise ValueError(f"dim_f = {dim_f} is not divisible by 2^{n_levels}")
    return sizes


def make_block(kind: str, c_in: int, n_freq: int, cfg: dict) -> nn.Module:
    """A TFC or TFC-TDF block from a model config."""
    g, n, k = cfg["channels"], cfg["tfc_layers"], cfg["kernel"]
    if kind == "tfc":
        return blocks.TFC(c_in, g, n, k)
    if kind == "tfc_tdf":
        return blocks.TFC_TDF(
            c_in,
            n_freq,
            g,
            n,
            k,
            bottleneck=cfg["tdf"] == "bottleneck",
            bf=cfg["bf"],
            min_units=cfg["min_units"],
            bias=cfg["tdf_bias"],
            affine=cfg["tdf_affine"],
        )
    raise ValueError(f"unknown block type {kind!r}")


class DedicatedUNet(SingleSourceQueries, AudioModel):
    """Dedicated TFC / TFC-TDF U-Net. Config keys: see ``models.registry`` (family "dedicated")."""

    def __init__(self, config: dict):
        super().__init__(config)
        cfg = self.config
        method = cfg["method"]
        if method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}")
        if cfg["source"] not in SOURCES:
            raise ValueError(f"source must be one of {SOURCES}")
        self.method = method
        self.representation = "mag" if method in ("dme", "mme") else "cac"
        c_io = 2 if self.representation == "mag" else 4
        c = cfg["channels"]
        n_levels = (cfg["n_blocks"] - 1) // 2
        time_down = list(cfg["time_down"])
        if len(time_down) != n_levels:
            raise ValueError(f"time_down needs {n_levels} entries (one per encoder level), got {len(time_down)}")
        dim_f = cfg["n_fft"] // 2
        sizes = level_sizes(dim_f, n_levels)
        self.n_levels = n_levels
        self.time_multiple = 2 ** sum(bool(d) for d in time_down)

        self.first_conv = blocks.FirstConv(c_io, c)
        self.encoders = nn.ModuleList(make_block(cfg["block"], c, sizes[i], cfg) for i in range(n_levels))
        self.downs = nn.ModuleList(blocks.Down(c, 2 if time_down[i] else 1) for i in range(n_levels))
        self.mid = make_block(cfg["block"], c, sizes[n_levels], cfg)
        # decoder j works at encoder level L-1-j and mirrors that level's down-sampling
        self.ups = nn.ModuleList(blocks.Up(c, 2 if time_down[n_levels - 1 - j] else 1) for j in range(n_levels))
        self.decoders = nn.ModuleList(
            make_block(cfg["block"], 2 * c, sizes[n_levels - 1 - j], cfg) for j in range(n_levels)
        )
        self.last_conv = blocks.LastConv(c, c_io)

    def reset_parameters(self) -> None:
        blocks.init_weights(self, relu_output=self.method == "dme")

    def network(self, x: torch.Tensor) -> torch.Tensor:
        """The U-Net itself (raw output before the estimation method's activation)."""
        x, t = pad_time(x, self.time_multiple)
        x = self.first_conv(x)
        x, skips = blocks.encode(x, self.encoders, self.downs)
        x = self.mid(x)
        for j, (up, dec) in enumerate(zip(self.ups, self.decoders)):
            x = up(x)
            x = dec(torch.cat([x, skips[self.n_levels - 1 - j]], dim=1))
        return self.last_conv(x)[:, :, :t]

    def estimate(self, spec: torch.Tensor, cond=None) -> torch.Tensor:
        y = self.network(spec)
        m = self.method
        if m == "dcse":
            return y
        if m == "dme":
            return torch.relu(y)
        if m == "mme" or m == "cme_sigmoid":
            return torch.sigmoid(y) * spec
        return portable.tanh(y) * spec  # cme_tanh
