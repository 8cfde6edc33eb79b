"""Shared building blocks of every architecture (models.md §0, §2, §3).

Tensor layout is always ``(B, C, T, F)``; frequency-wise linear layers act on the last axis.
Each block is small and independently tested (``tests/models/test_blocks.py``); the parameter formulas of
models.md §0.10 are asserted there.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F_
from torch import nn

from . import portable

# --------------------------------------------------------------------------------------------------------------------
# Convolutional skeleton pieces (§0.3, §0.7)
# --------------------------------------------------------------------------------------------------------------------


class FirstConv(nn.Module):
    """Conv2d(c_io -> C, kernel (1, 2), no padding) -> BN2d -> ReLU: maps n_fft/2+1 bins to n_fft/2."""

    def __init__(self, c_io: int, channels: int = 24):
        super().__init__()
        self.conv = nn.Conv2d(c_io, channels, kernel_size=(1, 2))
        self.bn = nn.BatchNorm2d(channels)

    def forward(self, x):
        return F_.relu(self.bn(self.conv(x)))


class LastConv(nn.Module):
    """Conv2d(C -> c_io, kernel (1, 2), padding (0, 1)), no BN: maps n_fft/2 bins back to n_fft/2+1."""

    def __init__(self, channels: int, c_io: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, c_io, kernel_size=(1, 2), padding=(0, 1))

    def forward(self, x):
        return self.conv(x)


class Down(nn.Module):
    """Conv2d(C -> C, kernel = stride = (s_t, 2)) -> BN2d. No activation."""

    def __init__(self, channels: int = 24, time_stride: int = 2):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, kernel_size=(time_stride, 2), stride=(time_stride, 2))
        self.bn = nn.BatchNorm2d(channels)

    def forward(self, x):
        return self.bn(self.conv(x))


class Up(nn.Module):
    """ConvTranspose2d(C -> C, kernel = stride = (s_t, 2)) -> BN2d. No activation."""

    def __init__(self, channels: int = 24, time_stride: int = 2):
        super().__init__()
        self.conv = nn.ConvTranspose2d(channels, channels, kernel_size=(time_stride, 2), stride=(time_stride, 2))
        self.bn = nn.BatchNorm2d(channels)

    def forward(self, x):
        return self.bn(self.conv(x))


# --------------------------------------------------------------------------------------------------------------------
# TFC, TDF, TFC-TDF (§0.4 - §0.6)
# --------------------------------------------------------------------------------------------------------------------


class TFC(nn.Module):
    """Densely connected time-frequency convolutions (growth rate = ``growth``); the output is only the last layer's.

    ``h_0 = x; y_0 = L_0(h_0); h_i = concat(y_{i-1}, h_{i-1}); y_i = L_i(h_i); TFC(x) = y_{n-1}``.
    Parameters: ``k²·g·(n·c_in + g·n(n-1)/2) + 3·g·n`` (= 216·(5·c_in + 240) + 360 for g = 24, k = 3, n = 5).
    """

    def __init__(self, c_in: int, growth: int = 24, num_layers: int = 5, kernel: int = 3):
        super().__init__()
        if num_layers < 1:
            raise ValueError("TFC needs at least one layer")
        self.c_in, self.growth, self.num_layers = c_in, growth, num_layers
        self.layers = nn.ModuleList(
            nn.Sequential(
                nn.Conv2d(c_in + growth * i, growth, kernel_size=kernel, stride=1, padding=kernel // 2),
                nn.BatchNorm2d(growth),
                nn.ReLU(),
            )
            for i in range(num_layers)
        )

    def forward(self, x):
        h = x
        y = x
        last = self.num_layers - 1
        for i, layer in enumerate(self.layers):
            y = layer(h)
            if i < last:
                h = torch.cat([y, h], dim=1)
        return y


def tdf_units(n_freq: int, bf: int = 16, min_units: int = 16) -> int:
    """Bottleneck width ``u = max(floor(F / bf), min_units)`` (the floor of 16 matters for F <= 128)."""
    return max(n_freq // bf, min_units)


class TDF(nn.Module):
    """Time-distributed fully connected network on the frequency axis (one FC net shared by every (b, c, t)).

    bottleneck (default): Linear(F -> u) -> BN2d -> ReLU -> Linear(u -> F) -> BN2d -> ReLU, u = max(F // bf, min_units).
    single layer:         Linear(F -> F) -> BN2d -> ReLU.
    ``bias`` switches the Linear biases, ``affine`` the BatchNorm affine parameters (they differ between the chapter-3
    and chapter-4/5 code, models.md §0.5).
    """

    def __init__(
        self,
        n_freq: int,
        channels: int = 24,
        bottleneck: bool = True,
        bf: int = 16,
        min_units: int = 16,
        bias: bool = False,
        affine: bool = True,
    ):
        super().__init__()
        self.n_freq = n_freq
        if bottleneck:
            u = tdf_units(n_freq, bf, min_units)
            self.net = nn.Sequential(
                nn.Linear(n_freq, u, bias=bias),
                nn.BatchNorm2d(channels, affine=affine),
                nn.ReLU(),
                nn.Linear(u, n_freq, bias=bias),
                nn.BatchNorm2d(channels, affine=affine),
                nn.ReLU(),
            )
        else:
            self.net = nn.Sequential(
                nn.Linear(n_freq, n_freq, bias=bias), nn.BatchNorm2d(channels, affine=affine), nn.ReLU()
            )

    def forward(self, x):
        return self.net(x)


class TFC_TDF(nn.Module):
    """``y = TFC(x); out = y + TDF(y)`` (residual around the TDF only)."""

    def __init__(self, c_in: int, n_freq: int, growth: int = 24, num_layers: int = 5, kernel: int = 3, **tdf_kwargs):
        super().__init__()
        self.tfc = TFC(c_in, growth, num_layers, kernel)
        self.tdf = TDF(n_freq, growth, **tdf_kwargs)

    def forward(self, x):
        y = self.tfc(x)
        return y + self.tdf(y)


# --------------------------------------------------------------------------------------------------------------------
# LaSAFT (§2.4) and the compact LaSAFT of the w/o-CSA ablation (§3.6)
# --------------------------------------------------------------------------------------------------------------------


class LaSAFT(nn.Module):
    """Latent Source Attentive Frequency Transformation.

    Value network (one TDF whose output is I_L frequency vectors):
    ``Linear(F -> u) -> BN2d -> ReLU -> Linear(u -> I_L·F) -> BN2d -> ReLU``, viewed as (B, C, T, F, I_L) with the
    latent index varying fastest. Keys ``K ∈ R^{d_k × I_L}``; query ``q = Linear(cond_dim -> d_k)(cond)``;
    ``a = softmax(qᵀK / √d_k)``; output ``Σ_k a_k · V[..., k]`` (the caller adds the residual).

    ``bottleneck="code"`` is the reference-code form (u = max(⌊I_L·F/bf⌋, min_units), chapter 4, Table 5.2 LaSAFT
    baselines); ``bottleneck="compact"`` is the thesis-text form used by the AMSS-Net w/o-CSA ablation
    (u = max(⌊F/bf⌋, min_units); a shared first layer and I_L second layers stacked into one Linear).
    Parameters: ``F·u + u·I_L·F + bias·(u + I_L·F) + 96 + (cond_dim·d_k + d_k) + d_k·I_L`` (C = 24).
    """

    def __init__(
        self,
        n_freq: int,
        channels: int = 24,
        n_latent: int = 6,
        d_k: int = 32,
        cond_dim: int = 32,
        bias: bool = False,
        bottleneck: str = "code",
        bf: int = 16,
        min_units: int = 16,
    ):
        super().__init__()
        if bottleneck not in ("code", "compact"):
            raise ValueError("bottleneck must be 'code' or 'compact'")
        self.n_freq, self.n_latent, self.d_k = n_freq, n_latent, d_k
        u = max((n_latent * n_freq if bottleneck == "code" else n_freq) // bf, min_units)
        self.units = u
        self.value = nn.Sequential(
            nn.Linear(n_freq, u, bias=bias),
            nn.BatchNorm2d(channels),
            nn.ReLU(),
            nn.Linear(u, n_latent * n_freq, bias=bias),
            nn.BatchNorm2d(channels),
            nn.ReLU(),
        )
        self.keys = nn.Parameter(torch.empty(d_k, n_latent))
        nn.init.xavier_normal_(self.keys)
        self.query = nn.Linear(cond_dim, d_k)

    def attention(self, cond: torch.Tensor) -> torch.Tensor:
        """(B, cond_dim) -> attention weights over latent instruments (B, I_L)."""
        q = self.query(cond)
        return torch.softmax(q @ self.keys / math.sqrt(self.d_k), dim=-1)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        b, c, t, f = x.shape
        v = self.value(x).reshape(b, c, t, f, self.n_latent)
        a = self.attention(cond).to(v.dtype)
        return torch.einsum("bctfk,bk->bctf", v, a)


# --------------------------------------------------------------------------------------------------------------------
# Modulations: FiLM, PoCM, GPoCM, SMPoCM (§2.2, §3.4)
# --------------------------------------------------------------------------------------------------------------------


def film(x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    """FiLM ``y_c = γ_c · x_c + β_c``; gamma/beta (B, C)."""
    return gamma[:, :, None, None] * x + beta[:, :, None, None]


def pocm(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """Point-wise convolutional modulation ``y_o = β_o + Σ_i Ω[i, o] · x_i``.

    x (B, C_in, T, F); weight (B, C_in, C_out) (index order input, output; models.md §6 item 8); bias (B, C_out).
    """
    y = torch.einsum("bitf,bio->botf", x, weight.to(x.dtype))
    return y + bias.to(x.dtype)[:, :, None, None]


def gpocm(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """Gated PoCM ``y = σ(PoCM(x)) ⊙ x`` (C_in = C_out)."""
    return torch.sigmoid(pocm(x, weight, bias)) * x


def split_pocm_params(theta: torch.Tensor, c_in: int, c_out: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Split a generated vector θ (B, c_in·c_out + c_out) row-major into W (B, c_in, c_out) and b (B, c_out)."""
    n_w = c_in * c_out
    if theta.shape[-1] != n_w + c_out:
        raise ValueError(f"θ has {theta.shape[-1]} values, expected {n_w + c_out} for a {c_in}->{c_out} PoCM")
    return theta[:, :n_w].reshape(-1, c_in, c_out), theta[:, n_w:]


def smpocm(v: torch.Tensor, theta_s: torch.Tensor, theta_m: torch.Tensor, theta_i: torch.Tensor) -> torch.Tensor:
    """Selective Mask PoCM (thesis §5.4.2):
    ``s = σ(PoCM(V; θ_s)), i = σ(PoCM(V; θ_i)), V' = i ⊙ tanh(PoCM(s ⊙ V; θ_m)) + (1 − s) ⊙ V``."""
    c = v.shape[1]
    s = torch.sigmoid(pocm(v, *split_pocm_params(theta_s, c, c)))
    i = torch.sigmoid(pocm(v, *split_pocm_params(theta_i, c, c)))
    m = portable.tanh(pocm(s * v, *split_pocm_params(theta_m, c, c)))
    return i * m + (1.0 - s) * v


# --------------------------------------------------------------------------------------------------------------------
# Multi-head channel-wise skip attention (§3.4 step 4)
# --------------------------------------------------------------------------------------------------------------------


def channel_skip_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, heads: int) -> torch.Tensor:
    """Multi-head channel-wise skip attention (CSA).

    q (B, Cq, T, F) split into ``heads`` groups of Cq/heads channels; k, v (B, Cl, T, F) split into ``heads`` groups
    of M = Cl/heads latent channels (channel c belongs to head c // M). Per head and frame:
    ``A = softmax_over_latents(Q_t K_tᵀ / √F)`` (Cq/h × M), ``Y_t = A V_t``. Output (B, Cq, T, F), head-major.
    """
    b, cq, t, f = q.shape
    cl = k.shape[1]
    if cq % heads or cl % heads:
        raise ValueError(f"channels ({cq} query, {cl} latent) must be divisible by heads ({heads})")
    qh = q.reshape(b, heads, cq // heads, t, f).transpose(2, 3)  # (B, h, T, cq/h, F)
    kh = k.reshape(b, heads, cl // heads, t, f).transpose(2, 3)  # (B, h, T, M, F)
    vh = v.reshape(b, heads, cl // heads, t, f).transpose(2, 3)
    att = torch.softmax(qh @ kh.transpose(-1, -2) / math.sqrt(f), dim=-1)  # (B, h, T, cq/h, M)
    y = att @ vh  # (B, h, T, cq/h, F)
    return y.transpose(2, 3).reshape(b, cq, t, f)


class ChannelSkipAttention(nn.Module):
    """Module wrapper of :func:`channel_skip_attention` (no parameters)."""

    def __init__(self, heads: int = 6):
        super().__init__()
        self.heads = heads

    def forward(self, q, k, v):
        return channel_skip_attention(q, k, v, self.heads)


# --------------------------------------------------------------------------------------------------------------------
# Chapter-4 condition generator (§2.1)
# --------------------------------------------------------------------------------------------------------------------


class ConditionGenerator(nn.Module):
    """Condition index -> embedding ``e`` (E) -> FC stack ``g`` (8E) -> per-decoder-block modulation parameters.

    FC stack (widths double): Linear(E→2E) → ReLU; Linear(2E→4E) → ReLU → Dropout → BN1d; Linear(4E→8E) → ReLU →
    Dropout → BN1d. FiLM head: γ, β = Linear(8E → L·C). GPoCM head: Ω = BN1d_noaffine(Linear(8E → L·C²)),
    β = BN1d_noaffine(Linear(8E → L·C)).
    """

    def __init__(
        self,
        n_conditions: int = 4,
        embedding_dim: int = 32,
        channels: int = 24,
        n_modulated: int = 3,
        modulation: str = "gpocm",
        dropout: float = 0.5,
    ):
        super().__init__()
        if modulation not in ("film", "gpocm"):
            raise ValueError("modulation must be 'film' or 'gpocm'")
        e = embedding_dim
        self.modulation, self.channels, self.n_modulated = modulation, channels, n_modulated
        self.embedding = nn.Embedding(n_conditions, e)  # = bias-free linear map of the one-hot vector
        self.fc = nn.Sequential(
            nn.Linear(e, 2 * e),
            nn.ReLU(),
            nn.Linear(2 * e, 4 * e),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.BatchNorm1d(4 * e),
            nn.Linear(4 * e, 8 * e),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.BatchNorm1d(8 * e),
        )
        g = 8 * e
        c, n = channels, n_modulated
        if modulation == "film":
            self.gamma = nn.Linear(g, n * c)
            self.beta = nn.Linear(g, n * c)
        else:
            self.weight = nn.Sequential(nn.Linear(g, n * c * c), nn.BatchNorm1d(n * c * c, affine=False))
            self.bias = nn.Sequential(nn.Linear(g, n * c), nn.BatchNorm1d(n * c, affine=False))

    def forward(self, index: torch.Tensor):
        """index (B,) long -> (e (B, E), list of per-block modulation parameter tuples)."""
        e = self.embedding(index)
        g = self.fc(e)
        c, n = self.channels, self.n_modulated
        params = []
        if self.modulation == "film":
            gam, bet = self.gamma(g), self.beta(g)
            for j in range(n):
                params.append((gam[:, j * c : (j + 1) * c], bet[:, j * c : (j + 1) * c]))
        else:
            w, b = self.weight(g), self.bias(g)
            for j in range(n):
                params.append((w[:, j * c * c : (j + 1) * c * c].reshape(-1, c, c), b[:, j * c : (j + 1) * c]))
        return e, params

    def modulate(self, x: torch.Tensor, params) -> torch.Tensor:
        return film(x, *params) if self.modulation == "film" else gpocm(x, *params)


# --------------------------------------------------------------------------------------------------------------------
# Chapter-5: description encoder, condition-weight generator, Aggregate PoCM (§3.2, §3.4, §3.5)
# --------------------------------------------------------------------------------------------------------------------


def load_glove(path, vocab: Sequence[str], dim: int) -> dict[str, torch.Tensor]:
    """Read the vectors of ``vocab`` words from a GloVe text file (``word v_1 … v_dim`` per line). Nothing is
    downloaded: the caller passes a local path (e.g. ``glove.6B.100d.txt``)."""
    wanted = set(vocab)
    found: dict[str, torch.Tensor] = {}
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            word, _, rest = line.rstrip("\n").partition(" ")
            if word in wanted and word not in found:
                values = rest.split()
                if len(values) != dim:
                    raise ValueError(f"GloVe file {path}: vector of {word!r} has {len(values)} values, expected {dim}")
                found[word] = torch.tensor([float(v) for v in values])
                if len(found) == len(wanted):
                    break
    return found


class DescriptionEncoder(nn.Module):
    """Embedding(vocab, word_dim) + 1-layer bidirectional LSTM (or GRU) over the packed token sequence.

    Returns word features ``w`` (B, L, 2H) (zeros at padded positions), a validity mask (B, L) and the sentence
    vector ``z`` (B, 2H) = [forward output at the last valid token ‖ backward output at position 0].
    """

    def __init__(self, vocab_size: int = 34, word_dim: int = 100, hidden: int = 128, rnn: str = "lstm"):
        super().__init__()
        if rnn not in ("lstm", "gru"):
            raise ValueError("rnn must be 'lstm' or 'gru'")
        self.hidden = hidden
        self.embedding = nn.Embedding(vocab_size, word_dim)
        cls = nn.LSTM if rnn == "lstm" else nn.GRU
        self.rnn = cls(word_dim, hidden, num_layers=1, batch_first=True, bidirectional=True)

    @property
    def out_dim(self) -> int:
        return 2 * self.hidden

    def init_from_glove(self, path, vocab: Sequence[str]) -> int:
        """Overwrite the embedding rows of words found in a local GloVe file; returns how many rows were set."""
        dim = self.embedding.embedding_dim
        vectors = load_glove(path, vocab, dim)
        with torch.no_grad():
            for idx, word in enumerate(vocab):
                if word in vectors:
                    self.embedding.weight[idx].copy_(vectors[word])
        return len(vectors)

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor):
        b, length = tokens.shape
        lengths_cpu = lengths.detach().to("cpu", torch.int64)
        if (lengths_cpu < 1).any() or (lengths_cpu > length).any():
            raise ValueError("token lengths must be in [1, tokens.shape[1]]")
        # The text encoder is tiny: it always runs in float32 (oneDNN has no fp16 LSTM on CPU).
        with torch.autocast(device_type=tokens.device.type, enabled=False):
            emb = self.embedding(tokens).float()
            if emb.device.type == "cpu":  # step by step without MKL's vector math (models.portable)
                w = portable.bidirectional_rnn(self.rnn, emb, lengths_cpu)  # (B, L, 2H)
            else:
                packed = nn.utils.rnn.pack_padded_sequence(emb, lengths_cpu, batch_first=True, enforce_sorted=False)
                out, _ = self.rnn(packed)
                w, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=length)  # (B, L, 2H)
        mask = torch.arange(length, device=tokens.device)[None, :] < lengths.to(tokens.device)[:, None]
        h = self.hidden
        last = (lengths.to(tokens.device) - 1).clamp(min=0)
        fwd_last = w[torch.arange(b, device=tokens.device), last, :h]
        bwd_first = w[:, 0, h:]
        z = torch.cat([fwd_last, bwd_first], dim=-1)
        return w, mask, z


class ConditionWeightGenerator(nn.Module):
    """Generates ``n_out`` PoCM parameter vectors from the word features (thesis §5.4.2, models.md §3.4 step 2).

    Learned Θ ∈ R^{n_out × d_k}; ``W_key = Linear(E_w → d_k)(w)``, ``W_val = Linear(E_w → d_k)(w)``;
    ``α = softmax_over_words(Θ W_keyᵀ / √d_k, padded words -> -inf) W_val``; ``θ_r = Linear_r(α_r)`` (d_k → out_dim).
    Parameters: ``n_out·d_k + 2·(E_w·d_k + d_k) + n_out·(d_k + 1)·out_dim``.
    """

    def __init__(self, word_dim: int = 256, d_k: int = 128, n_out: int = 3, out_dim: int = 2352):
        super().__init__()
        self.d_k, self.n_out = d_k, n_out
        self.theta = nn.Parameter(torch.empty(n_out, d_k))
        nn.init.xavier_normal_(self.theta)
        self.key = nn.Linear(word_dim, d_k)
        self.value = nn.Linear(word_dim, d_k)
        self.outs = nn.ModuleList(nn.Linear(d_k, out_dim) for _ in range(n_out))

    def forward(self, w: torch.Tensor, mask: torch.Tensor) -> list[torch.Tensor]:
        k = self.key(w)  # (B, L, d_k)
        v = self.value(w)
        scores = torch.einsum("nd,bld->bnl", self.theta.to(k.dtype), k) / math.sqrt(self.d_k)
        scores = scores.masked_fill(~mask[:, None, :], float("-inf"))
        alpha = torch.softmax(scores.float(), dim=-1).to(v.dtype) @ v  # (B, n_out, d_k)
        return [out(alpha[:, r]) for r, out in enumerate(self.outs)]


class AggregatePoCM(nn.Module):
    """Final C_in -> C_out PoCM whose weights come from its own condition-weight generator (no activation)."""

    def __init__(self, c_in: int = 24, c_out: int = 4, word_dim: int = 256, d_k: int = 128):
        super().__init__()
        self.c_in, self.c_out = c_in, c_out
        self.generator = ConditionWeightGenerator(word_dim, d_k, n_out=1, out_dim=c_in * c_out + c_out)

    def forward(self, x, w, mask):
        (theta,) = self.generator(w, mask)
        return pocm(x, *split_pocm_params(theta, self.c_in, self.c_out))


# --------------------------------------------------------------------------------------------------------------------
# Initialisation (§0.9)
# --------------------------------------------------------------------------------------------------------------------


def init_weights(module: nn.Module, relu_output: bool = False) -> None:
    """Re-initialise every parameter with >= 2 dimensions: Xavier-normal, or Kaiming-normal (ReLU gain) when the
    network's output activation is ReLU (DME). Biases and BN parameters keep the PyTorch defaults."""
    with torch.no_grad():
        for p in module.parameters():
            if p.dim() >= 2:
                if relu_output:
                    nn.init.kaiming_normal_(p, nonlinearity="relu")
                else:
                    nn.init.xavier_normal_(p)


def encode(x: torch.Tensor, encoders, downs, *args) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """The U-Net encoder path (models.md §0.8): each block's output is kept as a skip, then down-sampled.
    Extra ``args`` (a condition embedding) are passed to every encoder block."""
    skips = []
    for enc, down in zip(encoders, downs):
        x = enc(x, *args)
        skips.append(x)
        x = down(x)
    return x, skips
