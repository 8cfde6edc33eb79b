"""Tables and figures of a results folder: the `report` stage of the pipeline.

Reads every result JSON under ``results/<profile>/`` (written by ``amss-bench evaluate``), aggregates them with
:mod:`benchmark.scoring.aggregate` (protocol §3, §5.2, §6: SDR median → median → mean over runs; RMSE-MFCC mean → mean; bootstrap
95 % intervals over tracks) and writes

* ``summary.json`` — the aggregated long tables (cells and AVG/mean rows) with the aggregation rules;
* ``tables.md`` — an SDR table in the layout of thesis Table 5.2 and an RMSE-MFCC table in the layout of Table 5.3,
  then the preservation of the untouched sources by the edits in the same layout (not a thesis metric);
* ``sdr.png`` and ``rmse_mfcc.png`` — the same numbers as figures.

Every output states the profile. Results of the ``embedded`` profile (synthetic data, scaled-down models, seconds of
training) are **not comparable with the thesis**; the header says so in words.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import pandas as pd

from benchmark.scoring import aggregate, metricinfo
from benchmark.base.audio import atomic_write
from benchmark.reporting.plotting import axes as _axes  # the figure style and metadata-free PNGs of every report figure
from benchmark.reporting.plotting import pristine
from benchmark.reporting.plotting import save as _save
from benchmark.task.tasks import get_task

log = logging.getLogger("amss_bench.report")

SDR_COLUMNS = ("vocals", "drums", "bass", "other")
SDR_METRIC = "SDR"  # the metric of the Table 5.2 layout (museval median)
MFCC_METRIC = "mfcc_rmse"  # the metric of the Table 5.3 layout
PRESERVATION_METRIC = "preservation"  # the untouched sources' preservation (same layout; not a thesis metric)
MFCC_COLUMNS = ("pan left", "pan right", "decrease volume", "increase volume", "lowpass filter", "highpass filter",
                "dereverberation")
PROFILE_NOTE = {
    "embedded": "profile **embedded**: synthetic data, scaled-down models trained for seconds on a CPU. These numbers "
                "check the pipeline end to end; they are **not comparable with the thesis**.",
    "paper": "profile **paper**: thesis configurations; compare with `paper-tables.md` only on real MUSDB18 "
             "(decoded with `musdbconvert`).",
}


def _fmt(value, std=None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    text = f"{value:.2f}"
    if std is not None and not (isinstance(std, float) and math.isnan(std)):
        text += f" ± {std:.2f}"
    return text


def sdr_table(cells: pd.DataFrame, groups: pd.DataFrame) -> pd.DataFrame:
    """Median SDR per label (rows) and target (columns), plus AVG."""
    c = cells[cells["metric"] == SDR_METRIC] if not cells.empty else cells
    if c.empty:
        return pd.DataFrame()
    table = c.pivot_table(index="label", columns="column", values="value", aggfunc="first", dropna=False)
    table = table.reindex(columns=[col for col in SDR_COLUMNS if col in table.columns])
    g = groups[(groups["metric"] == SDR_METRIC) & (groups["group"] == "AVG")]
    table["AVG"] = g.set_index("label")["value"].reindex(table.index)
    return table


def mfcc_table(cells: pd.DataFrame, groups: pd.DataFrame, not_supported: dict | None = None, *,
               metric: str = MFCC_METRIC) -> pd.DataFrame:
    """Mean RMSE-MFCC (or another edit-task ``metric``: the preservation) per label (rows) and (task column, source)
    (columns), plus the per-source mean — only for a label with every task of the source in the table and none it
    declares unsupported (``not_supported``: label -> task ids, summary.json), never a mean over fewer tasks."""
    c = cells[cells["metric"] == metric] if not cells.empty else cells
    if c.empty:
        return pd.DataFrame()
    table = c.pivot_table(index="label", columns=["column", "source"], values="value", aggfunc="first", dropna=False)
    order = [(col, s) for col in MFCC_COLUMNS for s in ("vocals", "drums", "bass") if (col, s) in table.columns]
    table = table.reindex(columns=pd.MultiIndex.from_tuples(order))
    g = groups[groups["metric"] == metric]
    for s in ("vocals", "drums", "bass"):
        mean = g[g["group"] == s].set_index("label")["value"].reindex(table.index)
        cols = [c for c in order if c[1] == s]
        complete = table[cols].notna().all(axis=1) if cols else mean.notna()
        for label, ids in (not_supported or {}).items():
            if label in complete.index and any(get_task(t).source == s for t in ids):
                complete[label] = False
        table[("mean", s)] = mean.where(complete)  # a system lacking a task of the row: no shorter mean
    return table


NOT_SUPPORTED = "not supported"


def mfcc_markdown(table: pd.DataFrame, cells: pd.DataFrame, not_supported: dict[str, list[str]], *,
                  metric: str = MFCC_METRIC) -> list[str]:
    """:func:`mfcc_table` as markdown; a cell a system declares unsupported (``summary.json`` ``not_supported``,
    e.g. the cascade's dereverb tasks) reads *not supported*, its source's mean *n/a (not supported)*; a value at
    the metric's numerical floor (the preservation's cap) reads "≥ floor"."""
    task_of = {}
    if not cells.empty:
        c = cells[cells["metric"] == metric]
        task_of = {(col, src): tid for col, src, tid in zip(c["column"], c["source"], c["task_id"])}
    header = ["system"] + [f"{c} ({s[0]})" for c, s in table.columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for label, row in table.iterrows():
        lacks = set(not_supported.get(label, ()))
        lacking_sources = {get_task(t).source for t in lacks}
        out = []
        for (col, src), v in row.items():
            if col == "mean" and src in lacking_sources and isinstance(v, float) and math.isnan(v):
                out.append(f"n/a ({NOT_SUPPORTED})")
            elif task_of.get((col, src)) in lacks:
                out.append(NOT_SUPPORTED)
            elif metricinfo.info(metric).at_floor(None if v is None or math.isnan(v) else float(v)):
                out.append("≥ floor")
            else:
                out.append(_fmt(v))
        lines.append("| " + " | ".join([str(label)] + out) + " |")
    return lines


def preservation_lines(table: pd.DataFrame, cells: pd.DataFrame, not_supported: dict[str, list[str]]) -> list[str]:
    """The "Preservation of untouched sources" section of tables.md (and of index.html)."""
    floor = metricinfo.info(PRESERVATION_METRIC).floor
    return ["## Preservation of untouched sources", "",
            "How much of the sources an edit should leave alone survives in the output (dB, higher is better): the "
            "error estimate − target is decomposed onto the sources of the target (the edited source in its target "
            "version and each untouched source; one joint least-squares fit with 256-tap distortion filters, "
            "BSS-Eval v4 style) and 10 log10(Σ energy of the untouched sources / Σ energy of the error parts they "
            f"carry) is reported, capped at 100 dB; \"≥ floor\" (≥ {floor:g} dB) is float rounding — nothing of the "
            "untouched sources was damaged. Mean over tracks → mean over runs; the mean column: over the source's "
            "7 tasks. Read it beside RMSE-MFCC: doing nothing (`identity`) damages no untouched source and edits "
            "nothing (it reads high; where its error lies on no source — filters, dereverb — chance correlation "
            "attributes a little of it to the others, about (taps · 2 · 3) / samples of its energy); the `oracle` "
            "is perfect on both; `dsp-mixture` (the edit applied to the whole mix) damages every untouched source. "
            "Not a thesis metric: never part of a thesis table or average (docs/metrics.md §6).", ""] + mfcc_markdown(table, cells, not_supported, metric=PRESERVATION_METRIC) + [""]


#: metric -> (label, +1 if higher is better else -1), from the metric registry; the do-nothing check compares every
#: system with ``identity``
DO_NOTHING_METRICS = {m: (metricinfo.info(m).label, metricinfo.info(m).sign) for m in ("SDR", "mfcc_rmse", "mae")}
DO_NOTHING = "identity"


def do_nothing_check(cells: pd.DataFrame, reference: str = DO_NOTHING) -> list[dict]:
    """Per system: on how many of the tasks it was evaluated on it is better than the do-nothing system.

    For every metric of :data:`DO_NOTHING_METRICS` and every task evaluated for both the system and ``reference``
    (the identity, i.e. the input returned unchanged), the aggregated cell of the system is compared with the
    reference's cell. Returns one dict per system (sorted by label) with ``tasks``/``better``/``mean_delta`` per
    metric (delta = system − reference, in the metric's unit) and ``beats`` (True when better on every compared task
    by every metric, False otherwise). Cells whose value is not finite (e.g. the oracle's SDR = +inf → NaN) are
    left out and counted in ``not_finite``.
    """
    if cells.empty or reference not in set(cells["label"]):
        return []
    out = []
    ref = cells[cells["label"] == reference].set_index(["metric", "task_id"])["value"]
    for label in sorted(set(cells["label"]) - {reference}):
        c = cells[(cells["label"] == label) & cells["metric"].isin(list(DO_NOTHING_METRICS))]
        entry: dict = {"system": label, "reference": reference, "metrics": {}}
        for metric, (name, sign) in DO_NOTHING_METRICS.items():
            rows = c[c["metric"] == metric]
            better, deltas, skipped, worse = 0, [], 0, []
            for task, value in zip(rows["task_id"], rows["value"]):
                r = ref.get((metric, task))
                if r is None or not (math.isfinite(value) and math.isfinite(r)):
                    skipped += 1
                    continue
                deltas.append(float(value - r))
                if sign * (value - r) > 0:
                    better += 1
                else:
                    worse.append(task)
            if deltas or skipped:
                entry["metrics"][name] = {"tasks": len(deltas), "better": better, "not_finite": skipped,
                                          "mean_delta": sum(deltas) / len(deltas) if deltas else None,
                                          "not_better_on": worse}
        compared = [m for m in entry["metrics"].values() if m["tasks"]]
        entry["beats"] = bool(compared) and all(m["better"] == m["tasks"] for m in compared)
        out.append(entry)
    return out


def _do_nothing_lines(check: list[dict]) -> list[str]:
    names = [name for name, _ in DO_NOTHING_METRICS.values()]
    header = ["system"] + [f"{n}: better / tasks (mean Δ)" for n in names] + ["beats identity everywhere"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for e in check:
        cells = []
        for n in names:
            m = e["metrics"].get(n)
            if not m or not m["tasks"]:
                cells.append("—")
                continue
            text = f"{m['better']} / {m['tasks']} ({m['mean_delta']:+.{4 if n == 'MAE' else 2}f})"
            cells.append(text if m["better"] == m["tasks"] else f"**{text}**")
        lines.append("| " + " | ".join([e["system"]] + cells + ["yes" if e["beats"] else "**no**"]) + " |")
    return lines


#: "every embedded model learns": validation L1 at least this fraction below both do-nothing systems ...
LEARN_MARGIN = 0.05
#: ... and at least this SDR (dB) on every SDR task the system answers
LEARN_MIN_SDR = 1.0


def _training_runs(metadata: dict, name: str) -> list[tuple[str, dict]]:
    """(run id, training block) of a system's metadata: one for a model, one per member of a composite."""
    if isinstance(metadata.get("training"), dict):
        t = metadata["training"]
        return [(name + (f"/{t['source']}" if t.get("source") else ""), t)]
    runs = []
    for member in metadata.get("members") or []:
        runs += _training_runs(member.get("metadata") or {}, name)
    return runs


def systems_without_glove(docs: list[dict]) -> list[str]:
    """Labels of the systems with a training run whose checkpoint says it was trained without GloVe (AMSS models
    with ``glove: none``: ``word_embeddings.init == "random"``, models/training/glove.py)."""
    labels = set()
    for d in docs:
        system = d.get("system") or {}
        for _, t in _training_runs(system.get("metadata") or {}, system.get("name", "?")):
            we = t.get("word_embeddings")
            if isinstance(we, dict) and we.get("init") == "random":
                labels.add(system.get("label", "?"))
    return sorted(labels)


def learning_check(docs: list[dict], cells: pd.DataFrame, do_nothing: list[dict] | None = None, *,
                   margin: float = LEARN_MARGIN, min_sdr: float = LEARN_MIN_SDR) -> list[dict]:
    """Per trained system (label): does every run learn?

    * validation (the training run's own numbers, copied from the checkpoint into every result): every run has
      ``best_l1 <= (1 - margin) * min(identity_l1, silence_l1)``;
    * test set: the aggregated SDR is ``>= min_sdr`` dB on every SDR task the system answers;
    * edit tasks (information, not part of the verdict): on how many the MAE beats the identity's.
    Systems without training runs (the baselines) are not listed."""
    runs: dict[str, dict[str, dict]] = {}
    for d in docs:
        system = d.get("system") or {}
        for run_id, t in _training_runs(system.get("metadata") or {}, system.get("name", "?")):
            runs.setdefault(system.get("label", "?"), {})[run_id] = t
    mae = {e["system"]: (e["metrics"].get("MAE") or {}) for e in (do_nothing or [])}
    out = []
    for label in sorted(runs):
        entry: dict = {"system": label, "runs": len(runs[label]), "valid_failing": [], "worst_valid_ratio": None}
        worst = -math.inf
        for run_id, t in sorted(runs[label].items()):
            vals = [t.get(k) for k in ("best_l1", "identity_l1", "silence_l1")]
            if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in vals):
                entry["valid_failing"].append(f"{run_id} (no validation numbers)")
                continue
            ratio = vals[0] / min(vals[1], vals[2])
            worst = max(worst, ratio)
            if ratio > 1 - margin:
                entry["valid_failing"].append(f"{run_id} ({ratio:.3f})")
        entry["worst_valid_ratio"] = worst if math.isfinite(worst) else None
        c = cells[(cells["label"] == label) & (cells["metric"] == SDR_METRIC)] \
            if not cells.empty else cells
        sdr = {str(task): float(v) for task, v in zip(c["task_id"], c["value"])} if not c.empty else {}
        entry["sdr_tasks"] = len(sdr)
        entry["sdr_min"] = min(sdr.values()) if sdr else None
        entry["sdr_below"] = sorted(t for t, v in sdr.items() if not (math.isfinite(v) and v >= min_sdr))
        m = mae.get(label) or {}
        entry["mae_better"], entry["mae_tasks"] = m.get("better"), m.get("tasks")
        entry["learns"] = not entry["valid_failing"] and not entry["sdr_below"]
        out.append(entry)
    return out


def _learning_lines(check: list[dict], margin: float = LEARN_MARGIN, min_sdr: float = LEARN_MIN_SDR) -> list[str]:
    header = ["system", "runs", f"validation: runs ≥ {margin:.0%} below identity and silence",
              "worst L1 / min(identity, silence)", f"test SDR: min over tasks (tasks < {min_sdr:g} dB)",
              "edit tasks: MAE better than identity", "learns"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for e in check:
        ok_runs = e["runs"] - len(e["valid_failing"])
        valid = f"{ok_runs} / {e['runs']}"
        if e["valid_failing"]:
            valid = f"**{valid}** (not: {', '.join(e['valid_failing'])})"
        ratio = "—" if e["worst_valid_ratio"] is None else f"{e['worst_valid_ratio']:.3f}"
        if e["sdr_tasks"]:
            sdr = f"{e['sdr_min']:.2f} dB ({len(e['sdr_below'])} of {e['sdr_tasks']})"
            if e["sdr_below"]:
                sdr = f"**{sdr}**: {', '.join(e['sdr_below'])}"
        else:
            sdr = "—"
        mae = "—" if not e["mae_tasks"] else f"{e['mae_better']} / {e['mae_tasks']}"
        lines.append("| " + " | ".join([e["system"], str(e["runs"]), valid, ratio, sdr, mae,
                                        "yes" if e["learns"] else "**no**"]) + " |")
    return lines


def _markdown(table: pd.DataFrame, header: list[str]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for label, row in table.iterrows():
        lines.append("| " + " | ".join([str(label)] + [_fmt(v) for v in row.tolist()]) + " |")
    return lines


@pristine
def _plot_sdr(table: pd.DataFrame, profile: str) -> bytes:
    import seaborn as sns

    long = table.drop(columns="AVG").reset_index().melt(id_vars="label", var_name="target", value_name="SDR")
    fig, ax = _axes((10, 0.35 * len(table) + 2))
    sns.barplot(data=long, y="label", x="SDR", hue="target", ax=ax, orient="h")
    return _save(fig, ax, f"Median SDR (dB) per target — profile {profile}")


@pristine
def _plot_mfcc(table: pd.DataFrame, profile: str) -> bytes:
    import seaborn as sns

    data = table.copy()
    data.columns = [f"{col} / {src}" for col, src in data.columns]
    fig, ax = _axes((14, 0.5 * len(data) + 3))
    sns.heatmap(data, annot=True, fmt=".2f", cmap="viridis_r", ax=ax, cbar_kws={"label": "RMSE-MFCC (lower is better)"})
    return _save(fig, ax, f"RMSE-MFCC per task — profile {profile}")


#: files the report writes (all of them only after every one is computed: an error leaves the previous report whole)
OUTPUTS = ("summary.json", "tables.md", "tables.json", "cells.csv", "sdr.png", "rmse_mfcc.png")
#: folder of the headline metrics, one small flat JSON per system (``dvc metrics show``: one row per system)
METRICS_DIR = "metrics"


def _json_bytes(obj, *, ensure_ascii: bool = True) -> bytes:
    """The bytes :func:`benchmark.base.audio.write_json` writes (sorted keys, indent 2, trailing newline)."""
    import json

    return (json.dumps(obj, indent=2, sort_keys=True, allow_nan=False, ensure_ascii=ensure_ascii) + "\n").encode()


def _csv_bytes(rows: list[dict], columns: list[str]) -> bytes:
    import csv
    import io

    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: r[k] for k in columns})
    return buf.getvalue().encode()


def build_report(results_root: str | Path, testset_dir: str | Path, out: str | Path, *, profile: str,
                 properties: str | Path | None = None) -> Path:
    """Aggregate ``results_root`` against the test set and write, to ``out``: summary.json, tables.md, tables.json
    (every thesis table, cell by cell: :mod:`benchmark.reporting.tables`), metrics/<system>.json (the headline numbers, flat,
    for ``dvc metrics``), cells.csv (ours vs published per cell, for ``dvc plots``) and the figures.

    ``properties``: the folder of the evaluate-properties stages (``<run>/properties.json``): their sections
    (:mod:`benchmark.reporting.properties`) go into tables.md, tables.json (``properties``), summary.json
    (``property_cells``), metrics/<label>.json, and ``properties/`` (figures, listening clips).

    Everything is computed before anything is written; a malformed or incomplete results folder raises (naming the
    file, or the system/task/tracks) and leaves the previous report as it was."""
    from benchmark.reporting import tables as thesis
    from benchmark.task.testset import TestSet

    out = Path(out)
    testset = TestSet.open(testset_dir)
    docs = aggregate.res.load_results(results_root)
    if not docs:
        raise aggregate.AggregationError(f"{results_root}: no result files (run `amss-bench evaluate` first)")
    tables = aggregate.aggregate_results(docs, testset)
    summary = aggregate.summary_document(tables, testset=testset, results=docs)
    summary["profile"] = profile
    files: dict[str, bytes] = {}

    sdr = sdr_table(tables["cells"], tables["groups"])
    mfcc = mfcc_table(tables["cells"], tables["groups"], summary.get("not_supported"))
    backend = summary.get("sdr_backend")
    scoring = summary.get("sdr_scoring")
    n_tracks = len(testset.tracks())
    thesis_doc = thesis.build_tables(tables["cells"], tables["groups"], profile=profile,
                                     manifest_hash=testset.manifest_hash, n_tracks=n_tracks, sdr_backend=backend,
                                     sdr_scoring=scoring)
    lines = [f"# Results — profile {profile}", "", PROFILE_NOTE.get(profile, f"profile {profile}"), "",
             f"Test set manifest `{testset.manifest_hash[:16]}…`, {n_tracks} test tracks; "
             f"SDR back-end {backend}{thesis.scoring_note(scoring)}; aggregation rules in `summary.json` and docs/evaluation.md. Every thesis table "
             "with the published number beside ours comes first (machine-readable: `tables.json`, docs/reports.md); "
             "then every system at a glance, the do-nothing check and the learning check.", ""]
    no_glove = systems_without_glove(docs)
    if no_glove:
        summary["trained_without_glove"] = no_glove
        lines += [f"Note: {', '.join(no_glove)} trained without GloVe (random word embeddings, `glove: none`; the "
                  "thesis initialises AMSS-Net's word embeddings from GloVe 6B-100d, docs/fidelity.md §2).", ""]
    lines += thesis.markdown(thesis_doc)
    if not sdr.empty:
        lines += ["## Every system: SDR (dB), layout of thesis Table 5.2", "",
                  "Median over 1-s frames → median over tracks → mean over runs; higher is better. AVG here is the "
                  "mean over the targets a system answers (a vocals-only model: its vocals cell).", ""]
        lines += _markdown(sdr, ["system"] + list(sdr.columns)) + [""]
        files["sdr.png"] = _plot_sdr(sdr, profile)
        lines += ["![SDR per target](sdr.png)", ""]
    if not mfcc.empty:
        lines += ["## Every system: RMSE-MFCC, layout of thesis Table 5.3", "",
                  "Mean over tracks → mean over runs; lower is better. The `identity` row is the reference loss "
                  "(doing nothing).", ""]
        lines += mfcc_markdown(mfcc, tables["cells"], summary.get("not_supported", {})) + [""]
        if summary.get("not_supported"):
            lines += ["*not supported*: the system cannot answer the task (the separate-then-DSP cascade: the "
                      "dereverb tasks, docs/evaluation.md); such a system has no mean over that source's tasks.", ""]
        files["rmse_mfcc.png"] = _plot_mfcc(mfcc, profile)
        lines += ["![RMSE-MFCC per task](rmse_mfcc.png)", ""]
    pres = mfcc_table(tables["cells"], tables["groups"], summary.get("not_supported"), metric=PRESERVATION_METRIC)
    if not pres.empty:
        lines += preservation_lines(pres, tables["cells"], summary.get("not_supported", {}))
    check = do_nothing_check(tables["cells"])
    if check:
        lines += ["## Better than doing nothing?", "",
                  f"Every system against `{DO_NOTHING}` (the input returned unchanged; for RMSE-MFCC this is the "
                  "reference loss) on the tasks it was evaluated on — for a trained model, the tasks it was trained "
                  "for. A task counts as *better* when the system's aggregated cell beats the identity's cell "
                  "(SDR higher; RMSE-MFCC and MAE lower); Δ = system − identity. Bold: not better on every task. "
                  "Cells that are not finite (the oracle's SDR) are left out.", ""]
        lines += _do_nothing_lines(check) + [""]
        summary["do_nothing"] = check
    learning = learning_check(docs, tables["cells"], check)
    if learning:
        lines += ["## Does every model learn?", "",
                  f"A trained system *learns* when every training run ends at least {LEARN_MARGIN:.0%} below both "
                  "do-nothing systems on its validation set (`best_l1 ≤ 0.95 × min(identity_l1, silence_l1)`, the "
                  f"run's own numbers, recorded in its checkpoint) and its SDR is at least {LEARN_MIN_SDR:g} dB on "
                  "every SDR task it answers on the test set. The MAE column (edit tasks) is information, not part "
                  "of the verdict: thesis Table 5.3's fully trained models do not beat the reference loss "
                  "everywhere either.", ""]
        lines += _learning_lines(learning) + [""]
        summary["learning"] = learning
    prop_files: dict[str, bytes] = {}
    prop_headline: dict[str, dict] = {}
    prop_docs, prop_table = [], {}
    if properties is not None:
        from benchmark.reporting import properties as prop

        prop_docs = prop.load(properties)
        prop_table = prop.rows(prop_docs, testset.manifest_hash)
        if prop_table:
            lines += prop.markdown(prop_table)
            thesis_doc["properties"] = prop.tables_json(prop_table)
            summary["property_cells"] = prop.property_cells(prop_table)
            prop_headline = prop.headline(prop_table)
            prop_files = {f"{prop.OUT_DIR}/{k}": v for k, v in prop.figures(prop_docs, prop_table, profile).items()}
            prop_files[f"{prop.OUT_DIR}/clips.json"] = _json_bytes(prop.clip_index(prop_docs, prop_table))
    files["summary.json"] = _json_bytes(summary)
    files["tables.md"] = "\n".join(lines).encode()
    files["tables.json"] = _json_bytes(thesis_doc, ensure_ascii=False)
    heads = thesis.headline(thesis_doc)
    for label, values in prop_headline.items():  # property numbers beside the thesis headline numbers
        heads[label] = {**heads.get(label, {}), **values}
    metrics = {f"{METRICS_DIR}/{system}.json": _json_bytes(values) for system, values in heads.items()}
    files["cells.csv"] = _csv_bytes(thesis.plot_rows(thesis_doc), ["cell", "table", "metric", "paper", "ours"])
    for name in [n for n in OUTPUTS if n in files] + sorted(metrics):  # a fixed order; each file atomically
        with atomic_write(out / name, "wb") as fh:
            fh.write(files.get(name) or metrics[name])
    if properties is not None:
        from benchmark.reporting import properties as prop

        prop.write(out, prop_files, prop_docs, prop_table)
    for stale in sorted((out / METRICS_DIR).glob("*.json")):  # systems no longer in the results
        if f"{METRICS_DIR}/{stale.name}" not in metrics:
            stale.unlink()
    log.info("wrote %s (%d SDR rows, %d RMSE-MFCC rows, %d thesis tables)", out / "tables.md", len(sdr), len(mfcc),
             len(thesis_doc["tables"]))
    return out / "tables.md"
