"""CPU forward throughput per family at the scaled-down (embedded) configuration.

Run the measurement with ``pytest tests/models/test_bench_models.py --benchmark-enable``; in the normal suite
(``--benchmark-disable`` in pyproject) each case runs once as a smoke test. ``extra_info["x_realtime"]`` is seconds of
audio processed per second of wall time (one window: hop · 127 samples, batch 1, fp32, eval, no grad).
The GPU real-time factor of the paper configurations is measured by ``python -m models.bench_rtf``.
"""

from __future__ import annotations

import pytest
import torch

from models import registry

CASES = ["u7-dcse", "u7-mme", "u17-tfc-tdf", "u9l-tfc-tdf", "cunet-film", "cunet-gpocm-lasaft", "lasaft-gpocm-net12",
         "amss-net", "amss-net-wo-csa", "amss-net-wo-smpocm"]


@pytest.mark.benchmark
@pytest.mark.parametrize("name", CASES)
def test_forward_throughput_embedded(benchmark, name):
    torch.manual_seed(0)
    model = registry.create(name, profile="embedded", seed=0).eval()
    wave = torch.randn(1, 2, model.chunk_samples) * 0.1
    fam = model.info.family
    cond = None if fam == "dedicated" else model.make_condition([model.supported_queries()[0]])

    def step():
        with torch.inference_mode():
            return model.separate(wave, cond)

    out = benchmark(step)
    assert out.shape == wave.shape
    stats = getattr(benchmark, "stats", None)
    seconds = model.chunk_samples / 44100
    benchmark.extra_info.update(model=model.info.name, family=fam, params=model.num_parameters(),
                                audio_seconds=seconds, threads=torch.get_num_threads())
    if stats is not None and getattr(stats, "stats", None) is not None:
        benchmark.extra_info["x_realtime"] = seconds / stats.stats.median
