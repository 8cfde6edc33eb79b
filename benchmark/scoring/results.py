"""Result files: one JSON per (system, task, track), validated against ``benchmark/scoring/schemas/result.schema.json``.

Layout: ``<out>/<system>/<task_id>/<track>.json`` (+ ``<out>/<system>/summary.json``, see :mod:`benchmark.scoring.aggregate`,
and ``<out>/<system>/timing.json``, the wall times of the units: the only file that differs between two runs; not a
result, and ignored by DVC through ``.dvcignore``).

Content (docs/evaluation.md has the full description):

* SDR tasks: museval's per-track format — ``targets: [{name, frames: [{time, duration, metrics: {SDR, SIR, SAR,
  ISR}}]}]`` — for the task's museval target only, with NaN stored as ``null``; plus ``global_sdr``. The values come
  from **one joint BSS-Eval call over the SDR tasks of the run** (normally all four: vocals, drums, bass, other =
  "mute vocals, drums, bass"), exactly as museval evaluates a track (protocol §3.1, §5.2: NaN frames are shared by
  all targets). ``metric.joint_tasks`` lists the tasks of that call; results of different joint sets are never
  mixed. Dedicated (chapter 3) systems are scored per task instead (``metric.scoring = "pair"``: {target,
  accompaniment}, as the ISMIR 2020 code did; docs/fidelity.md §1); ``metric.scoring`` is absent = ``"joint"`` in
  older files. ``provenance.model_input`` records the signal the system was given (mixture or linear_mixture).
* RMSE-MFCC tasks: ``scores`` with the six numbers (``mfcc_rmse``, ``mfcc_rmse_left``, ``mfcc_rmse_right``,
  ``mae``, ``mae_left``, ``mae_right``), protocol §6; ``preservation``: how much of the untouched sources survives
  the edit (``db`` pooled, ``sources`` per untouched source, ``edited``, ``filter_taps``, ``cap_db``; docs/metrics.md).
* Provenance: task id + version, test-set manifest hash and the pair's hashes, system name/label/kind/fingerprint
  (+ checkpoint sha256), estimate sha256, seed, device, rank, metric backend, git commit, package and tool versions.
* No wall time, date, host name or absolute path: two runs of the same system at the same commit write byte-identical
  files. (An older result file may carry a ``timing`` block; the schema still accepts it, and
  :func:`comparable` and resumption ignore it.)

Every write validates first (schema + consistency checks) and is atomic (:func:`benchmark.base.audio.write_json`).
"""

from __future__ import annotations

import functools
import json
import math
import re
from pathlib import Path
from typing import Iterator

from benchmark.scoring import metricinfo
from benchmark.base.audio import write_json
from benchmark.task.tasks import families_of_kind

SCHEMA_PATH = Path(__file__).resolve().parent / "schemas" / "result.schema.json"
SCHEMA_VERSION = 1
SUMMARY = "summary.json"
TIMING = "timing.json"
TIMING_NAME = re.compile(r"^timing(\.rank\d+)?\.json$")
MFCC_KEYS = metricinfo.family("rmse_mfcc").metrics  # the six numbers of ``scores`` (the metric registry)
BSS_KEYS = metricinfo.family("bss_eval").metrics  # the frame metrics of a full BSS-Eval back-end
VOLATILE = ("timing",)


class ResultValidationError(ValueError):
    """A result document does not follow the schema or is inconsistent (names the file and the offending field)."""


@functools.cache
def schema() -> dict:
    """The result schema; its ``scores`` block (keys, all required, nothing else) comes from the metric registry:
    the keys of every family stored under ``scores`` (the file spells out the same keys, for readers;
    tests/test_metric_registry.py keeps the two equal)."""
    doc = json.loads(SCHEMA_PATH.read_text())
    doc["properties"]["scores"] = scores_schema()
    return doc


def scores_schema() -> dict:
    """The ``scores`` block of a result as the metric registry defines it (the families read from ``scores``)."""
    keys = [m for f in metricinfo.FAMILIES.values() if f.where == "scores" for m in f.metrics]
    return {"type": "object", "required": keys, "additionalProperties": False,
            "properties": {k: {"$ref": "#/$defs/nonneg"} for k in keys}}


@functools.cache
def _validator():
    import jsonschema

    cls = jsonschema.Draft202012Validator
    cls.check_schema(schema())
    return cls(schema())


def validate(doc: dict, where: str | Path | None = None) -> dict:
    """Raise :class:`ResultValidationError` unless ``doc`` is a valid result; returns ``doc``."""
    where = f"{where}: " if where is not None else ""
    errors = sorted(_validator().iter_errors(doc), key=lambda e: list(e.absolute_path))
    if errors:
        lines = []
        for e in errors[:10]:
            ptr = "/" + "/".join(str(p) for p in e.absolute_path)
            lines.append(f"at {ptr}: {e.message}")
        more = f" (+{len(errors) - 10} more)" if len(errors) > 10 else ""
        raise ResultValidationError(f"{where}invalid result ({len(errors)} error(s)){more}: " + "; ".join(lines))
    # consistency the schema cannot express
    task = doc["task"]
    if doc["kind"] != task["kind"]:
        raise ResultValidationError(f"{where}kind {doc['kind']!r} but task kind {task['kind']!r}")
    if scored_with(doc, "preservation"):
        pres = doc["preservation"]
        if pres["edited"] != task["source"] or pres["edited"] in pres["sources"]:
            raise ResultValidationError(f"{where}preservation: edited source {pres['edited']!r}, the task edits "
                                        f"{task['source']!r}; per-source values must cover only untouched sources")
    if scored_with(doc, "bss_eval"):
        tgt = doc["targets"][0]["name"]
        if tgt != task["museval_target"]:
            raise ResultValidationError(f"{where}target {tgt!r} but task {task['id']} evaluates "
                                        f"{task['museval_target']!r}")
        if task["id"] not in doc["metric"]["joint_tasks"] or tgt not in doc["metric"]["joint_targets"]:
            raise ResultValidationError(f"{where}task {task['id']} is not part of its own joint evaluation")
        metrics = {k for fr in doc["targets"][0]["frames"] for k in fr["metrics"]}
        if doc["metric"]["backend"] == "sdr-only" and metrics - {"SDR"}:
            raise ResultValidationError(f"{where}backend sdr-only but frames hold {sorted(metrics)}")
        if doc["metric"]["backend"] != "sdr-only" and doc["targets"][0]["frames"]:
            for fr in doc["targets"][0]["frames"]:
                if set(fr["metrics"]) != set(BSS_KEYS):
                    raise ResultValidationError(f"{where}frame at {fr['time']} s lacks "
                                                f"{sorted(set(BSS_KEYS) - set(fr['metrics']))}")
    return doc


# ---------------------------------------------------------------------------------------------------------- paths

def system_dir(out: str | Path, system: str) -> Path:
    return Path(out) / system


def result_path(out: str | Path, system: str, task_id: str, track: str) -> Path:
    if "/" in track or track in ("", ".", ".."):
        raise ValueError(f"track name {track!r} cannot be a file name")
    return Path(out) / system / task_id / f"{track}.json"


def timing_path(out: str | Path, system: str, rank: int = 0, world_size: int = 1) -> Path:
    """The wall-time file of one system (one per rank when the evaluation is sharded)."""
    name = TIMING if world_size == 1 else f"timing.rank{int(rank)}.json"
    return Path(out) / system / name


def write_result(out: str | Path, doc: dict) -> Path:
    """Validate and atomically write a result to its place in the layout; returns the path."""
    path = result_path(out, doc["system"]["name"], doc["task"]["id"], doc["track"])
    validate(doc, path)
    write_json(path, doc)
    return path


def read_result(path: str | Path, *, check: bool = True) -> dict:
    path = Path(path)
    try:
        doc = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ResultValidationError(f"{path}: not valid JSON ({err})") from None
    if check:
        validate(doc, path)
    return doc


def iter_result_paths(root: str | Path) -> Iterator[Path]:
    """Result files under ``root`` (one system folder or a folder of system folders), sorted; skips summaries, wall-time
    files and temporary files of interrupted atomic writes."""
    root = Path(root)
    for p in sorted(root.rglob("*.json")):
        if p.name == SUMMARY or TIMING_NAME.match(p.name) or p.name.startswith("."):
            continue
        yield p


def load_results(root: str | Path, *, check: bool = True) -> list[dict]:
    return [read_result(p, check=check) for p in iter_result_paths(root)]


# ---------------------------------------------------------------------------------------------- comparison / resume

def comparable(doc: dict) -> dict:
    """The document without its volatile blocks (the wall times an older result file may carry)."""
    return {k: v for k, v in doc.items() if k not in VOLATILE}


def resume_key(doc: dict) -> dict:
    """What must match for a result on disk to stand for a new computation (resumability)."""
    m = doc["metric"]
    return {
        "manifest_hash": doc["testset"]["manifest_hash"],
        "input_sha256": doc["testset"]["input_sha256"],
        "target_sha256": doc["testset"]["target_sha256"],
        "task": [doc["task"]["id"], doc["task"]["version"]],
        "track": doc["track"],
        "system": [doc["system"]["name"], doc["system"]["label"], doc["system"]["fingerprint"],
                   doc["system"]["checkpoint_sha256"]],
        "seed": doc["run"]["seed"],
        "metric": [m["name"], m["backend"], m.get("win"), m.get("hop"), m.get("joint_tasks")]
        + ([sdr_scoring(doc)] if scored_with(doc, "bss_eval") else []),
        "model_input": model_input(doc).get("signal", "mixture") if doc["kind"] == "sdr" else None,
        "source_sha256": doc["estimate"]["source_sha256"],
        "schema_version": doc["schema_version"],
        "preservation": ([doc["preservation"]["filter_taps"], doc["preservation"]["cap_db"]]
                         if "preservation" in doc else None),
    }


def scored_with(doc: dict, family: str) -> bool:
    """Whether a result carries the numbers of this metric family (its task kind's declaration,
    ``benchmark.task.tasks.KIND_FAMILIES``)."""
    return family in families_of_kind(doc["kind"])


def sdr_scoring(doc: dict) -> str:
    """How an SDR result was scored: ``"joint"`` (one BSS-Eval call over the run's SDR tasks) or ``"pair"`` (the
    task on its own against {target, accompaniment}). A result without the key was scored jointly."""
    return doc["metric"].get("scoring", "joint")


def model_input(doc: dict) -> dict:
    """The ``provenance.model_input`` block of an SDR result: written only when the system was not given the test
    pair's input (``testset.input_sha256``, the mixture), e.g. the linear mixture of chapter 3; ``{}`` otherwise."""
    return doc["provenance"].get("model_input") or {}


# -------------------------------------------------------------------------------------------------------- builders

def _num(x) -> float | None:
    x = float(x)
    return None if (math.isnan(x) or math.isinf(x)) else x


def base_document(*, kind: str, task, track: str, testset, entry, system, estimate_sha256: str, estimate_frames: int,
                  source_sha256: str | None, seed, device: str, rank: int, world_size: int, metric: dict,
                  provenance: dict) -> dict:
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": kind,
        "track": track,
        "task": {"id": task.id, "version": task.version, "description": task.description, "kind": task.kind,
                 "source": task.source, "museval_target": task.museval_target},
        "testset": {"manifest_hash": testset.manifest_hash, "input_sha256": entry.input_sha256,
                    "target_sha256": entry.target_sha256, "frames": entry.frames, "source": testset.source,
                    "peak_mode": testset.peak_mode},
        "system": system.describe() if hasattr(system, "describe") else dict(system),
        "estimate": {"sha256": estimate_sha256, "frames": int(estimate_frames), "source_sha256": source_sha256},
        "run": {"seed": seed, "device": str(device), "rank": int(rank), "world_size": int(world_size)},
        "metric": metric,
        "provenance": provenance,
    }


def sdr_payload(museval_json: dict, target: str, global_sdr: float) -> dict:
    """The SDR part of a result: the frames of one target from :func:`benchmark.scoring.metrics.to_museval_json`."""
    tgts = [t for t in museval_json["targets"] if t["name"] == target]
    if len(tgts) != 1:
        raise ValueError(f"museval result has no (single) target {target!r}")
    t = tgts[0]
    frames = [{"time": fr["time"], "duration": fr["duration"],
               "metrics": {k: (None if v is None else _num(v)) for k, v in fr["metrics"].items()}}
              for fr in t["frames"]]
    g = _num(global_sdr)
    if g is None:
        raise ValueError(f"global SDR of target {target!r} is not finite ({global_sdr})")
    return {"targets": [{"name": target, "frames": frames}], "museval_version": museval_json["museval_version"],
            "global_sdr": g}


def scores_payload(scores: dict, keys) -> dict:
    """The ``scores`` part of a result: the values of ``keys`` (the metric registry's keys of the task's families,
    in registry order), each finite."""
    missing = [k for k in keys if k not in scores]
    if missing:
        raise ValueError(f"scores lack {missing}")
    out = {}
    for k in keys:
        v = _num(scores[k])
        if v is None:
            raise ValueError(f"score {k} is not finite ({scores[k]})")
        out[k] = v
    return {"scores": out}


def preservation_payload(block: dict) -> dict:
    """The ``preservation`` part of an edit-task result (:func:`benchmark.scoring.metrics.preservation.preservation`'s
    block): the pooled dB must be finite; a per-source value is a finite number or None (a source silent on the
    track)."""
    db = _num(block["db"])
    if db is None:
        raise ValueError(f"preservation is not finite ({block['db']})")
    per = {}
    for k, v in block["sources"].items():
        per[k] = None if v is None else _num(v)
        if v is not None and per[k] is None:
            raise ValueError(f"preservation of {k} is not finite ({v})")
    return {"preservation": {"db": db, "sources": per, "edited": block["edited"],
                             "filter_taps": int(block["filter_taps"]), "cap_db": float(block["cap_db"]),
                             "regularised": bool(block["regularised"])}}


def mfcc_payload(scores: dict) -> dict:
    """:func:`scores_payload` of the RMSE-MFCC family's six numbers."""
    try:
        return scores_payload(scores, MFCC_KEYS)
    except ValueError as err:
        raise ValueError(f"RMSE-MFCC {err}") from None
