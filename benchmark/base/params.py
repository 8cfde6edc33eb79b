"""Loading ``params.yaml`` with clear errors (the file, the field, what was expected)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

PROFILES = ("embedded", "paper")


class ParamsError(ValueError):
    pass


def load(path: str | Path = "params.yaml") -> dict:
    path = Path(path)
    if not path.is_file():
        raise ParamsError(f"{path}: parameters file not found")
    with open(path) as fh:
        params = yaml.safe_load(fh) or {}
    if not isinstance(params, dict):
        raise ParamsError(f"{path}: expected a mapping at the top level")
    params["_path"] = str(path)
    profile = get(params, "profile", str)
    if profile not in PROFILES:
        raise ParamsError(f"{path}: field 'profile' is {profile!r}, expected one of {', '.join(PROFILES)}")
    return params


def get(params: dict, dotted: str, kind: type | tuple[type, ...] | None = None) -> Any:
    """Value of a dotted field, e.g. ``get(p, "data.synth.seconds", (int, float))``."""
    node: Any = params
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            raise ParamsError(f"{params.get('_path', 'params.yaml')}: missing field {dotted!r}")
        node = node[part]
    if kind is not None and (not isinstance(node, kind) or isinstance(node, bool) and bool not in (
            kind if isinstance(kind, tuple) else (kind,))):
        names = "/".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
        raise ParamsError(f"{params.get('_path', 'params.yaml')}: field {dotted!r} is {node!r}, expected {names}")
    return node


#: ``glove.<profile>`` when params.yaml has no ``glove`` section (the shipped params.yaml states the same values)
GLOVE_DEFAULTS = {"paper": "data/glove/glove.6B.100d.txt", "embedded": "none"}
GLOVE_NONE = "none"


def glove_setting(params: dict | None, profile: str) -> str:
    """``glove.<profile>``: the path of a GloVe 6B-100d text file, or ``"none"`` (explicit opt-out: random word
    embeddings). Without a ``glove`` section (or without params) the profile's default of :data:`GLOVE_DEFAULTS`."""
    if profile not in PROFILES:
        raise ParamsError(f"profile must be one of {', '.join(PROFILES)}, got {profile!r}")
    section = (params or {}).get("glove")
    where = (params or {}).get("_path", "params.yaml")
    if section is None:
        return GLOVE_DEFAULTS[profile]
    if not isinstance(section, dict):
        raise ParamsError(f"{where}: field 'glove' must be a mapping of profile to a GloVe file path or none, "
                          f"got {section!r}")
    unknown = sorted(set(section) - set(PROFILES))
    if unknown:
        raise ParamsError(f"{where}: field 'glove' has unknown key(s) {', '.join(map(repr, unknown))}; expected "
                          f"{', '.join(PROFILES)}")
    value = section.get(profile, GLOVE_DEFAULTS[profile])
    if value is None:
        return GLOVE_NONE
    if not isinstance(value, str) or not value.strip():
        raise ParamsError(f"{where}: field 'glove.{profile}' is {value!r}, expected a GloVe file path or none")
    return GLOVE_NONE if value.strip().lower() == GLOVE_NONE else value
