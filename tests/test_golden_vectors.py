"""Every registered model (embedded and paper configuration) still produces its golden output, and every training
code path its golden trajectory (tests/golden/models.json, benchmark/gate/golden.py).

A failure lists what changed. If the change is intended, rewrite the file with ``amss-bench gate --update-golden``
and commit it: the pull request then shows the change in its diff. These tests run unpinned in the test process, so
the training trajectories are compared at the loose tolerance (the gate, pinned, compares them strictly on a machine
that reproduces the reference numerics).
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from benchmark.gate import golden
from models import registry

GOLDEN = Path(__file__).parent / "golden" / "models.json"


@pytest.fixture(scope="module")
def recorded():
    return golden.load(GOLDEN)


def test_golden_file_covers_every_registered_model_in_both_profiles(recorded):
    expected = {f"{n}@{p}" for n in golden.model_names() for p in golden.PROFILES}
    assert set(recorded["models"]) == expected, (
        f"golden vectors out of date with the registry: missing {sorted(expected - set(recorded['models']))}, "
        f"extra {sorted(set(recorded['models']) - expected)}")
    assert set(recorded["training"]) == {f"{n}/{s or 'all'}@train" for n, s in golden.TRAIN_RUNS}


def test_every_survey_separator_is_fingerprinted_on_a_valid_input(recorded):
    """The survey's learned separators (registry collection "survey") are covered in both profiles, each on the input
    the module docstring defines: Wave-U-Net on a multiple of 2^levels, Demucs v2 on a valid length (no padding) with
    more than one BiLSTM step, DeepConvSep on exactly its window, the others on their embedded training segment."""
    import torch

    from models import recipes

    survey = registry.model_names(collection="survey")
    assert len(survey) == 8 and set(survey) <= set(golden.model_names())
    for name in survey:
        for profile in golden.PROFILES:
            rec = recorded["models"].get(f"{name}@{profile}")
            assert rec is not None, f"{name}@{profile}: no golden vector"
            torch.manual_seed(golden.GOLDEN_SEED)
            model = registry.create(name, profile=profile, seed=golden.GOLDEN_SEED)
            n = rec["input_samples"]
            assert n == golden.input_samples(model, profile) and rec["shape"][-1] == n
            assert rec["params"] == model.num_parameters() and rec["layout_sha256"] == golden.layout_digest(model)
            assert len(rec["rms"]) == max(len(rec["queries"]), 1)
            cfg = model.config
            if cfg["arch"] == "deepconvsep":
                assert n == model.chunk_samples
            elif profile == "embedded":
                assert n == (recipes.recipe_for(name, "embedded")["segment"] or model.chunk_samples)
            elif cfg["arch"] == "waveunet":
                assert n % 2 ** cfg["levels"] == 0 and n // 2 ** cfg["levels"] >= 2
            elif cfg["arch"] == "demucs":
                assert model.valid_length(n) == n and model.valid_length(n - 1) == n
                steps = 2 * n if cfg["resample"] else n
                for _ in range(cfg["depth"]):
                    steps = (steps - cfg["kernel_size"]) // cfg["stride"] + 1
                assert steps == 2                                   # the BiLSTM's recurrence acts
    assert "demucs-v2/all@train" in recorded["training"]          # the waveform-loss training path


def test_a_planted_bug_in_a_survey_separator_is_caught(recorded, monkeypatch):
    """Wave-U-Net's decoder up-sampling changed from linear to nearest-neighbour (no parameter changes): the outputs
    move far beyond the tolerance, against the recorded vector."""
    import torch.nn.functional as F

    from models.survey import waveunet

    class Nearest:   # torch.nn.functional, with the planted interpolation
        def __getattr__(self, name):
            return getattr(F, name)

        @staticmethod
        def interpolate(x, scale_factor, mode, align_corners):
            return F.interpolate(x, scale_factor=scale_factor, mode="nearest")

    key = "waveunet@embedded"
    assert golden.compare_one(key, recorded["models"][key], golden.fingerprint("waveunet", "embedded")) is None
    monkeypatch.setattr(waveunet, "F", Nearest())
    changed = golden.compare_one(key, recorded["models"][key], golden.fingerprint("waveunet", "embedded"))
    assert changed is not None
    assert any(r.startswith("eval-mode output moved") for r in changed.reasons), changed.reasons
    assert not any("parameter" in r for r in changed.reasons)


#: the registry's models in this many interleaved groups, one test each, so that pytest-xdist spreads the ≈ 50 s of
#: forward passes over its workers; together they are every model (the test above checks the file covers them all)
CHUNKS = 4


@pytest.mark.parametrize("chunk", range(CHUNKS))
def test_every_model_output_matches_its_golden_vector(recorded, chunk):
    names = sorted(golden.model_names())[chunk::CHUNKS]
    now = golden.compute(names)
    old = {k: v for k, v in recorded["models"].items() if k in now}
    assert len(now) == len(names) * len(golden.PROFILES)
    changes = golden.compare(old, now)
    assert not changes, "model outputs changed (amss-bench gate --update-golden if intended):\n" + "\n".join(
        f"  {c.key}: {c.status}: {'; '.join(c.reasons)}" for c in changes)


def test_the_chunks_cover_every_model():
    chunks = [sorted(golden.model_names())[k::CHUNKS] for k in range(CHUNKS)]
    assert sorted(n for c in chunks for n in c) == sorted(golden.model_names()) and all(chunks)


@pytest.mark.parametrize("run", golden.TRAIN_RUNS, ids=lambda r: f"{r[0]}/{r[1] or 'all'}")
def test_every_training_path_matches_its_golden_trajectory(recorded, tmp_path, run):
    name, stem = run
    key = f"{name}/{stem or 'all'}@train"
    now = {key: golden.train_fingerprint(name, stem, tmp_path)}
    changes = golden.compare_training({key: recorded["training"][key]}, now, strict=False)
    assert not changes, "training trajectories changed (amss-bench gate --update-golden if intended):\n" + "\n".join(
        f"  {c.key}: {'; '.join(c.reasons)}" for c in changes)


def test_a_planted_training_bug_is_caught(recorded, tmp_path, monkeypatch):
    """A learning rate off by 2x in the recipe (a one-line bug in the training code) moves the trajectory beyond even
    the loose tolerance."""
    from models import recipes

    real = recipes.recipe_for

    def planted(*a, **kw):
        r = real(*a, **kw)
        r["lr"] = r["lr"] * 2
        return r

    monkeypatch.setattr(recipes, "recipe_for", planted)
    key = "u7-dme/vocals@train"
    now = {key: golden.train_fingerprint("u7-dme", "vocals", tmp_path)}
    changes = golden.compare_training({key: recorded["training"][key]}, now, strict=False)
    assert [c.key for c in changes] == [key]
    assert any("loss" in r or "weights" in r for r in changes[0].reasons)


def test_training_tolerances_split_data_from_trajectory(recorded):
    rec = recorded["training"]["u7-dme/vocals@train"]
    drift = copy.deepcopy(rec)
    drift["losses"][-1] *= 1.01           # Adam-amplified rounding: passes loosely, fails strictly
    assert not golden.compare_training({"k": rec}, {"k": drift}, strict=False)
    assert golden.compare_training({"k": rec}, {"k": drift}, strict=True)
    data = copy.deepcopy(rec)
    data["losses"][0] *= 1.001            # the first loss depends on data, init and loss only: never loose
    assert golden.compare_training({"k": rec}, {"k": data}, strict=False)


def test_an_update_rewrites_only_the_entries_that_moved(recorded):
    # the first model keeps its recorded entry unless it is among the changed keys; a new key is added, a key no
    # longer computed is dropped
    old = copy.deepcopy(recorded["models"])
    first, second = sorted(old)[:2]
    new = {k: {**v, "param_sums": [x + 1e-12 for x in v["param_sums"]]} for k, v in old.items() if k != second}
    new["new-model@embedded"] = {"params": 1}
    kept = golden.keep_unchanged(old, new, {"new-model@embedded"})
    assert kept[first] == old[first] and kept[first] is not new[first]
    assert kept["new-model@embedded"] == {"params": 1} and second not in kept
    assert golden.keep_unchanged(old, new, {first})[first] is new[first]
