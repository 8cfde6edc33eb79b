"""ICA: A. Hyvärinen, J. Karhunen, E. Oja, *Independent Component Analysis*, Wiley 2001 — FastICA (scikit-learn).

The two channels are taken as an instantaneous mixture x(n) = A s(n) + mean of two independent components;
scikit-learn's FastICA (``fun`` the contrast, unit-variance whitening, seeded) estimates A and s. Component k's stereo
image is s_k(n) · A[:, k] (plus half the channel means), so the two images sum to the mixture exactly. Stereo gives
two components for four stems: :mod:`baselines.spatial.assign` hands the more central one to vocals and bass and
the other to drums and other, each stem receiving half of its component.

FastICA runs on the whole track (an N × 2 problem: memory linear in the track, ≈ 10 × the track's float64 size).
"""

from __future__ import annotations

import warnings

import numpy as np

from baselines.spatial import assign

DEFAULTS = {"n_components": 2, "fun": "logcosh", "max_iter": 400, "tol": 1e-4, "seed": 0}


def separate(x: np.ndarray, sr: int, prm: dict) -> tuple[np.ndarray, dict]:
    """Stems (4, N, 2) float64 of the stereo signal x (N, 2), and what was found (mixing matrix, components)."""
    from sklearn.decomposition import FastICA
    from sklearn.exceptions import ConvergenceWarning

    x = np.asarray(x, dtype=np.float64)
    ica = FastICA(n_components=int(prm["n_components"]), fun=prm["fun"], max_iter=int(prm["max_iter"]),
                  tol=float(prm["tol"]), whiten="unit-variance", random_state=int(prm["seed"]))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        s = ica.fit_transform(x)  # (N, K)
    converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
    mixing = ica.mixing_  # (2, K)
    k = s.shape[1]
    images = s.T[:, :, None] * mixing.T[:, None, :] + ica.mean_[None, None, :] / k  # (K, N, 2)
    feats = assign.time_features(images, sr)
    weights = assign.stem_weights(feats["pan"], feats["centroid"])
    stems = assign.to_stems(images, weights)
    info = {"mixing": mixing.tolist(), "iterations": int(ica.n_iter_), "converged": converged,
            "pan": feats["pan"].tolist(), "centroid_hz": feats["centroid"].tolist(), "weights": weights.tolist()}
    return stems, info
