"""Registry of every architecture configuration of the thesis tables (models.md §1.3, §2.5, §3.6).

``list_models()`` -> list of :class:`ModelInfo` (paper configurations);
``create(name, profile="paper" | "embedded", seed=None, **overrides)`` -> an initialised model (``AudioModel``).

* ``published_params`` is the exact network-only parameter count of models.md (window not counted); the parametrised
  test ``tests/models/test_params.py`` asserts it for every entry. ``thesis_params`` is the rounded value printed in
  the thesis tables, where there is one.
* ``profile="embedded"`` builds a scaled-down version of the same architecture (n_fft 512 / hop 256, 8 channels,
  3-layer TFCs, a TDF bottleneck of at least 16 units outside the conditioned U-Nets, …; docs/models.md, "The
  scale-down rule") for CPU runs. Its name carries the suffix ``@embedded`` (``model.info.name``) and it is never the
  paper model. Structural overrides add ``@custom``. ``create("u7-dcse@embedded")`` is the same as
  ``create("u7-dcse", profile="embedded")``.
* Dedicated models are trained per source: ``create("u7-dcse", source="drums")`` (default: vocals).
* Every entry names its training-recipe family (``recipe_family``: u7 | u17 | u9l | cunet | lasaft12 | amss, or one
  added with ``models.recipes.register_family``) and its pipeline group (``pipeline_group``: dedicated |
  separation | amss: the ``params.yaml`` ``train`` list, i.e. the DVC train/evaluate stages, it belongs to).
  Nothing is derived from a model's name.
* Out-of-tree models: :func:`register` (see ``models.plugins``), called by the functions of the installed packages'
  ``amss_bench.models`` entry points when the registry is first used (docs/models.md, "Adding a model").
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field

import torch

from . import plugins
from . import recipes as rec
from .amss import AMSSNet
from .base import INFERENCE_DEFAULTS, AudioModel
from .cunet import ConditionedUNet
from .survey import ENTRIES as SURVEY_ENTRIES
from .survey.deepconvsep import DeepConvSep
from .survey.mmdensenet import MMDenseNet
from .survey.waveunet import WaveUNet
from .survey.wavenet import WavenetSeparator
from .packaged import ConvTasNet, DemucsV2, OpenUnmix
from .unet import DedicatedUNet

PROFILES = ("paper", "embedded")
FAMILIES = ("dedicated", "conditioned", "amss")
#: the params.yaml ``train`` list (and DVC stages) of a model: the thesis groups, then the survey separators'
#: (train.survey_dedicated: one network per source; train.survey: one multi-output network)
PIPELINE_GROUPS = ("dedicated", "separation", "amss", "survey_dedicated", "survey")
ARCHES = {"dedicated": DedicatedUNet, "conditioned": ConditionedUNet, "amss": AMSSNet,
          "mmdensenet": MMDenseNet, "waveunet": WaveUNet, "wavenet": WavenetSeparator, "deepconvsep": DeepConvSep}
#: the survey's learned separators from maintained packages (models/packaged.py): built in, not thesis architectures
SURVEY_ARCHES = {"umx": OpenUnmix, "demucs": DemucsV2, "convtasnet": ConvTasNet}
#: where a registry entry comes from: the thesis tables, or the survey's learned separators (models/survey, models/packaged.py)
COLLECTIONS = ("thesis", "survey")
#: Config keys that do not change the architecture (no "@custom" suffix when overridden).
NON_STRUCTURAL = frozenset(
    {"source", "glove_path", "inference_mode", "amss_min_trim", "lasaft_min_trim", "overlap_ratio", "task_set"}
)


@dataclass(frozen=True)
class ModelInfo:
    name: str
    family: str  # training-data kind: "dedicated" | "conditioned" | "amss"
    table: str  # thesis table, e.g. "3.1" ("" for an out-of-tree model)
    row: str  # row label in that table
    published_params: int | None  # exact network-only count (models.md); None: none published (out-of-tree)
    config: dict = field(compare=False, hash=False)
    task_set: str = "separation-dedicated"  # | "separation-conditioned" | "task2" | "task1"
    source: str | None = None  # dedicated models: the source this instance separates (default vocals)
    thesis_params: str | None = None  # as printed in the thesis ("1.56M"), None where the thesis gives no count
    also_in: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    description: str = ""
    profile: str = "paper"
    registry_name: str = ""  # the registry key (name without profile suffix)
    recipe_family: str = ""  # models.recipes family: u7 | u17 | u9l | cunet | lasaft12 | amss | registered
    pipeline_group: str = ""  # params.yaml train list / DVC stages: "dedicated" | "separation" | "amss"
    origin: str = "built-in"  # or the entry point / register() call that added it
    collection: str = "thesis"  # "thesis" (Choi 2021) | "survey" (models/survey: the survey's learned separators)
    reference: str = ""  # the paper of a survey separator (authors, title, venue, year)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["also_in"] = list(self.also_in)
        d["aliases"] = list(self.aliases)
        return d


# ---------------------------------------------------------------------------------------------- base configurations

_COMMON = dict(n_fft=2048, hop_length=1024, num_frame=128, channels=24, tfc_layers=5, kernel=3, n_blocks=7, bf=16,
               min_units=16, amss_min_trim=16384, lasaft_min_trim=5000, overlap_ratio=0.5)
_COMMON_EMBEDDED = dict(n_fft=512, hop_length=256, channels=8, tfc_layers=3, min_units=4, amss_min_trim=4096,
                        lasaft_min_trim=1250)

_DEDICATED = dict(_COMMON, arch="dedicated", method="dcse", source="vocals", time_down=[True, True, True],
                  block="tfc_tdf", tdf="bottleneck", tdf_bias=False, tdf_affine=False, inference_mode="lasaft")
_CONDITIONED = dict(_COMMON, arch="conditioned", modulation="gpocm", ft_block="lasaft", ft_bias=False, n_conditions=4,
                    embedding_dim=32, dropout=0.5, n_latent=6, d_k=32, inference_mode="lasaft")
_AMSS = dict(_COMMON, arch="amss", variant="full", task_set="task2", tdf_bias=False, heads=6, latents_per_head=8,
             vocab_size=34, word_dim=100, rnn="lstm", rnn_hidden=128, d_k=128, lasaft_latents=8, glove_path=None,
             inference_mode="amss")

# The TDF bottleneck keeps the paper's floor of 16 units in the embedded dedicated and AMSS models (docs/models.md,
# "Embedded profile"): with the common floor of 4, the TDF at the lowest levels (F = 16-64 bins) squeezed every
# channel's spectrum through 4 units and the CaC-output networks stayed at the silence solution.
_EMB_DEDICATED = dict(min_units=16)
_EMB_CONDITIONED = dict(embedding_dim=8, n_latent=3, d_k=8)
_EMB_AMSS = dict(heads=2, latents_per_head=4, word_dim=16, rnn_hidden=16, d_k=16, lasaft_latents=4, min_units=16)

_EMB_FAMILY = {"dedicated": _EMB_DEDICATED, "conditioned": _EMB_CONDITIONED, "amss": _EMB_AMSS}

_O8 = [True, False] * 4  # U17 "sampling O": time halved at encoder levels 0, 2, 4, 6
_X8 = [False] * 8

# name -> (info kwargs, paper config, embedded overrides)
_ENTRIES: dict[str, tuple[dict, dict, dict]] = {}


def _add(name, family, recipe_family, pipeline_group, table, row, params, config, embedded=None, **info):
    base = {"dedicated": _DEDICATED, "conditioned": _CONDITIONED, "amss": _AMSS}[family]
    cfg = dict(base)
    cfg.update(config)
    emb = dict(_COMMON_EMBEDDED)
    emb.update(_EMB_FAMILY[family])
    emb.update(embedded or {})
    task_set = {"dedicated": "separation-dedicated", "conditioned": "separation-conditioned"}.get(
        family, cfg.get("task_set")
    )
    _ENTRIES[name] = (
        dict(name=name, family=family, table=table, row=row, published_params=params, task_set=task_set,
             source=cfg.get("source"), registry_name=name, recipe_family=recipe_family,
             pipeline_group=pipeline_group, **info),
        cfg,
        emb,
    )


# Chapter 3, Table 3.1: U7 TFC-TDF, TDF bias false (BN non-affine)
_add("u7-dme", "dedicated", "u7", "dedicated", "3.1", "DME", 987_282, dict(method="dme"),
     description="U7 TFC-TDF, direct magnitude estimation (ReLU output), mixture phase")
_add("u7-mme", "dedicated", "u7", "dedicated", "3.1", "MME", 987_282, dict(method="mme"),
     description="U7 TFC-TDF, magnitude mask (sigmoid) × mixture magnitude")
_add("u7-cme-sigmoid", "dedicated", "u7", "dedicated", "3.1", "CME-σ", 987_476, dict(method="cme_sigmoid"),
     description="U7 TFC-TDF, element-wise sigmoid masks on the 4 CaC channels")
_add("u7-cme-tanh", "dedicated", "u7", "dedicated", "3.1", "CME-tanh", 987_476, dict(method="cme_tanh"),
     description="U7 TFC-TDF, element-wise tanh masks on the 4 CaC channels")
_add("u7-dcse", "dedicated", "u7", "dedicated", "3.1", "DCSE", 987_476, dict(method="dcse"), thesis_params="0.99M",
     also_in=("3.5 r3 (TFC-TDF, 7 blocks)", "4.1 dedicated (chapter 3)"),
     description="U7 TFC-TDF, direct complex (CaC) spectrogram estimation")
# Table 3.5: 17-block models
_add("u17-tfc-sampling-o", "dedicated", "u17", "dedicated", "3.5", "r1 TFC, time sampling O", 1_564_660,
     dict(n_blocks=17, block="tfc", time_down=_O8), dict(n_blocks=9, time_down=[True, False, True, False]),
     thesis_params="1.56M", description="U17 TFC only, time halved at encoder levels 0, 2, 4, 6")
_add("u17-tfc-sampling-x", "dedicated", "u17", "dedicated", "3.5", "r2 TFC, time sampling X", 1_555_444,
     dict(n_blocks=17, block="tfc", time_down=_X8), dict(n_blocks=9, time_down=[False] * 4),
     thesis_params="1.56M", description="U17 TFC only, frequency-only sampling")
_add("u17-tfc-tdf", "dedicated", "u17", "dedicated", "3.5", "r4 TFC-TDF, 17 blocks", 1_930_840,
     dict(n_blocks=17, block="tfc_tdf", time_down=_O8, tdf_bias=True, tdf_affine=True),
     dict(n_blocks=9, time_down=[True, False, True, False]),
     thesis_params="1.93M", description="U17 TFC-TDF (bias, affine BN), sampling O")
# Table 3.7: large U9, n_fft 4096, TDF bias true (BN affine)
_LARGE = dict(n_fft=4096, n_blocks=9, time_down=[True] * 4, tdf_bias=True, tdf_affine=True)
_LARGE_EMB = dict(n_blocks=9, time_down=[True] * 4)
# 16 channels: at 8 the CaC output leaves the silence level late or, for some seeds, not within 200 steps
# (docs/training.md, "Embedded width sweep")
_add("u9l-tfc-tdf", "dedicated", "u9l", "dedicated", "3.7", "r1 TFC-TDF, bottleneck", 2_232_132, dict(_LARGE),
     dict(_LARGE_EMB, channels=16),
     thesis_params="2.24M", also_in=("3.6 Proposed (TFC-TDF U-Net)", "4.2 dedicated (chapter 3)"),
     description="large U9 TFC-TDF (n_fft 4096); thesis 2.24M counts the STFT window as a parameter")
_add("u9l-tfc-tdf-single", "dedicated", "u9l", "dedicated", "3.7", "r2 TFC-TDF, no bottleneck", 11_991_972,
     dict(_LARGE, tdf="single"), _LARGE_EMB, thesis_params="12.00M",
     description="large U9 TFC-TDF with single-layer F→F TDFs; thesis 12.00M counts the window")
_add("u9l-dme", "dedicated", "u9l", "dedicated", "3.7", "r3 TFC-TDF (DME)", 2_231_938, dict(_LARGE, method="dme"),
     _LARGE_EMB,
     thesis_params="2.24M", description="large U9 TFC-TDF, direct magnitude estimation")
_add("u9l-tfc", "dedicated", "u9l", "dedicated", "3.7", "r4 TFC only", 826_228, dict(_LARGE, block="tfc"), _LARGE_EMB,
     thesis_params="0.83M", description="large U9 TFC only")
# Chapter 4, Table 4.1: conditioned U-Nets (U7 DCSE backbone)
_CUNET_PARAMS = {
    ("film", "none"): 720_676, ("film", "tdf"): 1_069_508, ("film", "lasaft"): 7_998_436,
    ("gpocm", "none"): 1_146_268, ("gpocm", "tdf"): 1_495_100, ("gpocm", "lasaft"): 8_424_028,
}
# Embedded profile: without the condition generator's dropout (0.5 in the paper config), and FiLM at 24 channels (the
# paper width: at 16 only one of three seeds of cunet-film left the silence level, at 24 all three did).
# With dropout 0.5 the FiLM γ / GPoCM mixing of a fixed condition changes sign from step to step and the CaC-output
# CUNets stay at the silence level (FiLM at 8 and 16 channels, GPoCM for some seeds); without it GPoCM learns at
# 8 channels and FiLM at 16 (docs/training.md, "What makes FiLM leave silence").
_EMB_CUNET = {"film": dict(channels=24, dropout=0.0), "gpocm": dict(dropout=0.0)}
for (_mod, _ft), _params in _CUNET_PARAMS.items():
    _label = {"film": "FiLM", "gpocm": "GPoCM"}[_mod]
    _ft_label = {"none": "", "tdf": " + TDF", "lasaft": " + LaSAFT"}[_ft]
    _extra = {}
    if (_mod, _ft) == ("gpocm", "lasaft"):
        _extra = dict(aliases=("lasaft-gpocm-net11",), also_in=("5.2 LaSAFT-GPoCM-Net_11",))
    _add(f"cunet-{_mod}" + ("" if _ft == "none" else f"-{_ft}"), "conditioned", "cunet", "separation", "4.1",
         f"{_label} CUNet{_ft_label}",
         _params, dict(modulation=_mod, ft_block=_ft), _EMB_CUNET[_mod],
         description=f"conditioned U7 (DCSE), {_label} in the decoder blocks"
         + {"none": "", "tdf": ", TDF in every block", "lasaft": ", LaSAFT in every block"}[_ft],
         **_extra)
# embedded Net_12: 16 channels (8 elsewhere): at 8 its `other` stayed below 1 dB test SDR in eleven recipes, with 16
# and 1 800 steps 1.04 dB (docs/training.md, "Every SDR task above 1 dB"; docs/models.md "The scale-down rule")
_add("lasaft-gpocm-net12", "conditioned", "lasaft12", "separation", "5.2", "LaSAFT-GPoCM-Net_12", 31_541_908,
     dict(n_fft=4096, n_blocks=9, embedding_dim=64), dict(n_blocks=9, channels=16, **_EMB_CUNET["gpocm"]),
     also_in=("4.2 LaSAFT+GPoCM",), description="large LaSAFT-GPoCM U9 (n_fft 4096, E 64)")
# Chapter 5, Tables 5.2 / 5.3
_add("amss-net", "amss", "amss", "amss", "5.2", "AMSS-Net", 4_245_068, dict(variant="full"), thesis_params="≈4.3M",
     also_in=("5.3 AMSS-Net",), description="AMSS-Net (reference widths of models.md §3.8), task2 (87 generators)")
_add("amss-net-wo-csa", "amss", "amss", "amss", "5.2", "AMSS-Net w/o CSA", 4_947_068, dict(variant="wo_csa"),
     thesis_params="≈4.9M",
     also_in=("5.3 w/o CSA",), description="ablation: compact LaSAFT in the LSC extractor, 1×1 merge instead of CSA")
_add("amss-net-wo-smpocm", "amss", "amss", "amss", "5.2", "AMSS-Net w/o SMPoCM", 2_423_852, dict(variant="wo_smpocm"),
     thesis_params="≈2.4M", also_in=("5.3 w/o SMPoCM",), description="ablation: one tanh-PoCM per decoding block")
_add("amss-net-separate", "amss", "amss", "separation", "5.2", "AMSS-Net_separate", 4_245_068,
     dict(variant="full", task_set="task1"), dict(channels=16),
     description="AMSS-Net trained on the separation task set (task1: 14 separate/mute generators)")



#: the thesis models (the regression gate's golden fingerprints cover these)
THESIS = frozenset(_ENTRIES)


def _add_survey(name: str, entry: dict) -> None:
    """A survey separator (models/survey): its own architecture class, paper and embedded configurations."""
    arch_key = next(k for k, v in ARCHES.items() if v is entry["arch"])
    cfg = dict(INFERENCE_DEFAULTS, **copy.deepcopy(entry["config"]), arch=arch_key)
    task_set = "separation-dedicated" if entry["family"] == "dedicated" else "separation-conditioned"
    _ENTRIES[name] = (
        dict(name=name, family=entry["family"], table=entry["table"], row=entry["row"], published_params=None,
             task_set=task_set, source=cfg.get("source"), registry_name=name, recipe_family=entry["recipe_family"],
             pipeline_group=entry["pipeline_group"], description=entry["description"], collection="survey",
             reference=entry["reference"]),
        cfg,
        copy.deepcopy(entry["embedded"]),
    )


for _name, _entry in SURVEY_ENTRIES.items():
    _add_survey(_name, _entry)


# ---------------------------------------------------------------------------------------------- the survey's separators
# Open-Unmix, Demucs (v2), Conv-TasNet from their maintained packages, re-expressed in models/packaged.py (docs/models.md,
# "The survey's learned separators"). Paper configuration = the package's / paper's, stereo 44.1 kHz; embedded = the
# scale-down at which each learns within its embedded step budget. ``table``/``row`` name the thesis rows where the
# thesis prints a published number for the system (Tables 3.6 and 4.2).
_SURVEY_COMMON = dict(amss_min_trim=16384, lasaft_min_trim=5000, overlap_ratio=0.5, inference_mode="lasaft")
_SURVEY_EMB_COMMON = dict(amss_min_trim=4096, lasaft_min_trim=1250)


def _add_packaged(name, family, arch, recipe_family, pipeline_group, table, row, params, config, embedded, **info):
    cfg = dict(_SURVEY_COMMON, arch=arch)
    cfg.update(config)
    emb = dict(_SURVEY_EMB_COMMON)
    emb.update(embedded)
    task_set = {"dedicated": "separation-dedicated", "conditioned": "separation-conditioned"}[family]
    _ENTRIES[name] = (
        dict(name=name, family=family, table=table, row=row, published_params=params, task_set=task_set,
             source=cfg.get("source"), registry_name=name, recipe_family=recipe_family,
             pipeline_group=pipeline_group, collection="survey", **info),
        cfg,
        emb,
    )


# Open-Unmix (openunmix.model.OpenUnmix, umxhq): n_fft 4096 / hop 1024, bandwidth 16 kHz (max_bin 1487), hidden 512,
# 3-layer BiLSTM (dropout 0.4), stereo. 8,893,348 parameters per target, the package's own count.
_add_packaged("umx", "dedicated", "umx", "umx", "survey_dedicated", "3.6", "UMX", 8_893_348,
            dict(n_fft=4096, hop_length=1024, num_frame=128, source="vocals", hidden_size=512, nb_layers=3,
                 unidirectional=False, max_bin=1487, lstm_dropout=0.4),
            dict(n_fft=512, hop_length=256, hidden_size=64, nb_layers=1, max_bin=186, lstm_dropout=0.0),
            thesis_params=None, also_in=("4.2 UMX",),
            reference="Stöter et al., JOSS 2019; openunmix 1.3.0 (openunmix.model.OpenUnmix)",
            description="Open-Unmix, one network per target (magnitude mask × mixture, mixture phase)")
# Demucs v2 (demucs.demucs.Demucs in its v2 configuration): 64 channels, depth 6, K 8 / S 4, 2-layer BiLSTM, GLU,
# 3-tap decoder context, x2 resampling inside, rescale 0.1; 4 sources × stereo.
_add_packaged("demucs-v2", "conditioned", "demucs", "demucs", "survey", "3.6", "Demucs", 265_679_496,
            dict(n_fft=2048, hop_length=1024, num_frame=128, channels=64, growth=2.0, depth=6, kernel_size=8,
                 stride=4, context=1, lstm_layers=2, resample=True, normalize=False, rescale=0.1),
            dict(n_fft=512, hop_length=256, num_frame=128, channels=8, depth=4, lstm_layers=1, resample=False,
                 normalize=True),
            also_in=("4.2 Demucs*",),
            reference="Défossez et al. 2019; demucs 4.0.1 (demucs.demucs.Demucs, v2 configuration)",
            description="Demucs (v2): waveform U-Net with a BiLSTM bottleneck, 4 sources at once")
# Conv-TasNet (asteroid.models.ConvTasNet): N 512, L 16 (stride 8), B 128, H 512, Sc 128, P 3, X 8, R 3, gLN, sigmoid
# masks (Luo & Mesgarani 2019's best non-causal configuration), 4 sources, mono network applied per channel.
_add_packaged("conv-tasnet", "conditioned", "convtasnet", "convtasnet", "survey", "3.6", "Conv-TasNet", 5_182_641,
            dict(n_fft=2048, hop_length=1024, num_frame=128, n_filters=512, fb_kernel_size=16, fb_stride=8,
                 bn_chan=128, hid_chan=512, skip_chan=128, conv_kernel_size=3, n_blocks=8, n_repeats=3,
                 mask_act="sigmoid"),
            dict(n_fft=512, hop_length=256, n_filters=64, fb_kernel_size=32, fb_stride=16, bn_chan=32, hid_chan=64,
                 skip_chan=32, n_blocks=6, n_repeats=2),
            also_in=("4.2 Conv-Tasnet*",),
            reference="Luo & Mesgarani 2019; asteroid 0.7.0 (asteroid.models.ConvTasNet)",
            description="Conv-TasNet: learned filterbank, TCN masker, 4 sources at once (per channel)")

_ALIASES = {a: n for n, (info, _, _) in _ENTRIES.items() for a in info.get("aliases", ())}
#: the names (and aliases) of the thesis models and the survey separators: never replaced by an out-of-tree
#: registration
BUILTIN = frozenset(_ENTRIES) | frozenset(_ALIASES)
for _name, (_info, _, _) in _ENTRIES.items():  # every model's recipe family, for models.recipes
    rec.register_model(_name, _info["recipe_family"], aliases=_info.get("aliases", ()))
#: arch key -> AudioModel class or factory(config), added by out-of-tree registrations
_PLUGIN_ARCHES: dict = {}


# ---------------------------------------------------------------------------------------------- public API


def _loaded() -> None:
    """Run the ``amss_bench.models`` entry points once (models.plugins), before the first look-up."""
    plugins.ensure_loaded()


def model_names(*, builtin_only: bool = False, collection: str | None = None) -> list[str]:
    """Registry names; ``builtin_only``: the thesis models alone (the golden fingerprints add the survey collection);
    ``collection``: the built-in entries of one collection ("thesis" | "survey")."""
    if builtin_only:
        return [n for n in _ENTRIES if n in THESIS]
    if collection is not None:
        if collection not in COLLECTIONS:
            raise ValueError(f"unknown collection {collection!r}; expected one of {', '.join(COLLECTIONS)}")
        return [n for n, (info, _, _) in _ENTRIES.items() if n in BUILTIN and info.get("collection", "thesis") ==
                collection]
    _loaded()
    return list(_ENTRIES)


def survey_names() -> list[str]:
    """The survey's learned separators in the registry (``ModelInfo.collection == "survey"``): the report and the
    leaderboard key their "other separators" rows on this."""
    _loaded()
    return model_names(collection="survey")


def resolve(name: str) -> tuple[str, str | None]:
    """'u7-dcse@embedded' -> ('u7-dcse', 'embedded'); aliases resolved; KeyError listing the names otherwise."""
    _loaded()
    base, _, suffix = name.partition("@")
    base = _ALIASES.get(base, base)
    if base not in _ENTRIES:
        raise KeyError(f"unknown model {name!r}; registered: {', '.join(_ENTRIES)}")
    if suffix and suffix not in PROFILES:
        raise KeyError(f"unknown profile suffix {suffix!r} in {name!r}; profiles: {PROFILES}")
    return base, suffix or None


def get_info(name: str) -> ModelInfo:
    base, _ = resolve(name)
    info, cfg, _ = _ENTRIES[base]
    return ModelInfo(config=copy.deepcopy(cfg), **info)


def list_models() -> list[ModelInfo]:
    return [get_info(n) for n in model_names()]


def config_for(name: str, profile: str = "paper") -> dict:
    base, suffix = resolve(name)
    profile = suffix or profile
    if profile not in PROFILES:
        raise ValueError(f"profile must be one of {PROFILES}")
    _, cfg, emb = _ENTRIES[base]
    cfg = copy.deepcopy(cfg)
    if profile == "embedded":
        cfg.update(copy.deepcopy(emb))
    return cfg


def build(config: dict) -> AudioModel:
    """Instantiate (without re-initialising) the model class for a config."""
    arch = config.get("arch")
    if arch in ARCHES:
        return ARCHES[arch](config)
    if arch in SURVEY_ARCHES:
        return SURVEY_ARCHES[arch](config)
    _loaded()
    if arch not in _PLUGIN_ARCHES:
        raise ValueError(f"config has unknown arch {arch!r}; expected one of {tuple(ARCHES) + tuple(_PLUGIN_ARCHES)} "
                         f"(out-of-tree architectures come from the installed packages' amss_bench.models entry "
                         f"points)")
    model = _PLUGIN_ARCHES[arch](config)
    if not isinstance(model, AudioModel):
        raise TypeError(f"architecture {arch!r} built a {type(model).__name__}, not a models.base.AudioModel")
    return model


def _instance_name(base: str, profile: str, custom: bool) -> str:
    name = base + ("@embedded" if profile == "embedded" else "")
    return name + ("@custom" if custom else "")


def create(name: str, profile: str = "paper", *, seed: int | None = None, init: bool = True, **overrides) -> AudioModel:
    """Build and initialise a registered model.

    Args:
        name: registry name (or alias), optionally with "@embedded".
        profile: "paper" (the thesis configuration) or "embedded" (scaled down for CPU).
        seed: if given, the initialisation uses this seed (global RNG state is restored afterwards).
        init: apply the reference initialisation (Xavier/Kaiming-normal, GloVe if ``glove_path``).
        **overrides: config keys to change (``source``, ``glove_path``, depth/width keys …). Unknown keys raise.
    """
    base, suffix = resolve(name)
    profile = suffix or profile
    cfg = config_for(base, profile)
    unknown = set(overrides) - set(cfg)
    if unknown:
        raise ValueError(f"unknown config keys for {base!r}: {sorted(unknown)}; known: {sorted(cfg)}")
    custom = any(k not in NON_STRUCTURAL and overrides[k] != cfg[k] for k in overrides)
    cfg.update(overrides)
    return _finish(cfg, base, profile, custom, seed, init)


def create_from_config(name: str, config: dict, profile: str | None = None, *, seed=None, init: bool = True):
    """Rebuild a model from a stored config (checkpoints). ``name``/``profile`` label the instance; a config that
    differs structurally from the named profile's gets the "@custom" suffix."""
    base, suffix = resolve(name)
    profile = (profile or suffix or "paper").split("+")[0]
    if profile not in PROFILES:
        profile = "paper"
    ref = config_for(base, profile)
    cfg = dict(ref)
    cfg.update(copy.deepcopy(config))
    custom = any(k not in NON_STRUCTURAL and cfg.get(k) != ref.get(k) for k in cfg)
    return _finish(cfg, base, profile, custom, seed, init)


def _finish(cfg: dict, base: str, profile: str, custom: bool, seed, init: bool) -> AudioModel:
    """Build (and initialise) the model; with a seed, construction and initialisation both use a forked RNG seeded
    with it (biases and BN keep their constructor initialisation, so both steps matter)."""
    def make():
        m = build(cfg)
        if init and callable(getattr(m, "reset_parameters", None)):  # every built-in has one; optional out of tree
            m.reset_parameters()
        return m

    if seed is None:
        model = make()
    else:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = make()
    info, _, _ = _ENTRIES[base]
    model.info = dataclasses.replace(
        ModelInfo(config=model.config, **info),
        name=_instance_name(base, profile, custom),
        profile=profile if not custom else f"{profile}+custom",
        source=model.config.get("source"),
        task_set=info["task_set"] if info["family"] != "amss" else model.config["task_set"],
    )
    return model


def count_params(name: str, profile: str = "paper", **overrides) -> int:
    """Parameter count of a configuration, computed on the meta device (no memory, no initialisation)."""
    base, suffix = resolve(name)
    cfg = config_for(base, suffix or profile)
    cfg.update(overrides)
    with torch.device("meta"):
        model = build(cfg)
    return sum(p.numel() for p in model.parameters())


# ---------------------------------------------------------------------------------------------- out-of-tree models

class RegistrationError(ValueError):
    """An out-of-tree registration that is refused (the message names the model, the field and what was expected)."""


_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-_.")
_NEEDED = {"n_fft": int, "hop_length": int, "num_frame": int}


def register(name: str, *, family: str, arch, config: dict, embedded: dict | None = None,
             recipe_family: str, pipeline_group: str | None = None, recipes: dict | None = None,
             published_params: int | None = None, description: str = "", table: str = "", row: str = "",
             aliases: tuple[str, ...] = (), origin: str | None = None) -> ModelInfo:
    """Add an out-of-tree model to the registry; it then trains, saves, loads and evaluates like a thesis model.

    Args:
        name: registry name: lower-case letters, digits, ``-``, ``_``, ``.``; no built-in name or alias.
        family: training-data kind: "dedicated" (one source, ``config["source"]``), "conditioned" (the four SDR
            queries) or "amss" (AML descriptions of ``config["task_set"]``).
        arch: an ``AudioModel`` subclass (or any callable ``config -> AudioModel``), or the name of a built-in
            architecture ("dedicated", "conditioned", "amss": a new configuration of it, whose config starts from
            the thesis base configuration of that architecture).
        config: the paper configuration (needs ``n_fft``, ``hop_length``, ``num_frame``; dedicated: ``source``).
        embedded: keys that differ in the embedded (CPU) profile (default: none).
        recipe_family: the training-recipe family (``models.recipes.RECIPES``; add one with
            ``recipes.register_family`` first).
        pipeline_group: "dedicated" | "separation" | "amss" (default: dedicated for dedicated models, separation for
            conditioned ones and for amss models of task set task1, amss otherwise).
        recipes: ``{"paper" | "embedded": {recipe key: value}}`` applied over the family's recipe for this model.
        published_params: a published parameter count to check against (``models list``), if any.
        origin: where the registration comes from (default: the entry point being loaded, else "register()").
    """
    where = f"model {name!r}"
    if not isinstance(name, str) or not name or not set(name) <= _NAME_CHARS or not name[0].isalnum():
        raise RegistrationError(f"{where}: the name must be lower-case letters, digits, '-', '_' or '.', starting with "
                                f"a letter or digit (no '@' or '/': they select the profile and the stem)")
    for n in (name, *aliases):
        if n in BUILTIN:
            raise RegistrationError(f"{where}: the name {n!r} is a built-in model of the thesis registry; an "
                                    f"out-of-tree model cannot replace it: choose another name")
        if n in _ENTRIES or n in _ALIASES:
            other = _ENTRIES[_ALIASES.get(n, n)][0]["origin"]
            raise RegistrationError(f"{where}: the name {n!r} is already registered by {other}")
    if family not in FAMILIES:
        raise RegistrationError(f"{where}: field 'family' is {family!r}; expected one of {', '.join(FAMILIES)}")
    if not isinstance(config, dict) or (embedded is not None and not isinstance(embedded, dict)):
        raise RegistrationError(f"{where}: fields 'config' and 'embedded' must be dicts")
    if isinstance(arch, str):
        if arch not in ARCHES:
            raise RegistrationError(f"{where}: field 'arch' {arch!r} is not a built-in architecture "
                                    f"({', '.join(ARCHES)}); pass the AudioModel class itself")
        cfg = dict({"dedicated": _DEDICATED, "conditioned": _CONDITIONED, "amss": _AMSS}[arch])
        emb_base = dict(_COMMON_EMBEDDED, **_EMB_FAMILY[arch])
    elif callable(arch):
        cfg, emb_base = {"arch": name}, {}
    else:
        raise RegistrationError(f"{where}: field 'arch' must be an AudioModel subclass, a factory(config) or a "
                                f"built-in architecture name, got {type(arch).__name__}")
    cfg.update(copy.deepcopy(config))
    if not isinstance(arch, str):
        cfg["arch"] = name
    for key, value in INFERENCE_DEFAULTS.items():  # stored in every model's config: keep the checkpoint round trip exact
        cfg.setdefault(key, value)
    for key, typ in _NEEDED.items():
        if not isinstance(cfg.get(key), typ) or isinstance(cfg.get(key), bool) or cfg[key] < 1:
            raise RegistrationError(f"{where}: config key {key!r} must be a positive integer, got {cfg.get(key)!r}")
    if family == "dedicated" and cfg.get("source") not in ("vocals", "drums", "bass", "other"):
        raise RegistrationError(f"{where}: a dedicated model needs config key 'source' (vocals, drums, bass or "
                                f"other: the default stem), got {cfg.get('source')!r}")
    if family == "amss" and cfg.get("task_set") not in ("task1", "task2"):
        raise RegistrationError(f"{where}: an amss model needs config key 'task_set' (task1 or task2), got "
                                f"{cfg.get('task_set')!r}")
    emb = dict(emb_base, **copy.deepcopy(embedded or {}))
    unknown = sorted(set(emb) - set(cfg))
    if unknown:
        raise RegistrationError(f"{where}: embedded keys {unknown} are not in the config (known: {sorted(cfg)})")
    if pipeline_group is None:
        pipeline_group = {"dedicated": "dedicated", "conditioned": "separation"}.get(
            family, "separation" if cfg.get("task_set") == "task1" else "amss")
    if pipeline_group not in PIPELINE_GROUPS:
        raise RegistrationError(f"{where}: field 'pipeline_group' is {pipeline_group!r}; expected one of "
                                f"{', '.join(PIPELINE_GROUPS)}")
    if recipe_family not in rec.RECIPES:
        raise RegistrationError(f"{where}: field 'recipe_family' is {recipe_family!r}; expected one of "
                                f"{', '.join(rec.RECIPES)} (add a family with models.recipes."
                                f"register_family first)")
    rec.register_model(name, recipe_family, aliases=tuple(aliases), recipes=recipes)
    task_set = {"dedicated": "separation-dedicated", "conditioned": "separation-conditioned"}.get(
        family, cfg.get("task_set"))
    info = dict(name=name, family=family, table=table, row=row, published_params=published_params,
                task_set=task_set, source=cfg.get("source"), registry_name=name, recipe_family=recipe_family,
                pipeline_group=pipeline_group, description=description, aliases=tuple(aliases),
                origin=origin or plugins.current_origin() or "register()")
    if not isinstance(arch, str):
        _PLUGIN_ARCHES[name] = arch
    _ENTRIES[name] = (info, cfg, emb)
    _ALIASES.update({a: name for a in aliases})
    plugins.record(lambda: unregister(name) if name in _ENTRIES else None)
    return get_info(name)


def unregister(name: str) -> None:
    """Remove an out-of-tree model (tests, reloading the entry points); built-in models cannot be removed."""
    if name in BUILTIN:
        raise RegistrationError(f"model {name!r} is built in and cannot be removed")
    info = _ENTRIES.pop(name, (None,))[0]
    if info is None:
        raise KeyError(f"model {name!r} is not registered")
    for a in info.get("aliases", ()):
        _ALIASES.pop(a, None)
    _PLUGIN_ARCHES.pop(name, None)
    rec.unregister_model(name)
