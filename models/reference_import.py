"""Import PyTorch-Lightning checkpoints of the reference code bases into amss-bench models.

* ``ismir2020``: github:ws-choi/ISMIR2020_U_Nets_SVS (``TFC_NET_Framework``, ``TFC_TDF_NET_Framework``) -> the
  chapter-3 dedicated U-Nets (``models.unet.DedicatedUNet``).
* ``lasaft``: github:ws-choi/Conditioned-Source-Separation-LaSAFT (``DCUN_TFC_{FiLM,GPoCM}[_TDF|_LaSAFT]``, the
  published ``lasaft_large_20xx``) -> the chapter-4 conditioned U-Nets (``models.cunet.ConditionedUNet``).

Both reference frameworks hold the network as ``self.spec2spec`` and the STFT as ``self.stft.stft.window`` (an
``nn.Parameter``, hence in the state dict). Every other difference is a pure renaming of module paths
(``reference_key``); no tensor needs a layout change (PoCM kernels are (C_in, C_out) row-major in both, LaSAFT values
are viewed with the latent index fastest in both). The file is read with ``torch.load(weights_only=True)``; only the
container types Lightning uses for hyper-parameters are allow-listed (``AttributeDict`` is read as a plain dict,
``argparse.Namespace`` as itself).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import pickle
import re
from pathlib import Path

import torch

from . import registry
from .checkpoint import CheckpointError

ORIGINS = ("ismir2020", "lasaft")
PREFIX = "spec2spec."
WINDOW_KEY = "stft.stft.window"
#: The reference families each origin can hold (our registry family).
FAMILY = {"ismir2020": "dedicated", "lasaft": "conditioned"}
#: Lightning's hyper-parameter container, read as a plain dict (it is a dict subclass with attribute access).
_ATTRIBUTE_DICTS = (
    "pytorch_lightning.utilities.parsing.AttributeDict",
    "lightning_fabric.utilities.data.AttributeDict",
    "lightning.fabric.utilities.data.AttributeDict",
)


class ImportErrorReport(CheckpointError):
    """A reference checkpoint that does not fit the requested model (all problems listed in the message)."""


# --------------------------------------------------------------------------------------------------- key mapping


_SKELETON = [
    (r"^first_conv\.conv\.", "first_conv.0."),
    (r"^first_conv\.bn\.", "first_conv.1."),
    (r"^last_conv\.conv\.", "last_conv.0."),
    (r"^downs\.(\d+)\.conv\.", r"downsamplings.\1.0."),
    (r"^downs\.(\d+)\.bn\.", r"downsamplings.\1.1."),
    (r"^ups\.(\d+)\.conv\.", r"upsamplings.\1.0."),
    (r"^ups\.(\d+)\.bn\.", r"upsamplings.\1.1."),
    (r"^mid\.", "mid_block."),
]


def _block_rules(model, origin: str) -> list[tuple[str, str]]:
    cfg = model.config
    blk = r"^((?:encoders|decoders)\.\d+\.|mid_block\.)"
    if origin == "ismir2020":
        if cfg["block"] == "tfc":  # the block *is* the TFC (reference TFC.H)
            return [(blk + r"layers\.", r"\1H.")]
        return [(blk + r"tfc\.layers\.", r"\1tfc.H."), (blk + r"tdf\.net\.", r"\1tif.tif.")]
    rules = []
    if cfg["ft_block"] == "none":  # reference block = bare TFC
        rules.append((blk + r"tfc\.layers\.", r"\1H."))
    else:
        rules.append((blk + r"tfc\.layers\.", r"\1tfc.H."))
    rules += [
        (blk + r"tdf\.net\.", r"\1tdf.tdf."),
        (blk + r"lasaft\.value\.", r"\1tdfs.tdf."),
        (blk + r"lasaft\.keys$", r"\1keys"),
        (blk + r"lasaft\.query\.", r"\1linear_query."),
        (r"^condition_generator\.embedding\.", "embedding."),
        (r"^condition_generator\.fc\.", "condition_generator.dense_control_block.linear."),
        # GPoCM head: Linear, Identity activation, BatchNorm1d(affine=False) -> indices 0 and 2 in the reference
        (r"^condition_generator\.weight\.0\.", "condition_generator.linear_gamma.0."),
        (r"^condition_generator\.weight\.1\.", "condition_generator.linear_gamma.2."),
        (r"^condition_generator\.bias\.0\.", "condition_generator.linear_beta.0."),
        (r"^condition_generator\.bias\.1\.", "condition_generator.linear_beta.2."),
        # FiLM head (film_type "complex": one γ/β per channel): Linear, Identity activation
        (r"^condition_generator\.gamma\.", "condition_generator.linear_gamma.0."),
        (r"^condition_generator\.beta\.", "condition_generator.linear_beta.0."),
    ]
    return rules


def key_map(model, origin: str) -> dict[str, str]:
    """Our state-dict key -> the reference checkpoint's key (with the ``spec2spec.`` prefix)."""
    if origin not in ORIGINS:
        raise ValueError(f"--from must be one of {ORIGINS}, got {origin!r}")
    rules = [(re.compile(a), b) for a, b in _SKELETON + _block_rules(model, origin)]
    out = {}
    for ours in model.state_dict():
        name = ours
        for pat, repl in rules:
            name = pat.sub(repl, name)
        out[ours] = PREFIX + name
    return out


def export_state_dict(model, origin: str) -> dict[str, torch.Tensor]:
    """Our weights under the reference key names (plus the reference's STFT window parameter)."""
    own = model.state_dict()
    ref = {theirs: own[ours].detach().clone() for ours, theirs in key_map(model, origin).items()}
    ref[WINDOW_KEY] = torch.hann_window(model.config["n_fft"])
    return ref


# --------------------------------------------------------------------------------------------------- hyper-parameters


def _t_down(value, n_levels: int):
    """The reference's ``t_down_layers`` (None = every level, or a list / "[0, 2]" string) -> sorted list."""
    if value is None or value == "None":
        return list(range(n_levels))
    if isinstance(value, str):
        body = value.strip().strip("[]() ").strip()
        return sorted(int(v) for v in body.split(",") if v.strip()) if body else []
    return sorted(int(v) for v in value)


def expected_hparams(model, origin: str) -> dict:
    """The reference hyper-parameters that build the same network as ``model`` (values as the reference writes them)."""
    cfg = model.config
    n_levels = (cfg["n_blocks"] - 1) // 2
    hp = dict(n_fft=cfg["n_fft"], hop_length=cfg["hop_length"], num_frame=cfg["num_frame"], n_blocks=cfg["n_blocks"],
              internal_channels=cfg["channels"], n_internal_layers=cfg["tfc_layers"], kernel_size_t=cfg["kernel"],
              kernel_size_f=cfg["kernel"], first_conv_activation="relu")
    if origin == "ismir2020":
        method = cfg["method"]
        hp.update(
            input_channels=2 if method in ("dme", "mme") else 4,
            spec_type="magnitude" if method in ("dme", "mme") else "complex",
            spec_est_mode="masking" if method in ("mme", "cme_sigmoid", "cme_tanh") else "mapping",
            last_activation={"dme": "relu", "mme": "sigmoid", "cme_sigmoid": "sigmoid", "cme_tanh": "tanh",
                             "dcse": "identity"}[method],
            t_down_layers=[i for i, d in enumerate(cfg["time_down"]) if d],
            model="tfc_net" if cfg["block"] == "tfc" else "tfc_tdf_net",
            target_name=cfg["source"],
        )
        if cfg["block"] == "tfc":
            hp["tfc_activation"] = "relu"
        else:
            if cfg["tdf_bias"] != cfg["tdf_affine"]:
                raise ImportErrorReport(f"{model.info.name}: the reference ties the TDF BatchNorm affine flag to "
                                        "tfc_tdf_bias; this configuration (tdf_bias != tdf_affine) has no reference")
            hp.update(bn_factor=cfg["bf"] if cfg["tdf"] == "bottleneck" else None, min_bn_units=cfg["min_units"],
                      tfc_tdf_bias=cfg["tdf_bias"], tfc_tdf_activation="relu")
        return hp
    mod, ft = cfg["modulation"], cfg["ft_block"]
    hp.update(
        input_channels=4, spec_type="complex", spec_est_mode="mapping", last_activation="identity",
        t_down_layers=list(range(n_levels)), control_vector_type="embedding", control_input_dim=cfg["n_conditions"],
        embedding_dim=cfg["embedding_dim"], condition_to="decoder", control_type="dense", control_n_layer=4,
        tfc_tdf_bias=cfg["ft_bias"], bn_factor=cfg["bf"], min_bn_units=cfg["min_units"],
        tfc_tdf_activation="relu",
        model="CUNET_TFC_" + {"film": "FiLM", "gpocm": "GPoCM"}[mod] + {"none": "", "tdf": "_TDF",
                                                                       "lasaft": "_LaSAFT"}[ft],
    )
    if mod == "gpocm":
        hp["pocm_norm"] = "batch_norm"
    else:
        hp.update(film_type="complex", gamma_activation="identity", beta_activation="identity")
    if ft == "lasaft":
        hp.update(num_tdfs=cfg["n_latent"], dk=cfg["d_k"])
    return hp


#: hyper-parameters without which the import is refused (not visible in the weights)
REQUIRED = ("n_fft", "hop_length", "n_blocks")
#: keys whose value names the architecture but not a structural number (compared case-sensitively as strings)
_ALIASES = {"lasaft_net": "CUNET_TFC_GPoCM_LaSAFT"}


def _normalise(key: str, value, n_levels: int):
    if key == "t_down_layers":
        return _t_down(value, n_levels)
    if key == "bn_factor" and (value is None or value in ("None", "none")):
        return None
    if key in ("pocm_norm",) and value in ("None", None):
        return None
    if key == "model":
        return _ALIASES.get(value, value)
    if isinstance(value, str) and key != "target_name":
        if value in ("True", "False"):
            return value == "True"
        if re.fullmatch(r"-?\d+", value):
            return int(value)
        return value.lower() if key.endswith("activation") else value
    return value


def check_hparams(model, origin: str, hp: dict) -> list[str]:
    """Mismatches between the reference hyper-parameters and ``model``'s configuration ("key: ours X vs theirs Y")."""
    n_levels = (model.config["n_blocks"] - 1) // 2
    want = expected_hparams(model, origin)
    problems = [f"hyper-parameter {k!r} missing from the checkpoint" for k in REQUIRED if k not in hp]
    for key, ours in want.items():
        if key not in hp or key == "target_name":
            continue
        theirs = _normalise(key, hp[key], n_levels)
        if theirs != ours:
            problems.append(f"{key}: ours {ours!r} vs theirs {hp[key]!r}")
    return problems


# --------------------------------------------------------------------------------------------------- reading


def _plain(obj):
    """JSON-safe copy of the reference hyper-parameters (for the metadata)."""
    if isinstance(obj, argparse.Namespace):
        obj = vars(obj)
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, torch.Tensor) and obj.numel() == 1:
        return obj.item()
    return repr(obj)


def read_lightning(path) -> dict:
    """Load a Lightning ``.ckpt`` without executing code; returns the raw dict."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: reference checkpoint not found")
    allowed = [(dict, name) for name in _ATTRIBUTE_DICTS] + [argparse.Namespace]
    try:
        with torch.serialization.safe_globals(allowed):
            payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        text = str(err)
        detail = next((ln.strip() for ln in text.splitlines() if "Unsupported global" in ln or "GLOBAL" in ln), "")
        raise CheckpointError(
            f"{path}: refused to load: the file holds objects that need arbitrary code to unpickle "
            f"(only tensors, containers, Lightning's AttributeDict and argparse.Namespace are accepted)"
            + (f": {detail}" if detail else "")
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError) as err:
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint ({err})") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("state_dict"), dict):
        raise CheckpointError(f"{path}: not a PyTorch-Lightning checkpoint (no 'state_dict' dict at the top level)")
    return payload


def hyper_parameters(payload: dict) -> dict:
    hp = payload.get("hyper_parameters", payload.get("hparams"))
    if hp is None:
        return {}
    if isinstance(hp, argparse.Namespace):
        hp = vars(hp)
    if not isinstance(hp, dict):
        raise CheckpointError(f"hyper_parameters is a {type(hp).__name__}, expected a dict")
    return dict(hp)


# --------------------------------------------------------------------------------------------------- import


def build_target(name: str, origin: str, hp: dict):
    """Our model for ``name`` (registry name, optionally ``@embedded``); a dedicated model takes the checkpoint's
    ``target_name`` as its source."""
    if origin not in ORIGINS:
        raise ValueError(f"--from must be one of {ORIGINS}, got {origin!r}")
    info = registry.get_info(name)
    if info.family != FAMILY[origin]:
        raise ImportErrorReport(
            f"model {name!r} is a {info.family} model; --from {origin} holds {FAMILY[origin]} models "
            f"({', '.join(i.name for i in registry.list_models() if i.family == FAMILY[origin])})")
    overrides = {}
    if origin == "ismir2020" and hp.get("target_name") is not None:
        overrides["source"] = hp["target_name"]
    try:
        return registry.create(name, init=False, **overrides)
    except ValueError as err:
        raise ImportErrorReport(f"cannot build {name!r} for this checkpoint: {err}") from None


def convert_state_dict(model, origin: str, state: dict, hp: dict | None = None) -> dict[str, torch.Tensor]:
    """Reference state dict -> ours. Raises :class:`ImportErrorReport` listing every missing, unexpected and
    mis-shaped key and every hyper-parameter mismatch at once."""
    problems = check_hparams(model, origin, hp or {})
    mapping = key_map(model, origin)
    own = model.state_dict()
    expected = set(mapping.values()) | {WINDOW_KEY}
    missing = sorted(expected - set(state))
    unexpected = sorted(set(state) - expected)
    problems += [f"missing key {k}" for k in missing]
    problems += [f"unexpected key {k}" for k in unexpected]
    out = {}
    for ours, theirs in mapping.items():
        if theirs not in state:
            continue
        t = state[theirs]
        if not isinstance(t, torch.Tensor):
            problems.append(f"{theirs}: not a tensor ({type(t).__name__})")
        elif tuple(t.shape) != tuple(own[ours].shape):
            problems.append(f"{theirs}: shape ours {tuple(own[ours].shape)} vs theirs {tuple(t.shape)}")
        else:
            out[ours] = t.detach().to(own[ours].dtype).clone()
    win = state.get(WINDOW_KEY)
    if isinstance(win, torch.Tensor):
        n_fft = model.config["n_fft"]
        if tuple(win.shape) != (n_fft,):
            problems.append(f"{WINDOW_KEY}: shape ours ({n_fft},) vs theirs {tuple(win.shape)} (n_fft)")
        elif not torch.allclose(win.float(), torch.hann_window(n_fft), atol=1e-6):
            problems.append(f"{WINDOW_KEY}: not the Hann window (a trained STFT window, unfreeze_stft_from >= 0, "
                            "has no equivalent here: our window is a fixed buffer)")
    if problems:
        shown = "\n  ".join(problems)
        raise ImportErrorReport(f"reference checkpoint does not fit {model.info.name!r} ({len(problems)} "
                                f"problem{'s' if len(problems) > 1 else ''}):\n  {shown}")
    return out


def sha256(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def import_checkpoint(path, origin: str, name: str):
    """Read a reference ``.ckpt`` and return (our model with its weights, metadata for ``checkpoint.save``)."""
    payload = read_lightning(path)
    hp = hyper_parameters(payload)
    model = build_target(name, origin, hp)
    try:
        state = convert_state_dict(model, origin, payload["state_dict"], hp)
    except ImportErrorReport as err:
        raise ImportErrorReport(f"{path}: {err}") from None
    model.load_state_dict(state, strict=True)
    meta = {
        "imported_from": origin,
        "source_checkpoint": Path(path).name,
        "source_sha256": sha256(path),
        "reference_hyper_parameters": _plain(hp),
        "reference_epoch": _plain(payload.get("epoch")),
        "reference_global_step": _plain(payload.get("global_step")),
        "reference_lightning_version": _plain(payload.get("pytorch-lightning_version")),
    }
    seed = hp.get("seed")
    if isinstance(seed, int) and not isinstance(seed, bool):
        meta["seed"] = seed  # the training seed, as our trainer records it (evaluate names the system with it)
    json.dumps(meta)  # fail here, not in checkpoint.save, if anything is not JSON-safe
    return model.eval(), meta
