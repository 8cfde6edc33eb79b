"""The regression gate (benchmark/gate): cell classification, declared changes, exit codes end to end on a tiny git
repository, the speed comparison on two planted trees, and the golden-vector comparison."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from benchmark.gate import golden
from benchmark.gate import results as gres
from benchmark.gate import speed

ROOT = Path(__file__).resolve().parents[1]
GATE_PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text())["gate"]


def _cell(label, task, metric, value, *, version=1, family=None):
    family = family or ("bss_eval" if metric in ("SDR", "ISR", "SIR", "SAR") else
                        "global_sdr" if metric == "global_SDR" else "rmse_mfcc")
    return {"label": label, "task_id": task, "metric": metric, "value": value, "task_version": version,
            "family": family, "ci_low": None if value is None else value - 1, "ci_high": None if value is None
            else value + 1, "column": task, "kind": "sdr" if family != "rmse_mfcc" else "mfcc"}


def _summary(cells, groups=(), manifest="m1", profile="embedded"):
    return {"profile": profile, "testset": {"manifest_hash": manifest}, "sdr_backend": ["fast"],
            "cells": list(cells), "groups": list(groups), "checkpoints": {}, "fingerprints": {}}


BASE_CELLS = [
    _cell("u7-dme", "sdr-vocals", "SDR", 5.15),
    _cell("u7-dme", "sdr-drums", "SDR", 6.04),
    _cell("u7-dme", "sdr-vocals", "SAR", 7.0),
    _cell("amss-net", "lowpass-drums", "mfcc_rmse", 15.0),
    _cell("amss-net", "lowpass-drums", "mae", 0.040),
    _cell("identity", "sdr-vocals", "SDR", -3.2),
    _cell("identity", "sdr-vocals", "SAR", 195.05),        # numerical floor
    _cell("oracle", "sdr-vocals", "ISR", 204.6),
    _cell("cunet-film", "sdr-vocals", "SDR", None),          # all-NaN cell
]
BASE_GROUPS = [{"label": "u7-dme", "group": "AVG", "metric": "SDR", "family": "bss_eval", "value": 3.70,
                "ci_low": 3.0, "ci_high": 4.0}]


def _policy(**kw):
    return gres.policy_from_params(GATE_PARAMS, **kw)


def _compare(head_cells, head_groups=BASE_GROUPS, **kw):
    pol = _policy(allow=tuple(kw.pop("allow", ())))
    return gres.compare(_summary(BASE_CELLS, BASE_GROUPS), _summary(head_cells, head_groups, **kw), pol)


def _status(comp, key):
    return next(c for c in comp.cells if c.key == key)


def _replace(label, task, metric, value, cells=BASE_CELLS):
    out = copy.deepcopy(cells)
    for c in out:
        if (c["label"], c["task_id"], c["metric"]) == (label, task, metric):
            c["value"] = value
    return out


# ------------------------------------------------------------------------------------------------ classification
def test_identical_documents_pass_with_floor_cells_not_compared():
    comp = _compare(BASE_CELLS)
    assert not comp.fails
    assert _status(comp, "identity/sdr-vocals/SAR").status == "floor"
    assert _status(comp, "oracle/sdr-vocals/ISR").status == "floor"
    assert _status(comp, "cunet-film/sdr-vocals/SDR").status == "unchanged"
    assert comp.counts()["unchanged"] == len(BASE_CELLS) + len(BASE_GROUPS) - 2


@pytest.mark.parametrize("new, status", [(5.15 - 0.51, "regressed"), (5.15 - 0.49, "within tolerance"),
                                         (5.15 + 0.49, "within tolerance"), (5.15 + 0.51, "improved")])
def test_sdr_cell_direction_and_tolerance(new, status):
    comp = _compare(_replace("u7-dme", "sdr-vocals", "SDR", new))
    cell = _status(comp, "u7-dme/sdr-vocals/SDR")
    assert cell.status == status
    assert comp.fails == (status == "regressed")
    assert cell.delta == pytest.approx(new - 5.15)


@pytest.mark.parametrize("metric, base, worse, better", [("mfcc_rmse", 15.0, 15.6, 14.4),
                                                         ("mae", 0.040, 0.040 * 1.04, 0.040 * 0.96)])
def test_lower_is_better_metrics(metric, base, worse, better):
    assert _status(_compare(_replace("amss-net", "lowpass-drums", metric, worse)),
                   f"amss-net/lowpass-drums/{metric}").status == "regressed"
    assert _status(_compare(_replace("amss-net", "lowpass-drums", metric, better)),
                   f"amss-net/lowpass-drums/{metric}").status == "improved"


def test_group_rows_have_tighter_tolerance():
    groups = copy.deepcopy(BASE_GROUPS)
    groups[0]["value"] = 3.70 - 0.3     # within the cell tolerance (0.5), beyond the AVG one (0.25)
    comp = _compare(BASE_CELLS, groups)
    assert _status(comp, "u7-dme/AVG/SDR").status == "regressed" and comp.fails


def test_baseline_moves_fail_in_either_direction():
    for v in (-3.2 + 1e-6, -3.2 + 0.3):
        comp = _compare(_replace("identity", "sdr-vocals", "SDR", v))
        assert _status(comp, "identity/sdr-vocals/SDR").status == "moved"
        assert comp.fails


def test_floor_cells_move_freely_but_must_stay_at_the_floor():
    assert not _compare(_replace("identity", "sdr-vocals", "SAR", 206.0)).fails   # 11 dB of rounding noise
    comp = _compare(_replace("oracle", "sdr-vocals", "ISR", 40.0))
    assert _status(comp, "oracle/sdr-vocals/ISR").status == "regressed" and comp.fails


def test_nan_transitions():
    assert _status(_compare(_replace("u7-dme", "sdr-vocals", "SDR", None)), "u7-dme/sdr-vocals/SDR").status == "regressed"
    assert _status(_compare(_replace("cunet-film", "sdr-vocals", "SDR", 1.0)),
                   "cunet-film/sdr-vocals/SDR").status == "improved"


def test_missing_cell_and_missing_system_fail_new_passes():
    cells = [c for c in BASE_CELLS if c["label"] != "u7-dme"]
    comp = _compare(cells, [])
    assert "u7-dme" in comp.systems_missing and comp.fails
    assert {c.status for c in comp.cells if c.system == "u7-dme"} == {"missing"}
    comp = _compare(BASE_CELLS + [_cell("new-model", "sdr-vocals", "SDR", 1.0)])
    assert not comp.fails and comp.systems_new == ["new-model"]


def test_declared_changes_pass_and_are_listed():
    comp = _compare(_replace("u7-dme", "sdr-vocals", "SDR", 3.0), allow=["regressed:u7-dme/*"])
    cell = _status(comp, "u7-dme/sdr-vocals/SDR")
    assert cell.status == "regressed" and cell.declared == "regressed:u7-dme/*" and not comp.fails
    # a pattern for another system declares nothing
    assert _compare(_replace("u7-dme", "sdr-vocals", "SDR", 3.0), allow=["regressed:u9l-*/*"]).fails


def test_manifest_change_fails_unless_declared_or_versioned():
    comp = _compare(BASE_CELLS, manifest="m2")
    assert comp.fails and comp.document_issues[0]["kind"] == "testset"
    assert not _compare(BASE_CELLS, manifest="m2", allow=["testset"]).fails
    bumped = copy.deepcopy(BASE_CELLS)
    for c in bumped:
        if c["task_id"] == "sdr-vocals" and c["label"] == "u7-dme":
            c["task_version"] = 2
            c["value"] = 0.0       # a redefined task is not compared with its old version
    comp = _compare(bumped, manifest="m2")
    assert not comp.fails
    assert _status(comp, "u7-dme/sdr-vocals/SDR").status == "redefined"


def test_scoring_change_fails_unless_declared():
    """The dedicated models' SDR scoring (joint -> pair) changes what their cells mean; a summary without
    sdr_scoring (= joint) and compares cleanly with one that says joint."""
    pol = _policy()
    base = _summary(BASE_CELLS, BASE_GROUPS)
    joint = {**_summary(BASE_CELLS, BASE_GROUPS), "sdr_scoring": ["joint"]}
    assert not gres.compare(base, joint, pol).fails
    head = {**_summary(BASE_CELLS, BASE_GROUPS), "sdr_scoring": ["joint", "pair"]}
    comp = gres.compare(base, head, pol)
    assert comp.fails and "SDR scoring changed" in comp.document_issues[0]["message"]
    assert not gres.compare(base, head, _policy(allow=("backend",))).fails


def test_profiles_must_match():
    with pytest.raises(gres.CompareError, match="profiles differ"):
        gres.compare(_summary(BASE_CELLS), _summary(BASE_CELLS, profile="paper"), _policy())


@pytest.mark.parametrize("bad, match", [({"tolerance": {"cell": {"SDR": -1}, "group": {}}}, "non-negative"),
                                        ({"tolerance": {"cell": {"PESQ": 1}, "group": {}}}, "unknown metric"),
                                        ({"tolerance": {"cell": {}}}, "'cell' and 'group'"),
                                        ({"tolerance": {"cell": {"SDR": {"abs": 1, "x": 2}}, "group": {}}}, "expected")])
def test_bad_policy_names_the_field(bad, match):
    with pytest.raises(gres.CompareError, match=match):
        gres.policy_from_params(bad)


def test_metric_without_tolerance_is_an_error_not_a_pass():
    pol = gres.policy_from_params({"tolerance": {"cell": {}, "group": {}}})
    with pytest.raises(gres.CompareError, match="no tolerance for metric 'SDR'"):
        gres.compare(_summary(BASE_CELLS[:1]), _summary(_replace("u7-dme", "sdr-vocals", "SDR", 1.0)[:1]), pol)


def test_committed_summary_compares_with_itself():
    doc = json.loads((ROOT / "reports" / "embedded" / "summary.json").read_text())
    comp = gres.compare(doc, doc, _policy())
    assert not comp.fails and comp.counts()["floor"] > 0 and comp.counts()["unchanged"] > 1000


# ------------------------------------------------------------------------------------------- end to end (git)
def _git(repo, *args):
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True,
                   env={**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
                        "GIT_COMMITTER_EMAIL": "t@t"})


def _gate(repo, *args, same_numerics=True):
    """The gate in ``repo``; these repositories have no numerics probe, so the base is declared computed with this
    machine's numerics unless ``same_numerics`` is False."""
    extra = ["--same-numerics"] if same_numerics else []
    proc = subprocess.run([sys.executable, "-m", "benchmark.cli", "-q", "gate", "--no-golden", "--no-speed",
                           "--out", str(repo / "out"), *extra, *args], cwd=repo, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    report = (repo / "out" / "gate.json")
    return proc.returncode, (json.loads(report.read_text()) if report.is_file() else None), proc


@pytest.fixture()
def repo(tmp_path):
    repo = tmp_path / "repo"
    (repo / "reports" / "embedded").mkdir(parents=True)
    (repo / "params.yaml").write_text(yaml.safe_dump({"profile": "embedded", "gate": GATE_PARAMS}))
    (repo / "reports" / "embedded" / "summary.json").write_text(json.dumps(_summary(BASE_CELLS, BASE_GROUPS)))
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "base")
    return repo


def _commit_head(repo, cells, groups=BASE_GROUPS, **kw):
    (repo / "reports" / "embedded" / "summary.json").write_text(json.dumps(_summary(cells, groups, **kw)))
    _git(repo, "commit", "-qam", "head")


def test_end_to_end_regression_fails_with_the_cell_named(repo):
    _commit_head(repo, _replace("u7-dme", "sdr-drums", "SDR", 4.0))
    code, doc, proc = _gate(repo, "--base", "HEAD~1")
    assert code == 1, proc.stderr
    assert [c["key"] for c in doc["results"]["cells"] if c["fails"]] == ["u7-dme/sdr-drums/SDR"]
    md = (repo / "out" / "gate.md").read_text()
    assert "FAIL" in md and "u7-dme" in md and "sdr-drums" in md
    assert doc["results"]["mode"] == "committed base (this machine reproduces the pinned numerics)"


def test_a_base_on_other_numerics_is_not_compared_but_refused_with_what_to_do(repo):
    """Without a matching numerics probe the committed base is not compared under any tolerance (an unchanged
    commit retrained on other numerics moves by whole dB): exit 2, naming --recompute-base."""
    _commit_head(repo, _replace("u7-dme", "sdr-drums", "SDR", 7.5))
    code, doc, proc = _gate(repo, "--base", "HEAD~1", same_numerics=False)
    assert code == 2, proc.stdout + proc.stderr
    text = " ".join(doc["could_not_compare"])
    assert "other numerics" in text and "no tests/data/numerics_probe.json" in text and "--recompute-base" in text
    assert doc["results"]["mode"] == "not run"


def test_end_to_end_improvement_passes(repo):
    _commit_head(repo, _replace("u7-dme", "sdr-drums", "SDR", 7.5))
    code, doc, proc = _gate(repo, "--base", "HEAD~1")
    assert code == 0, proc.stdout + proc.stderr
    assert doc["results"]["counts"]["improved"] == 1
    assert "PASS" in (repo / "out" / "gate.md").read_text()


def test_end_to_end_removed_cell_fails(repo):
    _commit_head(repo, [c for c in BASE_CELLS if not (c["label"] == "amss-net" and c["metric"] == "mae")])
    code, doc, _ = _gate(repo, "--base", "HEAD~1")
    assert code == 1
    assert [c["key"] for c in doc["results"]["cells"] if c["fails"]] == ["amss-net/lowpass-drums/mae"]


def test_end_to_end_manifest_change_fails_unless_declared(repo):
    _commit_head(repo, BASE_CELLS, manifest="other")
    code, doc, _ = _gate(repo, "--base", "HEAD~1")
    assert code == 1 and doc["results"]["document"][0]["kind"] == "testset"
    code, doc, _ = _gate(repo, "--base", "HEAD~1", "--allow", "testset")
    assert code == 0 and doc["results"]["document"][0]["declared"] == "testset"


def test_end_to_end_default_base_is_the_merge_base_with_main(repo):
    _git(repo, "checkout", "-qb", "feature")
    _commit_head(repo, _replace("u7-dme", "sdr-drums", "SDR", 4.0))
    code, doc, _ = _gate(repo)
    assert code == 1 and doc["base"]["rev"].startswith("merge-base")


def test_end_to_end_cannot_compare_exits_2(repo, tmp_path):
    code, _, proc = _gate(repo, "--base", "no-such-rev")
    assert code == 2 and "no-such-rev" in proc.stderr
    (repo / "reports" / "embedded" / "summary.json").unlink()
    code, doc, proc = _gate(repo, "--base", "HEAD")
    assert code == 2 and "run `make repro`" in " ".join(doc["could_not_compare"])
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "params.yaml").write_text("profile: embedded\n")
    code, _, proc = _gate(plain, "--base", "HEAD")
    assert code == 2 and "not inside a git repository" in proc.stderr


# ---------------------------------------------------------------------------------------------------- speed
CASES = '''
import pytest
@pytest.mark.parametrize("n", [1])
def test_work(benchmark, n):
    import work
    benchmark.pedantic(work.run, rounds=3, iterations=1)
def test_new_api(benchmark):
    import work
    benchmark.pedantic(work.new_api, rounds=2, iterations=1)
'''


def _tree(path: Path, body: str) -> Path:
    path.mkdir(parents=True)
    (path / "work.py").write_text("import time\n" + body)
    return path


def test_speed_flags_a_planted_slowdown_and_a_case_the_head_breaks(tmp_path):
    base = _tree(tmp_path / "base", "def run():\n    time.sleep(0.01)\n")
    head = _tree(tmp_path / "head", "def run():\n    time.sleep(0.06)\n\ndef new_api():\n    pass\n")
    cases_file = tmp_path / "cases.py"
    cases_file.write_text(CASES)
    result = {c.name: c for c in speed.compare(base, head, tmp_path / "work", rounds=2, threshold=1.25,
                                               cases_file=cases_file)}
    slow = result["test_work[1]"]
    assert slow.status == "slower" and slow.fails and slow.ratio > 3 and len(slow.ratios) == 2
    assert result["test_new_api"].status == "not comparable" and not result["test_new_api"].fails
    # the same trees the other way round: faster, and the head now lacks the case → that fails
    result = {c.name: c for c in speed.compare(head, base, tmp_path / "work2", rounds=2, threshold=1.25,
                                               cases_file=cases_file)}
    assert result["test_work[1]"].status == "faster"
    assert result["test_new_api"].fails


def test_speed_cases_run_against_this_tree(tmp_path):
    """The gate's own cases (one of each kind) run on the working tree, in a subprocess as the gate runs them."""
    work = tmp_path / "w"
    work.mkdir()
    case_file = work / "test_gate_speed_cases.py"
    text = speed.CASES_FILE.read_text()
    assert "ROUNDS = 7" in text and "BSS_SECONDS = 150.0" in text
    case_file.write_text(text.replace("ROUNDS = 7", "ROUNDS = 1")
                         .replace("BSS_SECONDS = 150.0", "BSS_SECONDS = 5.0"))
    times, errors = speed.run_side(ROOT, case_file, work / "out.json", select="u7-dme or bss or lowpass")
    assert not errors, errors
    assert {"test_speed_bss_fast", "test_speed_forward[u7-dme]", "test_speed_train_step[u7-dme]",
            "test_speed_pair[lowpass-drums]"} <= set(times)
    assert all(t > 0 for t in times.values())


# --------------------------------------------------------------------------------------------------- golden
def test_golden_compare_flags_real_changes_only():
    rec = golden.fingerprint("u7-dme", "embedded")
    assert golden.compare_one("k", rec, copy.deepcopy(rec)) is None
    jitter = copy.deepcopy(rec)
    scale = max(max(r) for r in rec["rms"])
    jitter["samples"] = [v + 0.2 * golden.OUTPUT_RTOL * scale for v in rec["samples"]]
    assert golden.compare_one("k", rec, jitter) is None          # rounding-level moves pass
    moved = copy.deepcopy(rec)
    moved["samples"][5] += 10 * golden.OUTPUT_RTOL * scale
    assert "output moved" in golden.compare_one("k", rec, moved).reasons[0]
    other_seed = copy.deepcopy(rec)
    other_seed["param_sums"][1] *= 1.001
    assert "initial parameters" in golden.compare_one("k", rec, other_seed).reasons[0]
    changes = golden.compare({"a@embedded": rec}, {"b@embedded": rec})
    assert [(c.key, c.status) for c in changes] == [("a@embedded", "removed"), ("b@embedded", "new")]


def test_golden_catches_a_changed_layer(monkeypatch):
    """A one-layer change (a conv's weights scaled by 1 %) moves the output far beyond the tolerance."""
    from models import registry

    rec = golden.fingerprint("cunet-gpocm", "embedded")
    create = registry.create

    def planted(*a, **kw):
        m = create(*a, **kw)
        conv = next(mod for mod in m.modules() if isinstance(mod, __import__("torch").nn.Conv2d))
        with __import__("torch").no_grad():
            conv.weight.mul_(1.01)
        return m

    monkeypatch.setattr(registry, "create", planted)
    changed = golden.compare_one("cunet-gpocm@embedded", rec, golden.fingerprint("cunet-gpocm", "embedded"))
    assert changed is not None and "output moved" in " ".join(changed.reasons)


# ------------------------------------------------------------------------------- recompute the base (DVC remote)
MAKE_SUMMARY = '''
import json, pathlib, sys
value = float(pathlib.Path("value.txt").read_text())
with open(sys.argv[1], "a") as log:
    log.write("ran\\n")
cells = [{"label": "u7-dme", "task_id": "sdr-vocals", "metric": "SDR", "value": value, "task_version": 1,
          "family": "bss_eval", "ci_low": value - 1, "ci_high": value + 1}]
out = pathlib.Path("reports/embedded/summary.json")
out.parent.mkdir(parents=True, exist_ok=True)
out.write_text(json.dumps({"profile": "embedded", "testset": {"manifest_hash": "m"}, "sdr_backend": ["fast"],
                           "cells": cells, "groups": []}))
'''


def _dvc(repo, *args):
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    proc = subprocess.run([str(Path(sys.executable).with_name("dvc")), *args], cwd=repo, capture_output=True,
                          text=True, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


@pytest.mark.slow
def test_recompute_base_pulls_unchanged_outputs_from_a_local_dvc_remote(tmp_path):
    """--recompute-base: a worktree of the base, `dvc pull` from the (local-directory) remote restores what the base
    computed, `dvc repro` reruns nothing; the comparison is then like with like on this machine."""
    repo, remote, runs = tmp_path / "repo", tmp_path / "remote", tmp_path / "runs.log"
    repo.mkdir()
    (repo / "make_summary.py").write_text(MAKE_SUMMARY)
    (repo / "value.txt").write_text("5.0")
    (repo / "params.yaml").write_text(yaml.safe_dump({"profile": "embedded", "gate": GATE_PARAMS}))
    (repo / "dvc.yaml").write_text(yaml.safe_dump({"stages": {"report": {
        "cmd": f"python make_summary.py {runs}", "deps": ["make_summary.py", "value.txt"],
        "outs": ["reports/embedded/summary.json"]}}}))
    _git(repo, "init", "-q", "-b", "main")
    _dvc(repo, "init", "-q")
    _dvc(repo, "remote", "add", "-d", "local", str(remote))
    _dvc(repo, "repro", "-q")
    _dvc(repo, "push", "-q")
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "base")
    (repo / "value.txt").write_text("4.0")            # the change under test: a regression of 1 dB
    _dvc(repo, "repro", "-q")
    assert runs.read_text().count("ran") == 2
    code, doc, proc = _gate(repo, "--base", "HEAD", "--recompute-base")
    assert code == 1, proc.stdout + proc.stderr
    assert doc["results"]["mode"].startswith("recomputed base")
    cell = next(c for c in doc["results"]["cells"] if c["key"] == "u7-dme/sdr-vocals/SDR")
    assert (cell["base"], cell["head"], cell["status"]) == (5.0, 4.0, "regressed")
    assert runs.read_text().count("ran") == 2        # the base came from the remote, not from a rerun
    assert not (repo / ".gate" / f"base-{doc['base']['commit'][:12]}").exists()   # worktree removed
    (repo / "value.txt").write_text("3.0")            # results no longer match the code: the gate refuses
    code, doc, proc = _gate(repo, "--base", "HEAD")
    assert code == 2 and "stale" in " ".join(doc["could_not_compare"])


def test_ci_workflow_runs_the_local_commands():
    """The PR workflow is `make repro` then `make gate BASE=<base>`: the same commands a maintainer runs locally."""
    wf = yaml.safe_load((ROOT / ".github" / "workflows" / "pr-gate.yml").read_text())
    triggers = wf.get("on", wf.get(True))   # YAML 1.1 reads the key `on` as True
    assert "pull_request" in triggers
    runs = [s.get("run", "") for s in wf["jobs"]["gate"]["steps"]]
    i_repro = next(i for i, r in enumerate(runs) if r.strip() == "make repro")
    i_gate = next(i for i, r in enumerate(runs) if "make gate BASE=${{ github.event.pull_request.base.sha }}" in r)
    assert i_repro < i_gate
    assert any("gh pr comment" in r and ".gate/report/gate.md" in r for r in runs)
    makefile = (ROOT / "Makefile").read_text()
    assert "amss-bench gate $(if $(BASE),--base $(BASE))" in makefile


def test_golden_catches_a_batchnorm_order_bug(monkeypatch):
    """ReLU before BatchNorm instead of after: invisible in eval mode at initialisation (BatchNorm is the identity
    there), caught by the batch-statistics pass."""
    import torch

    from models import registry

    rec = golden.fingerprint("u7-dme", "embedded")
    create = registry.create

    def planted(*a, **kw):
        m = create(*a, **kw)
        for mod in m.modules():
            kids = list(mod.children()) if isinstance(mod, torch.nn.Sequential) else []
            for i in range(len(kids) - 1):
                if isinstance(kids[i], torch.nn.BatchNorm2d) and isinstance(kids[i + 1], torch.nn.ReLU):
                    mod[i], mod[i + 1] = kids[i + 1], kids[i]
                    return m
        raise AssertionError("no BatchNorm2d → ReLU pair to plant the bug in")

    monkeypatch.setattr(registry, "create", planted)
    changed = golden.compare_one("u7-dme@embedded", rec, golden.fingerprint("u7-dme", "embedded"))
    assert changed is not None
    assert any(r.startswith("batch-statistics output moved") for r in changed.reasons), changed.reasons
    assert not any(r.startswith("eval-mode output moved") for r in changed.reasons)   # why the second pass exists


def test_bad_speed_settings_exit_2_and_leave_no_worktree(repo):
    proc = subprocess.run([sys.executable, "-m", "benchmark.cli", "-q", "gate", "--base", "HEAD", "--no-golden",
                           "--no-results", "--threshold", "1.0", "--out", str(repo / "out")], cwd=repo,
                          capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 2 and "threshold > 1" in proc.stderr
    assert not list((repo / ".gate").glob("base-*"))


def test_update_golden_rewrites_the_file_and_names_the_changes(repo, monkeypatch, capsys):
    """`amss-bench gate --update-golden` (fingerprints stubbed: the real ones are tests/test_golden_vectors.py's)."""
    from benchmark import cli
    from benchmark.gate import GOLDEN_FILE

    rec = {"params": 1, "layout_sha256": "x", "param_sums": [1.0, 1.0], "queries": [], "input_samples": 4,
           "shape": [1, 2, 4], "rms": [[1.0, 1.0]], "samples": [0.5], "train_rms": [[1.0, 1.0]], "train_samples": [0.5]}
    golden.write(repo / GOLDEN_FILE, {"m@embedded": rec}, {})
    moved = dict(rec, samples=[0.9])
    monkeypatch.setattr(golden, "compute_all", lambda progress=None: ({"m@embedded": moved, "n@paper": rec}, {}))
    monkeypatch.chdir(repo)
    assert cli.main(["-q", "gate", "--update-golden"]) == 0
    out = capsys.readouterr().out
    assert "2 changed: m@embedded, n@paper" in out
    assert golden.load(repo / GOLDEN_FILE)["models"] == {"m@embedded": moved, "n@paper": rec}


def test_other_separators_are_gated_cell_by_cell_with_the_model_tolerances():
    """The spatial separators and the survey's separators are compared like the thesis models: SDR cells within
    gate.tolerance.cell pass, beyond it they regress, and a separator that is no longer evaluated is missing."""
    from benchmark.reporting.tables import other_systems

    others = [s for s in ("duet", "demucs-v2") if s in other_systems()]
    assert others == ["duet", "demucs-v2"]
    base = [_cell(s, "sdr-vocals", "SDR", 2.0) for s in others] + [_cell("umx", "sdr-bass", "SDR", 1.0)]
    head = [_cell("duet", "sdr-vocals", "SDR", 2.0 - 0.3), _cell("demucs-v2", "sdr-vocals", "SDR", 2.0 - 0.6)]
    comp = gres.compare(_summary(base), _summary(head), _policy())
    by = {c.key: c for c in comp.cells}
    assert by["duet/sdr-vocals/SDR"].status == "within tolerance"
    assert by["duet/sdr-vocals/SDR"].tolerance == GATE_PARAMS["tolerance"]["cell"]["SDR"]
    assert by["demucs-v2/sdr-vocals/SDR"].status == "regressed"
    assert by["umx/sdr-bass/SDR"].status == "missing"
    assert comp.fails
