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
from benchmark.scoring import aggregate as agg
from benchmark.scoring import results as res
from benchmark.task.tasks import TASK_GROUPS, get_task

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
    others = {s: 30.0 for s in ("vocals", "drums", "bass", "other") if s != task.source}
    doc.update(res.preservation_payload({"db": 30.0, "sources": others, "edited": task.source, "filter_taps": 256,
                                         "cap_db": 100.0, "regularised": False}))
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
        ("mfcc without preservation", drop("preservation"), mfcc_doc),
        ("preservation of the edited source", lambda d: d["preservation"]["sources"].update(vocals=1.0), mfcc_doc),
        ("preservation of another edit", setp(("preservation", "edited"), "bass"), mfcc_doc),
        ("preservation as a string", setp(("preservation", "db"), "30"), mfcc_doc),
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
    # an older result file may carry a timing block: still valid, ignored by comparison and resumption
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


# ------------------------------------------------------------------------------------------------ contracts
# Written from reading the mutants of benchmark/scoring/results.py: messages, layout helpers, the resume key and the builders,
# each against a value spelled out here (schema errors: jsonschema's own messages, listed in path order).

def _schema_errors(doc):
    import jsonschema

    errors = sorted(jsonschema.Draft202012Validator(res.schema()).iter_errors(doc), key=lambda e: list(e.absolute_path))
    return ["at /" + "/".join(str(p) for p in e.absolute_path) + ": " + e.message for e in errors]


def test_validation_message_lists_the_first_ten_errors_in_path_order():
    doc = mfcc_doc()
    for k in res.MFCC_KEYS:
        doc["scores"][k] = "x"
    doc["run"].update(seed="s", rank="r", world_size="w")
    doc["estimate"]["frames"] = doc["testset"]["frames"] = "f"
    doc["track"] = 5
    lines = _schema_errors(doc)
    assert len(lines) == 12 and lines[0] == "at /estimate/frames: 'f' is not of type 'integer'"
    with pytest.raises(res.ResultValidationError) as err:
        res.validate(doc, "W.json")
    assert str(err.value) == "W.json: invalid result (12 error(s)) (+2 more): " + "; ".join(lines[:10])
    one = mfcc_doc()
    one["run"]["rank"] = "r"
    with pytest.raises(res.ResultValidationError) as err:
        res.validate(one)
    assert str(err.value) == "invalid result (1 error(s)): at /run/rank: 'r' is not of type 'integer'"
    ten = mfcc_doc()
    for k in res.MFCC_KEYS:
        ten["scores"][k] = "x"
    ten["run"].update(seed="s", rank="r", world_size="w")
    ten["estimate"]["frames"] = "f"
    assert len(_schema_errors(ten)) == 10
    with pytest.raises(res.ResultValidationError) as err:
        res.validate(ten)
    assert str(err.value) == "invalid result (10 error(s)): " + "; ".join(_schema_errors(ten))
    ten["testset"]["frames"] = "f"  # 11 errors: one more than shown
    lines = _schema_errors(ten)
    with pytest.raises(res.ResultValidationError) as err:
        res.validate(ten)
    assert len(lines) == 11 and str(err.value) == "invalid result (11 error(s)) (+1 more): " + "; ".join(lines[:10])


@pytest.mark.parametrize("what, change, message", [
    ("target", lambda d: d["targets"][0].update(name="drums"), "target 'drums' but task sdr-vocals evaluates 'vocals'"),
    ("joint task", lambda d: d["metric"].update(joint_tasks=["sdr-drums"], joint_targets=["vocals"]),
     "task sdr-vocals is not part of its own joint evaluation"),
    ("joint target", lambda d: d["metric"].update(joint_targets=["drums"]),
     "task sdr-vocals is not part of its own joint evaluation"),
    ("sdr-only", lambda d: d["metric"].update(backend="sdr-only"),
     "backend sdr-only but frames hold ['ISR', 'SAR', 'SDR', 'SIR']"),
    ("frame", lambda d: d["targets"][0]["frames"][1]["metrics"].pop("SAR"), "frame at 1.0 s lacks ['SAR']"),
])
def test_consistency_messages_name_the_file_and_the_field(what, change, message):
    doc = sdr_doc()
    change(doc)
    with pytest.raises(res.ResultValidationError) as err:
        res.validate(doc, "R.json")
    assert str(err.value) == f"R.json: {message}"


def test_sdr_documents_that_are_consistent_pass():
    assert res.validate(sdr_doc(backend="sdr-only")) is not None
    empty = sdr_doc(sdr=())  # a track shorter than one frame: no frames, nothing to check
    assert res.validate(empty) is empty
    mf = mfcc_doc()
    assert res.validate(mf, "M.json") is mf


def test_layout_paths():
    assert res.system_dir("out", "sys") == res.Path("out") / "sys"
    assert res.result_path("out", "sys", "sdr-vocals", "T 0.x") == res.Path("out/sys/sdr-vocals/T 0.x.json")
    for bad in ("a/b", "", ".", ".."):
        with pytest.raises(ValueError) as err:
            res.result_path("out", "sys", "sdr-vocals", bad)
        assert str(err.value) == f"track name {bad!r} cannot be a file name"
    assert res.timing_path("out", "sys") == res.Path("out/sys/timing.json")
    assert res.timing_path("out", "sys", rank=0, world_size=1) == res.Path("out/sys/timing.json")
    assert res.timing_path("out", "sys", rank=3, world_size=4) == res.Path("out/sys/timing.rank3.json")
    assert res.timing_path("out", "sys", rank=0, world_size=2) == res.Path("out/sys/timing.rank0.json")
    assert res.timing_path("out", "sys", world_size=2) == res.Path("out/sys/timing.rank0.json")  # rank 0 by default


def test_iter_result_paths_skips_summaries_timings_and_temporary_files(tmp_path):
    names = ["s/summary.json", "s/timing.json", "s/timing.rank2.json", "s/t/.T0.json.tmp.json", "s/t/T1.json",
             "s/t/T0.json", "s/timing.rankx.json", "s/xtiming.json", "s/t/summary.json.json", "s/t/T2.txt"]
    for n in names:
        (tmp_path / n).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / n).write_text("{}")
    got = [p.relative_to(tmp_path).as_posix() for p in res.iter_result_paths(tmp_path)]
    assert got == ["s/t/T0.json", "s/t/T1.json", "s/t/summary.json.json", "s/timing.rankx.json", "s/xtiming.json"]
    assert [p.relative_to(tmp_path).as_posix() for p in res.iter_result_paths(tmp_path / "s" / "t")] == [
        "s/t/T0.json", "s/t/T1.json", "s/t/summary.json.json"]


def test_read_and_load_results_check_only_when_asked(tmp_path):
    path = res.write_result(tmp_path, mfcc_doc())
    doc = json.loads(path.read_text())
    doc["run"]["rank"] = "r"
    path.write_text(json.dumps(doc))
    assert res.read_result(path, check=False) == doc
    assert res.load_results(tmp_path, check=False) == [doc]
    with pytest.raises(res.ResultValidationError, match=r"at /run/rank"):
        res.load_results(tmp_path)
    with pytest.raises(res.ResultValidationError, match=r"at /run/rank"):
        res.read_result(str(path))
    path.write_bytes(b"\xff\xfe{")
    with pytest.raises(res.ResultValidationError) as err:
        res.read_result(path, check=False)
    assert str(err.value).startswith(f"{path}: not valid JSON (")


def test_resume_key_field_by_field():
    sys_ = {"name": "m", "label": "M", "kind": "model", "fingerprint": "f" * 64, "checkpoint_sha256": "d" * 64}
    doc = copy.deepcopy(sdr_doc(system=sys_, seed=4))  # (the builders share PROV)
    doc["estimate"]["source_sha256"] = "e" * 64
    assert res.resume_key(doc) == {
        "manifest_hash": H, "input_sha256": "b" * 64, "target_sha256": "c" * 64, "task": ["sdr-vocals", 1],
        "track": "T0", "system": ["m", "M", "f" * 64, "d" * 64], "seed": 4,
        "metric": ["bss_eval_v4", "fast", 44100, 44100, ["sdr-vocals", "sdr-drums", "sdr-bass", "sdr-other"], "joint"],
        "model_input": "mixture", "source_sha256": "e" * 64, "schema_version": 1, "preservation": None}
    doc["metric"]["scoring"] = "pair"
    doc["provenance"]["model_input"] = {"signal": "linear_mixture", "sha256": "9" * 64}
    key = res.resume_key(doc)
    assert key["metric"][-1] == "pair" and key["model_input"] == "linear_mixture"
    mf = mfcc_doc(system=sys_, seed=None)
    assert res.resume_key(mf) == {
        "manifest_hash": H, "input_sha256": "b" * 64, "target_sha256": "c" * 64, "task": ["pan-left-vocals", 1],
        "track": "T0", "system": ["m", "M", "f" * 64, "d" * 64], "seed": None,
        "metric": ["rmse_mfcc", "rmse-mfcc", None, None, None], "model_input": None, "source_sha256": None,
        "schema_version": 1, "preservation": [256, 100.0]}


def test_sdr_scoring_and_model_input_defaults():
    doc = copy.deepcopy(sdr_doc())
    assert res.sdr_scoring(doc) == "joint" and res.model_input(doc) == {}
    doc["provenance"]["model_input"] = None
    assert res.model_input(doc) == {}
    doc["metric"]["scoring"] = "pair"
    doc["provenance"]["model_input"] = {"signal": "linear_mixture"}
    assert res.sdr_scoring(doc) == "pair" and res.model_input(doc) == {"signal": "linear_mixture"}
    assert res.comparable({"a": 1, "timing": {}, "b": 2}) == {"a": 1, "b": 2}


def test_base_document_field_by_field():
    task = get_task("sdr-bass")
    entry = SimpleNamespace(input_sha256="1" * 64, target_sha256="2" * 64, frames=77)
    ts = SimpleNamespace(manifest_hash="3" * 64, source="musdb18hq", peak_mode="abs")
    system = {"name": "s", "label": "S", "kind": "model", "fingerprint": "4" * 64, "checkpoint_sha256": None}
    doc = res.base_document(kind="sdr", task=task, track="T", testset=ts, entry=entry, system=system,
                            estimate_sha256="5" * 64, estimate_frames=np.int64(76), source_sha256="6" * 64, seed=2,
                            device=np.str_("cuda:1"), rank=np.int64(1), world_size=np.int64(2),
                            metric={"m": 1}, provenance={"p": 2})
    assert doc == {
        "schema_version": 1, "kind": "sdr", "track": "T",
        "task": {"id": "sdr-bass", "version": task.version, "description": "separate bass", "kind": "sdr",
                 "source": "bass", "museval_target": "bass"},
        "testset": {"manifest_hash": "3" * 64, "input_sha256": "1" * 64, "target_sha256": "2" * 64, "frames": 77,
                    "source": "musdb18hq", "peak_mode": "abs"},
        "system": system,
        "estimate": {"sha256": "5" * 64, "frames": 76, "source_sha256": "6" * 64},
        "run": {"seed": 2, "device": "cuda:1", "rank": 1, "world_size": 2},
        "metric": {"m": 1}, "provenance": {"p": 2}}
    assert doc["system"] is not system  # a copy of a plain dict
    assert all(type(doc["run"][k]) is int for k in ("rank", "world_size")) and type(doc["estimate"]["frames"]) is int
    assert type(doc["run"]["device"]) is str
    described = res.base_document(kind="sdr", task=task, track="T", testset=ts, entry=entry, system=IdentitySystem(),
                                  estimate_sha256="5" * 64, estimate_frames=76, source_sha256=None, seed=None,
                                  device="cpu", rank=0, world_size=1, metric={}, provenance={})
    assert described["system"] == IdentitySystem().describe()


def test_sdr_payload_keeps_one_target_and_maps_non_finite_to_null():
    mj = {"museval_version": "0.4.1", "targets": [
        {"name": "vocals", "frames": [{"time": 0.0, "duration": 1.0,
                                       "metrics": {"SDR": 1, "SIR": None, "SAR": math.nan, "ISR": -math.inf}},
                                      {"time": 1.0, "duration": 0.5,
                                       "metrics": {"SDR": 2.5, "SIR": 3.0, "SAR": 4.0, "ISR": 5.0}}]},
        {"name": "accompaniment", "frames": []}]}
    out = res.sdr_payload(mj, "vocals", np.float32(1.25))
    assert out == {"targets": [{"name": "vocals", "frames": [
        {"time": 0.0, "duration": 1.0, "metrics": {"SDR": 1.0, "SIR": None, "SAR": None, "ISR": None}},
        {"time": 1.0, "duration": 0.5, "metrics": {"SDR": 2.5, "SIR": 3.0, "SAR": 4.0, "ISR": 5.0}}]}],
        "museval_version": "0.4.1", "global_sdr": 1.25}
    assert type(out["targets"][0]["frames"][0]["metrics"]["SDR"]) is float and type(out["global_sdr"]) is float
    for target, targets in (("bass", mj["targets"]), ("vocals", mj["targets"] + mj["targets"][:1])):
        with pytest.raises(ValueError) as err:
            res.sdr_payload({**mj, "targets": targets}, target, 1.0)
        assert str(err.value) == f"museval result has no (single) target {target!r}"
    with pytest.raises(ValueError) as err:
        res.sdr_payload(mj, "vocals", math.nan)
    assert str(err.value) == "global SDR of target 'vocals' is not finite (nan)"


def test_mfcc_payload_messages_and_values():
    scores = {k: i for i, k in enumerate(res.MFCC_KEYS)}
    out = res.mfcc_payload({**scores, "extra": 9.0})
    assert out == {"scores": {k: float(i) for i, k in enumerate(res.MFCC_KEYS)}}
    assert list(out["scores"]) == list(res.MFCC_KEYS) and all(type(v) is float for v in out["scores"].values())
    with pytest.raises(ValueError) as err:
        res.mfcc_payload({k: v for k, v in scores.items() if k not in ("mae_left", "mae")})
    assert str(err.value) == "RMSE-MFCC scores lack ['mae', 'mae_left']"
    with pytest.raises(ValueError) as err:
        res.mfcc_payload({**scores, "mae_right": math.inf})
    assert str(err.value) == "RMSE-MFCC score mae_right is not finite (inf)"
    with pytest.raises(ValueError) as err:
        res.mfcc_payload({**scores, "mfcc_rmse": -math.inf})
    assert str(err.value) == "RMSE-MFCC score mfcc_rmse is not finite (-inf)"


def test_write_result_names_the_file_it_refused(tmp_path):
    doc = copy.deepcopy(mfcc_doc(track="T9"))
    doc["run"]["rank"] = "r"
    with pytest.raises(res.ResultValidationError) as err:
        res.write_result(tmp_path, doc)
    path = tmp_path / "identity" / "pan-left-vocals" / "T9.json"
    assert str(err.value) == f"{path}: invalid result (1 error(s)): at /run/rank: 'r' is not of type 'integer'"
    assert not path.exists()
