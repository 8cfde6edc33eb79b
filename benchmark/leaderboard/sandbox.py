"""Where a code submission runs: a bubblewrap sandbox holding only the Python runtime, the submission's own files and
a small shim of the suite (docs/leaderboard.md, "Isolation").

Backends (:func:`detect`):

* ``bwrap`` — ``bwrap`` (Debian package ``bubblewrap``) with new user, PID, network, IPC, UTS and cgroup namespaces
  (``--unshare-all --unshare-user``), every capability dropped, no user namespace creatable inside
  (``--disable-userns``), a cleared environment, its own session, killed with the suite (``--die-with-parent``),
  uid/gid 65534. The file system is an empty tmpfs with read-only binds of ``/usr`` (and the ``/lib``, ``/bin``
  links), the Python runtime (``sys.base_prefix``), the site-packages of the suite's environment (third-party
  packages such as NumPy and PyTorch; the suite itself is installed *editable*, i.e. as a path into the checkout,
  which is not bound, and ``-S`` keeps the editable finder from being installed) and ``/amss`` (a staging folder
  with the worker, the shim and a copy of the submission's files); ``/tmp`` is a fresh writable tmpfs (the scratch,
  also ``HOME``). There is no data root, test set, results, reports, other submissions, ``/etc``, ``/home``,
  ``/root``, ``/work`` or network inside.
* ``trusted-local`` — only when the user asks for it (``--trusted-local``): the same worker, protocol and shim in a
  plain process, *without* isolation; recorded in the entry and flagged on the leaderboard.

Where ``bwrap`` is missing or the kernel refuses its namespaces (some containers), code submissions are refused with
a message naming both ways out.

The shim (:data:`SHIM`) is the part of the suite a system may import inside the sandbox: the ``System`` protocol
(``baselines.base``), the task catalogue and the query language (``benchmark.task.tasks``, ``benchmark.task.aml``,
``benchmark.base.constants``), the reference DSP and the ``Pair`` container (``benchmark.task.dsp``), hashing helpers
(``benchmark.base.provenance``), the property task ids (``benchmark.task.properties``: the worker resolves the
drift and level-control queries with it; the ground truths it can build need the stems, which are not there) and
the training-free ``dsp-mixture`` baseline (``baselines.dsp_mixture``, used by the
example entry). None of it can build a test set: the test-set, data, synthesis, evaluation and model modules are not
there, and the stems are not either.
"""

from __future__ import annotations

import functools
import importlib.machinery
import importlib.util
import os
import shutil
import site
import subprocess
import sys
import tempfile
from pathlib import Path

from baselines.base import SystemConfigError

BACKENDS = ("bwrap", "trusted-local")
#: module → the file of the suite copied into the shim (package ``__init__`` files are written empty)
SHIM = ("baselines.base", "baselines.dsp_mixture", "benchmark.task.aml", "benchmark.base.constants", "benchmark.task.dsp",
        "benchmark.base.provenance", "benchmark.task.tasks", "benchmark.task.properties")
#: top-level packages of the suite: a submission cannot be one of them (its files would be copied into the sandbox)
SUITE_PACKAGES = ("baselines", "benchmark", "models")
MAX_PROCESSES = 256  # RLIMIT_NPROC inside the sandbox (threads count too): a fork bomb stops there
SCRATCH_MB = 512  # size of the writable /tmp inside the sandbox


def bwrap_path() -> str | None:
    return shutil.which("bwrap")


def _ro_runtime() -> list[str]:
    """The read-only binds of the Python runtime: /usr, the interpreter's prefixes and the site-packages."""
    paths = ["/usr", sys.base_prefix, *site_dirs()]
    out: list[str] = []
    for p in paths:
        p = os.path.realpath(p)
        if os.path.isdir(p) and not any(p == q or p.startswith(q + "/") for q in out):
            out.append(p)
    return out


def site_dirs() -> list[str]:
    """The environment's site-packages folders (third-party packages), without the suite's checkout."""
    dirs = [d for d in site.getsitepackages() if os.path.isdir(d)]
    return list(dict.fromkeys(os.path.realpath(d) for d in dirs))


def bwrap_argv(stage: Path, env: dict[str, str]) -> list[str]:
    argv = [bwrap_path() or "bwrap", "--unshare-all", "--unshare-user", "--disable-userns", "--cap-drop", "ALL",
            "--die-with-parent", "--new-session", "--uid", "65534", "--gid", "65534", "--clearenv",
            "--tmpfs", "/",
            # the scratch /tmp before the runtime's binds: a runtime (a virtual env) under /tmp stays visible on it
            "--proc", "/proc", "--dev", "/dev", "--size", str(SCRATCH_MB << 20), "--tmpfs", "/tmp"]
    for p in _ro_runtime():
        argv += ["--ro-bind", p, p]
    for link in ("lib", "lib64", "bin", "sbin"):
        target = os.path.join("/", link)
        if os.path.islink(target):
            argv += ["--symlink", os.readlink(target), target]
    argv += ["--ro-bind", str(stage), "/amss", "--chdir", "/tmp", "--remount-ro", "/"]
    for k, v in env.items():
        argv += ["--setenv", k, v]
    return argv


@functools.lru_cache(maxsize=None)
def _probe_bwrap() -> str | None:
    """None when a bwrap sandbox starts here, else why not."""
    if bwrap_path() is None:
        return "bwrap is not installed (Debian package bubblewrap; `make system-deps` installs it)"
    with tempfile.TemporaryDirectory(prefix="amss-probe-") as d:
        try:
            r = subprocess.run(bwrap_argv(Path(d), {}) + [os.path.realpath(sys.executable), "-I", "-S", "-c", "0"],
                               capture_output=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired) as err:
            return f"bwrap could not be started ({err})"
    if r.returncode != 0:
        return f"bwrap cannot create its namespaces here ({r.stderr.decode(errors='replace').strip()[:300]})"
    return None


def detect(trusted_local: bool = False) -> str:
    """The backend code submissions run under here; raises :class:`SystemConfigError` where none is available."""
    forced = os.environ.get("AMSS_SANDBOX")  # tests: force a backend ("bwrap", "none")
    why = "AMSS_SANDBOX=none" if forced == "none" else _probe_bwrap()
    if why is None:
        return "bwrap"
    if trusted_local:
        return "trusted-local"
    raise SystemConfigError(
        f"code submissions run in a sandbox, and none is available on this machine: {why}. Install bubblewrap "
        "(apt-get install bubblewrap) where user namespaces are allowed, or, for code you trust, pass "
        "--trusted-local (it runs unisolated; the entry and the leaderboard say so)")


def stage(info: dict, search_path: str | None) -> Path:
    """A fresh staging folder: ``worker.py``, ``lib/`` (the shim) and ``code/`` (a copy of the submission's files,
    as :func:`benchmark.leaderboard.code.resolve` listed and hashed them)."""
    top = info["module"].split(".")[0]
    if top in SUITE_PACKAGES:
        raise SystemConfigError(f"system {info['spec']!r}: module {top!r} is part of the suite; a submission brings "
                                "its own module (the suite's System protocol is available inside: docs/leaderboard.md)")
    d = Path(tempfile.mkdtemp(prefix="amss-sandbox-"))
    try:
        shutil.copyfile(Path(__file__).with_name("worker.py"), d / "worker.py")
        for mod in SHIM:
            spec = importlib.util.find_spec(mod)
            parts = mod.split(".")
            dst = d / "lib" / Path(*parts).with_suffix(".py")
            dst.parent.mkdir(parents=True, exist_ok=True)
            for k in range(1, len(parts)):  # every enclosing package a regular (empty) one
                (d / "lib" / Path(*parts[:k]) / "__init__.py").touch()
            shutil.copyfile(spec.origin, dst)
        src = _code_base(info, search_path)
        for rel in info["files"]:
            dst = d / "code" / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src / rel, dst)
        (d / "code").mkdir(exist_ok=True)
        for p in [d, *d.rglob("*")]:
            os.chmod(p, 0o755 if p.is_dir() else 0o644)
    except BaseException:
        shutil.rmtree(d, ignore_errors=True)
        raise
    return d


def _code_base(info: dict, search_path: str | None) -> Path:
    top = info["module"].split(".")[0]
    paths = [search_path] if search_path else None
    found = importlib.machinery.PathFinder.find_spec(top, paths) if paths else None
    if found is None:
        found = importlib.machinery.PathFinder.find_spec(top)
    if found.submodule_search_locations:
        return Path(list(found.submodule_search_locations)[0]).parent
    return Path(found.origin).parent


def environment() -> dict[str, str]:
    """The worker's whole environment: a search path for tools (SoX), a scratch home, one thread per library and the
    pinned numerics variables of the suite (so that a system computes the same numbers as in the suite)."""
    from benchmark.base.numerics import PINNED_ENV

    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/tmp", "TMPDIR": "/tmp", "LANG": "C.UTF-8",
           "PYTHONHASHSEED": "0"}
    for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[k] = os.environ.get(k, "1")
    for k in PINNED_ENV:
        if k in os.environ:
            env[k] = os.environ[k]
    return env


def command(backend: str, stage_dir: Path, cfg_json: str) -> tuple[list[str], dict[str, str] | None]:
    """``(argv, env)`` of the worker under ``backend`` (env None: bwrap sets it inside)."""
    python = os.path.realpath(sys.executable)
    if backend == "bwrap":
        return bwrap_argv(stage_dir, environment()) + [python, "-I", "-S", "-B", "/amss/worker.py", cfg_json], {}
    if backend == "trusted-local":
        return [python, "-I", "-S", "-B", str(stage_dir / "worker.py"), cfg_json], environment()
    raise ValueError(f"unknown sandbox backend {backend!r} (one of {', '.join(BACKENDS)})")


def worker_paths(backend: str, stage_dir: Path) -> list[str]:
    """``sys.path`` entries of the worker, first to last: the submission, the shim, the third-party packages."""
    root = "/amss" if backend == "bwrap" else str(stage_dir)
    return [f"{root}/code", f"{root}/lib", *site_dirs()]
