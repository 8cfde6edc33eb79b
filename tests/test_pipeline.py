"""dvc.yaml: every stage depends on the code its command runs, so a change of that code re-runs it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
LOCAL_PACKAGES = ("benchmark", "models", "baselines")
#: package files without code that can change an output (empty or a docstring)
NO_OUTPUT_CODE = {"benchmark/__init__.py", "benchmark/data/__init__.py", "benchmark/base/__init__.py",
                  "benchmark/task/__init__.py", "benchmark/scoring/__init__.py", "benchmark/reporting/__init__.py"}
#: modules a stage's command imports only on a path the stage does not take
NOT_ON_THE_STAGE_PATH = {
    "evaluate-baseline": ("models/",),  # `evaluate --system NAME`: the models load only for --model/--checkpoint
    "evaluate-properties-baseline": ("models/",),  # `properties --system NAME`: likewise
}


def _stages() -> dict[str, dict]:
    """name → stage body (the ``do`` part of foreach stages; matrix stages are one body)."""
    doc = yaml.safe_load((REPO / "dvc.yaml").read_text())
    return {name: body.get("do", body) for name, body in doc["stages"].items()}


def _deps(stage: dict) -> list[str]:
    return [d if isinstance(d, str) else next(iter(d)) for d in stage.get("deps", [])]


def _covered(path: str, deps: list[str]) -> bool:
    return any(path == d or path.startswith(d.rstrip("/") + "/") for d in deps)


def _module_file(name: str) -> Path | None:
    p = REPO.joinpath(*name.split("."))
    if (p / "__init__.py").is_file():
        return p / "__init__.py"
    return p.with_suffix(".py") if p.with_suffix(".py").is_file() else None


def _imports(path: Path) -> set[Path]:
    """Local modules imported anywhere in ``path`` (function-level imports included)."""
    rel = path.relative_to(REPO).with_suffix("")
    module = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
    package = module if rel.name == "__init__" else module.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                full = base + ("." + node.module if node.module else "")
            else:
                full = node.module
            names.add(full)
            names.update(f"{full}.{a.name}" for a in node.names)
    out = set()
    for name in names:
        parts = name.split(".")
        if parts[0] not in LOCAL_PACKAGES:
            continue
        for i in range(1, len(parts) + 1):  # the packages on the way are imported too
            f = _module_file(".".join(parts[:i]))
            if f is not None:
                out.add(f)
    return out


def _closure(start: str) -> set[str]:
    seen: set[Path] = set()
    todo = [REPO / start]
    while todo:
        p = todo.pop()
        if p not in seen:
            seen.add(p)
            todo.extend(_imports(p) - seen)
    return {str(p.relative_to(REPO)) for p in seen}


def test_every_stage_depends_on_the_numerics_pins():
    stages = _stages()
    assert {"data", "testset", "train-dedicated", "train-amss", "evaluate-amss", "evaluate-baseline", "report"} <= \
        set(stages)
    for name, stage in stages.items():
        assert "benchmark/base/numerics.py" in _deps(stage), name


@pytest.mark.parametrize("name", ["evaluate-dedicated", "evaluate-dedicated-vocals", "evaluate-separation",
                                  "evaluate-amss", "evaluate-baseline"])
def test_evaluate_stages_list_the_modules_of_amss_bench_evaluate(name):
    deps = _deps(_stages()[name])
    for path in ("benchmark/cli/evaluate.py", "benchmark/scoring/evaluate.py", "benchmark/scoring/results.py",
                 "benchmark/scoring/aggregate.py", "benchmark/task/aml.py", "benchmark/data/dataset.py", "benchmark/base/numerics.py",
                 "benchmark/task/testset.py", "benchmark/task/tasks.py", "benchmark/task/dsp.py", "benchmark/base/provenance.py",
                 "benchmark/base/audio.py", "benchmark/scoring/metrics", "baselines", "${testset.out}/manifest.json"):
        assert path in deps, f"{name}: {path}"
    assert ("models" in deps) == (name != "evaluate-baseline")


def test_report_stage_lists_its_modules_and_the_test_set():
    deps = _deps(_stages()["report"])
    for path in ("results/${profile}", "${testset.out}/manifest.json", "benchmark/cli/report.py",
                 "benchmark/reporting/report.py", "benchmark/scoring/aggregate.py", "benchmark/scoring/results.py", "benchmark/task/testset.py",
                 "benchmark/task/tasks.py", "benchmark/base/numerics.py"):
        assert path in deps, path


@pytest.mark.parametrize("name", sorted(_stages()))
def test_stage_deps_cover_the_import_closure_of_its_command(name):
    """Every local module the stage's `amss-bench <command>` can import (statically, function-level imports included)
    is a dependency of the stage, itself or through a folder."""
    stage = _stages()[name]
    command = stage["cmd"].split()[1]  # amss-bench <command> ...
    modules = _closure(f"benchmark/cli/{command}.py") - NO_OUTPUT_CODE
    skip = NOT_ON_THE_STAGE_PATH.get(name, ())
    missing = sorted(m for m in modules if not m.startswith(skip) and not _covered(m, _deps(stage)))
    assert not missing, f"{name}: dvc.yaml deps lack {missing}"
