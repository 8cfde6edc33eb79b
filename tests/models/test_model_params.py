"""Every registered configuration has exactly the parameter count of models.md (network only, window excluded)."""

from __future__ import annotations

import pytest
import torch

from models import registry
from models.blocks import TDF

ALL = registry.model_names(builtin_only=True)  # the thesis models (survey separators: test_survey_models.py)

# models.md §1.3, §2.5, §3.6 — written out here so the test does not just compare the registry with itself.
EXPECTED = {
    "u7-dme": 987_282, "u7-mme": 987_282, "u7-cme-sigmoid": 987_476, "u7-cme-tanh": 987_476, "u7-dcse": 987_476,
    "u17-tfc-sampling-o": 1_564_660, "u17-tfc-sampling-x": 1_555_444, "u17-tfc-tdf": 1_930_840,
    "u9l-tfc-tdf": 2_232_132, "u9l-tfc-tdf-single": 11_991_972, "u9l-dme": 2_231_938, "u9l-tfc": 826_228,
    "cunet-film": 720_676, "cunet-film-tdf": 1_069_508, "cunet-film-lasaft": 7_998_436,
    "cunet-gpocm": 1_146_268, "cunet-gpocm-tdf": 1_495_100, "cunet-gpocm-lasaft": 8_424_028,
    "lasaft-gpocm-net12": 31_541_908,
    "amss-net": 4_245_068, "amss-net-wo-csa": 4_947_068, "amss-net-wo-smpocm": 2_423_852,
    "amss-net-separate": 4_245_068,
}


def test_registry_covers_every_table_row():
    assert set(ALL) == set(EXPECTED)
    tables = {(registry.get_info(n).table, registry.get_info(n).row) for n in ALL}
    assert len(tables) == len(ALL)  # no duplicated table rows


@pytest.mark.parametrize("name", ALL)
def test_parameter_count_matches_published(name):
    info = registry.get_info(name)
    assert info.published_params == EXPECTED[name]
    model = registry.create(name, init=False)  # real modules on the CPU, no re-initialisation cost
    n = sum(p.numel() for p in model.parameters())
    assert n == EXPECTED[name], f"{name}: {n:,} parameters, models.md says {EXPECTED[name]:,}"
    assert registry.count_params(name) == n
    # the STFT window is a (non-persistent) buffer, never a parameter
    names = {k for k, _ in model.named_parameters()}
    assert not any("window" in k for k in names)
    assert "stft.window" not in model.state_dict()
    assert model.info.name == name and model.info.profile == "paper"


@pytest.mark.parametrize("name", ALL)
def test_embedded_profile_is_named_and_smaller(name):
    model = registry.create(name, profile="embedded", init=False)
    assert model.info.name == f"{name}@embedded"
    assert model.info.profile == "embedded"
    assert model.num_parameters() == registry.count_params(f"{name}@embedded")
    # at most half the paper's count (the FiLM CUNets keep the paper's 24 channels at n_fft 512: 0.29–0.41×)
    assert model.num_parameters() < EXPECTED[name] / 2
    assert model.config["n_fft"] <= 512


#: embedded configurations owned by the CUNet families (docs/models.md, "Embedded profile"): they keep the floor of 4
NOT_SCALED_BY_THE_TDF_RULE = {n for n in ALL if registry.get_info(n).family == "conditioned"}


def tdf_bottlenecks(model) -> list[tuple[int, int]]:
    """(F, units) of every bottleneck TDF (Linear F -> u -> F) of a model."""
    return [(m.net[0].in_features, m.net[0].out_features) for m in model.modules()
            if isinstance(m, TDF) and len(m.net) == 6]


@pytest.mark.parametrize("name", [n for n in ALL if n not in NOT_SCALED_BY_THE_TDF_RULE])
def test_embedded_tdf_bottleneck_keeps_sixteen_units(name):
    """The embedded scale-down keeps the paper's floor of 16 units in every TDF bottleneck, so no level squeezes a
    channel's spectrum through a handful of units (4 kept u9l-tfc-tdf and u7-dcse at the silence level)."""
    emb = tdf_bottlenecks(registry.create(name, profile="embedded", init=False))
    assert all(u >= 16 for _, u in emb), emb
    paper = tdf_bottlenecks(registry.create(name, init=False))
    assert all(u >= min(16, f) for f, u in paper), paper  # the floor the embedded profile copies


def test_overrides_are_labelled_custom_and_unknown_keys_rejected():
    m = registry.create("u7-dcse", profile="embedded", channels=4, init=False)
    assert m.info.name == "u7-dcse@embedded@custom"
    m = registry.create("u7-dcse", source="drums", init=False)  # not structural
    assert m.info.name == "u7-dcse" and m.info.source == "drums"
    with pytest.raises(ValueError, match="unknown config keys"):
        registry.create("u7-dcse", nonsense=1)
    with pytest.raises(KeyError, match="registered"):
        registry.create("no-such-model")


def test_aliases_and_profile_suffix():
    assert registry.resolve("lasaft-gpocm-net11") == ("cunet-gpocm-lasaft", None)
    assert registry.resolve("amss-net@embedded") == ("amss-net", "embedded")
    assert registry.create("lasaft-gpocm-net11@embedded", init=False).info.name == "cunet-gpocm-lasaft@embedded"


def test_task_sets_and_sources():
    by = {i.name: i for i in registry.list_models()}
    assert by["amss-net"].task_set == "task2"
    assert by["amss-net-separate"].task_set == "task1"
    assert by["cunet-film"].task_set == "separation-conditioned"
    assert by["u7-dcse"].task_set == "separation-dedicated" and by["u7-dcse"].source == "vocals"
    assert by["amss-net"].source is None


def test_seeded_initialisation_is_reproducible_and_restores_rng():
    state = torch.random.get_rng_state()
    a = registry.create("amss-net", profile="embedded", seed=3)
    assert torch.equal(state, torch.random.get_rng_state())
    b = registry.create("amss-net", profile="embedded", seed=3)
    for (ka, pa), (kb, pb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert ka == kb and torch.equal(pa, pb)


@pytest.mark.parametrize("name,overrides,expected", [
    # models.md §2.5: the 2020 training recipe passed tfc_tdf_bias=True
    ("cunet-film-tdf", {"ft_bias": True}, 1_073_460),
    ("cunet-film-lasaft", {"ft_bias": True}, 8_022_100),
    ("cunet-gpocm-tdf", {"ft_bias": True}, 1_499_052),
    ("cunet-gpocm-lasaft", {"ft_bias": True}, 8_447_692),
    ("cunet-film", {"ft_bias": True}, 720_676),
    # models.md §1.3: the U7 model with TDF bias (and affine BN) has 992 100 parameters
    ("u7-dcse", {"tdf_bias": True, "tdf_affine": True}, 992_100),
    # models.md §3.8: Bi-GRU alternative of the description encoder
    ("amss-net", {"rnn": "gru"}, 4_245_068 - 2 * (128 * (100 + 128) + 2 * 128)),
])
def test_documented_switches(name, overrides, expected):
    assert registry.count_params(name, **overrides) == expected


def test_published_thesis_counts_include_the_window():
    # models.md §6 item 5: the thesis's 2.24M / 12.00M count the 4 096-sample window as a parameter
    assert registry.count_params("u9l-tfc-tdf") + 4096 == 2_236_228
    assert registry.count_params("u9l-tfc-tdf-single") + 4096 == 11_996_068
