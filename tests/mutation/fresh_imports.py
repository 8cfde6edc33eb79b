"""pytest plugin used by ``make mutation`` only (``-p tests.mutation.fresh_imports``, see tests/mutation/run.py).

mutmut 3 forks every mutant's test process from a process that has already imported the project, so code that runs
at import time (``EVAL_TASKS = _build()`` in benchmark/task/tasks.py, the AML generator tables in benchmark/task/aml.py,
``PAN_GAINS``-style constants) would never run mutated, and its mutants would "survive" untested. Before collection
this plugin forgets the project's modules and the test modules, so that they are imported afresh — with the
mutant under test active — in each mutant's process. Third-party modules (torch, numpy, librosa) stay loaded."""

from __future__ import annotations

import sys
from pathlib import Path

PACKAGES = ("benchmark", "models", "baselines")


def _is_project(name: str, module) -> bool:
    if name == __name__:
        return False
    if name.split(".", 1)[0] in PACKAGES or name == "conftest" or name.startswith("test_"):
        return True
    path = getattr(module, "__file__", None) or ""
    return bool(path) and Path(path).resolve().is_relative_to(Path.cwd().resolve() / "tests")


def _own_tqdm_lock() -> None:
    """tqdm's write lock holds a multiprocessing semaphore that is created once and shared by every process forked
    after it. A mutant's process stopped at its time limit while drawing a bar leaves that semaphore taken, and every
    later mutant process that draws a bar then waits on it forever, without using CPU (mutmut's limit is CPU time):
    the progress-bar mutants of ``infer_track`` were all "killed by time-out" that way. Give each process its own."""
    std = sys.modules.get("tqdm.std")
    if std is None:
        return
    if "mp_lock" in std.TqdmDefaultWriteLock.__dict__:
        delattr(std.TqdmDefaultWriteLock, "mp_lock")  # create_mp_lock() makes a new one
    todo = [std.tqdm]
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if "_lock" in cls.__dict__:
            delattr(cls, "_lock")  # get_lock() makes a new TqdmDefaultWriteLock, with a new semaphore


def pytest_configure(config) -> None:
    for name in [n for n, m in list(sys.modules.items()) if _is_project(n, m)]:
        del sys.modules[name]
    _own_tqdm_lock()


# mutmut attributes the functions a test reaches to that test; what runs while the test modules are imported (the
# tables above) would all be charged to the first test, and a mutant of them judged by that one test only. During
# mutmut's stats run, charge them to every test instead.
_AT_IMPORT: set[str] = set()


def _stats_run() -> bool:
    import os

    return os.environ.get("MUTANT_UNDER_TEST") == "stats"


def pytest_collection_finish(session) -> None:
    if _stats_run():
        from mutmut.state import state

        _AT_IMPORT.update(state()._stats)


def _charge_import_time_hits() -> None:
    if _stats_run() and _AT_IMPORT:
        from mutmut.state import state

        state()._stats.update(_AT_IMPORT)


def _clear_project_caches() -> None:
    """A ``functools.cache``d project function (``results.schema()``, ``evaluate``'s environment probe) runs once per
    process, so mutmut would charge what it calls (``results.scores_schema``) to the first test that happened to call
    it, and judge that code's mutants by that one test. During the stats run, empty those caches before every test."""
    for name, module in list(sys.modules.items()):
        if module is None or not _is_project(name, module) or name.startswith(("test_", "conftest")):
            continue
        for value in list(vars(module).values()):
            if callable(getattr(value, "cache_clear", None)) and getattr(value, "__module__", None) == name:
                value.cache_clear()


try:
    import pytest

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(item) -> None:
        if _stats_run():
            _clear_project_caches()

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_teardown(item, nextitem) -> None:
        _charge_import_time_hits()
except ImportError:  # pragma: no cover
    pass
