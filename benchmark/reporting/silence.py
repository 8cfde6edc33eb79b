"""Thesis Figure 3.10, the silent-mixture experiment (protocol §8), for every trained checkpoint.

An all-zero stereo input (``seconds`` long, float32, 44.1 kHz) goes through each trained model's normal full-track
inference (``model.manipulate``, protocol §4) with the query ``separate vocals`` (a dedicated model: its vocals
checkpoint, as in the thesis's figure). Per checkpoint: peak |y|, peak and RMS in dBFS, the fraction of exactly-zero
samples, next to the thesis's claim (§3.6.6): masking estimators (MME, CME: mask × zero mixture = zero) are exactly
silent, direct estimators (DCSE/"mapping", DME) leak a faint constant noise. Outputs: ``silence.json``, ``silence.md``
and ``silence.png`` (the output magnitude spectrogram per model, one shared colour scale in dBFS).
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np

from benchmark.base.audio import atomic_write
from benchmark.base.constants import SR
from benchmark.reporting.plotting import PNG_METADATA, pristine

log = logging.getLogger("amss_bench.silence")

QUERY = "separate vocals"
MASKING = ("mme", "cme_sigmoid", "cme_tanh")
FLOOR_DB = -200.0  # where an exact zero is drawn (and what an all-zero RMS is reported as: null in JSON)
N_FFT, HOP = 2048, 512


class SilenceError(ValueError):
    """No checkpoint to run, or one that cannot be run."""


def find_checkpoints(runs_root: str | Path) -> list[tuple[str, str, Path]]:
    """(model, seed folder, model.pt) of every trained run under ``runs/train/<profile>``, sorted; a dedicated
    model (one network per source) contributes its vocals checkpoint."""
    root = Path(runs_root)
    if not root.is_dir():
        raise SilenceError(f"{root}: no training runs folder")
    found = []
    for model_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        base = model_dir / "vocals" if (model_dir / "vocals").is_dir() else model_dir
        for ckpt in sorted(base.glob("seed*/model.pt")):
            found.append((model_dir.name, ckpt.parent.name, ckpt))
    if not found:
        raise SilenceError(f"{root}: no checkpoints (runs/train/<profile>/<model>/[vocals/]seed*/model.pt)")
    return found


def estimator_kind(model) -> str:
    """"masking" (MME, CME) or "direct" (DCSE/mapping, DME): what the thesis's claim depends on."""
    return "masking" if model.config.get("method") in MASKING else "direct"


def _db(x: float) -> float | None:
    return None if x <= 0 else float(20 * math.log10(x))


def measure(y: np.ndarray) -> dict:
    y = np.asarray(y, dtype=np.float64)
    peak = float(np.max(np.abs(y))) if y.size else 0.0
    rms = float(np.sqrt(np.mean(y ** 2))) if y.size else 0.0
    return {"peak": peak, "peak_dbfs": _db(peak), "rms_dbfs": _db(rms),
            "zero_fraction": float(np.mean(y == 0.0)) if y.size else 1.0}


def spectrogram_db(y: np.ndarray) -> np.ndarray:
    """Magnitude spectrogram (dBFS: a full-scale sine reads ≈ 0 dB) of the channel mean, (freq, frames); exact zeros
    at :data:`FLOOR_DB`."""
    x = np.asarray(y, dtype=np.float64).mean(axis=1)
    win = np.hanning(N_FFT)
    n = max(1, 1 + (len(x) - N_FFT) // HOP)
    frames = np.stack([x[i * HOP:i * HOP + N_FFT] * win for i in range(n)]) if len(x) >= N_FFT else \
        np.zeros((1, N_FFT))
    mag = np.abs(np.fft.rfft(frames, axis=1)).T / (win.sum() / 2)
    with np.errstate(divide="ignore"):
        db = 20 * np.log10(mag)
    return np.maximum(db, FLOOR_DB)


def claim_holds(kind: str, m: dict) -> bool:
    return m["zero_fraction"] == 1.0 if kind == "masking" else m["peak"] > 0.0


def run(runs_root: str | Path, out: str | Path, *, profile: str, seconds: float = 10.0) -> Path:
    """Run every checkpoint on silence; write silence.json, silence.md and silence.png to ``out``."""
    import json

    from baselines.model import load_checkpoint

    out = Path(out)
    zeros = np.zeros((int(round(seconds * SR)), 2), dtype=np.float32)
    rows, specs = [], []
    for model_name, seed, path in find_checkpoints(runs_root):
        model = load_checkpoint(path)
        y = model.manipulate(zeros, QUERY)
        kind = estimator_kind(model)
        m = measure(y)
        rows.append({"model": model_name, "run": seed, "name": model.name, "estimator": kind,
                     "source": model.config.get("source") if model.info and model.info.family == "dedicated"
                     else None, **m,
                     "thesis_claim": "exactly silent" if kind == "masking" else "faint constant noise",
                     "claim_holds": claim_holds(kind, m)})
        specs.append((model_name, seed, spectrogram_db(y)))
        log.info("%s %s: peak %s dBFS, zeros %.3f", model_name, seed, m["peak_dbfs"], m["zero_fraction"])
    doc = {"figure": "3.10", "profile": profile, "input": {"seconds": seconds, "sample_rate": SR, "channels": 2,
                                                            "dtype": "float32", "value": 0.0},
           "query": QUERY, "spectrogram": {"n_fft": N_FFT, "hop": HOP, "window": "hann", "unit": "dBFS",
                                           "floor_db": FLOOR_DB},
           "thesis": "masking estimators (MME, CME) output exact silence (mask × zero = zero); direct estimators "
                     "(DCSE/mapping, DME) output a faint constant noise (thesis §3.6.6, Figure 3.10)",
           "rows": rows}
    runs_of = {m: sum(1 for n, _, _ in specs if n == m) for m, _, _ in specs}
    png = _figure([(m if runs_of[m] == 1 else f"{m} ({seed})", spec) for m, seed, spec in specs], profile)
    md = _markdown(doc)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_write(out / "silence.json", "w") as fh:
        fh.write(json.dumps(doc, indent=2, sort_keys=True, allow_nan=False, ensure_ascii=False) + "\n")
    with atomic_write(out / "silence.png", "wb") as fh:
        fh.write(png)
    with atomic_write(out / "silence.md", "w") as fh:
        fh.write("\n".join(md))
    return out / "silence.md"


def _fmt_db(v) -> str:
    return "−∞ (exact zeros)" if v is None else f"{v:.1f}"


def _markdown(doc: dict) -> list[str]:
    lines = [f"# Figure 3.10 — silent-mixture experiment, profile {doc['profile']}", "",
             f"Input: {doc['input']['seconds']:g} s of exact digital silence (stereo float32, 44.1 kHz), query "
             f"`{doc['query']}`, the model's normal full-track inference. Thesis: {doc['thesis']}.", "",
             "| model | run | estimator | peak (dBFS) | RMS (dBFS) | exact zeros | thesis claim | holds |",
             "|---|---|---|---|---|---|---|---|"]
    for r in doc["rows"]:
        lines.append(f"| {r['model']} | {r['run']} | {r['estimator']} | {_fmt_db(r['peak_dbfs'])} | "
                     f"{_fmt_db(r['rms_dbfs'])} | {r['zero_fraction']:.4f} | {r['thesis_claim']} | "
                     f"{'yes' if r['claim_holds'] else '**no**'} |")
    lines += ["", "![output magnitude spectrograms, one shared colour scale](silence.png)", ""]
    return lines


@pristine
def _figure(specs: list[tuple[str, np.ndarray]], profile: str) -> bytes:
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    finite = [s[s > FLOOR_DB] for _, s in specs]
    top = max((float(f.max()) for f in finite if f.size), default=-100.0)
    vmax = math.ceil(top / 10) * 10
    vmin = min(vmax - 120, -140)
    cols = 4
    rows = max(1, math.ceil(len(specs) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 2.4 * rows + 1.0), squeeze=False, sharex=True,
                             sharey=True, layout="constrained")
    image = None
    for ax, (title, s) in zip(axes.ravel(), specs):
        image = ax.imshow(s, origin="lower", aspect="auto", vmin=vmin, vmax=vmax, cmap="magma",
                          extent=(0, s.shape[1] * HOP / SR, 0, SR / 2000))
        silent = not (s > FLOOR_DB).any()
        ax.set_title(title + (": exact zeros" if silent else ""), fontsize=9)
        ax.tick_params(labelsize=7)
    for ax in axes[:, 0]:
        ax.set_ylabel("kHz", fontsize=8)
    for ax in axes[-1, :]:
        ax.set_xlabel("time (s)", fontsize=8)
    for ax in axes.ravel()[len(specs):]:
        ax.axis("off")
    if image is not None:
        fig.colorbar(image, ax=axes, label="magnitude (dBFS), one scale for all", shrink=0.8)
    fig.suptitle(f"Figure 3.10: output of every trained model for an all-zero input — profile {profile}")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80, metadata=PNG_METADATA)
    plt.close(fig)
    return buf.getvalue()
