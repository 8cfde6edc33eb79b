"""Effects and (input, target) pair generation exactly as the reference (protocol §2.2–§2.5, §7, §9).

* gains and pans are numpy on float32, in the reference's operation order;
* biquads (Q = 10) and the reverb run through SoX with the very argument list pysndfx 0.3.6 issued
  (``sox -N -V1 -t f32 -r 44100 -c 2 - -t f32 -r 44100 -c 2 - <effect>``), piped through the maintained ``sox``
  package's :func:`sox.core.sox` (pysndfx itself is broken on NumPy >= 2.3);
* :func:`make_pair` is the corrected Algorithm 1: edit the target sources, sum, joint peak normalisation with the
  reference's *signed* maxima, and for the remove-task (dereverb) swap input and target.

SoX clips silently at ±1 on input and output (protocol §7); :func:`sox_effect` counts the clipped samples
(input samples with |x| > 1 plus output samples at full scale) and :class:`Pair` reports them per source.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from benchmark.task import aml
from benchmark.base.constants import SOURCES, SR

log = logging.getLogger("amss_bench.dsp")

REVERB_ARGS = ("reverb", "100", "50", "100", "100", "32", "3")
PEAK_MODES = ("signed", "abs")


class SoxError(RuntimeError):
    """SoX is missing or failed."""


# --------------------------------------------------------------------------------------------------------------
# numpy effects (protocol §2.2)

def gain(x: np.ndarray, factor: float) -> np.ndarray:
    """Volume change: x * factor (2.0 = increase, 0.5 = decrease)."""
    return x * factor


def pan(x: np.ndarray, left: float, right: float) -> np.ndarray:
    """Reference pan of one (N, 2) source: downmix to the per-sample channel mean m, then L = left·m, R = right·m.

    Not constant-power and not a balance control (protocol §2.2, "Pan notes")."""
    y = np.array(x, copy=True)
    mean = y.mean(axis=-1)
    y[:, 0] = mean * left
    y[:, 1] = mean * right
    return y


PAN_GAINS = {"pan_left": (0.80, 0.20), "pan_right": (0.20, 0.80),
             "pan_left_hard": (1.0, 0.0), "pan_right_hard": (0.0, 1.0)}
VOLUME_GAINS = {"volume_up": 2.0, "volume_down": 0.5}


# --------------------------------------------------------------------------------------------------------------
# SoX effects (protocol §2.3, §2.4, §7)

def _dtype_encoding(dtype: np.dtype) -> str:
    encodings = {np.dtype(np.float32): "f32", np.dtype(np.float64): "f64", np.dtype(np.int16): "s16"}
    try:
        return encodings[np.dtype(dtype)]
    except KeyError:
        raise TypeError(f"SoX pipe supports float32, float64 and int16 arrays, got {np.dtype(dtype)}") from None


def sox_command(effect: tuple[str, ...] | list[str], *, channels: int = 2, encoding: str = "f32",
                rate: int = SR) -> list[str]:
    """The command line pysndfx 0.3.6 issued for an effect chain on a raw pipe (protocol §7)."""
    fmt = ["-t", encoding, "-r", str(rate), "-c", str(channels), "-"]
    return ["sox", "-N", "-V1", *fmt, *fmt, *effect]


def biquad_args(operation: str, cutoff: int, q: float = aml.FILTER_Q) -> tuple[str, ...]:
    """SoX effect arguments of a filter task, formatted as pysndfx did (``lowpass 344 10q``)."""
    if operation not in ("lowpass", "highpass"):
        raise ValueError(f"not a filter operation: {operation!r}")
    return operation, f"{cutoff:g}", f"{q:g}q"


def sox_effect(x: np.ndarray, effect: tuple[str, ...] | list[str]) -> tuple[np.ndarray, int]:
    """Run one SoX effect on an (N, C) array; returns (output of the same shape and dtype, clipped-sample count)."""
    import sox  # imported lazily: the package logs a warning at import time when the binary is missing

    x = np.ascontiguousarray(x)
    if x.ndim != 2:
        raise ValueError(f"expected an (N, channels) array, got shape {x.shape}")
    cmd = sox_command(effect, channels=x.shape[1], encoding=_dtype_encoding(x.dtype))
    # sox.core.sox writes src_array.T in Fortran order = interleaved frames, as pysndfx did with array.T
    status, out, err = sox.core.sox(cmd, src_array=x)
    if status != 0 or out is None or err:
        raise SoxError(f"SoX failed on {' '.join(cmd)!r} (exit {status}): {err or 'is the sox binary installed?'}")
    y = np.frombuffer(out, dtype=x.dtype).reshape(-1, x.shape[1])
    if y.shape != x.shape:
        raise SoxError(f"SoX returned {y.shape[0]} frames for {x.shape[0]} input frames ({' '.join(cmd)})")
    full = 1 if x.dtype.kind == "f" else int(np.iinfo(x.dtype).max)   # full scale of the sample format
    mag = (lambda a: np.abs(a)) if x.dtype.kind == "f" else (lambda a: np.abs(a.astype(np.int64)))
    clipped = int(np.count_nonzero(mag(x) > full)) + int(np.count_nonzero(mag(y) >= full))
    return y.copy(), clipped


def rbj_biquad(operation: str, cutoff: float, q: float = aml.FILTER_Q, sr: int = SR) -> tuple[np.ndarray, np.ndarray]:
    """RBJ-cookbook coefficients (b, a) normalised by a0 (protocol §2.3)."""
    w0 = 2 * np.pi * cutoff / sr
    alpha, c = np.sin(w0) / (2 * q), np.cos(w0)
    if operation == "lowpass":
        b = np.array([(1 - c) / 2, 1 - c, (1 - c) / 2])
    elif operation == "highpass":
        b = np.array([(1 + c) / 2, -(1 + c), (1 + c) / 2])
    else:
        raise ValueError(f"not a filter operation: {operation!r}")
    a = np.array([1 + alpha, -2 * c, 1 - alpha])
    return b / a[0], a / a[0]


def biquad_scipy(x: np.ndarray, operation: str, cutoff: float, q: float = aml.FILTER_Q) -> np.ndarray:
    """Labelled alternative to the SoX biquad: scipy ``lfilter`` from zero state, clipped to ±1 as SoX does
    (agrees with SoX within ~3e-8)."""
    from scipy.signal import lfilter

    b, a = rbj_biquad(operation, cutoff, q)
    y = lfilter(b, a, np.clip(x.astype(np.float64), -1, 1), axis=0)
    return np.clip(y, -1, 1).astype(x.dtype)


# --------------------------------------------------------------------------------------------------------------
# One source, one query

def apply_to_source(x: np.ndarray, query: aml.Query, source: str) -> tuple[np.ndarray, int]:
    """Apply the per-source DSP of an AML query to one (N, 2) source; returns (edited source, clipped samples).

    ``separate`` and ``mute`` are handled by :func:`make_pair` (they select sources, they do not edit one)."""
    op = query.operation
    if op in VOLUME_GAINS:
        return gain(x, VOLUME_GAINS[op]), 0
    if op in PAN_GAINS:
        return pan(x, *PAN_GAINS[op]), 0
    if op in ("lowpass", "highpass"):
        return sox_effect(x, biquad_args(op, aml.filter_cutoff(op, query.level, source)))
    if op == "dereverb":
        return sox_effect(x, REVERB_ARGS)
    raise ValueError(f"operation {op!r} does not edit a single source")


# --------------------------------------------------------------------------------------------------------------
# Normalisation and the corrected Algorithm 1

def peak_normalize(a: np.ndarray, b: np.ndarray, peak_mode: str = "signed") -> tuple[np.ndarray, np.ndarray, float]:
    """Joint peak normalisation of a pair (protocol §2.5 step 5): g = max(max a, max b), floored at 1, both divided.

    ``peak_mode="signed"`` is the reference (signed maxima: negative overs are ignored); ``"abs"`` is the corrected
    variant (absolute peaks), off by default and reported separately."""
    if peak_mode == "signed":
        g = max(a.max(), b.max())
    elif peak_mode == "abs":
        g = max(np.abs(a).max(), np.abs(b).max())
    else:
        raise ValueError(f"peak_mode must be one of {PEAK_MODES}, got {peak_mode!r}")
    g = 1 if g < 1 else g
    return a / g, b / g, float(g)


@dataclass
class Pair:
    """An (input, target) pair of the AMSS task set: the model gets ``input`` and should produce ``target``."""

    input: np.ndarray
    target: np.ndarray
    query: aml.Query | None = None
    gain: float = 1.0  # the shared normalisation divisor
    clipped: dict[str, int] = field(default_factory=dict)  # SoX clipped samples per edited source

    @property
    def total_clipped(self) -> int:
        return sum(self.clipped.values())


def make_pair(stems: np.ndarray, query: aml.Query | str, *, peak_mode: str = "signed",
              normalize: bool = True) -> Pair:
    """Corrected Algorithm 1 (protocol §2.5, §9 item 1) on unmixed stems (4, N, 2) in SOURCES order.

    A = sum of the stems; A' = sum after editing the targets; both divided by the shared peak factor;
    for dereverb the reverberant sum is the input and the dry sum the target."""
    if isinstance(query, str):
        query = aml.parse(query)
    stems = np.asarray(stems)
    if stems.ndim != 3 or stems.shape[0] != len(SOURCES) or stems.shape[2] != 2:
        raise ValueError(f"expected stems of shape (4, N, 2) in order {SOURCES}, got {stems.shape}")
    idx = [SOURCES.index(s) for s in query.targets]
    edited = np.array(stems, copy=True)
    clipped: dict[str, int] = {}
    if query.operation == "separate":
        for j in range(len(SOURCES)):
            if j not in idx:
                edited[j] *= 0
    elif query.operation == "mute":
        for j in idx:
            edited[j] *= 0
    else:
        for j in sorted(idx):
            edited[j], clipped[SOURCES[j]] = apply_to_source(edited[j], query, SOURCES[j])
    original = np.sum(stems, axis=0)
    manipulated = np.sum(edited, axis=0)
    g = 1.0
    if normalize:
        original, manipulated, g = peak_normalize(original, manipulated, peak_mode)
    if sum(clipped.values()):
        log.debug("%s: SoX clipped %d samples", query.canonical, sum(clipped.values()))
    if query.operation == "dereverb":
        return Pair(manipulated, original, query, g, clipped)
    return Pair(original, manipulated, query, g, clipped)
