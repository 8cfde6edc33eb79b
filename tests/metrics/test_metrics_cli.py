"""``metrics`` CLI group (benchmark/commands/metrics.py), driven through ``register`` on a fresh parser."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest
import soundfile as sf

from benchmark.commands import metrics as cmd

SR = 44100


def _run(argv, capsys):
    parser = argparse.ArgumentParser(prog="amss-bench")
    cmd.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    rc = args.func(args)
    out = capsys.readouterr()
    return rc, out.out, out.err


@pytest.fixture(scope="module")
def track(tmp_path_factory):
    root = tmp_path_factory.mktemp("track")
    rng = np.random.default_rng(0)
    n = int(2.5 * SR)
    (root / "ref").mkdir()
    (root / "est").mkdir()
    for t in ("vocals", "drums"):
        r = 0.1 * rng.standard_normal((n, 2))
        sf.write(root / "ref" / f"{t}.wav", r, SR, subtype="FLOAT")
        sf.write(root / "est" / f"{t}.wav", 0.9 * r + 0.01 * rng.standard_normal((n, 2)), SR, subtype="FLOAT")
    return root


@pytest.mark.parametrize("backend", ["fast", "sdr-only"])
def test_bss_prints_museval_json_and_medians(track, capsys, backend):
    rc, out, err = _run(["metrics", "bss", "--reference", str(track / "ref"), "--estimate", str(track / "est"),
                         "--backend", backend], capsys)
    assert rc == 0, err
    doc = json.loads(out)
    assert doc["backend"] == backend and doc["track"] == "ref"
    assert [t["name"] for t in doc["targets"]] == ["drums", "vocals"]
    assert len(doc["targets"][0]["frames"]) == 2
    assert set(doc["medians"]["vocals"]) == ({"SDR"} if backend == "sdr-only" else {"SDR", "ISR", "SIR", "SAR"})
    assert 15 < doc["medians"]["vocals"]["SDR"] < 25


def test_bss_both_reports_delta(track, capsys):
    rc, out, err = _run(["metrics", "bss", "--reference", str(track / "ref"), "--estimate", str(track / "est"),
                         "--backend", "both"], capsys)
    assert rc == 0, err
    doc = json.loads(out)
    assert set(doc) >= {"museval", "fast", "max_abs_delta", "nan_mismatch_frames", "speedup"}
    assert max(doc["max_abs_delta"].values()) <= 0.01
    assert sum(doc["nan_mismatch_frames"].values()) == 0


def test_bss_input_errors(track, tmp_path, capsys):
    rc, out, err = _run(["metrics", "bss", "--reference", str(track / "ref"), "--estimate", str(tmp_path)], capsys)
    assert rc == 2 and out == "" and "holds no <target>.wav" in err
    est = tmp_path / "est"
    est.mkdir()
    sf.write(est / "vocals.wav", np.zeros((100, 2)), SR)
    rc, out, err = _run(["metrics", "bss", "--reference", str(track / "ref"), "--estimate", str(est)], capsys)
    assert rc == 2 and "lacks drums.wav" in err
    sf.write(est / "drums.wav", np.ones((100, 2)) * 0.1, 22050)
    sf.write(est / "vocals.wav", np.ones((100, 2)) * 0.1, SR)
    rc, out, err = _run(["metrics", "bss", "--reference", str(track / "ref"), "--estimate", str(est)], capsys)
    assert rc == 2 and "drums.wav: sample rate 22050 Hz, expected 44100 Hz" in err
    sf.write(est / "drums.wav", np.ones((100, 1)) * 0.1, SR)
    rc, out, err = _run(["metrics", "bss", "--reference", str(track / "ref"), "--estimate", str(est)], capsys)
    assert rc == 2 and "estimate 'drums' has 1 channel(s), expected 2" in err


def test_rmse_mfcc_command(track, capsys, tmp_path):
    rc, out, err = _run(["metrics", "rmse-mfcc", "--reference", str(track / "ref" / "vocals.wav"),
                         "--estimate", str(track / "est" / "vocals.wav")], capsys)
    assert rc == 0, err
    doc = json.loads(out)
    assert list(doc) == ["mfcc_rmse", "mfcc_rmse_left", "mfcc_rmse_right", "mae", "mae_left", "mae_right"]
    mono = tmp_path / "mono.wav"
    sf.write(mono, np.zeros((1000, 1)), SR)
    rc, out, err = _run(["metrics", "rmse-mfcc", "--reference", str(track / "ref" / "vocals.wav"),
                         "--estimate", str(mono)], capsys)
    assert rc == 2 and "mono.wav: 1 channel(s), expected 2" in err
    rc, out, err = _run(["metrics", "rmse-mfcc", "--reference", str(tmp_path / "nope.wav"),
                         "--estimate", str(mono)], capsys)
    assert rc == 2 and "nope.wav: file not found" in err


def test_silence_command_with_a_stub_model(monkeypatch, capsys, tmp_path):
    registry = pytest.importorskip("models.registry")
    calls = {}

    class Stub:
        config = {"n_fft": 512, "hop_length": 256}

        def manipulate(self, audio, query, device="cpu"):
            calls["query"], calls["shape"] = query, audio.shape
            return np.zeros_like(audio)

    def create(name, profile="paper", seed=None, **kw):
        if name != "stub":
            raise KeyError(f"unknown model {name!r}")
        return Stub()

    monkeypatch.setattr(registry, "create", create)
    png = tmp_path / "s.png"
    rc, out, err = _run(["metrics", "silence", "--model", "stub", "--seconds", "2", "--png", str(png)], capsys)
    assert rc == 0, err
    doc = json.loads(out)
    assert doc["peak"] == 0.0 and doc["rms_dbfs"] is None and doc["zero_fraction"] == 1.0
    assert calls == {"query": "separate vocals", "shape": (2 * SR, 2)}
    assert png.read_bytes().startswith(b"\x89PNG")
    rc, out, err = _run(["metrics", "silence", "--model", "nope"], capsys)
    assert rc == 2 and "cannot build model 'nope'" in err


def test_register_wires_three_actions():
    parser = argparse.ArgumentParser()
    cmd.register(parser.add_subparsers(dest="command", required=True))
    for argv in (["metrics", "bss", "--reference", "a", "--estimate", "b"],
                 ["metrics", "rmse-mfcc", "--reference", "a", "--estimate", "b"],
                 ["metrics", "silence", "--model", "m"]):
        ns = parser.parse_args(argv)
        assert callable(ns.func)
