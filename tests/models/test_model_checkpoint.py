"""Checkpoints: weights + config JSON, weights_only loading, refusal of code-executing pickles, clear mismatches."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
import torch

from models import checkpoint, registry
from models.checkpoint import CheckpointError


def test_roundtrip_preserves_weights_config_and_metadata(tmp_path):
    model = registry.create("amss-net", profile="embedded", seed=5)
    path = checkpoint.save(model, tmp_path / "sub" / "amss.ckpt", {"epoch": 7, "seed": np.int64(2020)})
    assert path.is_file() and not list(path.parent.glob(".*.tmp"))
    loaded = checkpoint.load(path)
    assert loaded.info.name == "amss-net@embedded" and loaded.config == model.config
    assert loaded.checkpoint_metadata == {"epoch": 7, "seed": 2020}
    for (k, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a, b), k
    track = np.random.default_rng(0).uniform(-0.3, 0.3, (40_000, 2)).astype(np.float32)
    np.testing.assert_array_equal(model.manipulate(track, "separate bass"), loaded.manipulate(track, "separate bass"))
    meta = checkpoint.read_metadata(path)
    assert meta["name"] == "amss-net" and meta["profile"] == "embedded"
    assert meta["num_parameters"] == model.num_parameters()


def test_file_is_plain_data(tmp_path):
    path = checkpoint.save(registry.create("u7-dcse", profile="embedded", source="bass", seed=0), tmp_path / "m.pt")
    raw = torch.load(path, weights_only=True)
    assert raw["format"] == checkpoint.FORMAT
    assert json.loads(raw["config_json"])["source"] == "bass"
    assert checkpoint.load(path).info.source == "bass"


def test_paper_model_roundtrip(tmp_path):
    model = registry.create("u7-mme", seed=0)
    loaded = checkpoint.load(checkpoint.save(model, tmp_path / "m.pt"))
    assert loaded.info.name == "u7-mme" and loaded.num_parameters() == 987_282


class Evil:
    def __reduce__(self):
        return (print, ("code executed",))


def test_refuses_files_that_need_code_execution(tmp_path, capsys):
    path = tmp_path / "evil.pt"
    torch.save({"format": checkpoint.FORMAT, "payload": Evil()}, path)
    with pytest.raises(CheckpointError, match="code execution"):
        checkpoint.load(path)
    assert "code executed" not in capsys.readouterr().out
    whole = tmp_path / "module.pt"
    torch.save(registry.create("u7-dcse", profile="embedded", init=False), whole)  # a pickled nn.Module
    with pytest.raises(CheckpointError, match="code execution"):
        checkpoint.load(whole)


def test_not_a_checkpoint(tmp_path):
    p = tmp_path / "plain.pt"
    torch.save({"a": torch.zeros(1)}, p)
    with pytest.raises(CheckpointError, match="not an amss-bench checkpoint"):
        checkpoint.load(p)
    (tmp_path / "junk.pt").write_bytes(b"not a zip")
    with pytest.raises(CheckpointError, match="not a readable"):
        checkpoint.load(tmp_path / "junk.pt")
    with pytest.raises(CheckpointError, match="not found"):
        checkpoint.load(tmp_path / "missing.pt")


def test_config_weights_mismatch_is_reported(tmp_path):
    path = checkpoint.save(registry.create("cunet-film", profile="embedded", seed=0), tmp_path / "c.pt")
    raw = torch.load(path, weights_only=True)
    cfg = json.loads(raw["config_json"])
    cfg["channels"] = 4  # config no longer matches the stored weights
    raw["config_json"] = json.dumps(cfg)
    torch.save(raw, tmp_path / "bad.pt")
    with pytest.raises(CheckpointError, match="weights do not match the model's config"):
        checkpoint.load(tmp_path / "bad.pt")
    raw2 = torch.load(path, weights_only=True)
    del raw2["state_dict"]["last_conv.conv.weight"]
    torch.save(raw2, tmp_path / "missing_key.pt")
    with pytest.raises(CheckpointError, match="1 missing"):
        checkpoint.load(tmp_path / "missing_key.pt")
    with pytest.raises(CheckpointError, match="holds model 'cunet-film'"):
        checkpoint.load(path, expected_name="amss-net")
    other = registry.create("cunet-film", profile="embedded", channels=4, init=False)
    with pytest.raises(CheckpointError, match="config mismatch"):
        checkpoint.load_into(other, path)
    same = registry.create("cunet-film", profile="embedded", init=False)
    assert checkpoint.load_into(same, path) == {}


def test_save_requires_registry_model_and_json_metadata(tmp_path):
    with pytest.raises(CheckpointError):
        checkpoint.save(torch.nn.Linear(2, 2), tmp_path / "x.pt")
    with pytest.raises(TypeError, match="extra_metadata"):
        checkpoint.save(registry.create("u7-dcse", profile="embedded", init=False), tmp_path / "x.pt",
                        {"obj": object()})
    assert not (tmp_path / "x.pt").exists()


def test_pickle_module_is_not_used_for_loading(monkeypatch, tmp_path):
    path = checkpoint.save(registry.create("u7-dcse", profile="embedded", init=False), tmp_path / "m.pt")
    monkeypatch.setattr(pickle, "load", lambda *a, **k: (_ for _ in ()).throw(AssertionError("unsafe load")))
    checkpoint.load(path)
