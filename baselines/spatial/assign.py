"""From K spatial components to the four stems, without looking at the targets.

A spatial separator returns K stereo components (the *images* of the sources it found, which sum to the mixture).
They are mapped to vocals / drums / bass / other with a fixed rule on two features that each component carries in
itself:

* **pan** p = (E_R − E_L) / (E_R + E_L) of the component's image (energy of its right and left channel; −1 hard left,
  0 centre, +1 hard right); the rule uses the distance from the centre |p|;
* **spectral centroid** c = Σ f·P(f) / Σ P(f) of its power spectrum (both channels).

The rule (``STEM_ORDER``): rank the components by |p|, most central first, and hand them the stems in the order
*centre, centre, drums, other* — component ``floor(j·K/4)`` of that ranking gets stem slot j. The two *centre* slots are
vocals and bass; when they fall on two different components, the one with the lower centroid is bass. When a
component gets several stems (K < 4; ICA has K = 2) its signal is divided equally between them, so the four stems
always sum to the mixture (and so do the stems of the separate-then-DSP cascade).

Why this order: common mixing practice puts vocals and bass in the centre, drums spread around it and the other
instruments widest; the embedded synthetic set follows it (pan drawn uniformly within ±0.25 vocals, ±0.2 bass,
±0.5 drums, ±0.7 other, ``benchmark.data.synth.PAN_MAX``). Limits: it is a prior over many tracks, wrong for a track
whose drums sit nearer the centre than its vocals; and a panning-based method cannot tell apart two sources at the
same position (vocals and bass, both near the centre, usually end up in one component): the centroid then only
decides which of two mixed components is called bass. docs/evaluation.md, "Spatial separators".
"""

from __future__ import annotations

import numpy as np

from benchmark.base.constants import SOURCES

STEM_ORDER = ("centre", "centre", "drums", "other")  # stem slots by rank of centrality; the centre pair is vocals/bass


def stft_features(images: np.ndarray, freqs: np.ndarray) -> dict[str, np.ndarray]:
    """pan, centroid (Hz) and energy of K STFT images, shape (K, F, T, 2)."""
    power = np.abs(images) ** 2  # (K, F, T, 2)
    per_channel = power.sum(axis=(1, 2))  # (K, 2)
    spectrum = power.sum(axis=(2, 3))  # (K, F)
    return from_power(per_channel, spectrum, freqs)


def time_features(images: np.ndarray, sr: int) -> dict[str, np.ndarray]:
    """pan, centroid (Hz) and energy of K time-domain images, shape (K, N, 2)."""
    per_channel = (images.astype(np.float64) ** 2).sum(axis=1)  # (K, 2)
    spectrum = (np.abs(np.fft.rfft(images, axis=1)) ** 2).sum(axis=2)  # (K, F)
    freqs = np.fft.rfftfreq(images.shape[1], 1.0 / sr)
    return from_power(per_channel, spectrum, freqs)


def from_power(per_channel: np.ndarray, spectrum: np.ndarray, freqs: np.ndarray) -> dict[str, np.ndarray]:
    total = per_channel.sum(axis=1)
    tiny = np.finfo(np.float64).tiny
    pan = (per_channel[:, 1] - per_channel[:, 0]) / np.maximum(total, tiny)
    centroid = (spectrum * freqs).sum(axis=1) / np.maximum(spectrum.sum(axis=1), tiny)
    return {"pan": pan, "centroid": centroid, "energy": total}


def stem_weights(pan: np.ndarray, centroid: np.ndarray) -> np.ndarray:
    """W (4, K): the share of component k in stem s (SOURCES order); every column sums to 1."""
    pan, centroid = np.asarray(pan, np.float64), np.asarray(centroid, np.float64)
    k = len(pan)
    if not 1 <= k <= len(SOURCES):
        raise ValueError(f"the stem assignment maps 1 to {len(SOURCES)} components, got {k}")
    rank = np.argsort(np.abs(pan), kind="stable")  # most central first; ties: lower index first
    slot_comp = [int(rank[j * k // len(STEM_ORDER)]) for j in range(len(STEM_ORDER))]
    a, b = slot_comp[0], slot_comp[1]
    if a != b and centroid[b] < centroid[a]:  # the centre pair: lower centroid = bass
        a, b = b, a
    stem_comp = {"bass": a, "vocals": b, "drums": slot_comp[2], "other": slot_comp[3]}
    w = np.zeros((len(SOURCES), k))
    for s, src in enumerate(SOURCES):
        w[s, stem_comp[src]] = 1.0
    return w / w.sum(axis=0, keepdims=True)


def to_stems(images: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Stems (4, ...) from component images (K, ...) and the weights of :func:`stem_weights`."""
    return np.tensordot(weights.astype(images.real.dtype), images, axes=(1, 0))
