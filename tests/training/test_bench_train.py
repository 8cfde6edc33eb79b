"""Training-step throughput at a scaled-down configuration on CPU (pytest-benchmark).

Run the measurement with ``pytest tests/training/test_bench_train.py --benchmark-enable``; by default
(``--benchmark-disable`` in pyproject) each benchmark body runs once as a smoke test. Numbers are recorded in
docs/performance.md ("Training")."""

from __future__ import annotations

import math

import pytest
import torch

from benchmark.gate.speed_cases import adam_step
from models.training import bench

TINY = dict(n_fft=256, hop_length=128, num_frame=32, channels=4, tfc_layers=2)


@pytest.mark.benchmark(group="train-step-embedded")
@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
@pytest.mark.parametrize("name", ["u7-dcse", "cunet-gpocm-lasaft", "amss-net"])
def test_bench_train_step_embedded(benchmark, name, layout):
    """One optimiser step (forward, spectrogram MSE, backward, Adam) of the embedded model at the embedded recipe's
    batch (8 × 4 032 samples), fp32, one thread; contiguous vs channels-last convolutions side by side (the
    embedded recipe uses channels-last)."""
    from models import registry
    from models.base import autocast_context  # noqa: F401 - same path as the trainer

    model = registry.create(name, "embedded", seed=0).train()
    if layout == "channels_last":
        model.to(memory_format=torch.channels_last)
    x, y, cond = bench.make_batch(model, 8, 4032, torch.device("cpu"))
    loss = benchmark.pedantic(adam_step(model, x, y, cond), rounds=3, iterations=1, warmup_rounds=1)
    assert math.isfinite(loss) and loss > 0  # loss == loss would let +-inf through


def test_bench_script_runs_on_cpu(tmp_path):
    """``python -m models.training.bench`` end to end (tiny step count, JSON report)."""
    out = tmp_path / "bench.json"
    rc = bench.main(["--device", "cpu", "--profile", "embedded", "--models", "u7-dcse", "--modes", "fp32", "bf16",
                     "--steps", "1", "--warmup", "1", "--segment", "4096", "--batch", "2", "--json", str(out)])
    import json

    report = json.loads(out.read_text())
    assert rc == 0 and {r["mode"] for r in report["results"]} == {"fp32", "bf16"}
    assert all(r["steps_per_s"] > 0 for r in report["results"])
