"""The protocol every evaluated system follows (trained models and the training-free baselines alike).

A *system* turns one evaluation task and one test-set pair into an estimate::

    system.estimate(task, pair, track=...) -> np.ndarray (N, 2) float32

``pair`` is the :class:`benchmark.task.dsp.Pair` the test set regenerates (``pair.input`` is what a model is fed;
``pair.target`` is the reference — only oracle-type systems may look at it, and they say so with
``uses_target = True``). ``track`` is the test-track name (only the estimates-folder system needs it).

Identity for provenance and resumability:

* ``name``        the results folder (``<out>/<name>/<task_id>/<track>.json``) — one *run* of a system;
* ``label``       the table row the run belongs to (runs with the same label are averaged, protocol §3.1);
* ``fingerprint`` a sha256 that changes whenever the system's outputs can change (checkpoint file hash for
                  models, code version for baselines);
* ``metadata()``  JSON-able facts recorded in every result (model name, profile, inference settings …).

Systems are pickled into worker processes; keep heavy state lazy (see :class:`baselines.model.ModelSystem`).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Sequence

import numpy as np

from benchmark.base.provenance import json_sha256

if TYPE_CHECKING:  # pragma: no cover
    from benchmark.task.dsp import Pair
    from benchmark.task.tasks import Task

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+=-]*$")


class SystemConfigError(RuntimeError):
    """A system cannot produce an estimate (bad configuration, missing input, unsupported task)."""


def check_name(name: str, what: str = "system name") -> str:
    """A name that is safe as one folder name (letters, digits and ``. _ @ + = -``)."""
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise ValueError(f"invalid {what} {name!r}: use letters, digits and . _ @ + = - (it becomes a folder name)")
    return name


def as_estimate(audio, n: int | None = None, *, who: str = "system") -> np.ndarray:
    """Validate a system output: finite (N, 2) floating-point audio → contiguous float32."""
    a = np.asarray(audio)
    if a.ndim != 2 or a.shape[1] != 2:
        raise ValueError(f"{who}: estimate must be a (samples, 2) array, got shape {a.shape}")
    if a.dtype.kind != "f":
        raise ValueError(f"{who}: estimate must be floating point, got dtype {a.dtype}")
    if not np.isfinite(a).all():
        raise ValueError(f"{who}: estimate contains NaN or infinite samples")
    return np.ascontiguousarray(a, dtype=np.float32)


class System:
    """Base class of every evaluated system."""

    kind = "baseline"  # "baseline" | "model" | "estimates"
    version = 1  # bump when the outputs of a baseline change (part of the fingerprint)
    uses_target = False  # True for oracle-type systems (they read pair.target)

    def __init__(self, name: str, *, label: str | None = None, seed: int | None = None):
        self.name = check_name(name)
        self.label = label or name
        self.seed = seed

    # -------------------------------------------------------------------------------------------- protocol
    def estimate(self, task: "Task", pair: "Pair", *, track: str | None = None) -> np.ndarray:
        raise NotImplementedError

    def supports(self, task: "Task") -> bool:
        """Whether the system can answer a task at all (checked before any work starts)."""
        return True

    def check(self, tasks: Sequence["Task"], tracks: Sequence[str]) -> None:
        """Fail fast, before any work, if the system cannot run these tasks × tracks (raise with a clear message)."""
        bad = [t.id for t in tasks if not self.supports(t)]
        if bad:
            raise SystemConfigError(f"system {self.name!r} cannot answer task(s) {', '.join(bad)}")

    # -------------------------------------------------------------------------------------------- provenance
    @property
    def fingerprint(self) -> str:
        return json_sha256({"system": type(self).__name__, "kind": self.kind, "version": self.version})

    @property
    def checkpoint_sha256(self) -> str | None:
        return None

    @property
    def family(self) -> str | None:
        """The model family of the registry (``dedicated`` | ``conditioned`` | ``amss``), None for baselines and
        estimate folders. Chooses the scoring and the model input of the SDR tasks (docs/fidelity.md §1)."""
        return None

    def metadata(self) -> dict:
        return {"class": f"{type(self).__module__}.{type(self).__qualname__}", "version": self.version}

    def unit_fingerprint(self, task_ids: Sequence[str], track: str) -> str | None:
        """A hash of the per-item inputs a result depends on beyond :attr:`fingerprint` (estimate files), or None."""
        return None

    def describe(self) -> dict:
        """The ``system`` block of a result file."""
        return {"name": self.name, "label": self.label, "kind": self.kind, "fingerprint": self.fingerprint,
                "checkpoint_sha256": self.checkpoint_sha256, "metadata": self.metadata()}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"
