"""BSS-Eval API: validation, padding/truncation, framing, quantisation, JSON format, global SDR (no museval runs
except the cheap quantisation/JSON helpers)."""

from __future__ import annotations

import json
import math
from decimal import Decimal

import numpy as np
import pytest

from benchmark.scoring.metrics import bss, frame_medians, global_sdr, to_museval_json

SR = 44100


def _pair(seconds: float = 2.3, targets=("vocals", "drums"), seed: int = 0, channels: int = 2):
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    refs = {t: rng.standard_normal((n, channels)) for t in targets}
    ests = {t: (0.8 * r + 0.1 * rng.standard_normal(r.shape)).astype(np.float32) for t, r in refs.items()}
    return refs, ests


# --------------------------------------------------------------------------------------------------------------
# validation


@pytest.mark.parametrize("backend", ["fast", "sdr-only", "museval"])
def test_missing_and_extra_targets_are_named(backend):
    refs, ests = _pair()
    with pytest.raises(ValueError, match=r"estimate missing for target\(s\) \['drums'\]"):
        bss.bss_eval_track(refs, {"vocals": ests["vocals"]}, backend=backend)
    with pytest.raises(ValueError, match=r"no reference for estimated target\(s\) \['bass'\]"):
        bss.bss_eval_track(refs, {**ests, "bass": ests["vocals"]}, backend=backend)


def test_shape_and_dtype_errors_name_the_target():
    refs, ests = _pair()
    with pytest.raises(ValueError, match=r"estimate 'drums' has 1 channel\(s\), expected 2"):
        bss.bss_eval_track(refs, {**ests, "drums": ests["drums"][:, :1]})
    with pytest.raises(ValueError, match=r"reference 'drums' has shape \(101419, 2\), expected \(101429, 2\)"):
        bss.bss_eval_track({**refs, "drums": refs["drums"][:-10]}, ests)
    with pytest.raises(ValueError, match=r"estimate 'vocals': expected an \(N, channels\) array"):
        bss.bss_eval_track(refs, {**ests, "vocals": ests["vocals"][:, 0]})
    with pytest.raises(ValueError, match="reference 'vocals': expected floating-point"):
        bss.bss_eval_track({**refs, "vocals": (refs["vocals"] * 1000).astype(np.int16)}, ests)
    bad = ests["drums"].copy()
    bad[5, 1] = np.nan
    with pytest.raises(ValueError, match="estimate 'drums' contains NaN or inf"):
        bss.bss_eval_track(refs, {**ests, "drums": bad})
    with pytest.raises(ValueError, match="unknown backend"):
        bss.bss_eval_track(refs, ests, backend="v3")
    with pytest.raises(ValueError, match="win must be a positive integer"):
        bss.bss_eval_track(refs, ests, win=0)


@pytest.mark.parametrize("kind", ["reference", "estimate"])
def test_all_zero_signal_raises_like_museval(kind):
    refs, ests = _pair()
    if kind == "reference":
        refs["drums"] = np.zeros_like(refs["drums"])
    else:
        x = ests["drums"][:, 0]
        ests["drums"] = np.stack([x, -x], axis=1)  # channel sum 0 everywhere: museval's whole-signal check fires
    for backend in ("fast", "sdr-only", "museval"):
        with pytest.raises(ValueError, match=f"{kind} 'drums' is silent over the whole track"):
            bss.bss_eval_track(refs, ests, backend=backend)


def test_museval_itself_raises_for_all_zero_estimate():
    import museval

    refs, ests = _pair(1.2)
    with pytest.raises(ValueError, match="estimated sources"):
        museval.evaluate([refs["vocals"], refs["drums"]], [ests["vocals"], np.zeros_like(ests["drums"])])


def test_cuda_request_without_cuda_is_a_clear_error():
    import torch

    if torch.cuda.is_available():
        pytest.skip("CUDA present")
    refs, ests = _pair(1.1)
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        bss.bss_eval_track(refs, ests, device="cuda")


# --------------------------------------------------------------------------------------------------------------
# padding, truncation, framing


@pytest.mark.parametrize("backend", ["fast", "sdr-only"])
def test_estimates_are_padded_or_truncated_to_the_reference(backend):
    refs, ests = _pair(3.4)
    short = {k: v[:-5000] for k, v in ests.items()}
    padded = {k: np.concatenate([v, np.zeros((5000, 2), v.dtype)]) for k, v in short.items()}
    a = bss.bss_eval_track(refs, short, backend=backend)
    b = bss.bss_eval_track(refs, padded, backend=backend)
    for t in refs:
        for m in a[t]:
            np.testing.assert_array_equal(a[t][m], b[t][m])
    long = {k: np.concatenate([v, np.ones((7000, 2), v.dtype)]) for k, v in ests.items()}
    a = bss.bss_eval_track(refs, long, backend=backend)
    b = bss.bss_eval_track(refs, ests, backend=backend)
    for t in refs:
        for m in a[t]:
            np.testing.assert_array_equal(a[t][m], b[t][m])


def test_frame_count_follows_museval_framing():
    assert bss.n_frames(3 * SR + 44099, SR, SR) == 3
    assert bss.n_frames(SR, SR, SR) == 1
    assert bss.n_frames(1000, SR, SR) == 1  # shorter than a window: one frame over the whole signal
    assert bss.n_frames(4 * SR, SR, SR // 2) == 7
    refs, ests = _pair(0.5)
    res = bss.bss_eval_track(refs, ests, backend="fast")
    assert res["vocals"]["SDR"].shape == (1,)
    sdr = bss.bss_eval_track(refs, ests, backend="sdr-only")
    np.testing.assert_array_equal(res["vocals"]["SDR"], sdr["vocals"]["SDR"])


def test_sdr_closed_form_by_hand():
    refs, ests = _pair(2.5)
    res = bss.bss_eval_track_raw(refs, ests, backend="sdr-only")
    for t in refs:
        s, e = refs[t], ests[t].astype(np.float64)
        for i in range(2):
            fr = slice(i * SR, (i + 1) * SR)
            want = 10 * np.log10(np.sum(s[fr] ** 2) / np.sum((e[fr] - s[fr]) ** 2))
            assert res[t]["SDR"][i] == pytest.approx(want, abs=1e-12)


def test_silent_frame_of_one_target_is_nan_for_all_targets():
    refs, ests = _pair(3.0, targets=("vocals", "drums", "bass"))
    ests["bass"][SR:2 * SR] = 0.0
    for backend in ("fast", "sdr-only"):
        res = bss.bss_eval_track(refs, ests, backend=backend)
        for t in refs:
            for m, v in res[t].items():
                assert np.isnan(v[1]) and not np.isnan(v[[0, 2]]).any(), (backend, t, m)


def test_perfect_estimate_gives_nan_sdr():
    """est == ref in a frame: the closed form's denominator is exactly 0 → +inf → NaN when stored (museval gives
    +inf there too; its ISR/SIR/SAR are ≈ 235-245 dB rounding noise, documented)."""
    refs, ests = _pair(2.0)
    ests["vocals"] = refs["vocals"].copy()
    raw = bss.bss_eval_track_raw(refs, ests, backend="sdr-only")
    assert np.isinf(raw["vocals"]["SDR"]).all()
    assert np.isnan(bss.bss_eval_track(refs, ests, backend="sdr-only")["vocals"]["SDR"]).all()


def test_fast_mono_and_single_target():
    refs, ests = _pair(2.2, targets=("vocals",), channels=1)
    res = bss.bss_eval_track(refs, ests, backend="fast")
    assert set(res["vocals"]) == set(bss.METRICS)
    assert np.isfinite(res["vocals"]["SDR"]).all()


def test_filters_have_museval_layout():
    refs, ests = _pair(1.5, targets=("vocals", "drums", "bass"))
    c, cj = bss.filters(refs, ests)
    assert tuple(c.shape) == (3, 3, 2, 512, 2)
    assert tuple(cj.shape) == (3, 2, 512, 2)


# --------------------------------------------------------------------------------------------------------------
# storage rules and output formats


def test_quantize_matches_museval_trackstore():
    from museval.aggregate import TrackStore

    ts = TrackStore("x")
    values = [1.234565, 1.234575, -0.000005, 2.5e-6, 12.3456789, -3.14159265, 1e-12, np.inf, -np.inf, np.nan,
              0.1 + 0.2, 123456.123455]
    q = bss.quantize(values)
    for v, got in zip(values, q):
        want = ts._q(v)
        if isinstance(want, float) and math.isnan(want) or isinstance(want, Decimal) and want.is_nan():
            assert math.isnan(got)
        else:
            assert got == float(want), v


def test_to_museval_json_format():
    res = {"vocals": {"SDR": np.array([1.5, np.nan]), "ISR": np.array([2.0, 3.0]), "SIR": np.array([4.0, np.inf]),
                      "SAR": np.array([5.0, 6.0])}}
    doc = to_museval_json(res, "Track A")
    assert doc["museval_version"] == "0.4.1" and doc["track"] == "Track A"
    frames = doc["targets"][0]["frames"]
    assert doc["targets"][0]["name"] == "vocals"
    assert frames[0] == {"time": 0.0, "duration": 1.0, "metrics": {"SDR": 1.5, "SIR": 4.0, "SAR": 5.0, "ISR": 2.0}}
    assert list(frames[0]["metrics"]) == ["SDR", "SIR", "SAR", "ISR"]  # museval's key order
    assert frames[1]["time"] == 1.0 and frames[1]["metrics"]["SDR"] is None and frames[1]["metrics"]["SIR"] is None
    json.dumps(doc, allow_nan=False)  # strict JSON


def test_to_museval_json_is_readable_by_museval():
    import jsonschema
    import museval
    from museval.aggregate import json2df

    refs, ests = _pair(2.0)
    res = bss.bss_eval_track(refs, ests, backend="sdr-only")
    full = {t: {m: res[t]["SDR"] for m in bss.METRICS} for t in res}
    df = json2df(to_museval_json(full, "t"), "t")
    assert set(df["target"]) == {"vocals", "drums"} and len(df) == 2 * 2 * 4
    with open(f"{museval.__path__[0]}/musdb.schema.json") as fh:
        schema = json.load(fh)
    jsonschema.validate(to_museval_json(full, "t", nan_as_null=False), schema)
    sdr_only = to_museval_json(res, "t")
    assert list(sdr_only["targets"][0]["frames"][0]["metrics"]) == ["SDR"]


def test_frame_medians_skip_nan():
    res = {"v": {"SDR": np.array([1.0, np.nan, 3.0, 10.0]), "SIR": np.array([np.nan, np.nan])}}
    med = frame_medians(res)
    assert med["v"]["SDR"] == 3.0
    assert math.isnan(med["v"]["SIR"])


# --------------------------------------------------------------------------------------------------------------
# global SDR


def test_global_sdr_mdx_definition():
    rng = np.random.default_rng(4)
    s = rng.standard_normal((SR, 2))
    e = s + 0.1 * rng.standard_normal((SR, 2))
    want = 10 * np.log10((np.sum(s ** 2) + 1e-7) / (np.sum((s - e) ** 2) + 1e-7))
    assert global_sdr(s, e) == pytest.approx(want, abs=1e-12)
    assert global_sdr(s, s) == pytest.approx(10 * np.log10((np.sum(s ** 2) + 1e-7) / 1e-7))
    assert math.isfinite(global_sdr(np.zeros((10, 2)), np.zeros((10, 2))))  # 0 dB: delta / delta
    assert global_sdr(s, e[:-100]) == pytest.approx(global_sdr(s, np.concatenate([e[:-100], np.zeros((100, 2))])))
    with pytest.raises(ValueError, match="channel"):
        global_sdr(s, e[:, :1])


def test_device_agnostic_torch_path_matches_cpu_path(monkeypatch):
    """The branch used on CUDA (torch.fft, einsum, device buffers) run on the CPU must give the CPU path's numbers:
    exercises the GPU code path where no GPU is available."""
    refs, ests = _pair(3.2, targets=("vocals", "drums", "bass"))
    cpu = bss.bss_eval_track_raw(refs, ests, backend="fast")
    orig = bss._Ctx.__init__

    def as_if_cuda(self, *args):
        orig(self, *args)
        self.cpu = False

    monkeypatch.setattr(bss._Ctx, "__init__", as_if_cuda)
    generic = bss.bss_eval_track_raw(refs, ests, backend="fast", frame_chunk=3)
    for t in refs:
        for m in bss.METRICS:
            np.testing.assert_allclose(generic[t][m], cpu[t][m], rtol=0, atol=1e-9)


@pytest.mark.parametrize("backend", ["fast", "sdr-only"])
def test_fft_workers_do_not_change_a_bit(backend, monkeypatch):
    """The CLI runs the FFTs with one pocketfft worker per CPU; the raw (unquantised) values must be bit-identical to
    one worker's, so the command's numbers do not depend on the machine's core count. The workers must really be
    used (the count reaches pocketfft)."""
    from benchmark.scoring.metrics import _pocketfft

    refs, ests = _pair(seconds=3.2, targets=("vocals", "drums", "bass"))
    seen = set()
    real = _pocketfft.rfft

    def spy(*args, **kwargs):
        seen.add(kwargs.get("workers"))
        return real(*args, **kwargs)

    monkeypatch.setattr(_pocketfft, "rfft", spy)
    one = bss.bss_eval_track_raw(refs, ests, backend=backend, win=22050, hop=22050, fft_workers=1)
    three = bss.bss_eval_track_raw(refs, ests, backend=backend, win=22050, hop=22050, fft_workers=3)
    for t in refs:
        for k in one[t]:
            assert one[t][k].tobytes() == three[t][k].tobytes(), (t, k)
    if backend == "fast":
        assert {1, 3} <= seen


def test_fft_workers_must_be_a_positive_count():
    refs, ests = _pair()
    with pytest.raises(ValueError, match="fft_workers must be a positive integer count"):
        bss.bss_eval_track(refs, ests, fft_workers=0)


def test_fast_backend_computes_without_the_numpy_hugepage_hint(monkeypatch):
    """The library call itself (the path `evaluate` takes, not only the CLI) turns NumPy's huge-page hint off while
    it computes, and restores it: the Cholesky copy of the Gram matrix otherwise stalls on memory compaction."""
    from numpy._core.multiarray import _set_madvise_hugepage

    seen = []
    real = bss._solve_cholesky_lapack

    def spy(*args):
        state = _set_madvise_hugepage(True)
        _set_madvise_hugepage(state)
        seen.append(state)
        return real(*args)

    monkeypatch.setattr(bss, "_solve_cholesky_lapack", spy)
    refs, ests = _pair()
    old = _set_madvise_hugepage(True)
    try:
        bss.bss_eval_track(refs, ests)
        after = _set_madvise_hugepage(old)
    finally:
        _set_madvise_hugepage(old)
    assert seen and not any(seen)
    assert after is True


def test_regularised_solve_is_a_cholesky_solve_of_the_shifted_gram_matrix():
    """(G + 1e-12·trace(G)·I) x = b through Cholesky, per system of a batch, bit for bit (the near-singular path)."""
    import torch

    rng = np.random.default_rng(5)
    m = torch.from_numpy(rng.standard_normal((3, 6, 4)))
    a = m.transpose(-1, -2) @ m  # 3 PSD 4x4 Gram matrices
    a[1, :, 3] = a[1, :, 2]
    a[1, 3, :] = a[1, 2, :]  # the second one singular: two identical references
    rhs = torch.from_numpy(rng.standard_normal((3, 4, 2)))
    got = bss._solve_regularised(a, rhs, torch)
    for k in range(3):
        shifted = a[k] + 1e-12 * torch.trace(a[k]) * torch.eye(4, dtype=a.dtype)
        want = torch.cholesky_solve(rhs[k], torch.linalg.cholesky(shifted))
        assert torch.equal(got[k], want), k
    assert torch.equal(a[1, :, 3], a[1, :, 2])  # the input is not modified


def test_lapack_cholesky_solves_and_reports_the_pivot_ratio_of_the_live_rows():
    import torch

    rng = np.random.default_rng(6)
    m = rng.standard_normal((2, 8, 3))
    g = np.einsum("bki,bkj->bij", m, m)
    g[1] *= np.array([1.0, 1e-3, 1.0])[:, None] * np.array([1.0, 1e-3, 1.0])[None, :]  # a weak second reference
    rhs = rng.standard_normal((2, 3, 2))
    live = torch.tensor([[True, True, True], [True, True, False]])
    x, ratio = bss._solve_cholesky_lapack(torch.from_numpy(g), torch.from_numpy(rhs), live, torch)
    np.testing.assert_allclose(x.numpy(), np.linalg.solve(g, rhs), rtol=1e-10)
    piv = np.diagonal(np.linalg.cholesky(g), axis1=1, axis2=2) ** 2  # squared pivots of L
    want = min(piv[0].min() / piv[0].max(), piv[1, :2].min() / piv[1, :2].max())  # the dead row left out
    assert ratio == pytest.approx(want, rel=1e-12) and ratio < 1e-5
    # one system: no batch dimension in, none out
    x1, r1 = bss._solve_cholesky_lapack(torch.from_numpy(g[0]), torch.from_numpy(rhs[0]), live[0], torch)
    assert x1.shape == (3, 2) and r1 == pytest.approx(piv[0].min() / piv[0].max(), rel=1e-12)
    # not positive definite: no solution, ratio 0
    bad = g.copy()
    bad[0, 2, 2] = -1.0
    assert bss._solve_cholesky_lapack(torch.from_numpy(bad), torch.from_numpy(rhs), live, torch) == (None, 0.0)


@pytest.mark.parametrize("as_cuda", [False, True])
def test_ctx_rfft_pads_to_n_and_reuses_out_only_at_length_n(as_cuda):
    import torch

    ctx = bss._Ctx("cpu", 1)
    ctx.cpu = not as_cuda  # the branch used on CUDA, run on the CPU
    x = torch.from_numpy(np.random.default_rng(7).standard_normal((3, 128)))
    out = torch.empty((3, 65), dtype=torch.complex128)
    got = ctx.rfft(x, 128, out=out)
    assert got.data_ptr() == out.data_ptr()  # written into the given buffer
    np.testing.assert_allclose(got.numpy(), np.fft.rfft(x.numpy(), axis=-1), rtol=1e-12, atol=1e-12)
    short = x[:, :100]
    padded = ctx.rfft(short, 128, out=torch.empty((3, 65), dtype=torch.complex128))
    assert padded.shape == (3, 65)
    np.testing.assert_allclose(padded.numpy(), np.fft.rfft(short.numpy(), 128, axis=-1), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ctx.rfft(short, 128).numpy(), np.fft.rfft(short.numpy(), 128, axis=-1), rtol=1e-12,
                               atol=1e-12)


@pytest.mark.parametrize("threads, chunks, most", [(2, 5, 2), (3, 2, 2), (1, 4, 1), (4, 1, 1)])
def test_frame_chunks_run_on_at_most_the_asked_threads(threads, chunks, most):
    import threading
    import time

    ctx = bss._Ctx("cpu", threads)
    bounds = [(10 * i, 10 * i + 10) for i in range(chunks)]
    seen, lock = [], threading.Lock()

    def work(cx, t0, t1):
        time.sleep(0.02)  # long enough that the pool would start a thread per chunk if it were allowed to
        with lock:
            seen.append((threading.get_ident(), cx is ctx, t0, t1))

    bss._run_chunks(ctx, work, bounds)
    assert sorted(s[2:] for s in seen) == bounds  # every chunk once
    idents = {s[0] for s in seen}
    assert len(idents) <= most
    if most == 1:  # in the calling thread, with the call's own context
        assert idents == {threading.get_ident()} and all(s[1] for s in seen)
    else:  # worker threads, each with a sibling context
        assert threading.get_ident() not in idents and not any(s[1] for s in seen)


def test_counts_and_lengths_are_named_with_their_unit():
    refs, ests = _pair(1.0)
    for name, value, what in [("win", 0, "number of samples"), ("hop", -5, "number of samples"),
                              ("hop", 2.5, "number of samples"), ("threads", 0, "count"),
                              ("fft_workers", True, "count")]:
        with pytest.raises(ValueError) as err:
            bss.bss_eval_track(refs, ests, **{name: value})
        assert str(err.value) == f"{name} must be a positive integer {what}, got {value!r}", name


def test_a_one_sample_track_is_scored_and_an_empty_one_refused():
    refs = {"vocals": np.array([[0.5, -0.25]]), "drums": np.array([[0.1, 0.2]])}
    ests = {t: 0.9 * r for t, r in refs.items()}
    bss.prepare_inputs(refs, ests)  # one sample is a track
    with pytest.raises(ValueError) as err:
        bss.prepare_inputs({t: r[:0] for t, r in refs.items()}, ests)
    assert str(err.value) == "reference 'vocals' is empty (0 samples)"


@pytest.mark.parametrize("channels", [1, 2, 3, 5])
def test_channel_sum_adds_every_channel_left_to_right(channels):
    a = np.random.default_rng(channels).standard_normal((50, channels)).astype(np.float32)
    want = a[:, 0].copy()
    for c in range(1, channels):
        want = want + a[:, c]
    got = bss._channel_sum(a)
    assert got.dtype == np.float32 and np.array_equal(got, want)
    assert np.shares_memory(got, a) is False
