"""The mutation-testing tooling of ``make mutation`` (tests/mutation/, docs/testing.md): the score arithmetic, the list
of equivalent mutants, the runner's options and the child environment, and the fresh-imports plugin's cache reset."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"_mutation_{name}", ROOT / "tests" / "mutation" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def run():
    return _load("run")


def test_every_module_names_existing_files_and_tests(run):
    for module, (files, tests) in run.MODULES.items():
        for pattern in files:
            assert list(ROOT.glob(pattern)), f"{module}: nothing matches {pattern}"
        for test in tests:
            assert (ROOT / test).is_file(), f"{module}: no test file {test}"


def test_equivalent_mutants_are_named_once_with_a_reason_in_a_scored_module(run):
    lines = [ln.strip() for ln in (ROOT / "tests/mutation/equivalent.txt").read_text().splitlines()]
    names = [ln.split(" ", 1)[0] for ln in lines if ln and not ln.startswith("#")]
    assert len(names) == len(set(names)), "a mutant is listed twice"
    scored = {Path(f).with_suffix("").as_posix().replace("/", ".") for fs, _ in run.MODULES.values() for f in fs
              if "*" not in f} | {"benchmark.metrics"}
    eq = run.equivalent()
    assert sorted(eq) == sorted(names)
    for name in names:
        module = name.split(".x", 1)[0]
        assert any(module == s or module.startswith(s + ".") for s in scored), name
        assert "__mutmut_" in name and len(eq[name]) > 20, f"{name}: give the reason"


def test_score_counts_kills_and_leaves_out_equivalent_mutants(run, tmp_path, monkeypatch):
    (tmp_path / "mutants" / "benchmark").mkdir(parents=True)
    codes = {"benchmark.dsp.x_a__mutmut_1": 1, "benchmark.dsp.x_a__mutmut_2": 36,  # killed, time-out
             "benchmark.dsp.x_a__mutmut_3": 0, "benchmark.dsp.x_a__mutmut_4": 0,  # survived (4 is equivalent)
             "benchmark.dsp.x_a__mutmut_5": 33, "benchmark.dsp.x_a__mutmut_6": None}  # no tests, not checked
    (tmp_path / "mutants/benchmark/dsp.py.meta").write_text(json.dumps({"exit_code_by_key": codes}))
    monkeypatch.setattr(run, "ROOT", tmp_path)
    monkeypatch.setattr(run, "equivalent", lambda: {"benchmark.dsp.x_a__mutmut_4": "because"})
    s = run.score("dsp")
    assert (s["mutants"], s["equivalent"], s["killed"], s["survived"], s["no tests"], s["not checked"]) == \
        (6, 1, 2, 1, 1, 1)
    assert s["score"] == 40.0 and s["survivors"] == ["benchmark.dsp.x_a__mutmut_3"]


def test_unknown_modules_and_bad_job_counts_exit_2(run, capsys):
    assert run.main(["nope"]) == 2
    assert "unknown module(s) ['nope']" in capsys.readouterr().err
    assert run.main(["--jobs=0", "dsp"]) == 2
    assert "--jobs must be >= 1, got 0" in capsys.readouterr().err


def test_the_child_runs_mutmut_with_the_asked_workers_and_one_openmp_thread(run):
    child = run.CHILD.format(only=["benchmark/dsp.py"], tests=["tests/test_dsp.py"], names=[], jobs=2)
    assert '"--max-children", "2"' in child and "cfg.only_mutate = ['benchmark/dsp.py']" in child
    env = run._child_env()
    assert env["OMP_NUM_THREADS"] == env["MKL_NUM_THREADS"] == env["OPENBLAS_NUM_THREADS"] == "1"


def test_fresh_imports_empties_project_caches_only(monkeypatch):
    from benchmark import results

    fresh = _load("fresh_imports")
    results.schema()
    assert results.schema.cache_info().currsize == 1
    monkeypatch.setitem(sys.modules, "benchmark.results", results)
    third_party = __import__("functools").lru_cache(maxsize=None)(lambda: 1)
    third_party()
    fresh._clear_project_caches()
    assert results.schema.cache_info().currsize == 0
    assert third_party.cache_info().currsize == 1
