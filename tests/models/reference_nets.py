"""Test-only re-expressions of the reference networks, transcribed from the reference code (not from ours):

* github:ws-choi/ISMIR2020_U_Nets_SVS  source_separation/models/building_blocks.py (TFC, TIF, TFC_TIF),
  dense_u_net.py (Dense_UNET), tfc_net.py / tfc_tdf_net.py (down/up-sampling), utils/fourier.py (STFT window).
* github:ws-choi/Conditioned-Source-Separation-LaSAFT  lasaft/source_separation/sub_modules/building_blocks.py
  (TFC, TDF, TFC_TDF, TDF_f1_to_f2), conditioned/LaSAFT.py (TFC_LaSAFT), sub_modules/control_models.py
  (dense_control_block, pocm_control_model, film_control_model), cunet/dcun_base.py, dcun_gpocm.py, dcun_film.py,
  cunet/models/dcun_tfc_*.py (forward passes), utils/PoCM_utils.py (Pocm_Matmul), utils/FiLM_utils.py.

Module and attribute names follow the reference exactly, so ``RefFramework(...).state_dict()`` has the reference
checkpoint's key names and shapes. Only the pieces the imported configurations use are written (ReLU activations,
decoder-only conditioning, the "dense" control block, "embedding" control vectors).
"""

from __future__ import annotations

import math

import torch
from torch import nn


class TFC(nn.Module):
    def __init__(self, in_channels, num_layers, gr, kt, kf):
        super().__init__()
        c = in_channels
        self.H = nn.ModuleList()
        for _ in range(num_layers):
            self.H.append(nn.Sequential(nn.Conv2d(c, gr, kernel_size=(kt, kf), stride=1, padding=(kt // 2, kf // 2)),
                                        nn.BatchNorm2d(gr), nn.ReLU()))
            c += gr

    def forward(self, x):
        x_ = self.H[0](x)
        for h in self.H[1:]:
            x = torch.cat((x_, x), 1)
            x_ = h(x)
        return x_


def tdf_seq(channels, f1, f2, bn_factor, bias, min_bn_units, affine):
    """ISMIR TIF (affine=bias) / LaSAFT TDF and TDF_f1_to_f2 (affine=True): bottleneck on f2 // bn_factor."""
    if bn_factor is None:
        return nn.Sequential(nn.Linear(f1, f2, bias), nn.BatchNorm2d(channels, affine=affine), nn.ReLU())
    u = max(f2 // bn_factor, min_bn_units)
    return nn.Sequential(nn.Linear(f1, u, bias), nn.BatchNorm2d(channels, affine=affine), nn.ReLU(),
                         nn.Linear(u, f2, bias), nn.BatchNorm2d(channels, affine=affine), nn.ReLU())


class TIF(nn.Module):  # ISMIR
    def __init__(self, channels, f, bn_factor, bias, min_bn_units):
        super().__init__()
        self.tif = tdf_seq(channels, f, f, bn_factor, bias, min_bn_units, affine=bias)

    def forward(self, x):
        return self.tif(x)


class TFC_TIF(nn.Module):  # ISMIR
    def __init__(self, in_channels, num_layers, gr, kt, kf, f, bn_factor, min_bn_units, bias):
        super().__init__()
        self.tfc = TFC(in_channels, num_layers, gr, kt, kf)
        self.tif = TIF(gr, f, bn_factor, bias, min_bn_units)

    def forward(self, x):
        x = self.tfc(x)
        return x + self.tif(x)


class TDF(nn.Module):  # LaSAFT repo
    def __init__(self, channels, f, bn_factor, bias, min_bn_units):
        super().__init__()
        self.tdf = tdf_seq(channels, f, f, bn_factor, bias, min_bn_units, affine=True)


class TFC_TDF(nn.Module):  # LaSAFT repo
    def __init__(self, in_channels, num_layers, gr, kt, kf, f, bn_factor, min_bn_units, bias):
        super().__init__()
        self.tfc = TFC(in_channels, num_layers, gr, kt, kf)
        self.tdf = TDF(gr, f, bn_factor, bias, min_bn_units)


class TFC_LaSAFT(nn.Module):
    def __init__(self, in_channels, num_layers, gr, kt, kf, f, bn_factor, min_bn_units, bias, condition_dim,
                 num_tdfs, dk):
        super().__init__()
        self.dk_sqrt = math.sqrt(dk)
        self.num_tdfs = num_tdfs
        self.tfc = TFC(in_channels, num_layers, gr, kt, kf)
        self.tdfs = nn.Module()
        self.tdfs.tdf = tdf_seq(gr, f, f * num_tdfs, bn_factor, bias, min_bn_units, affine=True)
        self.keys = nn.Parameter(torch.randn(dk, num_tdfs))
        self.linear_query = nn.Linear(condition_dim, dk)

    def lasaft(self, x, c):
        qk = torch.matmul(self.linear_query(c), self.keys) / self.dk_sqrt
        value = self.tdfs.tdf(x).view(list(x.shape)[:-1] + [-1, self.num_tdfs])
        att = qk.softmax(-1)
        return torch.matmul(value, att.unsqueeze(-2).unsqueeze(-3).unsqueeze(-1)).squeeze(-1)


def sampling(c, scale, up):
    conv = nn.ConvTranspose2d if up else nn.Conv2d
    return nn.Sequential(conv(c, c, kernel_size=scale, stride=scale), nn.BatchNorm2d(c))


class UNetSkeleton(nn.Module):
    """Dense_UNET / Dense_CUNet structure (first_conv, encoders, downsamplings, mid_block, upsamplings, decoders,
    last_conv)."""

    def __init__(self, n_fft, n_blocks, input_channels, c, mk_block, t_down_layers, last_activation):
        super().__init__()
        self.first_conv = nn.Sequential(nn.Conv2d(input_channels, c, kernel_size=(1, 2), stride=1),
                                        nn.BatchNorm2d(c), nn.ReLU())
        self.encoders, self.downsamplings = nn.ModuleList(), nn.ModuleList()
        self.decoders, self.upsamplings = nn.ModuleList(), nn.ModuleList()
        self.last_conv = nn.Sequential(nn.Conv2d(c, input_channels, kernel_size=(1, 2), stride=1, padding=(0, 1)),
                                       last_activation)
        self.n = n_blocks // 2
        t_down = list(range(self.n)) if t_down_layers is None else list(t_down_layers)
        f = n_fft // 2
        for i in range(self.n):
            self.encoders.append(mk_block(c, f))
            scale = (2, 2) if i in t_down else (1, 2)
            self.downsamplings.append(sampling(c, scale, up=False))
            f //= 2
        self.mid_block = mk_block(c, f)
        for i in range(self.n):
            scale = (2, 2) if i in [self.n - 1 - s for s in t_down] else (1, 2)
            self.upsamplings.append(sampling(c, scale, up=True))
            f *= 2
            self.decoders.append(mk_block(2 * c, f))


class DenseUNet(UNetSkeleton):  # ISMIR TFC_NET / TFC_TDF_NET
    def __init__(self, n_fft, n_blocks, input_channels, c, layers, k, last_activation, t_down_layers,
                 bn_factor=16, min_bn_units=16, bias=False, block="tfc_tdf"):
        def mk(c_in, f):
            if block == "tfc":
                return TFC(c_in, layers, c, k, k)
            return TFC_TIF(c_in, layers, c, k, k, f, bn_factor, min_bn_units, bias)

        super().__init__(n_fft, n_blocks, input_channels, c, mk, t_down_layers, last_activation)

    def forward(self, x):
        x = self.first_conv(x)
        skips = []
        for i in range(self.n):
            x = self.encoders[i](x)
            skips.append(x)
            x = self.downsamplings[i](x)
        x = self.mid_block(x)
        for i in range(self.n):
            x = self.upsamplings[i](x)
            x = torch.cat((x, skips[-i - 1]), 1)
            x = self.decoders[i](x)
        return self.last_conv(x)


class DenseControlBlock(nn.Module):
    def __init__(self, input_dim, num_layer):
        super().__init__()
        dims = [input_dim * (2**i) for i in range(num_layer)]
        layers = []
        for i, (a, b) in enumerate(zip(dims[:-1], dims[1:])):
            layers += [nn.Linear(a, b), nn.ReLU()]
            if i != 0:
                layers += [nn.Dropout(), nn.BatchNorm1d(b)]
        self.linear = nn.Sequential(*layers)
        self.last_dim = dims[-1]


class ControlModel(nn.Module):  # pocm_control_model / film_control_model, pocm_to = condition_to = 'decoder'
    def __init__(self, block, n_blocks, c, modulation):
        super().__init__()
        self.dense_control_block, self.c, self.modulation = block, c, modulation
        m = n_blocks // 2
        if modulation == "gpocm":
            self.linear_gamma = nn.Sequential(nn.Linear(block.last_dim, m * c * c), nn.Identity(),
                                              nn.BatchNorm1d(m * c * c, affine=False))
            self.linear_beta = nn.Sequential(nn.Linear(block.last_dim, m * c), nn.Identity(),
                                             nn.BatchNorm1d(m * c, affine=False))
        else:  # film_type 'complex'
            self.linear_gamma = nn.Sequential(nn.Linear(block.last_dim, m * c), nn.Identity())
            self.linear_beta = nn.Sequential(nn.Linear(block.last_dim, m * c), nn.Identity())
        self.m = m

    def forward(self, e):
        x = self.dense_control_block.linear(e)
        g, b, c = self.linear_gamma(x), self.linear_beta(x), self.c
        if self.modulation == "gpocm":
            gammas = [g[..., i * c * c:(i + 1) * c * c].view(list(g.shape[:-1]) + [c, c]) for i in range(self.m)]
        else:
            gammas = [g[..., i * c:(i + 1) * c] for i in range(self.m)]
        betas = [b[..., i * c:(i + 1) * c] for i in range(self.m)]
        return gammas, betas


def pocm_matmul(x, gammas, betas):
    x = x.transpose(-1, -3)
    return (torch.matmul(x, gammas.unsqueeze(-3)) + betas.unsqueeze(-2).unsqueeze(-3)).transpose(-1, -3)


class DenseCUNet(UNetSkeleton):  # DCUN_TFC_{FiLM,GPoCM}[_TDF|_LaSAFT], condition_to 'decoder'
    def __init__(self, n_fft, n_blocks, c, layers, k, modulation, ft, embedding_dim, n_conditions=4,
                 bn_factor=16, min_bn_units=16, bias=False, num_tdfs=6, dk=32):
        def mk(c_in, f):
            if ft == "none":
                return TFC(c_in, layers, c, k, k)
            if ft == "tdf":
                return TFC_TDF(c_in, layers, c, k, k, f, bn_factor, min_bn_units, bias)
            return TFC_LaSAFT(c_in, layers, c, k, k, f, bn_factor, min_bn_units, bias, embedding_dim, num_tdfs, dk)

        super().__init__(n_fft, n_blocks, 4, c, mk, None, nn.Identity())
        self.ft, self.modulation = ft, modulation
        self.embedding = nn.Embedding(n_conditions, embedding_dim)
        self.condition_generator = ControlModel(DenseControlBlock(embedding_dim, 4), n_blocks, c, modulation)

    def _block(self, blk, x, e, mod=None):
        x = blk(x) if self.ft == "none" else blk.tfc(x)
        if mod is not None:
            g, b = mod
            if self.modulation == "gpocm":
                x = pocm_matmul(x, g, b).sigmoid() * x
            else:
                x = g.unsqueeze(-1).unsqueeze(-1) * x + b.unsqueeze(-1).unsqueeze(-1)
        if self.ft == "tdf":
            x = x + blk.tdf.tdf(x)
        elif self.ft == "lasaft":
            x = x + blk.lasaft(x, e)
        return x

    def forward(self, x, cond):
        e = self.embedding(cond)
        gammas, betas = self.condition_generator(e)
        x = self.first_conv(x)
        skips = []
        for i in range(self.n):
            x = self._block(self.encoders[i], x, e)
            skips.append(x)
            x = self.downsamplings[i](x)
        x = self._block(self.mid_block, x, e)
        for i in range(self.n):
            x = self.upsamplings[i](x)
            x = torch.cat((x, skips[-i - 1]), 1)
            x = self._block(self.decoders[i], x, e, (gammas[i], betas[i]))
        return self.last_conv(x)


class RefFramework(nn.Module):
    """The Lightning module's parameter layout: ``stft.stft.window`` (nn.Parameter) and ``spec2spec``."""

    def __init__(self, n_fft, spec2spec):
        super().__init__()
        self.stft = nn.Module()
        self.stft.stft = nn.Module()
        self.stft.stft.window = nn.Parameter(torch.hann_window(n_fft), requires_grad=False)
        self.spec2spec = spec2spec


def fill_seeded(module: nn.Module, seed: int) -> dict:
    """Random values for every entry of the state dict (positive running variances, random batch counters)."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    for k, v in module.state_dict().items():
        if k.endswith("num_batches_tracked"):
            out[k] = torch.randint(0, 1000, (), generator=g, dtype=v.dtype)
        elif k.endswith("running_var"):
            out[k] = torch.rand(v.shape, generator=g) + 0.5
        elif k.endswith("window"):
            out[k] = v.clone()
        else:
            out[k] = torch.randn(v.shape, generator=g) * 0.3
    module.load_state_dict(out)
    return out
