"""Trainer: determinism on CPU, exact resume after an interruption, outputs, mixed precision, recipes."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from models import checkpoint, registry
from models.training import Trainer, TrainingError, train
from models import recipes

#: tiny widths of the embedded architectures (fast on 2 CPU cores)
TINY = dict(n_fft=256, hop_length=128, num_frame=32, channels=4, tfc_layers=2)
RECIPE = dict(segment=3968, batch_size=4, max_steps=6, log_every_steps=1, valid_seconds=1.0, valid_tracks=1,
              valid_every_steps=3, checkpoint_every_steps=2, keep_top_k=2, num_workers=0)


def _dvc_visible(run: Path) -> list[str]:
    """The files of ``run`` that DVC hashes when a stage depends on the folder: the project's .dvcignore applied
    (gitignore rules, as DVC applies them), paths relative to ``run``."""
    import pathspec

    lines = (Path(__file__).resolve().parents[2] / ".dvcignore").read_text().splitlines()
    spec = pathspec.PathSpec.from_lines("gitignore", lines)
    files = sorted(str(p.relative_to(run)) for p in run.rglob("*") if p.is_file())
    return [f for f in files if not spec.match_file(f"runs/train/embedded/m/seed1/{f}")]


def _train(ds, out, name="u7-dcse", seed=3, recipe=None, model=None, **kw):
    return train(name, out, dataset=ds, profile="embedded", seed=seed, recipe={**RECIPE, **(recipe or {})},
                 model_overrides={**TINY, **(model or {})}, device="cpu", progress=False, **kw)


#: the files of a run whose hashes dvc.lock records (outs, metrics, plots)
REPRODUCIBLE = ("model.pt", "config.json", "summary.json", "metrics/train.csv", "metrics/valid.csv")


def _last(out):
    return torch.load(out / "checkpoints" / "last.pt", map_location="cpu", weights_only=False)


def _assert_same_state(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


@pytest.fixture(scope="module")
def reference_run(ds, tmp_path_factory):
    out = tmp_path_factory.mktemp("ref")
    result = _train(ds, out, recipe=dict(schedule="plateau", plateau_patience_epochs=1))
    return out, result


def test_outputs_and_metrics(reference_run):
    out, result = reference_run
    assert result.steps == 6 and result.best_l1 is not None and result.identity_l1 > 0
    model = checkpoint.load(out / "model.pt")
    assert model.info.registry_name == "u7-dcse" and model.config["channels"] == 4
    meta = model.checkpoint_metadata["training"]
    assert meta["seed"] == 3 and meta["recipe"]["family"] == "u7"
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["config"]["n_fft"] == 256
    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps"] == 6
    assert summary["beats_identity"] is (result.best_l1 < result.identity_l1) is result.beats_identity
    assert summary["beats_silence"] is (result.best_l1 < result.silence_l1) is result.beats_silence
    rows = list(csv.DictReader(open(out / "metrics" / "train.csv")))
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4, 5, 6]
    assert all(float(r["loss"]) > 0 for r in rows)
    # wall-clock numbers live in timing.json only (not in any file whose hash DVC records)
    timing = json.loads((out / "timing.json").read_text())
    assert timing["finished"] and timing["steps"] == 6 and timing["seconds"] > 0 and timing["samples_per_s"] > 0
    assert [r["step"] for r in timing["log"]] == [1, 2, 3, 4, 5, 6]
    assert all(r["samples_per_s"] > 0 and r["elapsed_s"] > 0 for r in timing["log"])
    assert result.seconds == timing["seconds"] and result.samples_per_s == timing["samples_per_s"]
    valid = list(csv.DictReader(open(out / "metrics" / "valid.csv")))
    assert [int(r["step"]) for r in valid] == [3, 6]
    assert len(list((out / "checkpoints" / "top").glob("step-*.pt"))) == 2
    # the selected weights are the best validation checkpoint
    best_step = min(valid, key=lambda r: float(r["l1"]))["step"]
    assert summary["selected"] == f"best (step {int(best_step)})"


def test_retraining_rewrites_the_dvc_tracked_files_byte_for_byte(ds, tmp_path):
    """Two runs with identical weights: model.pt, config.json, summary.json and the metric CSVs are
    byte-identical; the wall time and throughput are in timing.json only; no file names its output folder."""
    rec = dict(max_steps=4, valid_every_steps=2, checkpoint_every_steps=None)
    runs = [tmp_path / "first", tmp_path / "second" / "elsewhere"]
    results = [_train(ds, out, recipe=rec) for out in runs]
    _assert_same_state(checkpoint.load(runs[0] / "model.pt").state_dict(),
                       checkpoint.load(runs[1] / "model.pt").state_dict())
    for name in REPRODUCIBLE:
        a, b = (runs[0] / name).read_bytes(), (runs[1] / name).read_bytes()
        assert a == b, f"{name} differs between two runs with identical weights"
        assert str(tmp_path).encode() not in a, f"{name} names the output folder"
    # every file of the run folder that DVC hashes (the silence and listen stages depend on whole run folders) is
    # byte-identical: what differs between the two runs must be in .dvcignore (timing.json, checkpoints/last.pt)
    tracked = [_dvc_visible(run) for run in runs]
    assert tracked[0] == tracked[1] and "model.pt" in tracked[0] and "checkpoints/last.pt" not in tracked[0]
    differ = [rel for rel in tracked[0] if (runs[0] / rel).read_bytes() != (runs[1] / rel).read_bytes()]
    assert differ == [], f"files DVC hashes differ between two runs with identical weights: {differ}"
    ignored = sorted(str(p.relative_to(runs[0])) for p in runs[0].rglob("*") if p.is_file()
                     and str(p.relative_to(runs[0])) not in tracked[0])
    assert ignored == ["checkpoints/last.pt", "timing.json"]
    summary = json.loads((runs[0] / "summary.json").read_text())
    meta = checkpoint.read_metadata(runs[0] / "model.pt")["metadata"]["training"]
    config_meta = json.loads((runs[0] / "config.json").read_text())["metadata"]["training"]
    for doc in (summary, meta, config_meta):
        assert not {"seconds", "samples_per_s", "out", "elapsed_s"} & set(doc)
        assert doc["steps"] == 4 and doc["best_l1"] is not None
    with open(runs[0] / "metrics" / "train.csv") as fh:
        assert fh.readline().strip() == "step,epoch,loss,lr"
    for out, result in zip(runs, results):
        timing = json.loads((out / "timing.json").read_text())
        assert timing["finished"] and timing["steps"] == 4 and timing["seconds"] > 0
        assert timing["seconds"] == result.seconds and timing["samples_per_s"] == result.samples_per_s > 0
        assert [r["step"] for r in timing["log"]] == [1, 2, 3, 4]
        assert all(r["elapsed_s"] > 0 and r["samples_per_s"] > 0 for r in timing["log"])
    assert results[0].out != results[1].out  # the API result still says where the run is


def test_resume_drops_the_timing_columns_of_an_older_train_csv(tmp_path):
    """Runs started before timing.json had samples_per_s/elapsed_s columns in train.csv; resuming drops them."""
    from models.training.trainer import TRAIN_FIELDS, _CSV

    path = tmp_path / "train.csv"
    path.write_text("step,epoch,loss,lr,samples_per_s,elapsed_s\n1,0.5,0.1,0.001,12.5,0.8\n2,1,0.09,0.001,13,1.6\n"
                    "3,1.5,0.08,0.001,12,2.4\n")
    _CSV(path, TRAIN_FIELDS, True).truncate(2)
    assert path.read_text().splitlines() == ["step,epoch,loss,lr", "1,0.5,0.1,0.001", "2,1,0.09,0.001"]


def test_same_seed_same_weights_and_other_seed_differs(ds, reference_run, tmp_path):
    out, _ = reference_run
    _train(ds, tmp_path / "again", recipe=dict(schedule="plateau", plateau_patience_epochs=1))
    _assert_same_state(_last(out)["model"], _last(tmp_path / "again")["model"])
    _train(ds, tmp_path / "other", seed=4, recipe=dict(max_steps=1, valid_at_end=False))
    a, b = _last(out)["model"], _last(tmp_path / "other")["model"]
    assert any(not torch.equal(a[k], b[k]) for k in a)


def test_resume_after_interruption_is_bit_exact(ds, reference_run, tmp_path):
    out, result = reference_run
    run = tmp_path / "interrupted"
    with pytest.raises(KeyboardInterrupt):
        # checkpoints at steps 2, 3 (validation), 4; killed after step 5 -> step 5 is lost and redone
        _train(ds, run, recipe=dict(schedule="plateau", plateau_patience_epochs=1), stop_after=5)
    assert _last(run)["state"]["step"] == 4
    resumed = _train(ds, run, recipe=dict(schedule="plateau", plateau_patience_epochs=1), resume=True)
    ref, new = _last(out), _last(run)
    _assert_same_state(ref["model"], new["model"])
    assert ref["state"]["step"] == new["state"]["step"] == 6
    ref_opt, new_opt = ref["optimizer"]["state"], new["optimizer"]["state"]
    for k in ref_opt:
        for name in ("exp_avg", "exp_avg_sq", "step"):
            assert torch.equal(ref_opt[k][name], new_opt[k][name])
    assert ref["scheduler"] == new["scheduler"]
    assert resumed.best_l1 == result.best_l1
    # metrics: rows after the checkpoint were dropped and rewritten once
    steps = [int(r["step"]) for r in csv.DictReader(open(run / "metrics" / "train.csv"))]
    assert steps == [1, 2, 3, 4, 5, 6]
    a = [r["l1"] for r in csv.DictReader(open(out / "metrics" / "valid.csv"))]
    b = [r["l1"] for r in csv.DictReader(open(run / "metrics" / "valid.csv"))]
    assert a == b
    _assert_same_state(checkpoint.load(out / "model.pt").state_dict(), checkpoint.load(run / "model.pt").state_dict())
    # the interrupted + resumed run writes the DVC-tracked files of the uninterrupted one byte for byte
    for name in REPRODUCIBLE:
        assert (out / name).read_bytes() == (run / name).read_bytes(), name
    timing = json.loads((run / "timing.json").read_text())
    assert [r["step"] for r in timing["log"]] == [1, 2, 3, 4, 5, 6] and timing["finished"]


@pytest.mark.parametrize("schedule", ["cosine", "step"])
def test_resume_with_a_per_step_schedule_is_bit_exact(ds, tmp_path, schedule):
    rec = dict(schedule=schedule, max_steps=4, valid_every_steps=None, checkpoint_every_steps=1, valid_at_end=False,
               step_at=0.5, step_factor=0.1)
    _train(ds, tmp_path / "ref", recipe=rec)
    with pytest.raises(KeyboardInterrupt):
        _train(ds, tmp_path / "run", recipe=rec, stop_after=2)
    _train(ds, tmp_path / "run", recipe=rec, resume=True)
    ref, new = _last(tmp_path / "ref"), _last(tmp_path / "run")
    _assert_same_state(ref["model"], new["model"])
    assert ref["step_scheduler"] == new["step_scheduler"] and ref["step_scheduler"]["last_epoch"] == 4
    if schedule == "step":  # lr × 0.1 from step 2 of 4 on
        lrs = [float(row["lr"]) for row in csv.DictReader(open(tmp_path / "run" / "metrics" / "train.csv"))]
        base = recipes.recipe_for("u7-dcse", "embedded")["lr"]
        assert sorted(set(lrs)) == pytest.approx([base * 0.1, base])


def test_resume_refuses_a_different_configuration(ds, tmp_path):
    _train(ds, tmp_path, recipe=dict(max_steps=2, valid_at_end=False))
    with pytest.raises(TrainingError, match="recipe.lr"):
        _train(ds, tmp_path, recipe=dict(max_steps=3, lr=0.5), resume=True)
    # a longer budget is a valid continuation
    r = _train(ds, tmp_path, recipe=dict(max_steps=3, valid_at_end=False), resume=True)
    assert r.steps == 3


def test_resume_accepts_a_state_written_before_the_validation_keys(ds, tmp_path):
    """A training state of an earlier version has no valid_scheme/valid_weighting in its identity: it resumes when
    the run keeps the behaviour it had (suite/entry) and is refused, naming the key, when it does not."""
    from models.training.trainer import STATE_FORMAT, _fingerprint

    _train(ds, tmp_path, recipe=dict(max_steps=2, valid_at_end=False))
    last = tmp_path / "checkpoints" / "last.pt"
    payload = torch.load(last, map_location="cpu", weights_only=False)
    assert payload["format"] == STATE_FORMAT
    for key in ("valid_scheme", "valid_weighting"):
        del payload["identity"]["recipe"][key]
    payload["fingerprint"] = _fingerprint(payload["identity"])
    torch.save(payload, last)
    with pytest.raises(TrainingError, match="recipe.valid_weighting"):
        _train(ds, tmp_path, recipe=dict(max_steps=3, valid_weighting="window"), resume=True)
    r = _train(ds, tmp_path, recipe=dict(max_steps=3, valid_at_end=False), resume=True)
    assert r.steps == 3


@pytest.mark.parametrize("name,model", [("cunet-gpocm", {}), ("amss-net", {"amss_min_trim": 512})])
def test_conditioned_and_amss_bf16_autocast_on_cpu(ds, tmp_path, name, model):
    r = _train(ds, tmp_path, name=name, model=model,
               recipe=dict(precision="bf16", max_steps=2, valid_every_steps=None, valid_queries=2))
    assert r.extra["precision"] == "bf16" and r.steps == 2
    rows = list(csv.DictReader(open(tmp_path / "metrics" / "train.csv")))
    assert all(torch.isfinite(torch.tensor(float(x["loss"]))) for x in rows)
    loaded = checkpoint.load(tmp_path / "model.pt")
    assert all(torch.isfinite(p).all() for p in loaded.parameters())


def test_early_stopping(ds, tmp_path):
    r = _train(ds, tmp_path, recipe=dict(max_steps=20, valid_every_steps=1, early_stop_patience=1, min_delta=1e9,
                                         checkpoint_every_steps=None))
    assert r.stopped_early and r.steps == 2


def test_stem_override_and_wrong_family(ds, tmp_path):
    t = Trainer("u7-dcse", tmp_path, dataset=ds, stem="bass", recipe=dict(RECIPE), model_overrides=TINY,
                device="cpu")
    assert t.model.config["source"] == "bass" and t.validset.entries[0].target == 2
    with pytest.raises(TrainingError, match="dedicated"):
        Trainer("amss-net", tmp_path, dataset=ds, stem="bass", recipe=dict(RECIPE), device="cpu")


def test_every_registered_model_has_a_recipe():
    families = {}
    for info in registry.list_models():
        for profile in recipes.PROFILES:
            r = recipes.recipe_for(info.name, profile)
            assert r["batch_size"] >= 1 and r["lr"] > 0
        families[info.name] = recipes.family_of(info.name)
    assert families["u7-dcse"] == "u7" and families["u17-tfc-tdf"] == "u17" and families["u9l-dme"] == "u9l"
    assert families["cunet-film-lasaft"] == "cunet" and families["lasaft-gpocm-net12"] == "lasaft12"
    assert families["amss-net-separate"] == "amss"
    paper = recipes.recipe_for("amss-net", "paper")
    assert (paper["lr"], paper["batch_size"], paper["valid_every_epochs"], paper["early_stop_patience"]) == \
        (1e-4, 16, 10, 40)
    assert recipes.recipe_for("lasaft-gpocm-net12", "paper")["schedule"] == "plateau"
    # embedded Net_12: 16 channels (registry) and 1 800 steps with the lr x 0.1 from 75 %, the uniform target draw
    net12 = recipes.recipe_for("lasaft-gpocm-net12", "embedded")
    assert (net12["max_steps"], net12["schedule"], net12["step_at"], net12["target_weights"]) == (1800, "step", 0.75, None)
    assert registry.create("lasaft-gpocm-net12", profile="embedded", init=False).config["channels"] == 16
    assert registry.create("lasaft-gpocm-net12", profile="paper", init=False).config["channels"] == 24


def test_recipe_overrides_from_params():
    params = {"train": {"embedded": {"all": {"max_steps": 7}, "amss": {"lr": 0.01}}}}
    assert recipes.recipe_for("amss-net", "embedded", params)["max_steps"] == 7
    assert recipes.recipe_for("amss-net", "embedded", params)["lr"] == 0.01
    assert recipes.recipe_for("u7-dcse", "embedded", params)["lr"] != 0.01
    assert recipes.recipe_for("u7-dcse", "embedded", params, max_steps=9)["max_steps"] == 9
    # model recipes of this module (MODEL_RECIPES) refine the family's: the separation-only AMSS-Net keeps a constant lr
    assert recipes.recipe_for("amss-net", "embedded")["schedule"] == "step"
    sep = recipes.recipe_for("amss-net-separate", "embedded")
    assert sep["schedule"] == "none" and sep["grad_clip"] is None and sep["max_steps"] == 400
    heavy = {"vocals": 0.1, "drums": 0.05, "bass": 0.15, "other": 0.25}
    assert sep["segment"] == 8064 and sep["sdr_share"] == heavy
    # the embedded AMSS models draw the four SDR queries' generators more often than Algorithm 1; their paper recipes
    # keep Algorithm 1
    for name in ("amss-net", "amss-net-wo-smpocm"):
        amss = recipes.recipe_for(name, "embedded")
        assert amss["sdr_share"] == heavy and amss["max_steps"] == 2400 and amss["step_at"] == 0.75, name
    assert recipes.recipe_for("amss-net", "paper")["sdr_share"] is None
    assert recipes.recipe_for("amss-net-separate", "paper")["sdr_share"] is None
    wo_csa = recipes.recipe_for("amss-net-wo-csa", "embedded")
    assert wo_csa["sdr_share"] == {"vocals": 0.0625, "drums": 0.05, "bass": 0.0625, "other": 0.15}
    assert wo_csa["max_steps"] == 2000
    assert recipes.recipe_for("amss-net-wo-csa", "paper")["sdr_share"] is None
    # the FiLM CUNets keep their family's step budget and schedule and override only the target draw (milder than the
    # GPoCM CUNets': other 2.5 of 6, not 4 of 7.5)
    gpocm = recipes.recipe_for("cunet-gpocm", "embedded")
    for name in ("cunet-film", "cunet-film-tdf", "cunet-film-lasaft"):
        film = recipes.recipe_for(name, "embedded")
        assert (film["max_steps"], film["schedule"], film["step_at"]) == (gpocm["max_steps"], gpocm["schedule"], 0.75)
        assert film["target_weights"] == {"vocals": 1.0, "drums": 1.0, "bass": 1.5, "other": 2.5}, name
        assert film["target_weights"] != gpocm["target_weights"]
    # a model section wins over its family's; an unknown section is an error naming it
    per_model = {"train": {"embedded": {"amss": {"max_steps": 7}, "amss-net-wo-smpocm": {"max_steps": 1200}}}}
    assert recipes.recipe_for("amss-net-wo-smpocm", "embedded", per_model)["max_steps"] == 1200
    assert recipes.recipe_for("amss-net", "embedded", per_model)["max_steps"] == 7
    with pytest.raises(recipes.RecipeError, match="'step_at' and 'step_factor' must be in"):
        recipes.recipe_for("amss-net", "embedded", step_at=0.0)
    with pytest.raises(recipes.RecipeError, match="'step_at' and 'step_factor' must be in"):
        recipes.recipe_for("amss-net", "embedded", step_factor=1.5)
    with pytest.raises(recipes.RecipeError, match="unknown section.*'amms'"):
        recipes.recipe_for("amss-net", "embedded", {"train": {"embedded": {"amms": {"max_steps": 7}}}})
    with pytest.raises(recipes.RecipeError, match="unknown training key 'lrate'"):
        recipes.recipe_for("u7-dcse", "embedded", {"train": {"embedded": {"u7": {"lrate": 1}}}})
    with pytest.raises(recipes.RecipeError, match="optimizer"):
        recipes.recipe_for("u7-dcse", "embedded", optimizer="lion")


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_training_states_are_loaded_weights_only(tmp_path):
    """last.pt and the best checkpoint are read with torch.load(weights_only=True): a file carrying a pickled
    callable is refused without running it, while a genuine training state (tensors + NumPy RNG state) loads."""
    import pickle

    from models.training.trainer import load_weights_only, rng_state

    marker = tmp_path / "ran"
    evil = tmp_path / "last.pt"
    torch.save({"format": "x", "state": _Payload(marker)}, evil)
    with pytest.raises(pickle.UnpicklingError):
        load_weights_only(evil)
    assert not marker.exists()
    good = tmp_path / "good.pt"
    state = {"rng": [rng_state(torch.device("cpu"))], "model": {"w": torch.ones(3)}, "topk": [(0.5, 10, "best.pt")]}
    torch.save(state, good)
    back = load_weights_only(good)
    assert np.array_equal(back["rng"][0]["numpy"][1], state["rng"][0]["numpy"][1])
    assert torch.equal(back["model"]["w"], state["model"]["w"]) and back["topk"] == [(0.5, 10, "best.pt")]


# (model, profile, key added later, its value that is not the old behaviour); the old behaviour is LEGACY_RECIPE's
@pytest.mark.parametrize("model, profile, key, other", [
    ("amss-net-wo-smpocm", "paper", "sdr_share", 0.25),  # an old state resumes as Algorithm 1 alone
    ("umx", "embedded", "input_stats", True),  # an old state resumes without the input statistics
    ("umx", "embedded", "source_augmentations", ["gain"]),  # an old state resumes without augmentation
])
def test_a_state_written_before_a_recipe_key_resumes_with_its_old_behaviour(model, profile, key, other):
    from models.training import trainer as tr

    recipe = recipes.recipe_for(model, profile)
    assert tr._jsonable(recipe[key]) == tr._jsonable(tr.LEGACY_RECIPE[key])  # as the fingerprint sees it
    new = {"model": model, "recipe": recipe}
    old = {"model": model, "recipe": {k: v for k, v in recipe.items() if k != key}}
    assert tr._fingerprint(old) != tr._fingerprint(new)
    assert tr._fingerprint(tr._with_legacy_keys(old)) == tr._fingerprint(new)  # resumes: the same behaviour
    changed = {**new, "recipe": {**recipe, key: other}}
    assert tr._fingerprint(tr._with_legacy_keys(old)) != tr._fingerprint(changed)  # refused: another behaviour


def test_input_stats_standardise_the_umx_input_before_the_first_step(ds, tmp_path):
    recipe = dict(RECIPE, max_steps=1, input_stats=True)
    t = Trainer("umx", tmp_path / "umx", dataset=ds, stem="other", recipe=recipe, device="cpu", progress=False)
    fresh = registry.create("umx", "embedded", seed=t.seed)
    assert torch.equal(fresh.input_mean, torch.zeros_like(fresh.input_mean))
    assert (t.model.input_mean < 0).all() and not torch.equal(t.model.input_scale, fresh.input_scale)
    expected = registry.create("umx", "embedded", seed=t.seed)
    store = t.trainset.store
    expected.fit_input_statistics(np.asarray(ds.stems(name), np.float32).sum(0, dtype=np.float32)
                                  for name in store.tracks)
    assert torch.equal(t.model.input_mean, expected.input_mean)
    assert torch.equal(t.model.input_scale, expected.input_scale)
    with pytest.raises(TrainingError, match="no input statistics"):
        Trainer("u7-dcse", tmp_path / "u7", dataset=ds, recipe=recipe, model_overrides=TINY, device="cpu")
