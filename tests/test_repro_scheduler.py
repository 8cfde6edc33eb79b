"""``amss-bench repro``: DVC stages side by side, each after its upstream stages, with the bytes of a sequential
``dvc repro``."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from benchmark.cli import repro

DVC = str(Path(sys.executable).with_name("dvc"))


class _Proc:
    """A finished-after-``ticks``-polls stand-in for a subprocess."""

    def __init__(self, log, name, ticks, rc):
        self.log, self.name, self.ticks, self.rc = log, name, ticks, rc
        self.returncode = None

    def poll(self):
        self.ticks -= 1
        if self.ticks <= 0:
            self.returncode = self.rc
            self.log.append(("end", self.name))
            return self.rc
        return None


def _fake(log, ticks=None, fail=()):
    def run(stage):
        log.append(("start", stage.name))
        return _Proc(log, stage.name, (ticks or {}).get(stage.name, 2), 1 if stage.name in fail else 0)
    return run


def test_schedule_respects_dependencies_slots_and_cost(monkeypatch):
    monkeypatch.setattr(repro.time, "sleep", lambda s: None)
    S = repro.Stage
    plan = [S("a"), S("b", cost=5), S("wide", processes=2), S("c", upstream={"a", "b"})]
    log = []
    assert repro.schedule(plan, 2, _fake(log, {"b": 4})) == []
    starts = [n for what, n in log if what == "start"]
    assert starts[:2] == ["b", "a"]  # the costlier first, two narrow stages side by side
    running, peak = set(), 0
    for what, n in log:
        running.add(n) if what == "start" else running.discard(n)
        width = sum(2 if x == "wide" else 1 for x in running)
        peak = max(peak, width)
        if what == "start" and n == "c":
            assert ("end", "a") in log[:log.index((what, n))] and ("end", "b") in log[:log.index((what, n))]
    assert peak <= 2
    assert sorted(starts) == ["a", "b", "c", "wide"]


def test_a_failure_starts_nothing_new_but_lets_the_running_finish(monkeypatch):
    monkeypatch.setattr(repro.time, "sleep", lambda s: None)
    S = repro.Stage
    plan = [S("a", cost=2), S("b"), S("after-a", upstream={"a"}), S("d")]
    log = []
    failed = repro.schedule(plan, 2, _fake(log, {"a": 1, "b": 3}, fail={"a"}))
    assert failed == ["a"]
    assert ("end", "b") in log  # the running stage finished
    assert ("start", "after-a") not in log and ("start", "d") not in log


def test_a_stage_wider_than_the_machine_still_runs_alone(monkeypatch):
    monkeypatch.setattr(repro.time, "sleep", lambda s: None)
    log = []
    assert repro.schedule([repro.Stage("w", processes=4)], 2, _fake(log)) == []
    assert log == [("start", "w"), ("end", "w")]


def _toy_repo(path: Path) -> Path:
    path.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=path, check=True)
    subprocess.run([DVC, "init", "-q"], cwd=path, check=True)
    (path / "dvc.yaml").write_text("""stages:
  b:
    cmd: python -c "import time; time.sleep(1); open('b.txt', 'w').write('b')"
    outs: [b.txt]
  a:
    meta:
      cost: 3
    cmd: python -c "import time; time.sleep(1); open('a.txt', 'w').write('a')"
    outs: [a.txt]
  c:
    cmd: python -c "open('c.txt', 'w').write(open('a.txt').read() + open('b.txt').read())"
    deps: [a.txt, b.txt]
    outs: [c.txt]
""")
    return path


@pytest.mark.skipif(not Path(DVC).exists(), reason="dvc is not installed beside this interpreter")
def test_end_to_end_the_lock_file_is_the_sequential_runs_and_a_second_run_does_nothing(tmp_path):
    par, seq = _toy_repo(tmp_path / "par"), None
    seq = tmp_path / "seq"
    shutil.copytree(par, seq)
    env = {**os.environ, "PATH": f"{Path(DVC).parent}:{os.environ['PATH']}"}
    subprocess.run([DVC, "repro", "-q"], cwd=seq, check=True, env=env)
    cli = [sys.executable, "-m", "benchmark.cli", "-q", "repro", "--jobs", "2", "--dvc", DVC]
    res = subprocess.run(cli, cwd=par, capture_output=True, text=True, env=env)
    assert res.returncode == 0, res.stderr
    assert (par / "dvc.lock").read_bytes() == (seq / "dvc.lock").read_bytes()
    assert (par / "c.txt").read_text() == "ab"
    assert "a started" in res.stderr + res.stdout
    dry = subprocess.run(cli + ["--dry"], cwd=par, capture_output=True, text=True, env=env)
    assert dry.returncode == 0 and dry.stdout == ""  # nothing left to run


def test_reorder_lock_puts_stages_in_dvc_yaml_order(tmp_path):
    lock = tmp_path / "dvc.lock"
    lock.write_text("schema: '2.0'\nstages:\n  c:\n    cmd: x\n  a:\n    cmd: y\n")
    assert repro.reorder_lock(tmp_path, ["a", "b", "c"])
    assert lock.read_text() == "schema: '2.0'\nstages:\n  a:\n    cmd: y\n  c:\n    cmd: x\n"
    assert not repro.reorder_lock(tmp_path, ["a", "b", "c"])
