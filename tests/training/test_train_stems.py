"""``amss-bench train --stem a,b --jobs 2``: one process per stem, same bytes as the runs one after the other."""

from __future__ import annotations

import subprocess
import sys

import yaml

TINY = ["--model-set", "n_fft=256", "--model-set", "hop_length=128", "--model-set", "num_frame=32",
        "--model-set", "channels=4", "--model-set", "tfc_layers=2"]
FAST = ["--set", "segment=3968", "--set", "valid_seconds=1.0", "--set", "valid_tracks=1", "--set", "batch_size=2",
        "--max-steps", "2"]
TRACKED = ("model.pt", "config.json", "summary.json", "metrics/train.csv", "metrics/valid.csv")


def _cli(argv):
    return subprocess.run([sys.executable, "-m", "benchmark.cli", "train", *argv], capture_output=True, text=True,
                          timeout=600)


def test_parallel_stems_equal_sequential_runs(tiny_root, tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"profile": "embedded", "seed": 3, "data": {"root": str(tiny_root),
                                                                                "source": "synthetic"}}))
    common = ["--model", "u7-dme", "--params", str(params), *TINY, *FAST]
    res = _cli([*common, "--stem", "drums,bass", "--jobs", "2", "--out", str(tmp_path / "par" / "{stem}")])
    assert res.returncode == 0, res.stderr
    assert "trained u7-dme/drums" in res.stdout and "trained u7-dme/bass" in res.stdout
    for stem in ("drums", "bass"):
        seq = _cli([*common, "--stem", stem, "--out", str(tmp_path / "seq" / stem)])
        assert seq.returncode == 0, seq.stderr
        for name in TRACKED:
            assert (tmp_path / "par" / stem / name).read_bytes() == (tmp_path / "seq" / stem / name).read_bytes(), \
                f"{stem}/{name}"


def test_several_stems_need_a_stem_placeholder_and_jobs_need_stems(tmp_path):
    res = _cli(["--model", "u7-dme", "--stem", "drums,bass", "--out", str(tmp_path / "x"), "--root", "nowhere"])
    assert res.returncode == 2 and "{stem}" in res.stderr
    res = _cli(["--model", "u7-dme", "--stem", "drums,drums", "--root", "nowhere"])
    assert res.returncode == 2 and "distinct sources" in res.stderr
    res = _cli(["--model", "u7-dme", "--stem", "drums", "--jobs", "2", "--root", "nowhere"])
    assert res.returncode == 2 and "--jobs needs several stems" in res.stderr


def test_a_failing_stem_fails_the_command_and_names_it(tiny_root, tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"profile": "embedded", "seed": 3, "data": {"root": str(tiny_root),
                                                                                "source": "synthetic"}}))
    res = _cli(["--model", "u7-dme", "--params", str(params), *TINY, *FAST, "--set", "lr=-1",
                "--stem", "drums,bass", "--jobs", "2", "--out", str(tmp_path / "{stem}")])
    assert res.returncode == 2
    assert "failed for stem(s) drums (exit 2), bass (exit 2)" in res.stderr and "'lr' must be > 0" in res.stderr
