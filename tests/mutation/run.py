"""``make mutation``: mutmut 3 over the core modules, one module at a time, each with only its own test files, in a
single worker process (fits a 2-core machine next to other work). Not part of ``make test``.

    .venv/bin/python tests/mutation/run.py                  # every module of MODULES, in order
    .venv/bin/python tests/mutation/run.py dsp aggregate    # some of them
    .venv/bin/python tests/mutation/run.py --jobs=2 results # two worker processes (an otherwise idle 2-core machine)
    .venv/bin/python tests/mutation/run.py --scores         # only print the scores of what has run
    .venv/bin/python tests/mutation/run.py --rerun-survivors dsp   # after adding tests: survivors and untested again
    .venv/bin/python tests/mutation/run.py --show benchmark.task.dsp.x_pan__mutmut_3   # what a mutant changed
    .venv/bin/python tests/mutation/run.py --sample=100 evaluate   # a random sample of 100 mutants (seed 0)

mutmut works on a copy of the project in ``mutants/`` (git-ignored) and keeps its verdicts there, so a second run
only tests new mutants; ``rm -rf mutants`` starts over. Per module this script narrows mutmut's configuration
(``[tool.mutmut]`` in pyproject.toml) to that module (``only_mutate``) and its tests
(``pytest_add_cli_args_test_selection``), runs ``mutmut run --max-children 1`` in a child process, then prints the
module's score: killed / (all − equivalent), where the equivalent mutants are listed with their reason in
``tests/mutation/equivalent.txt``. Scores are recorded in docs/testing.md.
"""

from __future__ import annotations

import json
import math
import random
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

#: module → (file(s) to mutate, test files that judge them). Test files are the ones that exercise the module
#: directly; mutmut then runs, per mutant, only the tests that reached the mutated function.
MODULES: dict[str, tuple[list[str], list[str]]] = {
    "tasks": (["benchmark/task/tasks.py"], ["tests/test_protocol_tables.py", "tests/test_aml.py"]),
    "dsp": (["benchmark/task/dsp.py"], ["tests/test_dsp.py", "tests/test_dsp_contracts.py", "tests/test_protocol_tables.py"]),
    "aml": (["benchmark/task/aml.py"], ["tests/test_aml.py", "tests/test_aml_contracts.py",
                                "tests/test_protocol_tables.py"]),
    "aggregate": (["benchmark/scoring/aggregate.py"], ["tests/test_results.py", "tests/test_aggregate_rules.py",
                                            "tests/test_aggregate_documents.py"]),
    "results": (["benchmark/scoring/results.py"], ["tests/test_results.py", "tests/test_aggregate_rules.py",
                                        "tests/test_metric_registry.py"]),
    "testset": (["benchmark/task/testset.py"], ["tests/test_testset.py", "tests/test_pair_scoring.py"]),
    "stft": (["models/stft.py"], ["tests/models/test_model_stft.py", "tests/models/test_model_gradients.py"]),
    "inference": (["models/inference.py"], ["tests/models/test_model_inference.py",
                                            "tests/models/test_model_inference_contracts.py"]),
    "metrics": (["benchmark/scoring/metrics/*"], ["tests/metrics/test_bss_api.py", "tests/metrics/test_rmse_mfcc.py",
                                          "tests/metrics/test_silence_measure.py", "tests/metrics/test_pocketfft.py",
                                          "tests/metrics/test_bss_museval_agreement.py"]),
    "evaluate": (["benchmark/scoring/evaluate.py"], ["tests/test_evaluate_resources.py", "tests/test_evaluate.py",
                                            "tests/test_evaluate_integration.py"]),
}

#: functions that run only in processes a test starts (spawned evaluation workers, `amss-bench evaluate` ranks started
#: with subprocess): mutmut records which tests reach a function in the test process only, so it would count their
#: mutants "no tests" although these tests run them (the mutant is active in the children too: they inherit
#: MUTANT_UNDER_TEST and import the mutated copy). mangled function name → the tests that run it.
CHILD_PROCESS_TESTS: dict[str, list[str]] = {
    "benchmark.scoring.evaluate.x__worker_init": [
        "tests/test_evaluate.py::test_parallel_workers_give_the_same_results",
        "tests/test_evaluate.py::test_parent_process_computes_beside_its_workers",
        "tests/test_evaluate.py::test_workers_read_the_stems_from_the_root_given_to_the_run"],
    "benchmark.scoring.evaluate.x__worker_run": ["tests/test_evaluate.py::test_parallel_workers_give_the_same_results",
                                         "tests/test_evaluate.py::test_parent_process_computes_beside_its_workers"],
    "benchmark.scoring.evaluate.x__wait_for_all": ["tests/test_evaluate.py::test_rank_sharding_with_two_processes"],
    # in the test process scipy.fft is imported already, so binding() never loads the extension directly
    "benchmark.scoring.metrics._pocketfft.x__load_direct": [
        "tests/metrics/test_pocketfft.py::test_direct_load_skips_scipy_fft_and_is_reused_by_it"],
}

CHILD = """
import sys
import mutmut.configuration as mc
cfg = mc._load_config()
cfg.only_mutate = {only!r}
cfg.pytest_add_cli_args_test_selection = {tests!r}
mc._config = cfg
import mutmut.__main__ as mm
_collect = mm.collect_or_load_stats
def collect_or_load_stats(runner, **kw):  # add the tests that reach a function in a child process only
    _collect(runner, **kw)
    for function, tests in {extra!r}.items():
        mm.state().tests_by_mangled_function_name[function].update(tests)
mm.collect_or_load_stats = collect_or_load_stats
from mutmut.__main__ import cli
sys.argv = ["mutmut", "run", "--max-children", "{jobs}", *{names!r}]
cli()
"""


def _python_files(files: list[str]) -> list[tuple[Path, str]]:
    """(path, dotted module name) of each Python file the patterns ``files`` match, in order."""
    out = []
    for pattern in files:
        for path in sorted(ROOT.glob(pattern)):
            if path.suffix == ".py":
                rel = path.relative_to(ROOT).with_suffix("")
                out.append((path, ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)))
    return out


def child_tests(files: list[str], tests: list[str]) -> dict[str, list[str]]:
    """The entries of CHILD_PROCESS_TESTS for functions of ``files`` whose tests are in the selection ``tests``."""
    modules = {module for _, module in _python_files(files)}
    out = {}
    for function, ids in CHILD_PROCESS_TESTS.items():
        chosen = [i for i in ids if i.split("::")[0] in tests]
        if function.rsplit(".", 1)[0] in modules and chosen:
            out[function] = chosen
    return out


def equivalent() -> dict[str, str]:
    """mutant name → reason, from tests/mutation/equivalent.txt (``name  reason``; # comments)."""
    out = {}
    path = ROOT / "tests" / "mutation" / "equivalent.txt"
    for line in path.read_text().splitlines() if path.is_file() else []:
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, reason = line.partition(" ")
            out[name] = reason.strip()
    return out


def verdicts(files: list[str]) -> dict[str, str]:
    """mutant name → mutmut status, from mutmut's meta files under mutants/."""
    from mutmut.stats import status_by_exit_code

    out = {}
    for pattern in files:
        for meta in sorted((ROOT / "mutants").glob(pattern + ".meta")):
            data = json.loads(meta.read_text())
            for name, code in data.get("exit_code_by_key", {}).items():
                out[name] = status_by_exit_code[code]
    return out


def wilson(k: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """Wilson score interval (95 % for the default z) of a proportion k/n: the interval of a score estimated from a
    random sample of n checked mutants, k of them killed."""
    if n <= 0:
        raise ValueError(f"wilson interval needs n >= 1 checked mutants, got {n}")
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def score(module: str, names: list[str] | None = None) -> dict:
    """The module's score over every mutant (not checked ones count as not killed), and over the checked ones only
    with its 95 % Wilson interval (the estimate of a ``--sample`` run: its mutants are a uniform random sample).
    ``names``: only these mutants (one sample's)."""
    files, _ = MODULES[module]
    v = verdicts(files)
    if names is not None:
        v = {n: v.get(n, "not checked") for n in names}
    eq = {n for n in equivalent() if n in v}
    counts = Counter(s for n, s in v.items() if n not in eq)
    killed = counts["killed"] + counts["timeout"] + counts["segfault"] + counts["caught by type check"]
    total = sum(counts.values())
    checked = total - counts["not checked"]
    interval = wilson(killed, checked) if checked else None
    return {"module": module, "mutants": len(v), "equivalent": len(eq), "killed": killed,
            "survived": counts["survived"], "no tests": counts["no tests"], "not checked": counts["not checked"],
            "score": round(100 * killed / total, 1) if total else None,
            "checked": checked, "checked score": round(100 * killed / checked, 1) if checked else None,
            "interval": tuple(round(100 * x, 1) for x in interval) if interval else None,
            "survivors": sorted(n for n, s in v.items() if s == "survived" and n not in eq),
            "untested": sorted(n for n, s in v.items() if s == "no tests" and n not in eq)}


def mutant_names(files: list[str]) -> list[str]:
    """Every mutant mutmut makes of ``files`` (its full names, e.g. ``benchmark.task.dsp.x_pan__mutmut_3``), generated from
    the source as mutmut generates them, sorted."""
    from mutmut.mutation.file_mutation import mutate_file_contents

    names = []
    for path, module in _python_files(files):
        rel = path.relative_to(ROOT).with_suffix("")
        names += [f"{module}.{n}" for n in mutate_file_contents(str(rel), path.read_text()).mutant_names]
    return sorted(names)


def sample(files: list[str], n: int, seed: int = 0) -> list[str]:
    """A uniform random sample of ``n`` of the mutants of ``files`` (all of them when there are fewer), sorted; the
    same for the same source, ``n`` and ``seed``."""
    return draw(mutant_names(files), n, seed)


def draw(names: list[str], n: int, seed: int) -> list[str]:
    return sorted(random.Random(seed).sample(sorted(names), min(n, len(names))))


def _forget_plain_copies(files: list[str]) -> None:
    """mutmut copies the files it does not mutate into mutants/ (over an earlier module's mutated copy) with a new
    mtime, and later takes a copy newer than its source for one it has already mutated: remove the plain copies of
    this module so that they get mutated again (the verdicts stay in the .meta files)."""
    for pattern in files:
        for path in (ROOT / "mutants").glob(pattern):
            if path.suffix == ".py" and "_mutmut_mutated" not in path.read_text():
                path.unlink()


def _stats_file(module: str | None = None) -> Path:
    return ROOT / "mutants" / ("mutmut-stats.json" if module is None else f"mutmut-stats.{module}.json")


def _selection_fingerprint(tests: list[str]) -> str:
    """mutmut's fingerprint of a test selection (the one it stores in mutmut-stats.json)."""
    import os

    import mutmut.configuration as mc

    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        cfg = mc._load_config()
    finally:
        os.chdir(cwd)
    cfg.pytest_add_cli_args_test_selection = tests
    return cfg.config_fingerprint()["test_selection"]


def _use_own_stats(module: str, tests: list[str]) -> None:
    """mutmut keeps one ``mutants/mutmut-stats.json`` (which tests reach which function, and a fingerprint of the test
    selection), and when the selection differs from the one stored there it resets *every* verdict of the files it
    mutates. Each module runs with its own selection, so a module run after another one would lose all its verdicts
    (``--rerun-survivors dsp`` after ``run.py aggregate`` would leave dsp "not checked"). Keep one stats file per module
    (``mutmut-stats.<module>.json``) and put the module's own in place before its run; without one, a stats file of
    another selection is removed (mutmut then collects the stats afresh and keeps the verdicts)."""
    own, current = _stats_file(module), _stats_file()
    if own.is_file():
        shutil.copy2(own, current)
    elif current.is_file():
        stored = json.loads(current.read_text()).get("config_fingerprint", {}).get("test_selection")
        if stored != _selection_fingerprint(tests):
            current.unlink()


def _keep_own_stats(module: str) -> None:
    if _stats_file().is_file():
        shutil.copy2(_stats_file(), _stats_file(module))


def _child_env() -> dict[str, str]:
    """mutmut's environment: one OpenMP/MKL thread. mutmut forks each mutant's process from one that has run the tests
    once (its stats run); torch's OpenMP pool (GNU libgomp) is not fork-safe, and a forked child whose parent had
    started the pool hangs at its first parallel op (the stft mutants hung until mutmut's time limit, although the
    tests kill them in < 1 s when run directly). With one thread the pool is never started."""
    import os

    env = dict(os.environ)
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    return env


def show(names: list[str]) -> None:
    """Print the diff of each mutant, generated afresh from the source (mutants/ may hold a plain copy by now)."""
    import io
    import os

    os.chdir(ROOT)
    from mutmut.__main__ import write_all_mutants_to_file
    from mutmut.mutation import diff_apply
    import libcst as cst

    parsed: dict[Path, object] = {}
    for name in names:
        module = name.rsplit(".", 1)[0]
        path = Path(*module.split(".")).with_suffix(".py")
        if path not in parsed:
            buf = io.StringIO()
            write_all_mutants_to_file(out=buf, source=path.read_text(), filename=path)
            parsed[path] = cst.parse_module(buf.getvalue())
        diff_apply.read_mutants_module = lambda _p, tree=parsed[path]: tree
        print(f"# {name}")
        print(diff_apply.get_diff_for_mutant(name, path=path))


def main(argv: list[str]) -> int:
    if argv[:1] == ["--show"]:
        show(argv[1:])
        return 0
    only_scores = "--scores" in argv
    rerun = "--rerun-survivors" in argv  # after adding tests: test the survivors again (mutmut keeps other verdicts)
    numbers = {"--jobs": 1, "--sample": 0, "--seed": 0}  # option → value (--sample 0: no sampling)
    for a in argv:
        key, _, value = a.partition("=")
        if key in numbers:
            try:
                number = int(value)
            except ValueError:
                number = -1
            if number < (0 if key == "--seed" else 1):
                print(f"{key} must be {'a non-negative' if key == '--seed' else 'a positive'} integer, got {value!r}",
                      file=sys.stderr)
                return 2
            numbers[key] = number
    jobs, n_sample, seed = numbers["--jobs"], numbers["--sample"], numbers["--seed"]
    if rerun and n_sample:
        print("--sample and --rerun-survivors do not go together", file=sys.stderr)
        return 2
    names = [a for a in argv if not a.startswith("--")] or list(MODULES)
    unknown = [n for n in names if n not in MODULES]
    if unknown:
        print(f"unknown module(s) {unknown}; choose from {list(MODULES)}", file=sys.stderr)
        return 2
    status = 0
    for name in names:
        files, tests = MODULES[name]
        drawn = sample(files, n_sample, seed) if n_sample else None
        if not only_scores:
            print(f"=== mutmut: {name} ({', '.join(files)}) judged by {', '.join(tests)}", flush=True)
            _forget_plain_copies(files)
            # --rerun-survivors: the survivors and the "no tests" mutants (new tests may reach them); [] = all
            before = score(name) if rerun else None
            todo = before["survivors"] + before["untested"] if rerun else []
            if n_sample:  # the sample's mutants without a verdict yet (a stopped sampled run goes on where it was)
                done = {m for m, st in verdicts(files).items() if st != "not checked"}
                todo = [m for m in drawn if m not in done]
                print(f"    sample of {n_sample} mutants (seed {seed}): {len(todo)} without a verdict", flush=True)
            if todo or not (rerun or n_sample):
                _use_own_stats(name, tests)
                child = CHILD.format(only=files, tests=tests, names=todo, jobs=jobs, extra=child_tests(files, tests))
                rc = subprocess.call([sys.executable, "-c", child], cwd=ROOT, env=_child_env())
                _keep_own_stats(name)
                status = status or rc
        s = score(name, drawn)
        if n_sample:
            print(f"    the sample of {n_sample} (seed {seed}) only:")
        print(f"--- {name}: {s['killed']} killed of {s['mutants'] - s['equivalent']} non-equivalent mutants "
              f"({s['equivalent']} equivalent): score {s['score']} %; survived {s['survived']}, no tests "
              f"{s['no tests']}, not checked {s['not checked']}", flush=True)
        if s["checked"] and (n_sample or s["not checked"]):  # a sample's own score is an estimate too
            lo, hi = s["interval"]
            print(f"    over the {s['checked']} checked mutants: {s['checked score']} % (95 % Wilson interval "
                  f"{lo}–{hi} %; an estimate of the module's score when they are a random sample, --sample)")
        for n in s["survivors"]:
            print(f"    survived: {n}")
    return status

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
