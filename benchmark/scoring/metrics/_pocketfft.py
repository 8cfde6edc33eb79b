"""SciPy's pocketfft binding (``scipy.fft._pocketfft.pypocketfft``) for the fast BSS-Eval back-end, loaded without
running ``scipy.fft``'s package initialisation.

``import scipy.fft`` costs ≈ 0.4 s of CPU on the reference VM (its ``__init__`` pulls in ``scipy.special`` and
SciPy's array-API compatibility layer), a noticeable part of ``amss-bench metrics bss --backend fast``'s start-up,
while the compiled binding itself loads in about a millisecond. :func:`binding` loads that extension straight from
SciPy's package folder under its canonical module name (a later ``import scipy.fft`` gets the same functions), and
:func:`rfft`, :func:`irfft` and :func:`next_fast_len` make exactly the calls ``scipy.fft.rfft`` / ``irfft`` /
``next_fast_len`` make for float64 input and the default ``norm`` — same binding, same arguments, hence the same
bits (tested against ``scipy.fft``). Where the binding is not found or does not behave as expected (another SciPy
layout or API), everything falls back to ``scipy.fft`` itself.
"""

from __future__ import annotations

import functools
import importlib.machinery
import importlib.util
import sys
from pathlib import Path

import numpy as np

NAME = "scipy.fft._pocketfft.pypocketfft"


def _load_direct():
    """The extension module from SciPy's folder, without importing ``scipy`` or ``scipy.fft`` (None if absent)."""
    spec = importlib.util.find_spec("scipy")  # locates the package; does not import it
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "fft" / "_pocketfft"
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        path = folder / f"pypocketfft{suffix}"
        if path.is_file():
            loader = importlib.machinery.ExtensionFileLoader(NAME, str(path))
            mod_spec = importlib.util.spec_from_file_location(NAME, path, loader=loader)
            module = importlib.util.module_from_spec(mod_spec)
            loader.exec_module(module)
            # not put into sys.modules: a later `import scipy.fft` loads the extension the regular way and, the
            # module being single-phase-initialised, gets a copy of this one's namespace (the same functions)
            return module
    return None


def _works(b) -> bool:
    x = np.arange(8.0)
    out = np.empty(5, dtype=np.complex128)
    b.r2c(x, (0,), True, 0, out, 1)
    back = b.c2r(out, (0,), 8, False, 2, None, 1)
    return bool(np.allclose(out, np.fft.rfft(x)) and np.allclose(back, x) and b.good_size(45000, True) >= 45000)


@functools.lru_cache(maxsize=None)
def binding():
    """SciPy's pypocketfft module (loaded directly unless already imported), or None when it cannot be used."""
    module = sys.modules.get(NAME)
    try:
        if module is None:
            module = _load_direct()
        if module is None:
            from scipy.fft._pocketfft import pypocketfft as module
        if _works(module):
            return module
    except Exception:  # pragma: no cover - another SciPy layout or API: the callers use scipy.fft
        pass
    return None  # pragma: no cover


def _fix_shape_1d(x: np.ndarray, n: int, axis: int) -> np.ndarray:
    """``scipy.fft._pocketfft.helper._fix_shape_1d``: truncate, or zero-pad at the end, along ``axis`` to ``n``."""
    if x.shape[axis] >= n:
        index = [slice(None)] * x.ndim
        index[axis] = slice(0, n)
        return x[tuple(index)]
    shape = list(x.shape)
    shape[axis] = n
    z = np.zeros(shape, x.dtype)
    index = [slice(None)] * x.ndim
    index[axis] = slice(0, x.shape[axis])
    z[tuple(index)] = x
    return z


def next_fast_len(target: int) -> int:
    """``scipy.fft.next_fast_len(target, real=True)``."""
    b = binding()
    if b is None:  # pragma: no cover
        import scipy.fft

        return scipy.fft.next_fast_len(target, real=True)
    return b.good_size(target, True)


def rfft(x: np.ndarray, n: int, axis: int = -1, workers: int = 1, out: np.ndarray | None = None) -> np.ndarray:
    """``scipy.fft.rfft(x, n=n, axis=axis, workers=workers)`` of a float64 array; ``out`` (complex128, the result's
    shape) is written in place when given and ``x`` already has length ``n`` along ``axis``."""
    b = binding()
    if b is None or x.dtype != np.float64:  # pragma: no cover
        import scipy.fft

        res = scipy.fft.rfft(x, n=n, axis=axis, workers=workers)
        if out is None:
            return res
        out[...] = res
        return out
    if x.shape[axis] != n:
        x, out = _fix_shape_1d(x, n, axis), None
    return b.r2c(x, (axis,), True, 0, out, workers)


def irfft(x: np.ndarray, n: int, axis: int = -1, workers: int = 1) -> np.ndarray:
    """``scipy.fft.irfft(x, n=n, axis=axis, workers=workers)`` of a complex128 array (norm "backward": 1/n)."""
    b = binding()
    if b is None or x.dtype != np.complex128:  # pragma: no cover
        import scipy.fft

        return scipy.fft.irfft(x, n=n, axis=axis, workers=workers)
    return b.c2r(_fix_shape_1d(x, n // 2 + 1, axis), (axis,), n, False, 2, None, workers)
