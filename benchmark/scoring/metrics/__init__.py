"""Evaluation metrics (protocol §5, §6, §8; see ``docs/metrics.md``).

* BSS-Eval v4 (museval-exact): :func:`bss_eval_track` with ``backend="museval"`` (official), ``"fast"`` (PyTorch
  float64, CPU/CUDA, same numbers to ≈ 1e-7 dB before quantisation) or ``"sdr-only"`` (exact closed-form SDR);
  :func:`to_museval_json`, :func:`frame_medians`.
* Global SDR (MDX 2021 "nSDR" convention, δ = 1e-7): :func:`global_sdr` — a separate number, never mixed with the
  museval median.
* RMSE-MFCC and MAE (AMSS Table 5.3): :func:`rmse_mfcc`.
* Preservation of the untouched sources by an edit: :func:`benchmark.scoring.metrics.preservation.preservation`
  (imported from its module: it is a metric family of the registry, docs/metrics.md §6).
* Silent-mixture experiment: :func:`silence_measure`, :func:`plot_silence`.

Heavy dependencies (torch, museval, librosa, matplotlib) are imported lazily inside the functions.
"""

from benchmark.scoring.metrics.bss import (
    BACKENDS,
    METRICS,
    NearSingularWarning,
    bss_eval_track,
    bss_eval_track_raw,
    frame_medians,
    global_sdr,
    n_frames,
    prepare_inputs,
    quantize,
    to_museval_json,
)
from benchmark.scoring.metrics.mfcc import KEYS as RMSE_MFCC_KEYS
from benchmark.scoring.metrics.mfcc import rmse_mfcc
from benchmark.scoring.metrics.silence import SilenceResult, measure_output, plot_silence, silence_measure

__all__ = [
    "BACKENDS",
    "METRICS",
    "NearSingularWarning",
    "RMSE_MFCC_KEYS",
    "SilenceResult",
    "bss_eval_track",
    "bss_eval_track_raw",
    "frame_medians",
    "global_sdr",
    "measure_output",
    "n_frames",
    "plot_silence",
    "prepare_inputs",
    "quantize",
    "rmse_mfcc",
    "silence_measure",
    "to_museval_json",
]
