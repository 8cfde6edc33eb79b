"""The property tasks (drift, level control) of leaderboard code submissions, through the sandboxed worker
(benchmark/leaderboard/properties.py): the example entry gets the numbers of the dsp-mixture baseline run directly;
a submission that breaks on a property query gets an error naming the task, its query and k while everything
already computed stays; estimates entries are recorded as not supported. ``AMSS_REQUIRE_SANDBOX=bwrap`` turns the
skip where no sandbox works into a failure (tests/test_leaderboard_sandbox.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from benchmark.leaderboard import entries as E
from benchmark.leaderboard import properties as LP
from benchmark.leaderboard import sandbox
from benchmark.leaderboard.board import build as build_board
from benchmark.task.testset import TestSet, build
from sandbox_backend import backend_or_skip

REPO = Path(__file__).resolve().parents[1]
EDIT_TASKS = ("pan-left-vocals", "lowpass-bass")
#: tiny property settings: the loop, not the signal length, is what is checked
PROPS = {"k": 3, "k_others": 2, "segment_seconds": 1.0, "tracks": 1}
PARAMS = {"evaluate": {"backend": "sdr-only", "workers": 1}, "properties": PROPS,
          "leaderboard": {"code": {"time_limit_s_per_track": 120, "memory_limit_mb": 8192}}}


@pytest.fixture(scope="module")
def backend() -> str:
    return backend_or_skip()


@pytest.fixture(scope="module")
def ts(tiny_root, tmp_path_factory) -> TestSet:
    from benchmark.task.tasks import get_task

    out = tmp_path_factory.mktemp("lbp-testset")  # two edit tasks: the entry's own scoring kept short
    build(tiny_root, out, tasks=tuple(get_task(t) for t in EDIT_TASKS), progress=False)
    return TestSet.open(out)


def meta(ts, tmp_path, name, tasks, **over) -> Path:
    doc = {"name": name, "authors": ["A. Person"], "contact": "a@example.org", "description": "test entry",
           "url": None, "parameters": None, "training_data": "none", "oracle": False,
           "manifest_hash": ts.manifest_hash, "licence": "MIT", "tasks": tasks, **over}
    p = tmp_path / f"{name}.yaml"
    p.write_text(yaml.safe_dump(doc))
    return p


def board(ts, tmp_path, subs: Path) -> tuple[str, dict]:
    """The leaderboard of the entries under ``subs`` (their recorded properties; the scores are not recomputed
    here, tests/test_leaderboard.py does that)."""
    (tmp_path / "summary.json").write_text(json.dumps({"labels": [], "sdr_backend": ["sdr-only"]}))
    entries = []
    for d in E.list_entries(subs):
        entry = json.loads((d / "entry.json").read_text())
        entries.append({"entry": entry, "meta": yaml.safe_load((d / "submission.yaml").read_text()),
                        "problem": "not rescored in this test", "properties": E.stored_properties(d, entry)})
    doc = build_board(summary_path=tmp_path / "summary.json", entries=entries, testset=ts, out=tmp_path / "board",
                      profile="embedded")
    return (tmp_path / "board" / "leaderboard.md").read_text(), doc


def test_example_entry_gets_property_rows_equal_to_the_baseline(backend, ts, tmp_path):
    """The example code entry (the dsp-mixture baseline through the sandbox) answers every property query; its
    stored property results equal those of the baseline run directly, and the property tables show it."""
    from baselines.dsp_mixture import DSPMixtureSystem
    from benchmark.scoring.evaluate import _provenance
    from benchmark.scoring.properties import evaluate_properties

    entry = REPO / "submissions" / "example-dsp-mixture"
    spec = yaml.safe_load((entry / "submission.yaml").read_text())["system"]
    subs = tmp_path / "subs"
    dest = E.submit(meta_path=meta(ts, tmp_path, "example", "mfcc"), testset=ts, submissions=subs, params=PARAMS,
                    system=spec, system_path=entry / "code")
    rec = json.loads((dest / "entry.json").read_text())
    assert rec["properties"] == {"status": "ok", "errors": 0, "file": "properties.json"}
    got = json.loads((dest / "properties.json").read_text())
    assert got["errors"] == [] and got["provenance"] == _provenance()
    direct = evaluate_properties(DSPMixtureSystem(), ts, k_max=3, k_others=2, segment_seconds=1.0,
                                 tracks=ts.tracks()[:1])
    for tid, d in direct["properties"]["drift"]["tasks"].items():
        assert got["properties"]["drift"]["tasks"][tid]["curve"] == d["curve"], tid
    assert got["properties"]["drift"]["tasks"]["drift-highpass-drums"]["k_max"] == 3
    assert got["properties"]["control"]["cases"] == direct["properties"]["control"]["cases"]
    assert got["properties"]["control"]["summary"] == direct["properties"]["control"]["summary"]
    md, doc = board(ts, tmp_path, subs)
    row = next(r for r in doc["entries"] if r["name"] == "example")
    assert row["properties"]["drift_auc"] == direct["properties"]["drift"]["summary"]["drift_auc"]
    assert "## Progressive manipulation (drift)" in md and "## Effect-level control" in md
    assert md.count("| example | submission | ") == 4  # SDR, manipulation (unscored here) and the two property tables
    assert row["rank"] == {"SDR_AVG": None, "RMSE_MFCC_all": None}  # properties never rank


HOSTILE = '''
import numpy as np

from baselines.dsp_mixture import DSPMixtureSystem


class Hostile(DSPMixtureSystem):
    """dsp-mixture, except: NaN at the 2nd application of the drift highpass, a wrong shape for the medium lowpass on
    bass. The catalogue tasks are answered normally (the entry's scores must stand)."""

    def __init__(self):
        super().__init__("hostile")
        self.seen = {}

    def estimate(self, task, pair, *, track=None):
        assert pair.target is None  # a property query never carries its ground truth
        self.seen[task.id] = self.seen.get(task.id, 0) + 1
        if task.id == "drift-highpass-drums" and self.seen[task.id] == 2:
            return np.full(pair.input.shape, np.nan, dtype=np.float32)
        if task.id == "control-lowpass-bass-medium":
            return np.asarray(pair.input)[:10]
        return super().estimate(task, pair, track=track)


def make():
    return Hostile()
'''


def test_broken_property_answers_are_named_and_nothing_is_lost(backend, ts, tmp_path):
    code = tmp_path / "code"
    code.mkdir()
    (code / "lbp_hostile.py").write_text(HOSTILE)
    subs = tmp_path / "subs"
    dest = E.submit(meta_path=meta(ts, tmp_path, "hostile", "mfcc"), testset=ts, submissions=subs, params=PARAMS,
                    system="lbp_hostile:make", system_path=code)
    rec = json.loads((dest / "entry.json").read_text())
    assert rec["scores_at_acceptance"]["mfcc_rmse_vocals"] is not None  # the entry's own scores stand
    assert rec["properties"]["status"] == "failed" and rec["properties"]["errors"] == 2
    doc = json.loads((dest / "properties.json").read_text())
    (nan,), (shape,) = ([e for e in doc["errors"] if e["task"] == t]
                        for t in ("drift-highpass-drums", "control-lowpass-bass-medium"))
    assert nan["k"] == 2 and nan["query"] == "apply highpass to drums" and "k=2" in nan["message"]
    assert "NaN" in nan["message"] and "'apply highpass to drums'" in nan["message"]
    assert shape["level"] == "medium" and "estimate of shape (10, 2)" in shape["message"]
    assert "'apply medium lowpass to bass'" in shape["message"]
    drift = doc["properties"]["drift"]
    track = ts.tracks()[0]
    failed = drift["tasks"]["drift-highpass-drums"]["per_track"][track]
    assert failed["failed_at_k"] == 2 and len(failed["mfcc_rmse"]) == 1  # k = 1 was scored and is kept
    assert len(drift["tasks"]["drift-lowpass-bass"]["curve"]["mfcc_rmse"]) == 2  # the other tasks ran to the end
    assert drift["summary"]["drift_auc"] is None and drift["summary"]["failed"] == ["drift-highpass-drums"]
    control = doc["properties"]["control"]
    assert len(control["cases"]) == 5 and control["failed_cases"] == [
        {"track": track, "operation": "lowpass", "source": "bass", "level": "medium"}]
    assert control["summary"]["control_order"] is None
    md, _ = board(ts, tmp_path, subs)
    assert "| hostile | submission | failed | failed | failed |" in md
    assert "2 failed application(s)" in md


def test_estimates_and_oracle_entries_are_not_supported():
    """Recorded with the reason and shown in the property tables; nothing is run (an estimates submission end to
    end: tests/test_leaderboard.py::test_cli_submit_and_build)."""
    from benchmark.leaderboard.board import _property_lines, submission_properties

    assert LP.status("estimates", "all", False) == {"status": "not supported", "reason": LP.ESTIMATES_REASON}
    assert LP.status("code", "all", True) == {"status": "not supported", "reason": LP.ORACLE_REASON}
    assert LP.status("code", "sdr", False) == {"status": "not run", "reason": LP.NO_EDIT_REASON}
    assert LP.status("code", "mfcc", False) == {"status": "run"}
    rows = [{"name": "est", "type": "submission", **submission_properties(LP.status("estimates", "all", False))},
            {"name": "orc", "type": "submission", **submission_properties(LP.status("code", "all", True))}]
    lines = "\n".join(_property_lines(rows))
    assert lines.count("| est | submission | not supported | not supported | not supported |") == 1  # drift
    assert lines.count("| orc | submission | not supported | not supported |") == 2  # and control (2 columns)
    assert "* est: an estimates entry holds precomputed audio" in lines and "* orc: the system reads" in lines


def test_property_task_ids_resolve_inside_the_shim():
    from benchmark.task import properties as P

    ids = P.property_task_ids()
    assert len(ids) == len(P.DRIFT_TASKS) + 3 * len(P.control_cases())
    assert all(P.get_property_task(i).id == i and P.get_property_task(i).table == "property" for i in ids)
    assert P.get_property_task("control-highpass-drums-light").description == "apply light highpass to drums"
    with pytest.raises(KeyError, match="unknown property task 'control-pan-drums-light'"):
        P.get_property_task("control-pan-drums-light")
    assert "benchmark.task.properties" in sandbox.SHIM


PEEK = '''
import numpy as np


class Peek:
    uses_target = True  # an oracle: gets the target of a catalogue task

    def estimate(self, task, pair, *, track=None):
        return np.zeros_like(pair.input) if pair.target is None else np.asarray(pair.target)


def make():
    return Peek()
'''


def test_a_property_query_never_carries_its_ground_truth(backend, ts, tmp_path):
    """Even to a system that declares ``uses_target`` (whose property tasks the suite does not run at all), the
    worker receives no target in a property frame; a catalogue task's target still arrives."""
    from benchmark.leaderboard.code import CodeSystem
    from benchmark.task import dsp
    from benchmark.task import properties as P
    from benchmark.task.tasks import get_task

    (tmp_path / "lbp_peek.py").write_text(PEEK)
    cs = CodeSystem("lbp_peek:make", "peek", search_path=tmp_path, time_limit_s_per_track=60)
    x = np.full((64, 2), 0.25, dtype=np.float32)
    target = np.full((64, 2), 0.5, dtype=np.float32)
    try:
        cs.start()
        task = P.get_property_task("drift-highpass-drums")
        assert np.array_equal(cs.estimate(task, dsp.Pair(x, target, task.query), track="t"), np.zeros_like(x))
        sdr = get_task("sdr-vocals")
        assert np.array_equal(cs.estimate(sdr, dsp.Pair(x, target, sdr.query), track="t"), target)
        assert cs.unsupported([task]) == [] and cs.supports(task)
    finally:
        cs.stop()
    assert not cs.errors, cs.errors
