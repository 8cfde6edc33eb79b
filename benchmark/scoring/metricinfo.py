"""The metric registry: one place per metric. Evaluation, aggregation, the report tables, the
leaderboard and the regression gate loop over it; a task declares which families it is scored with
(``Task.metric_families``, benchmark/task/tasks.py).

A **family** (:class:`Family`) is one computation and how its numbers are aggregated:

* ``compute`` — the function that produces the numbers, as an import path (``"module:function"``) loaded on first
  use (:meth:`Family.function`), so importing this module imports neither torch, museval nor librosa;
* ``metrics`` — the result keys it produces (the :data:`METRICS` entries of the family, in registry order) and
  ``where`` a result file holds them; :meth:`Family.per_track` reads one result's per-track values;
* ``statistic`` — the aggregation in words (summary.json ``rules``, every cell's ``stat``) and as a callable
  (:meth:`Family.over_tracks`: the per-run statistic over tracks of the per-track values); ``group`` — the summary
  row over the cells: ``"AVG"`` (one row over the targets) or ``"source"`` (one row per source).

A **metric** (:class:`MetricInfo`) is one key of a family with what a reader and a comparison need:

* ``higher_is_better`` — SDR-family values in dB improve upward; RMSE-MFCC and MAE downward.
* ``floor`` — a value beyond it is not a measurement but float rounding. BSS-Eval of an estimate that equals its
  reference up to rounding (the oracle's ISR/SIR/SAR, the identity's SAR, the oracle's global SDR) comes out
  between ~100 and ~225 dB and moves by several dB between two CPUs or two BLAS builds. Nothing a system can do
  to 16-bit audio is measurable beyond 16-bit PCM's ~96 dB dynamic range, so any SDR-family cell at or above
  ``BSS_FLOOR_DB`` = 90 dB is shown as "≥ floor" and is never compared numerically (only that it stays at the
  floor). RMSE-MFCC and MAE have no such floor (their perfect value 0.0 is exact on every machine).

Adding a metric: one :class:`MetricInfo` line in :data:`METRICS` (a new key of an existing family), or a new
:class:`Family` in :data:`FAMILIES` plus its metrics, and the family's name in the declaration of the tasks scored
with it (``benchmark/task/tasks.py`` ``KIND_FAMILIES``); docs/metrics.md "Adding a metric".
"""

from __future__ import annotations

import importlib
import math
import warnings
from dataclasses import dataclass
from typing import Callable

import numpy as np

BSS_FLOOR_DB = 90.0


@dataclass(frozen=True)
class MetricInfo:
    name: str                 # the metric key in result files and in summary.json cells/groups
    family: str               # a key of FAMILIES: bss_eval | global_sdr | rmse_mfcc
    higher_is_better: bool
    unit: str
    floor: float | None = None  # values at or beyond it (in the better direction) are rounding, not measurement
    label: str | None = None    # how a table names it (None: the key)

    def at_floor(self, value: float | None) -> bool:
        if value is None or self.floor is None:
            return False
        return value >= self.floor if self.higher_is_better else value <= self.floor

    def better(self, new: float, old: float) -> float:
        """Signed improvement of ``new`` over ``old`` (positive = better), in the metric's unit."""
        return (new - old) if self.higher_is_better else (old - new)

    @property
    def sign(self) -> int:
        """+1 if higher is better, -1 if lower is better."""
        return 1 if self.higher_is_better else -1


METRICS: dict[str, MetricInfo] = {m.name: m for m in (
    MetricInfo("SDR", "bss_eval", True, "dB", BSS_FLOOR_DB, "SDR"),
    MetricInfo("ISR", "bss_eval", True, "dB", BSS_FLOOR_DB, "ISR"),
    MetricInfo("SIR", "bss_eval", True, "dB", BSS_FLOOR_DB, "SIR"),
    MetricInfo("SAR", "bss_eval", True, "dB", BSS_FLOOR_DB, "SAR"),
    MetricInfo("global_SDR", "global_sdr", True, "dB", BSS_FLOOR_DB, "global SDR"),
    MetricInfo("mfcc_rmse", "rmse_mfcc", False, "dB", None, "RMSE-MFCC"),
    MetricInfo("mfcc_rmse_left", "rmse_mfcc", False, "dB", None, "RMSE-MFCC (left)"),
    MetricInfo("mfcc_rmse_right", "rmse_mfcc", False, "dB", None, "RMSE-MFCC (right)"),
    MetricInfo("mae", "rmse_mfcc", False, "amplitude", None, "MAE"),
    MetricInfo("mae_left", "rmse_mfcc", False, "amplitude", None, "MAE (left)"),
    MetricInfo("mae_right", "rmse_mfcc", False, "amplitude", None, "MAE (right)"),
    # the untouched sources' share of an edit's error, capped at 100 dB (metrics/preservation.py CAP_DB): beyond
    # the floor it is rounding (the oracle's error is exactly 0; the identity's lies on the edited source alone)
    MetricInfo("preservation", "preservation", True, "dB", BSS_FLOOR_DB, "preservation"),
)}


# ------------------------------------------------------------------------------------------ per-track readers

def _nanmedian(v) -> float:
    """Median with NaN/None skipped; NaN when nothing is left."""
    v = np.asarray([np.nan if x is None else x for x in v], dtype=np.float64)
    v = v[~np.isnan(v)]
    return float(np.median(v)) if v.size else math.nan


def _bss_eval_per_track(doc: dict, keys: tuple[str, ...]) -> list[tuple[str, float]]:
    """Median over the 1-s frames of the task's target (NaN skipped) of every key the frames hold (the ``sdr-only``
    back-end writes SDR alone); a track shorter than one frame has no frames: SDR = NaN only."""
    frames = doc["targets"][0]["frames"]
    present = [m for m in keys if m in frames[0]["metrics"]] if frames else ["SDR"]
    return [(m, _nanmedian([fr["metrics"].get(m) for fr in frames])) for m in present]


def _global_sdr_per_track(doc: dict, keys: tuple[str, ...]) -> list[tuple[str, float]]:
    (key,) = keys
    return [(key, float(doc["global_sdr"]))]


def _scores_per_track(doc: dict, keys: tuple[str, ...]) -> list[tuple[str, float]]:
    return [(m, float(doc["scores"][m])) for m in keys]


def _preservation_per_track(doc: dict, keys: tuple[str, ...]) -> list[tuple[str, float]]:
    (key,) = keys
    return [(key, float(doc["preservation"]["db"]))]


def _nanmedian_axis(x, axis):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmedian(x, axis=axis)


def _mean_axis(x, axis):
    return np.mean(x, axis=axis)


#: the statistic over tracks (per run), by name
OVER_TRACKS: dict[str, Callable] = {"median": _nanmedian_axis, "mean": _mean_axis}


# ------------------------------------------------------------------------------------------------- families

@dataclass(frozen=True)
class Family:
    name: str
    compute: str              # "module:function" producing the numbers (imported by .function())
    where: str                # where a result file holds the per-track values (words)
    statistic: str            # the aggregation in words (summary.json rules, cells' "stat")
    over_tracks: str          # key of OVER_TRACKS: the per-run statistic over tracks (NaN skipped for "median")
    group: str                # "AVG": one summary row over the targets; "source": one row per source
    reader: Callable          # (result doc, metric keys) -> [(metric, per-track value)]
    result_name: str | None = None  # the result's metric.name when this family's call writes the block
    backend: str | None = None      # the result's metric.backend (None: the evaluation's --backend option)
    # what the compute needs besides (target, estimate): "sources" = the target's decomposition into its sources
    # (keyword arguments ``sources`` {source: (N, 2)} and ``edited``, the edited source; TestSet.target_sources)
    needs: tuple[str, ...] = ()
    block: str | None = None        # the result key the compute's "<block>_block" value is stored under (None: scores)

    @property
    def metrics(self) -> tuple[str, ...]:
        """The result keys this family produces (registry order)."""
        return tuple(m.name for m in METRICS.values() if m.family == self.name)

    def function(self) -> Callable:
        """The compute function (imported now)."""
        module, _, attr = self.compute.partition(":")
        return getattr(importlib.import_module(module), attr)

    def per_track(self, doc: dict) -> list[tuple[str, float]]:
        """(metric, per-track value) of one result file."""
        return self.reader(doc, self.metrics)

    def track_stat(self) -> Callable:
        """``f(array, axis)``: the per-run statistic over the tracks axis."""
        return OVER_TRACKS[self.over_tracks]

    def group_of(self, source: str) -> str:
        return "AVG" if self.group == "AVG" else source

    @property
    def group_statistic(self) -> str:
        """The summary row's rule in words (groups' "stat")."""
        return ("mean over targets" if self.group == "AVG" else "mean over tasks") + " of: " + self.statistic


FAMILIES: dict[str, Family] = {f.name: f for f in (
    Family("bss_eval", "benchmark.scoring.metrics:bss_eval_track",
           "targets[0].frames[].metrics (1-s frames of the task's museval target)",
           "median over frames (NaN skipped) → median over tracks → mean over runs", "median", "AVG",
           _bss_eval_per_track, "bss_eval_v4"),
    Family("global_sdr", "benchmark.scoring.metrics:global_sdr", "global_sdr (whole track)",
           "whole-track SDR → mean over tracks → mean over runs", "mean", "AVG", _global_sdr_per_track),
    Family("rmse_mfcc", "benchmark.scoring.metrics:rmse_mfcc", "scores",
           "mean over tracks → mean over runs", "mean", "source", _scores_per_track, "rmse_mfcc", "rmse-mfcc"),
    Family("preservation", "benchmark.scoring.metrics.preservation:preservation",
           "preservation.db (whole track, pooled over the untouched sources)",
           "untouched sources' energy / their share of the error (256-tap fit, pooled, capped at 100 dB) → mean over "
           "tracks → mean over runs", "mean", "source", _preservation_per_track, needs=("sources",),
           block="preservation"),
)}


#: property metrics (benchmark/scoring/properties.py, docs/metrics.md "Drift" and "Level control"): one number per
#: system, not per task × track, so they belong to no :class:`Family` and never enter the thesis tables' averages.
#: ``family`` names the property (the report section, the leaderboard's column group). Adding another property:
#: its MetricInfo lines here and its section in :data:`PROPERTY_SECTIONS`.
PROPERTY_METRICS: dict[str, MetricInfo] = {m.name: m for m in (
    MetricInfo("drift_auc", "drift", False, "dB", None, "drift AUC (RMSE-MFCC)"),
    MetricInfo("drift_auc_mae", "drift", False, "amplitude", None, "drift AUC (MAE)"),
    MetricInfo("doubling_k_highpass_drums", "drift", True, "k", None, "doubling k (highpass drums)"),
    MetricInfo("control_order", "control", True, "fraction", None, "level order holds"),
    MetricInfo("control_spearman", "control", True, "rho", None, "rank correlation"),
)}
#: property -> its title in the report, the HTML page and the leaderboard
PROPERTY_SECTIONS: dict[str, str] = {"drift": "Progressive manipulation (drift)", "control": "Effect-level control"}


def property_metrics(prop: str | None = None) -> tuple[str, ...]:
    """The property metric keys (of one property), in registry order."""
    return tuple(m.name for m in PROPERTY_METRICS.values() if prop is None or m.family == prop)


def info(metric: str) -> MetricInfo:
    try:
        return METRICS[metric] if metric in METRICS else PROPERTY_METRICS[metric]
    except KeyError:
        raise KeyError(f"unknown metric {metric!r}; known: {', '.join([*METRICS, *PROPERTY_METRICS])}") from None


def family(name: str) -> Family:
    try:
        return FAMILIES[name]
    except KeyError:
        raise KeyError(f"unknown metric family {name!r}; known: {', '.join(FAMILIES)}") from None


def family_of(metric: str) -> Family:
    return family(info(metric).family)


def metrics_of(families) -> tuple[str, ...]:
    """The metric keys of these families, in registry order."""
    names = [family(f).name for f in families]
    return tuple(m.name for m in METRICS.values() if m.family in names)


def task_metrics(task) -> tuple[str, ...]:
    """The metric keys a task's result files carry: those of the families it declares (``Task.metric_families``)."""
    if not task.metric_families:
        raise ValueError(f"task {task.id!r} declares no metric family")
    return metrics_of(task.metric_families)


def statistics() -> dict[str, str]:
    """family -> its aggregation rule in words (summary.json ``rules``)."""
    return {f.name: f.statistic for f in FAMILIES.values()}


def format_value(metric: str, value: float | None, digits: int = 2) -> str:
    """A cell as a table prints it: "≥ floor" for rounding-level values, "—" for missing."""
    if value is None:
        return "—"
    m = info(metric)
    if m.at_floor(value):
        return "≥ floor"
    if m.unit == "k":
        return f"{value:d}" if isinstance(value, int) else f"{value:g}"
    return f"{value:.{digits}f}" if m.unit in ("dB", "fraction", "rho") else f"{value:.4f}"
