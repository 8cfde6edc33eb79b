"""Shared fixtures: a tiny dataset root in the MUSDB18-HQ layout made of seeded noise and tones (fast, no FluidSynth),
and the training-free baselines evaluated on its test set.

Both are built once per test run, not once per pytest-xdist worker: the first worker to need one builds it under the
run's shared temporary directory (beside the workers' own) while holding a file lock, and marks it complete; the other
workers wait for the lock and read it. A build that fails leaves no mark, so the next worker starts it again. Tests
only read these folders (they copy or link what they change)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from filelock import FileLock

from benchmark.data.tiny import make_root  # noqa: F401 - re-exported for the tests


def shared_build(tmp_path_factory, name: str, build) -> Path:
    """``build(folder)`` once for the whole run (every xdist worker gets the same folder)."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # the run's directory, shared by gw0, gw1, …
    final, done = base / f"shared-{name}", base / f"shared-{name}.done"
    with FileLock(str(final) + ".lock"):
        if not done.exists():
            shutil.rmtree(final, ignore_errors=True)  # what a failed build left
            final.mkdir()
            build(final)
            done.touch()
    return final


@pytest.fixture(scope="session")
def tiny_root(tmp_path_factory) -> Path:
    return shared_build(tmp_path_factory, "tiny", lambda d: make_root(d / "root")) / "root"


@pytest.fixture(scope="session")
def baseline_results(tiny_root, tmp_path_factory) -> Path:
    """The tiny test set (``ts/``) and the three training-free baselines evaluated on it (``results/``): the input of
    the report tests (tests/test_report.py, tests/test_report_html.py), built once per run."""
    from baselines import get_system
    from benchmark.task import testset
    from benchmark.scoring.evaluate import evaluate

    def build(base: Path) -> None:
        testset.build(tiny_root, base / "ts", progress=False)
        for name in ("identity", "oracle", "dsp-mixture"):
            evaluate(get_system(name), base / "ts", base / "results", backend="sdr-only", progress=False)

    return shared_build(tmp_path_factory, "baseline-results", build)
