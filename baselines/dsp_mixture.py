"""DSP-on-mixture baseline: apply the task's edit to the *whole* input mixture instead of to the target source.

A naive, training-free baseline for the RMSE-MFCC tasks:

* pan left/right (hard): the whole mix is downmixed and hard-panned (the reference pan, :func:`benchmark.task.dsp.pan`);
* increase/decrease volume: the whole mix × 2 / × 0.5;
* heavy lowpass/highpass: the SoX biquad of the task (cutoff of the task's source, e.g. 43 Hz for bass lowpass) on
  the whole mix — the same SoX call, so SoX's ±1 clipping applies as for the targets;
* dereverb: no DSP can remove the reverb of one source, so the input is returned **unchanged** (= identity);
* separate/mute (the SDR tasks): selecting sources is not a mixture-wide DSP, so the input is returned
  **unchanged** (= identity, the mixture for every target).

Normalisation: the edited mixture is peak-normalised jointly with the input, with the test set's peak rule
(signed maxima, :func:`benchmark.task.dsp.peak_normalize`), i.e. the normalisation is computed from the *estimated* pair,
as the separation baseline of protocol §6.5 does. Only increase-volume can exceed full scale.
"""

from __future__ import annotations

import numpy as np

from baselines.base import System, as_estimate
from benchmark.task import dsp

PASSTHROUGH = ("separate", "mute", "dereverb")


class DSPMixtureSystem(System):
    kind = "baseline"
    version = 1

    def __init__(self, name: str = "dsp-mixture", *, peak_mode: str = "signed", **kw):
        super().__init__(name, **kw)
        if peak_mode not in dsp.PEAK_MODES:
            raise ValueError(f"peak_mode must be one of {dsp.PEAK_MODES}, got {peak_mode!r}")
        self.peak_mode = peak_mode

    def metadata(self) -> dict:
        return {**super().metadata(), "peak_mode": self.peak_mode, "passthrough_operations": list(PASSTHROUGH)}

    @property
    def fingerprint(self) -> str:
        from benchmark.base.provenance import json_sha256

        return json_sha256({"base": super().fingerprint, "peak_mode": self.peak_mode})

    def estimate(self, task, pair, *, track=None) -> np.ndarray:
        query = task.query
        x = np.asarray(pair.input, dtype=np.float32)
        if query.operation in PASSTHROUGH:
            return as_estimate(np.array(x, copy=True), who=self.name)
        edited, _clipped = dsp.apply_to_source(x, query, task.source)
        _, edited, _gain = dsp.peak_normalize(x, np.asarray(edited, dtype=np.float32), self.peak_mode)
        return as_estimate(edited, who=self.name)
