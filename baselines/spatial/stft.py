"""Block-wise STFT and inverse STFT shared by the spatial separators (DUET, ADRess, PROJET).

The signal is never transformed as a whole: :func:`frames` hands out blocks of STFT frames (``block`` frames at a
time, each ``(F, frames, 2)`` complex64) and :class:`OverlapAdd` resynthesises blocks of (masked or filtered) STFT
frames as they come, so the memory of a separator grows with the block, not with the track (a 4-min MUSDB track has
≈ 10 000 frames at hop 1024). A block is a slice of one frame grid, so the transform does not depend on the block size
but for float rounding (the FFT's batching changes the last bit, ≈ 1e-16 relative); the block size is a fixed
parameter of each method, part of its fingerprint.

Frame grid: the signal is padded with ``win // 2`` zeros in front (frame t is centred on sample t·hop − win//2 + win//2
= t·hop) and with zeros at the end up to the last frame. Resynthesis is the least-squares inverse (weighted
overlap-add, divided by Σ w²), so an unmodified STFT returns the signal to float rounding and STFT images that sum to
the mixture's STFT give signals that sum to the mixture.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np
from scipy.signal import get_window


def window(name: str, win: int) -> np.ndarray:
    """A periodic (DFT-even) analysis window: ``hann`` | ``hamming`` | any scipy window name."""
    return get_window(name, win, fftbins=True).astype(np.float64)


class Grid:
    """The frame grid of one signal: ``n`` samples, window ``win``, hop ``hop`` (``win`` a multiple of ``hop``)."""

    def __init__(self, n: int, win: int, hop: int, window_name: str):
        if win % hop:
            raise ValueError(f"the window length ({win}) must be a multiple of the hop ({hop})")
        self.n, self.win, self.hop = int(n), int(win), int(hop)
        self.pad = win // 2
        self.n_frames = (self.n + self.pad) // hop + 1
        self.padded = (self.n_frames - 1) * hop + win
        self.w = window(window_name, win)
        self.n_freqs = win // 2 + 1

    def freqs(self, sr: int) -> np.ndarray:
        """Centre frequency of each bin in Hz."""
        return np.arange(self.n_freqs) * (sr / self.win)

    def omega(self) -> np.ndarray:
        """Angular frequency of each bin in radians per sample (0 … π)."""
        return np.arange(self.n_freqs) * (2 * np.pi / self.win)


def frames(x: np.ndarray, grid: Grid, block: int) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(t0, X)``: X the STFT of frames t0 … t0 + block − 1 of the stereo signal x (N, 2), shape
    (F, frames, 2) complex64."""
    xp = np.zeros((grid.padded, x.shape[1]), dtype=np.float64)
    xp[grid.pad:grid.pad + grid.n] = x
    view = np.lib.stride_tricks.sliding_window_view(xp, grid.win, axis=0)[::grid.hop]  # (T, 2, win), a view
    for t0 in range(0, grid.n_frames, block):
        seg = view[t0:t0 + block] * grid.w  # (Tb, 2, win), a copy of one block
        X = np.fft.rfft(seg, axis=-1)  # (Tb, 2, F)
        yield t0, np.ascontiguousarray(X.transpose(2, 0, 1), dtype=np.complex64)


class OverlapAdd:
    """Accumulates blocks of STFT frames of ``lead`` signals (e.g. 4 stems) into time-domain signals."""

    def __init__(self, grid: Grid, lead: tuple[int, ...] = ()):
        self.grid = grid
        self.lead = tuple(lead)
        r = grid.win // grid.hop
        self.segments = np.zeros((*self.lead, 2, grid.n_frames - 1 + r, grid.hop), dtype=np.float64)
        wsq = np.zeros((grid.n_frames - 1 + r, grid.hop), dtype=np.float64)
        w2 = (grid.w ** 2).reshape(r, grid.hop)
        for k in range(r):
            wsq[k:k + grid.n_frames] += w2[k]
        self.norm = wsq

    def add(self, t0: int, Y: np.ndarray) -> None:
        """Add frames t0 … of Y, shape (*lead, F, frames, 2) complex."""
        g = self.grid
        y = np.fft.irfft(np.swapaxes(Y, -1, -3), n=g.win, axis=-1) * g.w  # (*lead, 2, Tb, win)
        tb = y.shape[-2]
        r = g.win // g.hop
        y = y.reshape(*y.shape[:-1], r, g.hop)
        for k in range(r):
            self.segments[..., t0 + k:t0 + k + tb, :] += y[..., k, :]

    def result(self) -> np.ndarray:
        """The signals, shape (*lead, N, 2) float64."""
        g = self.grid
        norm = np.where(self.norm > 1e-10, self.norm, 1.0)
        out = (self.segments / norm).reshape(*self.lead, 2, -1)[..., g.pad:g.pad + g.n]
        return np.moveaxis(out, -2, -1)


def masked_stems(x: np.ndarray, grid: Grid, sr: int, block: int, masks) -> tuple[np.ndarray, dict, np.ndarray]:
    """The two passes of a masking separator (DUET, ADRess) over the blocks of the STFT of x (N, 2).

    ``masks(X)`` gives the K component masks (K, F, T) of one block X (F, T, 2). Pass 1 accumulates each component's
    per-channel power and power spectrum, from which :mod:`baselines.spatial.assign` computes the component features
    and the component → stem weights (one mapping for the whole track); pass 2 recomputes the masks block by block,
    mixes them into the four stem masks with those weights and resynthesises. Returns (stems (4, N, 2) float64,
    features, weights (4, K))."""
    from baselines.spatial import assign

    power = spectrum = None
    for _t0, X in frames(x, grid, block):
        m = masks(X)  # (K, F, T)
        if power is None:
            power, spectrum = np.zeros((len(m), 2)), np.zeros((len(m), grid.n_freqs))
        p = np.abs(X) ** 2  # (F, T, 2)
        power += np.einsum("kft,ftc->kc", m, p)
        spectrum += np.einsum("kft,ftc->kf", m, p)
    feats = assign.from_power(power, spectrum, grid.freqs(sr))
    weights = assign.stem_weights(feats["pan"], feats["centroid"])
    ola = OverlapAdd(grid, (4,))
    for t0, X in frames(x, grid, block):
        stem_masks = np.tensordot(weights, masks(X), axes=(1, 0))  # (4, F, T)
        ola.add(t0, stem_masks[..., None] * X[None])
    return ola.result(), feats, weights
