"""The property tasks (progressive-manipulation drift, effect-level control; docs/evaluation.md "Properties") of a
leaderboard entry, run at submission and stored with it as ``properties.json`` (docs/leaderboard.md "Properties").

* a **code** entry that answers edit tasks (task group ``all`` or ``mfcc``) runs them through the same sandboxed
  worker as its other tasks: every application of a query is one ordinary estimate call on the audio the suite
  sends. The k-fold loop stays here, in the suite (:func:`benchmark.scoring.properties.evaluate_properties`): it
  feeds the system's previous output back as the next input and scores each k against a ground truth the worker
  never receives (the worker gets the input only, even from a system that declares ``uses_target``);
* an **estimates** entry holds precomputed audio for the test-set inputs, which cannot answer a query applied to
  its own previous output or a level it was never asked for: recorded as *not supported*, with the reason;
* an oracle code entry (``uses_target``) reads the targets, which a property query never carries: *not supported*;
* an entry without edit tasks (group ``sdr``): *not run*.

A failed application (an exception, a wrong shape, NaN) does not refuse the entry, whose scores were already
computed: it is recorded in ``properties.json`` ``errors`` (task, query, track, k or level, the message) and the
property with a failure shows *failed* on the leaderboard; the other tasks and cases still run.
"""

from __future__ import annotations

from benchmark.task import properties as ptask

RESULT_FILE = "properties.json"
#: params.yaml ``properties`` keys the entry's run takes (the pipeline's settings: the rows are comparable)
SETTINGS = ("k", "k_others", "segment_seconds", "tracks")
ESTIMATES_REASON = ("an estimates entry holds precomputed audio for the test-set inputs; a property task applies a "
                    "query to the system's own previous output (k = 1…K) and asks for light/medium/heavy levels, "
                    "which only a running system can answer (submit code)")
ORACLE_REASON = ("the system reads the targets (uses_target); a property query never carries its ground truth")
NO_EDIT_REASON = "the entry answers no edit tasks (task group 'sdr')"


def settings(params: dict | None) -> dict:
    """params.yaml ``properties`` → the run's settings (the defaults of :mod:`benchmark.task.properties`)."""
    p = (params or {}).get("properties") or {}
    return {"k": int(p.get("k", ptask.DEFAULT_K)), "k_others": int(p.get("k_others", p.get("k", ptask.DEFAULT_K))),
            "segment_seconds": float(p.get("segment_seconds", ptask.DEFAULT_SEGMENT_SECONDS)),
            "tracks": None if p.get("tracks") is None else int(p["tracks"])}


def status(kind: str, group: str, oracle: bool) -> dict:
    """``entry.json`` ``properties`` before any run: ``{"status": "run"}`` or not supported / not run + reason."""
    if kind == "estimates":
        return {"status": "not supported", "reason": ESTIMATES_REASON}
    if group == "sdr":
        return {"status": "not run", "reason": NO_EDIT_REASON}
    if oracle:
        return {"status": "not supported", "reason": ORACLE_REASON}
    return {"status": "run"}


class _Raising:
    """A :class:`benchmark.leaderboard.code.CodeSystem` whose problems raise: the code system collects a failure
    and answers its input as a stand-in (its scoring goes on); the property loop must stop that task at that k
    instead of feeding the stand-in back. Property calls of a track get their own time budget
    (``property:<track>``, the same limit as the track's other tasks)."""

    def __init__(self, code_system):
        self.cs = code_system
        self.name = code_system.name

    def supports(self, task) -> bool:
        return self.cs.supports(task)

    def describe(self) -> dict:
        return self.cs.describe()

    def estimate(self, task, pair, *, track=None):
        from baselines.base import SystemConfigError

        n = len(self.cs.errors)
        y = self.cs.estimate(task, pair, track=f"property:{track}")
        if len(self.cs.errors) > n:
            raise SystemConfigError(self.cs.errors[-1])
        return y


def run(code_system, testset, params: dict | None) -> dict:
    """The property document of a code entry (:func:`benchmark.scoring.properties.evaluate_properties` with
    ``keep_going``), with the provenance block of the pipeline's property results."""
    from benchmark.scoring.evaluate import _provenance
    from benchmark.scoring.properties import evaluate_properties

    cfg = settings(params)
    tracks = testset.tracks()
    if cfg["tracks"] is not None:
        tracks = tracks[:cfg["tracks"]]
    code_system.unsupported([ptask.get_property_task(t) for t in ptask.property_task_ids()])  # one round trip
    doc = evaluate_properties(_Raising(code_system), testset, k_max=cfg["k"], k_others=cfg["k_others"],
                              segment_seconds=cfg["segment_seconds"], tracks=tracks, keep_going=True)
    doc.pop("seconds")  # wall time: never written (same inputs -> same bytes)
    doc["provenance"] = _provenance()
    return doc


def entry_status(doc: dict) -> dict:
    """``entry.json`` ``properties`` after a run: status ``ok`` or ``failed`` (with the number of failures)."""
    errors = doc.get("errors") or []
    return {"status": "failed" if errors else "ok", "errors": len(errors), "file": RESULT_FILE}
