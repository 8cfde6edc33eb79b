"""Training data: keyed determinism, remix augmentation, AMSS triples, batch sharding, validation set."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from benchmark.task import aml, dsp
from benchmark.base.constants import SOURCES
from models.training import data as tdata

SEG = 3968


def _same(a: dict, b: dict) -> None:
    assert torch.equal(a["input"], b["input"]) and torch.equal(a["target"], b["target"])
    assert a["cond"] == b["cond"]


@pytest.mark.parametrize("kind", ["dedicated", "conditioned", "amss"])
def test_item_is_a_pure_function_of_seed_epoch_index(ds, kind):
    a = tdata.TrainSet(ds, kind, segment=SEG, seed=7, source="drums")
    b = tdata.TrainSet(ds, kind, segment=SEG, seed=7, source="drums", preload=False)  # segment-wise WAV reads
    for key in [(0, 0), (0, 5), (3, 1)]:
        _same(a[key], b[key])
        _same(a[key], a[key])
    assert not torch.equal(a[(0, 0)]["input"], a[(1, 0)]["input"])  # epoch changes the draw
    c = tdata.TrainSet(ds, kind, segment=SEG, seed=8, source="drums")
    assert not torch.equal(a[(0, 0)]["input"], c[(0, 0)]["input"])  # seed changes the draw


def test_remix_augmentation_draws_each_stem_independently(ds):
    ts = tdata.TrainSet(ds, "dedicated", segment=SEG, seed=1, source="bass")
    draws = [ts.draw(0, i) for i in range(40)]
    # sources come from different tracks/offsets within one item (2 training tracks, random offsets)
    assert any(len(set(d["tracks"])) > 1 for d in draws)
    assert all(len(set(d["starts"])) > 1 for d in draws)
    d = draws[0]
    item = ts[(0, 0)]
    stems = np.stack([ds.stems(ds.tracks("train")[t])[j, s : s + SEG] for j, (t, s) in
                      enumerate(zip(d["tracks"], d["starts"]))])
    np.testing.assert_array_equal(item["target"].numpy().T, stems[SOURCES.index("bass")])
    np.testing.assert_allclose(item["input"].numpy().T, stems.sum(0), rtol=0, atol=1e-7)
    assert item["input"].shape == (2, SEG) and item["cond"] is None


def test_conditioned_target_uniform_and_matches_stem(ds):
    ts = tdata.TrainSet(ds, "conditioned", segment=SEG, seed=3)
    targets = [ts.draw(0, i)["target"] for i in range(400)]
    counts = np.bincount(targets, minlength=4)
    assert counts.min() > 70  # ~100 each
    item = ts[(0, 2)]
    d = ts.draw(0, 2)
    assert item["cond"] == d["target"]
    t, s = d["tracks"][d["target"]], d["starts"][d["target"]]
    np.testing.assert_array_equal(item["target"].numpy().T, ds.stems(ds.tracks("train")[t])[d["target"], s : s + SEG])


def test_conditioned_target_weights_change_only_the_target_draw(ds):
    uniform = tdata.TrainSet(ds, "conditioned", segment=SEG, seed=3)
    w = {"vocals": 1, "drums": 1, "bass": 0, "other": 2}
    ts = tdata.TrainSet(ds, "conditioned", segment=SEG, seed=3, target_weights=w)
    draws = [ts.draw(0, i) for i in range(800)]
    counts = np.bincount([d["target"] for d in draws], minlength=4)
    assert counts[SOURCES.index("bass")] == 0  # weight 0: never drawn
    assert 320 < counts[SOURCES.index("other")] < 480  # p = 0.5
    assert 140 < counts[SOURCES.index("vocals")] < 260  # p = 0.25
    # the tracks and offsets (the remix) are the uniform draw's: only the target moves
    for i in range(20):
        a, b = uniform.draw(0, i), draws[i]
        assert a["tracks"] == b["tracks"] and a["starts"] == b["starts"]
    item = ts[(0, 5)]
    assert item["cond"] == draws[5]["target"]
    # equal weights are not the uniform integer draw (another use of the random stream), but a pure function too
    again = tdata.TrainSet(ds, "conditioned", segment=SEG, seed=3, target_weights=dict(w))
    assert [again.draw(0, i)["target"] for i in range(50)] == [d["target"] for d in draws[:50]]


@pytest.mark.parametrize("bad", [{"vocals": 1, "drums": 1, "bass": 1}, {"vocals": 1, "drums": 1, "bass": 1, "other": -1},
                                 {"vocals": 0, "drums": 0, "bass": 0, "other": 0}, [1, 1, 1, 1],
                                 {"vocals": True, "drums": 1, "bass": 1, "other": 1}])
def test_conditioned_target_weights_are_checked(ds, bad):
    with pytest.raises(ValueError, match="target_weights"):
        tdata.TrainSet(ds, "conditioned", segment=SEG, seed=3, target_weights=bad)


@pytest.mark.parametrize("kind", ["dedicated", "conditioned"])
def test_source_augmentations_scale_and_swap_each_stem_on_its_own(ds, kind):
    plain = tdata.TrainSet(ds, kind, segment=SEG, seed=4, source="other")
    aug = tdata.TrainSet(ds, kind, segment=SEG, seed=4, source="other", source_augmentations=["gain", "channelswap"])
    gains, swaps = [], []
    for i in range(12):
        d = aug.draw(0, i)
        assert d == plain.draw(0, i)  # the remix and the target are those of the recipe without augmentation
        stems = np.stack([ds.stems(ds.tracks("train")[t])[j, s : s + SEG] for j, (t, s) in
                          enumerate(zip(d["tracks"], d["starts"]))]).astype(np.float32)
        rng = tdata.item_rng(4, 0, i, tdata.STREAM_AUGMENT)
        for j in range(4):
            g, u = 0.25 + rng.random(), rng.random()
            gains.append(g)
            swaps.append(u < 0.5)
            stems[j] = stems[j] * np.float32(g)
            if u < 0.5:
                stems[j] = stems[j][:, ::-1]
        item = aug[(0, i)]
        target = SOURCES.index("other") if kind == "dedicated" else d["target"]
        np.testing.assert_array_equal(item["target"].numpy().T, stems[target])
        np.testing.assert_array_equal(item["input"].numpy().T, stems.sum(0, dtype=np.float32))
        _same(item, aug[(0, i)])  # a pure function of (seed, epoch, index)
        assert not torch.equal(item["target"], plain[(0, i)]["target"])
    assert all(0.25 <= g < 1.25 for g in gains) and max(gains) - min(gains) > 0.5
    assert 0 < sum(swaps) < len(swaps)


def test_source_augmentations_in_the_listed_order_and_checked(ds):
    gain = tdata.TrainSet(ds, "dedicated", segment=SEG, seed=4, source="bass", source_augmentations=["gain"])
    swap_first = tdata.TrainSet(ds, "dedicated", segment=SEG, seed=4, source="bass",
                                source_augmentations=["channelswap", "gain"])
    plain = tdata.TrainSet(ds, "dedicated", segment=SEG, seed=4, source="bass")
    ratio = gain[(0, 1)]["target"] / plain[(0, 1)]["target"]
    finite = ratio[torch.isfinite(ratio)]
    assert finite.numel() and torch.allclose(finite, finite[0], rtol=1e-6)  # one factor for the whole stem
    # the listed order decides which uniform number drives which augmentation
    assert not torch.equal(swap_first[(0, 1)]["target"], gain[(0, 1)]["target"])
    _same(tdata.TrainSet(ds, "dedicated", segment=SEG, seed=4, source="bass", source_augmentations=())[(0, 1)],
          plain[(0, 1)])
    with pytest.raises(ValueError, match="source_augmentations.*'flip'"):
        tdata.TrainSet(ds, "dedicated", segment=SEG, seed=4, source="bass", source_augmentations=["gain", "flip"])


@pytest.mark.parametrize("bad", [["gain", "gain"], ["polarity"], "gain", None, {"gain": 1}])
def test_source_augmentations_recipe_key_is_checked(bad):
    from models import recipes

    with pytest.raises(recipes.RecipeError, match="source_augmentations"):
        recipes.recipe_for("umx", "embedded", source_augmentations=bad)
    assert recipes.recipe_for("umx", "embedded", source_augmentations=["channelswap"])["source_augmentations"] == [
        "channelswap"]


@pytest.mark.parametrize("task_set,n", [("task2", 87), ("task1", 14)])
def test_amss_items_follow_algorithm_1(ds, task_set, n):
    ts = tdata.TrainSet(ds, "amss", segment=SEG, seed=5, task_set=task_set)
    gens = {g.id for g in aml.generators(task_set)}
    assert len(gens) == n
    seen = {ts.draw(0, i)["generator"] for i in range(300)}
    assert seen <= gens and len(seen) > 0.7 * n  # generator-uniform
    if task_set == "task1":
        assert {aml.get_generator(g).operation for g in seen} <= {"separate", "mute"}
    # the item equals dsp.make_pair on the four drawn segments, with the tokens of the description
    for i in range(4):
        d = ts.draw(0, i)
        item = ts[(0, i)]
        stems = np.stack([ts.store.segment(t, j, s, SEG) for j, (t, s) in enumerate(zip(d["tracks"], d["starts"]))])
        pair = dsp.make_pair(stems, d["description"])
        np.testing.assert_array_equal(item["input"].numpy().T, pair.input)
        np.testing.assert_array_equal(item["target"].numpy().T, pair.target)
        assert item["cond"] == aml.encode(d["description"])
        assert max(pair.input.max(), pair.target.max()) <= 1.0 + 1e-6  # joint peak normalisation


def test_dereverb_items_swap_input_and_target(ds, monkeypatch):
    ts = tdata.TrainSet(ds, "amss", segment=SEG, seed=5)
    orig = ts.draw
    monkeypatch.setattr(ts, "draw", lambda e, i: {**orig(e, i), "description": "remove reverb from vocals"})
    item = ts[(0, 0)]
    d = orig(0, 0)
    stems = np.stack([ts.store.segment(t, j, s, SEG) for j, (t, s) in enumerate(zip(d["tracks"], d["starts"]))])
    pair = dsp.make_pair(stems, "remove reverb from vocals")
    np.testing.assert_array_equal(item["input"].numpy().T, pair.input)
    np.testing.assert_array_equal(item["target"].numpy().T, pair.target)
    np.testing.assert_allclose(pair.target * pair.gain, stems.sum(0), atol=1e-6)  # target = the dry mix
    assert not np.allclose(pair.input * pair.gain, stems.sum(0), atol=1e-3)  # input = the reverberant mix


def test_collate_pads_tokens_and_stacks_conditions():
    items = [{"input": torch.zeros(2, 8), "target": torch.ones(2, 8), "cond": [4, 5, 6], "key": (0, 0)},
             {"input": torch.zeros(2, 8), "target": torch.ones(2, 8), "cond": [7], "key": (0, 1)}]
    b = tdata.collate(items)
    tokens, lengths = b["cond"]
    assert tokens.tolist() == [[4, 5, 6], [7, 0, 0]] and lengths.tolist() == [3, 1]
    b = tdata.collate([{**items[0], "cond": 2}, {**items[1], "cond": 0}])
    assert b["cond"].tolist() == [2, 0] and b["input"].shape == (2, 2, 8)


def test_batches_are_independent_of_ranks_and_resume_point():
    full = tdata.StepBatchSampler(steps_per_epoch=3, global_batch=4, start_step=0, end_step=7)
    r0 = tdata.StepBatchSampler(3, 4, 0, 7, rank=0, world_size=2)
    r1 = tdata.StepBatchSampler(3, 4, 0, 7, rank=1, world_size=2)
    for a, b, c in zip(full, r0, r1):
        assert a == b + c
    assert list(full)[3] == [(1, 0), (1, 1), (1, 2), (1, 3)]  # epoch 1 starts at step 3
    assert list(tdata.StepBatchSampler(3, 4, 5, 7)) == list(full)[5:]
    with pytest.raises(ValueError, match="divisible"):
        tdata.StepBatchSampler(3, 4, 0, 1, world_size=3)


def test_loader_results_do_not_depend_on_worker_count(ds):
    ts = tdata.TrainSet(ds, "amss", segment=SEG, seed=11)
    def batches(workers):
        s = tdata.StepBatchSampler(10, 2, 0, 3)
        return list(tdata.make_train_loader(ts, s, num_workers=workers, seed=11))
    a, b = batches(0), batches(2)
    for x, y in zip(a, b):
        assert torch.equal(x["input"], y["input"]) and torch.equal(x["target"], y["target"])
        assert torch.equal(x["cond"][0], y["cond"][0])


def test_nominal_epoch_lengths():
    lengths = [10 * 100 + 5, 7 * 100]
    assert tdata.nominal_epoch_items(lengths, 100, "dedicated") == 17
    assert tdata.nominal_epoch_items(lengths, 100, "conditioned") == 68
    assert tdata.nominal_epoch_items(lengths, 100, "amss") == 68
    assert tdata.nominal_epoch_items([250, 250], 100, "amss") == 20  # floor of the summed length, × 4


def test_validation_set_entries_and_baselines(ds):
    common = dict(hop=128, num_frame=32, min_trim=512, seconds=1.0)
    v = tdata.ValidationSet(ds, "conditioned", **common)
    assert len(v) == 4 * len(ds.tracks("valid"))
    x, y, cond = v.pair(1)
    assert cond == 1 and x.shape == y.shape == (44100, 2)
    b = v.baselines()
    assert b["identity"] > 0 and b["silence"] > 0
    a = tdata.ValidationSet(ds, "amss", n_queries=3, **common)
    a2 = tdata.ValidationSet(ds, "amss", n_queries=3, **common)
    assert [e.description for e in a.entries] == [e.description for e in a2.entries]  # fixed across runs
    d = tdata.ValidationSet(ds, "dedicated", source="other", **common)
    assert len(d) == len(ds.tracks("valid")) and d.pair(0)[2] is None


def _algorithm_1_draw(ts, epoch: int, index: int) -> dict:
    """The AMSS item draw as it was before the ``sdr_share`` key, written out: tracks and offsets, then one seed for
    Algorithm 1's sampler."""
    rng = tdata.item_rng(ts.seed, epoch, index)
    tracks, starts = [], []
    for _ in SOURCES:
        t = int(rng.integers(0, len(ts.store.tracks)))
        tracks.append(t)
        starts.append(int(rng.integers(0, max(1, ts.store.lengths[t] - ts.segment))))
    g, desc = aml.Sampler(ts.task_set, seed=int(rng.integers(0, 2**63 - 1))).sample()
    return {"tracks": tracks, "starts": starts, "generator": g.id, "description": desc}


@pytest.mark.parametrize("task_set", ["task2", "task1"])
def test_sdr_share_none_is_algorithm_1_bit_for_bit(ds, task_set):
    ts = tdata.TrainSet(ds, "amss", segment=SEG, seed=11, task_set=task_set)
    assert ts.sdr_share is None
    for i in range(60):
        assert ts.draw(2, i) == _algorithm_1_draw(ts, 2, i)
    item = ts[(2, 3)]
    d = _algorithm_1_draw(ts, 2, 3)
    stems = np.stack([ts.store.segment(t, j, s, SEG) for j, (t, s) in enumerate(zip(d["tracks"], d["starts"]))])
    np.testing.assert_array_equal(item["input"].numpy().T, dsp.make_pair(stems, d["description"]).input)


def test_sdr_generators_are_the_four_sdr_queries():
    for task_set in ("task2", "task1"):
        gens = tdata.sdr_generators(task_set)
        assert [g.id for g in gens] == ["separate:vocals", "separate:drums", "separate:bass", "mute:vocals+drums+bass"]
        assert all(d in g.descriptions for d, g in zip(aml.SDR_DESCRIPTIONS, gens))


@pytest.mark.parametrize("task_set,share", [("task2", 0.25), ("task1", 0.5)])
def test_sdr_share_draws_the_sdr_generators_that_often(ds, task_set, share):
    n = 4000
    base = tdata.TrainSet(ds, "amss", segment=SEG, seed=13, task_set=task_set)
    ts = tdata.TrainSet(ds, "amss", segment=SEG, seed=13, task_set=task_set, sdr_share=share)
    sdr_ids = {g.id for g in tdata.sdr_generators(task_set)}
    n_gen = len(aml.generators(task_set))
    draws = [ts.draw(0, i) for i in range(n)]
    frac = np.mean([d["generator"] in sdr_ids for d in draws])
    expected = share + (1 - share) * 4 / n_gen  # the share, plus Algorithm 1's own SDR generators outside it
    assert abs(frac - expected) < 4 * np.sqrt(expected * (1 - expected) / n)  # 4 standard errors
    # each of the four is drawn about equally often within the share
    counts = np.array([sum(d["generator"] == g for d in draws) for g in sorted(sdr_ids)])
    assert counts.min() > 0.7 * counts.mean()
    # tracks and offsets are Algorithm 1's; the items that differ are all SDR items, and most items are unchanged
    changed = 0
    for i in range(400):
        a, b = base.draw(0, i), draws[i]
        assert a["tracks"] == b["tracks"] and a["starts"] == b["starts"]
        if a["generator"] != b["generator"] or a["description"] != b["description"]:
            changed += 1
            assert b["generator"] in sdr_ids
            assert b["description"] in aml.get_generator(b["generator"]).descriptions
    assert 0 < changed < 400 * (share + 0.1)
    # a pure function of (seed, epoch, index)
    again = tdata.TrainSet(ds, "amss", segment=SEG, seed=13, task_set=task_set, sdr_share=share, preload=False)
    assert [again.draw(0, i) for i in range(50)] == draws[:50]
    for key in [(0, 1), (1, 7)]:
        _same(ts[key], again[key])


def test_sdr_share_extremes_and_checks(ds):
    ts = tdata.TrainSet(ds, "amss", segment=SEG, seed=13, sdr_share=1.0)
    sdr_ids = {g.id for g in tdata.sdr_generators("task2")}
    assert all(ts.draw(0, i)["generator"] in sdr_ids for i in range(200))
    base = tdata.TrainSet(ds, "amss", segment=SEG, seed=13)
    zero = tdata.TrainSet(ds, "amss", segment=SEG, seed=13, sdr_share=0)
    assert [zero.draw(0, i) for i in range(50)] == [base.draw(0, i) for i in range(50)]
    for bad in (1.5, -0.1, True, "0.5"):
        with pytest.raises(ValueError, match="sdr_share"):
            tdata.TrainSet(ds, "amss", segment=SEG, seed=13, sdr_share=bad)
    with pytest.raises(ValueError, match="sdr_share"):
        tdata.TrainSet(ds, "conditioned", segment=SEG, seed=13, sdr_share=0.5)


def test_sdr_share_mapping_gives_each_query_its_probability(ds):
    n = 4000
    share = {"vocals": 0.05, "drums": 0.05, "bass": 0.1, "other": 0.2}
    ts = tdata.TrainSet(ds, "amss", segment=SEG, seed=17, sdr_share=share)
    base = tdata.TrainSet(ds, "amss", segment=SEG, seed=17)
    gens = [g.id for g in tdata.sdr_generators("task2")]
    draws = [ts.draw(0, i) for i in range(n)]
    for src, gid in zip(SOURCES, gens):
        expected = share[src] + (1 - 0.4) / 87  # its share, plus Algorithm 1's draw of it outside the shares
        frac = np.mean([d["generator"] == gid for d in draws])
        assert abs(frac - expected) < 4 * np.sqrt(expected * (1 - expected) / n), src
    # outside the shares the item is Algorithm 1's
    same = sum(base.draw(0, i) == draws[i] for i in range(400))
    assert 400 * 0.5 < same < 400 * 0.7
    with pytest.raises(ValueError, match="sdr_share"):
        tdata.TrainSet(ds, "amss", segment=SEG, seed=17, sdr_share={"vocals": 0.5, "drums": 0.5, "bass": 0.1, "other": 0})
    with pytest.raises(ValueError, match="sdr_share"):
        tdata.TrainSet(ds, "amss", segment=SEG, seed=17, sdr_share={"vocals": 0.1, "drums": 0.1, "bass": 0.1})


def test_sdr_share_recipe_key_is_checked():
    from models import recipes

    assert recipes.recipe_for("amss-net", "paper")["sdr_share"] is None  # Algorithm 1, as the references
    assert recipes.recipe_for("amss-net-separate", "paper")["sdr_share"] is None
    ok = {"vocals": 0.1, "drums": 0.1, "bass": 0.1, "other": 0.2}
    assert recipes.recipe_for("amss-net", "embedded", sdr_share=ok)["sdr_share"] == ok
    for bad in (1.2, -0.5, True, {"vocals": 0.6, "drums": 0.6, "bass": 0, "other": 0}, {"vocals": 0.1}):
        with pytest.raises(recipes.RecipeError, match="'sdr_share' must be null"):
            recipes.recipe_for("amss-net", "embedded", sdr_share=bad)


@pytest.mark.parametrize("key, values", [
    ("sdr_share", (0, 0.3, 1, 1.2, -0.5, True, "0.5", None, {"vocals": 0.1, "drums": 0.1, "bass": 0.1, "other": 0.2},
                   {"vocals": 0.1, "drums": 0.2, "bass": 0.3, "other": 0.4}, {"vocals": 0.6, "drums": 0.6, "bass": 0,
                                                                              "other": 0}, {"vocals": 0.1})),
    ("target_weights", ({"vocals": 1, "drums": 1, "bass": 2, "other": 4}, {"vocals": 0, "drums": 0, "bass": 0, "other": 0},
                        {"vocals": -1, "drums": 1, "bass": 1, "other": 1}, {"vocals": 1}, [1, 1, 1, 1], 0.5,
                        {"vocals": True, "drums": 1, "bass": 1, "other": 1})),
])
def test_recipe_check_and_training_data_accept_the_same_values(key, values):
    """The recipe's check (at configuration time) and the training data's (at run time) agree on every value."""
    from models import recipes

    for v in values:
        if v is None:
            continue  # null = the key unset, valid in both
        try:
            recipes.recipe_for("amss-net" if key == "sdr_share" else "cunet-gpocm", "embedded", **{key: v})
            recipe_ok = True
        except recipes.RecipeError:
            recipe_ok = False
        try:
            (tdata.sdr_share_cdf if key == "sdr_share" else tdata.target_cdf)(v)
            data_ok = True
        except ValueError:
            data_ok = False
        assert recipe_ok == data_ok, (key, v)


def test_recipe_check_and_training_data_accept_the_same_source_augmentations(ds):
    """``source_augmentations``: the recipe's check and the training data's agree on every value."""
    from models import recipes

    for v in (["gain"], ("channelswap", "gain"), [], ["gain", "gain"], ["flip"], "gain", None, [1], {"gain": 1}):
        try:
            recipes.recipe_for("umx", "embedded", source_augmentations=v)
            recipe_ok = True
        except recipes.RecipeError:
            recipe_ok = False
        try:
            tdata.TrainSet(ds, "dedicated", segment=SEG, seed=4, source="bass", source_augmentations=v)
            data_ok = True
        except ValueError:
            data_ok = False
        assert recipe_ok == data_ok, v


def test_sdr_share_mapping_sum_allows_float_rounding_only():
    """A mapping meant to sum to 1 whose float sum rounds just above it is accepted (and never draws an edit); one
    that really exceeds 1 is not."""
    from models import recipes

    rounding = {"vocals": 0.05, "drums": 0.55, "bass": 0.3, "other": 0.1}
    assert sum(rounding.values()) > 1  # 1.0000000000000002
    assert recipes.sdr_share_problem(rounding) is None
    total, cdf = tdata.sdr_share_cdf(rounding)
    assert cdf[-1] == total and total > 1
    over = {"vocals": 0.05, "drums": 0.55, "bass": 0.3, "other": 0.101}
    assert "summing to at most 1" in recipes.sdr_share_problem(over)


def test_sdr_generators_only_for_a_set_sdr_share(ds):
    assert tdata.TrainSet(ds, "amss", segment=SEG, seed=13).sdr_generators == ()
    assert len(tdata.TrainSet(ds, "amss", segment=SEG, seed=13, sdr_share=0.2).sdr_generators) == 4
