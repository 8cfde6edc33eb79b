"""The pull-request regression gate: what a change did to the results, the model outputs and the speed.

``amss-bench gate --base REV`` (``make gate BASE=REV``) compares the working tree with a base revision:

1. **results** — ``reports/<profile>/summary.json`` of the working tree against the base's (read with ``git show``,
   or recomputed in a worktree of the base with ``--recompute-base``), cell by cell (``benchmark.gate.results``);
2. **model outputs** — every registered model's golden fingerprint recomputed now against ``tests/golden/models.json``
   (``benchmark.gate.golden``); the base's file against the head's names the models a change declared as changed;
3. **speed** — the same pytest-benchmark cases against the base's and the head's code, interleaved in this job
   (``benchmark.gate.speed``).

It writes ``gate.md`` (a pull-request comment) and ``gate.json`` and exits 0 (pass), 1 (a regression: the report
names the cells, models or cases), or 2 (could not compare: the reason is printed). Docs: docs/regression-gate.md.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger("benchmark.gate")

PASS, REGRESSION, CANNOT = 0, 1, 2
GOLDEN_FILE = "tests/golden/models.json"
PROBE_FILE = "tests/data/numerics_probe.json"


class GateError(RuntimeError):
    """The gate cannot compare (exit status 2)."""


@dataclass
class Options:
    base: str | None = None
    params: str = "params.yaml"
    allow: list[str] = field(default_factory=list)
    results: bool = True
    golden: bool = True
    speed: bool = True
    recompute_base: bool = False
    same_numerics: bool = False
    dvc_check: bool = True
    speed_rounds: int | None = None
    speed_select: str | None = None
    threshold: float | None = None
    plots: bool = False
    out: str = ".gate/report"
    keep_worktree: bool = False
    argv: list[str] = field(default_factory=list)


# ------------------------------------------------------------------------------------------------------------ git
def git(root: Path, *args: str, check: bool = True) -> str:
    proc = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise GateError(f"git {' '.join(args)}: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc.stdout.strip() if proc.returncode == 0 else ""


def repo_root(start: Path) -> Path:
    proc = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=start, capture_output=True, text=True)
    if proc.returncode != 0:
        raise GateError(f"{start}: not inside a git repository (the gate compares against a git revision)")
    return Path(proc.stdout.strip())


def resolve_base(root: Path, base: str | None) -> tuple[str, str]:
    """(the revision as given or chosen, its commit sha). Default: the merge base of HEAD with main."""
    if base is None:
        for branch in ("main", "origin/main", "master"):
            sha = git(root, "merge-base", "HEAD", branch, check=False)
            if sha:
                return f"merge-base(HEAD, {branch})", sha
        raise GateError("no --base given and no 'main' branch to take the merge base with")
    sha = git(root, "rev-parse", "--verify", "--quiet", f"{base}^{{commit}}", check=False)
    if not sha:
        raise GateError(f"--base {base!r}: not a git revision of {root}")
    return base, sha


def show(root: Path, sha: str, path: str) -> str | None:
    """A file's text at a commit, or None when the commit has no such file."""
    proc = subprocess.run(["git", "show", f"{sha}:{path}"], cwd=root, capture_output=True, text=True)
    return proc.stdout if proc.returncode == 0 else None


def _json(text: str, where: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise GateError(f"{where}: not valid JSON ({err})") from None


class Worktree:
    """A detached ``git worktree`` of the base under ``.gate/`` (removed afterwards unless kept)."""

    def __init__(self, root: Path, sha: str, keep: bool = False):
        self.root, self.sha, self.keep = root, sha, keep
        self.path = root / ".gate" / f"base-{sha[:12]}"

    def __enter__(self) -> Path:
        if self.path.exists():
            git(self.root, "worktree", "remove", "--force", str(self.path), check=False)
            shutil.rmtree(self.path, ignore_errors=True)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        git(self.root, "worktree", "add", "--detach", "--force", str(self.path), self.sha)
        return self.path

    def __exit__(self, *exc):
        if not self.keep:
            git(self.root, "worktree", "remove", "--force", str(self.path), check=False)
            shutil.rmtree(self.path, ignore_errors=True)
            git(self.root, "worktree", "prune", check=False)


# ------------------------------------------------------------------------------------------------------- pieces
def _dvc(root: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("dvc")
    cmd = [str(exe) if exe.exists() else "dvc", *args]
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"
    env["PYTHONPATH"] = str(root)
    proc = subprocess.run(cmd, cwd=root, capture_output=True, text=True, env=env)
    if check and proc.returncode != 0:
        raise GateError(f"dvc {' '.join(args)} in {root}: {(proc.stderr or proc.stdout).strip()[-1500:]}")
    return proc


def stale_stages(root: Path) -> list[str]:
    """Stages whose outputs do not match the working tree (``dvc status``); [] when up to date."""
    proc = _dvc(root, "status", "--json")
    text = proc.stdout.strip() or "{}"
    try:
        status = json.loads(text[text.index("{"):])
    except (ValueError, json.JSONDecodeError):
        raise GateError(f"dvc status --json in {root}: unexpected output {text[:300]!r}") from None
    return sorted(status)


@functools.lru_cache(maxsize=None)
def machine_reproduces_numerics(root: Path) -> tuple[bool, str]:
    """Whether this machine's pipeline numeric paths hash like the reference machine's (the committed probe; MKL's
    vector-math entries, which the pipeline does not use, are left out)."""
    from benchmark.base import numerics
    from benchmark.scoring.numerics_probe import compare, describe, probe

    golden_path = root / PROBE_FILE
    if not golden_path.is_file():
        return False, f"no {PROBE_FILE} to compare the numerics probe with"
    if numerics.mode() != "pinned":
        return False, "numerics are not pinned (AMSS_BENCH_NUMERICS=native)"
    golden = json.loads(golden_path.read_text())
    verdict = compare(probe(), golden)
    if verdict["pipeline"]:
        return False, describe({"pipeline": verdict["pipeline"], "vml": {}}, golden)
    return True, f"numerics probe equals the reference machine's ({len(golden['probe'])} paths)"


def results_section(root: Path, sha: str, params: dict, opts: Options, base_tree: Path | None) -> dict:
    from benchmark.gate import results as gres

    profile = params["profile"]
    rel = f"reports/{profile}/summary.json"
    head_path = root / rel
    if not head_path.is_file():
        raise GateError(f"head has no {rel}: run `make repro` (or `dvc repro`) before the gate")
    head = _json(head_path.read_text(), str(head_path))
    if base_tree is not None:
        base_path = base_tree / rel
        if not base_path.is_file():
            raise GateError(f"the recomputed base has no {rel}")
        base = _json(base_path.read_text(), f"{rel} (recomputed base)")
        mode, why = "recomputed base (this machine, this job)", "the base was recomputed here"
    else:
        text = show(root, sha, rel)
        if text is None:
            raise GateError(f"base {sha[:12]} has no committed {rel} (nothing to compare with; "
                            "use --recompute-base to compute it)")
        base = _json(text, f"{rel} at {sha[:12]}")
        same, why = ((True, "declared by --same-numerics (the probe was not run)") if opts.same_numerics
                     else machine_reproduces_numerics(root))
        if not same:
            # The embedded models train chaotically: one ulp in one step moves a cell by whole dB, so no tolerance
            # can stand in for the same numerics. Compare like with like or not at all.
            raise GateError(f"the committed base was computed on other numerics ({why}); compare against a base "
                            "computed on this machine: `make gate GATE_ARGS=--recompute-base` "
                            "(docs/regression-gate.md)")
        mode = "committed base (this machine reproduces the pinned numerics)"
    policy = gres.policy_from_params(params.get("gate") or {}, allow=tuple(opts.allow))
    comp = gres.compare(base, head, policy)
    return {"mode": mode, "why": why, "policy": policy.name, "allow": list(policy.allow),
            "counts": comp.counts(), "fails": comp.fails,
            "document": comp.document_issues, "systems_missing": comp.systems_missing,
            "systems_new": comp.systems_new, "retrained": comp.retrained,
            "cells": [c.as_dict() for c in comp.cells]}


def golden_section(root: Path, sha: str, strict: bool, progress=None) -> dict:
    from benchmark.gate import golden

    recorded = golden.load(root / GOLDEN_FILE)
    now, now_train = golden.compute_all(progress=progress)
    undeclared = golden.compare(recorded["models"], now) + golden.compare_training(recorded["training"], now_train,
                                                                                    strict=strict)
    base_text = show(root, sha, GOLDEN_FILE)
    if base_text is None:
        declared, note = [], f"base has no {GOLDEN_FILE}"
    else:
        base_doc = _json(base_text, f"{GOLDEN_FILE} at {sha[:12]}")
        if base_doc.get("golden_version") != recorded["golden_version"]:
            declared = []
            note = (f"the base's {GOLDEN_FILE} has format version {base_doc.get('golden_version')}, the head's "
                    f"{recorded['golden_version']}: every fingerprint was re-recorded (not compared with the base)")
        else:
            declared = golden.compare(base_doc.get("models", {}), recorded["models"]) + golden.compare_training(
                base_doc.get("training", {}), recorded["training"], strict=True)
            note = ""
    return {"checked": True, "n_models": len(now), "n_training": len(now_train), "strict_training": strict,
            "undeclared": [c.as_dict() for c in undeclared], "declared": [c.as_dict() for c in declared],
            "note": note, "fails": bool(undeclared)}


def speed_section(root: Path, base_tree: Path, params: dict, opts: Options, progress=None) -> dict:
    from benchmark.gate import speed

    sp = (params.get("gate") or {}).get("speed") or {}
    rounds = int(opts.speed_rounds or sp.get("rounds", 3))
    threshold = float(opts.threshold or sp.get("threshold", 1.25))
    if rounds < 1 or threshold <= 1.0:
        raise GateError(f"gate.speed: rounds must be ≥ 1 and threshold > 1 (got {rounds}, {threshold})")
    cases = speed.compare(base_tree, root, root / ".gate" / "speed", rounds=rounds, threshold=threshold,
                          select=opts.speed_select, progress=progress)
    return {"checked": True, "rounds": rounds, "threshold": threshold, "cases": [c.as_dict() for c in cases],
            "fails": any(c.fails for c in cases)}


# ---------------------------------------------------------------------------------------------------------- run
def run(opts: Options, cwd: Path | None = None) -> tuple[int, dict]:
    from benchmark.base import params as P
    from benchmark.base.audio import atomic_write
    from benchmark.gate import report

    root = repo_root(cwd or Path.cwd())
    rev, sha = resolve_base(root, opts.base)
    params = P.load(root / opts.params)
    head_commit = git(root, "rev-parse", "HEAD", check=False)
    dirty = bool(git(root, "status", "--porcelain", "--untracked-files=no", check=False))
    doc = {"gate_version": 1, "profile": params["profile"],
           "base": {"rev": rev, "commit": sha},
           "head": {"commit": head_commit, "dirty": dirty,
                    "what": f"working tree of {head_commit[:12]}" + (" (uncommitted changes)" if dirty else "")},
           "could_not_compare": [], "golden": {"checked": False},
           "results": {"mode": "not run" if opts.results else "skipped (--no-results)"},
           "speed": {"checked": False}, "plots_diff": None,
           "command": "amss-bench " + " ".join(shlex.quote(a) for a in opts.argv)}

    def progress(*what):
        log.info("gate: %s", " ".join(str(w) for w in what))

    if opts.results and opts.dvc_check and (root / "dvc.yaml").is_file():
        stale = stale_stages(root)
        if stale:
            doc["could_not_compare"].append(f"head results are stale (dvc status: {', '.join(stale[:8])}"
                                            f"{' …' if len(stale) > 8 else ''}): run `make repro` first")
    with contextlib.ExitStack() as stack:
        need_tree = opts.speed or opts.recompute_base
        base_tree = stack.enter_context(Worktree(root, sha, keep=opts.keep_worktree)) if need_tree else None
        if opts.recompute_base:
            log.info("gate: recomputing the base's results in %s (dvc repro)", base_tree)
            if _dvc(base_tree, "remote", "list", check=False).stdout.strip():
                _dvc(base_tree, "pull", check=False)
            _dvc(base_tree, "repro")
        if opts.results and not doc["could_not_compare"]:
            try:
                doc["results"] = results_section(root, sha, params, opts,
                                                 base_tree if opts.recompute_base else None)
            except (GateError, ValueError) as err:
                doc["could_not_compare"].append(str(err))
        if opts.golden:
            try:
                strict, why = machine_reproduces_numerics(root)
                doc["golden"] = golden_section(root, sha, strict, progress)
                doc["golden"]["strict_why"] = why
            except (FileNotFoundError, ValueError) as err:
                doc["could_not_compare"].append(str(err))
        if opts.speed:
            doc["speed"] = speed_section(root, base_tree, params, opts, progress)
        if opts.plots and (root / "dvc.yaml").is_file():
            out_plots = Path(opts.out) / "plots"
            proc = _dvc(root, "plots", "diff", sha, "-o", str(out_plots.resolve()), check=False)
            doc["plots_diff"] = str(out_plots / "index.html") if proc.returncode == 0 else None

    failing = [part for part in ("results", "golden", "speed") if doc[part].get("fails")]
    if failing:
        code = REGRESSION
        what = []
        if doc["results"].get("fails"):
            n = sum(c["fails"] for c in doc["results"]["cells"]) + sum(i["fails"] for i in doc["results"]["document"])
            what.append(f"{n} result cell(s)/check(s)")
        if doc["golden"].get("fails"):
            what.append(f"{len(doc['golden']['undeclared'])} model output(s)")
        if doc["speed"].get("fails"):
            what.append(f"{sum(c['fails'] for c in doc['speed']['cases'])} speed case(s)")
        doc["verdict_line"] = "❌ FAIL — regression in " + ", ".join(what)
    elif doc["could_not_compare"]:
        code = CANNOT
        doc["verdict_line"] = "⚠ COULD NOT COMPARE — " + "; ".join(doc["could_not_compare"])[:300]
    else:
        code = PASS
        doc["verdict_line"] = "✅ PASS — no regression"
    doc["exit_status"] = code
    out = Path(opts.out)
    if not out.is_absolute():
        out = root / out
    out.mkdir(parents=True, exist_ok=True)
    for name, text in (("gate.json", json.dumps(doc, indent=1, sort_keys=True) + "\n"),
                       ("gate.md", report.markdown(doc))):
        with atomic_write(out / name, "w") as fh:
            fh.write(text)
    doc["_out"] = str(out)
    return code, doc
