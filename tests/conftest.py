"""Shared fixtures: a tiny dataset root in the MUSDB18-HQ layout made of seeded noise and tones (fast, no FluidSynth)."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmark.data.tiny import make_root  # noqa: F401 - re-exported for the tests


@pytest.fixture(scope="session")
def tiny_root(tmp_path_factory) -> Path:
    return make_root(tmp_path_factory.mktemp("tiny") / "root")
