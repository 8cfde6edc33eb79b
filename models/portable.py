"""Elementwise functions whose bits do not depend on the processor's MKL code branch.

On CPU, PyTorch sends ``sqrt``, ``exp``, ``log``, ``tanh``, ``cos``, ``sin`` (and a few more) of float tensors to MKL's
vector math library (VML), which picks its code branch at run time from the processor and ``MKL_CBWR``; the branches
round differently (an Intel Xeon under ``MKL_CBWR=COMPATIBLE`` rounds 19 % of ``sqrt`` results differently from an AMD
EPYC, which ignores ``MKL_CBWR``). The embedded models are small enough that one ulp in one training step moves a
result by whole dB, so the training and scoring paths avoid VML altogether (docs/performance.md, "Reproducible
numerics"; ``tests/test_numerics.py`` traces the VML calls of real training steps and fails on any):

* :func:`tanh` computes ``tanh`` from ``expm1`` (SLEEF's vectorised kernel, plain arithmetic: the same bits on every
  AVX2 CPU) with the usual derivative ``1 − tanh²``;
* :func:`hann_window` is the periodic Hann window in float64 (glibc's ``cos``) rounded once to float32;
* the optimiser is Adam's fused CPU kernel (``models.training.trainer``), whose ``sqrt`` is the processor's IEEE
  square root.

Each agrees with the PyTorch function it replaces to a few float32 ulps (tested), far inside every tolerance of the
reference-output comparisons.
"""

from __future__ import annotations

import math

import torch


class _Tanh(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        t = torch.expm1(-2.0 * x.abs())  # in (-1, 0]: tanh|x| = −t / (t + 2), accurate near 0 where t ≈ −2|x|
        y = torch.copysign(-t / (t + 2.0), x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        return grad * (1.0 - y * y)


def tanh(x: torch.Tensor) -> torch.Tensor:
    """``torch.tanh`` without MKL's VML on CPU (on other devices: ``torch.tanh`` itself)."""
    if x.device.type != "cpu":
        return torch.tanh(x)
    return _Tanh.apply(x)


def hann_window(n: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The periodic Hann window of ``torch.hann_window(n)``, ``0.5 − 0.5·cos(2πk/n)``, computed in float64 with the C
    library's ``cos`` and rounded once to ``dtype``."""
    if n == 1:
        return torch.ones(1, dtype=dtype)
    values = [0.5 - 0.5 * math.cos(2.0 * math.pi * k / n) for k in range(n)]
    return torch.tensor(values, dtype=torch.float64).to(dtype)


def _cell(kind: str, x_proj: torch.Tensor, h: torch.Tensor, c: torch.Tensor | None, w_hh, b_hh):
    """One step of an LSTM / GRU cell in PyTorch's gate order (LSTM: i, f, g, o; GRU: r, z, n)."""
    h_proj = torch.nn.functional.linear(h, w_hh, b_hh)
    if kind == "lstm":
        i, f, g, o = (x_proj + h_proj).chunk(4, dim=-1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * tanh(g)
        return torch.sigmoid(o) * tanh(c), c
    xr, xz, xn = x_proj.chunk(3, dim=-1)
    hr, hz, hn = h_proj.chunk(3, dim=-1)
    r, z = torch.sigmoid(xr + hr), torch.sigmoid(xz + hz)
    n = tanh(xn + r * hn)
    return (1.0 - z) * n + z * h, None


def bidirectional_rnn(rnn: torch.nn.LSTM | torch.nn.GRU, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """The output of a one-layer, batch-first, bidirectional ``rnn`` over right-padded sequences, as
    ``pad_packed_sequence(rnn(pack_padded_sequence(x, lengths)))`` gives it (zeros at padded positions), computed
    step by step from ``rnn``'s own parameters with :func:`tanh` (ATen's CPU LSTM and GRU cells call VML's tanh).

    ``x``: (B, L, input); ``lengths``: (B,) in [1, L]. Returns (B, L, 2·hidden)."""
    kind = "lstm" if isinstance(rnn, torch.nn.LSTM) else "gru"
    if rnn.num_layers != 1 or not rnn.bidirectional or not rnn.batch_first:
        raise ValueError("bidirectional_rnn: expects a one-layer, bidirectional, batch-first LSTM or GRU")
    b, length, _ = x.shape
    hidden = rnn.hidden_size
    valid = torch.arange(length, device=x.device)[None, :] < lengths.to(x.device)[:, None]  # (B, L)
    outputs = []
    for suffix, steps in (("", range(length)), ("_reverse", reversed(range(length)))):
        w_ih, w_hh = getattr(rnn, "weight_ih_l0" + suffix), getattr(rnn, "weight_hh_l0" + suffix)
        b_ih, b_hh = getattr(rnn, "bias_ih_l0" + suffix, None), getattr(rnn, "bias_hh_l0" + suffix, None)
        x_proj = torch.nn.functional.linear(x, w_ih, b_ih)  # (B, L, gates·H)
        h = x.new_zeros(b, hidden)
        c = x.new_zeros(b, hidden) if kind == "lstm" else None
        out = [None] * length
        for t in steps:
            h_new, c_new = _cell(kind, x_proj[:, t], h, c, w_hh, b_hh)
            m = valid[:, t, None]
            # a padded step leaves the state as it was (the reverse direction thus starts at each sequence's end)
            h = torch.where(m, h_new, h)
            if c is not None:
                c = torch.where(m, c_new, c)
            out[t] = torch.where(m, h_new, torch.zeros_like(h_new))
        outputs.append(torch.stack(out, dim=1))
    return torch.cat(outputs, dim=-1)
