"""BSS-Eval v4 ("images", time-invariant 512-tap distortion filters) exactly as museval 0.4.1 computes it.

Three back-ends share one validation and one output format (protocol §5):

``"museval"``
    the official path: ``museval.evaluate(refs, ests, win, hop, mode="v4")`` on the validated arrays.
``"fast"``
    a vectorised PyTorch float64 re-implementation of museval's ``bss_eval`` for ``framewise_filters=False``,
    ``compute_permutation=False``, ``bsseval_sources_version=False`` (CPU or CUDA). Same mathematics and the same
    linear systems (normal equations ``(G + eps I) C = D``), organised differently:

    * the lag-0..511 correlations of all reference and estimate channels are accumulated over overlapping
      8192-sample blocks in the frequency domain (one batched complex GEMM per chunk of blocks, one inverse FFT at
      the end) instead of museval's 36 + 4·8 full-length FFTs of size 2^ceil(log2(N + 511));
    * the (nsrc·nchan·512)² Gram system is factorised once for all estimates (museval re-solves it per estimate)
      and the per-target systems are solved as one batch (Cholesky by default, LU = numpy.linalg.solve's algorithm
      on request);
    * per frame, references and estimates are zero-padded to a fast FFT length ≥ win + 511, so each projection of
      the frame-limited references is an exact linear convolution = a product of spectra; every energy museval
      sums in the time domain comes from the spectra by Parseval's theorem, without inverse FFTs and without Python
      loops over samples, sources or channels;
    * SDR uses the exact time-domain closed form of protocol §5.1 (SDR_t = 10 log10(Σ s² / Σ (ŝ − s)²)).

    Numerically singular reference Gram matrices (exactly mono/proportional channels, dependent references) are
    the one place where museval's ISR/SIR/SAR are rounding noise; there the fast back-end warns
    (:class:`NearSingularWarning`) and returns the well-defined regularised projection (docs/metrics.md).
``"sdr-only"``
    only that closed form; the result dict holds just ``"SDR"`` per target (ISR/SIR/SAR are not computed and
    are *omitted*, not NaN-filled, so they can never be mistaken for silent frames).

Every back-end returns ``{target: {metric: np.ndarray (frames,)}}`` with museval's storage rules applied:
±inf → NaN, every value quantised to 5 decimals exactly like ``museval.aggregate.TrackStore._q`` (decimal
``quantize``, round-half-even on the exact binary value).
"""

from __future__ import annotations

import contextlib
import math
import warnings
from decimal import Decimal
from typing import Mapping

import numpy as np

METRICS = ("SDR", "ISR", "SIR", "SAR")
"""Metric names in the order of museval's ``evaluate`` return value."""

JSON_METRIC_ORDER = ("SDR", "SIR", "SAR", "ISR")
"""Key order inside a museval JSON frame (``TrackStore.add_target``)."""

BACKENDS = ("fast", "museval", "sdr-only")
FILTERS_LEN = 512
MUSEVAL_VERSION = "0.4.1"
_EPS = float(np.finfo(float).eps)  # museval adds eps * I to the Gram matrix before solving
_QUANT = Decimal(".00001")
_NEAR_SINGULAR = 1e-14


class NearSingularWarning(RuntimeWarning):
    """The reference Gram matrix of a track is numerically singular: museval's ISR/SIR/SAR are rounding noise for
    it, and the fast back-end switches to a scale-aware regularised (well-defined) projection."""


# --------------------------------------------------------------------------------------------------------------
# validation shared by every back-end


def _check_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or int(value) <= 0:
        what = "number of samples" if name in ("win", "hop") else "count"
        raise ValueError(f"{name} must be a positive integer {what}, got {value!r}")
    return int(value)


def prepare_inputs(references: Mapping[str, np.ndarray], estimates: Mapping[str, np.ndarray]):
    """Validate and reconcile a track's references and estimates the way museval does.

    Returns ``(targets, refs, ests, active)``: target names (in the order of ``references``), lists of (N, C)
    arrays, and per array (references then estimates) the boolean "channel sum != 0" per sample; the estimates are zero-padded at the end or truncated to the reference length N (museval ``pad_or_truncate``).
    Raises ``ValueError`` naming the target for: missing/extra targets, non-2-D arrays, channel mismatches,
    references of different lengths, non-finite samples, and all-zero references/estimates (museval's
    whole-signal check: the channel sum is 0 for every sample).
    """
    if not isinstance(references, Mapping) or not isinstance(estimates, Mapping):
        raise TypeError("references and estimates must be dicts {target: (N, channels) array}")
    targets = list(references)
    if not targets:
        raise ValueError("no references given")
    missing = [t for t in targets if t not in estimates]
    extra = [t for t in estimates if t not in references]
    if missing:
        raise ValueError(f"estimate missing for target(s) {missing}; expected one estimate per reference "
                         f"({targets})")
    if extra:
        raise ValueError(f"no reference for estimated target(s) {extra}; references are {targets}")

    refs, ests = [], []
    n_ref = n_chan = None
    for t in targets:
        r = np.asarray(references[t])
        e = np.asarray(estimates[t])
        for kind, a in (("reference", r), ("estimate", e)):
            if a.ndim != 2:
                raise ValueError(f"{kind} '{t}': expected an (N, channels) array, got shape {a.shape}")
            if not np.issubdtype(a.dtype, np.floating):
                raise ValueError(f"{kind} '{t}': expected floating-point audio samples, got dtype {a.dtype} "
                                 f"(read WAV files as float32/float64)")
        if n_ref is None:
            n_ref, n_chan = r.shape
            if n_ref == 0:
                raise ValueError(f"reference '{t}' is empty (0 samples)")
        if r.shape != (n_ref, n_chan):
            raise ValueError(f"reference '{t}' has shape {r.shape}, expected ({n_ref}, {n_chan}) like reference "
                             f"'{targets[0]}' (all references of a track must have the same length and channels)")
        if e.shape[1] != n_chan:
            raise ValueError(f"estimate '{t}' has {e.shape[1]} channel(s), expected {n_chan} (as its reference)")
        # museval.pad_or_truncate
        if e.shape[0] > n_ref:
            e = e[:n_ref]
        elif e.shape[0] < n_ref:
            e = np.pad(e, [(0, n_ref - e.shape[0]), (0, 0)], mode="constant")
        refs.append(r)
        ests.append(e)
    active = []
    for i, a in enumerate(refs + ests):
        s = _channel_sum(a)
        if not np.isfinite(np.sum(s, dtype=np.float64)) and not np.all(np.isfinite(a)):
            kind = "reference" if i < len(refs) else "estimate"
            raise ValueError(f"{kind} '{targets[i % len(refs)]}' contains NaN or inf samples")
        active.append(s != 0)
    for i, act in enumerate(active):
        if not act.any():
            kind = "reference" if i < len(refs) else "estimate"
            t = targets[i % len(refs)]
            raise ValueError(
                f"{kind} '{t}' is silent over the whole track (its channel sum is 0 for every sample); museval "
                f"cannot score it (an all-zero {kind} makes the BSS-Eval decomposition ill-posed)")
    return targets, refs, ests, active


def _channel_sum(a: np.ndarray) -> np.ndarray:
    """Per-sample channel sum in the array's own dtype, left to right — museval's ``np.sum(sources, axis=2)`` for a
    few channels (``_any_source_silent``): a sample is silent when this is exactly 0."""
    if a.shape[1] == 1:
        return a[:, 0].copy()
    s = np.add(a[:, 0], a[:, 1])  # one pass instead of a copy and an in-place add: the same left-to-right sums
    for c in range(2, a.shape[1]):
        s += a[:, c]
    return s


def n_frames(n_samples: int, win: int, hop: int) -> int:
    """museval ``Framing.nwin``: floor((N - win + hop) / hop) if win < N else 1."""
    if win < n_samples:
        return int(np.floor((n_samples - win + hop) / hop))
    return 1


def _frame_bounds(n_samples: int, win: int, hop: int):
    nwin = n_frames(n_samples, win, hop)
    flen = min(win, n_samples)
    return nwin, flen


def _silent_frames(active, n_samples: int, win: int, hop: int) -> np.ndarray:
    """Boolean (frames,): True where any signal is silent in the frame (channel sum exactly 0 on every sample of
    the frame) — museval's per-frame ``_any_source_silent`` on references and estimates."""
    nwin, flen = _frame_bounds(n_samples, win, hop)
    out = np.zeros(nwin, dtype=bool)
    for act in active:
        if hop == flen:
            out |= ~act[: nwin * flen].reshape(nwin, flen).any(axis=1)
        else:
            cs = np.concatenate(([0], np.cumsum(act, dtype=np.int64)))
            starts = np.arange(nwin, dtype=np.int64) * hop
            out |= (cs[starts + flen] - cs[starts]) == 0
    return out


# --------------------------------------------------------------------------------------------------------------
# output rules


def quantize(values) -> np.ndarray:
    """museval ``TrackStore._q`` on an array: ±inf → NaN, else Decimal quantize to 5 decimals (round-half-even of
    the exact binary value), returned as float64."""
    arr = np.asarray(values, dtype=np.float64)
    out = np.empty(arr.shape, dtype=np.float64)
    flat_in, flat_out = arr.reshape(-1), out.reshape(-1)
    for i, v in enumerate(flat_in.tolist()):
        if math.isinf(v) or math.isnan(v):
            flat_out[i] = math.nan
        else:
            flat_out[i] = float(Decimal(v).quantize(_QUANT))
    return out


def _safe_db(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """museval ``_safe_db`` elementwise: den == 0 → +inf, else 10 log10(num / den) (num == 0 → -inf)."""
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        val = 10.0 * np.log10(num / np.where(den == 0, 1.0, den))
    return np.where(den == 0, np.inf, val)


# --------------------------------------------------------------------------------------------------------------
# compute context


def _torch():
    import torch

    return torch


def _r2c():
    """SciPy's pocketfft ``r2c`` with an output argument, or None (SciPy is pinned; an internal API, so it is
    checked once — :mod:`benchmark.scoring.metrics._pocketfft` — and the callers fall back to ``scipy.fft.rfft`` if it
    ever changes)."""
    from benchmark.scoring.metrics import _pocketfft

    b = _pocketfft.binding()
    return None if b is None else b.r2c


class _Ctx:
    """Per-call compute settings: torch module, device, CPU thread count.

    On CPU the FFTs go through SciPy's pocketfft (:mod:`benchmark.scoring.metrics._pocketfft`) on zero-copy NumPy views
    of the torch tensors — on the reference 2-vCPU VM it is ≈ 1.7-3× faster than ``torch.fft`` for these sizes;
    float64 either way. On CUDA everything is ``torch``.
    """

    def __init__(self, device, threads: int | None, fft_workers: int | None = None):
        torch = _torch()
        self.torch = torch
        self.device = torch.device(device)
        self.cpu = self.device.type == "cpu"
        # pocketfft worker threads: each 1-D transform is computed whole by one worker, so any count gives the same
        # bits; unlike torch's OpenMP threads they do not spin, so they do not stall on a busy machine
        self.threads = fft_workers or threads
        self._bufs: dict = {}
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(f"device {device!r} requested but CUDA is not available")

    @classmethod
    def sibling(cls, ctx: "_Ctx") -> "_Ctx":
        """Same module and device, its own buffers, one FFT worker (for one of :func:`_run_chunks`' threads)."""
        cx = cls.__new__(cls)
        cx.torch, cx.device, cx.cpu, cx.threads, cx._bufs = ctx.torch, ctx.device, ctx.cpu, 1, {}
        return cx

    def rfft(self, x, n: int, out=None):
        """Real FFT along the last dimension, zero-padded to ``n``; ``out`` (complex128, CPU or device) is reused
        when given and ``x`` already has length ``n`` (avoids fresh large allocations: on the reference VM page
        faults of freshly mapped memory cost as much as the FFTs themselves)."""
        if self.cpu:
            if out is not None and x.shape[-1] == n and _r2c() is not None:
                _r2c()(x.numpy(), (x.dim() - 1,), True, 0, out.numpy(), self.threads or 1)
                return out
            from benchmark.scoring.metrics import _pocketfft

            return self.torch.from_numpy(_pocketfft.rfft(x.numpy(), n, axis=-1, workers=self.threads or 1))
        if out is not None and x.shape[-1] == n:
            return self.torch.fft.rfft(x, dim=-1, out=out)
        return self.torch.fft.rfft(x, n=n, dim=-1)

    def irfft0(self, x, n: int):
        """Inverse real FFT along dim 0."""
        if self.cpu:
            from benchmark.scoring.metrics import _pocketfft

            return self.torch.from_numpy(_pocketfft.irfft(x.numpy(), n, axis=0))
        return self.torch.fft.irfft(x, n=n, dim=0)

    def gather(self, arrs, start: int, stop: int):
        """(len(arrs) · C, stop − start) float64 tensor of samples [start, stop), zero outside [0, N); channel
        index = array index · C + channel (museval's source-major order)."""
        n, c = arrs[0].shape
        out = self._buffer(("gather", len(arrs), c, stop - start), np.float64)
        a, b = max(start, 0), min(stop, n)
        out[:, :, : max(0, min(a, stop) - start)] = 0.0
        out[:, :, max(0, b - start):] = 0.0
        if b > a:
            for i, x in enumerate(arrs):
                out[i, :, a - start:b - start] = x[a:b].T
        t = self.torch.from_numpy(out.reshape(len(arrs) * c, stop - start))
        return t if self.cpu else t.to(self.device)

    def frames(self, arrs, t0: int, t1: int, hop: int, flen: int, m: int):
        """(len(arrs) · C, t1 − t0, m) float64 tensor: frame t = samples [t·hop, t·hop + flen) zero-padded to m
        (frames never extend past N: museval drops the trailing partial frame)."""
        c = arrs[0].shape[1]
        out = self._buffer(("frames", len(arrs), c, t1 - t0, m), np.float64)  # tail [flen, m) stays zero
        for k, t in enumerate(range(t0, t1)):
            for i, x in enumerate(arrs):
                out[i, :, k, :flen] = x[t * hop:t * hop + flen].T
        tt = self.torch.from_numpy(out.reshape(len(arrs) * c, t1 - t0, m))
        return tt if self.cpu else tt.to(self.device)

    def rfft_kmajor(self, x, name: str, conj: bool = False):
        """rfft of ``x`` (C, B, m) along the last dim (its complex conjugate if ``conj``), returned frequency-major
        (K, C, B) contiguous. On CPU pocketfft writes straight into the transposed layout (no separate permute copy
        of the complex data); the conjugate is the backward-sign transform of the real input."""
        c, nb, m = x.shape
        kb = m // 2 + 1
        if self.cpu and _r2c() is not None:
            out = self._buffer((name, kb, c, nb), np.complex128)
            _r2c()(x.numpy(), (2,), not conj, 0, out.transpose(1, 2, 0), self.threads or 1)
            return self.torch.from_numpy(out)
        f = self.torch.fft.rfft(x, dim=-1)
        return (f.conj() if conj else f).permute(2, 0, 1).resolve_conj().contiguous()

    def zero_buffer(self, key):
        """Reusable zero-initialised float64 tensor of shape key[1:] (callers only overwrite a fixed region)."""
        if self.cpu:
            return self.torch.from_numpy(self._buffer(key, np.float64))
        t = self._bufs.get(key)
        if t is None:
            t = self._bufs[key] = self.torch.zeros(key[1:], dtype=self.torch.float64, device=self.device)
        return t

    def complex_buffer(self, key):
        """Reusable complex128 tensor of shape key[1:] (contents undefined)."""
        t = self._bufs.get(key)
        if t is None:
            t = self.torch.empty(key[1:], dtype=self.torch.complex128, device=self.device)
            self._bufs[key] = t
        return t

    def spectrum_buffer(self, shape):
        """Reusable complex128 output buffer for :meth:`rfft` (CPU; None on CUDA)."""
        if not self.cpu:
            return None
        return self.torch.from_numpy(self._buffer(("spec",) + tuple(shape), np.complex128))

    def _buffer(self, key, dtype):
        """Zero-initialised buffer reused across chunks of the same shape (one call's lifetime)."""
        buf = self._bufs.get(key)
        if buf is None:
            shape = key[1:]
            buf = np.zeros(shape, dtype=dtype)
            self._bufs[key] = buf
        return buf


@contextlib.contextmanager
def no_numpy_hugepages():
    """NumPy madvises every array of >= 4 MB for transparent huge pages (Linux). With the kernel's usual
    ``defrag=madvise`` the first touch of such an array may compact memory synchronously: on the reference VM the
    128-MB copy SciPy's ``cho_factor`` makes of the 4 096-unknown Gram matrix made the factorisation take 2.5-3.8 s
    instead of ≈ 1 s in the first calls of a process, and faulting in a 150-s track's buffers cost 1-2 s more system
    time (docs/performance.md). Off while the fast back-ends compute, then restored; memory layout only, no
    effect on any value."""
    try:
        from numpy._core.multiarray import _set_madvise_hugepage
    except ImportError:  # pragma: no cover - NumPy < 2 or a future rename: keep NumPy's default
        yield
        return
    old = _set_madvise_hugepage(False)
    try:
        yield
    finally:
        _set_madvise_hugepage(old)


@contextlib.contextmanager
def _torch_threads(torch, n: int | None, on_cpu: bool):
    if not on_cpu or n is None:
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def _frame_time_energies(x, p: int, nsrc: int, c: int, torch):
    """Σ s² and Σ (ŝ − s)² over samples and channels for frames ``x`` (2P, T, flen) (references then estimates):
    two (nsrc, T) tensors — the exact time-domain terms of the SDR closed form (shared by ``fast`` and
    ``sdr-only``, so both give bit-identical SDR)."""
    nt = x.shape[1]
    xr = x[:p]
    d = x[p:] - xr
    e_s = torch.linalg.vecdot(xr, xr).reshape(nsrc, c, nt).sum(1)
    e_d = torch.linalg.vecdot(d, d).reshape(nsrc, c, nt).sum(1)
    return e_s, e_d


# --------------------------------------------------------------------------------------------------------------
# fast BSS-Eval v4: whole-track correlations and the time-invariant filters


def _correlations(ctx, sigs, p: int, n: int, L: int = FILTERS_LEN, block_fft: int = 8192,
                  max_block_samples: int = 1 << 17):
    """Whole-track lag-0..L-1 correlations R (L, 2P, P), R[l, x, y] = Σ_n X_x[n + l] · Y_y[n] (linear, not
    circular — what museval gets from its zero-padded 2^ceil(log2(N + L − 1)) FFTs), X = all channels of ``sigs``
    (references then estimates), Y = the first ``p`` (reference) channels.

    Overlapping-segment block method: X segments [k b, k b + M) against Y blocks [k b, (k + 1) b), b = M − L + 1,
    so no circular wrap-around reaches lags < L; the cross spectra are summed over blocks with one batched complex
    GEMM per chunk of blocks (frequency = batch, blocks = inner dimension) and inverted once at the end.
    """
    torch = ctx.torch
    m = block_fft
    while m < 2 * L:
        m *= 2
    b = m - (L - 1)
    kb = m // 2 + 1
    nblocks = -(-n // b)
    per_chunk = max(1, max_block_samples // b)
    acc = None
    for k0 in range(0, nblocks, per_chunk):
        k1 = min(nblocks, k0 + per_chunk)
        nb = k1 - k0
        x = ctx.gather(sigs, k0 * b, (k1 - 1) * b + m)
        xs = x.unfold(-1, m, b)  # (2P, nb, m) overlapping view, no copy
        ys = ctx.zero_buffer(("yblocks", p, nb, m))  # Y blocks [k b, (k + 1) b), zero tail
        ys[..., :b] = xs[:p, :, :b]
        xf = ctx.rfft_kmajor(xs, "xf")  # (K, 2P, nb)
        yc = ctx.rfft_kmajor(ys, "yf", conj=True)  # (K, P, nb), conj(Y)
        if acc is None:
            acc = torch.zeros((kb, xf.shape[1], p), dtype=xf.dtype, device=xf.device)
        acc.baddbmm_(xf, yc.mT)  # Σ_b X conj(Y)
        del x, xs, ys, xf, yc
    return ctx.irfft0(acc, m)[:L]


def _build_gram(rref, torch):
    """(P·L, P·L) Gram matrix in museval's ``_reshape_G`` layout, G[(p, a), (q, b)] = <delay_a s_p, delay_b s_q>
    = R_pq(b − a) for b ≥ a, R_qp(a − b) otherwise; exactly symmetric like museval's (which stores ss and ss.T)."""
    L, p, _ = rref.shape
    r = rref.permute(1, 2, 0)  # r[p, q, l] = Σ s_p[n + l] s_q[n]
    r0 = 0.5 * (r[:, :, 0] + r[:, :, 0].T)
    # v[p, q, L - 1 + k] = entry for b - a = k, k in [-(L - 1), L - 1]
    v = torch.cat([r.transpose(0, 1)[:, :, 1:].flip(-1), r0.unsqueeze(-1), r[:, :, 1:]], dim=-1).contiguous()
    g = torch.empty((p, L, p, L), dtype=rref.dtype, device=rref.device)
    for a in range(L):
        g[:, a] = v[:, :, L - 1 - a:2 * L - 1 - a]
    return g.reshape(p * L, p * L)


def _solve(a, rhs, torch, solver: str):
    """Solve the symmetric Gram system(s) ``a`` x = rhs (``a`` already holds museval's ``+ eps I``).

    ``solver="cholesky"`` (default) or ``"lu"`` (LU with partial pivoting, the algorithm of museval's
    ``np.linalg.solve``). Returns ``(x, pivot_ratio)``, pivot_ratio = min/max pivot (Cholesky: squared diagonal
    ratio), 0.0 when the factorisation broke down (``x`` is None then). Rows of exactly-zero channels (diagonal =
    eps: a silent channel, e.g. a hard-panned stem) are left out of the ratio: museval's eps·I solves them exactly
    (zero filter taps), so they make nothing rounding-dependent.
    """
    diag = torch.diagonal(a, dim1=-2, dim2=-1)
    live = diag > 4 * _EPS
    if solver == "cholesky" and a.device.type == "cpu":
        return _solve_cholesky_lapack(a, rhs, live, torch)
    if solver == "cholesky":
        fac, info = torch.linalg.cholesky_ex(a)
        if bool((info != 0).any()):
            return None, 0.0
        piv = torch.diagonal(fac, dim1=-2, dim2=-1).square()
    else:
        fac, perm, info = torch.linalg.lu_factor_ex(a)
        if bool((info != 0).any()):
            return None, 0.0
        # partial pivoting permutes rows: drop as many of the smallest pivots as there are zero channels' rows
        piv = torch.diagonal(fac, dim1=-2, dim2=-1).abs().sort(dim=-1, descending=True).values
        live = torch.arange(piv.shape[-1], device=piv.device) < live.sum(-1, keepdim=True)
    ratio = _pivot_ratio(piv, live, torch)
    if solver == "cholesky":
        return torch.cholesky_solve(rhs, fac), ratio
    return torch.linalg.lu_solve(fac, perm, rhs), ratio


def _pivot_ratio(piv, live, torch) -> float:
    """min/max of the pivots of the live (non-silent) rows over every system; 1.0 when no row is live."""
    big = torch.where(live, piv, torch.zeros_like(piv)).max(dim=-1).values
    small = torch.where(live, piv, torch.full_like(piv, math.inf)).min(dim=-1).values
    return (small / big).min().item() if bool(live.any()) else 1.0


def _solve_cholesky_lapack(a, rhs, live, torch):
    """The CPU Cholesky path of :func:`_solve` through SciPy's LAPACK (``dpotrf``/``dpotrs`` of the OpenBLAS that NumPy
    and SciPy ship): under the pinned numerics (benchmark/base/numerics.py) OpenBLAS runs its AVX2 kernels on every x86-64
    CPU, whereas MKL's only cross-vendor reproducible branch (``MKL_CBWR=COMPATIBLE``, SSE2) factorises the
    4 096-unknown system 3-4x slower (docs/performance.md). The same algorithm; the results differ from MKL's in
    the last bits only. Batched systems are factorised one by one."""
    from scipy.linalg import LinAlgError, cho_factor, cho_solve

    a_np = a.numpy()
    rhs_np = rhs.numpy()
    batch = a_np.ndim == 3
    systems = a_np if batch else a_np[None]
    rights = rhs_np if batch else rhs_np[None]
    xs, pivs = [], []
    for g, r in zip(systems, rights):
        try:
            fac, lower = cho_factor(g, lower=True, check_finite=False)
        except LinAlgError:
            return None, 0.0
        pivs.append(np.diagonal(fac) ** 2)
        xs.append(cho_solve((fac, lower), r, check_finite=False))
    piv = torch.from_numpy(np.stack(pivs) if batch else pivs[0])
    return torch.from_numpy(np.stack(xs) if batch else xs[0]), _pivot_ratio(piv, live, torch)


def _solve_regularised(a, rhs, torch):
    """(a + λ I) x = rhs with λ = 1e-12 · trace(a) per system: cond ≤ 1e12, so Cholesky cannot break down; the
    projection changes only along directions whose energy is below 1e-12 of the references' (numerical noise)."""
    lam = 1e-12 * torch.diagonal(a, dim1=-2, dim2=-1).sum(-1)
    ar = a.clone()
    torch.diagonal(ar, dim1=-2, dim2=-1).add_(lam.unsqueeze(-1))
    fac, info = torch.linalg.cholesky_ex(ar)
    if bool((info != 0).any()):  # pragma: no cover - cannot happen for a PSD Gram matrix
        return torch.linalg.lstsq(ar, rhs).solution
    return torch.cholesky_solve(rhs, fac)


def _solve_gram(a, rhs, torch, solver: str, what: str):
    x, ratio = _solve(a, rhs, torch, solver)
    if x is not None and ratio >= _NEAR_SINGULAR:
        return x
    warnings.warn(
        f"{what}: the reference Gram matrix is numerically singular (pivot ratio {ratio:.1e} < {_NEAR_SINGULAR:g}; "
        f"e.g. identical or proportional channels, a silent channel, or linearly dependent references). museval's "
        f"ISR/SIR/SAR are rounding noise for such a track (they change by dB under a 1e-8 perturbation of the "
        f"input); the fast back-end returns the well-defined projection instead (scale-aware regularisation "
        f"λ = 1e-12·trace(G)). SDR is unaffected.", NearSingularWarning, stacklevel=5)
    return _solve_regularised(a, rhs, torch)


def _filters_from_correlations(r, nsrc: int, c: int, torch, solver: str):
    """museval's time-invariant distortion filters for every estimate from the whole-track correlations ``r``.

    Returns ``(C, Cj)``: C (nsrc_est, nsrc, nchan, L, nchan) projects each estimate on all references (museval
    ``C[jest]``), Cj (nsrc, nchan, L, nchan) projects estimate j on its own reference j (museval ``Cj[j, j, 0]``).
    The big system is solved once for all estimates (museval re-solves it per estimate).
    """
    L = r.shape[0]
    p = nsrc * c
    g = _build_gram(r[:, :p, :], torch)
    g.diagonal().add_(_EPS)  # museval: solve(G + eps * I, D), also for the per-source blocks
    # D[(j, cj, d), (jest, c)] = Σ_n est_{jest,c}[n + d] ref_{j,cj}[n]
    d = r[:, p:, :].permute(2, 0, 1).reshape(p * L, p)
    blk = c * L
    gj = torch.stack([g[j * blk:(j + 1) * blk, j * blk:(j + 1) * blk] for j in range(nsrc)])
    dj = torch.stack([d[j * blk:(j + 1) * blk, j * c:(j + 1) * c] for j in range(nsrc)])
    c_all = _solve_gram(g, d, torch, solver, "interference filters")  # (pL, P)
    del g
    c_full = c_all.reshape(nsrc, c, L, nsrc, c).permute(3, 0, 1, 2, 4)  # (jest, i, ci, d, c)
    cj = _solve_gram(gj, dj, torch, solver, "spatial filters").reshape(nsrc, c, L, c)
    return c_full, cj


def filters(references: Mapping[str, np.ndarray], estimates: Mapping[str, np.ndarray], *, device="cpu",
            solver: str = "cholesky"):
    """The time-invariant 512-tap distortion filters museval v4 computes for a track (float64 torch tensors):
    ``(C, Cj)`` in museval's layouts — ``C[jest]`` is (nsrc, nchan, 512, nchan), ``Cj[j]`` is museval's
    ``Cj[j, j, 0]`` (nchan, 512, nchan). For inspection and tests."""
    _, refs, ests, _ = prepare_inputs(references, estimates)
    ctx = _Ctx(device, None)
    p = len(refs) * refs[0].shape[1]
    r = _correlations(ctx, refs + ests, p, refs[0].shape[0])
    return _filters_from_correlations(r, len(refs), refs[0].shape[1], ctx.torch, solver)


# --------------------------------------------------------------------------------------------------------------
# fast BSS-Eval v4: framewise energies


def _fast_raw(refs, ests, active, n: int, win: int, hop: int, device, frame_chunk: int | None,
              threads: int | None, solver: str, fft_workers: int | None = None):
    ctx = _Ctx(device, threads, fft_workers)
    with _torch_threads(ctx.torch, threads, ctx.cpu), no_numpy_hugepages():
        return _fast_raw_impl(ctx, refs, ests, active, n, win, hop, frame_chunk, solver)


def _run_chunks(ctx, work, chunks) -> None:
    """``work(cx, t0, t1)`` for every chunk. On CPU with ``ctx.threads`` > 1 the chunks are shared out to that many
    threads, each with its own buffers and one-worker FFTs: a chunk is computed by exactly the same operations
    whichever thread takes it and writes only its own frames, so the result is bit-identical to one thread's (the
    torch kernels release the GIL; the torch intra-op setting of the call is left as it is)."""
    workers = ctx.threads or 1
    if not ctx.cpu or workers == 1 or len(chunks) == 1:
        for t0, t1 in chunks:
            work(ctx, t0, t1)
        return
    import threading
    from concurrent.futures import ThreadPoolExecutor

    local = threading.local()

    def run(bounds):
        cx = getattr(local, "ctx", None)
        if cx is None:
            cx = local.ctx = _Ctx.sibling(ctx)
        work(cx, *bounds)

    with ThreadPoolExecutor(max_workers=min(workers, len(chunks)), thread_name_prefix="bss-frames") as pool:
        for _ in pool.map(run, chunks):  # re-raises the first error of a chunk
            pass


def _fast_raw_impl(ctx, refs, ests, active, n, win, hop, frame_chunk, solver):
    from benchmark.scoring.metrics import _pocketfft

    torch = ctx.torch
    L = FILTERS_LEN
    nsrc, c = len(refs), refs[0].shape[1]
    p = nsrc * c
    sigs = refs + ests
    nwin, flen = _frame_bounds(n, win, hop)
    # frames zero-padded to m >= flen + L - 1: the projections of a frame are exact linear convolutions
    m = _pocketfft.next_fast_len(flen + L - 1)
    chunk = frame_chunk or (2 if ctx.cpu else 64)

    r = _correlations(ctx, sigs, p, n)
    c_full, cj = _filters_from_correlations(r, nsrc, c, torch, solver)
    kb = m // 2 + 1
    cf = ctx.rfft(c_full.permute(0, 4, 1, 2, 3).reshape(p, p, L).contiguous(), m)  # ((j,c), (i,ci), K)
    cjf = ctx.rfft(cj.permute(0, 1, 3, 2).contiguous(), m)  # (j, cj, c, K)
    del r, c_full, cj
    # rows: e_s, e_d, isr_den, sir_num, sir_den, sar_num, sar_den
    out = torch.empty((7, nsrc, nwin), dtype=torch.float64, device=ctx.device)

    def energy(z):
        """Σ_n x[n]² over channels of the length-m real signals whose rfft is z (j·c, T, K), by Parseval:
        (2 Σ_k |z_k|² − |z_0|² − |z_{m/2}|²) / m, the last term for even m only. -> (j, T)."""
        v = torch.view_as_real(z)
        tot = 2.0 * torch.linalg.vecdot(v.flatten(-2), v.flatten(-2))
        tot -= v[..., 0, :].square().sum(-1)
        if m % 2 == 0:
            tot -= v[..., -1, :].square().sum(-1)
        return (tot / m).reshape(nsrc, c, -1).sum(dim=1)

    def chunk_energies(cx, t0, t1):
        """The seven energy rows of frames [t0, t1) into ``out`` (``cx``: the calling thread's buffers)."""
        nt = t1 - t0
        x = cx.frames(sigs, t0, t1, hop, flen, m)  # (2P, T, m), zero-padded
        # Σ s² and Σ (ŝ − s)² in the time domain: the exact SDR closed form
        out[0, :, t0:t1], out[1, :, t0:t1] = _frame_time_energies(x[..., :flen], p, nsrc, c, torch)
        f = cx.rfft(x, m, out=cx.spectrum_buffer((2 * p, nt, kb)))  # (2P, T, K)
        del x
        fr, fe = f[:p], f[p:]
        # projection of every estimate on all references (museval _project(reference_sources, C[jest]))
        if cx.cpu:
            p_all = torch.mul(cf[:, 0, None, :], fr[0], out=cx.complex_buffer(("p_all", p, nt, kb)))
            for q in range(1, p):
                p_all.addcmul_(cf[:, q, None, :], fr[q])
        else:
            p_all = torch.einsum("rqk,qtk->rtk", cf, fr)
        # projection of estimate j on its own reference j (museval _project(reference_sources[j], Cj))
        fr_s = fr.reshape(nsrc, c, nt, kb)
        p_j = torch.mul(cjf[:, 0, :, None, :], fr_s[:, 0, None], out=cx.complex_buffer(("p_j", nsrc, c, nt, kb)))
        for q in range(1, c):
            p_j.addcmul_(cjf[:, q, :, None, :], fr_s[:, q, None])
        p_j = p_j.reshape(p, nt, kb)
        out[3, :, t0:t1] = energy(p_j)  # Σ (s_true + e_spat)²
        out[5, :, t0:t1] = energy(p_all)  # Σ (s_true + e_spat + e_interf)²
        out[6, :, t0:t1] = energy(fe.sub_(p_all))  # Σ e_artif² (fe is overwritten)
        out[4, :, t0:t1] = energy(p_all.sub_(p_j))  # Σ e_interf²
        out[2, :, t0:t1] = energy(p_j.sub_(fr))  # Σ e_spat²

    _run_chunks(ctx, chunk_energies, [(t0, min(nwin, t0 + chunk)) for t0 in range(0, nwin, chunk)])

    e_s, e_d, isr_den, sir_num, sir_den, sar_num, sar_den = out.cpu().numpy()
    res = {
        "SDR": _safe_db(e_s, e_d),
        "ISR": _safe_db(e_s, isr_den),
        "SIR": _safe_db(sir_num, sir_den),
        "SAR": _safe_db(sar_num, sar_den),
    }
    silent = _silent_frames(active, n, win, hop)
    for k in res:
        res[k][:, silent] = np.nan
    return res


def _sdr_only_raw(refs, ests, active, n: int, win: int, hop: int, device, threads: int | None,
                  fft_workers: int | None = None):
    ctx = _Ctx(device, threads, fft_workers)
    nsrc, c = len(refs), refs[0].shape[1]
    p = nsrc * c
    nwin, flen = _frame_bounds(n, win, hop)
    e_s = np.empty((nsrc, nwin))
    e_d = np.empty((nsrc, nwin))
    chunk = max(1, (1 << 21) // (2 * p * flen))
    with _torch_threads(ctx.torch, threads, ctx.cpu):
        for t0 in range(0, nwin, chunk):
            t1 = min(nwin, t0 + chunk)
            x = ctx.gather(refs + ests, t0 * hop, (t1 - 1) * hop + flen).unfold(-1, flen, hop)
            a, b = _frame_time_energies(x, p, nsrc, c, ctx.torch)
            e_s[:, t0:t1], e_d[:, t0:t1] = a.cpu().numpy(), b.cpu().numpy()
    sdr = _safe_db(e_s, e_d)
    sdr[:, _silent_frames(active, n, win, hop)] = np.nan
    return {"SDR": sdr}


def _museval_raw(refs, ests, win: int, hop: int):
    import museval

    sdr, isr, sir, sar = museval.evaluate(refs, ests, win=win, hop=hop, mode="v4", padding=True)
    return {"SDR": np.asarray(sdr, dtype=np.float64), "ISR": np.asarray(isr, dtype=np.float64),
            "SIR": np.asarray(sir, dtype=np.float64), "SAR": np.asarray(sar, dtype=np.float64)}


# --------------------------------------------------------------------------------------------------------------
# public API


SOLVERS = ("cholesky", "lu")


def bss_eval_track_raw(references: Mapping[str, np.ndarray], estimates: Mapping[str, np.ndarray], *,
                       backend: str = "fast", device="cpu", win: int = 44100, hop: int = 44100,
                       threads: int | None = 1, solver: str = "cholesky",
                       frame_chunk: int | None = None, fft_workers: int | None = None) -> dict:
    """Like :func:`bss_eval_track` but without museval's storage rules (values not quantised, ±inf kept).

    Meant for cross-checks (e.g. the ≤ 1e-9 comparison of the SDR closed form against museval)."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {BACKENDS}")
    if solver not in SOLVERS:
        raise ValueError(f"unknown solver {solver!r}; choose one of {SOLVERS}")
    if threads is not None:
        threads = _check_int("threads", threads)
    if fft_workers is not None:
        fft_workers = _check_int("fft_workers", fft_workers)
    win = _check_int("win", win)
    hop = _check_int("hop", hop)
    targets, refs, ests, active = prepare_inputs(references, estimates)
    n = refs[0].shape[0]
    if backend == "museval":
        raw = _museval_raw(refs, ests, win, hop)
    elif backend == "fast":
        raw = _fast_raw(refs, ests, active, n, win, hop, device, frame_chunk, threads, solver, fft_workers)
    else:
        raw = _sdr_only_raw(refs, ests, active, n, win, hop, device, threads, fft_workers)
    return {t: {k: np.array(v[i], dtype=np.float64) for k, v in raw.items()} for i, t in enumerate(targets)}


def bss_eval_track(references: Mapping[str, np.ndarray], estimates: Mapping[str, np.ndarray], *,
                   backend: str = "fast", device="cpu", win: int = 44100, hop: int = 44100,
                   threads: int | None = 1, solver: str = "cholesky",
                   frame_chunk: int | None = None, fft_workers: int | None = None) -> dict:
    """Framewise BSS-Eval v4 of one track, all targets evaluated jointly (one museval call).

    Parameters
    ----------
    references, estimates:
        ``{target: (N, C) array}``; every reference has the same shape; estimates are zero-padded/truncated to the
        reference length (museval ``pad_or_truncate``). Targets are evaluated in the order of ``references``; the
        two dicts must name the same targets.
    backend:
        ``"fast"`` (default, PyTorch float64), ``"museval"`` (official), ``"sdr-only"`` (closed-form SDR; the result
        holds only ``"SDR"``).
    device:
        torch device for ``"fast"``/``"sdr-only"`` (``"cpu"``, ``"cuda"``, ``"cuda:1"`` …); ignored for museval.
    win, hop:
        frame length and hop in samples (protocol: 44100 / 44100 → floor(N / 44100) frames).
    threads:
        torch intra-op threads while the call runs on CPU (restored afterwards; ``None`` = leave torch's setting).
        Default 1: on the 2-vCPU reference VM a single thread is faster than two for these memory-bound kernels and
        does not collapse when several evaluations run side by side (parallelise over tracks instead).
    fft_workers:
        worker threads of the CPU FFTs (SciPy's pocketfft; ``None`` = ``threads``). Each transform is computed whole
        by one worker, so the result is bit-identical for any count (tested); the workers do not spin-wait, so a
        busy machine costs them only their share of the cores. ``amss-bench metrics bss`` uses one per CPU.
    solver:
        ``"cholesky"`` (default) or ``"lu"`` (museval's own ``np.linalg.solve`` algorithm) for the normal equations
        ``(G + eps I) C = D``; both agree with museval to ≈ 1e-12 dB on well-conditioned references.
    frame_chunk:
        frames per vectorised step (default 2 on CPU — small chunks stay cache- and allocator-friendly — and 64 on CUDA).

    Returns
    -------
    ``{target: {"SDR": (frames,), "ISR": ..., "SIR": ..., "SAR": ...}}`` float64 arrays, quantised to 5 decimals
    with ±inf → NaN (museval's stored values). NaN frames: any reference or estimate silent in the frame.
    """
    raw = bss_eval_track_raw(references, estimates, backend=backend, device=device, win=win, hop=hop,
                             threads=threads, solver=solver, frame_chunk=frame_chunk, fft_workers=fft_workers)
    return {t: {k: quantize(v) for k, v in m.items()} for t, m in raw.items()}


def frame_medians(result: Mapping[str, Mapping[str, np.ndarray]]) -> dict:
    """Per-target, per-metric median over frames with NaN skipped (museval/pandas ``median``); all-NaN → NaN."""
    out = {}
    for t, m in result.items():
        out[t] = {}
        for k, v in m.items():
            v = np.asarray(v, dtype=np.float64)
            v = v[~np.isnan(v)]
            out[t][k] = float(np.median(v)) if v.size else math.nan
    return out


def to_museval_json(result: Mapping[str, Mapping[str, np.ndarray]], track_name: str, *, win: int = 44100,
                    hop: int = 44100, sr: int = 44100, nan_as_null: bool = True) -> dict:
    """museval's per-track JSON structure (``TrackStore.scores``) for a :func:`bss_eval_track` result.

    ``{"targets": [{"name": t, "frames": [{"time": i·hop/sr, "duration": win/sr, "metrics": {"SDR", "SIR",
    "SAR", "ISR"}}]}], "museval_version": "0.4.1", "track": track_name}``. museval itself serialises NaN as the
    bare token ``NaN`` (simplejson ``allow_nan=True``), which strict JSON parsers reject; here NaN becomes ``None``
    (JSON ``null``) unless ``nan_as_null=False``. Metrics absent from ``result`` (``sdr-only``) are absent here.
    The extra ``"track"`` key is ignored by museval's ``json2df``.
    """
    win_s, hop_s = win / sr, hop / sr
    targets = []
    for name, m in result.items():
        keys = [k for k in JSON_METRIC_ORDER if k in m]
        nfr = len(next(iter(m.values()))) if m else 0
        frames = []
        for i in range(nfr):
            metrics = {}
            for k in keys:
                v = float(m[k][i])
                if math.isinf(v):
                    v = math.nan
                metrics[k] = None if (nan_as_null and math.isnan(v)) else v
            frames.append({"time": i * hop_s, "duration": win_s, "metrics": metrics})
        targets.append({"name": name, "frames": frames})
    return {"targets": targets, "museval_version": MUSEVAL_VERSION, "track": track_name}


def global_sdr(reference: np.ndarray, estimate: np.ndarray, *, delta: float = 1e-7) -> float:
    """Global ("new", MDX 2021 / "nSDR", a.k.a. utterance SDR) of one target over the whole track:

    10 log10((Σ s² + δ) / (Σ (s − ŝ)² + δ)), sums over all samples and channels, δ = 1e-7 — the MDX challenge
    evaluator's definition (also Demucs ``new_sdr``). Estimates are padded/truncated to the reference length like
    museval. A separate number from the museval median; never mix the two.
    """
    s = np.asarray(reference, dtype=np.float64)
    e = np.asarray(estimate, dtype=np.float64)
    if s.ndim != 2 or e.ndim != 2:
        raise ValueError(f"global_sdr: expected (N, channels) arrays, got {s.shape} and {e.shape}")
    if s.shape[1] != e.shape[1]:
        raise ValueError(f"global_sdr: estimate has {e.shape[1]} channel(s), expected {s.shape[1]}")
    if e.shape[0] > s.shape[0]:
        e = e[: s.shape[0]]
    elif e.shape[0] < s.shape[0]:
        e = np.pad(e, [(0, s.shape[0] - e.shape[0]), (0, 0)])
    num = float(np.sum(np.square(s))) + delta
    den = float(np.sum(np.square(s - e))) + delta
    return 10.0 * math.log10(num / den)
