"""``amss-bench train``: arguments, defaults from params.yaml, exit codes, outputs."""

from __future__ import annotations

import argparse
import json

import pytest
import yaml

from benchmark.cli import train as cmd


def run(argv) -> int:
    parser = argparse.ArgumentParser(prog="amss-bench")
    sub = parser.add_subparsers(dest="command", required=True)
    cmd.register(sub)
    args = parser.parse_args(["train", *argv])
    return args.func(args)


TINY = ["--model-set", "n_fft=256", "--model-set", "hop_length=128", "--model-set", "num_frame=32",
        "--model-set", "channels=4", "--model-set", "tfc_layers=2"]
FAST = ["--set", "segment=3968", "--set", "valid_seconds=1.0", "--set", "valid_tracks=1", "--set", "batch_size=2"]


def test_train_command_writes_model_and_metrics(tiny_root, tmp_path, capsys):
    out = tmp_path / "run"
    rc = run(["--model", "u7-dcse/drums", "--root", str(tiny_root), "--source", "synthetic", "--seed", "1",
              "--out", str(out), "--max-steps", "2", "--params", str(_params(tmp_path)), *TINY, *FAST])
    assert rc == 0, capsys.readouterr().err
    text = capsys.readouterr().out
    assert "trained u7-dcse/drums (embedded, seed 1): 2 steps" in text and "identity" in text
    summary = json.loads((out / "summary.json").read_text())
    assert summary["extra"]["source"] == "drums" and summary["steps"] == 2
    assert (out / "model.pt").is_file() and (out / "config.json").is_file()
    assert (out / "metrics" / "train.csv").is_file() and (out / "metrics" / "valid.csv").is_file()
    assert "seconds" not in summary and "samples_per_s" not in summary and "out" not in summary
    assert json.loads((out / "timing.json").read_text())["steps"] == 2  # the wall time is here (and on stdout)
    tracked = ("model.pt", "config.json", "summary.json", "metrics/train.csv", "metrics/valid.csv")
    before = {name: (out / name).read_bytes() for name in tracked}
    # --resume of a finished run is a no-op that re-writes the same outputs, byte for byte
    rc = run(["--model", "u7-dcse", "--stem", "drums", "--root", str(tiny_root), "--seed", "1", "--out", str(out),
              "--max-steps", "2", "--resume", "--params", str(_params(tmp_path)), *TINY, *FAST])
    assert rc == 0 and json.loads((out / "summary.json").read_text())["steps"] == 2
    assert {name: (out / name).read_bytes() for name in tracked} == before


def _params(tmp_path):
    p = tmp_path / "params.yaml"
    p.write_text(yaml.safe_dump({"profile": "embedded", "seed": 9, "data": {"root": "nowhere", "source": "synthetic"},
                                 "train": {"embedded": {"all": {"log_every_steps": 1}}}}))
    return p


@pytest.mark.parametrize("argv,message", [
    (["--model", "no-such-model"], "unknown model"),
    (["--model", "amss-net", "--stem", "bass"], "dedicated models only"),
    (["--model", "u7-dcse", "--stem", "piano"], "--stem must be one of"),
    (["--model", "u7-dcse", "--set", "lrate=1"], "unknown training key 'lrate'"),
    (["--model", "u7-dcse", "--set", "nonsense"], "KEY=VALUE"),
    (["--model", "u7-dcse", "--stem", "drums", "--batch-size", "0"], "--batch-size must be >= 1, got 0"),
    (["--model", "amss-net", "--batch-size", "-2"], "--batch-size must be >= 1, got -2"),
])
def test_errors_exit_2_with_a_message(tiny_root, tmp_path, capsys, argv, message):
    rc = run([*argv, "--root", str(tiny_root), "--out", str(tmp_path / "x"), "--params", str(_params(tmp_path))])
    captured = capsys.readouterr()
    assert rc == 2 and message in captured.err and captured.out == ""


def test_unknown_params_section_names_the_params_file(tiny_root, tmp_path, capsys):
    p = tmp_path / "my-params.yaml"
    p.write_text(yaml.safe_dump({"profile": "embedded", "data": {"root": "nowhere", "source": "synthetic"},
                                 "train": {"embedded": {"amms": {"max_steps": 3}}}}))
    rc = run(["--model", "amss-net", "--root", str(tiny_root), "--out", str(tmp_path / "x"), "--params", str(p)])
    err = capsys.readouterr().err
    assert rc == 2 and f"{p}: train.embedded has unknown section(s) 'amms'" in err
    assert not (tmp_path / "x" / "model.pt").exists()


def test_missing_root_is_reported(tmp_path, capsys):
    rc = run(["--model", "u7-dcse", "--params", str(_params(tmp_path)), "--out", str(tmp_path / "x")])
    assert rc == 2 and "nowhere" in capsys.readouterr().err


def test_default_out_layout():
    assert str(cmd.default_out("u7-dcse", "drums", "embedded", 2020)) == "runs/train/embedded/u7-dcse/drums/seed2020"
    assert str(cmd.default_out("amss-net", None, "paper", 1)) == "runs/train/paper/amss-net/seed1"
    assert cmd.split_model("u7-dcse/bass", None) == ("u7-dcse", "bass")
    with pytest.raises(ValueError):
        cmd.split_model("u7-dcse/bass", "drums")
