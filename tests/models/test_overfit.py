"""Every registry model can fit one fixed small batch: its own training loss (spectrogram MSE, models/training/
trainer.py ``_step``: ``mse(model(mix, cond), model.spec(target))`` on CaC, magnitude or, for the survey's waveform
separators, the waveform) falls, with Adam within a
bounded number of steps, to at most half the loss of a silent (all-zero) output on that batch.

A network that cannot leave the silent solution on a batch it may memorise cannot learn from the training set either
(docs/training.md, "What 'at the silence level' is"); this is the cheap check of that, run for every embedded
configuration in ``make test``. The paper configurations run the same check on a reduced input (a few frames, one
item) only on request (``pytest -m paper_overfit`` with ``AMSS_PAPER_OVERFIT=1``, docs/testing.md): they are large.
"""

from __future__ import annotations

import math
import os

import pytest
import torch
import torch.nn.functional as F

from models import recipes, registry

ALL = registry.model_names(builtin_only=True) + registry.model_names(collection="survey")  # thesis + survey

EMBEDDED_STEPS = 150
PAPER_STEPS = 150
LR = 5e-3  # the embedded recipe's learning rate of the thesis families (models/recipes.py)
RATIO = 0.5  # the loss must fall to at most this fraction of the silent output's loss
PAPER_ENV = "AMSS_PAPER_OVERFIT"


def queries(model, b: int) -> list[str]:
    """``b`` queries the model answers, different ones where the model is conditioned."""
    fam = model.info.family
    if fam == "dedicated":
        return [model.supported_queries()[0]] * b
    if fam == "conditioned":
        return ["separate vocals", "separate drums", "separate bass", "separate other"][:b]
    if model.info.task_set == "task1":
        return ["separate vocals", "mute drums, bass", "isolate bass, vocals", "get rid of drums"][:b]
    return ["separate vocals", "apply heavy lowpass to vocals, drums", "mute drums, bass",
            "pan bass completely to the right side"][:b]


def fixed_batch(model, b: int, frames: int):
    """A seeded mixture of two harmonic tones and noise, and as target the first tone's share (a separation every
    estimation method can express: a mask or a gain on the mixture, a magnitude, a complex spectrogram)."""
    n = model.config["hop_length"] * (frames - 1)
    g = torch.Generator().manual_seed(1234)
    t = torch.arange(n) / 44100.0
    items, targets = [], []
    for i in range(b):
        f0 = 220.0 * (1 + i)
        tone = sum(torch.sin(2 * math.pi * f0 * k * t) / k for k in (1, 2, 3))
        other = torch.sin(2 * math.pi * 1.5 * f0 * t) * 2.0
        noise = torch.randn(2, n, generator=g) * 0.02
        target = torch.stack([tone, 0.7 * tone]) * 0.1
        items.append(target + torch.stack([other, other]) * 0.1 + noise)
        targets.append(target)
    return torch.stack(items), torch.stack(targets)


def min_frames(model) -> int:
    """The fewest STFT frames the model's down-sampling schedule accepts without padding (at least 4)."""
    return max(4, int(getattr(model, "time_multiple", 8)))


def fit(model, b: int, frames: int, steps: int, lr: float = LR) -> tuple[float, float, int]:
    """Adam on one batch; returns (best loss, silent loss, steps taken). Stops once the loss is at or below
    ``RATIO`` × the silent loss."""
    torch.manual_seed(0)
    mix, target = fixed_batch(model, b, frames)
    cond = model.make_condition(queries(model, b))
    with torch.no_grad():
        ref = model.spec(target)
    silent = float(ref.pow(2).mean())
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    best = math.inf
    for step in range(1, steps + 1):
        loss = F.mse_loss(model(mix, cond), ref)
        best = min(best, float(loss.detach()))
        if best <= RATIO * silent:
            return best, silent, step
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return best, silent, steps


def _params(names, marks_for):
    return [pytest.param(n, marks=marks_for(n), id=n) for n in names]


@pytest.mark.parametrize("name", _params(ALL, lambda name: []))
def test_embedded_model_overfits_one_batch(name):
    model = registry.create(name, profile="embedded", seed=0)
    lr = float(recipes.recipe_for(name, "embedded")["lr"])  # the model's own embedded learning rate
    best, silent, steps = fit(model, b=2, frames=min_frames(model), steps=EMBEDDED_STEPS, lr=lr)
    assert silent > 0
    assert best <= RATIO * silent, (f"{name}@embedded: loss {best:.4g} after {steps} steps, silent output "
                                    f"{silent:.4g} (needs <= {RATIO} x)")


def test_fit_detects_a_model_that_does_not_learn():
    """The bound is not met at initialisation: with a zero learning rate the same loop ends above it."""
    for name in ("u7-dcse", "u7-mme", "amss-net"):
        model = registry.create(name, profile="embedded", seed=0)
        best, silent, steps = fit(model, b=2, frames=16, steps=3, lr=0.0)
        assert steps == 3 and best > RATIO * silent, name


@pytest.mark.paper_overfit
@pytest.mark.skipif(os.environ.get(PAPER_ENV) != "1",
                    reason=f"paper configurations are large: opt in with {PAPER_ENV}=1 (docs/testing.md)")
@pytest.mark.parametrize("name", ALL)
def test_paper_model_overfits_one_batch(name):
    model = registry.create(name, profile="paper", seed=0)
    best, silent, steps = fit(model, b=1, frames=max(16, min_frames(model)), steps=PAPER_STEPS)
    assert best <= RATIO * silent, (f"{name}: loss {best:.4g} after {steps} steps, silent output {silent:.4g} "
                                    f"(needs <= {RATIO} x)")
