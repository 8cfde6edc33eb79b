"""Silent-mixture measure (protocol §8)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from benchmark.scoring.metrics import measure_output, plot_silence, silence_measure

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


# ------------------------------------------------------------------------------- the figure, element by element

def _figure(monkeypatch, y, path, **kw):
    """plot_silence's figure as it was saved (plt.close is wrapped to keep it), and the returned path."""
    import matplotlib.pyplot as plt

    import matplotlib as mpl

    kept, close = [], plt.close
    monkeypatch.setattr(plt, "close", lambda fig=None: (kept.append(fig), close(fig)))
    with mpl.rc_context():  # from matplotlib's defaults: the seaborn theme must come from plot_silence itself
        mpl.rcdefaults()
        out = plot_silence(y, path, **kw)
    assert len(kept) == 1
    return kept[0], out


def _db_by_hand(x, n_fft, hop, floor_db):
    """20 log10 |STFT| with a periodic Hann window, the signal extended evenly by n_fft/2 at both ends and zero-padded
    to whole frames (scipy.signal.stft's boundary="even", padded=True), without scipy."""
    w = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)
    half = n_fft // 2
    ext = np.concatenate([x[half:0:-1], x, x[-2:-half - 2:-1]])
    n_frames = -(-(len(ext) - n_fft) // hop) + 1
    ext = np.concatenate([ext, np.zeros((n_frames - 1) * hop + n_fft - len(ext))])
    frames = np.stack([ext[i * hop:i * hop + n_fft] for i in range(n_frames)], axis=1)
    mag = np.abs(np.fft.rfft(frames * w[:, None], axis=0))
    with np.errstate(divide="ignore"):
        return np.where(mag > 0, 20 * np.log10(mag), floor_db)


@pytest.mark.parametrize("n_fft, hop, sr, dyn", [(2048, 1024, SR, 120.0), (512, 128, 22050, 30.0)])
def test_plot_silence_figure_of_a_noise_output(tmp_path, monkeypatch, n_fft, hop, sr, dyn):
    rng = np.random.default_rng(1)
    y = 1e-4 * rng.standard_normal((2 * sr + 77, 2))
    y[:, 1] *= 3.0  # the channels differ
    fig, out = _figure(monkeypatch, y, tmp_path / "deep" / "dir" / "noise.png", title="noise", n_fft=n_fft,
                       hop=hop, sr=sr, dynamic_range_db=dyn)
    assert out == tmp_path / "deep" / "dir" / "noise.png"
    data = out.read_bytes()
    assert data.startswith(PNG) and int.from_bytes(data[16:20], "big") == 1000 and \
        int.from_bytes(data[20:24], "big") == 900  # 10 x 9 inches at 100 dpi
    assert tuple(fig.get_size_inches()) == (10.0, 9.0) and type(fig.get_layout_engine()).__name__ == \
        "ConstrainedLayoutEngine"
    wave, spec_l, spec_r, bar_l, bar_r = fig.axes
    assert wave.get_facecolor() == (1.0, 1.0, 1.0, 1.0)  # seaborn's whitegrid: white, with a grid
    assert all(line.get_visible() for line in wave.yaxis.get_gridlines())
    peak = float(np.max(np.abs(y)))
    assert wave.get_title() == f"noise — waveform (peak {peak:.3g})"
    assert (wave.get_xlabel(), wave.get_ylabel()) == ("time (s)", "amplitude")
    t = np.arange(len(y)) / sr
    assert wave.get_xlim() == (0.0, t[-1])
    assert [ln.get_label() for ln in wave.lines] == ["L", "R"]
    assert [t_.get_text() for t_ in wave.get_legend().get_texts()] == ["L", "R"] and wave.get_legend()._loc == 1
    for c, ln in enumerate(wave.lines):
        assert ln.get_linewidth() == 0.6
        assert np.array_equal(ln.get_xdata(), t) and np.array_equal(ln.get_ydata(), y[:, c])
    assert not wave.texts  # not "exactly zero"
    for c, (ax, bar, name) in enumerate([(spec_l, bar_l, "L"), (spec_r, bar_r, "R")]):
        assert ax.get_title() == f"magnitude spectrogram {name} (dB, n_fft {n_fft}, hop {hop})"
        assert (ax.get_xlabel(), ax.get_ylabel(), bar.get_ylabel()) == ("time (s)", "frequency (Hz)", "dB")
        assert not ax.texts
        (mesh,) = ax.collections
        db = _db_by_hand(y[:, c], n_fft, hop, -240.0)
        vmax = db.max()
        lo, hi = mesh.get_clim()
        assert lo == pytest.approx(vmax - dyn, abs=1e-6) and hi == pytest.approx(vmax, abs=1e-6)
        assert mesh.get_cmap().name == "magma"
        np.testing.assert_allclose(mesh.get_array().reshape(db.shape), np.maximum(db, vmax - dyn), atol=1e-6)
        df, dt = sr / n_fft, hop / sr  # 'nearest' shading: cells centred on the bins and frames
        assert ax.get_ylim() == pytest.approx((-df / 2, sr / 2 + df / 2))
        assert ax.get_xlim() == pytest.approx((-dt / 2, (db.shape[1] - 1) * dt + dt / 2))


def test_plot_silence_figure_of_an_exactly_zero_output(tmp_path, monkeypatch):
    fig, _ = _figure(monkeypatch, np.zeros((SR, 2), np.float32), tmp_path / "zero.png")
    wave, spec_l, spec_r = fig.axes[:3]
    assert wave.get_title() == "waveform (peak 0)"  # no title given
    assert wave.get_ylim() == (-1e-6, 1e-6)
    (text,) = wave.texts
    assert text.get_text() == "output is exactly zero" and text.get_position() == (0.5, 0.5)
    assert text.get_transform() == wave.transAxes and (text.get_ha(), text.get_va()) == ("center", "center")
    for ax in (spec_l, spec_r):
        (mesh,) = ax.collections
        assert mesh.get_clim() == (-240.0, -239.0)  # the floor, and a 1-dB wide scale
        assert np.all(mesh.get_array() == -240.0)
        (label,) = ax.texts
        assert label.get_text() == "all bins exactly zero" and label.get_position() == (0.5, 0.5)
        assert label.get_transform() == ax.transAxes and label.get_color() == "white"
        assert (label.get_ha(), label.get_va()) == ("center", "center")


def test_plot_silence_scale_never_goes_below_the_floor(tmp_path, monkeypatch):
    y = np.zeros((SR, 2))
    y[1000, :] = 1e-3  # one click: the loudest bin about -60 dB, most bins far below
    fig, _ = _figure(monkeypatch, y, tmp_path / "click.png", floor_db=-100.0, dynamic_range_db=120.0)
    for ax in fig.axes[1:3]:
        (mesh,) = ax.collections
        db = _db_by_hand(y[:, 0], 2048, 1024, -100.0)
        assert mesh.get_clim()[0] == -100.0 and mesh.get_clim()[1] == pytest.approx(db.max(), abs=1e-6)
        assert mesh.get_array().min() == -100.0 and not ax.texts
        np.testing.assert_allclose(mesh.get_array().reshape(db.shape), np.maximum(db, -100.0), atol=1e-6)


def test_plot_silence_refuses_anything_but_n_by_2(tmp_path):
    for shape in [(100,), (100, 1), (100, 3), (2, 100, 2)]:
        with pytest.raises(ValueError) as err:
            plot_silence(np.zeros(shape), tmp_path / "x.png")
        assert str(err.value) == f"plot_silence: expected an (N, 2) output, got shape {shape}"
    assert not (tmp_path / "x.png").exists()
