"""The numerics probe: hashes of small computations on every numeric path the pipeline takes (benchmark/base/numerics.py).

Kept apart from ``benchmark/base/numerics.py`` so that the pipeline stages (which import that module) do not import the
probe's dependencies; used by ``amss-bench numerics --probe``, the regression gate and ``tests/test_numerics.py``."""

from __future__ import annotations


def probe(threads: int = 1) -> dict[str, str]:
    """sha256 (first 16 hex digits) of small computations on the pipeline's numeric paths: oneDNN convolutions
    (forward and backward, contiguous and channels-last), MKL GEMM and FFT (``torch.stft``), ATen's vectorised
    elementwise and reduction kernels, NumPy's SIMD transcendental loops, OpenBLAS GEMM and Cholesky, SciPy's FFT,
    the protocol's MFCC and the fast BSS-Eval back-end (OpenBLAS Cholesky, pocketfft, ATen). Two machines with equal probes take the same code paths for
    these operations; ``tests/test_numerics.py`` compares them with golden values recorded on the reference machine."""
    import hashlib

    import numpy as np
    import scipy.fft
    import scipy.linalg
    import torch

    def h(x) -> str:
        if isinstance(x, torch.Tensor):
            x = x.detach().numpy()
        return hashlib.sha256(np.ascontiguousarray(x).tobytes()).hexdigest()[:16]

    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        out: dict[str, str] = {}
        gen = torch.Generator().manual_seed(0)
        rng = np.random.default_rng(0)
        x = torch.randn(8, 4, 64, 129, generator=gen)
        conv = torch.nn.Conv2d(4, 8, 3, padding=1)
        convt = torch.nn.ConvTranspose2d(8, 4, (1, 3), stride=(1, 2))
        with torch.no_grad():
            for p in (*conv.parameters(), *convt.parameters()):
                p.copy_(torch.randn(p.shape, generator=gen) * 0.1)
        for layout in ("contiguous", "channels_last"):
            fmt = torch.channels_last if layout == "channels_last" else torch.contiguous_format
            xi = x.clone().to(memory_format=fmt).requires_grad_(True)
            c = torch.nn.Conv2d(4, 8, 3, padding=1).to(memory_format=fmt)
            c.load_state_dict(conv.state_dict())
            y = c(xi)
            z = convt(y)
            (z ** 2).mean().backward()
            out[f"torch_conv2d_{layout}"] = h(y)
            out[f"torch_conv_transpose2d_{layout}"] = h(z)
            out[f"torch_conv_grad_{layout}"] = h(xi.grad)
        lin = torch.nn.Linear(129, 129)
        with torch.no_grad():
            lin.weight.copy_(torch.randn(129, 129, generator=gen) * 0.1)
            lin.bias.copy_(torch.randn(129, generator=gen) * 0.1)
            out["torch_linear_mkl"] = h(lin(x))
        wav = torch.randn(2, 44100, generator=gen)
        spec = torch.stft(wav, 512, 256, window=torch.hann_window(512), return_complex=True)
        out["torch_stft"] = h(torch.view_as_real(spec))
        out["torch_elementwise"] = h(torch.stack([x.exp(), x.sigmoid(), x.tanh(), torch.nn.functional.gelu(x)]))
        out["torch_reductions"] = h(torch.stack([x.sum(), x.abs().mean(), (x * x).sum().sqrt()]))
        bn = torch.nn.BatchNorm2d(4).train()
        out["torch_batchnorm"] = h(bn(x).detach())
        a = rng.standard_normal((300, 300))
        spd = a @ a.T + 300 * np.eye(300)
        b = rng.standard_normal(300)
        out["openblas_gemm"] = h(spd)
        out["openblas_cholesky"] = h(scipy.linalg.cho_solve(scipy.linalg.cho_factor(spd), b))
        v = rng.standard_normal(100_000)
        out["numpy_transcendental_f64"] = h(np.stack([np.exp(v), np.log10(np.abs(v)), np.sin(v), np.tanh(v)]))
        out["numpy_transcendental_f32"] = h(np.stack([np.exp(v.astype(np.float32)),
                                                      np.log10(np.abs(v.astype(np.float32)) + 1)]))
        out["numpy_reductions"] = h(np.array([v.sum(), (v * v).sum(), np.mean(np.abs(v))]))
        out["scipy_fft"] = h(np.stack([scipy.fft.rfft(v).view(np.float64)[:100_000], scipy.fft.dct(v, norm="ortho")]))
        from benchmark.scoring.metrics import bss, mfcc

        ref = rng.standard_normal((2, 3 * 44100, 2))
        est = ref + 0.1 * rng.standard_normal(ref.shape)
        out["mfcc"] = h(mfcc.stereo_mfcc(est[0].astype(np.float32)))
        raw = bss.bss_eval_track_raw({"a": ref[0], "b": ref[1]}, {"a": est[0], "b": est[1]}, backend="fast")
        out["bss_fast_raw"] = h(np.concatenate([np.asarray(raw[t][m], float) for t in sorted(raw) for m in raw[t]]))
        return out
    finally:
        torch.set_num_threads(old)
