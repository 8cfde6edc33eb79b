"""Checkpoints: weights + config JSON in one file, loaded with ``torch.load(weights_only=True)``.

File layout (a plain dict, readable without executing code)::

    {"format": "amss-bench-checkpoint/1",
     "name": registry name, "profile": "paper" | "embedded", "instance_name": e.g. "u7-dcse@embedded",
     "config_json": JSON of model.config, "metadata_json": JSON of extra_metadata,
     "num_parameters": int, "torch_version": str,
     "state_dict": {name: tensor}}

``save`` writes atomically (temporary file in the destination folder, fsync, ``os.replace``). ``load`` refuses files
that would need code execution (anything ``weights_only=True`` rejects, e.g. a pickled module) and reports
config/weights mismatches key by key.
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import tempfile
from pathlib import Path

import torch

FORMAT = "amss-bench-checkpoint/1"


class CheckpointError(ValueError):
    """A checkpoint that cannot be used (unsafe, wrong format, or not matching its config/model)."""


def _json(obj, what: str) -> str:
    def default(o):
        if hasattr(o, "item") and callable(o.item):  # numpy / torch scalars
            return o.item()
        if isinstance(o, (Path, os.PathLike)):
            return os.fspath(o)
        if isinstance(o, (set, frozenset, tuple)):
            return list(o)
        raise TypeError(f"{what}: value of type {type(o).__name__} is not JSON-serialisable")

    return json.dumps(obj, sort_keys=True, default=default, allow_nan=False)


def save(model, path, extra_metadata: dict | None = None) -> Path:
    """Save ``model`` (created by ``models.registry``) and JSON-serialisable ``extra_metadata`` to ``path``."""
    info = getattr(model, "info", None)
    if info is None:
        raise CheckpointError("only models created by models.registry.create can be saved (model.info is missing)")
    path = Path(path)
    payload = {
        "format": FORMAT,
        "name": info.registry_name or info.name.partition("@")[0],
        "profile": info.profile.split("+")[0],
        "instance_name": info.name,
        "config_json": _json(model.config, "config"),
        "metadata_json": _json(extra_metadata or {}, "extra_metadata"),
        "num_parameters": int(sum(p.numel() for p in model.parameters())),
        "torch_version": str(torch.__version__),
        "state_dict": {k: v.detach().to("cpu").clone() for k, v in model.state_dict().items()},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(payload, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


def _read(path, map_location="cpu") -> dict:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        text = str(err)
        if "Unsupported global" in text or "GLOBAL" in text:
            detail = next((ln.strip() for ln in text.splitlines() if "Unsupported global" in ln), "")
            raise CheckpointError(
                f"{path}: refused to load: the file contains objects that would need code execution to unpickle "
                f"(torch.load(weights_only=True) rejected it){': ' + detail if detail else ''}"
            ) from None
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint (weights-only unpickler: "
                              f"{next((ln.strip() for ln in text.splitlines() if 'Unsupported' in ln), 'corrupt')})"
                              ) from None
    except (RuntimeError, EOFError, OSError, ValueError) as err:
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint ({err})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        fmt = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise CheckpointError(f"{path}: not an amss-bench checkpoint (format {fmt!r}, expected {FORMAT!r})")
    for key in ("name", "config_json", "state_dict"):
        if key not in payload:
            raise CheckpointError(f"{path}: checkpoint lacks {key!r}")
    return payload


def read_metadata(path) -> dict:
    """Name, profile, config and extra metadata of a checkpoint (without building the model)."""
    p = _read(path)
    return {
        "name": p["name"],
        "profile": p.get("profile", "paper"),
        "instance_name": p.get("instance_name", p["name"]),
        "config": json.loads(p["config_json"]),
        "metadata": json.loads(p.get("metadata_json") or "{}"),
        "num_parameters": p.get("num_parameters"),
        "torch_version": p.get("torch_version"),
    }


def _check_state(model, state: dict, where: str) -> None:
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = sorted(
        f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
        for k in set(own) & set(state)
        if tuple(state[k].shape) != tuple(own[k].shape)
    )
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {', '.join(missing[:3])})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (e.g. {', '.join(unexpected[:3])})")
        if shapes:
            parts.append(f"{len(shapes)} with another shape (e.g. {'; '.join(shapes[:3])})")
        raise CheckpointError(f"{where}: weights do not match the model's config: " + ", ".join(parts))


def load(path, map_location="cpu", *, expected_name: str | None = None):
    """Rebuild the model from the stored config and load its weights. Returns the model (eval mode) with
    ``model.checkpoint_metadata`` (the extra metadata dict) and ``model.checkpoint_path`` set."""
    from . import registry

    p = _read(path, map_location)
    config = json.loads(p["config_json"])
    name = p["name"]
    if expected_name is not None:
        want, _ = registry.resolve(expected_name)
        if want != registry.resolve(name)[0]:
            raise CheckpointError(f"{path}: checkpoint holds model {name!r}, not {expected_name!r}")
    try:
        model = registry.create_from_config(name, config, p.get("profile", "paper"), init=False)
    except (KeyError, ValueError, TypeError) as err:
        raise CheckpointError(f"{path}: cannot build model {name!r} from the stored config: {err}") from None
    _check_state(model, p["state_dict"], str(path))
    model.load_state_dict(p["state_dict"], strict=True)
    model.checkpoint_metadata = json.loads(p.get("metadata_json") or "{}")
    model.checkpoint_path = str(path)
    return model.eval()


def load_into(model, path, map_location="cpu") -> dict:
    """Load a checkpoint's weights into an existing model; its config must equal the stored config.
    Returns the extra metadata."""
    p = _read(path, map_location)
    stored = json.loads(p["config_json"])
    current = json.loads(_json(model.config, "config"))
    diff = sorted(k for k in set(stored) | set(current) if stored.get(k) != current.get(k))
    if diff:
        shown = "; ".join(f"{k}: checkpoint {stored.get(k)!r} vs model {current.get(k)!r}" for k in diff[:5])
        raise CheckpointError(f"{path}: config mismatch ({len(diff)} keys): {shown}")
    _check_state(model, p["state_dict"], str(path))
    model.load_state_dict(p["state_dict"], strict=True)
    return json.loads(p.get("metadata_json") or "{}")
