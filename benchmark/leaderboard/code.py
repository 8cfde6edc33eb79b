"""Code submissions: a system given as ``module:factory`` or as an ``amss_bench.systems`` entry point, run by the
suite in a separate process under a per-track time limit and a memory limit.

* ``module:factory`` — ``factory()`` returns an object following :class:`baselines.base.System` (``estimate(task,
  pair, track=...) -> (N, 2)``, optional ``supports(task)``, ``uses_target``). ``search_path`` (the entry's folder
  under ``submissions/``) is put first on ``sys.path`` of the worker.
* an entry point name: ``[project.entry-points."amss_bench.systems"] my-model = "my_pkg.system:make"``.

The worker runs in a sandbox (:mod:`.sandbox`: bubblewrap, or unisolated only with ``trusted_local``) that holds the
Python runtime, a copy of the submission's files and a small shim of the suite, and nothing else: no data root, test
set, results, reports, other entries or network. It receives the pair's *input* only (and the target only when the
system declares ``uses_target = True``, i.e. an oracle) and talks to the suite over its stdin/stdout with the
data-only protocol of :mod:`.worker` (JSON headers and float ``.npy`` arrays, size-capped; nothing is unpickled), so a
non-oracle system can neither read nor regenerate the targets, and nothing it returns can run code here. Limits
(``params.yaml`` ``leaderboard.code``): ``time_limit_s_per_track`` — the wall time of all estimate calls of one
test track together; past it the whole sandbox is killed and restarted, the task × track reported as a time-out and the
remaining tasks of that track as not run; ``memory_limit_mb`` — ``RLIMIT_AS`` of the worker (its allocations fail
beyond it). Import errors, exceptions, wrong output shapes/dtypes, non-finite samples and time-outs are collected
per task × track (the run goes on with the input as a stand-in, so that every problem is reported at once) and
:meth:`CodeSystem.problems` lists them; an entry with any problem is not added.

The property tasks (drift, level control; :mod:`.properties`) reach the worker as ordinary estimate frames marked
``"property": true``: the worker resolves the id with ``benchmark.task.properties`` of its shim, and such a frame
never carries the target, even for a system declaring ``uses_target``.

Provenance: the distribution and version of the package behind the module (``importlib.metadata``), and the sha256
of its files (every file of the top-level package, or the single module file) — part of the system fingerprint.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.metadata
import os
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import numpy as np

from baselines.base import System, SystemConfigError
from benchmark.base.provenance import json_sha256

GROUP = "amss_bench.systems"


def is_property(task) -> bool:
    """A property task (drift / level control, :mod:`benchmark.task.properties`), not one of the catalogue."""
    return task.table == "property"


def resolve(spec: str, search_path: str | Path | None = None) -> dict:
    """Where a system spec points to: ``{"spec", "target" (module:attr), "module", "files_sha256", "files",
    "package", "version", "entry_point"}`` — without importing the submitter's code."""
    ep_name = None
    target = spec
    dist = None
    if ":" not in spec:
        eps = [e for e in importlib.metadata.entry_points(group=GROUP) if e.name == spec]
        if not eps:
            known = sorted(e.name for e in importlib.metadata.entry_points(group=GROUP))
            raise SystemConfigError(f"no entry point {spec!r} in group {GROUP} (installed: "
                                    f"{', '.join(known) or 'none'}); give module:factory or install the package")
        ep_name, target = spec, eps[0].value
        dist = getattr(eps[0], "dist", None)
    module, _, attr = target.partition(":")
    if not module or not attr:
        raise SystemConfigError(f"system {spec!r}: expected module:factory")
    top = module.split(".")[0]
    paths = [str(search_path)] if search_path is not None else None
    found = importlib.machinery.PathFinder.find_spec(top, paths) if paths else None
    if found is None:
        found = importlib.machinery.PathFinder.find_spec(top)
    if found is None:
        raise SystemConfigError(f"system {spec!r}: module {top!r} not found"
                                + (f" (searched {search_path} and sys.path)" if search_path else ""))
    if found.submodule_search_locations:
        root = Path(list(found.submodule_search_locations)[0])
        files = sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts
                       and p.suffix not in (".pyc", ".pyo"))
        base = root.parent
    else:
        if not found.origin or not Path(found.origin).is_file():
            raise SystemConfigError(f"system {spec!r}: module {top!r} has no source file")
        files = [Path(found.origin)]
        base = files[0].parent
    h = hashlib.sha256()
    for f in files:
        h.update(f.relative_to(base).as_posix().encode() + b"\0")
        h.update(hashlib.sha256(f.read_bytes()).hexdigest().encode() + b"\n")
    if dist is None:
        names = importlib.metadata.packages_distributions().get(top, [])
        if names:
            try:
                dist = importlib.metadata.distribution(names[0])
            except importlib.metadata.PackageNotFoundError:
                dist = None
    return {"spec": spec, "target": target, "module": module, "entry_point": ep_name,
            "files": [f.relative_to(base).as_posix() for f in files], "files_sha256": h.hexdigest(),
            "package": dist.metadata["Name"] if dist is not None else None,
            "version": dist.version if dist is not None else None}


class _Tail(threading.Thread):
    """Drains the worker's stderr, keeping its last ``keep`` bytes (for error messages; never written anywhere)."""

    def __init__(self, stream, keep: int = 8192):
        super().__init__(daemon=True)
        self.stream, self.keep, self.data = stream, keep, b""

    def run(self) -> None:
        try:
            for block in iter(lambda: self.stream.read1(1 << 16), b""):
                self.data = (self.data + block)[-self.keep:]
        except (OSError, ValueError):
            pass

    def text(self) -> str:
        return self.data.decode("utf-8", errors="replace").strip()


class CodeSystem(System):
    """A submitted system run in a sandboxed worker under time and memory limits (see the module docstring)."""

    kind = "model"
    version = 1

    def __init__(self, spec: str, name: str, *, search_path: str | Path | None = None,
                 time_limit_s_per_track: float = 600.0, memory_limit_mb: int | None = 8192,
                 start_timeout_s: float = 300.0, label: str | None = None, trusted_local: bool = False):
        from benchmark.leaderboard import sandbox

        super().__init__(name, label=label or name)
        self.search_path = str(search_path) if search_path is not None else None
        self.info = resolve(spec, search_path)
        self.backend = sandbox.detect(trusted_local)
        self.time_limit = float(time_limit_s_per_track)
        self.memory_limit_mb = memory_limit_mb
        self.start_timeout_s = float(start_timeout_s)
        self._proc: subprocess.Popen | None = None
        self._stage: Path | None = None
        self._tail: _Tail | None = None
        self.uses_target: bool | None = None
        self.system_class: str | None = None
        self.spent: dict[str, float] = {}
        self.errors: list[str] = []
        self.calls = 0
        self._supported: dict[str, bool] = {}  # task id -> the worker's supports() answer (:meth:`unsupported`)

    # ------------------------------------------------------------------------------------------ provenance
    @property
    def fingerprint(self) -> str:
        return json_sha256({"code": {k: self.info[k] for k in ("target", "files_sha256", "package", "version")},
                            "version": self.version})

    def metadata(self) -> dict:
        return {**super().metadata(), "code": {k: self.info[k] for k in (
            "spec", "target", "entry_point", "package", "version", "files_sha256")},
            "system_class": self.system_class, "uses_target": self.uses_target,
            "limits": {"time_limit_s_per_track": self.time_limit, "memory_limit_mb": self.memory_limit_mb}}

    # ------------------------------------------------------------------------------------------ worker
    def start(self) -> None:
        from benchmark.leaderboard import sandbox
        from benchmark.leaderboard.worker import WireError, WireTimeout

        if self._proc is not None and self._proc.poll() is None:
            return
        self.stop()
        self._stage = sandbox.stage(self.info, self.search_path)
        cfg = {"target": self.info["target"], "path": sandbox.worker_paths(self.backend, self._stage),
               "memory_mb": self.memory_limit_mb, "max_processes": sandbox.MAX_PROCESSES}
        import json

        argv, env = sandbox.command(self.backend, self._stage, json.dumps(cfg))
        self._proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      env=env, cwd=self._stage, start_new_session=True, close_fds=True)
        self._tail = _Tail(self._proc.stderr)
        self._tail.start()
        what = f"system {self.info['spec']!r}"
        try:
            head, _ = self._recv(time.monotonic() + self.start_timeout_s, ())
        except WireTimeout:
            self.stop()
            raise SystemConfigError(f"{what}: not ready after {self.start_timeout_s:.0f} s (import and factory "
                                    "call)") from None
        except (EOFError, WireError) as err:
            code, tail = self._dead()
            raise SystemConfigError(f"{what}: the worker died while importing it (exit code {code}; memory limit "
                                    f"{self.memory_limit_mb} MB?){self._why(err, tail)}") from None
        if head.get("kind") != "ready":
            self.stop()
            raise SystemConfigError(f"{what} could not be built:\n{str(head.get('message'))[:8000]}")
        self.uses_target = bool(head.get("uses_target"))
        self.system_class = str(head.get("class"))[:300]

    @staticmethod
    def _why(err, tail: str) -> str:
        out = f"; {err}" if str(err) else ""
        return out + (f"; its stderr ends with:\n{tail[-2000:]}" if tail else "")

    def _send(self, header: dict, arrays=()) -> None:
        from benchmark.leaderboard.worker import send

        send(self._proc.stdin, header, arrays)

    def _recv(self, deadline: float, caps):
        from benchmark.leaderboard.worker import recv

        return recv(self._proc.stdout.fileno(), deadline=deadline, max_array_bytes=caps)

    def _dead(self) -> tuple[int | None, str]:
        """Kill the worker (if alive) and return its exit code and the tail of its stderr."""
        code = self._proc.poll() if self._proc is not None else None
        tail = ""
        self.stop()
        if self._tail is not None:
            self._tail.join(2)
            tail = self._tail.text()
        return code, tail

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.poll() is None:
                try:
                    from benchmark.leaderboard.worker import send

                    send(proc.stdin, {"op": "stop"})
                    proc.wait(2)
                except (OSError, ValueError, subprocess.TimeoutExpired):
                    pass
            # the whole process group (bwrap and, through its PID namespace and --die-with-parent, everything the
            # submission started; in trusted-local mode the worker's own group)
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            proc.wait()
            for f in (proc.stdin, proc.stdout):
                try:
                    f.close()
                except OSError:
                    pass
        if self._stage is not None:
            shutil.rmtree(self._stage, ignore_errors=True)
            self._stage = None

    def __del__(self):  # pragma: no cover
        try:
            self.stop()
        except Exception:  # noqa: BLE001
            pass

    def __getstate__(self):  # never pickled into evaluation workers (the suite evaluates it with workers=1)
        raise TypeError("CodeSystem runs its own worker process; evaluate it with workers=1")

    # ------------------------------------------------------------------------------------------ protocol
    def check(self, tasks, tracks) -> None:
        bad = self.unsupported(tasks)
        if bad:
            raise SystemConfigError(f"system {self.info['spec']!r} cannot answer task(s) {', '.join(bad)} of the "
                                    "submission's task group (declare another `tasks:` group)")

    def unsupported(self, tasks) -> list[str]:
        """The ids among ``tasks`` (catalogue or property tasks, not mixed) the system's ``supports()`` refuses,
        asked of the worker once; the answer is kept for :meth:`supports`."""
        from benchmark.leaderboard.worker import WireError, WireTimeout

        tasks = list(tasks)
        self.start()
        what = f"system {self.info['spec']!r}"
        prop = bool(tasks) and is_property(tasks[0])
        try:
            self._send({"op": "supports", "tasks": [t.id for t in tasks], "property": prop})
            head, _ = self._recv(time.monotonic() + self.start_timeout_s, ())
        except (WireTimeout, EOFError, WireError, OSError) as err:
            self.stop()
            raise SystemConfigError(f"{what}: supports() did not answer ({type(err).__name__} {err})") from None
        if head.get("kind") != "ok":
            raise SystemConfigError(f"{what}: supports() failed: {str(head.get('message'))[:8000]}")
        bad = head.get("unsupported")
        known = {t.id for t in tasks}
        if not isinstance(bad, list) or not all(isinstance(b, str) and b in known for b in bad):
            self.stop()
            raise SystemConfigError(f"{what}: supports() answered something other than a list of task ids")
        self._supported.update({t.id: t.id not in bad for t in tasks})
        return list(bad)

    def supports(self, task) -> bool:
        if task.id not in self._supported:
            self.unsupported([task])
        return self._supported[task.id]

    def problems(self) -> list[str]:
        return list(self.errors)

    def estimate(self, task, pair, *, track=None) -> np.ndarray:
        from benchmark.leaderboard.worker import WireError, WireTimeout, decode_array, max_npy_bytes

        x = np.ascontiguousarray(pair.input, dtype=np.float32)
        prop = is_property(task)
        where = f"task {task.id}" + (f" (query {task.description!r})" if prop else "") + f" × track {track!r}"
        left = self.time_limit - self.spent.get(track, 0.0)
        if left <= 0:
            self.errors.append(f"{where}: not run (the track's time limit of {self.time_limit:g} s was spent)")
            return x.copy()
        self.start()
        self.calls += 1
        # a property query never carries its ground truth, whatever the system declares (the suite refuses to run
        # the property tasks of a system that reads the targets: benchmark.leaderboard.properties)
        send_target = self.uses_target and not prop
        arrays = [x] + ([np.ascontiguousarray(pair.target, dtype=np.float32)] if send_target else [])
        t0 = time.perf_counter()
        try:
            self._send({"op": "estimate", "task": task.id, "track": track, "property": prop}, arrays)
            head, blobs = self._recv(time.monotonic() + left, (max_npy_bytes(x.shape),))
        except WireTimeout:
            self.stop()
            self.spent[track] = self.time_limit
            self.errors.append(f"{where}: time-out (the per-track time limit of {self.time_limit:g} s, params.yaml "
                               "leaderboard.code.time_limit_s_per_track, ran out; the worker was killed)")
            return x.copy()
        except (EOFError, OSError) as err:
            self.spent[track] = self.spent.get(track, 0.0) + (time.perf_counter() - t0)
            code, tail = self._dead()
            self.errors.append(f"{where}: the worker died (exit code {code}; memory limit "
                               f"{self.memory_limit_mb} MB?){self._why(err, tail)}")
            return x.copy()
        except WireError as err:
            self.spent[track] = self.spent.get(track, 0.0) + (time.perf_counter() - t0)
            self._dead()
            self.errors.append(f"{where}: the worker broke the protocol ({err}); it was killed")
            return x.copy()
        self.spent[track] = self.spent.get(track, 0.0) + (time.perf_counter() - t0)
        if head.get("kind") != "ok" or len(blobs) != 1:
            msg = head.get("message") if head.get("kind") in ("error", "bad") else f"unexpected answer {head!r:.300}"
            self.errors.append(f"{where}: {str(msg)[:8000]}")
            return x.copy()
        try:
            est = decode_array(blobs[0])
        except ValueError as err:  # the worker's own code never sends such a frame: restart it
            self._dead()
            self.errors.append(f"{where}: estimate refused: {err}")
            return x.copy()
        if est.ndim != 2 or est.shape != x.shape:
            self.errors.append(f"{where}: estimate of shape {est.shape}, expected {x.shape} (samples, 2)")
            return x.copy()
        if not np.isfinite(est).all():
            self.errors.append(f"{where}: estimate has NaN or infinite samples")
            return x.copy()
        return np.ascontiguousarray(est, dtype=np.float32)
