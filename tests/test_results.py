"""Result documents (schema, validation, atomic layout) and their aggregation (protocol §3.1, §3.2, §5.2)."""

from __future__ import annotations

import copy
import json
import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from baselines.identity import IdentitySystem
from benchmark import aggregate as agg
from benchmark import results as res
from benchmark.tasks import TASK_GROUPS, get_task

H = "a" * 64
PROV = {"git_commit": None, "amss_bench_version": "0.1.0",
        "environment": {"packages": {"numpy": "2"}, "tools": {"sox": "14.4.2"}, "python": "3.11"}}
TESTSET = SimpleNamespace(manifest_hash=H, source="synthetic", peak_mode="signed")


def _entry(frames=132300):
    return SimpleNamespace(input_sha256="b" * 64, target_sha256="c" * 64, frames=frames)


def sdr_doc(task_id="sdr-vocals", track="T0", sdr=(1.0, 2.0, None), system=None, backend="fast", seed=None,
            joint=("sdr-vocals", "sdr-drums", "sdr-bass", "sdr-other"), global_sdr=1.5):
    task = get_task(task_id)
    system = system or IdentitySystem()
    metric = {"name": "bss_eval_v4", "backend": backend, "win": 44100, "hop": 44100, "joint_tasks": list(joint),
              "joint_targets": [get_task(t).museval_target for t in joint]}
    doc = res.base_document(kind="sdr", task=task, track=track, testset=TESTSET, entry=_entry(), system=system,
                            estimate_sha256=H, estimate_frames=132300, source_sha256=None, seed=seed, device="cpu",
                            rank=0, world_size=1, metric=metric, provenance=PROV)
    keys = ("SDR",) if backend == "sdr-only" else ("SDR", "SIR", "SAR", "ISR")
    frames = [{"time": float(i), "duration": 1.0, "metrics": {k: (v if k == "SDR" else 0.0) for k in keys}}
              for i, v in enumerate(sdr)]
    doc.update({"targets": [{"name": task.museval_target, "frames": frames}], "museval_version": "0.4.1",
                "global_sdr": global_sdr})
    return doc


def mfcc_doc(task_id="pan-left-vocals", track="T0", value=1.0, system=None, seed=None):
    task = get_task(task_id)
    system = system or IdentitySystem()
    doc = res.base_document(kind="mfcc", task=task, track=track, testset=TESTSET, entry=_entry(), system=system,
                            estimate_sha256=H, estimate_frames=132300, source_sha256=None, seed=seed, device="cpu",
                            rank=0, world_size=1, metric={"name": "rmse_mfcc", "backend": "rmse-mfcc"},
                            provenance=PROV)
    doc.update(res.mfcc_payload({k: value for k in res.MFCC_KEYS}))
    return doc


# ------------------------------------------------------------------------------------------------ schema

def test_schema_is_valid_draft_2020_12():
    import jsonschema

    s = res.schema()
    assert s["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(s)


def test_valid_documents_pass_and_round_trip(tmp_path):
    for doc in (sdr_doc(), sdr_doc(backend="sdr-only"), mfcc_doc()):
        res.validate(doc)
        path = res.write_result(tmp_path, doc)
        assert path == tmp_path / "identity" / doc["task"]["id"] / "T0.json"
        assert res.read_result(path) == json.loads(json.dumps(doc))
    assert [p.parent.name for p in res.iter_result_paths(tmp_path)] == ["pan-left-vocals", "sdr-vocals"]


def _broken():
    """(description, mutate) pairs; every one must be rejected."""
    def drop(key):
        return lambda d: d.pop(key)

    def setp(path, value):
        def f(d):
            obj = d
            for k in path[:-1]:
                obj = obj[k]
            obj[path[-1]] = value
        return f

    return [
        ("missing task", drop("task"), sdr_doc),
        ("missing provenance", drop("provenance"), sdr_doc),
        ("malformed legacy timing", setp(("timing",), {"wall_time_s": -1}), sdr_doc),
        ("bad manifest hash", setp(("testset", "manifest_hash"), "xyz"), sdr_doc),
        ("unknown top-level key", setp(("extra",), 1), sdr_doc),
        ("sdr without frames", drop("targets"), sdr_doc),
        ("sdr without global SDR", drop("global_sdr"), sdr_doc),
        ("sdr with mfcc scores", setp(("scores",), {k: 0.0 for k in res.MFCC_KEYS}), sdr_doc),
        ("string metric value", lambda d: d["targets"][0]["frames"][0]["metrics"].update(SDR="1.0"), sdr_doc),
        ("unknown backend", setp(("metric", "backend"), "bogus"), sdr_doc),
        ("wrong target for the task", lambda d: d["targets"][0].update(name="drums"), sdr_doc),
        ("task not in its joint set", setp(("metric", "joint_tasks"), ["sdr-drums"]), sdr_doc),
        ("sdr-only with SIR", lambda d: d["metric"].update(backend="sdr-only"), sdr_doc),
        ("frame missing SIR", lambda d: d["targets"][0]["frames"][0]["metrics"].pop("SIR"), sdr_doc),
        ("negative RMSE", lambda d: d["scores"].update(mfcc_rmse=-1.0), mfcc_doc),
        ("missing mae_left", lambda d: d["scores"].pop("mae_left"), mfcc_doc),
        ("mfcc with frames", setp(("targets",), [{"name": "vocals", "frames": []}]), mfcc_doc),
        ("mfcc with a museval target", setp(("task", "museval_target"), "vocals"), mfcc_doc),
        ("kind mismatch", setp(("kind",), "sdr"), mfcc_doc),
        ("bad system name", setp(("system", "name"), "../x"), mfcc_doc),
        ("null seed type", setp(("run", "seed"), "2020"), mfcc_doc),
    ]


@pytest.mark.parametrize("what,mutate,make", _broken(), ids=[b[0] for b in _broken()])
def test_schema_rejects_broken_documents(tmp_path, what, mutate, make):
    doc = make()
    mutate(doc)
    with pytest.raises(res.ResultValidationError):
        res.validate(doc)
    with pytest.raises((res.ResultValidationError, KeyError)):
        res.write_result(tmp_path, doc)
    assert not any(tmp_path.rglob("*.json"))  # nothing written


def test_broken_file_on_disk_is_rejected_with_its_path(tmp_path):
    path = res.write_result(tmp_path, sdr_doc())
    doc = json.loads(path.read_text())
    doc["testset"]["frames"] = 0
    path.write_text(json.dumps(doc))
    with pytest.raises(res.ResultValidationError, match=rf"{path}.*/testset/frames"):
        res.read_result(path)
    path.write_text("{not json")
    with pytest.raises(res.ResultValidationError, match="not valid JSON"):
        res.read_result(path)


def test_results_hold_no_wall_time_and_legacy_timing_is_ignored():
    a, b = sdr_doc(), sdr_doc()
    assert "timing" not in a and "timing" not in mfcc_doc()
    # results written before issue 14 carry a timing block: still valid, ignored by comparison and resumption
    b["timing"] = {"wall_time_s": 99.0, "estimate_s": 1.0, "metric_s": 2.0, "shared_with": 4}
    res.validate(b)
    assert res.comparable(a) == res.comparable(b) and res.resume_key(a) == res.resume_key(b)
    for mutate in (lambda d: d["metric"].update(backend="museval"),
                   lambda d: d["task"].update(version=2),
                   lambda d: d["system"].update(fingerprint="f" * 64),
                   lambda d: d["testset"].update(manifest_hash="e" * 64),
                   lambda d: d["metric"].update(joint_tasks=["sdr-vocals"]),
                   lambda d: d["run"].update(seed=3)):
        c = copy.deepcopy(a)
        mutate(c)
        assert res.resume_key(c) != res.resume_key(a)


def test_non_finite_numbers_are_refused():
    with pytest.raises(ValueError, match="not finite"):
        res.mfcc_payload({k: math.nan for k in res.MFCC_KEYS})
    mj = {"targets": [{"name": "vocals", "frames": []}], "museval_version": "0.4.1"}
    with pytest.raises(ValueError, match="global SDR"):
        res.sdr_payload(mj, "vocals", math.inf)


# ------------------------------------------------------------------------------------------------ aggregation

def _table(values_sdr, values_mfcc=None):
    """Per-track long table: values_sdr[run][target] = list over tracks of frame lists."""
    rows = []
    for r, per_target in enumerate(values_sdr):
        for target, tracks in per_target.items():
            for k, frames in enumerate(tracks):
                rows.append({"label": "m", "system": f"m-seed{r}", "seed": r, "kind": "sdr",
                             "task_id": "sdr-" + target, "task_version": 1, "source": target, "column": target,
                             "track": f"T{k}", "family": "bss_eval", "metric": "SDR",
                             "value": agg._nanmedian(frames)})
    for r, per_task in enumerate(values_mfcc or []):
        for task_id, tracks in per_task.items():
            for k, v in enumerate(tracks):
                rows.append({"label": "m", "system": f"m-seed{r}", "seed": r, "kind": "mfcc", "task_id": task_id,
                             "task_version": 1, "source": get_task(task_id).source, "column": "x",
                             "track": f"T{k}", "family": "rmse_mfcc", "metric": "mfcc_rmse", "value": v})
    return pd.DataFrame(rows)


def test_sdr_aggregation_rules():
    targets = ("vocals", "drums", "bass", "other")
    rng = np.random.default_rng(0)
    frames = {(r, t, k): list(np.round(rng.normal(5, 2, size=7), 5)) + [None]
              for r in range(3) for t in targets for k in range(5)}
    data = [{t: [frames[(r, t, k)] for k in range(5)] for t in targets} for r in range(3)]
    cells, groups = agg.aggregate(_table(data), n_boot=200)
    per_run = {t: [np.median([np.median([f for f in frames[(r, t, k)] if f is not None]) for k in range(5)])
                   for r in range(3)] for t in targets}
    for t in targets:
        row = cells[(cells.task_id == f"sdr-{t}") & (cells.metric == "SDR")].iloc[0]
        assert row.value == pytest.approx(np.mean(per_run[t]), abs=1e-12)
        assert row["std"] == pytest.approx(np.std(per_run[t], ddof=1), abs=1e-12)
        assert row.n_runs == 3 and row.n_tracks == 5 and row.ci_low <= row.ci_high
    avg = groups[(groups.group == "AVG") & (groups.metric == "SDR")].iloc[0]
    pooled = [v for t in targets for v in per_run[t]]
    assert avg.value == pytest.approx(np.mean(pooled), abs=1e-12)
    assert avg["std"] == pytest.approx(np.std(pooled, ddof=1), abs=1e-12)  # 12 pooled values, ddof = 1
    assert avg.n_values == 12 and avg.n_tasks == 4
    # seeded bootstrap: same seed, same interval
    again, _ = agg.aggregate(_table(data), n_boot=200)
    pd.testing.assert_frame_equal(cells, again)


def test_bootstrap_collapses_when_tracks_agree_and_nan_frames_are_skipped():
    data = [{"vocals": [[3.0, None, 3.0], [None, 3.0, 3.0], [3.0, 3.0, None]]}]
    cells, _ = agg.aggregate(_table(data), n_boot=100)
    row = cells.iloc[0]
    assert (row.value, row.ci_low, row.ci_high) == (3.0, 3.0, 3.0)
    assert math.isnan(row["std"])  # one run: no run-to-run spread
    all_nan = [{"vocals": [[None, None], [None, None]]}]  # e.g. the oracle: +inf -> NaN everywhere
    cells, _ = agg.aggregate(_table(all_nan), n_boot=50)
    assert math.isnan(cells.iloc[0].value) and math.isnan(cells.iloc[0].ci_low)


def test_mfcc_aggregation_rules():
    vocal_tasks = [t.id for t in TASK_GROUPS["mfcc"] if t.source == "vocals"]
    rng = np.random.default_rng(1)
    data = [{tid: list(rng.uniform(1, 9, size=4)) for tid in vocal_tasks} for _ in range(3)]
    cells, groups = agg.aggregate(_table([], data), n_boot=100)
    per_run = {tid: [np.mean(data[r][tid]) for r in range(3)] for tid in vocal_tasks}
    for tid in vocal_tasks:
        row = cells[cells.task_id == tid].iloc[0]
        assert row.value == pytest.approx(np.mean(per_run[tid]))
        assert row["std"] == pytest.approx(np.std(per_run[tid], ddof=1))
    mean = groups[groups.group == "vocals"].iloc[0]
    pooled = [v for tid in vocal_tasks for v in per_run[tid]]
    assert mean.n_values == 21 and mean.n_tasks == 7
    assert mean.value == pytest.approx(np.mean(pooled)) and mean["std"] == pytest.approx(np.std(pooled, ddof=1))
    # bootstrap over tracks: seeded (another seed moves the interval of a mean), brackets the estimate
    other, _ = agg.aggregate(_table([], data), n_boot=100, seed=1)
    assert not np.allclose(cells.ci_low, other.ci_low)
    assert (cells.ci_low <= cells.value).all() and (cells.value <= cells.ci_high).all()


def _complete(tracks=("T0", "T1"), **kw):
    docs = [sdr_doc(t, tr, **kw) for t in [x.id for x in TASK_GROUPS["sdr"]] for tr in tracks]
    docs += [mfcc_doc("pan-left-vocals", tr, **{k: v for k, v in kw.items() if k in ("system", "seed")})
             for tr in tracks]
    return docs


def test_incomplete_tracks_are_an_error_naming_them():
    expected = {t.id: ["T0", "T1", "T2"] for t in TASK_GROUPS["sdr"]} | {"pan-left-vocals": ["T0", "T1", "T2"]}
    docs = _complete(("T0", "T1", "T2"))
    agg.check_results(docs, expected)
    docs = [d for d in docs if not (d["task"]["id"] == "pan-left-vocals" and d["track"] == "T1")]
    with pytest.raises(agg.IncompleteResultsError, match=r"task pan-left-vocals: 1 of 3 tracks missing: T1"):
        agg.aggregate_results(docs, expected)
    # an SDR task of the joint evaluation without any result
    docs = [d for d in _complete() if d["task"]["id"] != "sdr-bass"]
    with pytest.raises(agg.IncompleteResultsError, match="sdr-bass of the joint evaluation have no results"):
        agg.check_results(docs)


def test_mixed_provenance_is_refused():
    docs = _complete()
    docs[0]["metric"]["backend"] = "museval"
    with pytest.raises(agg.InconsistentResultsError, match="mixes 2 values of SDR back-end"):
        agg.check_results(docs)
    docs = _complete()
    docs[1]["system"]["fingerprint"] = "f" * 64
    with pytest.raises(agg.InconsistentResultsError, match="fingerprint"):
        agg.check_results(docs)
    # runs of one label must cover the same tasks
    run2 = [d for d in _complete(system=IdentitySystem(name="id-2", label="identity"))
            if d["task"]["id"] != "pan-left-vocals"]
    with pytest.raises(agg.InconsistentResultsError, match="different task sets"):
        agg.check_results(_complete() + run2)


def test_runs_are_grouped_by_label_and_averaged():
    a = _complete(system=IdentitySystem(name="m-seed1", label="m"), seed=1)
    b = _complete(system=IdentitySystem(name="m-seed2", label="m"), seed=2)
    for d in b:
        if d["kind"] == "mfcc":
            d["scores"]["mfcc_rmse"] = 3.0
    tables = agg.aggregate_results(a + b, n_boot=50)
    cell = tables["cells"].query("task_id == 'pan-left-vocals' and metric == 'mfcc_rmse'").iloc[0]
    assert cell.n_runs == 2 and cell.value == pytest.approx(2.0) and cell["std"] == pytest.approx(math.sqrt(2))
    assert cell.runs == ["m-seed1", "m-seed2"]
    g = tables["cells"].query("family == 'global_sdr'")
    assert set(g.metric) == {"global_SDR"} and (g.value == 1.5).all()
    doc = agg.summary_document(tables, n_boot=50)
    json.dumps(doc, allow_nan=False)  # NaN -> null, JSON-clean
    assert doc["labels"] == ["m"] and doc["systems"] == ["m-seed1", "m-seed2"]
