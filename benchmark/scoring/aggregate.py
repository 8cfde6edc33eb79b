"""Aggregation of result files into long tables (pandas), with the protocol's rules (docs/evaluation.md).

* **SDR family** (``bss_eval``: SDR, SIR, SAR, ISR): per track, median over frames with NaN skipped (all-NaN → NaN);
  per run, median over tracks (NaN tracks skipped, pandas ``median``) — protocol §5.2; per cell, mean over runs,
  ``std`` = sample standard deviation (ddof = 1) over the runs (NaN with one run). AVG row (``group == "AVG"``):
  mean of the target cells; its ``std`` = sample std (ddof = 1) of the pooled (target × run) values — §3.1.
* **Global SDR** (``global_sdr`` family, metric ``global_SDR``): a separate number, never mixed with the museval
  median: per track the whole-track SDR (MDX 2021 definition), **mean** over tracks (the MDX convention), mean over
  runs; same ± rules as above.
* **RMSE-MFCC family** (``rmse_mfcc``: the six numbers): mean over tracks → mean over runs, per-cell ``std`` over
  runs (ddof = 1); per source a ``mean`` row (``group`` = the source) over that source's tasks, its ``std`` = sample
  std (ddof = 1) of the pooled (task × run) values — §3.2.
* **Bootstrap 95 % confidence intervals over tracks** for every cell and every AVG/mean row: the test tracks are
  resampled with replacement (``n_boot`` = 1000 resamples, ``numpy.random.default_rng(seed)``, seed 0 by default;
  one set of resampled track indices per (label, kind) shared by all its cells, runs and targets), the full
  statistic is recomputed on each resample, and the interval is the 2.5 / 97.5 percentiles. It reflects track
  sampling only (the run-to-run spread is ``std``).
* Runs: results are grouped by ``system.label`` (the table row); every distinct ``system.name`` under one label is
  one run (seed). All runs of a label must cover the same tasks, the same test set and metric back-end.
* Completeness: for every (system, task) the set of tracks must equal the test-set manifest's tracks of that task —
  otherwise :class:`IncompleteResultsError` naming the missing tracks (never a silent partial average). For SDR, all
  tasks of a run's joint evaluation must be present.
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from benchmark.scoring import metricinfo
from benchmark.scoring import results as res
from benchmark.scoring.metricinfo import _nanmedian  # noqa: F401  (the per-track median; tests use it)
from benchmark.task.tasks import families_of_kind

N_BOOT = 1000
CI = 0.95
BOOT_SEED = 0
#: family -> the aggregation rule in words (from the metric registry, benchmark/scoring/metricinfo.py)
STAT = metricinfo.statistics()
# registry views kept for callers: the BSS-Eval frame metrics and the whole-track SDR key
SDR_METRICS = metricinfo.family("bss_eval").metrics
(GLOBAL_METRIC,) = metricinfo.family("global_sdr").metrics


class AggregationError(ValueError):
    """Results that cannot be aggregated as they are."""


class IncompleteResultsError(AggregationError):
    """A (system, task) lacks tracks of the test set (the message names them)."""


class InconsistentResultsError(AggregationError):
    """Results that must not be mixed (other test set, task version, back-end, fingerprint, joint set)."""


# ---------------------------------------------------------------------------------------------------- per track

def _column(task: dict) -> str:
    """The table column of a task (SDR: the museval target; RMSE-MFCC: the Table 5.3 task family)."""
    if task["kind"] == "sdr":
        return task["museval_target"]
    from benchmark.task.tasks import get_task

    try:
        return get_task(task["id"]).column
    except KeyError:
        return task["id"].rsplit("-", 1)[0]


def per_track_table(results: Iterable[dict]) -> pd.DataFrame:
    """One row per (run, task, track, metric): the per-track value each aggregation starts from — per metric family
    the task declares (``benchmark.task.tasks.KIND_FAMILIES``), the values its registry entry reads
    (:meth:`benchmark.scoring.metricinfo.Family.per_track`)."""
    rows = []
    for d in results:
        t = d["task"]
        common = {"label": d["system"]["label"], "system": d["system"]["name"], "seed": d["run"]["seed"],
                  "kind": d["kind"], "task_id": t["id"], "task_version": t["version"], "source": t["source"],
                  "column": _column(t),
                  "track": d["track"]}
        for name in families_of_kind(d["kind"]):
            for m, v in metricinfo.family(name).per_track(d):
                rows.append({**common, "family": name, "metric": m, "value": v})
    cols = ["label", "system", "seed", "kind", "task_id", "task_version", "source", "column", "track", "family",
            "metric", "value"]
    return pd.DataFrame(rows, columns=cols)


# -------------------------------------------------------------------------------------------------- checks

def _expected_tracks(testset) -> dict[str, list[str]]:
    """task id → tracks of the manifest (a TestSet, a manifest dict or a {task: [tracks]} mapping)."""
    if isinstance(testset, dict) and "entries" not in testset:
        return {k: list(v) for k, v in testset.items()}
    entries = testset.entries if hasattr(testset, "entries") else testset["entries"]
    out: dict[str, list[str]] = defaultdict(list)
    for e in entries:
        task_id = e.task_id if hasattr(e, "task_id") else e["task_id"]
        track = e.track if hasattr(e, "track") else e["track"]
        out[task_id].append(track)
    return dict(out)


def check_results(results: list[dict], testset=None) -> None:
    """Raise unless the results can be aggregated: complete (against the manifest when given) and consistent."""
    if not results:
        raise AggregationError("no results to aggregate")
    manifest_hash = getattr(testset, "manifest_hash", None)
    by_run: dict[str, list[dict]] = defaultdict(list)
    for d in results:
        by_run[d["system"]["name"]].append(d)
    problems = []
    for name, docs in sorted(by_run.items()):
        def distinct(f):
            return sorted({repr(f(d)) for d in docs})
        for what, f in (("label", lambda d: d["system"]["label"]),
                        ("system fingerprint", lambda d: d["system"]["fingerprint"]),
                        ("test-set manifest hash", lambda d: d["testset"]["manifest_hash"]),
                        ("seed", lambda d: d["run"]["seed"])):
            vals = distinct(f)
            if len(vals) > 1:
                problems.append(f"system {name!r} mixes {len(vals)} values of {what}: {', '.join(vals)}")
        sdr = [d for d in docs if res.scored_with(d, "bss_eval")]
        for what, f in (("SDR back-end", lambda d: d["metric"]["backend"]),
                        ("SDR scoring", res.sdr_scoring),
                        # pair scoring: every task is its own "joint set"; only joint results must share theirs
                        ("SDR joint task set", lambda d: d["metric"]["joint_tasks"]
                         if res.sdr_scoring(d) == "joint" else None)):
            vals = sorted({repr(f(d)) for d in sdr})
            if len(vals) > 1:
                problems.append(f"system {name!r} mixes {len(vals)} values of {what}: {', '.join(vals)}")
        by_task = defaultdict(set)
        versions = defaultdict(set)
        for d in docs:
            by_task[d["task"]["id"]].add(d["track"])
            versions[d["task"]["id"]].add(d["task"]["version"])
        for tid, vs in versions.items():
            if len(vs) > 1:
                problems.append(f"system {name!r}, task {tid}: results of task versions {sorted(vs)} are mixed")
        if sdr:
            joint = set(sdr[0]["metric"]["joint_tasks"])
            absent = sorted(joint - set(by_task))
            if absent:
                problems.append(f"system {name!r}: SDR tasks {', '.join(absent)} of the joint evaluation have no "
                                "results")
        if manifest_hash is not None:
            other = sorted({d["testset"]["manifest_hash"] for d in docs} - {manifest_hash})
            if other:
                problems.append(f"system {name!r}: results of another test set (manifest {other[0][:12]}…, "
                                f"expected {manifest_hash[:12]}…)")
        if testset is not None:
            expected = _expected_tracks(testset)
            for tid, tracks in sorted(by_task.items()):
                if tid not in expected:
                    problems.append(f"system {name!r}: task {tid} is not in the test set")
                    continue
                missing = [t for t in expected[tid] if t not in tracks]
                extra = sorted(tracks - set(expected[tid]))
                if missing:
                    problems.append(f"system {name!r}, task {tid}: {len(missing)} of {len(expected[tid])} tracks "
                                    f"missing: {', '.join(missing)}")
                if extra:
                    problems.append(f"system {name!r}, task {tid}: tracks not in the test set: {', '.join(extra)}")
    # runs of one label must be comparable
    by_label: dict[str, dict[str, list[dict]]] = defaultdict(dict)
    for name, docs in by_run.items():
        by_label[docs[0]["system"]["label"]][name] = docs
    for label, runs in sorted(by_label.items()):
        tasksets = {name: tuple(sorted({(d["task"]["id"], d["task"]["version"]) for d in docs}))
                    for name, docs in runs.items()}
        if len(set(tasksets.values())) > 1:
            problems.append(f"label {label!r}: its runs cover different task sets: "
                            + "; ".join(f"{n}: {len(v)} tasks" for n, v in sorted(tasksets.items())))
        for what, f in (("test-set manifest hash", lambda d: d["testset"]["manifest_hash"]),
                        ("SDR back-end", lambda d: d["metric"]["backend"] if res.scored_with(d, "bss_eval") else None),
                        ("SDR scoring", lambda d: res.sdr_scoring(d) if res.scored_with(d, "bss_eval") else None)):
            vals = {repr(f(d)) for docs in runs.values() for d in docs} - {"None"}
            if len(vals) > 1:
                problems.append(f"label {label!r}: its runs mix {what}: {', '.join(sorted(vals))}")
        tracks_by_run = {n: {(d["task"]["id"], d["track"]) for d in docs} for n, docs in runs.items()}
        if testset is None and len({frozenset(v) for v in tracks_by_run.values()}) > 1:
            problems.append(f"label {label!r}: its runs cover different tracks")
    if problems:
        incomplete = any("missing" in p or "have no results" in p for p in problems)
        cls = IncompleteResultsError if incomplete else InconsistentResultsError
        raise cls("cannot aggregate:\n  " + "\n  ".join(problems))


# -------------------------------------------------------------------------------------------------- statistics

def _track_stat(family: str):
    """The family's per-run statistic over tracks (``f(array, axis)``; the registry's ``over_tracks``)."""
    return metricinfo.family(family).track_stat()


def _std(values) -> float:
    v = np.asarray(values, dtype=np.float64).ravel()
    if v.size < 2 or np.isnan(v).any():
        return math.nan
    return float(np.std(v, ddof=1))


def _ci(boot: np.ndarray, ci: float) -> tuple[float, float]:
    boot = boot[~np.isnan(boot)]
    if boot.size == 0:
        return math.nan, math.nan
    lo, hi = np.percentile(boot, [50 * (1 - ci), 100 - 50 * (1 - ci)])
    return float(lo), float(hi)


def aggregate(per_track: pd.DataFrame, *, n_boot: int = N_BOOT, ci: float = CI, seed: int = BOOT_SEED
              ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Aggregate a :func:`per_track_table` into ``(cells, groups)`` long tables (rules: module docstring).

    ``cells``: one row per (label, kind, task, family, metric): value, std, n_runs, n_tracks, ci_low, ci_high, stat.
    ``groups``: per (label, kind, group, family, metric): the AVG (SDR: group "AVG") or per-source mean (RMSE-MFCC:
    group = source) over the cells, value, std (pooled, ddof = 1), n_tasks, n_values, ci_low, ci_high."""
    cell_rows, group_rows = [], []
    if per_track.empty:
        return pd.DataFrame(cell_rows), pd.DataFrame(group_rows)
    for (label, kind), df in per_track.groupby(["label", "kind"], sort=True):
        tracks = sorted(df["track"].unique())
        runs = sorted(df["system"].unique())
        t_index = {t: i for i, t in enumerate(tracks)}
        r_index = {r: i for i, r in enumerate(runs)}
        rng = np.random.default_rng([seed, _stable_int(label), _stable_int(kind)])
        idx = rng.integers(0, len(tracks), size=(n_boot, len(tracks)))
        matrices: dict[tuple, np.ndarray] = {}
        meta = {}
        for (task_id, family, metric), g in df.groupby(["task_id", "family", "metric"], sort=True):
            m = np.full((len(runs), len(tracks)), np.nan)
            seen = np.zeros_like(m, dtype=bool)
            for r, t, v in zip(g["system"], g["track"], g["value"]):
                m[r_index[r], t_index[t]] = v
                seen[r_index[r], t_index[t]] = True
            if not seen.all():
                missing = [(runs[i], tracks[j]) for i, j in zip(*np.nonzero(~seen))]
                raise IncompleteResultsError(f"label {label!r}, task {task_id}: no {metric} value for "
                                             + ", ".join(f"{r}/{t}" for r, t in missing[:10]))
            matrices[(task_id, family, metric)] = m
            first = g.iloc[0]
            meta[(task_id, family, metric)] = {"source": first["source"], "column": first["column"],
                                               "task_version": int(first["task_version"])}
        for key, m in matrices.items():
            task_id, family, metric = key
            stat = _track_stat(family)
            per_run = stat(m, axis=1)  # (runs,)
            boot = stat(m[:, idx], axis=2).mean(axis=0)  # (runs, B, T) -> (runs, B) -> (B,)
            lo, hi = _ci(boot, ci)
            cell_rows.append({"label": label, "kind": kind, "task_id": task_id, **meta[key], "family": family,
                              "metric": metric, "value": float(np.mean(per_run)), "std": _std(per_run),
                              "n_runs": len(runs), "n_tracks": len(tracks), "ci_low": lo, "ci_high": hi,
                              "stat": metricinfo.family(family).statistic, "runs": runs,
                              "run_values": [float(v) for v in per_run]})
        # AVG (SDR) / per-source mean (RMSE-MFCC)
        groups: dict[tuple, list[tuple]] = defaultdict(list)
        for key in matrices:
            task_id, family, metric = key
            group = metricinfo.family(family).group_of(meta[key]["source"])
            groups[(group, family, metric)].append(key)
        for (group, family, metric), keys in sorted(groups.items()):
            stat = _track_stat(family)
            stack = np.stack([matrices[k] for k in keys])  # (K, runs, T)
            per_run = stat(stack, axis=2)  # (K, runs)
            boot = stat(stack[:, :, idx], axis=3).mean(axis=(0, 1))  # (K, runs, B) -> (B,)
            lo, hi = _ci(boot, ci)
            group_rows.append({"label": label, "kind": kind, "group": group, "family": family, "metric": metric,
                               "value": float(np.mean(per_run)), "std": _std(per_run),
                               "n_tasks": len(keys), "tasks": sorted(k[0] for k in keys), "n_runs": len(runs),
                               "n_values": int(per_run.size), "n_tracks": len(tracks), "ci_low": lo, "ci_high": hi,
                               "stat": metricinfo.family(family).group_statistic})
    return pd.DataFrame(cell_rows), pd.DataFrame(group_rows)


def _stable_int(s: str) -> int:
    import hashlib

    return int.from_bytes(hashlib.sha256(s.encode()).digest()[:4], "little")


# -------------------------------------------------------------------------------------------------- entry points

def aggregate_results(results: list[dict], testset=None, *, n_boot: int = N_BOOT, ci: float = CI,
                      seed: int = BOOT_SEED) -> dict:
    """Check and aggregate result documents; returns {"per_track", "cells", "groups"} DataFrames."""
    check_results(results, testset)
    per_track = per_track_table(results)
    cells, groups = aggregate(per_track, n_boot=n_boot, ci=ci, seed=seed)
    return {"per_track": per_track, "cells": cells, "groups": groups}


def aggregate_dir(root: str | Path, testset=None, **kw) -> dict:
    """Aggregate every result under ``root`` (one system folder or an output folder with several systems)."""
    docs = res.load_results(root)
    if not docs:
        raise AggregationError(f"{root}: no result files")
    return aggregate_results(docs, testset, **kw)


def _jsonable(x):
    if isinstance(x, float):
        return None if (math.isnan(x) or math.isinf(x)) else x
    if isinstance(x, (np.floating,)):
        return _jsonable(float(x))
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple, np.ndarray)):
        return [_jsonable(v) for v in x]
    if x is pd.NA or x is pd.NaT:
        return None
    return x


def records(df: pd.DataFrame) -> list[dict]:
    return [_jsonable(r) for r in df.to_dict(orient="records")]


def summary_document(tables: dict, *, testset=None, n_boot: int = N_BOOT, ci: float = CI, seed: int = BOOT_SEED,
                     results: list[dict] | None = None) -> dict:
    """The JSON-able summary written to ``<out>/<system>/summary.json``."""
    pt = tables["per_track"]
    doc = {
        "summary_version": 1,
        "labels": sorted(pt["label"].unique().tolist()) if not pt.empty else [],
        "systems": sorted(pt["system"].unique().tolist()) if not pt.empty else [],
        "testset": {"manifest_hash": getattr(testset, "manifest_hash", None)},
        "rules": {**metricinfo.statistics(),
                  "std": "cells: sample std (ddof=1) over runs; AVG/mean rows: sample std (ddof=1) of pooled "
                         "(task × run) values; null with too few values",
                  "ci": f"bootstrap over tracks, {n_boot} resamples, {ci * 100:g} % percentile interval, "
                        f"numpy default_rng seed {seed}"},
        "bootstrap": {"resamples": n_boot, "ci": ci, "seed": seed, "unit": "track"},
        "cells": records(tables["cells"]),
        "groups": records(tables["groups"]),
    }
    if results:
        sdr = [d for d in results if res.scored_with(d, "bss_eval")]
        doc["sdr_backend"] = sorted({d["metric"]["backend"] for d in sdr}) or None
        doc["sdr_scoring"] = sorted({res.sdr_scoring(d) for d in sdr}) or None
        doc["fingerprints"] = {d["system"]["name"]: d["system"]["fingerprint"] for d in results}
        doc["checkpoints"] = {d["system"]["name"]: d["system"]["checkpoint_sha256"] for d in results}
        unsupported = not_supported(results, testset)
        if unsupported:
            doc["not_supported"] = unsupported
    return _jsonable(doc)


def not_supported(results: list[dict], testset=None) -> dict[str, list[str]]:
    """label -> the task ids its system declares it cannot answer (``system.metadata.unsupported_tasks``, e.g. the
    cascade's dereverb tasks), limited to the test set's tasks when one is given. These tasks have no cells and
    no part in any average; tables and the leaderboard show them as *not supported* (never a shorter average)."""
    scope = set(testset.tasks()) if testset is not None and hasattr(testset, "tasks") else None
    out: dict[str, set] = {}
    for d in results:
        ids = (d["system"].get("metadata") or {}).get("unsupported_tasks") or []
        ids = [t for t in ids if scope is None or t in scope]
        if ids:
            out.setdefault(d["system"]["label"], set()).update(ids)
    return {label: sorted(ids) for label, ids in sorted(out.items())}


def write_summary(system_dir: str | Path, testset=None, **kw) -> Path:
    """Aggregate one system folder and write its ``summary.json`` (atomic); returns the path."""
    from benchmark.base.audio import write_json

    system_dir = Path(system_dir)
    docs = res.load_results(system_dir)
    if not docs:
        raise AggregationError(f"{system_dir}: no result files")
    tables = aggregate_results(docs, testset, **kw)
    doc = summary_document(tables, testset=testset, results=docs, **kw)
    path = system_dir / res.SUMMARY
    write_json(path, doc)
    return path
