"""``amss-bench models list`` and ``amss-bench manipulate``."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from benchmark import cli
from models import checkpoint, registry


def run(capsys, *argv):
    rc = cli.main(list(argv))
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_models_list_json(capsys):
    rc, out, _ = run(capsys, "models", "list", "--json")
    assert rc == 0
    rows = json.loads(out)
    assert len(rows) == len(registry.list_models())
    by = {r["name"]: r for r in rows}
    assert by["amss-net"]["params"] == 4_245_068 == by["amss-net"]["published_params"]
    assert all(r["matches_published"] for r in rows if r["collection"] == "thesis")
    # the survey separators written from the papers have no published count to compare (tests/models/
    # test_survey_models.py derives theirs); the packaged ones compare with the package's own count
    survey = [r for r in rows if r["collection"] == "survey"]
    assert survey and all(r["matches_published"] is (None if r["published_params"] is None else True) for r in survey)
    assert by["u17-tfc-sampling-o"]["thesis_params"] == "1.56M"
    assert by["u7-dcse"]["embedded_params"] < 100_000


def test_models_list_table(capsys):
    rc, out, _ = run(capsys, "models", "list")
    assert rc == 0 and "lasaft-gpocm-net12" in out and "31,541,908" in out


@pytest.fixture
def wav(tmp_path):
    x = (np.random.default_rng(0).standard_normal((60_000, 2)) * 0.1).astype(np.float32)
    p = tmp_path / "in.wav"
    sf.write(p, x, 44100, subtype="FLOAT")
    return p, x


def test_manipulate_untrained_warns_loudly(capsys, wav, tmp_path):
    p, x = wav
    out_path = tmp_path / "out.wav"
    rc, _, err = run(capsys, "manipulate", str(p), "separate drums", "--model", "cunet-gpocm",
                     "--profile", "embedded", "-o", str(out_path))
    assert rc == 0
    assert "UNTRAINED" in err
    y, sr = sf.read(out_path, dtype="float32", always_2d=True)
    assert sr == 44100 and y.shape == x.shape


def test_manipulate_with_checkpoint_matches_api(capsys, wav, tmp_path):
    p, x = wav
    model = registry.create("amss-net", profile="embedded", seed=9)
    ck = checkpoint.save(model, tmp_path / "amss.ckpt")
    out_path = tmp_path / "out.wav"
    rc, _, err = run(capsys, "manipulate", str(p), "pan drums completely to the right side", "--checkpoint", str(ck),
                     "-o", str(out_path), "--batch-size", "2")
    assert rc == 0 and "UNTRAINED" not in err
    y, _ = sf.read(out_path, dtype="float32", always_2d=True)
    np.testing.assert_array_equal(y, model.manipulate(x, "pan drums completely to the right side", batch_size=2))
    rc, _, err = run(capsys, "manipulate", str(p), "separate drums", "--checkpoint", str(ck), "--model", "u7-dcse",
                     "-o", str(out_path))
    assert rc == 2 and "holds model 'amss-net'" in err


def test_manipulate_rejects_bad_inputs(capsys, tmp_path, wav):
    p, x = wav
    mono = tmp_path / "mono.wav"
    sf.write(mono, x[:, 0], 44100)
    low = tmp_path / "low.wav"
    sf.write(low, x, 22050)
    out = str(tmp_path / "o.wav")
    rc, _, err = run(capsys, "manipulate", str(mono), "separate vocals", "--model", "u7-dcse", "-o", out)
    assert rc == 2 and "mono" in err and "--upmix" in err
    rc, _, err = run(capsys, "manipulate", str(low), "separate vocals", "--model", "u7-dcse", "-o", out)
    assert rc == 2 and "22050" in err and "--resample" in err
    rc, _, err = run(capsys, "manipulate", str(p), "separate vocals, drums", "--model", "u7-dcse", "-o", out)
    assert rc == 2 and "cannot answer" in err and "Supported queries" in err
    rc, _, err = run(capsys, "manipulate", str(p), "separate guitar", "--model", "u7-dcse", "-o", out)
    assert rc == 2 and "invalid AML query" in err
    rc, _, err = run(capsys, "manipulate", str(p), "separate vocals", "--model", "nope", "-o", out)
    assert rc == 2 and "unknown model" in err
    assert not (tmp_path / "o.wav").exists()


def test_manipulate_resample_and_upmix_on_request(capsys, tmp_path, wav):
    _, x = wav
    mono = tmp_path / "mono22.wav"
    sf.write(mono, x[:22050, 0], 22050)
    out = tmp_path / "o.wav"
    rc, _, err = run(capsys, "manipulate", str(mono), "separate vocals", "--model", "u7-mme", "--profile", "embedded",
                     "--resample", "--upmix", "-o", str(out))
    assert rc == 0 and "resampled 22050 Hz -> 44100 Hz" in err
    y, sr = sf.read(out, always_2d=True)
    assert sr == 44100 and y.shape == (44100, 2)


@pytest.mark.parametrize("size", ["0", "-3", "two"])
def test_manipulate_refuses_a_batch_size_below_one(capsys, tmp_path, wav, size):
    # infer_track's slice took the raw batch size: --batch-size 0 wrote silence (docs/testing.md, the inference bug)
    p, _ = wav
    out = tmp_path / "o.wav"
    with pytest.raises(SystemExit) as exc:
        cli.main(["manipulate", str(p), "separate vocals", "--model", "u7-dcse", "--batch-size", size, "-o", str(out)])
    assert exc.value.code == 2
    assert f"argument --batch-size: expected a positive integer, got '{size}'" in capsys.readouterr().err
    assert not out.exists()
