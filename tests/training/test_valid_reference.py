"""Validation as the references did it (docs/fidelity.md §3): the default evaluation descriptions, each window edited
and peak-normalised on its own, and the L1 weighted per window — checked against hand computations."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch

from benchmark.task import aml, dsp
from benchmark.base.constants import SOURCES
from benchmark.data.dataset import open_dataset
from benchmark.data.tiny import make_root
from models.training import Trainer
from models import recipes
from models.training import data as tdata

HOP, NF, MIN_TRIM = 128, 32, 512
W, TRIM = HOP * (NF - 1), 512  # 3968-sample windows, 512 zero samples trimmed on each side
T = W - 2 * TRIM  # 2944 useful samples per window

#: the reference's validation descriptions, copied by hand from AMSS-Net amss_task2_datasets.py (task2_config)
REF_TASK2 = {"separate vocals", "separate drums", "separate bass", "mute vocals, drums, bass",
             *(f"pan {s} completely to the {side} side" for s in ("vocals", "drums", "bass") for side in ("left", "right")),
             *(f"apply heavy {f} to {s}" for s in ("vocals", "drums", "bass") for f in ("lowpass", "highpass")),
             *(f"remove reverb from {s}" for s in ("vocals", "drums", "bass")),
             *(f"{v} the volume of {s}" for s in ("vocals", "drums", "bass") for v in ("increase", "decrease"))}
#: ... and from amss_task1_datasets.py (task1_config)
REF_TASK1 = {"separate vocals", "separate drums", "separate bass", "mute vocals, drums, bass"}


def hand_windows(track: np.ndarray) -> np.ndarray:
    """(K, W, C): TRIM zeros, T samples of the track (zero-padded at its end), TRIM zeros — the reference's
    MusdbUnmixedEvalSet windows, written out by hand."""
    k = -(-len(track) // T)
    out = np.zeros((k, W, track.shape[1]), dtype=track.dtype)
    for i in range(k):
        seg = track[i * T : (i + 1) * T]
        out[i, TRIM : TRIM + len(seg)] = seg
    return out


@pytest.mark.parametrize("task_set,expected", [("task2", REF_TASK2), ("task1", REF_TASK1)])
def test_reference_scheme_uses_the_default_evaluation_descriptions(ds, task_set, expected):
    assert len(expected) == {"task2": 25, "task1": 4}[task_set]
    v = tdata.ValidationSet(ds, "amss", hop=HOP, num_frame=NF, min_trim=MIN_TRIM, seconds=1.0, task_set=task_set,
                            n_queries=3, scheme="reference")
    for track in ds.tracks("valid"):  # every track gets every description, once (n_queries is not used)
        descs = [e.description for e in v.entries if e.track == track]
        assert len(descs) == len(expected) and set(descs) == expected
    suite = tdata.ValidationSet(ds, "amss", hop=HOP, num_frame=NF, min_trim=MIN_TRIM, seconds=1.0, task_set=task_set,
                                n_queries=3)
    assert len(suite) == 3 * len(ds.tracks("valid"))  # today's scheme: seeded draws from the training set


class LoudStems:
    """A one-track dataset whose mixture peaks above 1 in one window only (so peak normalisation acts there)."""

    source = "synthetic"
    root = "loud"

    def __init__(self, n: int = 3 * T + 100):
        rng = np.random.default_rng(0)
        self.data = (rng.standard_normal((4, n, 2)) * 0.1).astype(np.float32)
        self.data[0, T + 200 : T + 260] += 2.5  # vocals: a loud burst in window 1
        self.data[2, 10:20] -= 1.5  # bass: a negative burst in window 0 (the signed peak ignores it)

    def tracks(self, split):
        return ["loud"] if split == "valid" else []

    def stems(self, track):
        return self.data


def test_reference_scheme_edits_and_normalises_each_window_on_its_own():
    ds = LoudStems()
    v = tdata.ValidationSet(ds, "amss", hop=HOP, num_frame=NF, min_trim=MIN_TRIM, scheme="reference", cache=False)
    i = [e.description for e in v.entries].index("separate vocals")
    xw, yw, cond = v.windows(i)
    assert xw.shape == yw.shape == (4, W, 2)
    stems = [hand_windows(ds.data[j].astype(np.float64)) for j in range(4)]
    gains = []
    for k in range(4):  # Algorithm 1 for "separate vocals" on window k alone, signed peak floored at 1
        mix = sum(s[k] for s in stems)
        vocals = stems[SOURCES.index("vocals")][k]
        g = max(mix.max(), vocals.max(), 1.0)
        gains.append(g)
        np.testing.assert_allclose(xw[k], mix / g, atol=1e-6)
        np.testing.assert_allclose(yw[k], vocals / g, atol=1e-6)
    assert gains[1] > 2 and gains[0] == gains[2] == gains[3] == 1.0  # only the loud window is scaled
    # the whole-track pair (suite scheme) divides every window by the loud window's gain instead
    s = tdata.ValidationSet(ds, "amss", hop=HOP, num_frame=NF, min_trim=MIN_TRIM, scheme="suite", cache=False,
                            weighting="window")
    s.entries = [tdata.ValidEntry("loud", None, "separate vocals")]
    xs, _, _ = s.windows(0)
    np.testing.assert_allclose(xs[0], xw[0] / gains[1], atol=1e-6)


def _root_with_unequal_valid_tracks(tmp_path):
    root = make_root(tmp_path / "root", n_train=1, n_valid=2, n_test=1, seconds=1.0)
    short = root / "train" / "Noise 01 - Valid"
    for f in short.glob("*.wav"):  # the second valid track: 20 000 samples (7 windows instead of 15)
        data, sr = sf.read(f, dtype="int16", always_2d=True)
        sf.write(f, data[:20000], sr, subtype="PCM_16")
    return open_dataset(root, "synthetic")


TINY = dict(n_fft=256, hop_length=HOP, num_frame=NF, channels=4, tfc_layers=2, amss_min_trim=MIN_TRIM)


def test_window_weighting_against_a_hand_computation(tmp_path):
    ds = _root_with_unequal_valid_tracks(tmp_path)
    t = Trainer("amss-net-separate", tmp_path / "run", dataset=ds, profile="embedded", seed=4, model_overrides=TINY,
                recipe=dict(valid_scheme="reference", valid_weighting="window", valid_seconds=None, valid_tracks=None,
                            valid_cache=False, valid_batch=5, segment=W),
                device="cpu")
    assert t.task_set == "task1" and len(t.validset) == 2 * 4  # 4 descriptions: a short hand computation
    v = t.validate()
    # by hand: every window of every (track, description) entry, one at a time, L1 over the whole window
    model = t.model.eval()
    per_entry, all_windows, ident, silence = [], [], [], []
    for track, n in (("Noise 00 - Valid", 44100), ("Noise 01 - Valid", 20000)):
        stems = ds.stems(track)
        assert stems.shape[1] == n
        for desc in sorted(REF_TASK1):
            win = [hand_windows(stems[j]) for j in range(4)]
            l1s = []
            for k in range(len(win[0])):
                p = dsp.make_pair(np.stack([w[k] for w in win]), desc)
                with torch.no_grad():
                    x = torch.from_numpy(np.ascontiguousarray(p.input.T[None], dtype=np.float32))
                    out = model.separate(x, model.batch_conditions([aml.encode(desc)])).numpy()[0].T
                l1s.append(np.mean(np.abs(out.astype(np.float64) - p.target)))
                ident.append(np.mean(np.abs(p.input.astype(np.float64) - p.target)))
                silence.append(np.mean(np.abs(p.target.astype(np.float64))))
            assert len(l1s) == (15 if n == 44100 else 7)
            per_entry.append(np.mean(l1s))
            all_windows += l1s
    assert len(all_windows) == 4 * (15 + 7)
    window_mean = sum(all_windows) / len(all_windows)
    entry_mean = sum(per_entry) / len(per_entry)
    assert v["l1"] == pytest.approx(window_mean, rel=1e-5)
    assert abs(window_mean - entry_mean) > 1e-4 * window_mean  # the weighting matters on these tracks
    assert v["identity_l1"] == pytest.approx(np.mean(ident), rel=1e-6)
    assert v["silence_l1"] == pytest.approx(np.mean(silence), rel=1e-6)
    assert sorted(e["windows"] for e in v["entries"]) == [7] * 4 + [15] * 4
    # entry weighting of the same windows: the mean of the per-entry means
    t.validset.weighting = "entry"
    t._baselines = None
    assert t.validate()["l1"] == pytest.approx(entry_mean, rel=1e-5)
    t.close()


def test_recipe_defaults_and_values():
    for model in ("amss-net", "amss-net-separate"):
        assert recipes.recipe_for(model, "paper")["valid_scheme"] == "reference"
        assert recipes.recipe_for(model, "embedded")["valid_scheme"] == "suite"
    for model in ("u7-dcse", "u17-tfc-tdf", "u9l-tfc", "cunet-gpocm", "lasaft-gpocm-net12", "amss-net"):
        assert recipes.recipe_for(model, "paper")["valid_weighting"] == "window"
        assert recipes.recipe_for(model, "embedded")["valid_weighting"] == "entry"
    for model in ("cunet-film", "cunet-gpocm", "cunet-gpocm-lasaft", "lasaft-gpocm-net12"):
        assert recipes.recipe_for(model, "paper")["target_weights"] is None  # the references' uniform target draw
    w = recipes.recipe_for("cunet-gpocm", "embedded")["target_weights"]
    assert w is not None and max(w, key=w.get) == "other"
    with pytest.raises(recipes.RecipeError, match="'target_weights' must be null or map every source"):
        recipes.recipe_for("cunet-gpocm", "embedded", target_weights={"vocals": 1, "drums": 1, "bass": 1})
    with pytest.raises(recipes.RecipeError, match="'valid_scheme' is 'ref'; expected one of suite, reference"):
        recipes.recipe_for("amss-net", "embedded", valid_scheme="ref")
    with pytest.raises(recipes.RecipeError, match="'valid_weighting' is 'track'"):
        recipes.recipe_for("u7-dcse", "paper", valid_weighting="track")
    with pytest.raises(ValueError, match="validation scheme must be one of suite, reference"):
        tdata.ValidationSet(LoudStems(), "amss", hop=HOP, num_frame=NF, min_trim=MIN_TRIM, scheme="x")


def test_window_weighting_of_a_separation_set_counts_windows(ds):
    v = tdata.ValidationSet(ds, "dedicated", source="bass", hop=HOP, num_frame=NF, min_trim=MIN_TRIM, seconds=1.0,
                            weighting="window")
    b = v.baselines()
    assert b["count"] == 15 * len(ds.tracks("valid"))
    x, y, _ = v.pair(0)
    xw, yw = hand_windows(x), hand_windows(y)
    np.testing.assert_allclose(b["identity"], np.sum(np.mean(np.abs(xw - yw), axis=(1, 2), dtype=np.float64)),
                               rtol=1e-9)
