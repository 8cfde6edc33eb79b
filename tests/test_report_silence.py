"""Figure 3.10 (benchmark/reporting/silence.py, `amss-bench silence`): an all-zero input through trained checkpoints."""

import json

import numpy as np
import pytest

from benchmark.reporting import silence
from benchmark.cli import main


def test_measure_golden():
    y = np.zeros((4, 2), dtype=np.float32)
    y[0, 0] = 0.5
    m = silence.measure(y)
    assert m["peak"] == 0.5 and m["peak_dbfs"] == pytest.approx(-6.0206, abs=1e-4)
    assert m["rms_dbfs"] == pytest.approx(20 * np.log10(np.sqrt(0.25 / 8)))
    assert m["zero_fraction"] == 0.875
    z = silence.measure(np.zeros((10, 2)))
    assert z == {"peak": 0.0, "peak_dbfs": None, "rms_dbfs": None, "zero_fraction": 1.0}
    assert silence.claim_holds("masking", z) and not silence.claim_holds("direct", z)
    assert silence.claim_holds("direct", m) and not silence.claim_holds("masking", m)
    assert (silence.spectrogram_db(np.zeros((4096, 2))) == silence.FLOOR_DB).all()


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    from models import checkpoint, registry

    root = tmp_path_factory.mktemp("silence") / "runs"
    for name in ("u7-mme", "u7-dcse"):
        model = registry.create(name, profile="embedded", seed=0)
        checkpoint.save(model, root / name / "vocals" / "seed0" / "model.pt")
    return root


def test_silence_masking_exact_direct_leaks_and_bytes_repeat(runs, tmp_path):
    outs = [tmp_path / "a", tmp_path / "b"]
    for out in outs:
        assert main(["-q", "silence", "--runs", str(runs), "--out", str(out), "--profile", "embedded",
                     "--seconds", "1"]) == 0
    doc = json.loads((outs[0] / "silence.json").read_text())
    rows = {r["model"]: r for r in doc["rows"]}
    assert list(rows) == ["u7-dcse", "u7-mme"] and doc["input"]["seconds"] == 1.0
    assert rows["u7-mme"]["estimator"] == "masking" and rows["u7-mme"]["zero_fraction"] == 1.0
    assert rows["u7-mme"]["peak_dbfs"] is None and rows["u7-mme"]["claim_holds"]
    assert rows["u7-dcse"]["estimator"] == "direct" and rows["u7-dcse"]["peak"] > 0
    assert rows["u7-dcse"]["claim_holds"] and rows["u7-dcse"]["zero_fraction"] < 1.0
    md = (outs[0] / "silence.md").read_text()
    assert "| u7-mme | seed0 | masking | −∞ (exact zeros) | −∞ (exact zeros) | 1.0000 | exactly silent | yes |" in md
    for name in ("silence.json", "silence.md", "silence.png"):
        assert (outs[0] / name).read_bytes() == (outs[1] / name).read_bytes(), name


def test_silence_without_checkpoints(tmp_path, capsys):
    (tmp_path / "runs").mkdir()
    assert main(["silence", "--runs", str(tmp_path / "runs"), "--out", str(tmp_path / "o"),
                 "--profile", "embedded"]) == 2
    assert "no checkpoints" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
