"""Silent-mixture experiment (protocol §8; thesis §3.6.6, Figure 3.10).

Feed a model 10 s of stereo float32 zeros and measure what comes out: the peak |y|, the RMS level in dBFS
(−inf for an exactly silent output; stored as ``null`` in JSON), and the fraction of samples that are exactly zero.
Masking estimators (CME/MME) must give exact silence; direct estimators (DCSE/DME) leave a low-level artefact.
museval is never run on this (all-zero signals cannot be scored).

Usage with a model object (``manipulate(audio, query)``)::

    m = silence_measure(lambda x: model.manipulate(x, "separate vocals"))
    plot_silence(m.output, "silence.png", title="DCSE, separate vocals")
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

SR = 44100
DEFAULT_SECONDS = 10.0


@dataclass
class SilenceResult:
    peak: float
    """max |y| over samples and channels."""
    rms_dbfs: float
    """20 log10(sqrt(mean y²)) over samples and channels (full scale = 1.0); −inf if y is exactly zero."""
    zero_fraction: float
    """fraction of samples (over both channels) that are exactly 0.0."""
    n_samples: int
    seconds: float
    output: np.ndarray = field(repr=False)
    """the model output (N, 2)."""

    def to_json(self) -> dict:
        """JSON-safe dict (−inf → ``None``); the output signal is not included."""
        rms = self.rms_dbfs if math.isfinite(self.rms_dbfs) else None
        return {"peak": self.peak, "rms_dbfs": rms, "zero_fraction": self.zero_fraction,
                "n_samples": self.n_samples, "seconds": self.seconds}


def measure_output(y: np.ndarray, *, expected_samples: int | None = None) -> SilenceResult:
    """Peak, RMS (dBFS) and exact-zero fraction of an (N, 2) output signal."""
    y = np.asarray(y)
    if y.ndim != 2 or y.shape[1] != 2:
        raise ValueError(f"silence measure: expected an (N, 2) output, got shape {y.shape}")
    if expected_samples is not None and y.shape[0] != expected_samples:
        raise ValueError(f"silence measure: the model returned {y.shape[0]} samples for a {expected_samples}-sample "
                         f"input (output length must equal input length)")
    if y.size == 0:
        raise ValueError("silence measure: empty output")
    y64 = y.astype(np.float64)
    if not np.all(np.isfinite(y64)):
        raise ValueError("silence measure: the output contains NaN or inf samples")
    peak = float(np.max(np.abs(y64)))
    ms = float(np.mean(y64 * y64))
    rms_dbfs = 10.0 * math.log10(ms) if ms > 0 else -math.inf
    zero_fraction = float(np.count_nonzero(y64 == 0.0) / y64.size)
    return SilenceResult(peak=peak, rms_dbfs=rms_dbfs, zero_fraction=zero_fraction, n_samples=int(y.shape[0]),
                         seconds=y.shape[0] / SR, output=y)


def silence_measure(manipulate: Callable[[np.ndarray], np.ndarray], *, seconds: float = DEFAULT_SECONDS,
                    sr: int = SR) -> SilenceResult:
    """Run ``manipulate`` on ``seconds`` of stereo float32 zeros and measure the output."""
    n = int(round(seconds * sr))
    if n <= 0:
        raise ValueError(f"silence measure: seconds must be positive, got {seconds}")
    x = np.zeros((n, 2), dtype=np.float32)
    y = manipulate(x)
    if y is None:
        raise ValueError("silence measure: the callable returned None instead of an (N, 2) array")
    if hasattr(y, "detach"):  # a torch tensor slipped through
        y = y.detach().cpu().numpy()
    res = measure_output(np.asarray(y), expected_samples=n)
    res.seconds = n / sr
    return res


def plot_silence(output: np.ndarray, path: str | Path, title: str = "", *, n_fft: int = 2048, hop: int = 1024,
                 sr: int = SR, floor_db: float = -240.0, dynamic_range_db: float = 120.0) -> Path:
    """Write a PNG with the output waveform (both channels) and the magnitude spectrogram of each channel in dB
    (20 log10 |STFT|, periodic Hann window, ``n_fft``/``hop`` = the model's STFT settings). The colour scale spans
    ``dynamic_range_db`` below the loudest bin (never below ``floor_db``); exactly-zero bins get the lowest colour,
    and an all-zero spectrogram is labelled as such."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    import seaborn as sns
    import scipy.signal

    y = np.asarray(output, dtype=np.float64)
    if y.ndim != 2 or y.shape[1] != 2:
        raise ValueError(f"plot_silence: expected an (N, 2) output, got shape {y.shape}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sns.set_theme(style="whitegrid")
    fig, axes = plt.subplots(3, 1, figsize=(10, 9), constrained_layout=True)
    t = np.arange(y.shape[0]) / sr
    for c, name in enumerate(("L", "R")):
        axes[0].plot(t, y[:, c], lw=0.6, label=name)
    peak = float(np.max(np.abs(y))) if y.size else 0.0
    axes[0].set_xlim(0, t[-1] if t.size else 1)
    if peak == 0.0:
        axes[0].set_ylim(-1e-6, 1e-6)
        axes[0].text(0.5, 0.5, "output is exactly zero", transform=axes[0].transAxes, ha="center", va="center")
    axes[0].set_xlabel("time (s)")
    axes[0].set_ylabel("amplitude")
    axes[0].set_title(f"{title} — waveform (peak {peak:.3g})" if title else f"waveform (peak {peak:.3g})")
    axes[0].legend(loc="upper right")
    window = scipy.signal.get_window("hann", n_fft, fftbins=True)
    for c, name in enumerate(("L", "R")):
        f, tt, z = scipy.signal.stft(y[:, c], fs=sr, window=window, nperseg=n_fft, noverlap=n_fft - hop,
                                     boundary="even", padded=True, scaling="spectrum")
        mag = np.abs(z) * window.sum()  # undo scipy's 1/sum(window) scaling: plain |STFT|
        with np.errstate(divide="ignore"):
            db = np.where(mag > 0, 20 * np.log10(np.maximum(mag, 1e-300)), floor_db)
        vmax = float(db.max())
        vmin = floor_db if vmax <= floor_db else max(floor_db, vmax - dynamic_range_db)
        im = axes[c + 1].pcolormesh(tt, f, np.maximum(db, vmin), shading="auto", cmap="magma", vmin=vmin,
                                    vmax=max(vmin + 1.0, vmax))
        if vmax <= floor_db:
            axes[c + 1].text(0.5, 0.5, "all bins exactly zero", transform=axes[c + 1].transAxes, ha="center",
                             va="center", color="white")
        axes[c + 1].set_ylabel("frequency (Hz)")
        axes[c + 1].set_xlabel("time (s)")
        axes[c + 1].set_title(f"magnitude spectrogram {name} (dB, n_fft {n_fft}, hop {hop})")
        fig.colorbar(im, ax=axes[c + 1], label="dB")
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
