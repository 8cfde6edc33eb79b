"""Property scores of a system: progressive-manipulation drift (thesis §5.5.5) and effect-level control (§5.5.6).

Definitions (docs/metrics.md "Drift" and "Level control"; the tasks: :mod:`benchmark.task.properties`):

* **drift curve** — RMSE-MFCC and MAE (:func:`benchmark.scoring.metrics.rmse_mfcc`) of the system's output after k
  applications against the k-fold ground truth, k = 1…K; per k the mean over tracks.
* **drift AUC** — the area under the RMSE-MFCC curve by the trapezoidal rule over k = 1…K with unit spacing,
  divided by K − 1 (the mean height of the curve; for K = 1 the k = 1 value). 0 = perfect.
* **doubling k** — the first k at which the curve (mean over tracks) reaches twice its k = 1 value. ``None`` when
  it never doubles within K (reported as "> K"; :func:`doubling_k`; the flat headline number is then K + 1); when the k = 1 error is 0, the first k whose
  error is > 0 (an exact system that starts to drift), ``None`` if it stays 0 (the oracle).
* **applied level** — the attenuation in dB the system applied to the target source in the operation's band
  (:func:`benchmark.task.properties.level_band`): 10·log10(E(s) / E(y − r)), s the target source in the input,
  r = input − s the untouched other sources, y the output; E = energy of the Hann-windowed whole-segment spectrum
  of both channels in the band. (Measured on the mix itself, the other sources' band energy swamps the
  differences between the levels: the ground truth would fail its own order.)
* **order holds** — light < medium < heavy attenuation, each step by more than :data:`ORDER_MARGIN_DB`.
* **rank correlation** — Spearman ρ of the three attenuations with the true levels (1, 2, 3), mean over cases; a
  case with three equal attenuations (no control at all, e.g. the identity) counts ρ = 0.
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path

import numpy as np

from benchmark.base.constants import SR
from benchmark.task import aml
from benchmark.task import properties as ptask

log = logging.getLogger("amss_bench.properties")

#: a level step counts only when the attenuation grows by more than this (float rounding of a system that answers
#: the three adverbs identically must not count as control)
ORDER_MARGIN_DB = 0.1
#: a band whose input energy is below this (relative to the whole-spectrum energy) cannot show an attenuation: the
#: case is left out and counted in ``cases_without_band_energy``
MIN_BAND_FRACTION = 1e-9


# ------------------------------------------------------------------------------------------------ drift metrics

def drift_auc(curve) -> float:
    """Mean height of the curve over k = 1…K (trapezoid, unit spacing, divided by K − 1; K = 1: the value)."""
    c = np.asarray(curve, dtype=np.float64)
    if c.ndim != 1 or c.size == 0:
        raise ValueError(f"drift curve must be a non-empty 1-D sequence, got shape {c.shape}")
    if not np.all(np.isfinite(c)):
        raise ValueError("drift curve contains NaN or inf")
    if c.size == 1:
        return float(c[0])
    return float(np.sum((c[1:] + c[:-1]) / 2.0) / (c.size - 1))


def doubling_k(curve) -> int | None:
    """First k (1-based) with error >= 2 × the k = 1 error; None if it never doubles within K. A k = 1 error of
    exactly 0: the first k with an error > 0, None if the curve stays 0."""
    c = np.asarray(curve, dtype=np.float64)
    if c.ndim != 1 or c.size == 0:
        raise ValueError(f"drift curve must be a non-empty 1-D sequence, got shape {c.shape}")
    first = c[0]
    for k, v in enumerate(c, start=1):
        if (first == 0 and v > 0) or (first > 0 and v >= 2 * first):
            return k
    return None


# ------------------------------------------------------------------------------------------------ control metrics

def band_energy(audio: np.ndarray, band: tuple[float, float], sr: int = SR) -> tuple[float, float]:
    """(energy in band, total energy) of the Hann-windowed whole-segment spectrum, both channels summed."""
    a = np.asarray(audio, dtype=np.float64)
    if a.ndim != 2 or a.shape[0] < 2:
        raise ValueError(f"expected an (N, channels) signal, got shape {a.shape}")
    win = np.hanning(a.shape[0])[:, None]
    power = np.sum(np.abs(np.fft.rfft(a * win, axis=0)) ** 2, axis=1)
    freqs = np.fft.rfftfreq(a.shape[0], 1.0 / sr)
    lo, hi = band
    sel = (freqs >= lo) & (freqs <= hi)
    return float(np.sum(power[sel])), float(np.sum(power))


def applied_level_db(source_in: np.ndarray, inp: np.ndarray, out: np.ndarray, operation: str, source: str,
                     sr: int = SR) -> float | None:
    """Attenuation (dB) the system applied to the target source in the operation's band: the target source's part
    of the output (``out`` less the untouched rest of the input, ``inp - source_in``) against the target source of
    the input. None when the source has no energy in the band. No energy left in the band: capped at 200 dB."""
    band = ptask.level_band(operation, source)
    e_in, total = band_energy(source_in, band, sr)
    if total <= 0 or e_in <= MIN_BAND_FRACTION * total:
        return None
    rest = np.asarray(inp, dtype=np.float64) - np.asarray(source_in, dtype=np.float64)
    e_out, _ = band_energy(np.asarray(out, dtype=np.float64) - rest, band, sr)
    if e_out <= 0:
        return 200.0
    return float(min(200.0, 10.0 * math.log10(e_in / e_out)))


def order_holds(levels: dict[str, float], margin: float = ORDER_MARGIN_DB) -> bool:
    """light < medium < heavy, each step by more than ``margin`` dB."""
    v = [levels[lv] for lv in aml.LEVELS]
    return all(b - a > margin for a, b in zip(v, v[1:]))


def _ranks(v: np.ndarray) -> np.ndarray:
    order = np.argsort(v, kind="stable")
    r = np.empty(len(v))
    r[order] = np.arange(1, len(v) + 1, dtype=np.float64)
    for x in np.unique(v):  # ties: average rank
        m = v == x
        r[m] = r[m].mean()
    return r


def spearman_with_levels(levels: dict[str, float]) -> float:
    """Spearman ρ of the attenuations (light, medium, heavy) with (1, 2, 3); 0 when all three are equal."""
    v = np.asarray([levels[lv] for lv in aml.LEVELS], dtype=np.float64)
    r = _ranks(v)
    if np.all(r == r[0]):
        return 0.0
    t = np.arange(1, len(v) + 1, dtype=np.float64)
    rc, tc = r - r.mean(), t - t.mean()
    return float(np.sum(rc * tc) / math.sqrt(np.sum(rc ** 2) * np.sum(tc ** 2)))


def control_summary(cases: list[dict]) -> dict:
    """Order fraction and mean Spearman over the cases with a measurable band (``levels`` not None)."""
    measured = [c for c in cases if c["levels"] is not None]
    out = {"cases": len(measured), "cases_without_band_energy": len(cases) - len(measured)}
    if not measured:
        return {**out, "control_order": None, "control_spearman": None, "mean_level_db": None}
    out["control_order"] = float(np.mean([c["order_holds"] for c in measured]))
    out["control_spearman"] = float(np.mean([c["spearman"] for c in measured]))
    out["mean_level_db"] = {lv: float(np.mean([c["levels"][lv] for c in measured])) for lv in aml.LEVELS}
    return out


# ------------------------------------------------------------------------------------------------ running a system

def _segment_stems(testset, track: str, seconds: float) -> np.ndarray:
    stems = np.asarray(testset.dataset.stems(track), dtype=np.float32)
    a, b = ptask.segment(stems.shape[1], seconds, SR)
    return np.ascontiguousarray(stems[:, a:b])


class PropertyRunError(ValueError):
    """One application of a property query failed (the system raised, or answered a wrong shape or non-finite
    samples). Names the task, its query, the track and k (drift) or the level (control); ``partial`` holds what was
    scored before it (drift: the per-k lists up to k − 1)."""

    def __init__(self, message: str, *, task, track, k=None, level=None, partial=None):
        super().__init__(message)
        self.task_id, self.query, self.track, self.k, self.level = task.id, task.description, track, k, level
        self.partial = partial or {}

    def record(self) -> dict:
        return {"task": self.task_id, "query": self.query, "track": self.track, "k": self.k, "level": self.level,
                "message": str(self)}


def _answer(system, task, pair, track, *, k=None, level=None, partial=None) -> np.ndarray:
    """``system.estimate`` of one property query, checked: (N, 2) like the input, finite; else
    :class:`PropertyRunError` naming task, query, track and k / level."""
    where = (f"{system.name}: {task.id} (query {task.description!r}), track {track!r}, "
             + (f"k={k}" if k is not None else f"level {level}"))
    try:
        y = np.asarray(system.estimate(task, pair, track=track))
    except (ValueError, RuntimeError, KeyError, TypeError) as err:
        raise PropertyRunError(f"{where}: {err}", task=task, track=track, k=k, level=level, partial=partial) from err
    if y.shape != pair.input.shape:
        raise PropertyRunError(f"{where}: output shape {y.shape}, expected {pair.input.shape}", task=task,
                               track=track, k=k, level=level, partial=partial)
    if y.dtype.kind != "f" or not np.isfinite(y).all():
        raise PropertyRunError(f"{where}: output has NaN or infinite samples (or is not floating point)", task=task,
                               track=track, k=k, level=level, partial=partial)
    return y.astype(np.float32, copy=False)


def run_drift(system, stems: np.ndarray, task, k_max: int, track: str | None = None) -> tuple[dict, np.ndarray]:
    """One drift task on one track's segment: the per-k scores and the output after K applications. The system
    sees each application as one ordinary query on the input it is given (its own previous output from k = 2 on);
    a failed application raises :class:`PropertyRunError` with the scores of the earlier k."""
    from benchmark.scoring.metrics.mfcc import rmse_mfcc
    from benchmark.task.dsp import Pair

    truth = ptask.drift_truth(stems, task, k_max)
    x = truth.input
    rmse, mae = [], []
    for k in range(1, k_max + 1):
        target = truth.targets[k - 1]
        x = _answer(system, task, Pair(x, target, task.query, truth.gain), track, k=k,
                    partial={"mfcc_rmse": list(rmse), "mae": list(mae)})
        s = rmse_mfcc(target, x)
        rmse.append(s["mfcc_rmse"])
        mae.append(s["mae"])
    return {"mfcc_rmse": rmse, "mae": mae, "gain": truth.gain, "sox_clipped": truth.clipped}, x


def run_control(system, stems: np.ndarray, operation: str, source: str,
                track: str | None = None) -> tuple[dict, dict[str, np.ndarray]]:
    """One control case on one track's segment: the applied level of the system and of the truth per adverb."""
    from benchmark.task.dsp import Pair

    truth = ptask.control_truth(stems, operation, source)
    outs, levels, true_levels = {}, {}, {}
    for level in aml.LEVELS:
        task = ptask.control_task(operation, source, level)
        y = _answer(system, task, Pair(truth.input, truth.targets[level], task.query, truth.gain), track,
                    level=level)
        outs[level] = y
        levels[level] = applied_level_db(truth.source, truth.input, y, operation, source)
        true_levels[level] = applied_level_db(truth.source, truth.input, truth.targets[level], operation, source)
    measurable = all(v is not None for v in levels.values())
    case = {"operation": operation, "source": source, "band_hz": list(ptask.level_band(operation, source)),
            "levels": levels if measurable else None,
            "true_levels": true_levels if all(v is not None for v in true_levels.values()) else None}
    if measurable:
        case["order_holds"] = order_holds(levels)
        case["spearman"] = spearman_with_levels(levels)
    return case, outs


def evaluate_properties(system, testset, *, k_max: int = ptask.DEFAULT_K, k_others: int | None = None,
                        segment_seconds: float = ptask.DEFAULT_SEGMENT_SECONDS, tracks=None,
                        drift_tasks=None, figure_dir: str | Path | None = None, keep_going: bool = False) -> dict:
    """Every drift task and control case on every test track (or ``tracks``) → the property document.

    ``k_max``: the applications of the figure task (:data:`benchmark.task.properties.FIGURE_DRIFT_TASK`, thesis
    Figure 5.7: 20); ``k_others``: those of the other drift tasks (default: ``k_max``).

    ``figure_dir``: where the outputs of the figure cases on the first track go as 16-bit WAVs, for the figures and
    listening clips of the report: ``drift-highpass-drums-k<K>.wav`` (after K applications) and
    ``control-highpass-drums-<level>.wav``.

    ``keep_going`` (the leaderboard's code submissions): a failed application (:class:`PropertyRunError`) is
    recorded under ``errors`` (task, query, track, k or level, message) and the run goes on with the next task or
    case; the failed drift task keeps the per-k scores before the failure (``failed_at_k``), the failed control
    case its track and operation (``failed_cases``); a property with any failure has no summary (never a mean over
    what happened to work). Without it the first failure is raised."""
    from benchmark.base.audio import write_wav

    tracks = list(tracks if tracks is not None else testset.tracks())
    if not tracks:
        raise ValueError("no test tracks to evaluate the properties on")
    drift_tasks = tuple(drift_tasks if drift_tasks is not None else ptask.DRIFT_TASKS)
    supported = [t for t in drift_tasks if system.supports(t)]
    skipped = [t.id for t in drift_tasks if t not in supported]
    t0 = time.perf_counter()
    k_others = k_max if k_others is None else k_others
    ks = {t.id: k_max if t.id == ptask.FIGURE_DRIFT_TASK else k_others for t in supported}
    drift = {t.id: {"version": t.version, "description": t.description, "source": t.source, "k_max": ks[t.id],
                    "per_track": {}} for t in supported}
    control_cases = []
    cases = [(op, src) for op, src in ptask.control_cases()
             if all(system.supports(ptask.control_task(op, src, lv)) for lv in aml.LEVELS)]
    skipped_control = [f"{op}-{src}" for op, src in ptask.control_cases() if (op, src) not in cases]
    errors, failed_cases = [], []
    for i, track in enumerate(tracks):
        stems = _segment_stems(testset, track, segment_seconds)
        for t in supported:
            try:
                scores, final = run_drift(system, stems, t, ks[t.id], track)
            except PropertyRunError as err:
                if not keep_going:
                    raise
                errors.append(err.record())
                drift[t.id]["per_track"][track] = {**err.partial, "failed_at_k": err.k}
                drift[t.id]["failed"] = True
                continue
            drift[t.id]["per_track"][track] = scores
            if figure_dir is not None and i == 0 and t.id == ptask.FIGURE_DRIFT_TASK:
                write_wav(Path(figure_dir) / f"{t.id}-k{k_max}.wav", final, subtype="PCM_16")
        for op, source in cases:
            try:
                case, outs = run_control(system, stems, op, source, track)
            except PropertyRunError as err:
                if not keep_going:
                    raise
                errors.append(err.record())
                failed_cases.append({"track": track, "operation": op, "source": source, "level": err.level})
                continue
            control_cases.append({"track": track, **case})
            if figure_dir is not None and i == 0 and (op, source) == ptask.FIGURE_CONTROL_CASE:
                for level, y in outs.items():
                    write_wav(Path(figure_dir) / f"control-{op}-{source}-{level}.wav", y, subtype="PCM_16")
    for t_id, d in drift.items():
        if d.get("failed"):
            continue
        curves = {m: np.mean([d["per_track"][tr][m] for tr in tracks], axis=0) for m in ("mfcc_rmse", "mae")}
        d["curve"] = {m: [float(v) for v in c] for m, c in curves.items()}
        d["drift_auc"] = drift_auc(curves["mfcc_rmse"])
        d["drift_auc_mae"] = drift_auc(curves["mae"])
        d["doubling_k"] = doubling_k(curves["mfcc_rmse"])
    summary = control_summary(control_cases)
    if failed_cases:
        summary = {**{k: None for k in summary}, "failed": len(failed_cases)}
    doc = {
        "schema": ptask.PROPERTIES_SCHEMA,
        "kind": "properties",
        "system": system.describe(),
        "settings": {"k_max": int(k_max), "k_others": int(k_others), "segment_seconds": float(segment_seconds), "tracks": tracks,
                     "order_margin_db": ORDER_MARGIN_DB, "band_octaves": ptask.BAND_OCTAVES},
        "testset": {"manifest_hash": testset.manifest_hash, "source": testset.source, "peak_mode": testset.peak_mode},
        "properties": {
            "drift": {"version": ptask.DRIFT_VERSION, "tasks": drift, "not_supported": skipped,
                      "summary": drift_summary(drift)},
            "control": {"version": ptask.CONTROL_VERSION, "cases": control_cases, "not_supported": skipped_control,
                        "summary": summary},
        },
        "seconds": round(time.perf_counter() - t0, 1),
    }
    if keep_going:  # the key only where failures are collected: the pipeline's documents keep their bytes
        doc["errors"] = errors
        if failed_cases:
            doc["properties"]["control"]["failed_cases"] = failed_cases
    return doc


def drift_summary(drift: dict) -> dict:
    """Over the drift tasks: mean AUC (RMSE-MFCC, MAE), and the doubling k of every task."""
    if not drift:
        return {"drift_auc": None, "drift_auc_mae": None, "doubling_k": {}}
    failed = sorted(t for t, d in drift.items() if d.get("failed"))
    if failed:
        return {"drift_auc": None, "drift_auc_mae": None, "doubling_k": {}, "failed": failed}
    return {"drift_auc": float(np.mean([d["drift_auc"] for d in drift.values()])),
            "drift_auc_mae": float(np.mean([d["drift_auc_mae"] for d in drift.values()])),
            "doubling_k": {t: d["doubling_k"] for t, d in drift.items()}}


def headline(doc: dict) -> dict[str, float | int | None]:
    """The flat numbers of one property document (``dvc metrics``, leaderboard columns, gate cells): the keys of
    :data:`benchmark.scoring.metricinfo.PROPERTY_METRICS`."""
    p = doc["properties"]
    d, c = p["drift"]["summary"], p["control"]["summary"]
    out = {"drift_auc": d["drift_auc"], "drift_auc_mae": d["drift_auc_mae"],
           "control_order": c["control_order"], "control_spearman": c["control_spearman"]}
    fig = p["drift"]["tasks"].get(ptask.FIGURE_DRIFT_TASK)
    # never doubles within K -> K + 1 (a number for dvc metrics and the gate; tables print "never (> K)")
    out["doubling_k_highpass_drums"] = (None if fig is None or fig.get("failed") else
                                        fig["k_max"] + 1 if fig["doubling_k"] is None else fig["doubling_k"])
    return out
