"""Preservation of the untouched sources by an edit (docs/metrics.md, "Preservation of untouched sources").

An edit task changes one source of the mixture (its *edited* source) and should leave the others alone. The error
of an estimate, ``e = estimate − target``, is decomposed onto the sources of the target the way BSS-Eval v4
decomposes an estimate: one joint least-squares fit of ``e`` by time-invariant distortion filters of
``filter_taps`` (256; museval v4 uses 512) taps applied to every channel of every source — the edited source in its target version and
each untouched source —

    e[n, c] ≈ Σ_k Σ_ck Σ_d h[k, ck, d, c] · x_k[n − d, ck]        (k: sources, ck: their channels, d < filter_taps)

and the part carried by source k is ``e_k[n, c] = Σ_ck Σ_d h[k, ck, d, c] · x_k[n − d, ck]``. For an untouched
source j, ``preservation_j = 10 log10(‖x_j‖² / ‖e_j‖²)``; the task's number pools the untouched sources,
``10 log10(Σ_j ‖x_j‖² / Σ_j ‖e_j‖²)``. Higher is better; an error that lies on the edited source alone (the identity
on a volume edit) leaves the untouched sources intact.

The fit reuses the building blocks of the ``fast`` BSS-Eval back-end (:mod:`benchmark.scoring.metrics.bss`): the
whole-track lag-0..L−1 correlations by the FFT block method (``_correlations``), the Gram matrix in museval's layout
(``_build_gram``) and its regularised solve with museval's ``+ eps·I`` (``_solve_gram``: a numerically singular
Gram matrix — identical channels, a silent channel — is solved by the same well-defined regularised projection as
there). The energies ``‖e_k‖²`` are quadratic forms of the filters with the sources' own Gram blocks (``h_kᵀ G_kk
h_k``, exact over the full linear-convolution length), so no convolution is ever computed.

Values are capped at :data:`CAP_DB` = 100 dB: an error below 10⁻¹⁰ of the sources' energy is float rounding (the
oracle's error is exactly zero, which would be +inf), and 16-bit audio has ~96 dB of dynamic range.
"""

from __future__ import annotations

import math
import warnings
from typing import Mapping

import numpy as np

FILTER_TAPS = 256  # 5.8 ms at 44.1 kHz; museval v4 uses 512 (docs/metrics.md: why half)
CAP_DB = 100.0


def _db(num: float, den: float) -> float:
    """10 log10(num / den), capped at CAP_DB (den = 0 → the cap)."""
    if den <= 0.0 or num / den >= 10.0 ** (CAP_DB / 10.0):
        return CAP_DB
    return 10.0 * math.log10(num / den)


def decompose(error: np.ndarray, sources: Mapping[str, np.ndarray], *, filter_taps: int = FILTER_TAPS):
    """Energies of the parts of ``error`` (N, C) carried by each source of ``sources`` ({name: (N, C)}), from one
    joint least-squares fit by ``filter_taps``-tap filters on every channel of every source.

    Returns ``(parts, energies, regularised)``: ``{name: ‖e_k‖²}``, ``{name: ‖x_k‖²}`` (floats, summed over
    channels), and whether the sources' Gram matrix was numerically singular (e.g. a stem with identical channels)
    and solved by the regularised projection of the ``fast`` back-end."""
    from benchmark.scoring.metrics.bss import (NearSingularWarning, _Ctx, _build_gram, _correlations, _solve_gram,
                                               no_numpy_hugepages)

    names = list(sources)
    arrs = [np.ascontiguousarray(sources[k], dtype=np.float64) for k in names]
    err = np.ascontiguousarray(error, dtype=np.float64)
    n, c = err.shape
    for k, a in zip(names, arrs):
        if a.shape != (n, c):
            raise ValueError(f"source {k!r} has shape {a.shape}, the error {err.shape}")
    if not np.all(np.isfinite(err)):
        raise ValueError("the estimate contains NaN or inf samples")
    nsrc, L = len(arrs), int(filter_taps)
    p = nsrc * c
    if not np.any(err):  # the oracle: nothing to attribute, no fit
        return {k: 0.0 for k in names}, {k: float(np.sum(a * a)) for k, a in zip(names, arrs)}, False
    ctx = _Ctx("cpu", None)
    torch = ctx.torch
    with no_numpy_hugepages():
        r = _correlations(ctx, arrs + [err], p, n, L=L)  # (L, p + c, p)
    g = _build_gram(r[:, :p, :], torch)  # (pL, pL), museval layout: (source, channel, lag)
    own = [float(torch.diagonal(r[0, :p, :])[k * c:(k + 1) * c].sum()) for k in range(nsrc)]  # ‖x_k‖² (lag 0)
    a = g.clone()
    a.diagonal().add_(float(np.finfo(float).eps))  # museval: solve(G + eps I, D)
    d = r[:, p:, :].permute(2, 0, 1).reshape(p * L, c)  # D[(k, ck, lag), c] = Σ_n e_c[n + lag] x_{k,ck}[n]
    with warnings.catch_warnings(record=True) as caught:  # recorded in the result instead (its text is museval's)
        warnings.simplefilter("always", NearSingularWarning)
        h = _solve_gram(a, d, torch, "cholesky", "preservation filters")  # (pL, c)
    regularised = any(issubclass(w.category, NearSingularWarning) for w in caught)
    for w in caught:
        if not issubclass(w.category, NearSingularWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    blk = c * L
    parts = {}
    for k, name in enumerate(names):
        hk = h[k * blk:(k + 1) * blk]
        gk = g[k * blk:(k + 1) * blk, k * blk:(k + 1) * blk]
        parts[name] = max(0.0, float(torch.einsum("ic,ij,jc->", hk, gk, hk)))
    return parts, dict(zip(names, own)), regularised


def preservation(reference: np.ndarray, estimate: np.ndarray, *, sources: Mapping[str, np.ndarray], edited: str,
                 filter_taps: int = FILTER_TAPS) -> dict:
    """The preservation of the untouched sources by an edit (module docstring).

    ``reference``: the target (N, C); ``estimate``: the system's output, cut/zero-padded to N; ``sources``: the
    target's decomposition {source: (N, C)} (the edited source in its target version, the untouched ones as they
    are: they sum to ``reference``); ``edited``: the edited source's name.

    Returns ``{"preservation": pooled dB, "preservation_block": {...}}`` — the block is the result file's
    ``preservation`` object: ``db`` (pooled), ``sources`` ({untouched source: dB, or None for a source that is
    silent on the track}), ``edited``, ``filter_taps``, ``cap_db``, ``regularised`` (the Gram matrix of the sources
    was numerically singular: the well-defined regularised projection was used, :func:`decompose`)."""
    if edited not in sources:
        raise ValueError(f"edited source {edited!r} is not among the sources {sorted(sources)}")
    ref = np.asarray(reference, dtype=np.float64)
    est = np.asarray(estimate, dtype=np.float64)
    if est.shape[0] >= ref.shape[0]:
        est = est[:ref.shape[0]]
    else:
        est = np.pad(est, [(0, ref.shape[0] - est.shape[0]), (0, 0)])
    if est.shape != ref.shape:
        raise ValueError(f"estimate of shape {est.shape}, the target {ref.shape}")
    parts, energies, regularised = decompose(est - ref, sources, filter_taps=filter_taps)
    untouched = [k for k in sources if k != edited]
    per = {k: (_db(energies[k], parts[k]) if energies[k] > 0 else None) for k in untouched}
    live = [k for k in untouched if energies[k] > 0]
    if not live:
        raise ValueError("every untouched source is silent on this track: preservation is undefined")
    pooled = _db(sum(energies[k] for k in live), sum(parts[k] for k in live))
    block = {"db": pooled, "sources": per, "edited": edited, "filter_taps": int(filter_taps), "cap_db": CAP_DB,
             "regularised": bool(regularised)}
    return {"preservation": pooled, "preservation_block": block}
