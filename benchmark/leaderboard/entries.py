"""Validate, score and store a leaderboard entry (``amss-bench leaderboard submit``), and score stored entries again
(``amss-bench leaderboard build``, the ``leaderboard`` stage).

An entry is a folder ``submissions/<name>/``:

* ``submission.yaml`` — the validated metadata (``system:`` filled in for a code submission);
* ``entry.json`` — the provenance recorded **once**, when the entry is accepted: kind (``estimates`` / ``code``),
  submission hash, suite version (git commit and package version), test-set manifest hash, the time it was accepted,
  the tasks it answers, the code's package/version/files hash, the headline numbers at acceptance, and the history of
  the entries it replaced (``--replace``). Rebuilding the leaderboard never rewrites it;
* ``properties.json`` — the property tasks (drift, level control) of a code entry that answers edit tasks, run by
  the suite at acceptance with the pipeline's settings and provenance block (:mod:`.properties`); ``entry.json``
  ``properties`` says ``ok`` / ``failed`` / ``not supported`` (estimates entries, oracles) / ``not run``, with the
  reason;
* ``estimates/<task_id>/<track>.wav`` (estimates submissions) or ``code/`` (the module files of a ``module:factory``
  submission that is not an installed package).

Scores are never taken from the submitter: the suite evaluates the estimates (or runs the code) with
:func:`benchmark.scoring.evaluate.evaluate` and aggregates with :mod:`benchmark.scoring.aggregate`, exactly as for the thesis systems.
Submitting is all-or-nothing: everything happens in a temporary folder beside ``submissions/<name>`` that is moved
into place with one ``os.replace`` after validation and scoring succeeded; a refused submission leaves no trace.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import yaml

from benchmark.scoring import metricinfo
from benchmark.leaderboard import SubmissionError
from benchmark.leaderboard import estimates as est
from benchmark.leaderboard import meta as meta_mod
from benchmark.leaderboard import properties as lb_props
from benchmark.leaderboard.intake import Limits, intake

ENTRY = "entry.json"
ENTRY_VERSION = 1
RESERVED = ("identity", "oracle", "dsp-mixture", "separate-then-dsp")
DEFAULTS = {"submissions": "submissions", "code": {"time_limit_s_per_track": 600, "memory_limit_mb": 8192},
            "archive": {"max_ratio": 1100, "extra_files": 8, "slack_mb": 16}}
TASK_GROUPS = ("all", "sdr", "mfcc")
REPO = Path(__file__).resolve().parents[2]


def settings(params: dict | None) -> dict:
    """``params.yaml`` → the ``leaderboard`` section with defaults, plus ``evaluate.backend``/``workers``."""
    params = params or {}
    lb = params.get("leaderboard") or {}
    out = {"submissions": lb.get("submissions", DEFAULTS["submissions"]),
           "code": {**DEFAULTS["code"], **(lb.get("code") or {})},
           "archive": {**DEFAULTS["archive"], **(lb.get("archive") or {})}}
    ev = params.get("evaluate") or {}
    out["backend"] = ev.get("backend", "fast")
    out["workers"] = ev.get("workers", 1)
    out["profile"] = params.get("profile", "embedded")
    return out


def load_params(path: str | Path | None) -> dict:
    if path is None or not Path(path).is_file():
        return {}
    return yaml.safe_load(Path(path).read_text()) or {}


def task_ids(testset, group: str) -> list[str]:
    from benchmark.task.tasks import get_task

    ids = testset.tasks()
    if group == "all":
        return ids
    return [t for t in ids if get_task(t).kind == group]


def limits(testset, tids, cfg: dict) -> Limits:
    want = est.expected_files(testset, tids)
    per_file = max(est.max_file_bytes(f) for f in want.values())
    return Limits(max_files=len(want) + int(cfg["archive"]["extra_files"]),
                  max_total_bytes=sum(est.max_file_bytes(f) for f in want.values())
                  + (int(cfg["archive"]["slack_mb"]) << 20),
                  max_file_bytes=per_file, max_ratio=float(cfg["archive"]["max_ratio"]))


def reserved_names(summary_path: str | Path | None) -> set[str]:
    """Names a submission may not take: the baselines, every system of the suite (the registry's models, thesis and
    survey, and the training-free systems, ICA/DUET/ADRess/PROJET included), and every label of the aggregated
    results."""
    from baselines import SYSTEMS
    from models import registry

    names = set(RESERVED) | set(SYSTEMS) | set(registry.model_names(builtin_only=True)) | \
        set(registry.model_names(collection="survey"))
    if summary_path is not None and Path(summary_path).is_file():
        names.update(json.loads(Path(summary_path).read_text()).get("labels", []))
    return names


def tree_sha256(folder: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(q for q in folder.rglob("*") if q.is_file()):
        h.update(p.relative_to(folder).as_posix().encode() + b"\0")
        h.update(hashlib.sha256(p.read_bytes()).hexdigest().encode() + b"\n")
    return h.hexdigest()


# ------------------------------------------------------------------------------------------------------ scoring

def score(system, testset, tids, *, backend: str, workers: int = 1) -> tuple[dict, list[dict]]:
    """Evaluate ``system`` on the tasks ``tids`` of ``testset`` in a temporary folder with the suite's own code;
    returns (the summary document of :func:`benchmark.scoring.aggregate.summary_document`, the result documents)."""
    from benchmark.scoring import results as res
    from benchmark.scoring.aggregate import aggregate_results, summary_document
    from benchmark.scoring.evaluate import evaluate

    with tempfile.TemporaryDirectory(prefix="amss-lb-score-") as tmp:
        evaluate(system, testset, tmp, tasks=",".join(tids), backend=backend, workers=workers, progress=False,
                 summary=False)
        docs = res.load_results(Path(tmp) / system.name)
    tables = aggregate_results(docs, testset)
    return summary_document(tables, testset=testset, results=docs), docs


def oracle_problems(docs: list[dict], declared: bool, where: str) -> list[str]:
    """A system that says it does not read the targets must not return them (bit for bit, or at the BSS floor)."""
    if declared:
        return []
    from benchmark.scoring import results as res

    hits = []
    for d in docs:
        exact = d["estimate"]["sha256"] == d["testset"]["target_sha256"]
        at_floor = res.scored_with(d, "global_sdr") and metricinfo.info("global_SDR").at_floor(d.get("global_sdr"))
        if exact or at_floor:
            hits.append(f"{d['task']['id']}/{d['track']}")
    if not hits:
        return []
    return [f"{where}: field 'oracle': false, but {len(hits)} estimate(s) equal the test targets "
            f"({'bit for bit' if hits else ''}; e.g. {', '.join(hits[:5])}): a system that reads the targets must "
            "declare `oracle: true`"]


def headline(summary: dict, label: str) -> dict:
    """A few numbers of one system (for entry.json and the command's output)."""
    out = {}
    for g in summary.get("groups", []):
        if g["label"] != label:
            continue
        if g["group"] == "AVG" and g["metric"] in ("SDR", "global_SDR"):
            out[f"{g['metric']}_AVG"] = g["value"]
        if metricinfo.family(g["family"]).group == "source" and g["metric"] in ("mfcc_rmse", "mae"):
            out[f"{g['metric']}_{g['group']}"] = g["value"]
    return {k: out[k] for k in sorted(out)}


# ------------------------------------------------------------------------------------------------------ submit

def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _suite() -> dict:
    from benchmark.base.provenance import git_commit

    try:
        import importlib.metadata

        version = importlib.metadata.version("amss-bench")
    except Exception:  # noqa: BLE001
        version = None
    return {"git_commit": git_commit(REPO), "amss_bench_version": version}


def submit(*, meta_path: str | Path, testset, submissions: str | Path, params: dict | None = None,
           estimates: str | Path | None = None, system: str | None = None, system_path: str | Path | None = None,
           replace: bool = False, summary_path: str | Path | None = None, trusted_local: bool = False) -> Path:
    """Validate, score and add an entry; returns its folder. :class:`SubmissionError` (listing every problem) when
    refused — then nothing under ``submissions`` has changed. Code runs in the sandbox of
    :mod:`benchmark.leaderboard.sandbox`; ``trusted_local`` allows running it unisolated where no sandbox works
    (recorded in the entry)."""
    from benchmark.leaderboard.code import CodeSystem

    if (estimates is None) == (system is None):
        raise SubmissionError("submission", ["give exactly one of --estimates PATH and --system SPEC"])
    cfg = settings(params)
    submissions = Path(submissions)
    meta_path = Path(meta_path)
    problems: list[str] = []
    try:
        meta = meta_mod.load(meta_path)
    except SubmissionError as err:
        problems += err.problems
        meta = None
    if meta is not None:
        if meta["manifest_hash"] != testset.manifest_hash:
            problems.append(f"{meta_path}: field 'manifest_hash': {meta['manifest_hash']} is not the current test "
                            f"set's {testset.manifest_hash} (the submission was made for another test-set version; "
                            "export the inputs again with `amss-bench testset export`)")
        name = meta["name"]
        if name in reserved_names(summary_path):
            problems.append(f"{meta_path}: field 'name': {name!r} is a system of the suite (a thesis model, a "
                            f"survey separator or a baseline) and reserved on the leaderboard")
        elif (submissions / name).exists() and not replace:
            problems.append(f"{meta_path}: field 'name': {name!r} is already on the leaderboard "
                            f"({submissions / name}); pass --replace to replace it (its history is kept)")
        if system is not None and meta.get("system") not in (None, system):
            problems.append(f"{meta_path}: field 'system': {meta['system']!r} but --system {system!r}")
    if meta is None:
        raise SubmissionError(str(meta_path), problems)
    tids = task_ids(testset, meta["tasks"])
    created = not submissions.exists()
    submissions.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".incoming-{meta['name']}.", dir=submissions))
    accepted = False
    try:
        entry_kind = "estimates" if estimates is not None else "code"
        code_info = None
        if estimates is not None:
            folder = work / "estimates"
            try:
                intake(estimates, folder, limits(testset, tids, cfg), task_ids=testset.tasks())
            except SubmissionError as err:
                problems += err.problems
            else:
                problems += est.check_folder(folder, testset, tids, shown_as=str(estimates))
                for extra in [p for p in folder.iterdir() if p.is_file()]:  # README/LICENSE/... stay beside
                    extra.unlink()
            if problems:
                raise SubmissionError(str(estimates), problems)
            from baselines.estimates import EstimatesSystem

            sysobj = EstimatesSystem(folder, name=meta["name"], label=meta["name"])
            workers = cfg["workers"]
        else:
            if problems:
                raise SubmissionError(system, problems)
            from baselines.base import SystemConfigError

            try:
                sysobj = CodeSystem(system, meta["name"], search_path=system_path,
                                    time_limit_s_per_track=cfg["code"]["time_limit_s_per_track"],
                                    memory_limit_mb=cfg["code"]["memory_limit_mb"], trusted_local=trusted_local)
            except SystemConfigError as err:
                raise SubmissionError(system, [str(err)]) from None
            code_info = dict(sysobj.info)
            workers = 1
        try:
            summary, docs = score(sysobj, testset, tids, backend=cfg["backend"], workers=workers)
        except SubmissionError:
            raise
        except Exception as err:  # noqa: BLE001 - every failure of a submitted system refuses it
            raise SubmissionError(meta["name"], [f"scoring failed: {type(err).__name__}: {err}"]) from err
        finally:
            if entry_kind == "code":
                sysobj.stop()
        if entry_kind == "code":
            problems += sysobj.problems()
            if sysobj.uses_target is not None and bool(sysobj.uses_target) != bool(meta["oracle"]):
                problems.append(f"{meta_path}: field 'oracle': {meta['oracle']} but the system "
                                f"{'reads' if sysobj.uses_target else 'does not read'} the targets "
                                f"(uses_target = {sysobj.uses_target})")
            if code_info["package"] is None:  # not an installed package: keep its files with the entry
                src_root = _module_root(system, system_path)
                for rel in code_info["files"]:
                    dst = work / "code" / rel
                    dst.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(src_root / rel, dst)
            meta = {**meta, "system": system}
        problems += oracle_problems(docs, meta["oracle"], str(meta_path))
        if problems:
            raise SubmissionError(meta["name"], problems)
        # the property tasks (drift, level control): run for a code entry that answers edit tasks, recorded as not
        # supported / not run otherwise; a failed application is recorded in properties.json, never refuses the
        # entry whose scores are computed (benchmark/leaderboard/properties.py)
        prop_status = lb_props.status(entry_kind, meta["tasks"], bool(meta["oracle"]))
        if prop_status["status"] == "run":
            from baselines.base import SystemConfigError

            try:
                prop_doc = lb_props.run(sysobj, testset, params)
            except SystemConfigError as err:  # the worker could not be (re)started or supports() broke
                prop_doc, prop_status = None, {"status": "failed", "reason": str(err)[:2000]}
            finally:
                sysobj.stop()
            if prop_doc is not None:
                (work / lb_props.RESULT_FILE).write_text(json.dumps(prop_doc, indent=2, sort_keys=True) + "\n")
                prop_status = lb_props.entry_status(prop_doc)
        dest = submissions / meta["name"]
        history = []
        if dest.exists():
            old = json.loads((dest / ENTRY).read_text())
            history = [*old.pop("history", []), old]
        src_hash = tree_sha256(work / "estimates") if entry_kind == "estimates" else code_info["files_sha256"]
        sub_hash = hashlib.sha256(json.dumps({"meta": meta, "content": src_hash}, sort_keys=True).encode()).hexdigest()
        entry = {
            "entry_version": ENTRY_VERSION,
            "name": meta["name"],
            "kind": entry_kind,
            "submission_sha256": sub_hash,
            "content_sha256": src_hash,
            "suite": _suite(),
            "testset": {"manifest_hash": testset.manifest_hash, "source": testset.source,
                        "n_tracks": len(testset.tracks())},
            "accepted_at": _now(),
            "tasks": tids,
            "code": ({k: code_info[k] for k in ("spec", "target", "entry_point", "package", "version",
                                                 "files_sha256", "files")} if code_info else None),
            "backend": cfg["backend"],
            "scores_at_acceptance": headline(summary, meta["name"]),
            "properties": prop_status,
            "history": history,
        }
        if entry_kind == "code":
            entry["sandbox"] = sysobj.backend  # "bwrap", or "trusted-local" (run unisolated; flagged on the board)
        (work / meta_mod.META).write_text(yaml.safe_dump(meta, sort_keys=True, allow_unicode=True))
        (work / ENTRY).write_text(json.dumps(entry, indent=2, sort_keys=True) + "\n")
        if dest.exists():
            trash = Path(tempfile.mkdtemp(prefix=f".replaced-{meta['name']}.", dir=submissions))
            os.replace(dest, trash / "old")
            os.replace(work, dest)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.replace(work, dest)
        accepted = True
        return dest
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)
        if created and not accepted:
            shutil.rmtree(submissions, ignore_errors=True)


def _module_root(spec: str, search_path) -> Path:
    """The folder the module's recorded relative file names start from."""
    import importlib.machinery

    top = spec.partition(":")[0].split(".")[0]
    found = (importlib.machinery.PathFinder.find_spec(top, [str(search_path)]) if search_path else None) \
        or importlib.machinery.PathFinder.find_spec(top)
    if found.submodule_search_locations:
        return Path(list(found.submodule_search_locations)[0]).parent
    return Path(found.origin).parent


# ------------------------------------------------------------------------------------------------------ stored entries

def list_entries(submissions: str | Path) -> list[Path]:
    """Entry folders (``<name>/entry.json``), sorted; temporary folders of a running submit are skipped."""
    root = Path(submissions)
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".") and (p / ENTRY).is_file())


def rescore(entry_dir: Path, testset, params: dict | None = None, *, trusted_local: bool = False) -> dict:
    """Score a stored entry again with the suite; returns {"entry", "meta", "summary" | "problem"}. A code entry runs
    in the sandbox (``trusted_local``: unisolated where none works)."""
    from benchmark.leaderboard.code import CodeSystem

    cfg = settings(params)
    entry = json.loads((entry_dir / ENTRY).read_text())
    meta = meta_mod.load(entry_dir / meta_mod.META)
    out = {"entry": entry, "meta": meta}
    if entry["testset"]["manifest_hash"] != testset.manifest_hash:
        out["problem"] = (f"made for test set {entry['testset']['manifest_hash'][:12]}…, the current one is "
                          f"{testset.manifest_hash[:12]}…: not scored (resubmit)")
        return out
    tids = [t for t in entry["tasks"] if t in set(testset.tasks())]
    if entry["kind"] == "estimates":
        folder = entry_dir / "estimates"
        if not folder.is_dir():
            raise SubmissionError(str(entry_dir), [f"{folder}: the estimates of entry {entry['name']!r} are not here "
                                                   "(fetch them, e.g. `dvc pull`, or remove the entry)"])
        problems = est.check_folder(folder, testset, tids)
        if problems:
            raise SubmissionError(str(entry_dir), problems)
        from baselines.estimates import EstimatesSystem

        summary, docs = score(EstimatesSystem(folder, name=entry["name"], label=entry["name"]), testset, tids,
                              backend=cfg["backend"], workers=cfg["workers"])
    else:
        from baselines.base import SystemConfigError

        code_dir = entry_dir / "code"
        try:
            sysobj = CodeSystem(meta["system"], entry["name"], search_path=code_dir if code_dir.is_dir() else entry_dir,
                                time_limit_s_per_track=cfg["code"]["time_limit_s_per_track"],
                                memory_limit_mb=cfg["code"]["memory_limit_mb"], trusted_local=trusted_local)
        except SystemConfigError as err:
            raise SubmissionError(str(entry_dir), [str(err)]) from None
        out["sandbox"] = sysobj.backend
        try:
            summary, docs = score(sysobj, testset, tids, backend=cfg["backend"], workers=1)
        finally:
            sysobj.stop()
        problems = sysobj.problems()
        if sysobj.info["files_sha256"] != (entry.get("code") or {}).get("files_sha256"):
            problems.append(f"{entry_dir}: the code's files changed since the entry was accepted (files sha256 "
                            f"{sysobj.info['files_sha256'][:12]}…, recorded {entry['code']['files_sha256'][:12]}…); "
                            "resubmit with --replace")
        if problems:
            raise SubmissionError(str(entry_dir), problems)
    problems = oracle_problems(docs, meta["oracle"], str(entry_dir / meta_mod.META))
    if problems:
        raise SubmissionError(str(entry_dir), problems)
    out["summary"] = summary
    out["properties"] = stored_properties(entry_dir, entry)
    return out


def stored_properties(entry_dir: Path, entry: dict) -> dict | None:
    """The property results recorded at acceptance: ``{"status", "reason"?, "doc"?}`` (None: an entry accepted
    before the suite ran property tasks). They are not run again at a build (K applications of every query on
    every track: the suite computed them once, with its own code, when the entry was accepted)."""
    st = entry.get("properties")
    if st is None:
        return None
    out = dict(st)
    if st.get("file"):
        f = entry_dir / st.get("file", lb_props.RESULT_FILE)
        if not f.is_file():
            raise SubmissionError(str(entry_dir), [f"{f}: the property results of entry {entry['name']!r} are not "
                                                   "here (entry.json says they were computed; resubmit)"])
        out["doc"] = json.loads(f.read_text())
    return out
