"""`amss-bench metrics bss` timed as a user runs it: a whole process, start-up (imports) and WAV reading included
(pytest-benchmark; docs/performance.md, "BSS-Eval through the command line").

By default (``--benchmark-disable`` in ``addopts``) one 20-s track goes once through ``--backend fast``. With
``AMSS_LONG_BENCH=1`` the 20-s track and a 150-s track (4 stereo 16-bit targets) also go through ``--backend
museval`` (≈ 2.5 min in all); the outputs are compared (same NaN frames, |Δ| ≤ 0.01 dB) and the whole-process
ratio is printed::

    AMSS_LONG_BENCH=1 pytest tests/metrics/test_bench_bss_cli.py --benchmark-enable -s
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

SR = 44100
TARGETS = ("vocals", "drums", "bass", "other")
LONG = os.environ.get("AMSS_LONG_BENCH") == "1"
REPO = Path(__file__).resolve().parents[2]
_RUNS: dict = {}


def _write_track(root: Path, seconds: float, seed: int = 0) -> Path:
    """Music-like 16-bit stems (tone, noise bursts, low-passed noise, chords) and separator-like estimates
    (leakage of the other stems, noise); vocals silent for 2 s."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    t = np.arange(n) / SR
    bursts = (np.sin(2 * np.pi * 2 * t) > 0.9) * rng.standard_normal(n)
    low = np.convolve(rng.standard_normal(n), np.ones(64) / 64, mode="same")
    chords = sum(np.sin(2 * np.pi * f * t) for f in (261.6, 329.6, 392.0)) / 3
    mono = {"vocals": np.sin(2 * np.pi * 220 * t) * (1 + 0.3 * np.sin(2 * np.pi * 0.5 * t)),
            "drums": bursts, "bass": 4 * low, "other": chords}
    refs = {k: 0.2 * np.stack([v, 0.8 * v], axis=1) + 1e-3 * rng.standard_normal((n, 2)) for k, v in mono.items()}
    refs["vocals"][3 * SR:5 * SR] = 0.0
    for d in ("ref", "est"):
        (root / d).mkdir(parents=True, exist_ok=True)
    for k, r in refs.items():
        e = r + 0.1 * sum(v for j, v in refs.items() if j != k) + 0.01 * rng.standard_normal((n, 2))
        sf.write(root / "ref" / f"{k}.wav", np.clip(r, -1, 1), SR, subtype="PCM_16")
        sf.write(root / "est" / f"{k}.wav", np.clip(e, -1, 1), SR, subtype="PCM_16")
    return root


CASES = [pytest.param(20.0, id="20s")]
if LONG:
    CASES.append(pytest.param(150.0, id="150s"))


@pytest.fixture(scope="module", params=CASES)
def track(request, tmp_path_factory):
    return request.param, _write_track(tmp_path_factory.mktemp(f"cli{request.param:g}"), request.param)


def _cli(root: Path, backend: str) -> dict:
    proc = subprocess.run([sys.executable, "-m", "benchmark.cli", "metrics", "bss", "--reference", str(root / "ref"),
                           "--estimate", str(root / "est"), "--backend", backend],
                          cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.mark.benchmark
@pytest.mark.parametrize("backend", ["museval", "fast"])
def test_bench_bss_cli(benchmark, track, backend):
    seconds, root = track
    if backend == "museval" and not LONG:
        pytest.skip("museval through the CLI is opt-in (AMSS_LONG_BENCH=1)")
    benchmark.group = f"amss-bench metrics bss, whole process, {seconds:g} s, 4 stereo 16-bit targets"
    benchmark.extra_info["audio_seconds"] = seconds
    t0 = time.perf_counter()
    doc = benchmark.pedantic(_cli, args=(root, backend), rounds=1, iterations=1)
    _RUNS[(seconds, backend)] = (time.perf_counter() - t0, doc)
    assert doc["backend"] == backend
    assert [t["name"] for t in doc["targets"]] == sorted(TARGETS)
    assert all(len(t["frames"]) == int(seconds) for t in doc["targets"])
    vocals = next(t for t in doc["targets"] if t["name"] == "vocals")
    assert [f["metrics"]["SDR"] is None for f in vocals["frames"][:6]] == [False] * 3 + [True] * 2 + [False]


@pytest.mark.benchmark
def test_bench_bss_cli_agreement_and_ratio(track):
    seconds, _ = track
    if (seconds, "museval") not in _RUNS or (seconds, "fast") not in _RUNS:
        pytest.skip("run together with test_bench_bss_cli[museval] and [fast] (AMSS_LONG_BENCH=1)")
    t_m, d_m = _RUNS[(seconds, "museval")]
    t_f, d_f = _RUNS[(seconds, "fast")]
    for tm, tf in zip(d_m["targets"], d_f["targets"]):
        assert tm["name"] == tf["name"]
        for fm, ff in zip(tm["frames"], tf["frames"]):
            for k, v in fm["metrics"].items():
                assert (v is None) == (ff["metrics"][k] is None)
                if v is not None:
                    assert abs(v - ff["metrics"][k]) <= 0.01
    print(f"\namss-bench metrics bss, {seconds:g} s: museval {t_m:.1f} s, fast {t_f:.1f} s (whole processes), "
          f"ratio {t_m / t_f:.1f}x")
