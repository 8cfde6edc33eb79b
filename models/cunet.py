"""Chapter 4: conditioned U-Nets (models.md §2): FiLM / GPoCM modulation × {TFC, +TDF, +LaSAFT}, DCSE output.

Block computation (same in encoder, mid and decoder; only the L decoder blocks are modulated):
``x ← TFC(in); [decoder: x ← Mod(x)]; x ← x + TDF(x) | x + LaSAFT(x, e)``.
"""

from __future__ import annotations

import torch
from torch import nn

from . import blocks
from .base import AudioModel, SourceIndexQueries, pad_time
from .unet import level_sizes

FT_BLOCKS = ("none", "tdf", "lasaft")


class CUNetBlock(nn.Module):
    def __init__(self, c_in: int, n_freq: int, cfg: dict):
        super().__init__()
        c = cfg["channels"]
        self.tfc = blocks.TFC(c_in, c, cfg["tfc_layers"], cfg["kernel"])
        self.ft = cfg["ft_block"]
        if self.ft == "tdf":
            self.tdf = blocks.TDF(
                n_freq, c, bottleneck=True, bf=cfg["bf"], min_units=cfg["min_units"], bias=cfg["ft_bias"], affine=True
            )
        elif self.ft == "lasaft":
            self.lasaft = blocks.LaSAFT(
                n_freq,
                c,
                n_latent=cfg["n_latent"],
                d_k=cfg["d_k"],
                cond_dim=cfg["embedding_dim"],
                bias=cfg["ft_bias"],
                bottleneck="code",
                bf=cfg["bf"],
                min_units=cfg["min_units"],
            )

    def forward(self, x, e, modulate=None):
        x = self.tfc(x)
        if modulate is not None:
            x = modulate(x)
        if self.ft == "tdf":
            x = x + self.tdf(x)
        elif self.ft == "lasaft":
            x = x + self.lasaft(x, e)
        return x


class ConditionedUNet(SourceIndexQueries, AudioModel):
    """Conditioned U-Net (CUNet) with FiLM or GPoCM and optional TDF / LaSAFT. Condition: index (B,) long,
    0 vocals, 1 drums, 2 bass, 3 other."""

    query_role = "conditioned separator: one source per pass"

    def __init__(self, config: dict):
        super().__init__(config)
        cfg = self.config
        if cfg["ft_block"] not in FT_BLOCKS:
            raise ValueError(f"ft_block must be one of {FT_BLOCKS}")
        c = cfg["channels"]
        n_levels = (cfg["n_blocks"] - 1) // 2
        self.n_levels = n_levels
        self.time_multiple = 2**n_levels
        sizes = level_sizes(cfg["n_fft"] // 2, n_levels)
        self.first_conv = blocks.FirstConv(4, c)
        self.encoders = nn.ModuleList(CUNetBlock(c, sizes[i], cfg) for i in range(n_levels))
        self.downs = nn.ModuleList(blocks.Down(c, 2) for _ in range(n_levels))
        self.mid = CUNetBlock(c, sizes[n_levels], cfg)
        self.ups = nn.ModuleList(blocks.Up(c, 2) for _ in range(n_levels))
        self.decoders = nn.ModuleList(CUNetBlock(2 * c, sizes[n_levels - 1 - j], cfg) for j in range(n_levels))
        self.last_conv = blocks.LastConv(c, 4)
        self.condition_generator = blocks.ConditionGenerator(
            n_conditions=cfg["n_conditions"],
            embedding_dim=cfg["embedding_dim"],
            channels=c,
            n_modulated=n_levels,
            modulation=cfg["modulation"],
            dropout=cfg["dropout"],
        )

    def reset_parameters(self) -> None:
        blocks.init_weights(self)

    def estimate(self, spec: torch.Tensor, cond=None) -> torch.Tensor:
        if cond is None:
            raise ValueError("conditioned model needs a condition index tensor (B,) (see make_condition)")
        cond = torch.as_tensor(cond, device=spec.device, dtype=torch.long).reshape(-1)
        if cond.shape[0] != spec.shape[0]:
            raise ValueError(f"{cond.shape[0]} conditions for a batch of {spec.shape[0]}")
        e, params = self.condition_generator(cond)
        gen = self.condition_generator
        x, t = pad_time(spec, self.time_multiple)
        x = self.first_conv(x)
        x, skips = blocks.encode(x, self.encoders, self.downs, e)
        x = self.mid(x, e)
        for j, (up, dec) in enumerate(zip(self.ups, self.decoders)):
            x = up(x)
            x = dec(torch.cat([x, skips[self.n_levels - 1 - j]], dim=1), e, lambda h, p=params[j]: gen.modulate(h, p))
        return self.last_conv(x)[:, :, :t]
