"""The documents aggregation writes (summary.json) and its input adapters, field by field (what the
mutants of benchmark/scoring/aggregate.py showed untested)."""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from baselines.identity import IdentitySystem
from benchmark.scoring import aggregate as agg
from test_aggregate_rules import _docs

H = "a" * 64


def test_table_column_of_each_task():
    assert agg._column({"kind": "sdr", "id": "sdr-other", "museval_target": "other"}) == "other"
    assert agg._column({"kind": "mfcc", "id": "pan-left-vocals"}) == "pan left"
    assert agg._column({"kind": "mfcc", "id": "highpass-bass"}) == "highpass filter"
    # a task of another code version: the id without its source
    assert agg._column({"kind": "mfcc", "id": "wah-wah-drums"}) == "wah-wah"
    pt = agg.per_track_table(_docs())
    assert set(pt[pt.task_id == "sdr-drums"].column) == {"drums"}
    assert set(pt[pt.task_id == "pan-left-vocals"].column) == {"pan left"}


def test_expected_tracks_from_every_form_of_test_set():
    entries = [("sdr-vocals", "A"), ("sdr-vocals", "B"), ("pan-left-vocals", "A")]
    want = {"sdr-vocals": ["A", "B"], "pan-left-vocals": ["A"]}
    as_objects = SimpleNamespace(entries=[SimpleNamespace(task_id=t, track=r) for t, r in entries])
    as_manifest = {"entries": [{"task_id": t, "track": r} for t, r in entries], "manifest_hash": H}
    as_mapping = {"sdr-vocals": ("A", "B"), "pan-left-vocals": ("A",)}
    for ts in (as_objects, as_manifest, as_mapping):
        assert agg._expected_tracks(ts) == want


def test_jsonable_turns_numpy_and_missing_values_into_json():
    out = agg._jsonable({1: [np.float32(1.5), np.float64("nan"), math.inf, -math.inf, np.int64(3), pd.NA, pd.NaT],
                         "t": (np.arange(2), None, "x", True)})
    assert out == {"1": [1.5, None, None, None, 3, None, None], "t": [[0, 1], None, "x", True]}
    assert type(out["1"][0]) is float and type(out["1"][4]) is int
    assert agg._jsonable(2.5) == 2.5
    df = pd.DataFrame([{"a": 1.0, "b": np.nan}, {"a": 2.0, "b": 3.0}])
    assert agg.records(df) == [{"a": 1.0, "b": None}, {"a": 2.0, "b": 3.0}]


def test_summary_document_field_by_field():
    docs = _docs() + _docs(IdentitySystem(name="id-2", label="identity"))
    docs[-1]["system"]["checkpoint_sha256"] = None
    tables = agg.aggregate_results(docs, n_boot=20, ci=0.9, seed=3)
    ts = SimpleNamespace(manifest_hash=H)
    doc = agg.summary_document(tables, testset=ts, n_boot=20, ci=0.9, seed=3, results=docs)
    assert json.loads(json.dumps(doc, allow_nan=False)) == doc
    assert sorted(doc) == ["bootstrap", "cells", "checkpoints", "fingerprints", "groups", "labels", "rules",
                           "sdr_backend", "sdr_scoring", "summary_version", "systems", "testset"]
    assert doc["summary_version"] == 1
    assert doc["labels"] == ["identity"] and doc["systems"] == ["id-2", "identity"]
    assert doc["testset"] == {"manifest_hash": H}
    assert doc["rules"] == {
        "bss_eval": "median over frames (NaN skipped) → median over tracks → mean over runs",
        "global_sdr": "whole-track SDR → mean over tracks → mean over runs",
        "rmse_mfcc": "mean over tracks → mean over runs",
        "preservation": "untouched sources' energy / their share of the error (256-tap fit, pooled, capped at 100 dB) "
                        "→ mean over tracks → mean over runs",
        "std": "cells: sample std (ddof=1) over runs; AVG/mean rows: sample std (ddof=1) of pooled (task × run) "
               "values; null with too few values",
        "ci": "bootstrap over tracks, 20 resamples, 90 % percentile interval, numpy default_rng seed 3"}
    assert doc["bootstrap"] == {"resamples": 20, "ci": 0.9, "seed": 3, "unit": "track"}
    assert doc["cells"] == agg.records(tables["cells"]) and len(doc["cells"]) == 4 * 5 + 6 + 1
    assert doc["groups"] == agg.records(tables["groups"]) and doc["groups"]
    assert doc["sdr_backend"] == ["fast"]
    assert doc["sdr_scoring"] == ["joint"]  # baselines: one joint call per track
    fp = IdentitySystem().fingerprint
    assert doc["fingerprints"] == {"identity": fp, "id-2": IdentitySystem(name="id-2", label="identity").fingerprint}
    assert doc["checkpoints"] == {"identity": docs[0]["system"]["checkpoint_sha256"], "id-2": None}
    # RMSE-MFCC only: no SDR back-end; no results given: no provenance blocks; no test set: no hash
    mfcc = [d for d in docs if d["kind"] == "mfcc"]
    doc = agg.summary_document(agg.aggregate_results(mfcc, n_boot=5), results=mfcc)
    assert doc["sdr_backend"] is None and doc["testset"] == {"manifest_hash": None}
    assert "95 % percentile interval" in doc["rules"]["ci"] and "1000 resamples" in doc["rules"]["ci"]
    doc = agg.summary_document(agg.aggregate_results(mfcc, n_boot=5))
    assert not {"sdr_backend", "fingerprints", "checkpoints"} & set(doc)


def test_summary_of_nothing():
    empty = {"per_track": agg.per_track_table([]), "cells": pd.DataFrame(), "groups": pd.DataFrame()}
    doc = agg.summary_document(empty)
    assert doc["labels"] == [] and doc["systems"] == [] and doc["cells"] == [] and doc["groups"] == []
    assert agg.aggregate(agg.per_track_table([])) [0].empty


def test_write_summary_and_aggregate_dir(tmp_path):
    from benchmark.scoring import results as res

    for d in _docs():
        res.write_result(tmp_path, d)
    path = agg.write_summary(tmp_path / "identity", n_boot=10)
    assert path == tmp_path / "identity" / "summary.json"
    doc = json.loads(path.read_text())
    assert doc["systems"] == ["identity"] and doc["bootstrap"]["resamples"] == 10
    tables = agg.aggregate_dir(tmp_path, n_boot=10)
    assert set(tables) == {"per_track", "cells", "groups"} and len(tables["per_track"]) == 4 * 5 * 5 + (6 + 1) * 5
    (tmp_path / "empty").mkdir()
    for f in (agg.write_summary, agg.aggregate_dir):
        with pytest.raises(agg.AggregationError, match="empty: no result files"):
            f(tmp_path / "empty")


# ------------------------------------------------------------------------------------- second round of mutants
# (survivors of the mutation run: the SDR column, the seed column, aggregate_dir/write_summary passing their
# arguments on, the not_supported block, the "ci" rule text)

from test_aggregate_rules import MFCC, SDR_IDS, TRACKS, _bootstrap_by_hand  # noqa: E402


def test_sdr_column_is_the_documents_museval_target_whatever_the_task_id():
    # an SDR task this code version does not know: its column is still the museval target the result names
    assert agg._column({"kind": "sdr", "id": "sdr-accompaniment", "museval_target": "accompaniment"}) == \
        "accompaniment"
    assert agg._column({"kind": "sdr", "id": "sdr-vocals", "museval_target": "vocals"}) == "vocals"


def test_per_track_table_columns_and_the_seed_of_each_run():
    a = _docs(IdentitySystem(name="m-seed1", label="m"), seed=1)
    b = _docs(IdentitySystem(name="m-seed2", label="m"), seed=2)
    pt = agg.per_track_table(a + b)
    assert list(pt.columns) == ["label", "system", "seed", "kind", "task_id", "task_version", "source", "column",
                                "track", "family", "metric", "value"]
    assert dict(pt.groupby("system").seed.unique().map(list)) == {"m-seed1": [1], "m-seed2": [2]}
    assert len(pt) == 2 * (4 * 5 * 5 + (6 + 1) * 5)
    assert dict(pt.groupby("task_id").source.unique().map(list)) == {
        "sdr-vocals": ["vocals"], "sdr-drums": ["drums"], "sdr-bass": ["bass"], "sdr-other": ["other"],
        "pan-left-vocals": ["vocals"]}
    # no results: still the same columns
    assert list(agg.per_track_table([]).columns) == list(pt.columns)


def _with_unsupported(docs, ids):
    for d in docs:
        d["system"]["metadata"] = {**d["system"]["metadata"], "unsupported_tasks": list(ids)}
    return docs


def _ts_with_tasks(task_ids, extra_tracks=()):
    entries = [SimpleNamespace(task_id=t, track=tr) for t in task_ids for tr in TRACKS + tuple(extra_tracks)]
    return SimpleNamespace(manifest_hash=H, entries=entries, tasks=lambda: list(dict.fromkeys(task_ids)))


def test_not_supported_lists_each_labels_declared_tasks_within_the_test_set():
    cascade = _with_unsupported(_docs(IdentitySystem(name="c-seed1", label="cascade")),
                                ["dereverb-vocals", "dereverb-bass"])
    # a second run of the label declares another task: the label's list is the union, sorted
    cascade2 = _with_unsupported(_docs(IdentitySystem(name="c-seed2", label="cascade")), ["dereverb-drums"])
    other = _with_unsupported(_docs(IdentitySystem(name="x", label="another")), ["lowpass-bass"])
    plain = _docs()  # metadata without unsupported_tasks
    empty = _with_unsupported(_docs(IdentitySystem(name="e", label="empty")), [])
    docs = plain + cascade + cascade2 + other + empty
    want_all = {"another": ["lowpass-bass"], "cascade": ["dereverb-bass", "dereverb-drums", "dereverb-vocals"]}
    assert agg.not_supported(docs) == want_all
    assert list(agg.not_supported(docs)) == ["another", "cascade"]
    # a test set without a task list (a bare manifest hash) does not limit it
    assert agg.not_supported(docs, SimpleNamespace(manifest_hash=H)) == want_all
    # a test set's task list limits it; a label left with none is absent
    ts = _ts_with_tasks(SDR_IDS + ["pan-left-vocals", "dereverb-vocals", "dereverb-drums"])
    assert agg.not_supported(docs, ts) == {"cascade": ["dereverb-drums", "dereverb-vocals"]}
    assert agg.not_supported(plain) == {} and agg.not_supported(plain, ts) == {}


def test_summary_document_lists_the_unsupported_tasks_of_the_test_set():
    docs = _with_unsupported(_docs(), ["dereverb-vocals", "lowpass-bass"])
    tables = agg.aggregate_results(docs, n_boot=5)
    doc = agg.summary_document(tables, n_boot=5, results=docs)
    assert doc["not_supported"] == {"identity": ["dereverb-vocals", "lowpass-bass"]}
    ts = _ts_with_tasks(SDR_IDS + ["pan-left-vocals", "lowpass-bass"])
    doc = agg.summary_document(tables, testset=ts, n_boot=5, results=docs)
    assert doc["not_supported"] == {"identity": ["lowpass-bass"]}
    # none within the test set, or none declared: no such key
    ts = _ts_with_tasks(SDR_IDS + ["pan-left-vocals"])
    assert "not_supported" not in agg.summary_document(tables, testset=ts, n_boot=5, results=docs)
    assert "not_supported" not in agg.summary_document(tables, n_boot=5, results=_docs())


def test_summary_of_a_table_without_columns():
    # aggregate() represents "no rows" as DataFrames without columns; a per-track table of that form is empty too
    empty = {"per_track": pd.DataFrame(), "cells": pd.DataFrame(), "groups": pd.DataFrame()}
    doc = agg.summary_document(empty)
    assert doc["labels"] == [] and doc["systems"] == [] and doc["cells"] == [] and doc["groups"] == []


def test_a_100_percent_interval_is_the_range_of_the_resamples_and_says_so():
    tables = agg.aggregate_results(_docs(), n_boot=40, ci=1.0, seed=2)
    c = tables["cells"].query("task_id == 'pan-left-vocals' and metric == 'mfcc_rmse'").iloc[0]
    lo, hi = _bootstrap_by_hand([MFCC[tr] for tr in TRACKS], np.mean, label="identity", kind="mfcc", n_boot=40,
                                seed=2, lo_q=0, hi_q=100)
    assert (c.ci_low, c.ci_high) == pytest.approx((lo, hi), abs=1e-12)
    doc = agg.summary_document(tables, n_boot=40, ci=1.0, seed=2)
    assert doc["rules"]["ci"] == "bootstrap over tracks, 40 resamples, 100 % percentile interval, numpy " \
                                 "default_rng seed 2"


def _mfcc_interval(tables, n_boot, ci, seed):
    c = tables["cells"].query("task_id == 'pan-left-vocals' and metric == 'mfcc_rmse'").iloc[0]
    q = 50 * (1 - ci)
    want = _bootstrap_by_hand([MFCC[tr] for tr in TRACKS], np.mean, label="identity", kind="mfcc", n_boot=n_boot,
                              seed=seed, lo_q=q, hi_q=100 - q)
    return (c.ci_low, c.ci_high), want


def test_aggregate_dir_passes_the_test_set_and_the_bootstrap_settings_on(tmp_path):
    from benchmark.scoring import results as res

    for d in _docs():
        res.write_result(tmp_path, d)
    tables = agg.aggregate_dir(tmp_path, n_boot=7, ci=0.5, seed=5)
    got, want = _mfcc_interval(tables, 7, 0.5, 5)
    assert got == pytest.approx(want, abs=1e-12)
    # checked against the test set: a manifest track without results is refused
    ts = _ts_with_tasks(SDR_IDS + ["pan-left-vocals"], extra_tracks=("T5",))
    with pytest.raises(agg.IncompleteResultsError) as err:
        agg.aggregate_dir(tmp_path, ts, n_boot=7)
    assert str(err.value) == "cannot aggregate:\n  " + "\n  ".join(
        f"system 'identity', task {t}: 1 of 6 tracks missing: T5" for t in sorted(SDR_IDS + ["pan-left-vocals"]))


def test_write_summary_passes_the_test_set_the_results_and_the_settings_on(tmp_path):
    from benchmark.scoring import results as res

    docs = _with_unsupported(_docs(), ["dereverb-vocals", "lowpass-bass"])
    for d in docs:
        res.write_result(tmp_path, d)
    ts = _ts_with_tasks(SDR_IDS + ["pan-left-vocals", "dereverb-vocals"])
    path = agg.write_summary(tmp_path / "identity", ts, n_boot=7, ci=0.5, seed=5)
    doc = json.loads(path.read_text())
    assert doc["testset"] == {"manifest_hash": H}
    assert doc["not_supported"] == {"identity": ["dereverb-vocals"]}
    assert doc["fingerprints"] == {"identity": IdentitySystem().fingerprint}
    assert doc["checkpoints"] == {"identity": None}
    assert doc["sdr_backend"] == ["fast"] and doc["sdr_scoring"] == ["joint"]
    assert doc["bootstrap"] == {"resamples": 7, "ci": 0.5, "seed": 5, "unit": "track"}
    cell = [c for c in doc["cells"] if c["task_id"] == "pan-left-vocals" and c["metric"] == "mfcc_rmse"]
    want = _bootstrap_by_hand([MFCC[tr] for tr in TRACKS], np.mean, label="identity", kind="mfcc", n_boot=7, seed=5,
                              lo_q=25, hi_q=75)
    assert (cell[0]["ci_low"], cell[0]["ci_high"]) == pytest.approx(want, abs=1e-12)
    # against a test set with a track the results lack: refused, and no summary written
    path.unlink()
    ts = _ts_with_tasks(["pan-left-vocals"] + SDR_IDS, extra_tracks=("T5",))
    with pytest.raises(agg.IncompleteResultsError) as err:
        agg.write_summary(tmp_path / "identity", ts, n_boot=7)
    assert str(err.value) == "cannot aggregate:\n  " + "\n  ".join(
        f"system 'identity', task {t}: 1 of 6 tracks missing: T5" for t in sorted(SDR_IDS + ["pan-left-vocals"]))
    assert not path.exists()


@pytest.mark.parametrize("ci, words", [(0.95, "95 %"), (0.29, "29 %"), (0.57, "57 %"), (0.58, "58 %"), (0.995, "99.5 %")])
def test_the_interval_level_in_the_rules_is_the_level_asked_for(ci, words):
    # int(ci * 100) wrote 0.29 as "28 %" (0.29 * 100 = 28.999…) and 0.995 as "99 %"
    doc = agg.summary_document(agg.aggregate_results(_docs(), n_boot=10, ci=ci, seed=2), n_boot=10, ci=ci, seed=2)
    assert doc["rules"]["ci"] == f"bootstrap over tracks, 10 resamples, {words} percentile interval, numpy default_rng " \
                                 "seed 2"
    assert doc["bootstrap"]["ci"] == ci
