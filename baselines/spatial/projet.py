"""PROJET, panning only: D. FitzGerald, A. Liutkus, R. Badeau, "Projection-based demixing of spatial audio",
IEEE/ACM TASLP 24(9):1560-1572, 2016 (and "PROJET - spatial audio separation using projections", ICASSP 2016).

Model. Each of J objects j has a power spectral density P_j(f, t) ≥ 0 and a spread Q_j(l) ≥ 0 over L candidate pan
directions h_l = (cos θ_l, sin θ_l), θ_l evenly spaced in [0, π/2]. The stereo STFT x(f, t) is projected on M
directions e_m = (cos ψ_m, sin ψ_m), ψ_m evenly spaced in [−π/2, 0] (e_m cancels the pan direction θ = ψ_m + π/2);
with α = 1 (the paper's Cauchy case) the magnitude of each projection is modelled as

    |e_m^T x(f, t)| ≈ σ(f, t, m) = Σ_j P_j(f, t) Σ_l K(m, l) Q_j(l),      K(m, l) = |e_m^T h_l|.

Fitting: the multiplicative updates of P and Q for the Cauchy cost of the authors' reference code (with V the
projection magnitudes): P ← P · [(1/σ) KQ] / [(3σ / (σ² + V²)) KQ], then the same form for Q, ``iterations`` times
(the reference runs 500-1000; capped here, see params.yaml). Random initialisation |N(0,1)| + 1, seeded per chunk,
as the reference; ``spread_init`` adds to object j's Q a bump at direction (j + 1/2)·L/J (the objects start apart;
off by default: on the test mixtures it merged the two central sources more often than the random start).

Separation: each projection is split among the objects in proportion σ_j / σ (σ_j the object's share of σ), and the
M filtered projections of object j are mapped back to stereo with the pseudo-inverse of the projection matrix. The
objects' images sum to the mixture.

Memory: the track is cut into chunks of ``chunk_seconds`` of STFT frames (the frame grid of the whole track, so the
chunks join without seams in the resynthesis), fitted one after the other; the object-to-stem assignment is made per
chunk (an object's pan may move between chunks). A chunk holds a handful of (F·frames × M) float32 arrays: about
0.5 GB for 15 s at n_fft 4096, hop 1024, M = 10.
"""

from __future__ import annotations

import numpy as np

from baselines.spatial import assign
from baselines.spatial.stft import Grid, OverlapAdd, frames

DEFAULTS = {"n_fft": 4096, "hop": 1024, "window": "hann", "n_sources": 4, "directions": 30, "projections": 10,
            "iterations": 50, "chunk_seconds": 15.0, "seed": 0, "spread_init": False}
EPS = 1e-20


def matrices(n_dirs: int, n_proj: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pan directions H (2, L), projections E (M, 2) and K = |E H| (M, L)."""
    theta = np.linspace(0.0, np.pi / 2, n_dirs)
    psi = np.linspace(-np.pi / 2, 0.0, n_proj)
    h = np.stack([np.cos(theta), np.sin(theta)])
    e = np.stack([np.cos(psi), np.sin(psi)], axis=1)
    return h, e, np.abs(e @ h)


def fit(v: np.ndarray, k: np.ndarray, n_sources: int, iterations: int, rng: np.random.Generator,
        spread: bool = True):
    """P (FT, J), Q (L, J) for projection magnitudes V (FT, M), float32."""
    ft, _m = v.shape
    p = (np.abs(rng.standard_normal((ft, n_sources))) + 1).astype(np.float32)
    q = np.abs(rng.standard_normal((k.shape[1], n_sources))) + 1
    if spread:  # object j starts with a bump at direction (j + 1/2) L / J: the objects start apart
        pos = np.arange(k.shape[1])[:, None] - (np.arange(n_sources)[None] + 0.5) * k.shape[1] / n_sources
        q += 4.0 * np.exp(-0.5 * (pos / 2.0) ** 2)
    q = q.astype(np.float32)
    k = k.astype(np.float32)
    v2 = v * v
    for _ in range(iterations):
        kq = k @ q  # (M, J)
        sigma = p @ kq.T  # (FT, M)
        p *= ((1.0 / (sigma + EPS)) @ kq) / ((3 * sigma / (sigma * sigma + v2 + EPS)) @ kq)
        sigma = p @ kq.T
        q *= (k.T @ ((1.0 / (sigma + EPS)).T @ p)) / (k.T @ ((3 * sigma / (sigma * sigma + v2 + EPS)).T @ p))
    return p, q


def separate(x: np.ndarray, sr: int, prm: dict) -> tuple[np.ndarray, dict]:
    """Stems (4, N, 2) float64 of the stereo signal x (N, 2), and what was found per chunk (pans, weights)."""
    grid = Grid(len(x), prm["n_fft"], prm["hop"], prm["window"])
    _h, e, kmat = matrices(int(prm["directions"]), int(prm["projections"]))
    e_inv = np.linalg.pinv(e)  # (2, M)
    block = max(1, int(round(prm["chunk_seconds"] * sr / prm["hop"])))
    freqs = grid.freqs(sr)
    ola = OverlapAdd(grid, (4,))
    chunks = []
    for t0, X in frames(x, grid, block):
        f, t, _ = X.shape
        xs = X.reshape(f * t, 2)
        c = xs @ e.T.astype(np.complex64)  # (FT, M) projections
        v = np.abs(c).astype(np.float32)
        rng = np.random.default_rng([int(prm["seed"]), t0])
        p, q = fit(v, kmat, int(prm["n_sources"]), int(prm["iterations"]), rng, bool(prm["spread_init"]))
        kq = kmat.astype(np.float32) @ q  # (M, J)
        sigma = p @ kq.T + EPS
        images = np.empty((p.shape[1], f, t, 2), dtype=np.complex64)
        for j in range(p.shape[1]):
            share = np.outer(p[:, j], kq[:, j]) / sigma  # (FT, M)
            images[j] = ((share * c) @ e_inv.T.astype(np.complex64)).reshape(f, t, 2)
        feats = assign.stft_features(images, freqs)
        weights = assign.stem_weights(feats["pan"], feats["centroid"])
        ola.add(t0, assign.to_stems(images, weights))
        chunks.append({"first_frame": t0, "pan": feats["pan"].tolist(), "centroid_hz": feats["centroid"].tolist(),
                       "weights": weights.tolist()})
    return ola.result(), {"chunks": chunks}
