"""``amss-bench repro``: the DVC pipeline with independent stages run side by side (``make repro`` calls it).

``dvc repro`` runs one stage at a time, and most stages run one single-threaded process, so on a 2-core machine one
core idled through most of the training. This command keeps DVC as the record and only schedules it:

1. the stages to run are those ``dvc status`` reports changed, and everything downstream of them;
2. each runs as ``dvc --wait-for-lock repro --single-item STAGE`` as soon as the stages it depends on have finished,
   ``--jobs`` processes' worth at a time. A stage that runs several processes itself (``meta: {processes: N}`` in
   ``dvc.yaml``: the four stems of a dedicated model, the evaluation workers) takes N of the slots; longer stages
   (``meta: {cost: …}``, relative) start first;
3. DVC serialises its own bookkeeping (it holds the repository lock except while a stage's command runs), so
   ``dvc.lock`` gets exactly the entries a sequential run writes; their order is then put back to ``dvc.yaml``'s;
4. a final plain ``dvc repro`` confirms that nothing is left to do (it runs whatever is, so the result is a
   complete pipeline in any case).

Every stage runs single-threaded processes whose results do not depend on what runs beside them, so the outputs are
the bytes of a sequential ``dvc repro`` (tested). A stage's output goes to ``.dvc/tmp/repro/<stage>.log``; a failure
prints its tail, lets the running stages finish (what they computed is kept) and starts nothing new.
"""

from __future__ import annotations

import fnmatch
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from benchmark.cli import fail, positive_int

LOG_DIR = Path(".dvc") / "tmp" / "repro"


@dataclass
class Stage:
    name: str
    upstream: set[str] = field(default_factory=set)
    processes: int = 1
    cost: float = 1.0


def load_plan(root: Path) -> tuple[list[Stage], list[str]]:
    """The stages to run (changed ones and their descendants, in ``dvc.yaml`` order) and every stage's name."""
    from dvc.repo import Repo

    with Repo(str(root)) as repo:
        graph = repo.index.graph
        stages = list(repo.index.stages)
        order = [s.addressing for s in stages]
        changed = set(repo.status())
        upstream = {s.addressing: {u.addressing for u in graph.successors(s)} for s in stages}
        meta = {s.addressing: (s.meta or {}) if isinstance(s.meta, dict) else {} for s in stages}
    downstream: dict[str, set[str]] = {n: set() for n in order}
    for name, ups in upstream.items():
        for u in ups:
            downstream[u].add(name)
    todo, stack = set(), [n for n in order if n in changed]
    while stack:
        n = stack.pop()
        if n not in todo:
            todo.add(n)
            stack.extend(downstream[n])
    plan = [Stage(n, upstream[n] & todo, max(1, int(meta[n].get("processes", 1))), float(meta[n].get("cost", 1)))
            for n in order if n in todo]
    return plan, order


def schedule(plan: list[Stage], jobs: int, run, on_event=None) -> list[str]:
    """Run ``plan`` with ``run(stage) -> subprocess.Popen``, at most ``jobs`` processes' worth at a time, each stage
    after its upstream stages. Returns the names of the stages that failed (none started after the first failure)."""
    waiting = {s.name: s for s in plan}
    running: dict[str, tuple[Stage, subprocess.Popen]] = {}
    done: set[str] = set()
    failed: list[str] = []
    while waiting or running:
        busy = sum(min(s.processes, jobs) for s, _ in running.values())
        ready = sorted((s for s in waiting.values() if s.upstream <= done),
                       key=lambda s: (-s.cost, plan.index(s)))
        for stage in ready if not failed else []:
            need = min(stage.processes, jobs)
            if busy + need > jobs and running:
                continue
            del waiting[stage.name]
            running[stage.name] = (stage, run(stage))
            busy += need
            if on_event:
                on_event("start", stage.name)
        if failed and not running:
            break
        time.sleep(0.2)
        for name, (stage, proc) in list(running.items()):
            if proc.poll() is None:
                continue
            del running[name]
            if proc.returncode == 0:
                done.add(name)
                if on_event:
                    on_event("done", name)
            else:
                failed.append(name)
                if on_event:
                    on_event("failed", name)
        if not running and waiting and not failed and not any(s.upstream <= done for s in waiting.values()):
            raise RuntimeError(f"stages wait for stages outside the plan: {sorted(waiting)}")
    return failed


def reorder_lock(root: Path, order: list[str]) -> bool:
    """Put ``dvc.lock``'s stage entries in ``dvc.yaml``'s order (stages finishing side by side append theirs in the
    order they finish). Returns whether anything moved."""
    from dvc.utils.serialize import modify_yaml

    path = root / "dvc.lock"
    if not path.is_file():
        return False
    moved = False
    with modify_yaml(str(path)) as data:
        stages = data.get("stages") or {}
        rank = {n: i for i, n in enumerate(order)}
        names = sorted(stages, key=lambda n: (rank.get(n, len(rank)), n))
        if names != list(stages):
            moved = True
            items = [(n, stages[n]) for n in names]
            for n in names:
                del stages[n]
            for n, v in items:
                stages[n] = v
    return moved


def _handler(args) -> int:
    from tqdm import tqdm

    root = Path.cwd()
    if not (root / "dvc.yaml").is_file():
        return fail(f"{root}: no dvc.yaml here (run amss-bench repro from the project's root)")
    plan, order = load_plan(root)
    if args.dry:
        for s in plan:
            print(f"{s.name}\tprocesses={s.processes}\tcost={s.cost:g}\tafter={','.join(sorted(s.upstream)) or '-'}")
        return 0
    logs = root / LOG_DIR
    logs.mkdir(parents=True, exist_ok=True)

    def run(stage: Stage) -> subprocess.Popen:
        with open(logs / f"{stage.name}.log", "w") as log:  # the child keeps its own descriptor
            return subprocess.Popen([args.dvc, "--wait-for-lock", "repro", "--single-item", stage.name], cwd=root,
                                    stdout=log, stderr=subprocess.STDOUT)

    def event(what: str, name: str) -> None:
        if what == "start":
            started[name] = time.monotonic()
            bar.write(f"amss-bench repro: {name} started")
            return
        bar.update(1)
        seconds = time.monotonic() - started[name]
        bar.write(f"amss-bench repro: {name} {'done' if what == 'done' else 'FAILED'} ({seconds:.0f} s)")
        if what == "failed":
            tail = (logs / f"{name}.log").read_text(errors="replace").splitlines()[-25:]
            bar.write("\n".join("    " + line for line in tail))

    selected = [s for s in plan if not args.stages or any(fnmatch.fnmatch(s.name, p) for p in args.stages)]
    names = {s.name for s in selected}
    for s in selected:
        s.upstream &= names
    started: dict[str, float] = {}
    bar = tqdm(total=len(selected), desc="pipeline stages", unit="stage", disable=not selected)
    failed = schedule(selected, args.jobs, run, event)
    bar.close()
    if reorder_lock(root, order):
        print("amss-bench repro: dvc.lock entries put in dvc.yaml's order", file=sys.stderr)
    if failed:
        return fail(f"stage(s) failed: {', '.join(failed)} (logs in {LOG_DIR}/); the stages that finished are "
                    "recorded in dvc.lock, a new run continues from there", 1)
    if args.stages:
        return 0
    final = subprocess.run([args.dvc, "repro"], cwd=root)
    return final.returncode


def register(sub) -> None:
    p = sub.add_parser("repro", help="run the DVC pipeline with independent stages side by side (make repro)",
                       description=__doc__.splitlines()[0])
    p.add_argument("--jobs", type=positive_int, default=2,
                   help="processes at a time (one per core; the outputs do not depend on it); default 2")
    p.add_argument("--dry", action="store_true", help="print the stages that would run, with their slots, and exit")
    p.add_argument("--stage", dest="stages", action="append", metavar="GLOB",
                   help="only the planned stages matching GLOB (repeatable), without the final dvc repro")
    p.add_argument("--dvc", default="dvc", help="the dvc executable (default: dvc on PATH)")
    p.set_defaults(func=_handler)
