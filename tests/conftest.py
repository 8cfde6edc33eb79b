"""Shared fixtures: a tiny dataset root in the MUSDB18-HQ layout made of seeded noise and tones (fast, no FluidSynth)."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmark.data.tiny import make_root  # noqa: F401 - re-exported for the tests


@pytest.fixture(scope="session")
def tiny_root(tmp_path_factory) -> Path:
    return make_root(tmp_path_factory.mktemp("tiny") / "root")


@pytest.fixture(scope="session")
def baseline_results(tiny_root, tmp_path_factory) -> Path:
    """The tiny test set (``ts/``) and the three training-free baselines evaluated on it (``results/``): the input of
    the report tests (tests/test_report.py, tests/test_report_html.py), built once per session."""
    from baselines import get_system
    from benchmark.task import testset
    from benchmark.scoring.evaluate import evaluate

    base = tmp_path_factory.mktemp("baseline-results")
    testset.build(tiny_root, base / "ts", progress=False)
    for name in ("identity", "oracle", "dsp-mixture"):
        evaluate(get_system(name), base / "ts", base / "results", backend="sdr-only", progress=False)
    return base
