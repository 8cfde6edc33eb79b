"""Chapter 5: AMSS-Net and its ablations (models.md §3).

* Description encoder E_desc: Embedding(34, 100) (+ optional GloVe init from a local file) → Bi-LSTM(128) → word
  features w (B, L_w, 256), mask, sentence vector z.
* SEDN encoder: first conv → L × (TFC-TDF, skip, down) → TFC-TDF bottleneck (no conditioning).
* Decoding block D_k: up; LSC extractor ``X = TFC-TDF(concat(X_E, X_D))``; ``V = conv_V(X)``, ``K = conv_K(X)``
  (1×1, C → h·M); condition-weight generator → θ_s, θ_m, θ_i; SMPoCM ``V' = SMPoCM(V)``; ``Q = conv_Q(X_E)``;
  channel-wise skip attention ``Y = CSA(Q, K, V')``.
* Output: frequency-restoring conv (C → C, kernel (1, 2), padding (0, 1)) → Aggregate PoCM (C → 4), no activation
  (direct CaC estimate).

Variants (``config["variant"]``): ``"full"`` (AMSS-Net), ``"wo_csa"`` (LSC = TFC + compact LaSAFT on z, SMPoCM, 1×1
merge conv h·M → C instead of CSA), ``"wo_smpocm"`` (one PoCM per block: ``V' = tanh(PoCM(V; θ))``).
Widths the thesis does not state are the reconstructed reference values of models.md §3.8.
"""

from __future__ import annotations

import torch
from torch import nn

from . import blocks, portable
from .base import AudioModel, pad_time, parse_query
from .unet import level_sizes

VARIANTS = ("full", "wo_csa", "wo_smpocm")
TASK1_OPERATIONS = ("separate", "mute")


def model_text(q) -> str:
    """The text that is tokenised for the network: the canonical query, with an adjective-less filter query
    rewritten to its (default, medium) level (models.md §6 item 17: such queries were never generated in training)."""
    if q.operation in ("lowpass", "highpass") and q.level and f" {q.level} " not in f" {q.canonical} ":
        return f"apply {q.level} {q.operation} to {', '.join(q.targets)}"
    return q.canonical


class DecodingBlock(nn.Module):
    def __init__(self, n_freq: int, cfg: dict):
        super().__init__()
        c = cfg["channels"]
        h, m = cfg["heads"], cfg["latents_per_head"]
        lat = h * m
        p = lat * lat + lat
        e_w = 2 * cfg["rnn_hidden"]
        d_k = cfg["d_k"]
        self.variant = cfg["variant"]
        self.heads = h
        self.latent_channels = lat
        if self.variant == "wo_csa":
            self.tfc = blocks.TFC(2 * c, c, cfg["tfc_layers"], cfg["kernel"])
            self.lasaft = blocks.LaSAFT(
                n_freq,
                c,
                n_latent=cfg["lasaft_latents"],
                d_k=d_k,
                cond_dim=e_w,
                bias=cfg["tdf_bias"],
                bottleneck="compact",
                bf=cfg["bf"],
                min_units=cfg["min_units"],
            )
            self.merge = nn.Conv2d(lat, c, kernel_size=1)
        else:
            self.lsc = blocks.TFC_TDF(
                2 * c,
                n_freq,
                c,
                cfg["tfc_layers"],
                cfg["kernel"],
                bottleneck=True,
                bf=cfg["bf"],
                min_units=cfg["min_units"],
                bias=cfg["tdf_bias"],
                affine=True,
            )
            self.conv_k = nn.Conv2d(c, lat, kernel_size=1)
            self.conv_q = nn.Conv2d(c, c, kernel_size=1)
        self.conv_v = nn.Conv2d(c, lat, kernel_size=1)
        n_out = 1 if self.variant == "wo_smpocm" else 3
        self.generator = blocks.ConditionWeightGenerator(e_w, d_k, n_out=n_out, out_dim=p)

    def forward(self, x_e, x_d, w, mask, z):
        inp = torch.cat([x_e, x_d], dim=1)
        if self.variant == "wo_csa":
            x = self.tfc(inp)
            x = x + self.lasaft(x, z)
        else:
            x = self.lsc(inp)
        v = self.conv_v(x)
        thetas = self.generator(w, mask)
        if self.variant == "wo_smpocm":
            (theta,) = thetas
            v2 = portable.tanh(blocks.pocm(v, *blocks.split_pocm_params(theta, self.latent_channels,
                                                                     self.latent_channels)))
        else:
            v2 = blocks.smpocm(v, *thetas)
        if self.variant == "wo_csa":
            return self.merge(v2)
        k = self.conv_k(x)
        q = self.conv_q(x_e)
        return blocks.channel_skip_attention(q, k, v2, self.heads)


class AMSSNet(AudioModel):
    """AMSS-Net (and ablations). Condition: ``(tokens (B, L_w) long, lengths (B,) long)`` from ``aml.encode``
    (right-padded with 0); a dict ``{"tokens", "lengths"}`` or a bare token tensor (lengths = non-zero count) work too."""

    def __init__(self, config: dict):
        super().__init__(config)
        cfg = self.config
        if cfg["variant"] not in VARIANTS:
            raise ValueError(f"variant must be one of {VARIANTS}")
        if cfg["task_set"] not in ("task1", "task2"):
            raise ValueError("task_set must be 'task1' or 'task2'")
        c = cfg["channels"]
        if c % cfg["heads"]:
            raise ValueError(f"channels ({c}) must be divisible by heads ({cfg['heads']})")
        n_levels = (cfg["n_blocks"] - 1) // 2
        self.n_levels = n_levels
        self.time_multiple = 2**n_levels
        sizes = level_sizes(cfg["n_fft"] // 2, n_levels)
        e_w = 2 * cfg["rnn_hidden"]

        def tfc_tdf(c_in, f):
            return blocks.TFC_TDF(
                c_in, f, c, cfg["tfc_layers"], cfg["kernel"], bottleneck=True, bf=cfg["bf"],
                min_units=cfg["min_units"], bias=cfg["tdf_bias"], affine=True,
            )

        self.description_encoder = blocks.DescriptionEncoder(
            cfg["vocab_size"], cfg["word_dim"], cfg["rnn_hidden"], cfg["rnn"]
        )
        self.first_conv = blocks.FirstConv(4, c)
        self.encoders = nn.ModuleList(tfc_tdf(c, sizes[i]) for i in range(n_levels))
        self.downs = nn.ModuleList(blocks.Down(c, 2) for _ in range(n_levels))
        self.mid = tfc_tdf(c, sizes[n_levels])
        self.ups = nn.ModuleList(blocks.Up(c, 2) for _ in range(n_levels))
        self.decoders = nn.ModuleList(DecodingBlock(sizes[n_levels - 1 - j], cfg) for j in range(n_levels))
        self.restore_conv = nn.Conv2d(c, c, kernel_size=(1, 2), padding=(0, 1))
        self.aggregate = blocks.AggregatePoCM(c, 4, e_w, cfg["d_k"])

    def reset_parameters(self) -> None:
        blocks.init_weights(self)
        path = self.config.get("glove_path")
        self.glove_rows = None  # embedding rows set from GloVe by the last initialisation (None: no GloVe)
        if path:
            from benchmark.task import aml

            self.glove_rows = self.description_encoder.init_from_glove(path, aml.VOCAB)

    def estimate(self, spec: torch.Tensor, cond=None) -> torch.Tensor:
        if cond is None:
            raise ValueError("AMSS-Net needs a condition (tokens, lengths) (see make_condition)")
        if isinstance(cond, dict):
            tokens, lengths = cond["tokens"], cond.get("lengths")
        elif isinstance(cond, (tuple, list)) and len(cond) == 2 and not isinstance(cond[0], int):
            tokens, lengths = cond
        else:
            tokens, lengths = cond, None
        tokens = torch.as_tensor(tokens, device=spec.device, dtype=torch.long)
        if tokens.dim() == 1:
            tokens = tokens[None]
        if lengths is None:  # <pad> = 0 never occurs inside a description
            lengths = (tokens != 0).sum(dim=1)
        lengths = torch.as_tensor(lengths, device=spec.device, dtype=torch.long)
        if tokens.shape[0] != spec.shape[0]:
            raise ValueError(f"{tokens.shape[0]} descriptions for a batch of {spec.shape[0]}")
        w, mask, z = self.description_encoder(tokens, lengths)
        x, t = pad_time(spec, self.time_multiple)
        x = self.first_conv(x)
        x, skips = blocks.encode(x, self.encoders, self.downs)
        x = self.mid(x)
        for j, (up, dec) in enumerate(zip(self.ups, self.decoders)):
            x = dec(skips[self.n_levels - 1 - j], up(x), w, mask, z)
        x = self.restore_conv(x)
        return self.aggregate(x, w, mask)[:, :, :t]

    # ---------------------------------------------------------------- queries
    @property
    def task_set(self) -> str:
        return self.config["task_set"]

    def supported_queries(self) -> list[str]:
        """Every description string of the model's training set (task2: 240, task1: 105); any other valid AML
        query of the same operations is accepted too (synonyms, source orders, adjective-less filters)."""
        from benchmark.task import aml

        return list(aml.descriptions(self.task_set))

    def condition_for(self, query) -> list[int]:
        from benchmark.task import aml

        if isinstance(query, (list, tuple)) and query and all(isinstance(i, int) for i in query):
            return list(query)  # already token ids
        q = parse_query(query)
        if self.task_set == "task1" and q.operation not in TASK1_OPERATIONS:
            raise self._unsupported(query, " (trained on the separation task set 'task1': separate/mute only)")
        ids = list(aml.encode(model_text(q)))
        if not ids:
            raise self._unsupported(query)
        return ids

    def batch_conditions(self, conds, device=None):
        lengths = torch.tensor([len(c) for c in conds], dtype=torch.long)
        tokens = torch.zeros(len(conds), int(lengths.max()) if len(conds) else 0, dtype=torch.long)
        for i, c in enumerate(conds):
            tokens[i, : len(c)] = torch.tensor(c, dtype=torch.long)
        return tokens.to(device), lengths.to(device)
