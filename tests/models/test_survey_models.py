"""The survey's learned separators (models/survey; docs/models.md, "Survey separators"): parameter counts derived from
the papers' descriptions (computed here independently of the modules), shapes, queries, determinism, the papers' own
configurations (mono, 16 / 22.05 kHz) and the registry metadata the reports use. The overfit check covers them in
tests/models/test_overfit.py."""

from __future__ import annotations

import math

import pytest
import torch

from models import registry
from models.base import UnsupportedQueryError
from models.survey import ENTRIES, PAPER_NATIVE
from models.survey.common import fft_resample

#: the survey separators written in models/survey (the packaged ones are tested in test_packaged_models.py)
SURVEY = [n for n in registry.model_names(collection="survey") if n in ENTRIES]


def conv(cin, cout, *kernel, bias=True):
    return cin * cout * math.prod(kernel) + (cout if bias else 0)


def dense_block(cin, k, layers):
    """BN(c) + 3×3 conv(c -> k) per layer, c growing by k."""
    return sum(2 * (cin + i * k) + conv(cin + i * k, k, 3, 3) for i in range(layers))


def band_net(cin, first, dense):
    kt, kf, ch = first
    n = conv(cin, ch, kt, kf)
    c, enc = ch, []
    for k, layers in dense[:4]:
        n += dense_block(c, k, layers)
        c = k * layers
        enc.append(c)
    for j, (k, layers) in enumerate(dense[4:]):
        n += conv(c, c, 2, 2)  # transposed 2×2, channels kept
        n += dense_block(c + enc[2 - j], k, layers)
        c = k * layers
    return n, c


def mmdensenet_params(bands, final_dense=(4, 2), final_conv=(1, 2)):
    nets = {name: band_net(2, b["first"], b["dense"]) for name, b in bands.items()}
    n = sum(p for p, _ in nets.values())
    if len(bands) == 3:
        joint = max(nets["low"][1], nets["high"][1]) + nets["full"][1]
    else:
        joint = nets["full"][1]
    k, layers = final_dense
    return n + dense_block(joint, k, layers) + conv(k * layers, 2, *final_conv)


def waveunet_params(levels=12, fc=24, kd=15, ku=5, channels=2, sources=4):
    down = sum(conv(channels if i == 1 else fc * (i - 1), fc * i, kd) for i in range(1, levels + 1))
    mid = conv(fc * levels, fc * (levels + 1), kd)
    up = sum(conv(fc * (i + 1) + fc * i, fc * i, ku) for i in range(1, levels + 1))
    return down + mid + up + conv(fc + channels, (sources - 1) * channels, 1)  # difference output: sources - 1


def wavenet_params(stacks=4, dilations=10, ch=64, k=3, final=(2048, 256), outputs=3, channels=1):
    layer = conv(ch, 2 * ch, k) + conv(ch, 2 * ch, 1)
    return (conv(channels, ch, k) + stacks * dilations * layer + conv(ch, final[0], k) + conv(final[0], final[1], k)
            + conv(final[1], outputs * channels, 1))


def deepconvsep_params(bins=513, frames=30, vf=50, hf=30, kh=10, b=128, channels=1):
    flat = hf * (frames - kh + 1)
    enc = conv(channels, vf, 1, bins) + conv(vf, hf, kh, 1) + conv(flat, b)
    dec = conv(b, flat) + conv(hf, vf, kh, 1) + conv(vf, channels, 1, bins)
    return enc + 4 * dec


#: paper configurations: the count derived from the paper's description (the helper functions above) and its value
DERIVED = {
    "mmdensenet": (lambda: mmdensenet_params(ENTRIES["mmdensenet"]["config"]["bands"]), 636_006),
    "mdensenet": (lambda: mmdensenet_params(ENTRIES["mdensenet"]["config"]["bands"]), 292_370),
    "waveunet": (lambda: waveunet_params(), 10_263_498),
    "wavenet-separator": (lambda: wavenet_params(channels=2), 3_291_334),
    "deepconvsep": (lambda: deepconvsep_params(channels=2), 737_636),
}
#: the papers' own inputs (PAPER_NATIVE): Wave-U-Net 22.05 kHz stereo, Wavenet 16 kHz mono, DeepConvSep mono
NATIVE = {"waveunet": 10_263_498, "wavenet-separator": 3_290_371, "deepconvsep": 609_382}


def test_the_survey_collection_is_registered_with_its_papers():
    assert SURVEY == ["mmdensenet", "mdensenet", "waveunet", "wavenet-separator", "deepconvsep"] == list(ENTRIES)
    for name in SURVEY:
        info = registry.get_info(name)
        assert info.collection == "survey" and info.reference and info.origin == "built-in"
        assert info.pipeline_group == ("survey_dedicated" if info.family == "dedicated" else "survey")
    assert registry.get_info("mmdensenet").reference.startswith("N. Takahashi, Y. Mitsufuji")
    assert all(registry.get_info(n).collection == "thesis" for n in registry.model_names(builtin_only=True))
    assert not set(SURVEY) & set(registry.model_names(builtin_only=True))


@pytest.mark.parametrize("name", SURVEY)
def test_paper_parameter_count_matches_the_derivation(name):
    derive, expected = DERIVED[name]
    assert derive() == expected
    assert registry.count_params(name) == expected


def test_table_1_columns_are_the_papers():
    bands = ENTRIES["mmdensenet"]["config"]["bands"]
    assert bands["low"]["dense"] == [[14, 4]] + [[16, 4]] * 6 and bands["low"]["first"] == [3, 4, 32]
    assert bands["high"]["dense"] == [[10, 3]] * 7 and bands["high"]["first"] == [3, 3, 32]
    assert bands["full"]["dense"] == [[6, 2]] * 3 + [[6, 4]] + [[6, 2]] * 3
    assert ENTRIES["mdensenet"]["config"]["bands"] == {"full": {"first": [3, 4, 32], "dense": [[12, 4]] * 7}}


@pytest.mark.parametrize("name", sorted(NATIVE))
def test_papers_own_input_configuration_builds_and_runs(name):
    assert registry.count_params(name, **PAPER_NATIVE[name]) == NATIVE[name]
    model = registry.create(name, "embedded", seed=0, **PAPER_NATIVE[name])
    assert model.info.name == f"{name}@embedded@custom"
    x = torch.randn(2, 2, model.chunk_samples) * 0.1
    with torch.no_grad():
        y = model.separate(x, model.make_condition(["separate vocals", "mute vocals, drums, bass"]))
    assert y.shape == x.shape and torch.isfinite(y).all()
    if PAPER_NATIVE[name].get("audio_channels") == 1 and model.representation == "wave":
        assert torch.equal(y[:, 0], y[:, 1])  # a mono estimate on both channels


@pytest.mark.parametrize("name", SURVEY)
def test_paper_configuration_builds(name):
    model = registry.create(name, seed=0)
    assert model.info.name == name and model.num_parameters() == DERIVED[name][1]


@pytest.mark.parametrize("name", SURVEY)
def test_embedded_shapes_and_queries(name):
    model = registry.create(name, "embedded", seed=0).eval()
    queries = model.supported_queries()
    x = torch.randn(len(queries), 2, model.chunk_samples) * 0.1
    cond = model.make_condition(queries)
    with torch.no_grad():
        est = model(x, cond)
        target = model.spec(x)
        y = model.to_wave(est, x)
    assert est.shape == target.shape and y.shape == x.shape and torch.isfinite(y).all()
    if ENTRIES[name]["family"] == "dedicated":
        assert queries == ["separate vocals"] and cond is None
        assert registry.create(name, "embedded", source="other").supported_queries() == ["mute vocals, drums, bass"]
    else:
        assert queries == ["separate vocals", "separate drums", "separate bass", "mute vocals, drums, bass"]
        assert cond.tolist() == [0, 1, 2, 3]
        assert len({tuple(y[i].flatten()[:64].tolist()) for i in range(4)}) > 1  # the condition selects an output
    with pytest.raises(UnsupportedQueryError, match="cannot answer"):
        model.condition_for("pan vocals completely to the left side")


@pytest.mark.parametrize("name", SURVEY)
def test_same_seed_same_weights_and_outputs(name):
    a, b = (registry.create(name, "embedded", seed=3).eval() for _ in range(2))
    c = registry.create(name, "embedded", seed=4)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert any(not torch.equal(sa[k], sc[k]) for k in sa if sa[k].is_floating_point())
    x = torch.randn(2, 2, a.chunk_samples, generator=torch.Generator().manual_seed(0)) * 0.1
    cond = a.make_condition([a.supported_queries()[0]] * 2)
    with torch.no_grad():
        assert torch.equal(a.separate(x, cond), b.separate(x, cond))


@pytest.mark.parametrize("name", ["waveunet", "wavenet-separator"])
def test_the_remainder_output_completes_the_mixture(name):
    """Difference output (Wave-U-Net) / other as the remainder (Wavenet): the four outputs sum to the input."""
    model = registry.create(name, "embedded", seed=0).eval()
    x = torch.randn(1, 2, 4096) * 0.1
    with torch.no_grad():
        outs = model.all_sources(x)
    assert outs.shape == (1, 4, 2, 4096)
    torch.testing.assert_close(outs.sum(dim=1), x, atol=1e-5, rtol=0)


def test_deepconvsep_masks_sum_to_one_and_need_the_block_length():
    model = registry.create("deepconvsep", "embedded", seed=0).eval()
    x = torch.rand(1, 2, 30, 257, generator=torch.Generator().manual_seed(0)) + 0.1
    with torch.no_grad():
        m = model.masks(x)
    assert m.shape == (1, 4, 2, 30, 257) and (m >= 0).all()
    total = m.sum(dim=1)
    # soft masks share the mixture: they sum to 1 wherever the source estimates are not (near) all zero (ε = 1e-8)
    assert (total <= 1 + 1e-5).all()
    assert ((total - 1).abs() < 1e-4).float().mean() > 0.5
    with pytest.raises(ValueError, match="exactly num_frame = 30"):
        model.masks(torch.rand(1, 2, 29, 257))


def test_fft_resample_round_trip_of_a_band_limited_signal():
    t = torch.arange(4410) / 44100.0
    x = torch.sin(2 * math.pi * 440 * t)[None, None]
    down = fft_resample(x, 1600)  # 44.1 -> 16 kHz
    assert down.shape[-1] == 1600
    torch.testing.assert_close(fft_resample(down, 4410), x, atol=1e-4, rtol=0)


def test_results_of_a_survey_separator_name_its_collection_and_paper():
    from baselines.model import ModelSystem

    meta = ModelSystem(model=registry.create("deepconvsep", "embedded", seed=0)).metadata()["model_info"]
    assert meta["collection"] == "survey" and meta["reference"].startswith("P. Chandna")
    wave = ModelSystem(model=registry.create("wavenet-separator", "embedded", seed=0)).metadata()["model_info"]
    assert wave["collection"] == "survey" and wave["family"] == "conditioned" and "Lluís" in wave["reference"]


@pytest.mark.parametrize("kernel, dilation, stride, padding, bias", [
    (15, 1, 1, 7, True), (5, 1, 1, 2, True), (1, 1, 1, 0, True), (3, 8, 1, 8, True), (3, 64, 1, 64, False),
    (8, 1, 4, 0, True), (4, 2, 3, 1, True)])
def test_gemm_conv1d_is_conv1d_without_onednn(kernel, dilation, stride, padding, bias):
    """The waveform models' convolution: nn.Conv1d's parameters, output and gradients (to float rounding), and the
    same bits with oneDNN switched off, i.e. it never runs through oneDNN's cache-size-dependent kernels."""
    from models.survey.common import GemmConv1d

    torch.manual_seed(0)
    ref = torch.nn.Conv1d(6, 10, kernel, stride=stride, padding=padding, dilation=dilation, bias=bias)
    conv = GemmConv1d(6, 10, kernel, stride=stride, padding=padding, dilation=dilation, bias=bias)
    conv.load_state_dict(ref.state_dict())
    assert [n for n, _ in conv.named_parameters()] == [n for n, _ in ref.named_parameters()]
    x = torch.randn(3, 6, 1000, requires_grad=True)
    y = conv(x)
    y_ref = ref(x)
    assert y.shape == y_ref.shape
    torch.testing.assert_close(y, y_ref, rtol=1e-5, atol=1e-5)
    g = torch.randn_like(y)
    grads = torch.autograd.grad(y, [x, *conv.parameters()], g)
    grads_ref = torch.autograd.grad(y_ref, [x, *ref.parameters()], g)
    for a, b in zip(grads, grads_ref):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)
    with torch.backends.mkldnn.flags(enabled=False):
        y_native = conv(x)
        grads_native = torch.autograd.grad(y_native, [x, *conv.parameters()], g)
    assert torch.equal(y, y_native)
    assert all(torch.equal(a, b) for a, b in zip(grads, grads_native))


def test_gemm_conv1d_refuses_what_it_does_not_compute():
    from models.survey.common import GemmConv1d

    for kwargs in ({"groups": 2}, {"padding_mode": "reflect", "padding": 1}, {"padding": "same"}):
        with pytest.raises(ValueError, match="GemmConv1d supports one group"):
            GemmConv1d(4, 4, 3, **kwargs)


def test_the_waveform_models_use_no_onednn_convolution():
    for name in ("waveunet", "wavenet-separator"):
        model = registry.create(name, "embedded", seed=0)
        convs = [m for m in model.modules() if isinstance(m, torch.nn.modules.conv._ConvNd)]
        assert convs and all(type(m).__name__ == "GemmConv1d" for m in convs), name
