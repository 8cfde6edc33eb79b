"""Cell-by-cell comparison of two aggregated result documents (``reports/<profile>/summary.json``).

A *cell* is one number of the report: ``cells`` entries (task × system × metric) and ``groups`` entries (the AVG
and per-source mean rows). Cells are matched by key ``(task or group, system, metric)`` and classified:

==================  ====================================================================================  ======
status              meaning                                                                               fails
==================  ====================================================================================  ======
unchanged           identical value (both NaN counts as identical)                                        no
floor               both at the numerical floor (``metricinfo``): shown as "≥ floor", never compared        no
within tolerance    changed by no more than the tolerance in either direction                              no
improved            better than the base by more than the tolerance                                       no
regressed           worse than the base by more than the tolerance, became NaN, or left the floor         yes
missing             in the base, not in the head (cell, system or task no longer evaluated)               yes
new                 in the head only                                                                      no
redefined           the task's version changed (declared): not compared                                   no
moved               a *baseline* system's cell (identity, oracle, DSP-on-mixture) changed at all: the
                    metric, the test set or the DSP changed, whatever the direction                       yes
==================  ====================================================================================  ======

A failing status is turned into a pass when the change is *declared*: ``--allow`` patterns or ``gate.allow`` in
``params.yaml`` (listed in the report as declared). Patterns are ``fnmatch`` globs over
``<status>:<system>/<task or group>/<metric>``, e.g. ``regressed:cunet-gpocm/*``, ``missing:u9l-tfc-tdf/*``,
``moved:*/*/SAR``, or the whole-document kinds ``testset`` (a changed test-set manifest hash) and
``profile``.
"""

from __future__ import annotations

import fnmatch
import math
from dataclasses import dataclass, field

from benchmark.scoring import metricinfo

FAILING = ("regressed", "missing", "moved")
STATUSES = ("regressed", "moved", "missing", "improved", "within tolerance", "new", "redefined", "floor",
            "unchanged")


class CompareError(ValueError):
    """The two documents cannot be compared (the gate exits 2 with this message)."""


@dataclass(frozen=True)
class Tolerance:
    abs: float = 0.0
    rel: float = 0.0

    def of(self, base: float) -> float:
        return max(self.abs, self.rel * abs(base))

    @classmethod
    def parse(cls, value, where: str) -> "Tolerance":
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
            return cls(abs=float(value))
        if isinstance(value, dict) and set(value) <= {"abs", "rel"}:
            try:
                t = cls(abs=float(value.get("abs", 0.0)), rel=float(value.get("rel", 0.0)))
            except (TypeError, ValueError):
                t = None
            if t is not None and t.abs >= 0 and t.rel >= 0:
                return t
        raise CompareError(f"{where}: expected a number or {{abs: x, rel: y}} (non-negative), got {value!r}")


@dataclass
class Policy:
    """Tolerances per metric for cells and for AVG/mean rows, and the systems that are measuring sticks."""
    cell: dict[str, Tolerance]
    group: dict[str, Tolerance]
    baseline: Tolerance
    baselines: tuple[str, ...]
    allow: tuple[str, ...] = ()
    name: str = "same machine"

    def tolerance(self, metric: str, is_group: bool, system: str) -> Tolerance:
        if system in self.baselines:
            return self.baseline
        table = self.group if is_group else self.cell
        if metric in table:
            return table[metric]
        raise CompareError(f"gate tolerance: no tolerance for metric {metric!r} "
                           f"({'gate.tolerance.group' if is_group else 'gate.tolerance.cell'} in params.yaml)")


@dataclass
class Cell:
    key: str            # "<system>/<task or group>/<metric>"
    system: str
    where: str          # task id or group (AVG, a source)
    metric: str
    is_group: bool
    status: str
    base: float | None = None
    head: float | None = None
    delta: float | None = None          # head − base in the metric's own direction (positive = better)
    tolerance: float | None = None
    base_ci: list | None = None
    head_ci: list | None = None
    declared: str | None = None         # the allow pattern that declared it

    @property
    def fails(self) -> bool:
        return self.status in FAILING and self.declared is None

    def as_dict(self) -> dict:
        d = {k: getattr(self, k) for k in ("key", "system", "where", "metric", "is_group", "status", "base", "head",
                                          "delta", "tolerance", "base_ci", "head_ci", "declared")}
        d["fails"] = self.fails
        return d


@dataclass
class Comparison:
    cells: list[Cell]
    document_issues: list[dict] = field(default_factory=list)   # testset/profile/backend changes
    systems_missing: list[str] = field(default_factory=list)
    systems_new: list[str] = field(default_factory=list)
    retrained: list[str] = field(default_factory=list)          # runs whose checkpoint hash changed

    @property
    def fails(self) -> bool:
        return any(c.fails for c in self.cells) or any(i["fails"] for i in self.document_issues)

    def counts(self) -> dict[str, int]:
        out = {s: 0 for s in STATUSES}
        for c in self.cells:
            out[c.status] += 1
        return out


def _num(v) -> float | None:
    if v is None:
        return None
    v = float(v)
    return v if math.isfinite(v) else None


def _cells_of(doc: dict, what: str) -> dict[str, dict]:
    out = {}
    for entry in doc.get("cells", []):
        key = f"{entry['label']}/{entry['task_id']}/{entry['metric']}"
        out[key] = dict(entry, _group=False, _where=entry["task_id"])
    for entry in doc.get("groups", []):
        key = f"{entry['label']}/{entry['group']}/{entry['metric']}"
        if entry["family"] == "rmse_mfcc":   # the RMSE-MFCC table's per-source mean rows read "mean-<source>"
            key = f"{entry['label']}/mean-{entry['group']}/{entry['metric']}"
        out[key] = dict(entry, _group=True, _where=key.split("/")[1])
    for entry in doc.get("property_cells", []):  # the property metrics (drift, level control): one per system
        key = f"{entry['label']}/{entry['property']}/{entry['metric']}"
        out[key] = dict(entry, _group=False, _where=entry["property"], task_version=entry.get("version"))
    if not out:
        raise CompareError(f"{what}: no cells (expected 'cells'/'groups' of a summary.json from `amss-bench report`)")
    return out


def _allowed(token: str, allow: tuple[str, ...]) -> str | None:
    for pattern in allow:
        if fnmatch.fnmatchcase(token, pattern):
            return pattern
    return None


def _task_versions(doc: dict) -> dict[str, set]:
    out: dict[str, set] = {}
    for c in doc.get("cells", []):
        out.setdefault(c["task_id"], set()).add(c.get("task_version"))
    return out


def compare(base: dict, head: dict, policy: Policy) -> Comparison:
    """Classify every cell of ``base`` ∪ ``head`` (see the module docstring)."""
    for name, doc in (("base", base), ("head", head)):
        if not isinstance(doc, dict) or "cells" not in doc:
            raise CompareError(f"{name} summary: not a summary.json document (no 'cells')")
    if base.get("profile") != head.get("profile"):
        raise CompareError(f"profiles differ: base {base.get('profile')!r}, head {head.get('profile')!r} "
                           "(compare like with like: the same params.yaml profile)")
    issues = []

    def doc_issue(kind: str, message: str):
        declared = _allowed(kind, policy.allow)
        issues.append({"kind": kind, "message": message, "declared": declared, "fails": declared is None})

    v_base, v_head = _task_versions(base), _task_versions(head)
    bumped = sorted(t for t in v_base if t in v_head and v_base[t] != v_head[t])
    m_base = (base.get("testset") or {}).get("manifest_hash")
    m_head = (head.get("testset") or {}).get("manifest_hash")
    if m_base != m_head:
        msg = f"test-set manifest hash changed: {m_base} → {m_head}"
        if bumped:
            issues.append({"kind": "testset", "message": msg + f" (declared by task-version bumps: {', '.join(bumped)})",
                           "declared": "task-version bump", "fails": False})
        else:
            doc_issue("testset", msg + ": the test pairs changed without a task-version bump")
    if base.get("sdr_backend") != head.get("sdr_backend"):
        doc_issue("backend", f"SDR back-end changed: {base.get('sdr_backend')} → {head.get('sdr_backend')}")
    if base.get("sdr_scoring", ["joint"]) != head.get("sdr_scoring", ["joint"]):  # absent: joint
        doc_issue("backend", f"SDR scoring changed: {base.get('sdr_scoring')} → {head.get('sdr_scoring')}")

    b_cells, h_cells = _cells_of(base, "base summary"), _cells_of(head, "head summary")
    cells = []
    for key in sorted(set(b_cells) | set(h_cells)):
        b, h = b_cells.get(key), h_cells.get(key)
        e = b or h
        system, where, metric = e["label"], e["_where"], e["metric"]
        info = metricinfo.info(metric)
        c = Cell(key, system, where, metric, e["_group"], "unchanged",
                 base=_num(b["value"]) if b else None, head=_num(h["value"]) if h else None,
                 base_ci=[b.get("ci_low"), b.get("ci_high")] if b else None,
                 head_ci=[h.get("ci_low"), h.get("ci_high")] if h else None)
        if h is None:
            c.status = "missing"
        elif b is None:
            c.status = "new"
        elif not e["_group"] and b.get("task_version") != h.get("task_version"):
            c.status = "redefined"
        else:
            tol = policy.tolerance(metric, e["_group"], system)
            c.tolerance = tol.of(c.base) if c.base is not None else None
            if c.base is None and c.head is None:
                c.status = "unchanged"
            elif c.head is None:
                c.status = "regressed"          # became NaN / empty
            elif c.base is None:
                c.status = "moved" if system in policy.baselines else "improved"
            elif info.at_floor(c.base) and info.at_floor(c.head):
                c.status = "floor"
            elif info.at_floor(c.base):
                c.status = "regressed"          # left the floor: a perfect system no longer is
                c.delta = info.better(c.head, c.base)
            else:
                c.delta = info.better(c.head, c.base)
                if c.head == c.base:
                    c.status = "unchanged"
                elif system in policy.baselines and abs(c.head - c.base) > c.tolerance:
                    c.status = "moved"
                elif c.delta < -c.tolerance:
                    c.status = "regressed"
                elif c.delta > c.tolerance:
                    c.status = "improved"
                else:
                    c.status = "within tolerance"
        if c.status in FAILING:
            c.declared = _allowed(f"{c.status}:{c.key}", policy.allow)
        cells.append(c)

    sys_b = {e["label"] for e in b_cells.values()}
    sys_h = {e["label"] for e in h_cells.values()}
    ck_b, ck_h = base.get("checkpoints") or {}, head.get("checkpoints") or {}
    fp_b, fp_h = base.get("fingerprints") or {}, head.get("fingerprints") or {}
    retrained = sorted(r for r in set(ck_b) & set(ck_h) if ck_b[r] != ck_h[r]
                       or (r in fp_b and r in fp_h and fp_b[r] != fp_h[r] and ck_b[r] is None))
    return Comparison(cells, issues, sorted(sys_b - sys_h), sorted(sys_h - sys_b), retrained)


def policy_from_params(gate: dict, *, allow=()) -> Policy:
    """Build the :class:`Policy` from ``params.yaml``'s ``gate:`` section (docs/regression-gate.md)."""
    if not isinstance(gate, dict):
        raise CompareError("params.yaml: 'gate' must be a mapping (see docs/regression-gate.md)")
    tol = gate.get("tolerance")
    if not isinstance(tol, dict) or not isinstance(tol.get("cell"), dict) or not isinstance(tol.get("group"), dict):
        raise CompareError("params.yaml: gate.tolerance must have 'cell' and 'group' mappings (metric → tolerance)")
    cell = {m: Tolerance.parse(v, f"params.yaml gate.tolerance.cell.{m}") for m, v in tol["cell"].items()}
    group = {m: Tolerance.parse(v, f"params.yaml gate.tolerance.group.{m}") for m, v in tol["group"].items()}
    known = {**metricinfo.METRICS, **metricinfo.PROPERTY_METRICS}
    for m in list(cell) + list(group):
        if m not in known:
            raise CompareError(f"params.yaml gate.tolerance: unknown metric {m!r}; known: {', '.join(known)}")
    baseline = Tolerance.parse(tol.get("baseline", 0.0), "params.yaml gate.tolerance.baseline")
    name = "same machine"
    baselines = tuple(gate.get("baselines") or ())
    allow = tuple(gate.get("allow") or ()) + tuple(allow)
    return Policy(cell, group, baseline, baselines, allow, name)
