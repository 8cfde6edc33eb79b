"""ADRess: D. Barry, B. Lawlor, E. Coyle, "Real-time sound source separation using azimuth discrimination and
resynthesis", 117th AES Convention, San Francisco 2004.

Frequency-azimuth plane. For gain g(i) = i / β, i = 0 … β (β the azimuth resolution), and per STFT bin k:

    AZ_L(k, i) = |X_R(k) − g(i) X_L(k)|      (sources left of centre: null at g = g_R / g_L)
    AZ_R(k, i) = |X_L(k) − g(i) X_R(k)|      (sources right of centre: null at g = g_L / g_R)

A bin's source sits where the plane has its null. The bin is read in the plane of its louder channel (|X_L| ≥ |X_R|:
the left plane), and its azimuth index is u = −(β − i) (left) or +(β − i) (right), u ∈ [−β, β], 0 = centre.
Because |X_a − g X_b| is a convex quadratic in g, the null over the grid is the grid point nearest to the
continuous minimiser g* = Re(X_a X̄_b) / |X_b|² (clipped to [0, 1]) and the maximum is at g = 0 or 1: the planes
are never stored (exactly the same u as scanning all β + 1 gains). The null depth m = max − min is the bin's
magnitude estimate of the paper.

Azimuth of each source, without the targets: the *azimugram* H(u) = Σ over bins and frames of m at u (the paper's
azimuth energy distribution summed over frequency and time), smoothed with a ``smooth``-point moving average; the K
highest points, greedily, each pick excluding ±``peak_distance`` around the ones already taken (the paper lets a
user set the azimuths by hand).

Separation: component j = the bins whose null lies in its azimuth subspace |u − d_j| ≤ H/2 (H the subspace width),
a bin in several subspaces going to the nearest d_j; bins in no subspace are divided equally among the components.
The default H = 2β + 1 spans the whole axis, i.e. every bin goes to the source of nearest azimuth. Resynthesis: the
paper gives each source the null-depth magnitude m with the mixture's phase, one channel; the benchmark scores
stereo images, so component j is the masked stereo mixture (both channels), and the components sum to the mixture.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import uniform_filter1d

from baselines.spatial.stft import Grid, frames, masked_stems

DEFAULTS = {"n_fft": 4096, "hop": 1024, "window": "hann", "beta": 100, "subspace_width": 201, "n_sources": 4,
            "smooth": 5, "peak_distance": 10, "block": 64}


def azimuth(X: np.ndarray, beta: int) -> tuple[np.ndarray, np.ndarray]:
    """Azimuth index u (int, −β … β) and null depth m of every bin of X (F, T, 2)."""
    xl, xr = X[..., 0].astype(np.complex128), X[..., 1].astype(np.complex128)
    left = np.abs(xl) >= np.abs(xr)
    a = np.where(left, xr, xl)  # the quieter channel …
    b = np.where(left, xl, xr)  # … scanned against the louder one: |a − g b|
    bb = np.abs(b) ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        g = np.where(bb > 0, (a * np.conj(b)).real / bb, 1.0)
    i = np.rint(np.clip(g, 0.0, 1.0) * beta)
    low = np.abs(a - (i / beta) * b)
    high = np.maximum(np.abs(a), np.abs(a - b))
    u = np.where(left, -(beta - i), beta - i).astype(np.int64)
    return u, high - low


def azimugram(x: np.ndarray, grid: Grid, prm: dict) -> np.ndarray:
    """H(u), u = −β … β (index u + β), smoothed."""
    beta = int(prm["beta"])
    h = np.zeros(2 * beta + 1)
    for _t0, X in frames(x, grid, prm["block"]):
        u, m = azimuth(X, beta)
        h += np.bincount((u + beta).ravel(), weights=m.ravel(), minlength=2 * beta + 1)
    return uniform_filter1d(h, size=int(prm["smooth"]), mode="nearest")


def pick_azimuths(h: np.ndarray, k: int, distance: int) -> list[int]:
    """The k highest points of the azimugram, greedily, ±distance apart (ties: the lower index); as u = index − β."""
    beta = (len(h) - 1) // 2
    h = h.astype(np.float64).copy()
    out = []
    for _ in range(k):
        i = int(np.argmax(h))
        out.append(i - beta)
        h[max(0, i - distance):i + distance + 1] = -np.inf
        if not np.isfinite(h).any():
            break
    return out


def _masks(u: np.ndarray, d: np.ndarray, width: float) -> np.ndarray:
    dist = np.abs(u[None] - d[:, None, None]).astype(np.float64)  # (K, F, T)
    nearest = np.argmin(dist, axis=0)
    inside = dist.min(axis=0) <= width / 2
    m = (nearest[None] == np.arange(len(d))[:, None, None]).astype(np.float64)
    return np.where(inside[None], m, 1.0 / len(d))


def separate(x: np.ndarray, sr: int, prm: dict) -> tuple[np.ndarray, dict]:
    """Stems (4, N, 2) float64 of the stereo signal x (N, 2), and what was found (azimuths, components, weights)."""
    grid = Grid(len(x), prm["n_fft"], prm["hop"], prm["window"])
    beta = int(prm["beta"])
    d = np.array(pick_azimuths(azimugram(x, grid, prm), int(prm["n_sources"]), int(prm["peak_distance"])))
    stems, feats, weights = masked_stems(
        x, grid, sr, prm["block"], lambda X: _masks(azimuth(X, beta)[0], d, prm["subspace_width"]))
    info = {"azimuths": d.tolist(), "pan": feats["pan"].tolist(), "centroid_hz": feats["centroid"].tolist(),
            "weights": weights.tolist()}
    return stems, info
