"""RMSE-MFCC and time-domain MAE of the AMSS evaluation (protocol §6; AMSS repo ``task2_eval.py``).

Per channel (float32): ``librosa.feature.mfcc(y=x, sr=44100, n_mfcc=13, n_mels=128, n_fft=4096, hop_length=2048,
pad_mode="reflect")`` → 13 × T with T = 1 + floor(N / 2048). Stereo: the L and R matrices are stacked vertically
(26 × T). The error is computed exactly like scikit-learn's ``mean_squared_error(M, M̂, squared=False)`` (now
``root_mean_squared_error``) on those matrices, i.e. rows (coefficients) are *samples* and columns (frames) are
*outputs*: RMSE over the 26 coefficients of each frame, then the mean over frames::

    RMSE-MFCC = (1/T) Σ_t sqrt( (1/26) Σ_k (M[k, t] − M̂[k, t])² )

which is **not** the global RMSE over all entries. ``mfcc_rmse_left``/``_right`` apply the same formula to the
13 × T matrix of one channel; ``mae`` is the mean absolute sample difference over both channels (scikit-learn's
per-column average equals the global mean here), ``mae_left``/``_right`` per channel. The arithmetic (float32
MFCCs, NumPy means) mirrors scikit-learn's.

The *reference loss* of a task is this same function applied to (target A', model input A) — no special code.
"""

from __future__ import annotations

import numpy as np

SR = 44100
N_MFCC = 13
N_MELS = 128
N_FFT = 4096
HOP_LENGTH = 2048
PAD_MODE = "reflect"
KEYS = ("mfcc_rmse", "mfcc_rmse_left", "mfcc_rmse_right", "mae", "mae_left", "mae_right")


def mfcc(x: np.ndarray, sr: int = SR) -> np.ndarray:
    """13 × T MFCC matrix of one channel, protocol §6.2 (float32 in, float32 out)."""
    import librosa

    x = np.ascontiguousarray(x, dtype=np.float32)
    return librosa.feature.mfcc(y=x, sr=sr, n_mfcc=N_MFCC, n_mels=N_MELS, n_fft=N_FFT, hop_length=HOP_LENGTH,
                                pad_mode=PAD_MODE)


def stereo_mfcc(audio: np.ndarray, sr: int = SR) -> np.ndarray:
    """26 × T matrix [MFCC_L; MFCC_R] of an (N, 2) signal."""
    return np.concatenate([mfcc(audio[:, 0], sr), mfcc(audio[:, 1], sr)], axis=0)


def rmse_per_frame_mean(m_ref: np.ndarray, m_est: np.ndarray) -> float:
    """scikit-learn's RMSE with rows as samples and columns as outputs: mean over columns of the per-column RMSE."""
    err = np.sqrt(np.average((m_ref - m_est) ** 2, axis=0))
    return float(np.average(err))


def _check(reference: np.ndarray, estimate: np.ndarray, sr: int) -> tuple[np.ndarray, np.ndarray]:
    ref = np.asarray(reference)
    est = np.asarray(estimate)
    if sr != SR:
        raise ValueError(f"rmse_mfcc: sample rate {sr} Hz, expected {SR} Hz (the protocol's MFCC settings assume it)")
    for name, a in (("reference", ref), ("estimate", est)):
        if a.ndim != 2 or a.shape[1] != 2:
            raise ValueError(f"rmse_mfcc: {name} must be an (N, 2) stereo array, got shape {a.shape}")
        if not np.issubdtype(a.dtype, np.floating):
            raise ValueError(f"rmse_mfcc: {name} must hold floating-point samples, got dtype {a.dtype}")
        if a.shape[0] == 0:
            raise ValueError(f"rmse_mfcc: {name} is empty")
        if not np.all(np.isfinite(a)):
            raise ValueError(f"rmse_mfcc: {name} contains NaN or inf samples")
    if ref.shape != est.shape:
        raise ValueError(f"rmse_mfcc: estimate has shape {est.shape}, expected {ref.shape} (same length as the "
                         f"reference; the protocol compares equal-length signals)")
    return ref.astype(np.float32, copy=False), est.astype(np.float32, copy=False)


def rmse_mfcc(reference: np.ndarray, estimate: np.ndarray, *, sr: int = SR) -> dict[str, float]:
    """RMSE-MFCC and MAE between a target A' (``reference``) and an output Â' (``estimate``), both (N, 2).

    Returns exactly the keys ``mfcc_rmse`` (the Table 5.3 number), ``mfcc_rmse_left``, ``mfcc_rmse_right``, ``mae``,
    ``mae_left``, ``mae_right`` as Python floats. Inputs are cast to float32 (the reference pipeline's dtype) before
    the MFCCs and the MAE are computed.
    """
    ref, est = _check(reference, estimate, sr)
    m_ref_l, m_ref_r = mfcc(ref[:, 0], sr), mfcc(ref[:, 1], sr)
    m_est_l, m_est_r = mfcc(est[:, 0], sr), mfcc(est[:, 1], sr)
    m_ref = np.concatenate([m_ref_l, m_ref_r], axis=0)
    m_est = np.concatenate([m_est_l, m_est_r], axis=0)
    abs_err = np.abs(ref - est)  # float32, like scikit-learn on float32 inputs
    per_chan = np.average(abs_err, axis=0)
    return {
        "mfcc_rmse": rmse_per_frame_mean(m_ref, m_est),
        "mfcc_rmse_left": rmse_per_frame_mean(m_ref_l, m_est_l),
        "mfcc_rmse_right": rmse_per_frame_mean(m_ref_r, m_est_r),
        "mae": float(np.average(per_chan)),
        "mae_left": float(np.average(abs_err[:, 0])),
        "mae_right": float(np.average(abs_err[:, 1])),
    }
