"""MMDenseNet and MDenseNet (N. Takahashi, Y. Mitsufuji, "Multi-scale multi-band DenseNets for audio source
separation", WASPAA 2017, Table 1; shared/spec/survey.md §2).

A dedicated magnitude estimator (one network per source, as the paper): stereo magnitude spectrogram (B, 2, T, F) in,
the source's magnitude spectrogram out (ReLU), resynthesised with the mixture phase.

* Dense block (k, L): L composite layers BN → ReLU → 3×3 convolution with k filters; layer l sees the concatenation
  of the block input and the l earlier layers' outputs; the block outputs the concatenation of its L layers' outputs
  (L·k channels; the block input is not passed on: the skip concatenations carry it).
* One *band network* (the MDenseNet of Table 1): first convolution (t×f kernel, 'same' zero padding, 32 channels),
  dense 1 … 4 with 2×2 average pooling between them, then three times: 2×2 transposed convolution (stride 2, channels
  kept), concatenation with the dense block of the same scale, dense 5 … 7.
* MMDenseNet: band networks on the low half, the high half and the full band of the F − 1 lowest bins (the Nyquist bin
  is left out so that the halves are equal; its estimate is 0); the low and high outputs are concatenated along
  frequency (the narrower one zero-padded in channels to the wider one's count: the table gives no projection), then
  along channels with the full-band output; dense 8 (4, 2) and a 1×2 convolution to 2 channels (ReLU) end the net.
* MDenseNet: one full-band network, then dense 8 and the 1×2 convolution.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from models.base import SingleSourceQueries, pad_time

from .common import SurveyModel


def same_pad(kt: int, kf: int) -> tuple[int, int, int, int]:
    """F.pad amounts (f_left, f_right, t_top, t_bottom) of a 'same' convolution with an even or odd kernel."""
    return ((kf - 1) // 2, kf - 1 - (kf - 1) // 2, (kt - 1) // 2, kt - 1 - (kt - 1) // 2)


class SameConv(nn.Module):
    def __init__(self, cin: int, cout: int, kt: int, kf: int):
        super().__init__()
        self.pad = same_pad(kt, kf)
        self.conv = nn.Conv2d(cin, cout, (kt, kf))

    def forward(self, x):
        return self.conv(F.pad(x, self.pad))


class DenseBlock(nn.Module):
    def __init__(self, cin: int, k: int, layers: int):
        super().__init__()
        self.layers = nn.ModuleList(
            nn.Sequential(nn.BatchNorm2d(cin + i * k), nn.ReLU(), nn.Conv2d(cin + i * k, k, 3, padding=1))
            for i in range(layers))
        self.out_channels = k * layers

    def forward(self, x):
        feats, outs = x, []
        for layer in self.layers:
            y = layer(feats)
            outs.append(y)
            feats = torch.cat([feats, y], dim=1)
        return torch.cat(outs, dim=1)


class BandNet(nn.Module):
    """The multi-scale DenseNet of one band (Table 1, one column): 4 scales, 7 dense blocks."""

    def __init__(self, cin: int, first: list, dense: list):
        super().__init__()
        kt, kf, ch = first
        if len(dense) != 7:
            raise ValueError(f"a band network needs 7 dense blocks (k, L), got {len(dense)}")
        self.first = SameConv(cin, ch, kt, kf)
        blocks, c = [], ch
        enc_out = []
        for k, n in dense[:4]:
            blocks.append(DenseBlock(c, k, n))
            c = blocks[-1].out_channels
            enc_out.append(c)
        ups = []
        for j, (k, n) in enumerate(dense[4:]):
            ups.append(nn.ConvTranspose2d(c, c, 2, stride=2))
            blocks.append(DenseBlock(c + enc_out[2 - j], k, n))
            c = blocks[-1].out_channels
        self.blocks = nn.ModuleList(blocks)
        self.ups = nn.ModuleList(ups)
        self.out_channels = c

    def forward(self, x):
        x = self.first(x)
        skips = []
        for i in range(4):
            x = self.blocks[i](x)
            if i < 3:
                skips.append(x)
                x = F.avg_pool2d(x, 2)
        for j in range(3):
            x = self.ups[j](x)
            x = self.blocks[4 + j](torch.cat([x, skips[2 - j]], dim=1))
        return x


class MMDenseNet(SingleSourceQueries, SurveyModel):
    """MMDenseNet (``bands`` low/high/full) or MDenseNet (``bands`` full only); config keys in docs/models.md."""

    representation = "mag"
    time_multiple = 8

    def __init__(self, config: dict):
        super().__init__(config)
        cfg = self.config
        bands = cfg["bands"]
        if set(bands) not in ({"full"}, {"low", "high", "full"}):
            raise ValueError(f"config 'bands' must name 'full' (MDenseNet) or 'low', 'high' and 'full' (MMDenseNet), "
                             f"got {sorted(bands)}")
        self.n_bins = self.stft.n_bins - 1  # the Nyquist bin is left out
        if self.n_bins % (16 if len(bands) == 3 else 8):
            raise ValueError(f"n_fft {cfg['n_fft']}: the {self.n_bins} bins below Nyquist must split into bands "
                             f"divisible by 8 (3 poolings)")
        self.nets = nn.ModuleDict({name: BandNet(2, b["first"], b["dense"]) for name, b in bands.items()})
        if len(bands) == 3:
            band_ch = max(self.nets["low"].out_channels, self.nets["high"].out_channels)
            joint_in = band_ch + self.nets["full"].out_channels
        else:
            joint_in = self.nets["full"].out_channels
        k, n = cfg["final_dense"]
        self.final_dense = DenseBlock(joint_in, k, n)
        if cfg["output"] not in ("magnitude", "mask"):
            raise ValueError(f"config 'output' must be 'magnitude' (ReLU estimate) or 'mask' (sigmoid mask × mixture "
                             f"magnitude), got {cfg['output']!r}")
        kt, kf = cfg["final_conv"]
        self.final_conv = SameConv(self.final_dense.out_channels, 2, kt, kf)

    def estimate(self, spec: torch.Tensor, cond=None) -> torch.Tensor:
        x, t = pad_time(spec[..., : self.n_bins], self.time_multiple)
        full = self.nets["full"](x)
        if "low" in self.nets:
            h = self.n_bins // 2
            low, high = self.nets["low"](x[..., :h]), self.nets["high"](x[..., h:])
            c = max(low.shape[1], high.shape[1])
            low = F.pad(low, (0, 0, 0, 0, 0, c - low.shape[1]))
            high = F.pad(high, (0, 0, 0, 0, 0, c - high.shape[1]))
            x = torch.cat([torch.cat([low, high], dim=-1), full], dim=1)
        else:
            x = full
        y = self.final_conv(self.final_dense(x))[:, :, :t]
        if self.config["output"] == "mask":
            return F.pad(torch.sigmoid(y), (0, spec.shape[-1] - self.n_bins)) * spec
        return F.pad(torch.relu(y), (0, spec.shape[-1] - self.n_bins))
