"""DUET: S. Rickard, "The DUET blind source separation algorithm", in *Blind Speech Separation*, Springer 2007.

Per time-frequency point of the two channels X1 (left), X2 (right), with ω the bin's angular frequency (rad/sample):

* the level ratio a = |X2 / X1|, its symmetric form α = a − 1/a, and the relative delay δ = −∠(X2 / X1) / ω (samples);
* a weighted 2-D histogram of (α, δ): weights (|X1| |X2|)^p · ω^q (Rickard: p = 1, q = 0), points with |α| < α_max
  and |δ| < δ_max only (0.7 and 3.6), 35 × 50 bins, smoothed by a 3 × 3 moving average;
* one peak per source: the K highest local maxima of the smoothed histogram, each at least ``peak_distance``
  (α bins, δ bins) from the peaks already taken, completed by the highest free bins when there are fewer maxima
  (Rickard picks the peaks by eye; this is the automatic stand-in); a peak (α_j, δ_j) gives a_j = (α_j + sqrt(α_j² + 4)) / 2;
* binary masks: each point goes to the peak j minimising |a_j e^{−iδ_j ω} X1 − X2|² / (1 + a_j²) (the ML
  assignment of the paper, eq. 7.43 ff.).

Rickard's demixing combines the channels into a mono estimate; the benchmark scores stereo images, so component j is
the masked stereo mixture M_j ⊙ (X1, X2), and the components sum to the mixture. Frequency bin 0 (ω = 0, no delay
defined) is left out of the histogram; it is assigned by the same rule. The histogram is accumulated over all
frames of the track, block by block (two passes over the STFT, the memory of one block).
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import maximum_filter, uniform_filter

from baselines.spatial.stft import Grid, frames, masked_stems

DEFAULTS = {"n_fft": 1024, "hop": 512, "window": "hamming", "p": 1.0, "q": 0.0, "alpha_bins": 35, "delay_bins": 50,
            "alpha_max": 0.7, "delay_max": 3.6, "smooth": 3, "n_sources": 4, "peak_distance": [2, 2], "block": 256}
EPS = 1e-12


def _alpha_delta(X: np.ndarray, omega: np.ndarray):
    r = (X[..., 1] + EPS) / (X[..., 0] + EPS)
    a = np.abs(r)
    alpha = a - 1.0 / a
    with np.errstate(divide="ignore", invalid="ignore"):
        delta = -np.angle(r) / omega[:, None]
    return alpha, delta


def histogram(x: np.ndarray, grid: Grid, prm: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The smoothed, peak-normalised (α, δ) histogram and its bin centres."""
    omega = grid.omega()
    a_edges = np.linspace(-prm["alpha_max"], prm["alpha_max"], prm["alpha_bins"] + 1)
    d_edges = np.linspace(-prm["delay_max"], prm["delay_max"], prm["delay_bins"] + 1)
    hist = np.zeros((prm["alpha_bins"], prm["delay_bins"]))
    for _t0, X in frames(x, grid, prm["block"]):
        X = X[1:].astype(np.complex128)  # no delay at ω = 0
        alpha, delta = _alpha_delta(X, omega[1:])
        wgt = (np.abs(X[..., 0]) * np.abs(X[..., 1])) ** prm["p"] * omega[1:, None] ** prm["q"]
        keep = (np.abs(alpha) < prm["alpha_max"]) & (np.abs(delta) < prm["delay_max"])
        h, _, _ = np.histogram2d(alpha[keep], delta[keep], bins=(a_edges, d_edges), weights=wgt[keep])
        hist += h
    hist = uniform_filter(hist, size=prm["smooth"], mode="nearest")
    if hist.max() > 0:
        hist /= hist.max()
    return hist, (a_edges[:-1] + a_edges[1:]) / 2, (d_edges[:-1] + d_edges[1:]) / 2


def pick_peaks(hist: np.ndarray, k: int, distance) -> list[tuple[int, int]]:
    """Up to k peaks: the local maxima of the histogram (3 × 3 neighbourhood), highest first, each at least
    ``distance`` (α bins, δ bins) away from the peaks already taken; when there are fewer such maxima than k, the
    highest remaining bins outside those neighbourhoods complete the list (ties: the first bin in C order)."""
    da, dd = int(distance[0]), int(distance[1])
    local = (hist == maximum_filter(hist, size=3, mode="constant", cval=-np.inf)) & (hist > 0)
    order = np.argsort(-hist, axis=None, kind="stable")
    free = np.ones(hist.shape, dtype=bool)
    peaks: list[tuple[int, int]] = []
    for only_local in (True, False):
        for flat in order:
            if len(peaks) == k:
                return peaks
            i, j = np.unravel_index(int(flat), hist.shape)
            if free[i, j] and (local[i, j] or not only_local):
                peaks.append((int(i), int(j)))
                free[max(0, i - da):i + da + 1, max(0, j - dd):j + dd + 1] = False
    return peaks


def separate(x: np.ndarray, sr: int, prm: dict) -> tuple[np.ndarray, dict]:
    """Stems (4, N, 2) float64 of the stereo signal x (N, 2), and what was found (peaks, components, weights)."""
    grid = Grid(len(x), prm["n_fft"], prm["hop"], prm["window"])
    hist, a_cent, d_cent = histogram(x, grid, prm)
    peaks = pick_peaks(hist, prm["n_sources"], prm["peak_distance"])
    alpha = np.array([a_cent[i] for i, _ in peaks])
    delay = np.array([d_cent[j] for _, j in peaks])
    a = (alpha + np.sqrt(alpha ** 2 + 4)) / 2
    omega = grid.omega()
    # the assignment is global: one component -> stem mapping for the whole track (masked_stems' first pass)
    stems, feats, weights = masked_stems(x, grid, sr, prm["block"], lambda X: _masks(X, a, delay, omega))
    info = {"alpha": alpha.tolist(), "delay": delay.tolist(), "pan": feats["pan"].tolist(),
            "centroid_hz": feats["centroid"].tolist(), "weights": weights.tolist()}
    return stems, info


def _masks(X: np.ndarray, a: np.ndarray, delay: np.ndarray, omega: np.ndarray) -> np.ndarray:
    """Binary masks (K, F, T): each point to the peak of least ML score (ties: the lower index)."""
    x1, x2 = X[..., 0].astype(np.complex128), X[..., 1].astype(np.complex128)
    phase = np.exp(-1j * omega[None, :, None] * delay[:, None, None])  # (K, F, 1)
    score = np.abs(a[:, None, None] * phase * x1[None] - x2[None]) ** 2 / (1 + a[:, None, None] ** 2)
    best = np.argmin(score, axis=0)
    return (best[None] == np.arange(len(a))[:, None, None]).astype(np.float64)
