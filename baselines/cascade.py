"""Separate-then-DSP cascade (protocol §6.5, AMSS repo ``baseline_eval_task2.py``; not in the thesis tables).

Feed the input A to a 4-stem separator, apply the task's edit to the *estimated* stems, remix:

* RMSE-MFCC tasks: Â' = the corrected Algorithm 1 (:func:`benchmark.task.dsp.make_pair`) run on the estimated stems,
  i.e. edit the estimated target stem(s), sum, and peak-normalise the *estimated* pair (Σ ŝ, Â') with its own
  factor — the asymmetry of §6.5, kept on purpose. The dereverb tasks are **not supported** (the reference skips
  them; an estimated stem carries no dry/wet split), so the cascade covers 18 of the 21 RMSE-MFCC tasks;
* SDR tasks: "separate X" → the estimated stem X, "mute vocals, drums, bass" → the estimated "other" stem
  (no normalisation, as for the SDR targets).

The separator is any callable ``separator(audio (N, 2)) -> (4, N, 2)`` in source order vocals, drums, bass, other.
:class:`ModelSeparator` turns a conditioned separation model (a :class:`baselines.model.ModelSystem`) into one by
asking it the four Table 5.2 queries; :func:`from_checkpoint` builds the cascade over a trained checkpoint and refuses
a model that cannot answer all four (e.g. one dedicated stem network), naming the model and the missing queries.
CLI: ``amss-bench evaluate --system separate-then-dsp --separator-model NAME --separator-checkpoint PATH``; the
``evaluate-cascade`` stage of ``dvc.yaml`` (separator: ``params.yaml`` ``evaluate.cascade_separator``).
The unsupported tasks are listed in every result's ``system.metadata.unsupported_tasks`` and, aggregated, in
``summary.json`` ``not_supported`` (docs/evaluation.md, "The separate-then-DSP cascade").
"""

from __future__ import annotations

import hashlib
from typing import Callable

import numpy as np

from baselines.base import System, SystemConfigError, as_estimate
from benchmark.task import dsp
from benchmark.base.constants import SOURCES
from benchmark.base.provenance import json_sha256
from benchmark.task.tasks import EVAL_TASKS

SEPARATION_QUERIES = ("separate vocals", "separate drums", "separate bass", "mute vocals, drums, bass")
NAME = "separate-then-dsp"


def missing_separation_queries(model) -> list[str]:
    """The queries of :data:`SEPARATION_QUERIES` a model (``models.base.AudioModel``) cannot answer."""
    missing = []
    for q in SEPARATION_QUERIES:
        try:
            model.condition_for(q)
        except NotImplementedError:  # a model without conditions answers any query
            pass
        except ValueError:  # models.base.UnsupportedQueryError
            missing.append(q)
    return missing


class ModelSeparator:
    """A 4-stem separator from a model system that answers the four Table 5.2 queries."""

    def __init__(self, system):
        self.system = system
        self._last: tuple[bytes, np.ndarray] | None = None  # the 4 SDR tasks of a track share one input

    def __getstate__(self):  # worker processes start without the cached stems
        return {**self.__dict__, "_last": None}

    @property
    def fingerprint(self) -> str:
        return self.system.fingerprint

    def __call__(self, audio: np.ndarray) -> np.ndarray:
        audio = np.ascontiguousarray(audio, dtype=np.float32)
        key = hashlib.sha256(repr(audio.shape).encode() + audio.tobytes()).digest()
        if self._last is not None and self._last[0] == key:  # same input, same stems: skip 4 inferences
            return self._last[1].copy()
        stems = self._separate(audio)
        self._last = (key, stems)
        return stems.copy()

    def _separate(self, audio: np.ndarray) -> np.ndarray:
        model = self.system.model
        outs = [model.manipulate(np.asarray(audio, dtype=np.float32), q, batch_size=self.system.batch_size,
                                 device=self.system.device, autocast=self.system.autocast, mode=self.system.mode,
                                 progress=False, pcm16=self.system.pcm16) for q in SEPARATION_QUERIES]
        return np.stack([np.asarray(o, dtype=np.float32) for o in outs])


class SeparateThenDSPSystem(System):
    kind = "baseline"
    version = 1

    def __init__(self, separator: Callable[[np.ndarray], np.ndarray], name: str = NAME, *,
                 separator_fingerprint: str | None = None, peak_mode: str = "signed", **kw):
        super().__init__(name, **kw)
        self.separator = separator
        self.separator_fingerprint = separator_fingerprint or getattr(separator, "fingerprint", None)
        if self.separator_fingerprint is None:
            raise SystemConfigError("the cascade needs a separator fingerprint (provenance): pass "
                                    "separator_fingerprint= or a separator with a .fingerprint attribute")
        self.peak_mode = peak_mode

    @property
    def fingerprint(self) -> str:
        return json_sha256({"base": super().fingerprint, "separator": self.separator_fingerprint,
                            "peak_mode": self.peak_mode})

    def metadata(self) -> dict:
        return {**super().metadata(), "separator_fingerprint": self.separator_fingerprint,
                "peak_mode": self.peak_mode, "unsupported_operations": ["dereverb"],
                "unsupported_tasks": self.unsupported_tasks()}

    def unsupported_tasks(self, tasks=EVAL_TASKS) -> list[str]:
        """Ids of the evaluation tasks the cascade does not answer (the dereverb tasks)."""
        return [t.id for t in tasks if not self.supports(t)]

    def supports(self, task) -> bool:
        return task.query.operation != "dereverb"

    def estimate(self, task, pair, *, track=None) -> np.ndarray:
        if not self.supports(task):
            raise SystemConfigError(f"{self.name}: the separate-then-DSP cascade does not answer {task.id} "
                                    "(dereverberation cannot be done by editing separated stems)")
        x = np.asarray(pair.input, dtype=np.float32)
        stems = np.asarray(self.separator(x), dtype=np.float32)
        if stems.shape != (len(SOURCES), *x.shape):
            raise ValueError(f"{self.name}: separator returned shape {stems.shape}, "
                             f"expected {(len(SOURCES), *x.shape)}")
        est = dsp.make_pair(stems, task.query, peak_mode=self.peak_mode, normalize=task.kind != "sdr").target
        return as_estimate(est, who=self.name)


def from_checkpoint(model: str, checkpoint: str, *, name: str | None = None, label: str | None = None,
                    seed: int | None = None, peak_mode: str = "signed", **model_kw) -> SeparateThenDSPSystem:
    """The cascade over a trained separator: ``model`` (registry name) + ``checkpoint`` (its weights);
    ``model_kw`` (device, batch_size, mode, autocast, pcm16) go to :class:`baselines.model.ModelSystem`.
    Raises :class:`SystemConfigError` naming the model, the checkpoint and the queries it cannot answer."""
    from baselines.model import ModelSystem

    sep = ModelSystem(model, checkpoint, **model_kw)
    missing = missing_separation_queries(sep.model)
    if missing:
        raise SystemConfigError(
            f"separator model {model!r} ({checkpoint}) cannot answer {', '.join(repr(q) for q in missing)}: the "
            f"separate-then-DSP cascade needs one model answering all four separation queries "
            f"({', '.join(repr(q) for q in SEPARATION_QUERIES)}), e.g. a conditioned CUNet or amss-net-separate")
    return SeparateThenDSPSystem(ModelSeparator(sep), name or NAME, label=label or NAME,
                                 seed=sep.seed if seed is None else seed, peak_mode=peak_mode)
