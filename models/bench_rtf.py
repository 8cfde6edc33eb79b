"""Real-time factor of full-track inference (``model.manipulate``), e.g. on a GPU in bf16::

    python -m models.bench_rtf --device cuda --dtype bf16                 # AMSS-Net, paper configuration
    python -m models.bench_rtf --device cuda --dtype bf16 --models all --seconds 120 --batch-size 16
    python -m models.bench_rtf --device cpu --profile embedded --models u7-dcse,amss-net --seconds 10

Prints one JSON object per model (and writes them to ``--json PATH`` if given):
``x_realtime`` = seconds of audio per second of wall time for the whole ``manipulate`` call (chunking, host↔device
copies, STFT/iSTFT, stitching included), median over ``--repeat`` runs after one warm-up run;
``x_realtime_network`` = the same for the batched window forward passes alone (``model.separate`` on device-resident
windows, synchronised). The target in docs/performance.md is AMSS-Net ≥ 1000× real time in bf16 on one GPU.
The input is seeded noise (the speed does not depend on the content). Untrained weights (speed only).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

import numpy as np
import torch

from . import inference, registry
from .base import autocast_context


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(name: str, *, device: str, dtype: str | None, profile: str, seconds: float, batch_size: int,
            repeat: int, mode: str | None, seed: int = 0) -> dict:
    dev = torch.device(device)
    model = registry.create(name, profile=profile, seed=seed).to(dev).eval()
    query = model.supported_queries()[0]
    n = int(seconds * 44100)
    track = (np.random.default_rng(seed).standard_normal((n, 2)) * 0.1).astype(np.float32)
    kwargs = dict(batch_size=batch_size, device=dev, autocast=dtype, mode=mode)
    model.manipulate(track[: min(n, 44100 * 5)], query, **kwargs)  # warm-up (cuDNN autotune, allocator)
    times = []
    for _ in range(repeat):
        _sync(dev)
        t0 = time.perf_counter()
        model.manipulate(track, query, **kwargs)
        _sync(dev)
        times.append(time.perf_counter() - t0)

    # network only: the same windows, already on the device
    p = model.inference_params(mode)
    if p["mode"] == "overlap":
        windows = inference.chunk_overlap(track, p["hop"], p["num_frame"], p["min_trim"], p["overlap_ratio"])
    else:
        windows = inference.chunk(track, p["hop"], p["num_frame"], p["min_trim"])
    x = torch.from_numpy(np.ascontiguousarray(windows.transpose(0, 2, 1))).to(dev)
    cond1 = model.condition_for(query)
    net_times = []
    for _ in range(repeat):
        _sync(dev)
        t0 = time.perf_counter()
        with torch.inference_mode(), autocast_context(dev, dtype):
            for s in range(0, len(x), batch_size):
                xb = x[s : s + batch_size]
                model.separate(xb, model.batch_conditions([cond1] * len(xb), dev))
        _sync(dev)
        net_times.append(time.perf_counter() - t0)

    wall = statistics.median(times)
    net = statistics.median(net_times)
    return {
        "model": model.info.name,
        "params": model.num_parameters(),
        "device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else f"cpu ({torch.get_num_threads()} threads)",
        "dtype": dtype or "fp32",
        "mode": p["mode"],
        "windows": int(len(windows)),
        "batch_size": batch_size,
        "audio_seconds": seconds,
        "wall_seconds": wall,
        "x_realtime": seconds / wall,
        "network_seconds": net,
        "x_realtime_network": seconds / net,
        "torch": str(torch.__version__),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m models.bench_rtf", description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--dtype", choices=("fp32", "bf16", "fp16"), default="bf16")
    ap.add_argument("--models", default="amss-net", help="comma-separated registry names, or 'all'")
    ap.add_argument("--profile", choices=("paper", "embedded"), default="paper")
    ap.add_argument("--seconds", type=float, default=60.0, help="length of the test track (default 60 s)")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--mode", choices=inference.MODES, default=None)
    ap.add_argument("--json", default=None, help="also write the results to this JSON file")
    args = ap.parse_args(argv)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("error: CUDA is not available on this machine", file=sys.stderr)
        return 2
    names = registry.model_names() if args.models == "all" else [m.strip() for m in args.models.split(",") if m]
    dtype = None if args.dtype == "fp32" else args.dtype
    if args.device.startswith("cuda"):
        torch.backends.cudnn.benchmark = True
    results = []
    for name in names:
        r = measure(name, device=args.device, dtype=dtype, profile=args.profile, seconds=args.seconds,
                    batch_size=args.batch_size, repeat=args.repeat, mode=args.mode)
        print(json.dumps(r), flush=True)
        results.append(r)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
