"""Bit-reproducible CPU numerics across x86-64 processors (docs/performance.md, "Reproducible numerics").

The numeric libraries the pipeline uses pick their code paths at run time from the processor they find: PyTorch's
vectorised ATen kernels (AVX2 or AVX-512), oneDNN's JIT convolutions (by ISA *and* cache sizes), MKL's GEMM, LAPACK
and FFT (by ISA, vendor and cache sizes), NumPy's SIMD loops (AVX-512 SVML transcendental functions), OpenBLAS's
kernels (Haswell, SkylakeX, Zen …). Each path rounds differently, so the same commit trained and scored on two CPUs
gave different numbers (up to 0.44 dB SDR). In ``pinned`` mode (the default of the ``amss-bench`` command line, hence
of every ``dvc repro`` stage) this module fixes every one of those choices *before* the libraries load:

===============================  =========================  ======================================================
variable / switch                 pinned value               why
===============================  =========================  ======================================================
``ATEN_CPU_CAPABILITY``           ``avx2``                   ATen's kernels: the AVX2 build on every AVX2 CPU (AVX-512
                                                             machines would otherwise take the AVX-512 kernels)
``ONEDNN_MAX_CPU_ISA``            ``AVX2``                   oneDNN's JIT convolutions on their AVX2 kernels
``MKL_CBWR``                      ``COMPATIBLE``             MKL's conditional numerical reproducibility: one code
                                                             branch, fixed cache sizes, on Intel *and* AMD
``NPY_DISABLE_CPU_FEATURES``      ``X86_V4 AVX512_ICL …``    NumPy's dispatch capped at X86_V3 (AVX2/FMA3)
``OPENBLAS_CORETYPE``             ``Haswell``                OpenBLAS (NumPy/SciPy linear algebra, librosa's mel
                                                             projection) on its AVX2 kernels everywhere
``OPENBLAS_NUM_THREADS``          ``1``                      no machine-dependent thread count in NumPy's BLAS
===============================  =========================  ======================================================

oneDNN stays enabled: ATen's native convolution (``torch.backends.mkldnn.enabled = False``) would remove its last
machine-dependent choice (blocking sizes derived from the cache sizes) but made embedded training 4x slower
(measured, docs/performance.md). The waveform models (Wave-U-Net, the Wavenet separator), whose long 1-D
convolutions oneDNN blocked differently on two CPUs of the same ISA, compute theirs as MKL GEMMs instead
(``models.survey.common.GemmConv1d``), which ``MKL_CBWR`` pins. Thread counts are fixed by the callers (training recipe ``threads``, evaluation ``--threads``), never taken from
the number of cores. A processor without AVX2/FMA cannot run the pinned paths: there the libraries fall back to
older kernels and the results are *not* those of the committed ``dvc.lock`` (a warning says so).

``AMSS_BENCH_NUMERICS=native`` switches the pins off (the libraries' fastest paths; numbers then depend on the CPU).
Variables the user has already set win over the pins and are reported. :func:`state` describes what is in force
(it is part of every result's provenance).
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

log = logging.getLogger("amss_bench.numerics")

MODE_ENV = "AMSS_BENCH_NUMERICS"
MODES = ("pinned", "native")

#: The environment of ``pinned`` mode (read by the libraries when they load).
PINNED_ENV: dict[str, str] = {
    "ATEN_CPU_CAPABILITY": "avx2",
    "ONEDNN_MAX_CPU_ISA": "AVX2",
    "MKL_CBWR": "COMPATIBLE",
    "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR",
    "OPENBLAS_CORETYPE": "Haswell",
    "OPENBLAS_NUM_THREADS": "1",
}
#: CPU flags the pinned paths need (/proc/cpuinfo names).
REQUIRED_FLAGS = ("avx2", "fma")
#: Libraries that read the variables when they are first imported.
_LOADERS = ("numpy", "torch", "scipy")


class NumericsError(ValueError):
    """An unknown numerics mode (the message names the variable and the choices)."""


def mode(environ=None) -> str:
    environ = os.environ if environ is None else environ
    value = environ.get(MODE_ENV, "pinned").strip().lower() or "pinned"
    if value not in MODES:
        raise NumericsError(f"{MODE_ENV}={environ.get(MODE_ENV)!r}: expected one of {', '.join(MODES)}")
    return value


def cpu_flags(cpuinfo: str | Path = "/proc/cpuinfo") -> set[str] | None:
    """The processor's feature flags, or None where /proc/cpuinfo is not readable (not Linux)."""
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return None


def cpu_identity(cpuinfo: str | Path = "/proc/cpuinfo") -> dict[str, str]:
    """Vendor, family, model and model name of the first processor in ``cpuinfo`` (empty where not readable)."""
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        return {}
    want = {"vendor_id": "vendor", "cpu family": "family", "model": "model", "model name": "name"}
    out: dict[str, str] = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key in want and want[key] not in out:
            out[want[key]] = value.strip()
        if not line.strip() and out:
            break
    return out


def missing_flags(flags: set[str] | None) -> list[str]:
    if flags is None:
        return []
    return [f for f in REQUIRED_FLAGS if f not in flags]


def plan(environ=None) -> dict[str, str]:
    """The variables :func:`pin` would set: the pinned ones the environment does not set already."""
    environ = os.environ if environ is None else environ
    if mode(environ) != "pinned":
        return {}
    return {k: v for k, v in PINNED_ENV.items() if k not in environ}


def pin(environ=None, modules=None) -> dict[str, str]:
    """Set the pinned environment unless a numeric library is already loaded (then it would be too late, and the
    caller's process is left alone). Returns what was set."""
    environ = os.environ if environ is None else environ
    modules = sys.modules if modules is None else modules
    loaded = [m for m in _LOADERS if m in modules]
    if loaded or mode(environ) != "pinned":
        return {}
    todo = plan(environ)
    environ.update(todo)
    for key, value in PINNED_ENV.items():
        if key not in todo and environ.get(key) != value:
            log.warning("%s=%s is set in the environment (pinned value: %s): numbers computed here may differ from "
                        "those of the committed dvc.lock", key, environ.get(key), value)
    missing = missing_flags(cpu_flags())
    if missing:
        log.warning("this CPU lacks %s: the pinned AVX2 code paths are not available, so the numbers computed here "
                    "will differ from those of the committed dvc.lock (docs/performance.md)", ", ".join(missing))
    return todo


def state() -> dict:
    """What is in force in this process, read back from the libraries where they are loaded (for provenance)."""
    out: dict = {"mode": mode(), "env": {k: os.environ.get(k) for k in PINNED_ENV}}
    torch = sys.modules.get("torch")
    if torch is not None:
        out["torch_cpu_capability"] = torch.backends.cpu.get_cpu_capability()
        out["mkldnn_enabled"] = bool(torch.backends.mkldnn.enabled)
    out["pinned"] = out["mode"] == "pinned" and all(os.environ.get(k) == v for k, v in PINNED_ENV.items())
    return out


#: variables that choose code paths (thread counts are set explicitly by the callers and are not among them)
PATH_VARS = tuple(k for k in PINNED_ENV if not k.endswith("_NUM_THREADS"))


def provenance() -> dict:
    """The part of :func:`state` that belongs in a result file: the same in every process of a run."""
    s = state()
    return {"mode": s["mode"], "env": {k: s["env"][k] for k in PATH_VARS}, "pinned": s["pinned"]}


def report() -> dict:
    """:func:`state` plus what the loaded libraries say they use (imports numpy and torch)."""
    import numpy as np
    import torch

    out = state()
    out["torch_cpu_capability"] = torch.backends.cpu.get_cpu_capability()
    out["torch_threads"] = torch.get_num_threads()
    try:
        from numpy._core._multiarray_umath import __cpu_baseline__, __cpu_dispatch__, __cpu_features__

        out["numpy_simd"] = {"baseline": list(__cpu_baseline__),
                             "dispatch_enabled": [f for f in __cpu_dispatch__ if __cpu_features__.get(f)]}
    except ImportError:  # pragma: no cover - other numpy layouts
        pass
    try:
        from threadpoolctl import threadpool_info

        out["blas"] = [{k: lib.get(k) for k in ("internal_api", "architecture", "num_threads", "version")}
                       for lib in threadpool_info() if lib.get("user_api") == "blas"]
    except ImportError:  # pragma: no cover
        pass
    out["cpu_missing_flags"] = missing_flags(cpu_flags())
    del np
    return out

