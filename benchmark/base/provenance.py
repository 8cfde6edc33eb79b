"""Provenance: what produced a result (package versions, tools, git commit, hashes)."""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import platform
import re
import subprocess
from pathlib import Path

import numpy as np

PACKAGES = ("amss-bench", "torch", "numpy", "scipy", "librosa", "musdb", "museval", "soundfile", "sox", "pandas")


def package_versions(packages=PACKAGES) -> dict[str, str | None]:
    out = {}
    for p in packages:
        try:
            out[p] = importlib.metadata.version(p)
        except importlib.metadata.PackageNotFoundError:
            out[p] = None
    return out


def _tool_version(cmd: list[str], pattern: str) -> str | None:
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    m = re.search(pattern, res.stdout + res.stderr)
    return m.group(1) if m else None


@functools.cache
def tool_versions() -> dict[str, str | None]:
    return {
        "sox": _tool_version(["sox", "--version"], r"SoX v?(\S+)"),
        "ffmpeg": _tool_version(["ffmpeg", "-version"], r"ffmpeg version (\S+)"),
        "fluidsynth": _tool_version(["fluidsynth", "--version"], r"FluidSynth runtime version (\S+)"),
    }


def git_commit(path: str | Path = ".") -> str | None:
    try:
        res = subprocess.run(["git", "rev-parse", "HEAD"], cwd=path, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return res.stdout.strip() or None


def environment() -> dict:
    """Versions of everything that can change a number (no timestamps, no host names: results stay comparable),
    and the numeric code paths in force (benchmark.base.numerics)."""
    from benchmark.base import numerics

    return {"packages": package_versions(), "tools": tool_versions(), "python": platform.python_version(),
            "numerics": numerics.provenance()}


def array_sha256(a: np.ndarray) -> str:
    """sha256 of the samples of an array as little-endian float32, C order (shape-independent of memory layout)."""
    return hashlib.sha256(np.ascontiguousarray(a, dtype="<f4").tobytes()).hexdigest()


def json_sha256(obj) -> str:
    import json

    return hashlib.sha256(json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
