"""GloVe word embeddings of AMSS-Net (docs/fidelity.md §2): which rows a GloVe file overwrites, params.yaml
``glove.<profile>``, the paper profile's refusal without the file, and the opt-out label in the checkpoint, the
evaluation metadata and the report."""

from __future__ import annotations

import json

import pytest
import torch
import yaml

from benchmark.task import aml
from benchmark.base import params as bparams
from benchmark.reporting.report import systems_without_glove
from models import registry
from models.training import Trainer, TrainingError, train
from models.training import glove as tglove

TINY = dict(n_fft=256, hop_length=128, num_frame=32, channels=4, tfc_layers=2, amss_min_trim=512)
RECIPE = dict(segment=3968, batch_size=2, max_steps=1, valid_seconds=1.0, valid_tracks=1, valid_queries=1,
              num_workers=0)
DIM = 16  # word_dim of the embedded AMSS configuration
#: a small paper-profile AMSS-Net (word_dim stays 100: GloVe 6B-100d)
PAPER_TINY = dict(TINY, heads=2, latents_per_head=2, rnn_hidden=8, d_k=8, lasaft_latents=2)


def _glove_file(path, words, dim=DIM):
    """A GloVe-format text file: ``word v1 … v_dim`` per line; vector k is (k+1)/8 · [1, −1, 2, …]."""
    lines = []
    for k, word in enumerate(words):
        vec = [(k + 1) / 8 * (j + 1) * (-1) ** j for j in range(dim)]
        lines.append(word + " " + " ".join(f"{v:.6f}" for v in vec))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_glove_overwrites_exactly_the_rows_of_the_tokens_it_has(tmp_path):
    # GloVe 6B has ',' and the plain words, not the special tokens; 'piano' and '.' are not in the vocabulary
    words = [",", "vocals", "piano", "apply", ".", "the"]
    path = _glove_file(tmp_path / "glove.txt", words)
    plain = registry.create("amss-net", "embedded", seed=5, **TINY)
    with_glove = registry.create("amss-net", "embedded", seed=5, glove_path=str(path), **TINY)
    assert with_glove.glove_rows == 4 and plain.glove_rows is None
    emb0 = plain.description_encoder.embedding.weight.detach()
    emb1 = with_glove.description_encoder.embedding.weight.detach()
    set_rows = {aml.VOCAB.index(w): k for k, w in enumerate(words) if w in aml.VOCAB}
    assert sorted(aml.VOCAB[i] for i in set_rows) == [",", "apply", "the", "vocals"]
    for i in range(len(aml.VOCAB)):
        if i in set_rows:  # the file's vector, written by hand above
            k = set_rows[i]
            want = torch.tensor([(k + 1) / 8 * (j + 1) * (-1) ** j for j in range(DIM)])
            assert torch.allclose(emb1[i], want, atol=1e-6), aml.VOCAB[i]
            assert not torch.equal(emb1[i], emb0[i])
        else:  # '<pad>', '<bgn>', '<end>' and every word the file lacks keep their initialisation, bit for bit
            assert torch.equal(emb1[i], emb0[i]), aml.VOCAB[i]
    # and nothing else moves (the GloVe copy draws no random numbers)
    s0, s1 = plain.state_dict(), with_glove.state_dict()
    key = "description_encoder.embedding.weight"
    assert all(torch.equal(s0[k], s1[k]) for k in s0 if k != key)


def test_params_glove_setting(tmp_path):
    shipped = bparams.load("params.yaml")
    assert bparams.glove_setting(shipped, "paper") == "data/glove/glove.6B.100d.txt"
    assert bparams.glove_setting(shipped, "embedded") == "none"
    assert bparams.glove_setting(None, "paper") == bparams.GLOVE_DEFAULTS["paper"]
    assert bparams.glove_setting({"glove": {"paper": None}}, "paper") == "none"
    assert bparams.glove_setting({"glove": {"paper": "None"}}, "paper") == "none"
    with pytest.raises(bparams.ParamsError, match=r"p\.yaml: field 'glove.paper' is 3, expected a GloVe file path"):
        bparams.glove_setting({"_path": "p.yaml", "glove": {"paper": 3}}, "paper")
    with pytest.raises(bparams.ParamsError, match="unknown key.*'papr'"):
        bparams.glove_setting({"glove": {"papr": "x"}}, "paper")
    with pytest.raises(bparams.ParamsError, match="'glove' must be a mapping"):
        bparams.glove_setting({"glove": "x.txt"}, "paper")


def _params(tmp_path, glove_section):
    p = tmp_path / "params.yaml"
    p.write_text(yaml.safe_dump({"profile": "paper", "seed": 1, "data": {"root": "x", "source": "synthetic"},
                                 **({"glove": glove_section} if glove_section is not None else {})}))
    return bparams.load(p)


@pytest.mark.parametrize("section", [None, {"paper": "somewhere/glove.6B.100d.txt"}])
def test_paper_profile_refuses_amss_training_without_the_glove_file(ds, tmp_path, section):
    params = _params(tmp_path, section)
    where = "somewhere/glove.6B.100d.txt" if section else "data/glove/glove.6B.100d.txt"
    with pytest.raises(TrainingError) as err:
        Trainer("amss-net", tmp_path / "run", dataset=ds, profile="paper", params=params, model_overrides=PAPER_TINY,
                device="cpu")
    msg = str(err.value)
    assert f"{params['_path']}: glove.paper is '{where}', but there is no such file" in msg
    assert f"put glove.6B.100d.txt (from glove.6B.zip of the Stanford GloVe project) at {where}" in msg
    assert "'glove: {paper: none}'" in msg and "nothing is downloaded" in msg
    # the other families do not need GloVe
    Trainer("u7-dcse", tmp_path / "run2", dataset=ds, profile="paper", params=params,
            model_overrides=TINY, recipe=dict(valid_tracks=1, valid_seconds=1.0), device="cpu").close()


def test_paper_profile_opt_out_and_an_existing_file(ds, tmp_path):
    t = Trainer("amss-net", tmp_path / "a", dataset=ds, profile="paper", params=_params(tmp_path, {"paper": "none"}),
                model_overrides=PAPER_TINY, device="cpu")
    assert t.glove_path is None and t.model.config["glove_path"] is None
    t.close()
    path = _glove_file(tmp_path / "g.txt", ["vocals", ","], dim=100)
    t = Trainer("amss-net", tmp_path / "b", dataset=ds, profile="paper",
                params=_params(tmp_path, {"paper": str(path)}), model_overrides=PAPER_TINY, device="cpu")
    assert t.glove_path == str(path) and t.model.glove_rows == 2
    t.close()


def test_opt_out_is_labelled_in_checkpoint_results_and_report(ds, tmp_path):
    out = tmp_path / "run"
    train("amss-net", out, dataset=ds, profile="embedded", seed=2, recipe=RECIPE, model_overrides=TINY,
          device="cpu", progress=False)
    config = json.loads((out / "config.json").read_text())
    assert config["metadata"]["training"]["word_embeddings"] == {"init": "random", "glove": "none"}
    assert "word_embeddings" not in json.loads((out / "summary.json").read_text())  # the run's numbers only
    from baselines.model import ModelSystem

    system = ModelSystem("amss-net@embedded", checkpoint=out / "model.pt")
    meta = system.metadata()
    assert meta["training"]["word_embeddings"] == {"init": "random", "glove": "none"}
    docs = [{"system": {"name": "amss-net", "label": "AMSS-Net", "metadata": meta}},
            {"system": {"name": "u7-dcse", "label": "U7", "metadata": {"training": {"best_l1": 1.0}}}}]
    assert systems_without_glove(docs) == ["AMSS-Net"]
    # a run with GloVe is labelled with the file and the number of rows it set
    path = _glove_file(tmp_path / "glove.6B.100d.txt", [",", "vocals", "drums"])
    out2 = tmp_path / "run2"
    train("amss-net", out2, dataset=ds, profile="embedded", seed=2, recipe=RECIPE, device="cpu", progress=False,
          model_overrides=TINY, params={"glove": {"embedded": str(path)}})
    we = json.loads((out2 / "config.json").read_text())["metadata"]["training"]["word_embeddings"]
    assert we == {"init": "glove", "glove": "glove.6B.100d.txt", "rows": 3}
    meta2 = ModelSystem("amss-net@embedded", checkpoint=out2 / "model.pt").metadata()
    assert systems_without_glove([{"system": {"name": "a", "label": "A", "metadata": meta2}}]) == []


def test_label_helper():
    assert tglove.label(None) == {"init": "random", "glove": "none"}
    assert tglove.label("/x/y/glove.6B.100d.txt", 30) == {"init": "glove", "glove": "glove.6B.100d.txt", "rows": 30}


def test_train_command_refuses_and_names_the_params_file(tiny_root, tmp_path, capsys):
    import argparse

    from benchmark.cli import train as cmd

    p = tmp_path / "my-params.yaml"
    p.write_text(yaml.safe_dump({"profile": "paper", "seed": 1, "data": {"root": str(tiny_root),
                                                                         "source": "synthetic"}}))
    parser = argparse.ArgumentParser(prog="amss-bench")
    cmd.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["train", "--model", "amss-net", "--params", str(p), "--out", str(tmp_path / "run")])
    assert args.func(args) == 2
    err = capsys.readouterr().err
    assert f"{p}: glove.paper is 'data/glove/glove.6B.100d.txt', but there is no such file" in err
    assert f"'glove: {{paper: none}}' in {p}" in err
    assert not (tmp_path / "run").exists()  # refused before anything was written
