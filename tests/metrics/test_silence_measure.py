"""Silent-mixture measure (protocol §8)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from benchmark.metrics import measure_output, plot_silence, silence_measure

SR = 44100
PNG = b"\x89PNG\r\n\x1a\n"


def test_zero_returning_model_is_exactly_silent():
    seen = {}

    def manipulate(x):
        seen["x"] = x
        return np.zeros_like(x)

    res = silence_measure(manipulate)
    x = seen["x"]
    assert x.shape == (10 * SR, 2) and x.dtype == np.float32 and not x.any()
    assert res.peak == 0.0 and res.rms_dbfs == -math.inf and res.zero_fraction == 1.0
    doc = res.to_json()
    assert doc["rms_dbfs"] is None and doc["n_samples"] == 10 * SR and doc["seconds"] == 10.0
    json.dumps(doc, allow_nan=False)


def test_noise_returning_model():
    rng = np.random.default_rng(0)

    def manipulate(x):
        y = (1e-3 * rng.standard_normal(x.shape)).astype(np.float32)
        y[:1000] = 0.0
        return y

    res = silence_measure(manipulate, seconds=2.0)
    y = res.output.astype(np.float64)
    assert res.peak == pytest.approx(np.max(np.abs(y)))
    assert res.rms_dbfs == pytest.approx(20 * np.log10(np.sqrt(np.mean(y ** 2))))
    assert -65 < res.rms_dbfs < -55  # 1e-3 RMS = -60 dBFS
    assert res.zero_fraction == pytest.approx(2000 / y.size)


def test_bad_outputs_are_rejected():
    with pytest.raises(ValueError, match="returned 100 samples for a 88200-sample input"):
        silence_measure(lambda x: np.zeros((100, 2), np.float32), seconds=2.0)
    with pytest.raises(ValueError, match=r"expected an \(N, 2\) output"):
        silence_measure(lambda x: np.zeros(len(x), np.float32), seconds=1.0)
    with pytest.raises(ValueError, match="NaN or inf"):
        measure_output(np.full((10, 2), np.nan))


@pytest.mark.parametrize("kind", ["zero", "noise"])
def test_plot_silence_writes_png(tmp_path, kind):
    rng = np.random.default_rng(1)
    y = np.zeros((3 * SR, 2), np.float32) if kind == "zero" else 1e-4 * rng.standard_normal((3 * SR, 2))
    path = plot_silence(y, tmp_path / f"{kind}.png", title=f"{kind} output")
    data = path.read_bytes()
    assert data.startswith(PNG) and len(data) > 10_000
