"""The survey's learned separators (models/packaged.py): Open-Unmix, Demucs (v2), Conv-TasNet.

Parameter counts of the paper configurations (written out here), equality with the maintained packages' own models
(their state dicts load unchanged and give the same output), shapes and the training contract of the embedded
configurations, determinism, the queries they answer. The overfit check runs for them in tests/models/
test_overfit.py like for every registry model."""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types

import numpy as np
import pytest
import torch

from models import registry
from models import packaged

SURVEY = ["umx", "demucs-v2", "conv-tasnet"]
# The paper configurations' counts, each as its package computes it for the same configuration (UMX: the
# openunmix umxhq configuration, 8.9 M per target; Demucs: demucs.demucs.Demucs(channels=64, depth=6,
# lstm_layers=2, context=1, glu, no norm, no DConv); Conv-TasNet: asteroid.models.ConvTasNet(n_src=4)).
PAPER_PARAMS = {"umx": 8_893_348, "demucs-v2": 265_679_496, "conv-tasnet": 5_182_641}


def _import_openunmix(monkeypatch):
    """openunmix.model, with an empty stand-in for torchaudio (imported at module level by openunmix.utils and
    openunmix.transforms, never called by the network; the CPU build matching torch 2.13 is not installed)."""
    if importlib.util.find_spec("openunmix") is None:
        pytest.skip("the openunmix package is not installed")
    if importlib.util.find_spec("torchaudio") is None:
        monkeypatch.setitem(sys.modules, "torchaudio", types.ModuleType("torchaudio"))  # removed after the test
    try:
        return importlib.import_module("openunmix.model")
    except ImportError as err:  # pragma: no cover - depends on the installed package
        pytest.skip(f"openunmix.model does not import: {err}")


def test_the_survey_models_are_flagged_and_registered():
    assert registry.survey_names() == registry.model_names(collection="survey")
    assert [n for n in registry.survey_names() if n in SURVEY] == SURVEY
    for name in SURVEY:
        info = registry.get_info(name)
        assert info.collection == "survey" and info.reference
        assert info.name not in registry.model_names(builtin_only=True)
    assert all(registry.get_info(n).collection == "thesis" for n in registry.model_names(builtin_only=True))
    assert registry.get_info("umx").family == "dedicated" and registry.get_info("demucs-v2").family == "conditioned"


@pytest.mark.parametrize("name", SURVEY)
def test_paper_parameter_count(name):
    assert registry.get_info(name).published_params == PAPER_PARAMS[name]
    assert registry.count_params(name) == PAPER_PARAMS[name]
    emb = registry.count_params(name, "embedded")
    assert emb < PAPER_PARAMS[name] / 50


def test_umx_matches_the_openunmix_package(monkeypatch):
    model_mod = _import_openunmix(monkeypatch)
    ref = model_mod.OpenUnmix(nb_bins=2049, nb_channels=2, hidden_size=512, nb_layers=3, max_bin=1487)
    assert sum(p.numel() for p in ref.parameters()) == PAPER_PARAMS["umx"]
    # a small configuration with 2 LSTM layers (dropout between them in the package), random weights and statistics
    cfg = registry.config_for("umx", "embedded")
    torch.manual_seed(0)
    ref = model_mod.OpenUnmix(nb_bins=cfg["n_fft"] // 2 + 1, nb_channels=2, hidden_size=cfg["hidden_size"],
                              nb_layers=2, max_bin=cfg["max_bin"])
    with torch.no_grad():
        for _, p in ref.named_parameters():
            p.copy_(torch.randn_like(p) * 0.3)
        for n, b in ref.named_buffers():
            if "running_var" in n:
                b.copy_(torch.rand_like(b) + 0.5)
            elif "running_mean" in n:
                b.copy_(torch.randn_like(b) * 0.1)
    ours = registry.create("umx@embedded", nb_layers=2, lstm_dropout=0.4)
    ours.load_state_dict(ref.state_dict())  # the same names and shapes
    ref.eval(), ours.eval()
    x = torch.rand(2, 2, cfg["n_fft"] // 2 + 1, 40)
    with torch.no_grad():
        a = ref(x)
        b = ours.estimate(x.permute(0, 1, 3, 2)).permute(0, 1, 3, 2)
    torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-5)


def test_demucs_matches_the_demucs_package():
    demucs = pytest.importorskip("demucs.demucs")
    kw = dict(context=1, gelu=False, glu=True, dconv_mode=0, rescale=0.1)
    ref = demucs.Demucs(["vocals", "drums", "bass", "other"], channels=64, depth=6, lstm_layers=2, norm_starts=7,
                        normalize=False, resample=True, **kw)
    assert sum(p.numel() for p in ref.parameters()) == PAPER_PARAMS["demucs-v2"]
    cfg = registry.config_for("demucs-v2", "embedded")
    torch.manual_seed(0)
    ref = demucs.Demucs(["vocals", "drums", "bass", "other"], channels=cfg["channels"], depth=cfg["depth"],
                        lstm_layers=2, norm_starts=99, normalize=True, resample=True, **kw)
    ours = registry.create("demucs-v2@embedded", lstm_layers=2, normalize=True, resample=True)
    ours.load_state_dict(ref.state_dict())
    ref.eval(), ours.eval()
    x = torch.randn(2, 2, 20001) * 0.3
    with torch.no_grad():
        a = ref(x)
        b = ours.sources(x)
        assert b.shape == a.shape == (2, 4, 2, 20001)
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-5)
        cond = ours.make_condition(["separate drums", "mute vocals, drums, bass"])
        torch.testing.assert_close(ours(x, cond), torch.stack([a[0, 1], a[1, 3]]), rtol=1e-4, atol=1e-5)


def test_resampling_matches_julius():
    julius = pytest.importorskip("julius")
    x = torch.randn(3, 5001)
    for old, new in ((1, 2), (2, 1)):
        ref = julius.resample_frac(x, old, new)
        ours = packaged.resample_frac(x, old, new)
        assert ours.shape == ref.shape
        torch.testing.assert_close(ours, ref, rtol=0, atol=5e-6)


def test_conv_tasnet_matches_the_asteroid_package():
    asteroid_models = pytest.importorskip("asteroid.models")
    ref = asteroid_models.ConvTasNet(n_src=4)
    assert sum(p.numel() for p in ref.parameters()) == PAPER_PARAMS["conv-tasnet"]
    cfg = registry.config_for("conv-tasnet", "embedded")
    torch.manual_seed(0)
    ref = asteroid_models.ConvTasNet(n_src=4, n_filters=cfg["n_filters"], kernel_size=cfg["fb_kernel_size"],
                                     stride=cfg["fb_stride"], bn_chan=cfg["bn_chan"], hid_chan=cfg["hid_chan"],
                                     skip_chan=cfg["skip_chan"], n_blocks=cfg["n_blocks"],
                                     n_repeats=cfg["n_repeats"], mask_act=cfg["mask_act"])
    ours = registry.create("conv-tasnet@embedded")
    ours.load_state_dict(ref.state_dict())
    ref.eval(), ours.eval()
    x = torch.randn(3, 1, 8003) * 0.3
    with torch.no_grad():
        torch.testing.assert_close(ours.separate_mono(x), ref(x), rtol=1e-4, atol=1e-6)
        # stereo = the mono network on each channel
        st = torch.randn(2, 2, 4000)
        est = ours.sources(st)
        torch.testing.assert_close(est[:, :, 1], ref(st[:, 1:2]), rtol=1e-4, atol=1e-6)


def test_portable_lstm_equals_torch_lstm():
    torch.manual_seed(0)
    for kw in (dict(num_layers=2, bidirectional=True), dict(num_layers=1, bidirectional=False, batch_first=True)):
        m = torch.nn.LSTM(6, 5, **kw).eval()
        x = torch.randn(7, 3, 6)
        torch.testing.assert_close(packaged.lstm(m, x), m(x)[0], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", SURVEY)
def test_embedded_shapes_contract_and_determinism(name):
    a = registry.create(name, profile="embedded", seed=1)
    b = registry.create(name, profile="embedded", seed=1)
    for (ka, pa), (kb, pb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert ka == kb and torch.equal(pa, pb)
    c = registry.create(name, profile="embedded", seed=2)
    assert any(not torch.equal(p, q) for p, q in zip(a.parameters(), c.parameters()))
    n = a.chunk_samples
    wave = torch.randn(2, 2, n) * 0.1
    queries = [a.supported_queries()[0]] * 2 if name == "umx" else ["separate vocals", "mute vocals, drums, bass"]
    cond = a.make_condition(queries)
    a.eval(), b.eval()
    with torch.no_grad():
        est = a(wave, cond)
        assert est.shape == a.spec(wave).shape
        out = a.to_wave(est, wave)
        assert out.shape == wave.shape and torch.isfinite(out).all()
        assert torch.equal(out, b.to_wave(b(wave, cond), wave))  # same seed, same bits
    track = np.random.default_rng(0).standard_normal((n + 1234, 2)).astype(np.float32) * 0.1
    y = a.manipulate(track, queries[0])
    assert y.shape == track.shape and y.dtype == np.float32
    assert np.array_equal(y, b.manipulate(track, queries[0]))


def test_queries():
    d = registry.create("demucs-v2@embedded", seed=0)
    assert d.supported_queries() == ["separate vocals", "separate drums", "separate bass", "mute vocals, drums, bass"]
    assert [d.condition_for(q) for q in d.supported_queries()] == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="cannot answer"):
        d.condition_for("pan vocals completely to the left side")
    u = registry.create("umx@embedded", seed=0, source="drums")
    assert u.supported_queries() == ["separate drums"]
    with pytest.raises(ValueError, match="cannot answer"):
        u.condition_for("separate vocals")
    with pytest.raises(ValueError, match="condition"):
        d(torch.zeros(1, 2, 1000))


def test_umx_input_statistics_match_sklearn_standard_scaler():
    """The openunmix training script's get_statistics: StandardScaler over the channel-averaged magnitude frames of
    whole tracks, the deviation floored at 1e-4 × its largest value; input_mean = -mean, input_scale = 1 / std."""
    from sklearn.preprocessing import StandardScaler

    m = registry.create("umx@embedded", seed=0)
    rng = np.random.default_rng(3)
    tracks = [rng.standard_normal((n, 2)).astype(np.float32) * g for n, g in ((9000, 0.1), (5000, 0.5))]
    stats = m.fit_input_statistics(iter(tracks))
    scaler = StandardScaler()
    frames = 0
    for t in tracks:
        mag = m.stft.magnitude(torch.from_numpy(t).T.unsqueeze(0))[0].mean(0).double().numpy()
        scaler.partial_fit(mag)
        frames += mag.shape[0]
    std = np.maximum(scaler.scale_, 1e-4 * np.max(scaler.scale_))
    assert stats["frames"] == frames
    np.testing.assert_allclose(stats["mean"], scaler.mean_, rtol=1e-10)
    np.testing.assert_allclose(stats["std"], std, rtol=1e-9)
    nb = m.nb_bins
    assert nb < m.nb_output_bins  # only the first max_bin bins feed the network
    torch.testing.assert_close(m.input_mean.detach(), torch.from_numpy(-scaler.mean_[:nb]).float())
    torch.testing.assert_close(m.input_scale.detach(), torch.from_numpy(1.0 / std[:nb]).float())
    again = registry.create("umx@embedded", seed=0)
    again.fit_input_statistics(iter(tracks))
    assert torch.equal(again.input_mean, m.input_mean) and torch.equal(again.input_scale, m.input_scale)
    with pytest.raises(ValueError, match="no training frames"):
        m.fit_input_statistics(iter([]))
    with pytest.raises(ValueError, match="silent"):
        m.fit_input_statistics(iter([np.zeros((4000, 2), np.float32)]))


def test_the_umx_paper_recipe_fits_input_statistics():
    from models import recipes

    assert recipes.recipe_for("umx", "paper")["input_stats"] is True
    assert recipes.recipe_for("umx", "embedded")["input_stats"] is False
    # and augments every source as the openunmix training script's MUSDB default does
    assert recipes.recipe_for("umx", "paper")["source_augmentations"] == ["gain", "channelswap"]
    assert recipes.recipe_for("umx", "embedded")["source_augmentations"] == []
    with pytest.raises(recipes.RecipeError, match="input_stats"):
        recipes.validate({**recipes.recipe_for("umx", "embedded"), "input_stats": "yes"})
