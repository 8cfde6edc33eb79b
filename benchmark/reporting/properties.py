"""The property sections of the report: progressive-manipulation drift (thesis Figure 5.7) and effect-level control
(Figure 5.8), from the ``evaluate-properties`` stages' ``<dir>/<run>/properties.json`` (benchmark/scoring/properties.py).

Generic over properties: every metric of :data:`benchmark.scoring.metricinfo.PROPERTY_METRICS` becomes

* a column of its property's table in ``tables.md`` / ``tables.json`` (``properties``), one row per system label
  (runs of one label: the mean over runs);
* a key of ``metrics/<label>.json`` (``dvc metrics``);
* a ``property_cells`` entry of ``summary.json`` (label, property, metric, value, version): the regression gate's
  cells and the leaderboard's extra columns. Never part of the thesis tables or their averages.

A new property adds its metrics to the registry, its ``headline`` numbers to the property document and, if it has
one, a figure function to :data:`FIGURES`.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from benchmark.base.constants import SR
from benchmark.reporting.plotting import PNG_METADATA, pristine
from benchmark.scoring import metricinfo
from benchmark.scoring import properties as pscore
from benchmark.task import aml
from benchmark.task import properties as ptask

RESULT_FILE = "properties.json"
#: the folder under the report folder with the property figures and clips
OUT_DIR = "properties"
GROUND_TRUTH = "oracle"  # the oracle's outputs are the ground truth (its drift and control answers are exact)


class PropertyError(ValueError):
    """A malformed or inconsistent property result."""


def load(folder: str | Path) -> list[tuple[Path, dict]]:
    """Every ``<folder>/<run>/properties.json`` (sorted by run), checked for the keys the report reads."""
    if not Path(folder).is_dir():
        raise PropertyError(f"{folder}: no such folder (run the evaluate-properties stages first)")
    out = []
    for path in sorted(Path(folder).glob(f"*/{RESULT_FILE}")):
        if path.parent.name.startswith("."):  # an interrupted run's staging folder
            continue
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise PropertyError(f"{path}: not valid JSON ({err})") from None
        missing = [k for k in ("schema", "system", "settings", "testset", "properties") if k not in doc]
        if missing:
            raise PropertyError(f"{path}: missing key(s) {', '.join(missing)}")
        if doc["schema"] != ptask.PROPERTIES_SCHEMA:
            raise PropertyError(f"{path}: schema {doc['schema']}, this code reads {ptask.PROPERTIES_SCHEMA}")
        out.append((path, doc))
    return out


def _settings(doc: dict) -> dict:
    return {k: doc["settings"].get(k) for k in ("k_max", "k_others", "segment_seconds", "tracks")}


def _versions(doc: dict) -> dict[str, int]:
    return {p: v.get("version") for p, v in doc["properties"].items()}


def rows(docs: list[tuple[Path, dict]], manifest_hash: str | None = None) -> dict[str, dict]:
    """label -> {"runs": n, "versions": {...}, metric: value (mean over runs; None if any run has None)}."""
    by_label: dict[str, list[tuple[Path, dict]]] = {}
    for path, doc in docs:
        if manifest_hash is not None and doc["testset"].get("manifest_hash") != manifest_hash:
            raise PropertyError(f"{path}: test-set manifest {doc['testset'].get('manifest_hash')}, the report's is "
                                f"{manifest_hash}: run the evaluate-properties stage again")
        by_label.setdefault(doc["system"]["label"], []).append((path, doc))
    first = docs[0] if docs else None
    for path, doc in docs:  # one table: every system measured on the same tracks, segment and K
        if _settings(doc) != _settings(first[1]) or _versions(doc) != _versions(first[1]):
            raise PropertyError(f"{path}: settings {_settings(doc)} / versions {_versions(doc)} differ from "
                                f"{first[0]}'s {_settings(first[1])} / {_versions(first[1])}: run every "
                                "evaluate-properties stage with the same params.yaml properties")
    out = {}
    for label in sorted(by_label):
        runs = by_label[label]
        versions = [_versions(d) for _, d in runs]
        settings = [_settings(d) for _, d in runs]
        if any(v != versions[0] for v in versions) or any(s != settings[0] for s in settings):
            raise PropertyError(f"{label}: runs {', '.join(str(p) for p, _ in runs)} differ in property versions "
                                "or settings (never averaged together)")
        heads = [pscore.headline(d) for _, d in runs]
        row: dict = {"runs": len(runs), "versions": versions[0], "settings": settings[0]}
        for m in metricinfo.PROPERTY_METRICS:
            vals = [h.get(m) for h in heads]
            row[m] = None if any(v is None for v in vals) else float(np.mean(vals))
        row["drift_tasks"] = _mean_tasks([d for _, d in runs])
        row["control_levels"] = _mean_levels([d for _, d in runs])
        out[label] = row
    return out


def _mean_tasks(docs: list[dict]) -> dict:
    tasks = {}
    for t in docs[0]["properties"]["drift"]["tasks"]:
        per = [d["properties"]["drift"]["tasks"][t] for d in docs]
        dk = [p["doubling_k"] for p in per]
        tasks[t] = {"drift_auc": float(np.mean([p["drift_auc"] for p in per])),
                    "doubling_k": None if any(v is None for v in dk) else float(np.mean(dk)),
                    "curve": [float(v) for v in np.mean([p["curve"]["mfcc_rmse"] for p in per], axis=0)]}
    return tasks


def _mean_levels(docs: list[dict]) -> dict | None:
    lv = [d["properties"]["control"]["summary"].get("mean_level_db") for d in docs]
    if any(v is None for v in lv):
        return None
    return {k: float(np.mean([v[k] for v in lv])) for k in aml.LEVELS}


def property_cells(table: dict[str, dict]) -> list[dict]:
    """summary.json ``property_cells``: one entry per label × property metric (the gate's cells)."""
    cells = []
    for label, row in table.items():
        for m, info in metricinfo.PROPERTY_METRICS.items():
            cells.append({"label": label, "property": info.family, "metric": m, "value": row[m],
                          "version": row["versions"].get(info.family), "runs": row["runs"]})
    return cells


def headline(table: dict[str, dict]) -> dict[str, dict]:
    """label -> {metric: value} for ``metrics/<label>.json`` (None left out: dvc metrics are numbers)."""
    return {label: {m: round(row[m], 4) for m in metricinfo.PROPERTY_METRICS if row[m] is not None}
            for label, row in table.items()}


def _fmt(metric: str, v, k_max: int | None = None) -> str:
    if metric.startswith("doubling_k"):
        return "never (> K)" if v is None or (k_max is not None and v > k_max) else f"{v:g}"
    return metricinfo.format_value(metric, v, digits=3)


def markdown(table: dict[str, dict]) -> list[str]:
    """The report sections, one per property (## headings)."""
    if not table:
        return []
    any_row = next(iter(table.values()))
    s = any_row["settings"]
    lines = [f"## {metricinfo.PROPERTY_SECTIONS['drift']}", "",
             f"Thesis §5.5.5, Figures 5.6/5.7: each query applied k = 1…K times (K = {s['k_max']} for "
             f"\"{ptask.DRIFT_DESCRIPTIONS[ptask.FIGURE_DRIFT_TASK]}\", {s['k_others']} for the others), each time to the "
             f"system's previous output, on a {s['segment_seconds']:g}-s segment around the middle of each of "
             f"{len(s['tracks'])} test tracks; the ground truth is the same DSP applied k times to the target source "
             "(docs/evaluation.md \"Properties\"). AUC = mean height of the RMSE-MFCC curve over k (lower is "
             "better; the oracle is 0); doubling k = first k at which the error reaches twice its k = 1 value "
             "(never = it stays below within K; higher is better). Not part of any thesis table or average.", ""]
    tasks = list(any_row["drift_tasks"])
    head = ["system", "runs", "AUC RMSE-MFCC", "AUC MAE"] + [f"{t} AUC / doubling k" for t in tasks]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for label, row in table.items():
        cells = [label, str(row["runs"]), _fmt("drift_auc", row["drift_auc"]), _fmt("drift_auc_mae",
                                                                                   row["drift_auc_mae"])]
        for t in tasks:
            d = row["drift_tasks"].get(t)
            cells.append("not supported" if d is None else
                         f"{d['drift_auc']:.2f} / {_fmt('doubling_k', d['doubling_k'])}")
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", f"![drift curves]({OUT_DIR}/drift.png)", "",
              f"![Figure 5.7 after {s['k_max']} applications]({OUT_DIR}/figure-5.7.png)", ""]
    lines += [f"## {metricinfo.PROPERTY_SECTIONS['control']}", "",
              "Thesis §5.5.6, Figure 5.8: light / medium / heavy lowpass and highpass on vocals, drums and bass "
              "(protocol cutoff table), one input per case. The applied level is the attenuation of the target "
              "source in the band one octave beyond the light cutoff (docs/metrics.md \"Level control\"). *order* = "
              f"fraction of (source, filter, track) cases with light < medium < heavy (each step > "
              f"{pscore.ORDER_MARGIN_DB:g} dB); *ρ* = mean Spearman correlation with the true level (1, 2, 3). "
              "Higher is better; the oracle is 1, a system that ignores the adverb gets order 0.", ""]
    head = ["system", "runs", "order", "ρ"] + [f"mean {lv} (dB)" for lv in aml.LEVELS]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for label, row in table.items():
        lv = row["control_levels"]
        lines.append("| " + " | ".join([label, str(row["runs"]), _fmt("control_order", row["control_order"]),
                                        _fmt("control_spearman", row["control_spearman"])]
                                       + ["—" if lv is None else f"{lv[k]:.1f}" for k in aml.LEVELS]) + " |")
    lines += ["", f"![Figure 5.8]({OUT_DIR}/figure-5.8.png)", ""]
    return lines


def tables_json(table: dict[str, dict]) -> dict:
    """The ``properties`` block of tables.json."""
    return {prop: {"title": title, "metrics": list(metricinfo.property_metrics(prop)),
                   "rows": {label: {"runs": row["runs"], "version": row["versions"].get(prop),
                                    **{m: row[m] for m in metricinfo.property_metrics(prop)},
                                    **({"tasks": row["drift_tasks"]} if prop == "drift" else {}),
                                    **({"mean_level_db": row["control_levels"]} if prop == "control" else {})}
                            for label, row in table.items()}}
            for prop, title in metricinfo.PROPERTY_SECTIONS.items()}


# ------------------------------------------------------------------------------------------------ figures

def _mel_db(audio: np.ndarray) -> np.ndarray:
    import librosa

    mono = np.asarray(audio, dtype=np.float32).mean(axis=1)
    mel = librosa.feature.melspectrogram(y=mono, sr=SR, n_fft=2048, hop_length=512, n_mels=128)
    return librosa.power_to_db(mel, ref=1.0, amin=1e-10, top_db=None)


def _clips(docs: list[tuple[Path, dict]]) -> dict[str, Path]:
    """label -> the folder of its first run (figure WAVs)."""
    out: dict[str, Path] = {}
    for path, doc in docs:
        out.setdefault(doc["system"]["label"], path.parent)
    return out


@pristine
def _spectrogram_grid(panels: list[tuple[str, list[tuple[str, np.ndarray]]]], title: str) -> bytes:
    """Rows of mel spectrograms on one colour scale and the same axes."""
    import io

    import matplotlib.pyplot as plt

    specs = [(r, t, _mel_db(a)) for r, cols in panels for t, a in cols]
    vmax = max(float(s.max()) for _, _, s in specs)
    vmax = math.ceil(vmax / 10) * 10
    vmin = vmax - 80
    ncols = max(len(cols) for _, cols in panels)
    fig, axes = plt.subplots(len(panels), ncols, figsize=(3.2 * ncols, 1.9 * len(panels) + 0.8), squeeze=False,
                             sharex=True, sharey=True, layout="constrained")
    image = None
    i = 0
    for r, (row_title, cols) in enumerate(panels):
        for c in range(ncols):
            ax = axes[r, c]
            if c >= len(cols):
                ax.axis("off")
                continue
            _, t, s = specs[i]
            i += 1
            image = ax.imshow(s, origin="lower", aspect="auto", vmin=vmin, vmax=vmax, cmap="magma",
                              extent=(0, s.shape[1] * 512 / SR, 0, s.shape[0]))
            ax.set_title(": ".join(x for x in (row_title, t) if x), fontsize=8)
            ax.tick_params(labelsize=6)
        axes[r, 0].set_ylabel("mel bin", fontsize=7)
    for ax in axes[-1, :]:
        ax.set_xlabel("time (s)", fontsize=7)
    if image is not None:
        fig.colorbar(image, ax=axes, label="mel power (dB), one scale", shrink=0.8)
    fig.suptitle(title, fontsize=9)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80, metadata=PNG_METADATA)
    plt.close(fig)
    return buf.getvalue()


@pristine
def _drift_curves(table: dict[str, dict], task: str, profile: str) -> bytes:
    from benchmark.reporting.plotting import axes, save

    fig, ax = axes((6.4, 3.4))
    for label, row in table.items():
        d = row["drift_tasks"].get(task)
        if d is not None:
            ax.plot(range(1, len(d["curve"]) + 1), d["curve"], marker=".", label=label)
    ax.set_xlabel("applications k")
    ax.set_ylabel("RMSE-MFCC vs k-fold ground truth")
    ax.legend(fontsize=7)
    return save(fig, ax, f"Drift: {task}, mean over tracks — profile {profile}")


def figures(docs: list[tuple[Path, dict]], table: dict[str, dict], profile: str) -> dict[str, bytes]:
    """``drift.png``, ``figure-5.7.png`` and ``figure-5.8.png`` (names relative to :data:`OUT_DIR`)."""
    from benchmark.base.audio import read_wav

    out: dict[str, bytes] = {}
    if not table:
        return out
    out["drift.png"] = _drift_curves(table, ptask.FIGURE_DRIFT_TASK, profile)
    folders = _clips(docs)
    order = ([GROUND_TRUTH] if GROUND_TRUTH in folders else []) + [lb for lb in folders if lb != GROUND_TRUTH]
    k = next(iter(table.values()))["settings"]["k_max"]
    drift = []
    for label in order:
        wav = folders[label] / f"{ptask.FIGURE_DRIFT_TASK}-k{k}.wav"
        if wav.is_file():
            name = "ground truth" if label == GROUND_TRUTH else label
            drift.append((name, read_wav(wav)[0]))
    if drift:
        desc = ptask.DRIFT_DESCRIPTIONS[ptask.FIGURE_DRIFT_TASK]
        out["figure-5.7.png"] = _spectrogram_grid(
            [("", drift)], f"Figure 5.7: \"{desc}\" applied {k} times (first test track's segment) — profile {profile}")
    op, src = ptask.FIGURE_CONTROL_CASE
    control = []
    for label in order:
        wavs = [folders[label] / f"control-{op}-{src}-{lv}.wav" for lv in aml.LEVELS]
        if all(w.is_file() for w in wavs):
            name = "ground truth" if label == GROUND_TRUTH else label
            control.append((name, [(lv, read_wav(w)[0]) for lv, w in zip(aml.LEVELS, wavs)]))
    if control:
        out["figure-5.8.png"] = _spectrogram_grid(
            control, f"Figure 5.8: light / medium / heavy {op} on {src} — profile {profile}")
    return out


def clips(docs: list[tuple[Path, dict]], table: dict[str, dict]) -> list[tuple[str, str, Path]]:
    """(clip name, title, WAV) of the listening section: every system after K applications of the figure task, and
    its three levels of the figure control case."""
    out = []
    if not table:
        return out
    k = next(iter(table.values()))["settings"]["k_max"]
    op, src = ptask.FIGURE_CONTROL_CASE
    for label, folder in _clips(docs).items():
        name = "ground truth" if label == GROUND_TRUTH else label
        wav = folder / f"{ptask.FIGURE_DRIFT_TASK}-k{k}.wav"
        if wav.is_file():
            out.append((f"{label}-drift-k{k}", f"{name}: {ptask.FIGURE_DRIFT_TASK} after {k}", wav))
        for lv in aml.LEVELS:
            wav = folder / f"control-{op}-{src}-{lv}.wav"
            if wav.is_file():
                out.append((f"{label}-{op}-{src}-{lv}", f"{name}: {lv} {op} {src}", wav))
    return out


def clip_index(docs: list[tuple[Path, dict]], table: dict[str, dict]) -> dict:
    """``properties/clips.json``: the listening clips of the property figures (Ogg Opus under ``clips/``)."""
    return {"clips": [{"name": n, "title": t, "audio": f"clips/{n}.ogg"} for n, t, _ in clips(docs, table)]}


def write(report_dir: str | Path, files: dict[str, bytes], docs: list[tuple[Path, dict]],
          table: dict[str, dict]) -> None:
    """Write the figures (``files``: names under the report folder) and encode the clips; stale files removed."""
    from benchmark.base.audio import atomic_write, read_wav
    from benchmark.reporting.opus import encode

    folder = Path(report_dir) / OUT_DIR
    (folder / "clips").mkdir(parents=True, exist_ok=True)
    for name in sorted(files):
        with atomic_write(Path(report_dir) / name, "wb") as fh:
            fh.write(files[name])
    wanted = set()
    for name, _title, wav in clips(docs, table):
        dst = folder / "clips" / f"{name}.ogg"
        encode(read_wav(wav)[0], dst, PropertyError)
        wanted.add(dst.name)
    for stale in sorted((folder / "clips").glob("*.ogg")):
        if stale.name not in wanted:
            stale.unlink()
    for stale in sorted(folder.glob("*.png")):
        if f"{OUT_DIR}/{stale.name}" not in files:
            stale.unlink()
