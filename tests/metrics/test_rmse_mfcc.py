"""RMSE-MFCC / MAE semantics (protocol §6)."""

from __future__ import annotations

import librosa
import numpy as np
import pytest

from benchmark.scoring.metrics import RMSE_MFCC_KEYS, rmse_mfcc
from benchmark.scoring.metrics import mfcc as M

SR = 44100


def sklearn_rmse(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """scikit-learn ``root_mean_squared_error`` (multioutput="uniform_average") re-implemented from its source:
    per-output (column) RMSE over samples (rows), then the unweighted mean over outputs."""
    output_errors = np.sqrt(np.average((y_true - y_pred) ** 2, axis=0))
    return float(np.average(output_errors))


def sklearn_mae(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    output_errors = np.average(np.abs(y_pred - y_true), axis=0)
    return float(np.average(output_errors))


@pytest.fixture(scope="module")
def pair():
    rng = np.random.default_rng(0)
    n = 3 * SR + 777
    t = np.arange(n) / SR
    ref = np.stack([0.3 * np.sin(2 * np.pi * 440 * t), 0.2 * np.sin(2 * np.pi * 660 * t)], axis=1)
    ref += 0.01 * rng.standard_normal((n, 2))
    est = 0.7 * ref + 0.02 * rng.standard_normal((n, 2))
    est[: SR // 2, 1] *= 0.1  # make the channels differ
    return ref.astype(np.float32), est.astype(np.float32)


def test_keys_types_and_zero_for_identical(pair):
    ref, est = pair
    res = rmse_mfcc(ref, est)
    assert tuple(res) == RMSE_MFCC_KEYS
    assert all(type(v) is float for v in res.values())
    assert all(v > 0 for v in res.values())
    same = rmse_mfcc(ref, ref)
    assert all(v == 0.0 for v in same.values())


def test_mfcc_call_matches_protocol(pair):
    ref, _ = pair
    m = M.mfcc(ref[:, 0])
    want = librosa.feature.mfcc(y=ref[:, 0], sr=SR, n_mfcc=13, n_mels=128, n_fft=4096, hop_length=2048,
                                pad_mode="reflect")
    np.testing.assert_array_equal(m, want)
    assert m.shape == (13, 1 + len(ref) // 2048)
    assert m.dtype == np.float32
    # the librosa >= 0.9 default (zero padding) differs in the first and last frames only
    const = librosa.feature.mfcc(y=ref[:, 0], sr=SR, n_mfcc=13, n_mels=128, n_fft=4096, hop_length=2048)
    differs = np.flatnonzero(np.any(np.abs(const - m) > 1e-3, axis=0))
    assert set(differs) <= {0, 1, m.shape[1] - 2, m.shape[1] - 1} and len(differs) > 0


def test_per_frame_rmse_then_mean_semantics(pair):
    ref, est = pair
    res = rmse_mfcc(ref, est)
    m_ref, m_est = M.stereo_mfcc(ref), M.stereo_mfcc(est)
    assert m_ref.shape[0] == 26
    explicit = np.mean(np.sqrt(np.mean((m_ref.astype(np.float64) - m_est) ** 2, axis=0)))
    assert res["mfcc_rmse"] == pytest.approx(explicit, rel=1e-6)
    assert res["mfcc_rmse"] == sklearn_rmse(m_ref, m_est)
    left = sklearn_rmse(M.mfcc(ref[:, 0]), M.mfcc(est[:, 0]))
    right = sklearn_rmse(M.mfcc(ref[:, 1]), M.mfcc(est[:, 1]))
    assert (res["mfcc_rmse_left"], res["mfcc_rmse_right"]) == (left, right)
    glob = np.sqrt(np.mean((m_ref.astype(np.float64) - m_est) ** 2))
    assert abs(glob - res["mfcc_rmse"]) > 1e-3 * glob  # not the global RMSE


def test_rmse_semantics_on_a_matrix_where_global_rmse_differs():
    a = np.zeros((26, 4))
    b = np.zeros((26, 4))
    b[:, 0] = 3.0  # one frame with a large error, three perfect frames
    b[0, 1] = 2.0
    per_frame = M.rmse_per_frame_mean(a, b)
    assert per_frame == pytest.approx((3.0 + np.sqrt(4.0 / 26)) / 4)
    assert per_frame == sklearn_rmse(a, b)
    assert np.sqrt(np.mean((a - b) ** 2)) == pytest.approx(np.sqrt((26 * 9 + 4) / 104))  # 1.513 vs 0.846


def test_mae_definitions(pair):
    ref, est = pair
    res = rmse_mfcc(ref, est)
    d = np.abs(ref.astype(np.float64) - est)
    # float32 arithmetic like scikit-learn on float32 inputs: ≈ 1e-5 relative from a float64 evaluation
    assert res["mae"] == pytest.approx(d.mean(), rel=2e-5)
    assert res["mae_left"] == pytest.approx(d[:, 0].mean(), rel=2e-5)
    assert res["mae_right"] == pytest.approx(d[:, 1].mean(), rel=2e-5)
    assert res["mae"] == sklearn_mae(ref, est)
    assert res["mae_left"] == sklearn_mae(ref[:, :1], est[:, :1])


def test_against_scikit_learn_if_installed(pair):
    metrics = pytest.importorskip("sklearn.metrics")
    ref, est = pair
    res = rmse_mfcc(ref, est)
    m_ref, m_est = M.stereo_mfcc(ref), M.stereo_mfcc(est)
    assert res["mfcc_rmse"] == pytest.approx(metrics.root_mean_squared_error(m_ref, m_est), rel=1e-6)
    assert res["mae"] == pytest.approx(metrics.mean_absolute_error(ref, est), rel=1e-6)


def test_reference_loss_is_the_same_function(pair):
    """Reference loss = RMSE-MFCC between the model input A and the target A' — no special code."""
    target, model_input = pair
    assert rmse_mfcc(target, model_input) == rmse_mfcc(target, model_input.copy())


def test_input_errors(pair):
    ref, est = pair
    with pytest.raises(ValueError, match=r"estimate must be an \(N, 2\) stereo array"):
        rmse_mfcc(ref, est[:, :1])
    with pytest.raises(ValueError, match="same length"):
        rmse_mfcc(ref, est[:-1])
    with pytest.raises(ValueError, match="sample rate 22050 Hz, expected 44100"):
        rmse_mfcc(ref, est, sr=22050)
    with pytest.raises(ValueError, match="NaN or inf"):
        bad = est.copy()
        bad[0, 0] = np.inf
        rmse_mfcc(ref, bad)


@pytest.mark.parametrize("which", ["reference", "estimate"])
def test_input_errors_name_the_argument(pair, which):
    ref, est = pair

    def call(**bad):
        args = {"reference": ref, "estimate": est, **bad}
        with pytest.raises(ValueError) as err:
            rmse_mfcc(args["reference"], args["estimate"])
        return str(err.value)

    assert call(**{which: np.zeros((0, 2), np.float32)}) == f"rmse_mfcc: {which} is empty"
    assert call(**{which: ref[:, :1]}) == f"rmse_mfcc: {which} must be an (N, 2) stereo array, got shape " \
        f"({len(ref)}, 1)"
    assert call(**{which: np.zeros((10, 2, 1))}) == f"rmse_mfcc: {which} must be an (N, 2) stereo array, got " \
        f"shape (10, 2, 1)"
    assert call(**{which: np.zeros(ref.shape, np.int16)}) == f"rmse_mfcc: {which} must hold floating-point " \
        f"samples, got dtype int16"
    nan = np.array(ref, np.float64)
    nan[5, 1] = np.nan
    assert call(**{which: nan}) == f"rmse_mfcc: {which} contains NaN or inf samples"
    other = est[:-3] if which == "estimate" else ref[:-3]
    assert call(**{which: other}) == ("rmse_mfcc: estimate has shape " + (
        f"({len(est) - 3}, 2), expected {ref.shape}" if which == "estimate" else f"{est.shape}, expected "
        f"({len(ref) - 3}, 2)") + " (same length as the reference; the protocol compares equal-length signals)")
