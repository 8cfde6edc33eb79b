"""Property tasks: what a system does over *several* edits, beyond the one-shot tasks of Tables 5.2/5.3.

Two task families, versioned like :mod:`benchmark.task.tasks` (a change of what a task computes = a new version and
a line in :data:`CHANGELOG`; property results record the versions and are never mixed across versions):

* **drift** (thesis §5.5.5, Figures 5.6/5.7): one query applied k = 1…K times, each time to the system's previous
  output. The ground truth after k applications is the same DSP applied k times to the target *source*
  (:func:`benchmark.task.dsp.apply_to_source`, SoX for the filters, exactly as the test set applies it once) and
  mixed with the untouched sources. For a removal (dereverb) the ground truth is the dry mix at every k: removing
  the reverb of an already dry source leaves it dry.
* **control** (thesis §5.5.6, Figure 5.8): light / medium / heavy lowpass and highpass on each filterable source
  (protocol's cutoff table, :data:`benchmark.task.aml.FILTER_CUTOFFS`), all three fed the same input.

Everything runs on one *segment* of each test track (``segment_seconds`` around the middle of the track, the
thesis figures show a segment too): the stems are cut first and the DSP runs on the cut stems (SoX filter state
starts at zero at the segment's first sample). Normalisation follows the test set's rule (signed maxima, floored at
1, :func:`benchmark.task.dsp.peak_normalize`) with **one** divisor over the input and every ground truth of the
case (all k of a drift task, all three levels of a control case), so every signal of a case is on one scale.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from benchmark.base.constants import SOURCES, SR
from benchmark.task import aml, dsp
from benchmark.task.tasks import Task

PROPERTIES_SCHEMA = 1
DRIFT_VERSION = 1
CONTROL_VERSION = 1

#: the defaults of params.yaml ``properties`` (the stage passes them explicitly)
DEFAULT_K = 20
DEFAULT_SEGMENT_SECONDS = 4.0

#: drift task id -> description. The thesis's example ("apply highpass to drums", Figure 5.7, no adverb: medium)
#: and three Table 5.3 tasks: a pan, a lowpass on bass, a reverb removal.
DRIFT_DESCRIPTIONS = {
    "drift-highpass-drums": "apply highpass to drums",
    "drift-pan-left-vocals": "pan vocals completely to the left side",
    "drift-lowpass-bass": "apply heavy lowpass to bass",
    "drift-dereverb-vocals": "remove reverb from vocals",
}
#: the drift task of thesis Figure 5.7 (the report draws its spectrograms after K applications)
FIGURE_DRIFT_TASK = "drift-highpass-drums"

CONTROL_OPERATIONS = ("lowpass", "highpass")
CONTROL_SOURCES = ("vocals", "drums", "bass")  # the sources a filter task targets (aml.FILTER_TARGET_SETS)
#: the control case of thesis Figure 5.8 (the report draws its three spectrograms)
FIGURE_CONTROL_CASE = ("highpass", "drums")

CHANGELOG = (
    ("2026-12-06", "drift-*", 1, "k-fold DSP on the target source of a middle segment, one joint signed-peak "
                                 "divisor over the input and all k ground truths; dereverb: the dry mix at every k"),
    ("2026-12-06", "control-*", 1, "light/medium/heavy lowpass and highpass on vocals, drums, bass of a middle "
                                   "segment, one joint signed-peak divisor over the input and the three targets"),
)


def task_of(task_id: str, description: str) -> Task:
    """The :class:`benchmark.task.tasks.Task` a system answers for one property query (kind ``mfcc``: the input is
    a mix, the edit a per-source DSP, as the Table 5.3 tasks). Its ``table`` is ``property``."""
    q = aml.parse(description)
    return Task(task_id, DRIFT_VERSION if task_id.startswith("drift-") else CONTROL_VERSION, q.canonical, "mfcc",
                q.targets[0], "property", q.operation, ("rmse_mfcc",))


DRIFT_TASKS: tuple[Task, ...] = tuple(task_of(i, d) for i, d in DRIFT_DESCRIPTIONS.items())


def control_task(operation: str, source: str, level: str) -> Task:
    return task_of(f"control-{operation}-{source}-{level}", f"apply {level} {operation} to {source}")


def property_task_ids() -> list[str]:
    """Every property task id: the drift tasks, then every control case's three levels (report order)."""
    return [t.id for t in DRIFT_TASKS] + [f"control-{op}-{s}-{lv}" for op, s in control_cases() for lv in aml.LEVELS]


def get_property_task(task_id: str) -> Task:
    """The property task of an id (a drift task or ``control-<operation>-<source>-<level>``). Runs inside the code
    submissions' sandbox too (its shim holds this module): a worker resolves the ids the suite sends with it."""
    if task_id in DRIFT_DESCRIPTIONS:
        return get_drift_task(task_id)
    parts = task_id.split("-")
    if (len(parts) == 4 and parts[0] == "control" and parts[1] in CONTROL_OPERATIONS and parts[2] in CONTROL_SOURCES
            and parts[3] in aml.LEVELS):
        return control_task(parts[1], parts[2], parts[3])
    raise KeyError(f"unknown property task {task_id!r}; known: {', '.join(property_task_ids())}")


def control_cases() -> list[tuple[str, str]]:
    """(operation, source) of every control case, in report order."""
    return [(op, s) for op in CONTROL_OPERATIONS for s in CONTROL_SOURCES]


def get_drift_task(task_id: str) -> Task:
    for t in DRIFT_TASKS:
        if t.id == task_id:
            return t
    raise KeyError(f"unknown drift task {task_id!r}; known: {', '.join(t.id for t in DRIFT_TASKS)}")


# ------------------------------------------------------------------------------------------------ ground truth

def segment(n: int, seconds: float, sr: int) -> tuple[int, int]:
    """[start, stop) of ``seconds`` around the middle of an n-sample track (the whole track if shorter)."""
    if seconds <= 0:
        raise ValueError(f"segment_seconds must be > 0, got {seconds}")
    length = min(n, int(round(seconds * sr)))
    start = (n - length) // 2
    return start, start + length


def _signed_divisor(arrays) -> float:
    g = max(float(np.max(a)) for a in arrays)
    return 1.0 if g < 1 else g


@dataclass
class DriftTruth:
    """Input and the k-fold ground truths (index k-1) of one drift task on one segment, on one scale."""
    input: np.ndarray
    targets: list[np.ndarray]
    gain: float
    clipped: int  # SoX-clipped samples over all k applications


def drift_truth(stems: np.ndarray, task: Task, k_max: int) -> DriftTruth:
    """The input mix and the ground truth after k = 1…k_max applications of ``task`` (stems (4, N, 2) of the
    segment, SOURCES order)."""
    if k_max < 1:
        raise ValueError(f"K must be >= 1, got {k_max}")
    q = task.query
    j = SOURCES.index(task.source)
    stems = np.asarray(stems, dtype=np.float32)
    rest = np.sum(np.delete(stems, j, axis=0), axis=0)
    clipped = 0
    if q.operation == "dereverb":
        wet, clipped = dsp.apply_to_source(stems[j], q, task.source)
        mix_in = rest + wet
        targets = [np.sum(stems, axis=0)] * k_max
    else:
        mix_in = np.sum(stems, axis=0)
        src, targets = stems[j], []
        for _ in range(k_max):
            src, c = dsp.apply_to_source(src, q, task.source)
            src = np.asarray(src, dtype=np.float32)
            clipped += c
            targets.append(rest + src)
    g = _signed_divisor([mix_in, *targets])
    return DriftTruth((mix_in / g).astype(np.float32), [(t / g).astype(np.float32) for t in targets], g, clipped)


@dataclass
class ControlTruth:
    """Input and the light/medium/heavy ground truths of one control case on one segment, on one scale."""
    input: np.ndarray
    targets: dict[str, np.ndarray]  # level -> target
    gain: float
    source: np.ndarray  # the target source in the input (same scale): input - source = the untouched rest


def control_truth(stems: np.ndarray, operation: str, source: str) -> ControlTruth:
    stems = np.asarray(stems, dtype=np.float32)
    j = SOURCES.index(source)
    mix_in = np.sum(stems, axis=0)
    rest = mix_in - stems[j]
    targets = {}
    for level in aml.LEVELS:
        edited, _ = dsp.apply_to_source(stems[j], aml.parse(f"apply {level} {operation} to {source}"), source)
        targets[level] = rest + np.asarray(edited, dtype=np.float32)
    g = _signed_divisor([mix_in, *targets.values()])
    return ControlTruth((mix_in / g).astype(np.float32), {k: (v / g).astype(np.float32) for k, v in targets.items()},
                        g, (stems[j] / g).astype(np.float32))


# ------------------------------------------------------------------------------------------------ level band

#: the band the applied level is measured in, per operation: beyond one octave past the *light* cutoff of the
#: source (lowpass: f >= 2·c_light; highpass: f <= c_light/2). Every level attenuates that band (the medium and
#: heavy cutoffs lie further in), and the Q = 10 resonance peaks (+20 dB at each level's cutoff) lie outside it.
BAND_OCTAVES = 1.0


def level_band(operation: str, source: str) -> tuple[float, float]:
    """[low, high] Hz of the band whose attenuation measures the applied level (see :data:`BAND_OCTAVES`)."""
    c = aml.filter_cutoff(operation, "light", source)
    if operation == "lowpass":
        return c * 2.0 ** BAND_OCTAVES, SR / 2.0
    if operation == "highpass":
        return 0.0, c / 2.0 ** BAND_OCTAVES
    raise ValueError(f"not a filter operation: {operation!r}")
