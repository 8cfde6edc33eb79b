"""Aggregation rules checked against independent computations: fixtures with an odd number of frames and
>= 3 tracks with uneven values, so that median and mean differ at every level; the bootstrap interval against
``np.percentile`` of the resamples; every refusal rule of :func:`benchmark.scoring.aggregate.check_results`."""

from __future__ import annotations

import copy
import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from baselines.identity import IdentitySystem
from benchmark.scoring import aggregate as agg
from benchmark.task.tasks import TASK_GROUPS
from test_results import mfcc_doc, sdr_doc

SDR_IDS = [t.id for t in TASK_GROUPS["sdr"]]
TRACKS = ("T0", "T1", "T2", "T3", "T4")
# per track: 5 frames (odd), skewed so that median != mean over frames; one NaN frame in T1
FRAMES = {"T0": (1.0, 2.0, 3.0, 40.0, 50.0), "T1": (0.0, None, 10.0, 11.0, -30.0), "T2": (7.0, 8.0, 9.0, 100.0, 6.0),
          "T3": (-5.0, -4.0, 2.5, 3.0, 60.0), "T4": (4.0, 4.5, None, 90.0, 5.5)}
GLOBAL = {"T0": 0.0, "T1": 1.0, "T2": 20.0, "T3": -3.0, "T4": 17.0}  # mean 7, median 1
MFCC = {"T0": 1.0, "T1": 2.0, "T2": 12.0, "T3": 0.5, "T4": 9.5}  # mean 5, median 2


def _docs(system=None, seed=None, offset=0.0):
    docs = []
    for tid in SDR_IDS:
        for tr in TRACKS:
            frames = tuple(None if v is None else v + offset for v in FRAMES[tr])
            docs.append(sdr_doc(tid, tr, sdr=frames, system=system, seed=seed, global_sdr=GLOBAL[tr] + offset))
    docs += [mfcc_doc("pan-left-vocals", tr, value=MFCC[tr] + offset, system=system, seed=seed) for tr in TRACKS]
    return docs


def _frame_median(tr, offset=0.0):
    return float(np.median([v + offset for v in FRAMES[tr] if v is not None]))


@pytest.fixture(scope="module")
def tables():
    return agg.aggregate_results(_docs(), n_boot=300)


def _cell(tables, task, metric):
    c = tables["cells"]
    rows = c[(c.task_id == task) & (c.metric == metric)]
    assert len(rows) == 1
    return rows.iloc[0]


def test_per_track_value_is_the_median_over_frames_nan_skipped(tables):
    pt = tables["per_track"]
    for tr in TRACKS:
        row = pt[(pt.task_id == "sdr-vocals") & (pt.metric == "SDR") & (pt.track == tr)]
        assert row.value.tolist() == [_frame_median(tr)]
    # the fixture discriminates: the mean over frames is different for every track
    assert all(_frame_median(tr) != np.mean([v for v in FRAMES[tr] if v is not None]) for tr in TRACKS)
    # SIR/SAR/ISR are present (0.0 in every frame of the fixture), one row each per track
    assert sorted(set(pt[pt.family == "bss_eval"].metric)) == sorted(agg.SDR_METRICS)
    g = pt[(pt.task_id == "sdr-vocals") & (pt.metric == agg.GLOBAL_METRIC)]
    assert dict(zip(g.track, g.value)) == GLOBAL


def test_sdr_is_the_median_over_tracks_global_sdr_the_mean(tables):
    medians = [_frame_median(tr) for tr in TRACKS]
    for tid in SDR_IDS:
        sdr = _cell(tables, tid, "SDR")
        assert sdr.value == pytest.approx(float(np.median(medians)), abs=1e-12)
        assert sdr.value != pytest.approx(float(np.mean(medians)))
        g = _cell(tables, tid, agg.GLOBAL_METRIC)
        assert g.value == pytest.approx(np.mean(list(GLOBAL.values())), abs=1e-12)  # 7.0, the median would be 1.0
        assert g.family == "global_sdr" and g.n_tracks == 5 and g.n_runs == 1
    avg = tables["groups"].query("group == 'AVG' and metric == 'SDR'").iloc[0]
    assert avg.value == pytest.approx(float(np.median(medians))) and avg.n_tasks == 4
    gavg = tables["groups"].query("group == 'AVG' and metric == 'global_SDR'").iloc[0]
    assert gavg.value == pytest.approx(7.0)


def test_rmse_mfcc_is_the_mean_over_tracks(tables):
    c = _cell(tables, "pan-left-vocals", "mfcc_rmse")
    assert c.value == pytest.approx(5.0) and c.n_tracks == 5
    g = tables["groups"].query("group == 'vocals' and metric == 'mfcc_rmse'").iloc[0]
    assert g.value == pytest.approx(5.0) and g.n_tasks == 1


def test_runs_are_averaged_and_their_spread_is_the_sample_std():
    a = _docs(IdentitySystem(name="m-seed1", label="m"), seed=1)
    b = _docs(IdentitySystem(name="m-seed2", label="m"), seed=2, offset=3.0)
    c = _docs(IdentitySystem(name="m-seed3", label="m"), seed=3, offset=9.0)
    t = agg.aggregate_results(a + b + c, n_boot=50)
    sdr = _cell(t, "sdr-drums", "SDR")
    per_run = [float(np.median([_frame_median(tr, o) for tr in TRACKS])) for o in (0.0, 3.0, 9.0)]
    assert sdr.value == pytest.approx(np.mean(per_run)) and sdr["std"] == pytest.approx(np.std(per_run, ddof=1))
    assert sdr.run_values == pytest.approx(per_run) and sdr.n_runs == 3
    g = _cell(t, "sdr-drums", agg.GLOBAL_METRIC)
    assert g.value == pytest.approx(7.0 + 4.0) and g["std"] == pytest.approx(np.std([7, 10, 16], ddof=1))


def _bootstrap_by_hand(values_by_track, stat, *, label, kind, n_boot, seed, lo_q, hi_q):
    rng = np.random.default_rng([seed, agg._stable_int(label), agg._stable_int(kind)])
    idx = rng.integers(0, len(values_by_track), size=(n_boot, len(values_by_track)))
    v = np.asarray(values_by_track)
    boot = np.array([stat(v[i]) for i in idx])
    return tuple(np.percentile(boot, [lo_q, hi_q]))


def test_bootstrap_interval_is_the_2_5_and_97_5_percentiles_of_the_resamples():
    assert agg.CI == 0.95 and agg.N_BOOT == 1000 and agg.BOOT_SEED == 0
    t = agg.aggregate_results(_docs())  # the defaults: 1000 resamples, 95 %, seed 0
    medians = [_frame_median(tr) for tr in TRACKS]
    kw = dict(label="identity", kind="sdr", n_boot=1000, seed=0)
    lo, hi = _bootstrap_by_hand(medians, np.median, lo_q=2.5, hi_q=97.5, **kw)
    sdr = _cell(t, "sdr-bass", "SDR")
    assert (sdr.ci_low, sdr.ci_high) == pytest.approx((lo, hi), abs=1e-12)
    glo, ghi = _bootstrap_by_hand([GLOBAL[tr] for tr in TRACKS], np.mean, lo_q=2.5, hi_q=97.5, **kw)
    g = _cell(t, "sdr-bass", agg.GLOBAL_METRIC)
    assert (g.ci_low, g.ci_high) == pytest.approx((glo, ghi), abs=1e-12)
    mlo, mhi = _bootstrap_by_hand([MFCC[tr] for tr in TRACKS], np.mean, lo_q=2.5, hi_q=97.5,
                                  **{**kw, "kind": "mfcc"})
    m = _cell(t, "pan-left-vocals", "mfcc_rmse")
    assert (m.ci_low, m.ci_high) == pytest.approx((mlo, mhi), abs=1e-12)
    assert mlo < 5.0 < mhi
    # the fixture tells a 90 % interval from a 95 % one (both ends differ) ...
    glo90, ghi90 = _bootstrap_by_hand([GLOBAL[tr] for tr in TRACKS], np.mean, lo_q=5, hi_q=95, **kw)
    assert glo < glo90 and ghi90 < ghi
    # ... and the level is a parameter: ci=0.9 gives the 5 / 95 percentiles of the same resamples
    t90 = agg.aggregate_results(_docs(), ci=0.9)
    g90 = _cell(t90, "sdr-bass", agg.GLOBAL_METRIC)
    assert (g90.ci_low, g90.ci_high) == pytest.approx((glo90, ghi90), abs=1e-12)
    doc = agg.summary_document(t)
    assert doc["bootstrap"] == {"resamples": 1000, "ci": 0.95, "seed": 0, "unit": "track"}
    assert "95 % percentile interval" in doc["rules"]["ci"]


# ------------------------------------------------------------------------------------------------ check_results

def _set(path, value):
    def f(d):
        obj = d
        for k in path[:-1]:
            obj = obj[k]
        obj[path[-1]] = value
    return f


def _on_first(mutate, kind=None):
    def f(docs):
        for d in docs:
            if kind is None or d["kind"] == kind:
                mutate(d)
                return docs
    return f


EXPECTED = {tid: list(TRACKS) for tid in SDR_IDS} | {"pan-left-vocals": list(TRACKS)}
TS = SimpleNamespace(manifest_hash="a" * 64, entries=[SimpleNamespace(task_id=t, track=tr)
                                                     for t, trs in EXPECTED.items() for tr in trs])


def _other_run(**kw):
    return _docs(IdentitySystem(name="id-2", label="identity"), **kw)


REFUSALS = [
    # (what, change the documents, testset, error class, message)
    ("label", _on_first(_set(("system", "label"), "other")), None, agg.InconsistentResultsError,
     r"system 'identity' mixes 2 values of label"),
    ("fingerprint", _on_first(_set(("system", "fingerprint"), "f" * 64)), None, agg.InconsistentResultsError,
     "mixes 2 values of system fingerprint"),
    ("manifest", _on_first(_set(("testset", "manifest_hash"), "e" * 64)), None, agg.InconsistentResultsError,
     "mixes 2 values of test-set manifest hash"),
    ("seed", _on_first(_set(("run", "seed"), 7)), None, agg.InconsistentResultsError, "mixes 2 values of seed"),
    ("backend", _on_first(_set(("metric", "backend"), "museval"), "sdr"), None, agg.InconsistentResultsError,
     "mixes 2 values of SDR back-end"),
    ("joint set", _on_first(_set(("metric", "joint_tasks"), ["sdr-vocals"]), "sdr"), None,
     agg.InconsistentResultsError, "mixes 2 values of SDR joint task set"),
    ("task version", _on_first(_set(("task", "version"), 2), "mfcc"), None, agg.InconsistentResultsError,
     r"task pan-left-vocals: results of task versions \[1, 2\] are mixed"),
    ("joint task absent", lambda docs: [d for d in docs if d["task"]["id"] != "sdr-other"], None,
     agg.IncompleteResultsError, "SDR tasks sdr-other of the joint evaluation have no results"),
    ("other test set", lambda docs: [_set(("testset", "manifest_hash"), "e" * 64)(d) or d for d in docs], TS,
     agg.InconsistentResultsError, r"results of another test set \(manifest eeeeeeeeeeee…, expected aaaaaaaaaaaa…\)"),
    ("task not in the test set", lambda docs: docs + [mfcc_doc("lowpass-bass", tr) for tr in TRACKS], TS,
     agg.InconsistentResultsError, "task lowpass-bass is not in the test set"),
    ("missing track", lambda docs: [d for d in docs if not (d["kind"] == "mfcc" and d["track"] == "T2")], TS,
     agg.IncompleteResultsError, "task pan-left-vocals: 1 of 5 tracks missing: T2"),
    ("extra track", lambda docs: docs + [mfcc_doc("pan-left-vocals", "T9")], TS, agg.InconsistentResultsError,
     "task pan-left-vocals: tracks not in the test set: T9"),
    ("runs with other task sets", lambda docs: docs + [d for d in _other_run() if d["kind"] == "sdr"], None,
     agg.InconsistentResultsError, r"label 'identity': its runs cover different task sets: id-2: 4 tasks; "
                                   r"identity: 5 tasks"),
    ("runs with other test sets",
     lambda docs: docs + [_set(("testset", "manifest_hash"), "e" * 64)(d) or d for d in _other_run()], None,
     agg.InconsistentResultsError, "label 'identity': its runs mix test-set manifest hash"),
    ("runs with other back-ends",
     lambda docs: docs + [_set(("metric", "backend"), "museval")(d) or d if d["kind"] == "sdr" else d
                          for d in _other_run()], None,
     agg.InconsistentResultsError, "label 'identity': its runs mix SDR back-end"),
    ("runs with other tracks", lambda docs: docs + [d for d in _other_run() if d["track"] != "T2"], None,
     agg.InconsistentResultsError, "label 'identity': its runs cover different tracks"),
]


def test_the_fixture_itself_is_accepted():
    agg.check_results(_docs())
    agg.check_results(_docs(), TS)
    agg.check_results(_docs(), EXPECTED)
    agg.check_results(_docs() + _other_run(), TS)


@pytest.mark.parametrize("what,change,testset,cls,match", REFUSALS, ids=[r[0] for r in REFUSALS])
def test_every_refusal_rule(what, change, testset, cls, match):
    docs = change(copy.deepcopy(_docs()))
    with pytest.raises(cls, match=match) as err:
        agg.check_results(docs, testset)
    assert type(err.value) is cls
    with pytest.raises(cls):  # the entry point refuses too, before any number is computed
        agg.aggregate_results(docs, testset, n_boot=10)


def test_no_results_is_refused():
    with pytest.raises(agg.AggregationError, match="no results to aggregate"):
        agg.check_results([])


def test_runs_with_other_tracks_are_accepted_against_the_manifest_only_when_complete():
    # against a manifest the per-run completeness rule applies instead (it names the run and the track)
    docs = _docs() + [d for d in _other_run() if d["track"] != "T2"]
    with pytest.raises(agg.IncompleteResultsError, match=r"system 'id-2', task sdr-vocals: 1 of 5 tracks missing: "
                                                         r"T2"):
        agg.check_results(docs, TS)


def test_all_problems_are_reported_at_once():
    docs = copy.deepcopy(_docs())
    docs[0]["system"]["fingerprint"] = "f" * 64
    docs = [d for d in docs if not (d["kind"] == "mfcc" and d["track"] == "T0")]
    with pytest.raises(agg.IncompleteResultsError) as err:  # any missing track makes it an incompleteness
        agg.check_results(docs, TS)
    msg = str(err.value)
    assert msg.startswith("cannot aggregate:\n  ") and "fingerprint" in msg and "missing: T0" in msg


# ------------------------------------------------------------------------------------- second round of mutants
# the refusals' messages in full (the values each problem names, joined with ", "), pair-scored runs

def _pair_scored(d):
    if d["kind"] == "sdr":
        tid = d["task"]["id"]
        d["metric"].update(joint_tasks=[tid], joint_targets=[d["task"]["museval_target"]], scoring="pair",
                           second_reference="accompaniment")
    return d


def _each(mutate):
    return lambda docs: [mutate(d) or d for d in docs]


JOINT4 = "['sdr-vocals', 'sdr-drums', 'sdr-bass', 'sdr-other']"
MESSAGES = [
    # (what, change the documents, testset, error class, the whole message after "cannot aggregate:\n  ")
    ("label", _on_first(_set(("system", "label"), "other")), None, agg.InconsistentResultsError,
     ["system 'identity' mixes 2 values of label: 'identity', 'other'"]),
    ("scoring", _on_first(_pair_scored, "sdr"), None, agg.InconsistentResultsError,
     ["system 'identity' mixes 2 values of SDR scoring: 'joint', 'pair'",
      f"system 'identity' mixes 2 values of SDR joint task set: None, {JOINT4}",
      "label 'identity': its runs mix SDR scoring: 'joint', 'pair'"]),
    ("backend", _on_first(_set(("metric", "backend"), "museval"), "sdr"), None, agg.InconsistentResultsError,
     ["system 'identity' mixes 2 values of SDR back-end: 'fast', 'museval'",
      "label 'identity': its runs mix SDR back-end: 'fast', 'museval'"]),
    ("first joint set names a task without results",
     _on_first(_set(("metric", "joint_tasks"), SDR_IDS + ["sdr-piano"]), "sdr"), None, agg.IncompleteResultsError,
     [f"system 'identity' mixes 2 values of SDR joint task set: {JOINT4[:-1]}, 'sdr-piano'], {JOINT4}",
      "system 'identity': SDR tasks sdr-piano of the joint evaluation have no results"]),
    ("two joint tasks absent", lambda docs: [d for d in docs if d["task"]["id"] not in ("sdr-bass", "sdr-other")],
     None, agg.IncompleteResultsError,
     ["system 'identity': SDR tasks sdr-bass, sdr-other of the joint evaluation have no results"]),
    ("every track problem of every task",
     lambda docs: [d for d in docs if not (d["kind"] == "mfcc" and d["track"] in ("T1", "T3"))]
     + [mfcc_doc("lowpass-bass", tr) for tr in TRACKS] + [mfcc_doc("pan-left-vocals", tr) for tr in ("T9", "T8")],
     TS, agg.IncompleteResultsError,
     ["system 'identity': task lowpass-bass is not in the test set",
      "system 'identity', task pan-left-vocals: 2 of 5 tracks missing: T1, T3",
      "system 'identity', task pan-left-vocals: tracks not in the test set: T8, T9"]),
    ("runs scored jointly and by pair",
     lambda docs: docs + [_pair_scored(d) for d in _other_run()], None, agg.InconsistentResultsError,
     ["label 'identity': its runs mix SDR scoring: 'joint', 'pair'"]),
]


@pytest.mark.parametrize("what,change,testset,cls,lines", MESSAGES, ids=[r[0] for r in MESSAGES])
def test_refusal_messages_in_full(what, change, testset, cls, lines):
    docs = change(copy.deepcopy(_docs()))
    with pytest.raises(agg.AggregationError) as err:
        agg.check_results(docs, testset)
    assert type(err.value) is cls
    assert str(err.value) == "cannot aggregate:\n  " + "\n  ".join(lines)


def test_no_results_message():
    with pytest.raises(agg.AggregationError) as err:
        agg.check_results([])
    assert type(err.value) is agg.AggregationError and str(err.value) == "no results to aggregate"


def test_runs_of_a_single_result_are_accepted():
    agg.check_results([mfcc_doc(value=2.5)])
    t = agg.aggregate_results([mfcc_doc(value=2.5)], n_boot=5)
    # the preservation cell (family "preservation" sorts before "rmse_mfcc"), then the six RMSE-MFCC numbers
    assert t["cells"].value.tolist() == [30.0] + [2.5] * 6 and t["cells"].n_tracks.tolist() == [1] * 7
    # an SDR run of one task (its joint set) and one track
    one = sdr_doc("sdr-drums", "T3", sdr=(4.0, 1.0, 2.0), joint=("sdr-drums",), global_sdr=-1.0)
    agg.check_results([one])
    t = agg.aggregate_results([one], n_boot=5)
    assert _cell(t, "sdr-drums", "SDR").value == 2.0 and _cell(t, "sdr-drums", agg.GLOBAL_METRIC).value == -1.0


def test_pair_scored_runs_are_accepted():
    # pair scoring: each SDR result's joint set is its own task; RMSE-MFCC results carry no scoring at all
    docs = _each(_pair_scored)(_docs()) + _each(_pair_scored)(_other_run())
    agg.check_results(docs)
    agg.check_results(docs, TS)
    t = agg.aggregate_results(docs, n_boot=5)
    medians = [_frame_median(tr) for tr in TRACKS]
    assert _cell(t, "sdr-other", "SDR").value == pytest.approx(float(np.median(medians)), abs=1e-12)


def test_cell_and_group_rows_name_their_label_kind_column_version_and_rule(tables):
    c = _cell(tables, "sdr-drums", "SDR")
    assert (c.label, c.kind, c.source, c.column, c.task_version, c.family) == ("identity", "sdr", "drums", "drums", 1,
                                                                                "bss_eval")
    assert c.stat == "median over frames (NaN skipped) → median over tracks → mean over runs"
    m = _cell(tables, "pan-left-vocals", "mfcc_rmse")
    assert (m.label, m.kind, m.source, m.column, m.task_version) == ("identity", "mfcc", "vocals", "pan left", 1)
    assert m.stat == "mean over tracks → mean over runs"
    # cells sorted by (label, kind) then (task, family, metric)
    assert list(tables["cells"].kind) == ["mfcc"] * 7 + ["sdr"] * 20


def test_the_bootstrap_stream_of_a_label_and_kind_is_fixed():
    # default_rng([seed, label, kind]): a label/kind enters as the first 4 bytes of its sha256, little-endian, so
    # published intervals are reproducible across Python versions and platforms
    import hashlib

    for s in ("identity", "sdr", "mfcc", "separate-then-dsp"):
        assert agg._stable_int(s) == int.from_bytes(hashlib.sha256(s.encode()).digest()[:4], "little") < 2 ** 32


def test_aggregate_refuses_a_table_with_a_hole_naming_the_run_and_tracks():
    # aggregate() on a per-track table that was not checked: a (run, track) without a value is named, never skipped
    pt = agg.per_track_table(_docs() + _other_run())
    hole = (pt.system == "id-2") & (pt.task_id == "sdr-drums") & (pt.metric == "SDR") & pt.track.isin(["T2", "T4"])
    assert hole.sum() == 2
    with pytest.raises(agg.IncompleteResultsError) as err:
        agg.aggregate(pt[~hole], n_boot=5)
    assert str(err.value) == "label 'identity', task sdr-drums: no SDR value for id-2/T2, id-2/T4"


def _long_table(rows):
    """A per-track table as per_track_table makes it, from (label, system, task_id, source, track, metric, value)."""
    return pd.DataFrame([{"label": lab, "kind": "sdr", "system": sys_, "track": tr, "task_id": tid, "source": src,
                          "column": src, "task_version": 1, "family": "bss_eval", "metric": met, "value": v}
                         for lab, sys_, tid, src, tr, met, v in rows])


# two runs, three tracks, two SDR tasks; values uneven so that every statistic is told apart
GROUP_VALUES = {("sdr-vocals", "r1"): (1.0, 5.0, 30.0), ("sdr-vocals", "r2"): (2.0, 9.0, -4.0),
                ("sdr-drums", "r1"): (0.5, 7.0, 8.0), ("sdr-drums", "r2"): (11.0, -2.0, 3.0)}


def _group_table(order=("sdr-vocals", "sdr-drums"), labels=("lab",)):
    rows = []
    for lab in labels:
        for tid in order:
            for run in ("r1", "r2"):
                for tr, v in zip(("A", "B", "C"), GROUP_VALUES[(tid, run)]):
                    rows.append((lab, f"{lab}-{run}", tid, tid.split("-")[1], tr, "SDR", v))
    return _long_table(rows)


def test_a_group_row_field_by_field_with_its_bootstrap_by_hand():
    cells, groups = agg.aggregate(_group_table(), n_boot=200, ci=0.9, seed=4)
    assert len(groups) == 1
    g = groups.iloc[0].to_dict()
    per_run = [np.median(GROUP_VALUES[(t, r)]) for t in ("sdr-drums", "sdr-vocals") for r in ("r1", "r2")]
    # the bootstrap: one track resampling per label/kind, shared by the tasks; per resample the mean over (task, run)
    # of the median over the resampled tracks
    rng = np.random.default_rng([4, agg._stable_int("lab"), agg._stable_int("sdr")])
    idx = rng.integers(0, 3, size=(200, 3))
    stack = [np.asarray(GROUP_VALUES[(t, r)]) for t in ("sdr-drums", "sdr-vocals") for r in ("r1", "r2")]
    boot = [np.mean([np.median(v[i]) for v in stack]) for i in idx]
    lo, hi = np.percentile(boot, [5, 95])
    assert set(g) == {"label", "kind", "group", "family", "metric", "value", "std", "n_tasks", "tasks", "n_runs",
                      "n_values", "n_tracks", "ci_low", "ci_high", "stat"}
    assert (g["label"], g["kind"], g["group"], g["family"], g["metric"]) == ("lab", "sdr", "AVG", "bss_eval", "SDR")
    assert g["value"] == pytest.approx(np.mean(per_run), abs=1e-12)
    assert g["std"] == pytest.approx(np.std(per_run, ddof=1), abs=1e-12)
    assert (g["n_tasks"], g["tasks"], g["n_runs"], g["n_values"], g["n_tracks"]) == (
        2, ["sdr-drums", "sdr-vocals"], 2, 4, 3)
    assert (g["ci_low"], g["ci_high"]) == pytest.approx((lo, hi), abs=1e-12)
    # the fixture tells this apart from averaging over tasks only or runs only before the percentile
    per_task = [np.mean([np.median(v[i]) for v in stack[:2]]) for i in idx]
    assert not np.allclose(np.percentile(per_task, [5, 95]), (lo, hi))
    assert g["stat"] == "mean over targets of: median over frames (NaN skipped) → median over tracks → mean over runs"


def test_cells_and_labels_come_out_sorted_whatever_the_input_order():
    pt = _group_table(order=("sdr-vocals", "sdr-drums"), labels=("b-label", "a-label"))
    cells, groups = agg.aggregate(pt, n_boot=5)
    assert list(zip(cells.label, cells.task_id)) == [("a-label", "sdr-drums"), ("a-label", "sdr-vocals"),
                                                     ("b-label", "sdr-drums"), ("b-label", "sdr-vocals")]
    assert list(groups.label) == ["a-label", "b-label"]


def test_a_hole_message_names_the_first_ten_missing_values():
    rows = [("lab", "lab-r1", "sdr-vocals", "vocals", f"T{i:02d}", "SDR", float(i)) for i in range(14)]
    rows += [("lab", "lab-r2", "sdr-vocals", "vocals", "T00", "SDR", 1.0)]  # r2 lacks T01..T13: 13 holes
    with pytest.raises(agg.IncompleteResultsError) as err:
        agg.aggregate(_long_table(rows), n_boot=5)
    named = ", ".join(f"lab-r2/T{i:02d}" for i in range(1, 11))
    assert str(err.value) == f"label 'lab', task sdr-vocals: no SDR value for {named}"


def test_the_std_of_too_few_or_nan_values_is_nan_without_a_numpy_warning():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # np.std(ddof=1) of one value warns "Degrees of freedom <= 0"
        assert math.isnan(agg._std([3.0])) and math.isnan(agg._std([])) and math.isnan(agg._std([1.0, np.nan]))
    assert agg._std([1.0, 2.0, 4.0]) == pytest.approx(np.std([1.0, 2.0, 4.0], ddof=1))
