"""The speed cases of the regression gate: the paths users wait for, as pytest-benchmark benchmarks.

The gate (``benchmark/gate/speed.py``) copies this file into a scratch folder and runs it with pytest against the
base's code and the head's (``PYTHONPATH`` = that tree), so both sides measure *the same workload*; a case whose API
the base lacks fails there and is reported as not comparable. In the test suite it runs once as a smoke test
(``tests/test_gate_speed.py``). Every case is seeded and single-threaded (the gate pins the numerics).
"""

from __future__ import annotations

import numpy as np
import pytest

SR = 44100
BSS_SECONDS = 150.0           # "a multi-minute track": 2.5 min, 4 stereo targets
FAMILIES = ("u7-dme", "cunet-gpocm-lasaft", "amss-net")   # dedicated, conditioned, AMSS
PAIR_TASKS = ("lowpass-drums", "pan-left-vocals", "dereverb-bass", "volume-up-bass")
ROUNDS = 7                    # measured rounds per case in one pytest run (after one warm-up): medians of 7


def adam_step(model, x, y, cond, lr: float = 1e-3):
    """One optimiser step of the training contract (forward, spectrogram MSE, backward, Adam) as a closure."""
    import torch

    opt = torch.optim.Adam(model.parameters(), lr=lr)

    def step() -> float:
        loss = torch.nn.functional.mse_loss(model(x, cond), model.spec(y))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return float(loss.detach())

    return step


def _rounds(benchmark):
    return dict(rounds=ROUNDS, warmup_rounds=1, iterations=1)


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    import torch

    torch.set_num_threads(1)


def _stems(seconds: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    t = np.arange(n) / SR
    stems = []
    for k in range(4):
        tone = 0.2 * np.sin(2 * np.pi * (110.0 * (k + 1)) * t)
        noise = rng.standard_normal((n, 2)) * 0.05
        stems.append((tone[:, None] + noise) * 0.5)
    return np.stack(stems).astype(np.float32)   # (4, N, 2)


@pytest.mark.benchmark(group="gate: BSS-Eval fast back-end, 150 s, 4 stereo targets")
def test_speed_bss_fast(benchmark):
    from benchmark.scoring.metrics import bss

    stems = _stems(BSS_SECONDS)
    rng = np.random.default_rng(1)
    names = ("vocals", "drums", "bass", "other")
    refs = {k: stems[i] for i, k in enumerate(names)}
    ests = {k: stems[i] + rng.standard_normal(stems[i].shape).astype(np.float32) * 0.05 for i, k in enumerate(names)}
    res = benchmark.pedantic(bss.bss_eval_track, args=(refs, ests), kwargs={"backend": "fast"}, rounds=1,
                             warmup_rounds=0, iterations=1)
    assert np.isfinite(np.nanmedian(res["vocals"]["SDR"]))


@pytest.mark.benchmark(group="gate: model forward, one window, embedded")
@pytest.mark.parametrize("name", FAMILIES)
def test_speed_forward(benchmark, name):
    import torch

    from models import registry

    model = registry.create(name, profile="embedded", seed=0).eval()
    g = torch.Generator().manual_seed(0)
    wave = torch.randn(1, 2, model.chunk_samples, generator=g) * 0.1
    cond = None if model.info.family == "dedicated" else model.make_condition([model.supported_queries()[0]])

    def forward():
        with torch.inference_mode():
            return model.separate(wave, cond)

    out = benchmark.pedantic(forward, **_rounds(benchmark))
    assert out.shape == wave.shape


@pytest.mark.benchmark(group="gate: one training step, embedded")
@pytest.mark.parametrize("name", FAMILIES)
def test_speed_train_step(benchmark, name):
    import torch

    from models import registry
    from models.training import bench

    model = registry.create(name, profile="embedded", seed=0).train()
    x, y, cond = bench.make_batch(model, 8, 4032, torch.device("cpu"))
    assert np.isfinite(benchmark.pedantic(adam_step(model, x, y, cond), **_rounds(benchmark)))


@pytest.mark.benchmark(group="gate: test-set pair generation (SoX), 12 s")
@pytest.mark.parametrize("task_id", PAIR_TASKS)
def test_speed_pair(benchmark, task_id):
    from benchmark.task import tasks, testset

    stems = _stems(12.0, seed=2)
    mixture = stems.sum(axis=0)
    task = tasks.get_task(task_id)
    pair = benchmark.pedantic(testset.pair_from_audio, args=(task, stems, mixture), **_rounds(benchmark))
    assert pair.input.shape == mixture.shape
