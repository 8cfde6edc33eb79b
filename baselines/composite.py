"""Several systems answering one task set together, e.g. the four dedicated separators of chapter 3 (one checkpoint
per source). Their SDR tasks are scored each on its own (``pair``, as the ISMIR 2020 code did) unless the evaluation
asks for the joint 4-target call (``--dedicated-scoring joint``; docs/fidelity.md §1).

Each task goes to the first member that supports it (:meth:`System.supports`); a task no member answers is refused
before any work. ``amss-bench evaluate --checkpoint A.pt B.pt …`` builds one from several checkpoints.
Fingerprint: sha256 over the members' fingerprints (so over their checkpoint files), in order.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from baselines.base import System, SystemConfigError
from benchmark.base.provenance import json_sha256


class CompositeSystem(System):
    version = 1

    def __init__(self, members: Sequence[System], name: str | None = None, *, label: str | None = None,
                 seed: int | None = None):
        members = list(members)
        if not members:
            raise SystemConfigError("a composite system needs at least one member")
        labels = {m.label for m in members}
        seeds = {m.seed for m in members}
        if seed is None and len(seeds) == 1:
            seed = next(iter(seeds))
        base = next(iter(labels)) if len(labels) == 1 else "+".join(m.name for m in members)
        super().__init__(name or base + (f"-seed{seed}" if seed is not None and len(labels) == 1 else ""),
                         label=label or base, seed=seed)
        self.members = members
        self.kind = "model" if all(m.kind == "model" for m in members) else "baseline"

    def member_for(self, task) -> System | None:
        return next((m for m in self.members if m.supports(task)), None)

    def supports(self, task) -> bool:
        return self.member_for(task) is not None

    def check(self, tasks, tracks) -> None:
        super().check(tasks, tracks)
        by_member: dict[int, list] = {}
        for t in tasks:
            by_member.setdefault(id(self.member_for(t)), []).append(t)
        for m in self.members:
            if id(m) in by_member:
                m.check(by_member[id(m)], tracks)

    @property
    def family(self) -> str | None:
        """The members' family when they all share one (e.g. four dedicated separators), else None."""
        families = {m.family for m in self.members}
        return families.pop() if len(families) == 1 else None

    @property
    def fingerprint(self) -> str:
        return json_sha256({"composite": [m.fingerprint for m in self.members], "version": self.version})

    def metadata(self) -> dict:
        return {**super().metadata(), "members": [
            {"name": m.name, "kind": m.kind, "fingerprint": m.fingerprint, "checkpoint_sha256": m.checkpoint_sha256,
             "metadata": m.metadata()} for m in self.members]}

    def estimate(self, task, pair, *, track=None) -> np.ndarray:
        member = self.member_for(task)
        if member is None:
            raise SystemConfigError(f"no member of {self.name!r} answers task {task.id}")
        return member.estimate(task, pair, track=track)
