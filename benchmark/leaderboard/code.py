"""Code submissions: a system given as ``module:factory`` or as an ``amss_bench.systems`` entry point, run by the
suite in a separate process under a per-track time limit and a memory limit.

* ``module:factory`` — ``factory()`` returns an object following :class:`baselines.base.System` (``estimate(task,
  pair, track=...) -> (N, 2)``, optional ``supports(task)``, ``uses_target``). ``search_path`` (the entry's folder
  under ``submissions/``) is put first on ``sys.path`` of the worker.
* an entry point name: ``[project.entry-points."amss_bench.systems"] my-model = "my_pkg.system:make"``.

The worker is a spawned process holding the system; it receives the pair's *input* only (and the target only when
the system declares ``uses_target = True``, i.e. an oracle), so a non-oracle system cannot read the targets. Limits
(``params.yaml`` ``leaderboard.code``): ``time_limit_s_per_track`` — the wall time of all estimate calls of one
test track together; past it the worker is killed and restarted, the task × track reported as a time-out and the
remaining tasks of that track as not run; ``memory_limit_mb`` — ``RLIMIT_AS`` of the worker (its allocations fail
beyond it). Import errors, exceptions, wrong output shapes/dtypes, non-finite samples and time-outs are collected
per task × track (the run goes on with the input as a stand-in, so that every problem is reported at once) and
:meth:`CodeSystem.problems` lists them; an entry with any problem is not added.

Provenance: the distribution and version of the package behind the module (``importlib.metadata``), and the sha256
of its files (every file of the top-level package, or the single module file) — part of the system fingerprint.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.metadata
import multiprocessing as mp
import os
import sys
import time
import traceback
from pathlib import Path

import numpy as np

from baselines.base import System, SystemConfigError
from benchmark.base.provenance import json_sha256

GROUP = "amss_bench.systems"


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


# ------------------------------------------------------------------------------------------------------ worker

def _worker(conn, target: str, search_path: str | None, memory_mb: int | None) -> None:  # pragma: no cover - child
    try:
        if memory_mb:
            import resource

            lim = int(memory_mb) << 20
            resource.setrlimit(resource.RLIMIT_AS, (lim, lim))
        for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ.setdefault(k, "1")
        sys.dont_write_bytecode = True  # no __pycache__ in an entry's folder (a DVC dependency)
        if search_path:
            sys.path.insert(0, search_path)
        import importlib

        module, _, attr = target.partition(":")
        factory = importlib.import_module(module)
        for part in attr.split("."):
            factory = getattr(factory, part)
        system = factory()
        if not callable(getattr(system, "estimate", None)):
            raise TypeError(f"{target}() returned {type(system).__name__}, which has no estimate(task, pair, track=)")
        conn.send(("ready", {"uses_target": bool(getattr(system, "uses_target", False)),
                             "class": f"{type(system).__module__}.{type(system).__qualname__}"}))
    except BaseException:  # noqa: BLE001
        conn.send(("error", traceback.format_exc(limit=6)))
        return
    from benchmark.task import dsp
    from benchmark.task.tasks import get_task

    while True:
        try:
            msg = conn.recv()
        except EOFError:
            return
        if msg[0] == "stop":
            return
        try:
            if msg[0] == "supports":
                sup = getattr(system, "supports", None)
                conn.send(("ok", [t for t in msg[1] if sup is not None and not sup(get_task(t))]))
                continue
            _, tid, x, target_audio, track = msg
            task = get_task(tid)
            pair = dsp.Pair(x, target_audio, task.query)
            est = system.estimate(task, pair, track=track)
            conn.send(("ok", np.asarray(est)))
        except BaseException as err:  # noqa: BLE001
            if isinstance(err, MemoryError):
                conn.send(("error", "MemoryError: the memory limit was reached"))
            else:
                conn.send(("error", "".join(traceback.format_exception_only(type(err), err)).strip()))


class CodeSystem(System):
    """A submitted system run in a worker process under time and memory limits (see the module docstring)."""

    kind = "model"
    version = 1

    def __init__(self, spec: str, name: str, *, search_path: str | Path | None = None,
                 time_limit_s_per_track: float = 600.0, memory_limit_mb: int | None = 8192,
                 start_timeout_s: float = 300.0, label: str | None = None):
        super().__init__(name, label=label or name)
        self.search_path = str(search_path) if search_path is not None else None
        self.info = resolve(spec, search_path)
        self.time_limit = float(time_limit_s_per_track)
        self.memory_limit_mb = memory_limit_mb
        self.start_timeout_s = float(start_timeout_s)
        self._proc = None
        self._conn = None
        self.uses_target: bool | None = None
        self.system_class: str | None = None
        self.spent: dict[str, float] = {}
        self.errors: list[str] = []
        self.calls = 0

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
        if self._proc is not None and self._proc.is_alive():
            return
        ctx = mp.get_context("spawn")
        parent, child = ctx.Pipe()
        self._proc = ctx.Process(target=_worker, args=(child, self.info["target"], self.search_path,
                                                       self.memory_limit_mb), daemon=True)
        self._proc.start()
        child.close()
        self._conn = parent
        if not parent.poll(self.start_timeout_s):
            self.stop()
            raise SystemConfigError(f"system {self.info['spec']!r}: not ready after {self.start_timeout_s:.0f} s "
                                    "(import and factory call)")
        try:
            kind, payload = parent.recv()
        except EOFError:
            code = self._proc.exitcode
            self.stop()
            raise SystemConfigError(f"system {self.info['spec']!r}: the worker died while importing it (exit code "
                                    f"{code}; memory limit {self.memory_limit_mb} MB?)") from None
        if kind != "ready":
            self.stop()
            raise SystemConfigError(f"system {self.info['spec']!r} could not be built:\n{payload}")
        self.uses_target = payload["uses_target"]
        self.system_class = payload["class"]

    def stop(self) -> None:
        if self._proc is not None:
            try:
                if self._proc.is_alive() and self._conn is not None:
                    self._conn.send(("stop",))
                    self._proc.join(2)
            except (OSError, BrokenPipeError):
                pass
            if self._proc.is_alive():
                self._proc.kill()
                self._proc.join(5)
        self._proc = self._conn = None

    def __del__(self):  # pragma: no cover
        try:
            self.stop()
        except Exception:  # noqa: BLE001
            pass

    def __getstate__(self):  # never pickled into evaluation workers (the suite evaluates it with workers=1)
        raise TypeError("CodeSystem runs its own worker process; evaluate it with workers=1")

    # ------------------------------------------------------------------------------------------ protocol
    def check(self, tasks, tracks) -> None:
        self.start()
        self._conn.send(("supports", [t.id for t in tasks]))
        if not self._conn.poll(self.start_timeout_s):
            self.stop()
            raise SystemConfigError(f"system {self.info['spec']!r}: supports() did not answer")
        kind, bad = self._conn.recv()
        if kind != "ok":
            raise SystemConfigError(f"system {self.info['spec']!r}: supports() failed: {bad}")
        if bad:
            raise SystemConfigError(f"system {self.info['spec']!r} cannot answer task(s) {', '.join(bad)} of the "
                                    "submission's task group (declare another `tasks:` group)")

    def problems(self) -> list[str]:
        return list(self.errors)

    def estimate(self, task, pair, *, track=None) -> np.ndarray:
        x = np.ascontiguousarray(pair.input, dtype=np.float32)
        where = f"task {task.id} × track {track!r}"
        left = self.time_limit - self.spent.get(track, 0.0)
        if left <= 0:
            self.errors.append(f"{where}: not run (the track's time limit of {self.time_limit:g} s was spent)")
            return x.copy()
        self.start()
        self.calls += 1
        target = np.ascontiguousarray(pair.target, dtype=np.float32) if self.uses_target else None
        t0 = time.perf_counter()
        self._conn.send(("estimate", task.id, x, target, track))
        ready = self._conn.poll(left)
        self.spent[track] = self.spent.get(track, 0.0) + (time.perf_counter() - t0)
        if not ready:
            self.stop()
            self.spent[track] = self.time_limit
            self.errors.append(f"{where}: time-out (the per-track time limit of {self.time_limit:g} s, params.yaml "
                               "leaderboard.code.time_limit_s_per_track, ran out; the worker was killed)")
            return x.copy()
        try:
            kind, payload = self._conn.recv()
        except EOFError:
            code = self._proc.exitcode if self._proc is not None else None
            self.stop()
            self.errors.append(f"{where}: the worker died (exit code {code}; memory limit "
                               f"{self.memory_limit_mb} MB?)")
            return x.copy()
        if kind != "ok":
            self.errors.append(f"{where}: {payload}")
            return x.copy()
        est = payload
        if est.ndim != 2 or est.shape != x.shape:
            self.errors.append(f"{where}: estimate of shape {est.shape}, expected {x.shape} (samples, 2)")
            return x.copy()
        if est.dtype.kind != "f":
            self.errors.append(f"{where}: estimate of dtype {est.dtype}, expected floating point")
            return x.copy()
        if not np.isfinite(est).all():
            self.errors.append(f"{where}: estimate has NaN or infinite samples")
            return x.copy()
        return np.ascontiguousarray(est, dtype=np.float32)
