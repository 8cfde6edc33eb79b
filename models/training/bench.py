"""Training-throughput benchmark: optimiser steps/s and samples/s of the model step (forward, spectrogram-MSE loss,
backward, Adam), on random waveforms (the data pipeline is excluded; it runs in DataLoader workers).

    python -m models.training.bench --device cuda                      # paper configs, fp32 eager vs bf16 variants
    python -m models.training.bench --device cpu --profile embedded --steps 5 --batch 4

Default models: U7 dedicated (``u7-dcse``), GPoCM+LaSAFT CUNet (``cunet-gpocm-lasaft``) and ``amss-net``.
Modes (``--modes``): ``fp32`` (eager), ``bf16`` (autocast), ``bf16+compile``, ``bf16+compile+cl`` (channels-last),
``fp16`` (autocast + grad scaler). Writes a JSON report with ``--json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

import torch
import torch.nn.functional as F

DEFAULT_MODELS = ("u7-dcse", "cunet-gpocm-lasaft", "amss-net")
DEFAULT_MODES = ("fp32", "bf16", "bf16+compile", "bf16+compile+cl")
FUSED_ADAM = True  # Adam's fused kernel on CPU, as models.training.trainer builds it (--vml: the default one)
QUERIES = {"conditioned": ["separate vocals", "separate drums", "separate bass", "mute vocals, drums, bass"],
           "amss": ["separate vocals", "pan drums to the left side", "apply heavy lowpass to vocals",
                    "remove reverb from bass"]}


def make_batch(model, batch: int, segment: int, device, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = (torch.randn(batch, 2, segment, generator=g) * 0.1).to(device)
    y = (x * 0.5).contiguous()
    family = model.info.family if model.info is not None else "dedicated"
    cond = None
    if family in QUERIES:
        qs = QUERIES[family]
        if model.config.get("task_set") == "task1":
            qs = ["separate vocals", "mute drums", "separate bass", "mute vocals, drums, bass"]
        qs = (qs * batch)[:batch]
        cond = model.make_condition(qs, device)
    return x, y, cond


def bench_one(name: str, mode: str, *, profile: str = "paper", device: str = "cpu", batch: int = 4,
              segment: int | None = None, steps: int = 10, warmup: int = 3, seed: int = 0) -> dict:
    """Time ``steps`` training steps after ``warmup`` (compilation happens in the warm-up)."""
    from models import registry
    from models.base import autocast_context

    dev = torch.device(device)
    model = registry.create(name, profile, seed=seed).to(dev).train()
    seg = int(segment or model.chunk_samples)
    parts = mode.split("+")
    precision = parts[0]
    if "cl" in parts:
        model.to(memory_format=torch.channels_last)
    net = torch.compile(model) if "compile" in parts else model
    opt = torch.optim.Adam(model.parameters(), lr=1e-4, fused=FUSED_ADAM and dev.type == "cpu")  # as the trainer
    scaler = torch.amp.GradScaler(dev.type, enabled=precision == "fp16")
    x, y, cond = make_batch(model, batch, seg, dev, seed)

    def step():
        with autocast_context(dev, None if precision == "fp32" else precision):
            est = net(x, cond)
        loss = F.mse_loss(est.float(), model.spec(y))
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        return loss

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)

    t_warm = time.perf_counter()
    for _ in range(warmup):
        step()
    sync()
    warm_s = time.perf_counter() - t_warm
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    t0 = time.perf_counter()
    for _ in range(steps):
        loss = step()
    sync()
    dt = time.perf_counter() - t0
    out = {"model": name, "profile": profile, "mode": mode, "device": str(dev), "batch": batch, "segment": seg,
           "steps": steps, "seconds": round(dt, 4), "steps_per_s": round(steps / dt, 4),
           "samples_per_s": round(steps * batch / dt, 3), "warmup_s": round(warm_s, 3),
           "final_loss": float(loss.detach()), "params": model.num_parameters()}
    if dev.type == "cuda":
        out["peak_mem_gib"] = round(torch.cuda.max_memory_allocated(dev) / 2**30, 3)
    return out


def environment(device: str) -> dict:
    env = {"torch": torch.__version__, "python": platform.python_version(), "cpu": platform.processor() or
           platform.machine(), "cpu_count": os.cpu_count(), "threads": torch.get_num_threads()}
    if hasattr(os, "getloadavg"):
        env["loadavg_1m"] = round(os.getloadavg()[0], 2)
    if device.startswith("cuda") and torch.cuda.is_available():
        env["gpu"] = torch.cuda.get_device_name(0)
        env["cuda"] = torch.version.cuda
    return env


def _use_vml() -> None:
    """Swap the portable functions of ``models.portable`` for PyTorch's VML-backed ones (for :func:`main`'s --vml)."""
    from models import portable

    def packed_rnn(rnn, x, lengths):
        packed = torch.nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        out, _ = torch.nn.utils.rnn.pad_packed_sequence(rnn(packed)[0], batch_first=True, total_length=x.shape[1])
        return out

    portable.tanh = torch.tanh
    portable.bidirectional_rnn = packed_rnn
    global FUSED_ADAM
    FUSED_ADAM = False


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m models.training.bench", description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--profile", choices=("paper", "embedded"), default=None,
                   help="default: paper on cuda, embedded on cpu")
    p.add_argument("--models", nargs="+", default=list(DEFAULT_MODELS))
    p.add_argument("--modes", nargs="+", default=None, help=f"default: {' '.join(DEFAULT_MODES)} (fp32 only on cpu)")
    p.add_argument("--batch", type=int, default=None, help="per-process batch (default 4 paper, 4 embedded)")
    p.add_argument("--segment", type=int, default=None, help="samples per item (default: the model window)")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--json", default=None, help="write the results here")
    p.add_argument("--vml", action="store_true",
                   help="PyTorch's own CPU paths through MKL's vector math instead of the pipeline's portable ones "
                        "(default Adam, torch.tanh, the packed LSTM): the cost of models.portable, side by side")
    args = p.parse_args(argv)
    if args.vml:
        _use_vml()
    if args.threads:
        torch.set_num_threads(args.threads)
    profile = args.profile or ("paper" if args.device.startswith("cuda") else "embedded")
    modes = args.modes or (list(DEFAULT_MODES) if args.device.startswith("cuda") else ["fp32", "bf16"])
    batch = args.batch or 4
    env = environment(args.device)
    print(json.dumps(env), file=sys.stderr)
    rows = []
    header = f"{'model':22s} {'mode':18s} {'batch':>5s} {'segment':>8s} {'steps/s':>8s} {'samples/s':>9s} {'warmup s':>8s}"
    print(header)
    for name in args.models:
        for mode in modes:
            try:
                r = bench_one(name, mode, profile=profile, device=args.device, batch=batch, segment=args.segment,
                              steps=args.steps, warmup=args.warmup)
            except Exception as err:  # report and go on (e.g. compile unavailable)
                r = {"model": name, "mode": mode, "error": f"{type(err).__name__}: {err}"[:300]}
                print(f"{name:22s} {mode:18s} failed: {r['error']}")
                rows.append(r)
                continue
            rows.append(r)
            print(f"{name:22s} {mode:18s} {batch:5d} {r['segment']:8d} {r['steps_per_s']:8.3f} "
                  f"{r['samples_per_s']:9.2f} {r['warmup_s']:8.1f}", flush=True)
    if args.json:
        from benchmark.base.audio import write_json

        write_json(args.json, {"environment": env, "results": rows,
                               "command": "python -m models.training.bench " + " ".join(argv or sys.argv[1:])})
    return 0


if __name__ == "__main__":
    sys.exit(main())
