"""The numerics probe: hashes of small computations on every numeric path the pipeline takes (benchmark/base/numerics.py).

Kept apart from ``benchmark/base/numerics.py`` so that the pipeline stages (which import that module) do not import the
probe's dependencies; used by ``amss-bench numerics --probe``, the regression gate and ``tests/test_numerics.py``.

Entries whose name starts with ``vml_`` hash PyTorch functions that run through MKL's vector math (VML) on CPU, whose
code branch depends on the processor: the pipeline does not call them (``models.portable``; a test traces the VML
calls of real training steps), so a difference there is reported, not a failure. Their first 8 hex digits are those
of ``../shared/numerics/mkl_vml_probe.py`` for the same computation, so its tables of other machines compare.
"""

from __future__ import annotations

#: entries on MKL's vector math: informational (the pipeline avoids VML, docs/performance.md)
VML_PREFIX = "vml_"
#: one model per family: a few real training steps (model loss, fused Adam as the trainer runs it); Wave-U-Net for the
#: waveform models' long 1-D convolutions (``models.survey.common.GemmConv1d``)
TRAIN_MODELS = ("u7-dme", "u9l-tfc-tdf", "cunet-gpocm", "amss-net", "waveunet")
TRAIN_STEPS = 3


def pipeline_entries(probe: dict) -> dict:
    """The entries on the pipeline's numeric paths (everything but the informational VML entries)."""
    return {k: v for k, v in probe.items() if not k.startswith(VML_PREFIX)}


def compare(now: dict, golden: dict, skip=()) -> dict:
    """This machine's probe ``now`` against ``golden`` (the document of ``tests/data/numerics_probe.json``: ``probe``,
    ``recorded_on`` and ``other_machines``, label -> {entry: leading hex digits}).

    Returns ``pipeline``: the pipeline entries that differ (a machine with any of them does not reproduce the
    committed numbers), and ``vml``: per differing VML entry, this machine's value and the known machines whose value
    it equals. ``skip``: entries not to judge (decided by a variable the environment overrides)."""
    ref = golden["probe"]
    pipeline = sorted(k for k in pipeline_entries(ref) if k not in skip and now.get(k) != ref[k])
    vml = {}
    for key in sorted(k for k in ref if k.startswith(VML_PREFIX) and k not in skip and now.get(k) != ref[k]):
        here = now.get(key) or ""
        same = [label for label, values in (golden.get("other_machines") or {}).items()
                if key in values and here.startswith(values[key])]
        vml[key] = {"here": here, "reference": ref[key], "equals": same}
    return {"pipeline": pipeline, "vml": vml}


def describe(verdict: dict, golden: dict) -> str:
    """One paragraph on a :func:`compare` verdict: what differs, what it means, what to do."""
    lines = []
    if verdict["pipeline"]:
        lines.append(f"pinned numeric paths differ from the reference machine ({golden.get('recorded_on')}): "
                     f"{verdict['pipeline']}. The committed dvc.lock and reports/ will not reproduce byte for byte "
                     "here; compare a change against a base computed on this machine (`make gate "
                     "GATE_ARGS=--recompute-base`), docs/performance.md \"Reproducible numerics\".")
    for key, v in verdict["vml"].items():
        known = f"equal to {', '.join(v['equals'])}" if v["equals"] else "unlike every recorded machine"
        lines.append(f"{key} (MKL vector math, not used by the pipeline): {v['here'][:8]} here, {known}")
    return "\n".join(lines)


def _train_steps(name: str, h) -> str:
    """``TRAIN_STEPS`` steps of ``name``'s embedded configuration on a seeded batch: the model's spectrogram-MSE loss,
    Adam (fused, as ``models.training.trainer`` builds it), BatchNorm and dropout in training mode."""
    import torch
    import torch.nn.functional as F

    from models import registry

    torch.manual_seed(0)
    model = registry.create(name, profile="embedded", seed=0).train()
    queries = list(model.supported_queries())[:2] if model.info.family != "dedicated" else [None, None]
    cond = None if queries[0] is None else model.make_condition(queries)
    n = model.config["hop_length"] * (model.config["num_frame"] - 1)
    g = torch.Generator().manual_seed(1)
    x = (torch.rand(len(queries), 2, n, generator=g) - 0.5) * 0.5
    y = x * torch.rand(len(queries), 2, 1, generator=g)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)
    losses = []
    for _ in range(TRAIN_STEPS):
        loss = F.mse_loss(model(x, cond), model.spec(y))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.detach())
    return h(torch.cat([torch.stack(losses), *(p.detach().reshape(-1) for p in model.parameters())]))


def probe(threads: int = 1) -> dict[str, str]:
    """sha256 (first 16 hex digits) of small computations on the pipeline's numeric paths: oneDNN convolutions
    (forward and backward, contiguous and channels-last), MKL GEMM and FFT (``torch.stft``), ATen's vectorised
    elementwise and reduction kernels, NumPy's SIMD transcendental loops, OpenBLAS GEMM and Cholesky, SciPy's FFT,
    the protocol's MFCC, RMSE-MFCC and MAE, and the fast BSS-Eval back-end (OpenBLAS Cholesky, pocketfft, ATen); the
    optimisers (fused Adam, SGD), the losses, BatchNorm in training mode and ``TRAIN_STEPS`` training steps of one
    model per family (``TRAIN_MODELS``); and, informational, MKL's vector math on long vectors (``vml_*``). Two
    machines with equal probes take the same code paths for these operations; ``tests/test_numerics.py`` compares
    them with golden values recorded on the reference machine."""
    import hashlib

    import numpy as np
    import scipy.fft
    import scipy.linalg
    import torch

    from models import portable

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
        spec = torch.stft(wav, 512, 256, window=portable.hann_window(512), return_complex=True)
        out["torch_stft"] = h(torch.view_as_real(spec))
        out["torch_elementwise"] = h(torch.stack([x.sigmoid(), portable.tanh(x), torch.nn.functional.gelu(x),
                                                  x.expm1(), x.abs().rsqrt(), x.abs().pow(1.5), x.pow(2)]))
        out["torch_reductions"] = h(torch.stack([x.sum(), x.abs().mean(), (x * x).sum()]))
        bn = torch.nn.BatchNorm2d(4).train()
        xb = x.clone().requires_grad_(True)
        yb = bn(xb)
        (yb * torch.linspace(-1, 1, yb.shape[-1])).sum().backward()
        out["torch_batchnorm"] = h(yb.detach())
        out["torch_batchnorm_grad"] = h(xb.grad)
        target = torch.randn(x.shape, generator=gen)
        xl = x.clone().requires_grad_(True)
        losses = torch.stack([torch.nn.functional.mse_loss(xl, target), torch.nn.functional.l1_loss(xl, target)])
        losses.sum().backward()
        out["torch_losses"] = h(torch.cat([losses.detach(), xl.grad.reshape(-1)]))
        for opt_name, make in (("adam_fused", lambda ps: torch.optim.Adam(ps, lr=1e-3, fused=True)),
                               ("sgd", lambda ps: torch.optim.SGD(ps, lr=1e-2, momentum=0.9))):
            torch.manual_seed(0)
            net = torch.nn.Sequential(torch.nn.Linear(129, 64), torch.nn.ReLU(), torch.nn.Linear(64, 129))
            opt = make(net.parameters())
            for _ in range(3):
                opt.zero_grad()
                torch.nn.functional.mse_loss(net(x[0, 0]), x[0, 1]).backward()
                opt.step()
            out[f"torch_{opt_name}_step"] = h(torch.cat([p.detach().reshape(-1) for p in net.parameters()]))
        for name in TRAIN_MODELS:
            out[f"train_{name}"] = _train_steps(name, h)
        # MKL's vector math, as ../shared/numerics/mkl_vml_probe.py computes it (informational, see the docstring)
        v = torch.rand(100_000, generator=torch.Generator().manual_seed(0)) * 1000
        for fn, val in (("sqrt", lambda: v.sqrt()), ("exp", lambda: torch.exp(v / 1000)),
                        ("log", lambda: torch.log(v + 1)), ("tanh", lambda: torch.tanh(v / 500 - 1)),
                        ("cos", lambda: torch.cos(v)), ("pow_half", lambda: v.pow(0.5))):
            out[VML_PREFIX + fn] = h(val())
        torch.manual_seed(0)
        net = torch.nn.Linear(129, 129)
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)
        torch.nn.functional.mse_loss(net(x[0, 0]), x[0, 1]).backward()
        opt.step()
        out[VML_PREFIX + "adam_default_step"] = h(net.weight.detach())
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
        out["rmse_mfcc_mae"] = h(np.array(list(mfcc.rmse_mfcc(ref[0], est[0]).values())))
        raw = bss.bss_eval_track_raw({"a": ref[0], "b": ref[1]}, {"a": est[0], "b": est[1]}, backend="fast")
        out["bss_fast_raw"] = h(np.concatenate([np.asarray(raw[t][m], float) for t in sorted(raw) for m in raw[t]]))
        return out
    finally:
        torch.set_num_threads(old)
