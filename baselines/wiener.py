"""The multichannel Wiener filter over four magnitude separators: Open-Unmix's separation step.

Open-Unmix trains one network per target on magnitude spectrograms and separates with a post-processing step the
networks are not part of: the four magnitude estimates are the sources' spectral densities of a local Gaussian
model, and a multichannel Wiener filter refined by expectation-maximisation (EM) distributes the complex mixture STFT
among them (``openunmix.model.Separator``; its pre-trained loaders ``umxhq`` / ``umxl`` and its evaluation script use
one EM iteration over excerpts of 300 frames, the mixture phase as the initial estimate, no soft mask, no residual
target). The published UMX numbers of thesis Tables 3.6 / 4.2 were computed that way.

:class:`WienerSystem` does the same over the four checkpoints of one dedicated model:

1. every member separates the mixture as it does alone (full-track chunked inference; its estimate is the inverse
   STFT of its magnitude with the mixture phase);
2. the STFT of each estimate, in the member's own STFT (``n_fft`` / hop of its configuration), gives its magnitude
   ``v_j`` — the network's magnitude output made consistent by the chunked inverse STFT (the package filters the
   network's output directly; re-analysing the estimate is what a system that only sees waveforms can do, and with
   zero iterations it gives the members' estimates back to within 0.03 dB SDR, ``tests/test_wiener.py``);
3. ``norbert.wiener(v, X, iterations, use_softmask=False, eps=1e-10)`` — norbert is sigsep's Wiener-filter
   library, the one the package's filter is a port of (its README says so) — on consecutive excerpts of
   ``window_frames`` frames (``wiener_win_len``);
4. the inverse STFT of the target's filtered spectrogram is the estimate.

``iterations`` = 0 is the members' own estimates, unfiltered (no re-analysis). :data:`REFERENCE_ITERATIONS` is each
model's reference post-processing: ``amss-bench evaluate --wiener reference`` (the default) applies it.
Fingerprint: the members' fingerprints and the filter's settings.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import warnings
from typing import Sequence

import numpy as np

from baselines.base import System, SystemConfigError, as_estimate
from baselines.composite import CompositeSystem
from benchmark.base.provenance import json_sha256

#: iterations of the reference post-processing per registry model (absent: none). Open-Unmix: the package's
#: ``Separator`` as its loaders and evaluation script build it (``niter=1``).
REFERENCE_ITERATIONS = {"umx": 1}
WINDOW_FRAMES = 300  # openunmix.model.Separator wiener_win_len: frames filtered together (one spatial model each)
EPS = 1e-10  # openunmix.filtering.wiener's eps (norbert's default is the float epsilon)
SDR_SOURCES = ("vocals", "drums", "bass", "other")


def reference_iterations(model_name: str | None) -> int:
    """The EM iterations of ``model_name``'s reference separation step (0 = none)."""
    return REFERENCE_ITERATIONS.get(model_name or "", 0)


def parse_iterations(value: str, model_name: str | None) -> int:
    """``--wiener`` → iterations: ``reference`` (:func:`reference_iterations`), ``off`` (0) or an integer ≥ 0."""
    if value == "reference":
        return reference_iterations(model_name)
    if value == "off":
        return 0
    try:
        n = int(value)
    except ValueError:
        n = -1
    if n < 0:
        raise ValueError(f"--wiener must be 'reference', 'off' or a number of EM iterations >= 0, got {value!r}")
    return n


def _sdr_tasks():
    from benchmark.task.tasks import get_task  # the task definitions: imported when a system is built

    return tuple(get_task(f"sdr-{s}") for s in SDR_SOURCES)


def filter_spectrograms(v: np.ndarray, x: np.ndarray, iterations: int, window_frames: int = WINDOW_FRAMES,
                        eps: float = EPS) -> np.ndarray:
    """The Wiener step on magnitudes ``v`` (T, F, C, J) and the mixture STFT ``x`` (T, F, C): excerpts of
    ``window_frames`` frames, each filtered on its own (``norbert.wiener``, mixture-phase start) in float64. Returns
    the sources' STFTs (T, F, C, J) in ``x``'s precision: complex128, or complex64 for a complex64 mixture (each
    excerpt's result rounded once; the whole track is never held in double precision, so a 5-minute track at n_fft
    4 096 needs about half the memory)."""
    with warnings.catch_warnings():  # norbert 0.2.1 imports scipy.ndimage.filters (deprecated; fine on SciPy 1.x)
        warnings.simplefilter("ignore", DeprecationWarning)
        import norbert

    if v.ndim != 4 or x.shape != v.shape[:3]:
        raise ValueError(f"Wiener filter: magnitudes (T, F, C, J) and mixture (T, F, C) must agree, got {v.shape} and "
                         f"{x.shape}")
    if window_frames < 1:
        raise ValueError(f"Wiener filter: window_frames must be >= 1, got {window_frames}")
    y = np.empty(v.shape, dtype=np.complex64 if x.dtype == np.complex64 else np.complex128)
    for start in range(0, v.shape[0], window_frames):
        part = slice(start, start + window_frames)
        y[part] = norbert.wiener(np.asarray(v[part], dtype=np.float64), np.asarray(x[part], dtype=np.complex128),
                                 iterations=iterations, use_softmask=False, eps=eps)
    return y


class WienerSystem(CompositeSystem):
    """Four dedicated magnitude separators (vocals, drums, bass, other) joined by the multichannel Wiener filter."""

    version = 1

    def __init__(self, members: Sequence[System], iterations: int, *, window_frames: int = WINDOW_FRAMES,
                 name: str | None = None, label: str | None = None, seed: int | None = None):
        super().__init__(members, name, label=label, seed=seed)
        if not isinstance(iterations, int) or isinstance(iterations, bool) or iterations < 0:
            raise SystemConfigError(f"{self.name}: Wiener iterations must be an integer >= 0, got {iterations!r}")
        self.iterations = iterations
        self.window_frames = int(window_frames)
        self._tasks = _sdr_tasks()
        owners = [self.member_for(t) for t in self._tasks]
        missing = [t.id for t, m in zip(self._tasks, owners) if m is None]
        if missing or len({id(m) for m in owners}) != len(owners):
            raise SystemConfigError(
                f"{self.name}: the Wiener filter needs one checkpoint per source ({', '.join(SDR_SOURCES)}); "
                + (f"no checkpoint answers {', '.join(missing)}" if missing else "one checkpoint answers several"))
        self._owners = owners
        self._cache: tuple[str, list[np.ndarray]] | None = None

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_cache"] = None
        return state

    def _stft(self):
        from models.stft import STFT

        shapes = set()
        for m in self._owners:
            stft = getattr(getattr(m, "model", None), "stft", None)
            if stft is None:
                raise SystemConfigError(f"{self.name}: member {m.name!r} has no STFT (the Wiener filter needs "
                                        "magnitude-domain separators)")
            shapes.add((stft.n_fft, stft.hop_length))
        if len(shapes) != 1:
            raise SystemConfigError(f"{self.name}: the members' STFTs differ ({sorted(shapes)}); the Wiener filter "
                                    "needs one")
        return STFT(*shapes.pop())

    @property
    def fingerprint(self) -> str:
        return json_sha256({"composite": [m.fingerprint for m in self.members], "version": self.version,
                            "wiener": self.settings()})

    def settings(self) -> dict:
        """The filter's settings, as recorded in every result."""
        return {"method": "multichannel Wiener filter, EM (norbert.wiener)", "iterations": self.iterations,
                "window_frames": self.window_frames, "softmask": False, "residual": False, "eps": EPS,
                "norbert": importlib.metadata.version("norbert")}

    def metadata(self) -> dict:
        return {**super().metadata(), "postprocessing": self.settings()}

    def estimate(self, task, pair, *, track=None) -> np.ndarray:
        if self.iterations == 0 or task not in self._tasks:
            return super().estimate(task, pair, track=track)
        mix = np.ascontiguousarray(pair.input, dtype=np.float32)
        key = hashlib.sha256(mix.tobytes()).hexdigest()
        if self._cache is None or self._cache[0] != key:  # one mixture, four tasks: filter it once
            self._cache = (key, self._separate(mix, pair, track))
        return self._cache[1][self._tasks.index(task)]

    def _separate(self, mix: np.ndarray, pair, track) -> list[np.ndarray]:
        import torch

        stft = self._stft()

        def analyse(wave: np.ndarray) -> np.ndarray:  # (N, 2) -> (T, F, 2) complex
            spec = stft.complex(torch.from_numpy(np.ascontiguousarray(wave.T))[None])[0]  # (2, T, F)
            return spec.permute(1, 2, 0).numpy()

        estimates = [m.estimate(t, pair, track=track) for m, t in zip(self._owners, self._tasks)]
        x = analyse(mix)
        v = np.stack([np.abs(analyse(e)) for e in estimates], axis=-1)
        y = filter_spectrograms(v, x, self.iterations, self.window_frames)
        out = []
        for j in range(y.shape[-1]):
            spec = torch.from_numpy(np.ascontiguousarray(y[..., j].transpose(2, 0, 1)))[None]  # complex64
            wave = stft.inverse_complex(spec, mix.shape[0])[0].numpy().T
            out.append(as_estimate(wave, who=self.name))
        return out
