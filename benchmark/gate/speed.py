"""Speed comparison of two code trees in one job: the same pytest-benchmark cases, interleaved A B / B A.

``speed_cases.py`` is copied to a scratch folder and run by pytest once per (round, side) with ``PYTHONPATH`` and
the working directory set to that side's tree (``--import-mode=importlib``, so pytest never puts the head's tree on
``sys.path`` when it measures the base). Each run writes a pytest-benchmark JSON; per case the time is its median
over the run's measured rounds. Per round the ratio head/base; a case **fails** when the median ratio over the
rounds exceeds the threshold (``gate.speed.threshold``, 1.25× by default) *and* every round was slower (ratio > 1)
— a slowdown beyond the noise, not one unlucky round. The spread of the ratios is reported with it; a case that
errors on one side (the base lacks its API) is "not comparable", never a failure.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import statistics
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)
CASES_FILE = Path(__file__).with_name("speed_cases.py")


@dataclass
class SpeedCase:
    name: str
    base_s: list[float] = field(default_factory=list)   # median seconds per round
    head_s: list[float] = field(default_factory=list)
    ratios: list[float] = field(default_factory=list)
    status: str = "ok"          # ok | slower | faster | not comparable
    note: str = ""

    @property
    def ratio(self) -> float | None:
        return statistics.median(self.ratios) if self.ratios else None

    @property
    def fails(self) -> bool:
        return self.status == "slower"

    def as_dict(self) -> dict:
        return {"case": self.name, "base_s": self.base_s, "head_s": self.head_s, "ratios": self.ratios,
                "ratio": self.ratio, "spread": [min(self.ratios), max(self.ratios)] if self.ratios else None,
                "status": self.status, "note": self.note, "fails": self.fails}


def _pytest_cmd(case_file: Path, json_out: Path, select: str | None) -> list[str]:
    cmd = [sys.executable, "-m", "pytest", str(case_file), "-q", "-p", "no:cacheprovider", "-o", "addopts=",
           "--import-mode=importlib", "--rootdir", str(case_file.parent), "--benchmark-enable",
           f"--benchmark-json={json_out}", "-W", "ignore"]
    if select:
        cmd += ["-k", select]
    return cmd


def _env(tree: Path) -> dict:
    # pytest's own variables are the caller's (PYTEST_ADDOPTS; an xdist worker's PYTEST_XDIST_*, under which
    # pytest-benchmark disables itself): the cases run as a plain, separate pytest
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["PYTHONPATH"] = str(tree)
    return env


def run_side(tree: Path, case_file: Path, json_out: Path, select: str | None = None,
             timeout: float = 1800) -> tuple[dict[str, float], dict[str, str]]:
    """Run the cases against ``tree``: ({case: median seconds}, {case: error})."""
    proc = subprocess.run(_pytest_cmd(case_file, json_out, select), cwd=tree, env=_env(tree),
                          capture_output=True, text=True, timeout=timeout)
    times, errors = {}, {}
    if json_out.is_file():
        for b in json.loads(json_out.read_text()).get("benchmarks", []):
            times[b["name"]] = float(b["stats"]["median"])
    for line in proc.stdout.splitlines():
        if line.startswith(("FAILED ", "ERROR ")):
            node = line.split()[1].split("::")[-1]
            errors[node] = line
    if proc.returncode not in (0, 1) and not times:
        errors["<pytest>"] = (proc.stdout + proc.stderr)[-2000:]
    return times, errors


def compare(base_tree: Path, head_tree: Path, work: Path, *, rounds: int = 3, threshold: float = 1.25,
            select: str | None = None, progress=None, cases_file: Path = CASES_FILE) -> list[SpeedCase]:
    """Interleaved rounds (round r: base then head for even r, head then base for odd r)."""
    work.mkdir(parents=True, exist_ok=True)
    case_file = work / "test_gate_speed_cases.py"
    shutil.copyfile(cases_file, case_file)
    per = {"base": [], "head": []}
    errs = {"base": {}, "head": {}}
    trees = {"base": Path(base_tree).resolve(), "head": Path(head_tree).resolve()}
    for r in range(rounds):
        order = ("base", "head") if r % 2 == 0 else ("head", "base")
        for side in order:
            if progress:
                progress(f"speed round {r + 1}/{rounds}: {side}")
            times, e = run_side(trees[side], case_file, work / f"{side}-{r}.json", select)
            per[side].append(times)
            errs[side].update(e)
    names = sorted({n for t in per["base"] + per["head"] for n in t} | set(errs["base"]) | set(errs["head"]))
    cases = []
    for name in names:
        c = SpeedCase(name)
        for rb, rh in zip(per["base"], per["head"]):
            if name in rb and name in rh:
                c.base_s.append(rb[name])
                c.head_s.append(rh[name])
                c.ratios.append(rh[name] / rb[name] if rb[name] > 0 else float("inf"))
        if len(c.ratios) < rounds:
            c.status = "not comparable"
            side = "base" if name in errs["base"] or any(name not in t for t in per["base"]) else "head"
            c.note = f"did not run on the {side}" + (f": {errs[side][name][:200]}" if name in errs[side] else "")
            if side == "head":
                c.status = "slower"       # a case that the head breaks is a failure, not a skip
                c.note = "fails on the head: " + errs["head"].get(name, "no timing")[:300]
        elif c.ratio > threshold and min(c.ratios) > 1.0:
            c.status = "slower"
        elif c.ratio < 1 / threshold and max(c.ratios) < 1.0:
            c.status = "faster"
        cases.append(c)
    if "<pytest>" in errs["head"]:
        cases.append(SpeedCase("<pytest>", status="slower", note="the speed cases did not run on the head: "
                               + errs["head"]["<pytest>"][-500:]))
    return cases
