"""What each aggregated metric means for a reader and for a comparison: direction, unit, numerical floor.

One place for the facts the report tables and the regression gate (``benchmark/gate``) both need:

* ``higher_is_better`` — SDR-family values in dB improve upward; RMSE-MFCC and MAE downward.
* ``floor`` — a value beyond it is not a measurement but float rounding. BSS-Eval of an estimate that equals its
  reference up to rounding (the oracle's ISR/SIR/SAR, the identity's SAR, the oracle's global SDR) comes out
  between ~100 and ~225 dB and moves by several dB between two CPUs or two BLAS builds. Nothing a system can do
  to 16-bit audio is measurable beyond 16-bit PCM's ~96 dB dynamic range, so any SDR-family cell at or above
  ``BSS_FLOOR_DB`` = 90 dB is shown as "≥ floor" and is never compared numerically (only that it stays at the
  floor). RMSE-MFCC and MAE have no such floor (their perfect value 0.0 is exact on every machine).
"""

from __future__ import annotations

from dataclasses import dataclass

BSS_FLOOR_DB = 90.0


@dataclass(frozen=True)
class MetricInfo:
    name: str                 # the metric key in summary.json cells/groups
    family: str               # bss_eval | global_sdr | rmse_mfcc
    higher_is_better: bool
    unit: str
    floor: float | None = None  # values at or beyond it (in the better direction) are rounding, not measurement

    def at_floor(self, value: float | None) -> bool:
        if value is None or self.floor is None:
            return False
        return value >= self.floor if self.higher_is_better else value <= self.floor

    def better(self, new: float, old: float) -> float:
        """Signed improvement of ``new`` over ``old`` (positive = better), in the metric's unit."""
        return (new - old) if self.higher_is_better else (old - new)


METRICS: dict[str, MetricInfo] = {m.name: m for m in (
    MetricInfo("SDR", "bss_eval", True, "dB", BSS_FLOOR_DB),
    MetricInfo("ISR", "bss_eval", True, "dB", BSS_FLOOR_DB),
    MetricInfo("SIR", "bss_eval", True, "dB", BSS_FLOOR_DB),
    MetricInfo("SAR", "bss_eval", True, "dB", BSS_FLOOR_DB),
    MetricInfo("global_SDR", "global_sdr", True, "dB", BSS_FLOOR_DB),
    MetricInfo("mfcc_rmse", "rmse_mfcc", False, "dB"),
    MetricInfo("mfcc_rmse_left", "rmse_mfcc", False, "dB"),
    MetricInfo("mfcc_rmse_right", "rmse_mfcc", False, "dB"),
    MetricInfo("mae", "rmse_mfcc", False, "amplitude"),
    MetricInfo("mae_left", "rmse_mfcc", False, "amplitude"),
    MetricInfo("mae_right", "rmse_mfcc", False, "amplitude"),
)}


def info(metric: str) -> MetricInfo:
    try:
        return METRICS[metric]
    except KeyError:
        raise KeyError(f"unknown metric {metric!r}; known: {', '.join(METRICS)}") from None


def format_value(metric: str, value: float | None, digits: int = 2) -> str:
    """A cell as a table prints it: "≥ floor" for rounding-level values, "—" for missing."""
    if value is None:
        return "—"
    m = info(metric)
    if m.at_floor(value):
        return "≥ floor"
    return f"{value:.{digits}f}" if m.unit == "dB" else f"{value:.4f}"
