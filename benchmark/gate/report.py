"""The gate's report: markdown ready to post as a pull-request comment, and JSON for machines.

Markdown: a one-line verdict, then only what changed — failing cells (base, head, Δ, tolerance, verdict), models
whose outputs changed, speed ratios — and collapsed ``<details>`` sections for everything else.
"""

from __future__ import annotations

from benchmark.scoring import metricinfo

MAX_ROWS = 60   # per table in the visible part; the JSON always carries everything


def _v(metric: str, value) -> str:
    return metricinfo.format_value(metric, value, digits=3)


def _d(metric: str, delta) -> str:
    if delta is None:
        return "—"
    unit = metricinfo.info(metric).unit
    return f"{delta:+.3f}" if unit == "dB" else f"{delta:+.5f}"


def _cell_rows(cells: list, limit: int | None = MAX_ROWS) -> list[str]:
    rows = ["| system | task / row | metric | base | head | Δ (+ = better) | tolerance | verdict |",
            "|---|---|---|---:|---:|---:|---:|---|"]
    shown = cells if limit is None else cells[:limit]
    for c in shown:
        verdict = c["status"] + (f" (declared: `{c['declared']}`)" if c.get("declared") else "")
        if c["fails"]:
            verdict = f"**{verdict}**"
        tol = "—" if c["tolerance"] is None else _d(c["metric"], c["tolerance"]).lstrip("+")
        rows.append(f"| {c['system']} | {c['where']} | {c['metric']} | {_v(c['metric'], c['base'])} | "
                    f"{_v(c['metric'], c['head'])} | {_d(c['metric'], c['delta'])} | {tol} | {verdict} |")
    if limit is not None and len(cells) > limit:
        rows.append(f"| … | {len(cells) - limit} more in gate.json | | | | | | |")
    return rows


def _details(summary: str, lines: list[str]) -> list[str]:
    return ["<details><summary>" + summary + "</summary>", "", *lines, "", "</details>", ""]


def markdown(doc: dict) -> str:
    out = [f"## amss-bench regression gate: {doc['verdict_line']}", ""]
    out += [f"*base* `{doc['base']['rev']}` ({doc['base']['commit'][:12]}) · *head* {doc['head']['what']} · "
            f"profile `{doc['profile']}` · comparison: **{doc['results']['mode']}**", ""]
    for reason in doc["could_not_compare"]:
        out += [f"- ⚠ could not compare: {reason}"]
    if doc["could_not_compare"]:
        out.append("")
    res = doc["results"]
    if res.get("cells") is not None:
        counts = res["counts"]
        out += ["### Results", "", "Cells: " + ", ".join(f"{n} {k}" for k, n in counts.items() if n) + ".", ""]
        for issue in res["document"]:
            mark = "**fails**" if issue["fails"] else f"declared (`{issue['declared']}`)"
            out.append(f"- {issue['message']} — {mark}")
        if res["systems_missing"]:
            out.append(f"- systems no longer evaluated: {', '.join(res['systems_missing'])} — **fails** unless declared")
        if res["systems_new"]:
            out.append(f"- new systems: {', '.join(res['systems_new'])}")
        if res["retrained"]:
            out.append(f"- retrained (checkpoint or fingerprint changed): {', '.join(res['retrained'])}")
        if res["document"] or res["systems_missing"] or res["systems_new"] or res["retrained"]:
            out.append("")
        order = {"moved": 0, "missing": 1, "regressed": 2}
        failing = sorted((c for c in res["cells"] if c["fails"]), key=lambda c: (order[c["status"]], c["key"]))
        moved = {}
        for c in failing:
            if c["status"] == "moved":
                moved.setdefault(c["system"], set()).add(c["metric"])
        for system, metrics in sorted(moved.items()):
            n = sum(1 for c in failing if c["status"] == "moved" and c["system"] == system)
            out.append(f"- **measuring stick moved**: baseline `{system}` changed on {', '.join(sorted(metrics))} "
                       f"({n} cells) — the metric, the DSP or the test set changed, not a model")
        regressed = {}
        for c in failing:
            if c["status"] == "regressed":
                regressed[c["system"]] = regressed.get(c["system"], 0) + 1
        if regressed:
            out.append("- regressed: " + ", ".join(f"`{k}` ({v} cells)" for k, v in sorted(regressed.items())))
        if moved or regressed:
            out.append("")
        declared = [c for c in res["cells"] if c.get("declared")]
        changed = [c for c in res["cells"] if not c["fails"] and not c.get("declared")
                   and c["status"] in ("improved", "within tolerance", "new", "redefined")]
        if failing:
            out += [f"#### Failing cells ({len(failing)})", "", *_cell_rows(failing), ""]
        if declared:
            out += _details(f"Declared changes ({len(declared)})", _cell_rows(declared))
        if changed:
            out += _details(f"Other changed cells ({len(changed)}: improved, within tolerance, new, redefined)",
                            _cell_rows(changed))
        floor = [c for c in res["cells"] if c["status"] == "floor"]
        if floor:
            out += _details(f"Cells at the numerical floor ({len(floor)}, shown as ≥ floor, never gated)",
                            [", ".join(sorted({f"{c['system']}/{c['metric']}" for c in floor}))])
    gold = doc["golden"]
    if gold.get("checked"):
        out += ["### Model outputs (golden vectors)", ""]
        if gold["undeclared"]:
            out += ["Outputs that differ from `tests/golden/models.json` (run `amss-bench gate --update-golden` "
                    "and commit the file if the change is intended) — **fails**:", ""]
            out += [f"- `{m['model']}`: {'; '.join(m['reasons'])}" for m in gold["undeclared"]] + [""]
        if gold["declared"]:
            out += [f"Golden vectors updated in this change (declared): "
                    f"{', '.join('`' + m['model'] + '`' for m in gold['declared'])}", ""]
        if gold.get("note"):
            out += [f"Note: {gold['note']}.", ""]
        if not gold["undeclared"] and not gold["declared"]:
            out += [f"All {gold['n_models']} model fingerprints and {gold['n_training']} training fingerprints "
                    "unchanged.", ""]
        out += [f"Training fingerprints compared {'strictly' if gold['strict_training'] else 'loosely'}: "
                f"{gold.get('strict_why', '')}.", ""]
    sp = doc["speed"]
    if sp.get("checked"):
        out += ["### Speed (head / base, interleaved rounds in this job)", "",
                "| case | ratio (median) | spread | base s | head s | verdict |", "|---|---:|---|---:|---:|---|"]
        for c in sp["cases"]:
            ratio = "—" if c["ratio"] is None else f"{c['ratio']:.2f}×"
            spread = "—" if c["spread"] is None else f"{c['spread'][0]:.2f}–{c['spread'][1]:.2f}"
            b = "—" if not c["base_s"] else f"{sorted(c['base_s'])[len(c['base_s']) // 2]:.4f}"
            h = "—" if not c["head_s"] else f"{sorted(c['head_s'])[len(c['head_s']) // 2]:.4f}"
            verdict = f"**{c['status']}**" if c["fails"] else c["status"]
            if c["note"]:
                verdict += f" ({c['note'][:120]})"
            out.append(f"| {c['case']} | {ratio} | {spread} | {b} | {h} | {verdict} |")
        out += ["", f"Threshold {sp['threshold']}×: a case fails when its median ratio exceeds it and every round "
                "was slower.", ""]
    if doc.get("plots_diff"):
        out += [f"Plots: `dvc plots diff` output in [{doc['plots_diff']}]({doc['plots_diff']}).", ""]
    out += _details("How to reproduce", ["```", doc["command"], "```",
                                         "Tolerances: `params.yaml` → `gate:`; rationale: docs/regression-gate.md."])
    return "\n".join(out).rstrip() + "\n"
