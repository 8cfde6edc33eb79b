"""Training-free spatial separators: ICA, DUET, ADRess, PROJET (docs/evaluation.md, "Spatial separators").

Each method turns a stereo mixture into K spatial components (sources found by their position in the stereo field)
and maps them to the four stems by the target-free rule of :mod:`baselines.spatial.assign`; one module per method
(``ica``, ``duet``, ``adress``, ``projet``), block-wise STFT helpers in :mod:`baselines.spatial.stft`.

As evaluated systems (``amss-bench evaluate --system ica|duet|adress|projet``) they are the separate-then-DSP
cascade (:mod:`baselines.cascade`) over the method as its separator: "separate X" → stem X, "mute vocals, drums,
bass" → the "other" stem, and, where ``cascade`` is true in the method's parameters, the RMSE-MFCC edit tasks as
the edit applied to the estimated stems (dereverb never: the cascade cannot answer it). Tasks a system does not
answer are listed in ``unsupported_tasks()`` and dropped visibly by ``evaluate --tasks all``.

Parameters: :data:`DEFAULTS` per method, overridden by ``params.yaml`` ``baselines.<method>`` (every key of that
section must be a known parameter); all of them are recorded in every result (``system.metadata.params``) and in
the fingerprint.
"""

from __future__ import annotations

import copy
import hashlib
from types import ModuleType

import numpy as np

from baselines.base import SystemConfigError
from baselines.cascade import SeparateThenDSPSystem
from baselines.spatial import adress, assign, duet, ica, projet
from benchmark.base.constants import SOURCES, SR
from benchmark.base.provenance import json_sha256
from benchmark.task.tasks import EVAL_TASKS

METHODS: dict[str, ModuleType] = {"ica": ica, "duet": duet, "adress": adress, "projet": projet}
REFERENCES = {
    "ica": "A. Hyvärinen, J. Karhunen, E. Oja, Independent Component Analysis, Wiley 2001 (scikit-learn FastICA)",
    "duet": "S. Rickard, The DUET blind source separation algorithm, Blind Speech Separation, Springer 2007",
    "adress": "D. Barry, B. Lawlor, E. Coyle, Real-time sound source separation using azimuth discrimination and "
              "resynthesis, 117th AES Convention 2004",
    "projet": "D. FitzGerald, A. Liutkus, R. Badeau, Projection-based demixing of spatial audio, IEEE/ACM TASLP "
              "24(9) 2016",
}
#: beside each method's own parameters: whether the system answers the edit tasks through the cascade
SYSTEM_KEYS = {"cascade": False}
DEFAULTS = {m: {**copy.deepcopy(mod.DEFAULTS), **SYSTEM_KEYS} for m, mod in METHODS.items()}
# the edit tasks cost 18 more separations and MFCC scorings per track (≈ +60 s of `make repro` for DUET or ICA,
# ≈ 20 min for PROJET): by default only ADRess, the best of the four on panned mixtures, answers them (docs/performance.md)
for _m in DEFAULTS:
    DEFAULTS[_m]["cascade"] = _m == "adress"
ASSIGNMENT_RULE = ("components ranked by |pan| (most central first) take the stem slots centre, centre, drums, "
                   "other (component floor(j*K/4) for slot j); the centre pair is vocals and bass, the lower spectral "
                   "centroid being bass; a component with several stems is divided equally among them")


def resolve_params(method: str, overrides: dict | None = None) -> dict:
    """The method's defaults updated by ``overrides`` (a ``params.yaml`` ``baselines.<method>`` section)."""
    if method not in METHODS:
        raise KeyError(f"unknown spatial method {method!r}; known: {', '.join(METHODS)}")
    prm = copy.deepcopy(DEFAULTS[method])
    unknown = sorted(set(overrides or {}) - set(prm))
    if unknown:
        raise SystemConfigError(f"baselines.{method}: unknown parameter(s) {', '.join(unknown)}; known: "
                                f"{', '.join(sorted(prm))}")
    for key, value in (overrides or {}).items():
        if isinstance(prm[key], bool) != isinstance(value, bool) or not isinstance(value, type(prm[key])) and not (
                isinstance(prm[key], float) and isinstance(value, int)):
            raise SystemConfigError(f"baselines.{method}.{key} is {value!r}, expected {type(prm[key]).__name__}")
        prm[key] = value
    return prm


class SpatialSeparator:
    """``separator(audio (N, 2)) -> (4, N, 2)`` float32 stems by one spatial method (the cascade's separator)."""

    version = 1

    def __init__(self, method: str, params: dict | None = None):
        self.method = method
        self.params = resolve_params(method, params)
        self.last_info: dict | None = None
        self._last: tuple[bytes, np.ndarray] | None = None  # the 4 SDR tasks of a track share one input

    def __getstate__(self):  # worker processes start without the cached stems
        return {**self.__dict__, "_last": None}

    @property
    def method_params(self) -> dict:
        return {k: v for k, v in self.params.items() if k not in SYSTEM_KEYS}

    @property
    def fingerprint(self) -> str:
        return json_sha256({"spatial": self.method, "version": self.version, "params": self.method_params})

    def __call__(self, audio: np.ndarray) -> np.ndarray:
        audio = np.ascontiguousarray(audio, dtype=np.float32)
        if audio.ndim != 2 or audio.shape[1] != 2:
            raise SystemConfigError(f"{self.method}: a spatial separator needs stereo (N, 2) audio, got "
                                    f"{audio.shape}")
        key = hashlib.sha256(repr(audio.shape).encode() + audio.tobytes()).digest()
        if self._last is not None and self._last[0] == key:
            return self._last[1].copy()
        stems, info = METHODS[self.method].separate(audio.astype(np.float64), SR, self.method_params)
        stems = np.asarray(stems, dtype=np.float32)
        if stems.shape != (len(SOURCES), *audio.shape):
            raise ValueError(f"{self.method}: separated {stems.shape}, expected {(len(SOURCES), *audio.shape)}")
        self.last_info = info
        self._last = (key, stems)
        return stems.copy()


class SpatialSystem(SeparateThenDSPSystem):
    """A spatial method as an evaluated system: the four SDR tasks, and (``cascade``) the edit tasks but dereverb."""

    version = 1

    def __init__(self, method: str, name: str | None = None, *, params: dict | None = None,
                 peak_mode: str = "signed", **kw):
        sep = SpatialSeparator(method, params)
        super().__init__(sep, name or method, peak_mode=peak_mode, **kw)
        self.method = method
        self.params = sep.params

    def supports(self, task) -> bool:
        if task.kind == "sdr":
            return True
        return bool(self.params["cascade"]) and super().supports(task)

    def metadata(self) -> dict:
        meta = super().metadata()
        meta["unsupported_operations"] = (["dereverb"] if self.params["cascade"] else
                                          sorted({t.query.operation for t in EVAL_TASKS if t.kind != "sdr"}))
        return {**meta, "method": self.method, "reference": REFERENCES[self.method], "params": self.params,
                "stem_assignment": ASSIGNMENT_RULE}

    @property
    def fingerprint(self) -> str:
        return json_sha256({"base": super().fingerprint, "cascade": bool(self.params["cascade"])})


__all__ = ["METHODS", "DEFAULTS", "REFERENCES", "ASSIGNMENT_RULE", "SpatialSeparator", "SpatialSystem",
           "resolve_params", "assign"]
