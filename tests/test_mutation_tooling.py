"""The mutation-testing tooling of ``make mutation`` (tests/mutation/, docs/testing.md): the score arithmetic, the list
of equivalent mutants, the runner's options and the child environment, and the fresh-imports plugin's cache reset."""

from __future__ import annotations

import importlib.util
import json
import sys
from collections import Counter
from types import SimpleNamespace
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
              if "*" not in f} | {"benchmark.scoring.metrics"}
    eq = run.equivalent()
    assert sorted(eq) == sorted(names)
    for name in names:
        module = name.split(".x", 1)[0]
        assert any(module == s or module.startswith(s + ".") for s in scored), name
        assert "__mutmut_" in name and len(eq[name]) > 20, f"{name}: give the reason"


def test_score_counts_kills_and_leaves_out_equivalent_mutants(run, tmp_path, monkeypatch):
    (tmp_path / "mutants" / "benchmark" / "task").mkdir(parents=True)
    codes = {"benchmark.task.dsp.x_a__mutmut_1": 1, "benchmark.task.dsp.x_a__mutmut_2": 36,  # killed, time-out
             "benchmark.task.dsp.x_a__mutmut_3": 0, "benchmark.task.dsp.x_a__mutmut_4": 0,  # survived (4 is equivalent)
             "benchmark.task.dsp.x_a__mutmut_5": 33, "benchmark.task.dsp.x_a__mutmut_6": None}  # no tests, not checked
    (tmp_path / "mutants/benchmark/task/dsp.py.meta").write_text(json.dumps({"exit_code_by_key": codes}))
    monkeypatch.setattr(run, "ROOT", tmp_path)
    monkeypatch.setattr(run, "equivalent", lambda: {"benchmark.task.dsp.x_a__mutmut_4": "because"})
    s = run.score("dsp")
    assert (s["mutants"], s["equivalent"], s["killed"], s["survived"], s["no tests"], s["not checked"]) == \
        (6, 1, 2, 1, 1, 1)
    assert s["score"] == 40.0 and s["survivors"] == ["benchmark.task.dsp.x_a__mutmut_3"]
    assert s["untested"] == ["benchmark.task.dsp.x_a__mutmut_5"]
    # one sample's mutants only (a name without a verdict is not checked)
    one = run.score("dsp", [f"benchmark.task.dsp.x_a__mutmut_{i}" for i in (1, 3, 9)])
    assert (one["mutants"], one["killed"], one["survived"], one["not checked"], one["checked"]) == (3, 1, 1, 1, 2)
    # over the 4 checked non-equivalent mutants (the estimate of a sampled run): 2 killed
    assert s["checked"] == 4 and s["checked score"] == 50.0
    assert s["interval"] == tuple(round(100 * x, 1) for x in run.wilson(2, 4))


@pytest.mark.parametrize("k, n", [(0, 10), (3, 7), (95, 100), (150, 150), (1, 2000)])
def test_wilson_interval_equals_scipys(run, k, n):
    from scipy.stats import binomtest

    want = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    lo, hi = run.wilson(k, n)
    assert lo == pytest.approx(want.low, abs=1e-6) and hi == pytest.approx(want.high, abs=1e-6)
    with pytest.raises(ValueError, match="n >= 1"):
        run.wilson(0, 0)


def test_mutant_names_are_mutmuts_names_of_every_mutant(run, tmp_path, monkeypatch):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "m.py").write_text("def f(a):\n    return a + 1\n\n\ndef g(b):\n    return b * 2\n")
    (tmp_path / "pkg" / "notes.txt").write_text("not python")
    monkeypatch.setattr(run, "ROOT", tmp_path)
    names = run.mutant_names(["pkg/*"])
    assert names == sorted(names) and len(names) == len(set(names)) >= 4
    assert {n.rsplit("__mutmut_", 1)[0] for n in names} == {"pkg.m.x_f", "pkg.m.x_g"}


def test_sample_is_a_seeded_uniform_subset(run):
    files = run.MODULES["tasks"][0]
    every = run.mutant_names(files)
    a = run.sample(files, 20, seed=0)
    assert a == run.sample(files, 20, seed=0) and a == sorted(a) and len(set(a)) == 20 and set(a) <= set(every)
    assert run.sample(files, 20, seed=1) != a
    assert run.sample(files, 10 ** 6) == every  # more than there are: all of them
    # uniform: over 2000 seeds each of 50 names is drawn 10/50 of the time (400 ± 18 draws; ±100 is 5.6 sigma)
    names = [f"m.x_f__mutmut_{i}" for i in range(1, 51)]
    hits = Counter(m for seed in range(2000) for m in run.draw(names, 10, seed))
    assert set(hits) == set(names) and all(300 < c < 500 for c in hits.values()), hits


def test_unknown_modules_and_bad_options_exit_2(run, capsys):
    assert run.main(["nope"]) == 2
    assert "unknown module(s) ['nope']" in capsys.readouterr().err
    for option, message in [("--jobs=0", "--jobs must be a positive integer, got '0'"),
                            ("--jobs=two", "--jobs must be a positive integer, got 'two'"),
                            ("--sample=0", "--sample must be a positive integer, got '0'"),
                            ("--sample", "--sample must be a positive integer, got ''"),
                            ("--seed=-1", "--seed must be a non-negative integer, got '-1'")]:
        assert run.main([option, "dsp"]) == 2, option
        assert message in capsys.readouterr().err, option
    assert run.main(["--sample=5", "--rerun-survivors", "dsp"]) == 2
    assert "--sample and --rerun-survivors do not go together" in capsys.readouterr().err


def test_the_child_runs_mutmut_with_the_asked_workers_and_one_openmp_thread(run):
    child = run.CHILD.format(only=["benchmark/task/dsp.py"], tests=["tests/test_dsp.py"], names=[], jobs=2, extra={})
    assert '"--max-children", "2"' in child and "cfg.only_mutate = ['benchmark/task/dsp.py']" in child
    env = run._child_env()
    assert env["OMP_NUM_THREADS"] == env["MKL_NUM_THREADS"] == env["OPENBLAS_NUM_THREADS"] == "1"


def test_fresh_imports_empties_project_caches_only(monkeypatch):
    from benchmark.scoring import results

    fresh = _load("fresh_imports")
    results.schema()
    assert results.schema.cache_info().currsize == 1
    monkeypatch.setitem(sys.modules, "benchmark.scoring.results", results)
    third_party = __import__("functools").lru_cache(maxsize=None)(lambda: 1)
    third_party()
    fresh._clear_project_caches()
    assert results.schema.cache_info().currsize == 0
    assert third_party.cache_info().currsize == 1


def test_child_process_tests_exist_and_are_added_to_mutmuts_stats(run, monkeypatch):
    import mutmut.__main__ as mm
    from mutmut.state import MutmutState

    for function, ids in run.CHILD_PROCESS_TESTS.items():
        module, _, name = function.rpartition(".")
        source = (ROOT / Path(*module.split("."))).with_suffix(".py").read_text()
        assert f"def {name[2:]}(" in source, function  # x_<name>: a function of that module
        for test_id in ids:
            path, _, test = test_id.partition("::")
            assert f"def {test}(" in (ROOT / path).read_text(), test_id
    files, tests = run.MODULES["evaluate"]
    extra = run.child_tests(files, tests)
    assert extra == {k: v for k, v in run.CHILD_PROCESS_TESTS.items() if k.startswith("benchmark.scoring.evaluate.")}
    assert set(run.child_tests(*run.MODULES["metrics"])) == {"benchmark.scoring.metrics._pocketfft.x__load_direct"}
    assert run.child_tests(files, ["tests/test_evaluate_integration.py"]) == {}  # tests outside the selection
    assert run.child_tests(run.MODULES["dsp"][0], run.MODULES["dsp"][1]) == {}
    # the child's patch: after mutmut's own stats, the child-process tests are associated with their functions
    child = run.CHILD.format(only=files, tests=tests, names=[], jobs=1, extra=extra)
    code = child[:child.index("from mutmut.__main__ import cli")]
    state = MutmutState()
    monkeypatch.setattr(mm, "state", lambda: state)
    monkeypatch.setattr(mm, "collect_or_load_stats", lambda runner, **kw: state.tests_by_mangled_function_name[
        "benchmark.scoring.evaluate.x_plan"].add("tests/test_evaluate.py::test_x"))
    monkeypatch.setattr("mutmut.configuration._load_config", lambda: SimpleNamespace())
    import mutmut.configuration as mc
    monkeypatch.setattr(mc, "_config", getattr(mc, "_config", None), raising=False)  # restored after the exec
    exec(code, {})
    mm.collect_or_load_stats(None)
    assert state.tests_by_mangled_function_name["benchmark.scoring.evaluate.x_plan"] == {"tests/test_evaluate.py::test_x"}
    for function, ids in extra.items():
        assert state.tests_by_mangled_function_name[function] == set(ids)


def test_fresh_imports_gives_the_process_its_own_tqdm_lock():
    import tqdm
    import tqdm.auto

    fresh = _load("fresh_imports")
    tqdm.tqdm.get_lock()
    old_semaphore = tqdm.std.TqdmDefaultWriteLock.mp_lock
    assert old_semaphore is not None
    fresh._own_tqdm_lock()
    assert "_lock" not in tqdm.tqdm.__dict__ and "_lock" not in tqdm.auto.tqdm.__dict__
    lock = tqdm.tqdm.get_lock()
    assert tqdm.std.TqdmDefaultWriteLock.mp_lock is not old_semaphore and lock.locks[0] is not old_semaphore
    # the old semaphore left taken by a process that died holding it (a mutant stopped while drawing a bar): it
    # blocks, the new lock does not
    import multiprocessing as mp

    child = mp.get_context("fork").Process(target=old_semaphore.acquire)
    child.start()
    child.join(30)
    assert child.exitcode == 0 and not old_semaphore.acquire(timeout=0.2)
    with tqdm.tqdm(range(3), file=__import__("io").StringIO()) as bar:
        assert list(bar) == [0, 1, 2]


def test_make_mutation_passes_modules_workers_and_the_sample_on():
    import shutil
    import subprocess

    if shutil.which("make") is None:
        pytest.fail("make is not installed (the project's setup installs it)")

    def dry(*args):
        out = subprocess.run(["make", "-n", "mutation", *args], cwd=ROOT, capture_output=True, text=True, check=True)
        return [ln.split("tests/mutation/run.py", 1)[1].split() for ln in out.stdout.splitlines()
                if "tests/mutation/run.py" in ln]

    assert dry() == [["--jobs=1"]]
    assert dry("MUTATION_MODULES=dsp aml", "MUTATION_JOBS=2") == [["--jobs=2", "dsp", "aml"]]
    assert dry("MUTATION_MODULES=evaluate", "MUTATION_SAMPLE=50", "MUTATION_SEED=3") == \
        [["--jobs=1", "--sample=50", "--seed=3", "evaluate"]]


def test_scores_of_a_sample_print_its_wilson_interval(run, tmp_path, monkeypatch, capsys):
    (tmp_path / "mutants" / "benchmark" / "task").mkdir(parents=True)
    codes = {f"benchmark.task.dsp.x_a__mutmut_{i}": (0 if i == 1 else 1) for i in range(1, 21)}  # 19 of 20 killed
    (tmp_path / "mutants/benchmark/task/dsp.py.meta").write_text(json.dumps({"exit_code_by_key": codes}))
    monkeypatch.setattr(run, "ROOT", tmp_path)
    monkeypatch.setattr(run, "equivalent", lambda: {})
    monkeypatch.setattr(run, "sample", lambda files, n, seed: sorted(codes)[:n])
    assert run.main(["--scores", "--sample=10", "dsp"]) == 0
    out = capsys.readouterr().out
    lo, hi = (round(100 * x, 1) for x in run.wilson(9, 10))
    assert "the sample of 10 (seed 0) only:" in out and "9 killed of 10 non-equivalent mutants" in out
    assert f"over the 10 checked mutants: 90.0 % (95 % Wilson interval {lo}–{hi} %" in out
