"""Forward shapes of every model at the paper configuration (batch 1, a few frames) and of the embedded profile."""

from __future__ import annotations

import pytest
import torch

from models import registry

ALL = registry.model_names(builtin_only=True)  # the thesis models (survey separators: test_survey_models.py)


def condition(model, b=1):
    fam = model.info.family
    if fam == "dedicated":
        return None
    if fam == "conditioned":
        return torch.arange(b) % 4
    query = "pan vocals, drums completely to the left side" if model.info.task_set == "task2" else "mute drums, bass"
    return model.make_condition([query] * b)


def frames_needed(model) -> int:
    return max(model.time_multiple, 8)


@pytest.fixture(scope="module")
def paper_models():
    cache = {}

    def get(name):
        if name not in cache:
            cache.clear()  # keep at most one paper model alive (the largest has 31.5M parameters)
            cache[name] = registry.create(name, seed=0).eval()
        return cache[name]

    return get


@pytest.mark.parametrize("name", ALL)
def test_paper_forward_shapes(name, paper_models):
    model = paper_models(name)
    cfg = model.config
    t = frames_needed(model)
    n = cfg["hop_length"] * (t - 1)
    wave = torch.randn(1, 2, n) * 0.1
    c_io = 2 if model.representation == "mag" else 4
    with torch.no_grad():
        est = model(wave, condition(model))
        out = model.to_wave(est, wave)
    assert est.shape == (1, c_io, t, cfg["n_fft"] // 2 + 1)
    assert model.spec(wave).shape == est.shape
    assert out.shape == wave.shape
    assert torch.isfinite(out).all()


def test_u7_intermediate_shapes_match_spec_table():
    model = registry.create("u7-dcse", init=False).eval()
    seen = []
    for m in [*model.encoders, model.mid, *model.decoders]:
        m.register_forward_hook(lambda mod, inp, out: seen.append(tuple(out.shape)))
    with torch.no_grad():
        model(torch.randn(1, 2, 1024 * 127), None)
    assert seen == [(1, 24, 128, 1024), (1, 24, 64, 512), (1, 24, 32, 256), (1, 24, 16, 128),
                    (1, 24, 32, 256), (1, 24, 64, 512), (1, 24, 128, 1024)]


def test_u17_time_schedules():
    o = registry.create("u17-tfc-sampling-o", init=False)
    x = registry.create("u17-tfc-sampling-x", init=False)
    assert [d.conv.stride[0] for d in o.downs] == [2, 1, 2, 1, 2, 1, 2, 1]
    assert [u.conv.stride[0] for u in o.ups] == [1, 2, 1, 2, 1, 2, 1, 2]
    assert all(d.conv.stride[0] == 1 for d in x.downs)
    assert o.time_multiple == 16 and x.time_multiple == 1


def test_amss_intermediate_shapes():
    model = registry.create("amss-net", profile="embedded", seed=0).eval()
    seen = []
    for m in [*model.encoders, model.mid, *model.decoders]:
        m.register_forward_hook(lambda mod, inp, out: seen.append(tuple(out.shape)))
    wave = torch.randn(2, 2, model.chunk_samples)
    with torch.no_grad():
        est = model(wave, model.make_condition(["separate vocals", "apply heavy lowpass to drums, vocals"]))
    c = model.config["channels"]
    assert seen == [(2, c, 128, 256), (2, c, 64, 128), (2, c, 32, 64), (2, c, 16, 32),
                    (2, c, 32, 64), (2, c, 64, 128), (2, c, 128, 256)]
    assert est.shape == (2, 4, 128, 257)


@pytest.mark.parametrize("name", ALL)
def test_embedded_forward_on_3s_clip(name):
    model = registry.create(name, profile="embedded", seed=0).eval()
    wave = torch.randn(1, 2, 3 * 44100) * 0.1
    with torch.no_grad():
        out = model.separate(wave, condition(model, 1))
    assert out.shape == wave.shape and torch.isfinite(out).all()


def test_odd_frame_counts_are_padded_internally():
    model = registry.create("cunet-gpocm-lasaft", profile="embedded", seed=0).eval()
    wave = torch.randn(1, 2, 256 * 50)  # 51 frames, not a multiple of 8
    with torch.no_grad():
        est = model(wave, torch.tensor([2]))
    assert est.shape == (1, 4, 51, 257)
