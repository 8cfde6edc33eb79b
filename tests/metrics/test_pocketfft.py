"""benchmark.scoring.metrics._pocketfft: SciPy's pocketfft binding without ``import scipy.fft``, bit-identical to it."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import scipy.fft

from benchmark.scoring.metrics import _pocketfft


def test_binding_is_scipys_module():
    b = _pocketfft.binding()
    assert b is not None
    assert b.r2c is scipy.fft._pocketfft.pypocketfft.r2c


@pytest.mark.parametrize("target", [1, 7, 511, 8192, 44611, 45001, 123457])
def test_next_fast_len_is_scipys(target):
    assert _pocketfft.next_fast_len(target) == scipy.fft.next_fast_len(target, real=True)


@pytest.mark.parametrize("shape, axis, n", [((3, 1000), -1, 1000), ((3, 1000), -1, 1536), ((4, 2, 700), -1, 512),
                                            ((900, 5), 0, 1025), ((6, 44100), -1, 45056)])
def test_rfft_is_bit_identical_to_scipy(shape, axis, n):
    x = np.random.default_rng(n).standard_normal(shape)
    ours = _pocketfft.rfft(x, n, axis=axis)
    ref = scipy.fft.rfft(x, n=n, axis=axis)
    assert ours.dtype == ref.dtype and ours.shape == ref.shape
    np.testing.assert_array_equal(ours, ref)
    if x.shape[axis] == n:  # in-place variant
        out = np.empty_like(ref)
        assert _pocketfft.rfft(x, n, axis=axis, out=out) is out
        np.testing.assert_array_equal(out, ref)


@pytest.mark.parametrize("n, axis", [(8192, 0), (8191, 0), (1000, -1)])
def test_irfft_is_bit_identical_to_scipy(n, axis):
    rng = np.random.default_rng(n)
    shape = [n // 2 + 1, 3, 2] if axis == 0 else [4, n // 2 + 1]
    z = rng.standard_normal(shape) + 1j * rng.standard_normal(shape)
    np.testing.assert_array_equal(_pocketfft.irfft(z, n, axis=axis), scipy.fft.irfft(z, n=n, axis=axis))


_FRESH = r"""
import json, sys
import numpy as np
from benchmark.scoring.metrics import _pocketfft
b = _pocketfft.binding()
before = sorted(m for m in sys.modules if m.startswith("scipy"))
x = np.random.default_rng(0).standard_normal((2, 300))
ours = _pocketfft.rfft(x, 512)
import scipy.fft
print(json.dumps({"before": before, "same_module": scipy.fft._pocketfft.pypocketfft.r2c is b.r2c,
                  "equal": bool(np.array_equal(ours, scipy.fft.rfft(x, n=512)))}))
"""


def test_direct_load_skips_scipy_fft_and_is_reused_by_it():
    out = subprocess.run([sys.executable, "-c", _FRESH], capture_output=True, text=True, check=True).stdout
    doc = json.loads(out.splitlines()[-1])
    assert doc["before"] == []  # neither scipy nor scipy.fft was imported
    assert doc["same_module"] and doc["equal"]


class _FakeBinding:
    """A pocketfft binding that can be made wrong in one way at a time."""

    def __init__(self, r2c_ok=True, c2r_ok=True, size_ok=True):
        self.ok = (r2c_ok, c2r_ok, size_ok)
        self.size_calls = []

    def r2c(self, x, axes, forward, inorm, out, nthreads):
        out[:] = np.fft.rfft(x) if self.ok[0] else 0.0

    def c2r(self, z, axes, n, forward, inorm, out, nthreads):
        return np.fft.irfft(z, n) if self.ok[1] else np.zeros(n)

    def good_size(self, n, real):
        self.size_calls.append((n, real))
        return n if self.ok[2] else n - 1


@pytest.mark.parametrize("broken", [None, 0, 1, 2])
def test_the_binding_is_used_only_when_every_check_passes(broken):
    flags = [True, True, True]
    if broken is not None:
        flags[broken] = False
    b = _FakeBinding(*flags)
    assert _pocketfft._works(b) is (broken is None)
    if b.size_calls:
        assert b.size_calls == [(45000, True)]  # the real-input good size
