"""The documents aggregation writes (summary.json) and its input adapters, field by field (issue 13: what the
mutants of benchmark/aggregate.py showed untested)."""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from baselines.identity import IdentitySystem
from benchmark import aggregate as agg
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
        "std": "cells: sample std (ddof=1) over runs; AVG/mean rows: sample std (ddof=1) of pooled (task × run) "
               "values; null with too few values",
        "ci": "bootstrap over tracks, 20 resamples, 90 % percentile interval, numpy default_rng seed 3"}
    assert doc["bootstrap"] == {"resamples": 20, "ci": 0.9, "seed": 3, "unit": "track"}
    assert doc["cells"] == agg.records(tables["cells"]) and len(doc["cells"]) == 4 * 5 + 6
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
    from benchmark import results as res

    for d in _docs():
        res.write_result(tmp_path, d)
    path = agg.write_summary(tmp_path / "identity", n_boot=10)
    assert path == tmp_path / "identity" / "summary.json"
    doc = json.loads(path.read_text())
    assert doc["systems"] == ["identity"] and doc["bootstrap"]["resamples"] == 10
    tables = agg.aggregate_dir(tmp_path, n_boot=10)
    assert set(tables) == {"per_track", "cells", "groups"} and len(tables["per_track"]) == 4 * 5 * 5 + 6 * 5
    (tmp_path / "empty").mkdir()
    for f in (agg.write_summary, agg.aggregate_dir):
        with pytest.raises(agg.AggregationError, match="empty: no result files"):
            f(tmp_path / "empty")
