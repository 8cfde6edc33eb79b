"""The leaderboard: one row per system — the thesis models and the baselines (from the committed aggregated results,
``reports/<profile>/summary.json``) and every entry under ``submissions/`` (scored again by the suite) — written as
``leaderboard.md``, ``leaderboard.html`` (the same tables as a self-contained page, :func:`benchmark.reporting.htmlpage.
standalone_page`) and ``leaderboard.json`` (+ ``entries/<name>.json``, the full recomputed summary of each entry).

Columns (thesis conventions, docs/evaluation.md): SDR of the four separation tasks and their AVG (museval v4,
median over frames → median over tracks), the AVG in the global-SDR convention (MDX), and for the 21 edit tasks the
RMSE-MFCC per source (mean over its 7 tasks, Table 5.3) and over all 21, the MAE over all 21, with the reference loss
(the identity) beside them; 95 % bootstrap intervals over tracks.

Rules: an average is shown only when every task it covers was scored — a system without some task is *incomplete*
and shows which tasks it lacks, never a partial average; tasks the system declares it cannot answer (summary.json
``not_supported``: the separate-then-DSP cascade's dereverb tasks) make the average *not supported*. Ranks: 1 + the number of systems whose interval lies
entirely on the better side (ties where intervals overlap); oracle systems and incomplete rows are not ranked. The
interval of the 21-task means is the mean of the three per-source bounds (marked ≈; conservative: at least as wide
as the bootstrap interval of the 21-task mean, which summary.json does not hold for the thesis systems).
No dates or paths are written except each entry's own recorded provenance: the same inputs give the same bytes.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from benchmark.scoring import metricinfo
from benchmark.base.audio import atomic_write, write_json
from benchmark.reporting.htmlpage import standalone_page
from benchmark.task.tasks import get_task

BOARD_VERSION = 1
BASELINES = ("identity", "oracle", "dsp-mixture", "separate-then-dsp")


def other_separators() -> tuple[str, ...]:
    """The built-in rows of the other separators (the report's "Other separators" table): the spatial baselines and
    the registry's survey models (``ModelInfo.collection == "survey"``)."""
    from benchmark.reporting import tables

    return tuple(tables.other_systems())


def row_type(label: str, others: tuple[str, ...] | None = None) -> str:
    """The type of a built-in row: "baseline", "other separator" (spatial or survey) or "thesis model"."""
    others = other_separators() if others is None else others
    if label in BASELINES:
        return "baseline"
    return "other separator" if label in others else "thesis model"
SDR_TARGETS = ("vocals", "drums", "bass", "other")
EDIT_SOURCES = ("vocals", "drums", "bass")


def _fmt(v, nd=2):
    return "–" if v is None else f"{v:.{nd}f}"


def _finite(v):
    return v is not None and isinstance(v, (int, float)) and math.isfinite(v)


def system_row(summary: dict, label: str, testset_tasks: list[str]) -> dict:
    """Headline metrics of one label from a summary document (cells/groups)."""
    cells = {(c["task_id"], c["metric"]): c for c in summary.get("cells", []) if c["label"] == label}
    groups = {(g["group"], g["metric"]): g for g in summary.get("groups", []) if g["label"] == label}
    sdr_tasks = [t for t in testset_tasks if get_task(t).scores_with("bss_eval")]
    edit = {s: [t for t in testset_tasks if get_task(t).scores_with("rmse_mfcc") and get_task(t).source == s]
            for s in EDIT_SOURCES}
    have = {t for (t, _m) in cells}
    unsupported = set(summary.get("not_supported", {}).get(label, ())) & set(testset_tasks)
    row: dict = {"metrics": {}, "missing_tasks": sorted(set(testset_tasks) - have)}
    if unsupported:
        row["not_supported"] = sorted(unsupported)
    m = row["metrics"]

    def lacking(lack):
        bad = [t for t in lack if t in unsupported]
        if bad:
            return "not supported: " + ", ".join(bad)
        return "incomplete: lacks " + ", ".join(lack)

    def put(key, src, note=None):
        if src is None:
            m[key] = {"value": None, "ci": None, "note": note}
        else:
            ci = [src.get("ci_low"), src.get("ci_high")]
            m[key] = {"value": src.get("value"), "ci": ci if all(_finite(x) for x in ci) else None,
                      "note": None if _finite(src.get("value")) else
                      "not finite (the oracle's SDR: +inf is stored as NaN by museval)"}

    for tgt in SDR_TARGETS:
        tid = next((t for t in sdr_tasks if get_task(t).museval_target == tgt), None)
        put(f"SDR_{tgt}", cells.get((tid, "SDR")), "not evaluated")
    sdr_missing = [t for t in sdr_tasks if t not in have]
    for key, metric in (("SDR_AVG", "SDR"), ("gSDR_AVG", "global_SDR")):
        g = groups.get(("AVG", metric))
        if sdr_missing or g is None or g.get("n_tasks") != len(sdr_tasks):
            put(key, None, lacking(sdr_missing or sdr_tasks))
        else:
            put(key, g)
    # PRES: the preservation of the untouched sources (dB, higher is better): extra columns beside RMSE-MFCC, never
    # part of a thesis average nor of a rank
    for metric, prefix in (("mfcc_rmse", "RMSE_MFCC"), ("mae", "MAE"), ("preservation", "PRES")):
        per = {}
        for s in EDIT_SOURCES:
            lack = [t for t in edit[s] if t not in have]
            g = groups.get((s, metric))
            if lack or g is None or g.get("n_tasks") != len(edit[s]):
                per[s] = None
                if prefix in ("RMSE_MFCC", "PRES"):
                    put(f"{prefix}_{s}", None, lacking(lack or edit[s]))
            else:
                per[s] = g
                if prefix in ("RMSE_MFCC", "PRES"):
                    put(f"{prefix}_{s}", g)
        all_edit = [t for s in EDIT_SOURCES for t in edit[s]]
        if any(per[s] is None for s in EDIT_SOURCES) or not all_edit:
            lack = [t for t in all_edit if t not in have]
            m[f"{prefix}_all"] = {"value": None, "ci": None,
                                  "note": lacking(lack) if lack else "incomplete: lacks the edit tasks"}
        else:
            vals = [per[s]["value"] for s in EDIT_SOURCES]
            lows = [per[s].get("ci_low") for s in EDIT_SOURCES]
            highs = [per[s].get("ci_high") for s in EDIT_SOURCES]
            ci = ([sum(lows) / 3, sum(highs) / 3] if all(_finite(x) for x in lows + highs) else None)
            m[f"{prefix}_all"] = {"value": sum(vals) / 3, "ci": ci, "ci_approx": True, "note": None}
    return row


def property_values(summary: dict, label: str) -> dict:
    """metric -> value of the property metrics (summary.json ``property_cells``, the report stage with
    ``--properties``) of one label: extra columns, never part of the SDR/RMSE-MFCC averages or ranks."""
    return {c["metric"]: c["value"] for c in summary.get("property_cells", []) if c["label"] == label}


def submission_properties(props: dict) -> dict:
    """Row keys of a submission's recorded property results: ``properties`` (metric -> value of the complete
    properties, :func:`benchmark.scoring.properties.headline`) and ``properties_status`` (property -> why a table
    shows no number: ``not supported``, ``not run``, ``failed``; with ``properties_reason``)."""
    from benchmark.scoring.properties import headline

    out: dict = {}
    status = props.get("status")
    if "doc" not in props:
        out["properties_status"] = {p: status for p in metricinfo.PROPERTY_SECTIONS}
        if props.get("reason"):
            out["properties_reason"] = props["reason"]
        return out
    doc = props["doc"]
    values = {k: v for k, v in headline(doc).items() if v is not None}
    failed = {}
    for prop in metricinfo.PROPERTY_SECTIONS:
        section = doc["properties"].get(prop, {})
        if section.get("summary", {}).get("failed"):
            failed[prop] = "failed"
            for k in metricinfo.property_metrics(prop):
                values.pop(k, None)
    if values:
        out["properties"] = values
    if failed:
        out["properties_status"] = failed
        errs = doc.get("errors") or []
        out["properties_reason"] = (f"{len(errs)} failed application(s), e.g. {errs[0]['message'][:300]}"
                                    if errs else "failed")
    return out


def _property_lines(rows: list[dict]) -> list[str]:
    """One table per property (its metrics of the registry as columns) over the rows that carry it; a submission
    whose property was not supported, not run or failed is listed with that word in every cell."""
    lines = []
    for prop, title in metricinfo.PROPERTY_SECTIONS.items():
        keys = metricinfo.property_metrics(prop)
        have = [r for r in rows if any(k in r.get("properties", {}) for k in keys)
                or prop in r.get("properties_status", {})]
        if not have:
            continue
        arrows = ["↑" if metricinfo.info(k).higher_is_better else "↓" for k in keys]
        lines += ["", f"## {title} (docs/evaluation.md \"Properties\"; not part of any average or rank)", "",
                  "| system | type | " + " | ".join(f"{metricinfo.info(k).label} {a}" for k, a in zip(keys, arrows))
                  + " |", "|---|---|" + "---|" * len(keys)]
        for r in sorted(have, key=lambda r: r["name"]):
            word = r.get("properties_status", {}).get(prop)
            if word is not None:
                lines.append(f"| {r['name']} | {r['type']} | " + " | ".join(word for _ in keys) + " |")
                continue
            vals = [r["properties"].get(k) for k in keys]
            lines.append(f"| {r['name']} | {r['type']} | "
                         + " | ".join("–" if v is None and not k.startswith("doubling_k") else
                                      ("never (> K)" if v is None else metricinfo.format_value(k, v, 3))
                                      for k, v in zip(keys, vals)) + " |")
        if prop == "drift":
            lines += ["", "Doubling k = K + 1: the error never doubles within the K applications."]
        notes = sorted({(r["name"], r["properties_reason"]) for r in have
                        if prop in r.get("properties_status", {}) and r.get("properties_reason")})
        if notes:
            lines += [""] + [f"* {n}: {why}" for n, why in notes]
    return lines


def _rank(rows: list[dict], key: str, higher: bool) -> None:
    pool = [r for r in rows if not r["oracle"] and _finite(r["metrics"][key]["value"]) and r["metrics"][key]["ci"]]
    for r in rows:
        r.setdefault("rank", {})[key] = None
    for r in pool:
        lo, hi = r["metrics"][key]["ci"]
        better = sum(1 for o in pool if o is not r and (
            o["metrics"][key]["ci"][0] > hi if higher else o["metrics"][key]["ci"][1] < lo))
        r["rank"][key] = 1 + better
    counts: dict = {}
    for r in pool:
        counts[r["rank"][key]] = counts.get(r["rank"][key], 0) + 1
    for r in pool:
        r.setdefault("tied", {})[key] = counts[r["rank"][key]] > 1


def build(*, summary_path: str | Path, entries: list[dict], testset, out: str | Path, profile: str) -> dict:
    """Write ``out/leaderboard.md``, ``out/leaderboard.json`` and ``out/entries/<name>.json``; returns the JSON."""
    out = Path(out)
    thesis = json.loads(Path(summary_path).read_text())
    tasks = testset.tasks()
    rows = []
    if thesis.get("testset", {}).get("manifest_hash") not in (None, testset.manifest_hash):
        raise ValueError(f"{summary_path}: aggregated for test set {thesis['testset']['manifest_hash'][:12]}…, the "
                         f"current one is {testset.manifest_hash[:12]}… (run the report stage first)")
    others = other_separators()
    for label in thesis.get("labels", []):
        row = {"name": label, "type": row_type(label, others),
               "how": "run by the suite (pipeline)", "oracle": label == "oracle", "extra_data": False,
               "example": False, "profile": profile, "provenance": {"source": str(summary_path)}}
        row.update(system_row(thesis, label, tasks))
        props = property_values(thesis, label)
        if props:
            row["properties"] = props
        rows.append(row)
    for e in entries:
        entry, meta = e["entry"], e["meta"]
        row = {"name": entry["name"], "type": "submission",
               "how": "recomputed from estimates" if entry["kind"] == "estimates" else "run by the suite (code)",
               "oracle": bool(meta["oracle"]), "extra_data": meta["training_data"] == "extra",
               "extra_data_which": meta.get("extra_data"), "example": bool(meta.get("example")),
               "profile": profile, "authors": meta["authors"], "url": meta.get("url"),
               "parameters": meta.get("parameters"), "licence": meta["licence"], "description": meta["description"],
               "provenance": {k: entry.get(k) for k in ("submission_sha256", "suite", "testset", "accepted_at",
                                                         "kind", "code")},
               "history": len(entry.get("history", []))}
        # accepted or scored now without isolation (the keys exist only for code entries; none is written otherwise,
        # so that the rows of sandboxed entries keep their bytes)
        if "trusted-local" in (entry.get("sandbox"), e.get("sandbox")):
            row["trusted_local"] = True
            row["provenance"]["sandbox"] = "trusted-local"
        props = e.get("properties")
        if props is not None:  # recorded at acceptance (benchmark/leaderboard/properties.py)
            row.update(submission_properties(props))
        if "summary" in e:
            row.update(system_row(e["summary"], entry["name"], tasks))
            write_json(out / "entries" / f"{entry['name']}.json", e["summary"])
        else:
            row.update({"metrics": {}, "missing_tasks": tasks, "not_scored": e.get("problem")})
        rows.append(row)
    scored = [r for r in rows if r["metrics"]]
    for key, metric in (("SDR_AVG", "SDR"), ("RMSE_MFCC_all", "mfcc_rmse")):
        _rank(scored, key, metricinfo.info(metric).higher_is_better)
    for r in rows:
        r.setdefault("rank", {"SDR_AVG": None, "RMSE_MFCC_all": None})
    ident = next((r for r in rows if r["name"] == "identity"), None)
    doc = {"leaderboard_version": BOARD_VERSION, "profile": profile,
           "comparable_with_paper": profile == "paper",
           "note": ("embedded profile: synthetic data and scaled-down models; not comparable with the thesis nor with "
                    "the paper (real MUSDB18) leaderboard") if profile != "paper" else
                   "paper profile: real MUSDB18 test set; separate from the embedded leaderboard",
           "testset": {"manifest_hash": testset.manifest_hash, "n_tracks": len(testset.tracks()),
                       "source": testset.source},
           "sdr_backend": thesis.get("sdr_backend"),
           "reference_loss": ({k: ident["metrics"].get(k) for k in ("RMSE_MFCC_vocals", "RMSE_MFCC_drums",
                                                                     "RMSE_MFCC_bass", "RMSE_MFCC_all", "MAE_all")}
                              if ident else None),
           "rules": {"averages": "only over complete task sets; an entry lacking a task is incomplete, not averaged",
                     "rank": "1 + systems whose 95 % interval lies entirely on the better side; ties where "
                             "intervals overlap; oracle and incomplete rows unranked",
                     "ci": "bootstrap over tracks (1000 resamples); the 21-task means: mean of the per-source "
                           "bounds (approximate, conservative)"},
           "entries": rows}
    write_json(out / "leaderboard.json", doc)
    md = markdown(doc)
    (out / "leaderboard.md").write_text(md)
    with atomic_write(out / "leaderboard.html", "w") as fh:
        fh.write(standalone_page(f"amss-bench leaderboard — profile {profile}", md))
    keep = {f"{r['name']}.json" for r in rows if r["type"] == "submission" and r["metrics"]}
    if (out / "entries").is_dir():
        for p in (out / "entries").glob("*.json"):
            if p.name not in keep:
                p.unlink()
    return doc


def _cell(metric: dict | None, nd=2, ci=True) -> str:
    if not metric:
        return "–"
    if metric["value"] is None or not _finite(metric["value"]):
        note = metric.get("note") or ""
        if note.startswith("incomplete"):
            return "incomplete"
        if note.startswith("not supported"):
            return "not supported"
        if note.startswith("not finite"):
            return "n/a (+inf)"
        return "–"
    s = _fmt(metric["value"], nd)
    if ci and metric.get("ci"):
        s += f" [{'≈' if metric.get('ci_approx') else ''}{_fmt(metric['ci'][0], nd)}, {_fmt(metric['ci'][1], nd)}]"
    return s


def _flags(r: dict) -> str:
    f = [r["how"]]
    if r["oracle"]:
        f.append("oracle (reads the targets; unranked)")
    if r["extra_data"]:
        f.append(f"extra training data ({r.get('extra_data_which')})")
    if r["example"]:
        f.append("EXAMPLE entry")
    if r.get("trusted_local"):
        f.append("code run WITHOUT a sandbox (--trusted-local)")
    if r.get("not_scored"):
        f.append(f"not scored: {r['not_scored']}")
    return "; ".join(f)


def _rank_text(r, key):
    k = r["rank"].get(key)
    if k is None:
        return "–"
    return f"{k}{'=' if r.get('tied', {}).get(key) else ''}"


def markdown(doc: dict) -> str:
    rows = doc["entries"]
    lines = [f"# Leaderboard ({doc['profile']} profile)", "", f"> {doc['note']}.", "",
             f"Test set `{doc['testset']['manifest_hash']}` ({doc['testset']['n_tracks']} tracks, "
             f"{doc['testset']['source']}); SDR back-end {', '.join(doc['sdr_backend'] or ['?'])}. Every number is "
             "computed by the suite: submissions are scored again from their estimates or by running their code. "
             "95 % bootstrap intervals over tracks in brackets; rank = 1 + the systems whose interval lies entirely "
             "on the better side (`=`: tied); averages only over complete task sets (docs/leaderboard.md).", ""]

    def order(key, higher):
        def k(r):
            v = r["metrics"].get(key, {}).get("value") if r["metrics"] else None
            ok = _finite(v)
            return (not ok, r["oracle"], -(v if ok else 0) if higher else (v if ok else 0), r["name"])
        return sorted(rows, key=k)

    lines += ["## Separation: SDR (dB, higher is better; museval v4 median convention, global SDR beside)", "",
              "| rank | system | type | vocals | drums | bass | other | AVG [95 % CI] | global SDR AVG | flags |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for r in order("SDR_AVG", metricinfo.info("SDR").higher_is_better):
        m = r["metrics"]
        lines.append(f"| {_rank_text(r, 'SDR_AVG')} | {r['name']} | {r['type']} | "
                     + " | ".join(_cell(m.get(f"SDR_{t}"), ci=False) for t in SDR_TARGETS)
                     + f" | {_cell(m.get('SDR_AVG'))} | {_cell(m.get('gSDR_AVG'))} | {_flags(r)} |")
    ref = doc.get("reference_loss") or {}
    lines += ["", "## Manipulation: RMSE-MFCC and MAE of the 21 edit tasks (lower is better)", "",
              "Reference loss (the input unchanged = `identity`, protocol §3.2): RMSE-MFCC "
              + ", ".join(f"{s} {_cell(ref.get(f'RMSE_MFCC_{s}'), ci=False)}" for s in EDIT_SOURCES)
              + f", all 21 {_cell(ref.get('RMSE_MFCC_all'), ci=False)}; MAE all 21 "
              + f"{_cell(ref.get('MAE_all'), 4, ci=False)}.", "",
              "Preservation (dB, higher is better; extra columns, not ranked): how much of the untouched sources "
              "survives the edit, the error's share on them (docs/metrics.md); read beside RMSE-MFCC (doing nothing "
              "preserves everything).", "",
              "| rank | system | type | RMSE-MFCC vocals | drums | bass | all 21 [≈95 % CI] | MAE all 21 | "
              "preservation all 21 | flags |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for r in order("RMSE_MFCC_all", metricinfo.info("mfcc_rmse").higher_is_better):
        m = r["metrics"]
        lines.append(f"| {_rank_text(r, 'RMSE_MFCC_all')} | {r['name']} | {r['type']} | "
                     + " | ".join(_cell(m.get(f"RMSE_MFCC_{s}"), ci=False) for s in EDIT_SOURCES)
                     + f" | {_cell(m.get('RMSE_MFCC_all'))} | {_cell(m.get('MAE_all'), 4, ci=False)} | "
                     f"{_cell(m.get('PRES_all'), ci=False)} | {_flags(r)} |")
    lines += _property_lines(rows)
    subs = [r for r in rows if r["type"] == "submission"]
    lines += ["", "## Submitted entries: provenance (recorded once, when the entry was accepted)", ""]
    if not subs:
        lines.append("No submissions yet (docs/leaderboard.md says how to submit).")
    else:
        lines += ["| entry | authors | kind | parameters | training data | submission sha256 | suite commit | "
                  "accepted | licence | url |", "|---|---|---|---|---|---|---|---|---|---|"]
        for r in subs:
            p = r["provenance"]
            commit = (p.get("suite") or {}).get("git_commit") or "?"
            lines.append(f"| {r['name']}{' (example)' if r['example'] else ''} | {', '.join(r['authors'])} | "
                         f"{r['how']} | {r['parameters'] if r['parameters'] is not None else '–'} | "
                         f"{('extra: ' + str(r['extra_data_which'])) if r['extra_data'] else 'no extra data'} | "
                         f"`{p['submission_sha256'][:16]}` | `{commit[:12]}` | {p['accepted_at']} | {r['licence']} | "
                         f"{r['url'] or '–'} |")
    lines += ["", "`incomplete`: the system lacks tasks of the average (listed below; never averaged over what is "
              "there). `n/a (+inf)`: the estimate equals the reference in every frame, which museval stores as NaN "
              "(the oracle). Two systems with equal numbers can have slightly different intervals: the bootstrap "
              "draws its resampled tracks per system name (docs/evaluation.md)."]
    incomplete = [r for r in rows if r["metrics"] and r["missing_tasks"]]
    if incomplete:
        lines += ["", "## Incomplete systems (never averaged over missing tasks)", ""]
        for r in incomplete:
            line = f"* {r['name']}: lacks {len(r['missing_tasks'])} task(s): {', '.join(r['missing_tasks'])}"
            if r.get("not_supported"):
                line += (f" — {', '.join(r['not_supported'])} *not supported* by the system (it cannot answer "
                         "them; their averages read `not supported`)")
            lines.append(line)
    return "\n".join(lines) + "\n"
