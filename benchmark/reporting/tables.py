"""Every thesis table (3.1–3.7, 4.1, 4.2, 5.2, 5.3), ours beside the published number, cell by cell.

:func:`build_tables` turns the aggregated long tables of :mod:`benchmark.scoring.aggregate` into the ``tables.json``
document; :func:`markdown` prints it. Per cell: ``ours`` (our aggregated value), ``paper`` (the published number,
exactly as printed: ``paper_text``; ``paper_std`` is the thesis' "±"), ``delta`` = ours − paper, ``ci`` (our 95 %
bootstrap interval over tracks), ``std`` (our spread over runs), ``n_runs``, ``n_tracks``, ``at_floor`` (a value at
the numerical floor of :mod:`benchmark.scoring.metricinfo`: printed "≥ floor", never compared) and, where ours is missing,
``missing_reason`` (model not trained/evaluated in this profile, task not evaluated, a mean over targets that are not
all there, published only). Nothing is averaged over missing cells: a mean/AVG cell exists only when every target it
covers was evaluated.

Both SDR conventions: the SDR tables carry the thesis's convention (museval v4, median over 1-s frames → median over
tracks → mean over runs; ``convention = "museval"``, compared with the paper) and, as separate rows, the global SDR of
the MDX challenges (whole-track SDR → mean over tracks → mean over runs; ``convention = "global"``; no published
value: the thesis reports none).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd

from benchmark.reporting import paper
from benchmark.scoring.metricinfo import METRICS
from benchmark.scoring.metricinfo import family_of
from benchmark.scoring.metricinfo import info as metric_info

TABLES_VERSION = 1
TARGETS = ("vocals", "drums", "bass", "other")
MFCC_SOURCES = ("vocals", "drums", "bass")

CONVENTIONS = {
    "museval": "museval v4 (BSS-Eval v4, 1-s frames): median over frames → median over tracks → mean over runs — "
               "the thesis's convention, compared with the published numbers",
    "global": "global SDR of the MDX challenges: whole-track SDR → mean over tracks → mean over runs — not the "
              "thesis's convention, no published value",
    "rmse_mfcc": "mean over tracks → mean over runs (protocol §3.2, §6)",
}
#: aggregation rule in words, per metric (the metric registry's family statistic)
RULES = {m: family_of(m).statistic for m in METRICS}
METRIC_LABEL = {"SDR": "SDR (dB)", "ISR": "ISR (dB)", "SIR": "SIR (dB)", "SAR": "SAR (dB)",
                "global_SDR": "global SDR (dB, MDX)", "mfcc_rmse": "RMSE-MFCC", "params": "# params (M)",
                "blocks": "# blocks"}

PUBLISHED_ONLY = "published, not recomputed (another system; not part of this suite)"
NOT_IN_THESIS = "not in the thesis (a baseline of this suite)"


@dataclass(frozen=True)
class Spec:
    """How one published table maps onto our results.

    ``rows``: per published row (same order), the display name and our system label (``None`` = published only).
    ``columns``: published value column -> what we compute: ``("task", id)`` a cell, ``("avg",)`` the mean over
    the four SDR targets, ``("params",)``/``("blocks",)`` the registry's count / configuration for the profile.
    ``extra``: our baselines printed below the thesis rows (no published value)."""

    id: str
    metric: str
    rows: tuple[tuple[str, str | None], ...]
    columns: dict = field(default_factory=dict)
    extra: tuple[str, ...] = ()
    global_sdr: bool = False


_SDR_COLS = {"vocals": ("task", "sdr-vocals"), "drums": ("task", "sdr-drums"), "bass": ("task", "sdr-bass"),
             "other": ("task", "sdr-other")}
_EST_ROWS = (("DME", "u7-dme"), ("MME", "u7-mme"), ("CME-σ", "u7-cme-sigmoid"), ("CME-tanh", "u7-cme-tanh"),
             ("DCSE", "u7-dcse"))
_BASELINES = ("identity", "oracle")

SPECS: tuple[Spec, ...] = (
    Spec("3.1", "SDR", _EST_ROWS, {**_SDR_COLS, "mean": ("avg",)}, _BASELINES, global_sdr=True),
    Spec("3.2", "ISR", _EST_ROWS, {**_SDR_COLS, "all": ("avg",)}, _BASELINES),
    Spec("3.3", "SIR", _EST_ROWS, {**_SDR_COLS, "mean": ("avg",)}, _BASELINES),
    Spec("3.4", "SAR", _EST_ROWS, {**_SDR_COLS, "mean": ("avg",)}, _BASELINES),
    Spec("3.5", "SDR", (("TFC, time sampling yes, 17 blocks", "u17-tfc-sampling-o"),
                        ("TFC, time sampling no, 17 blocks", "u17-tfc-sampling-x"),
                        ("TFC-TDF, time sampling yes, 7 blocks", "u7-dcse"),
                        ("TFC-TDF, time sampling yes, 17 blocks", "u17-tfc-tdf")),
         {"# blocks": ("blocks",), "# params": ("params",), "SDR": ("task", "sdr-vocals")}, global_sdr=True),
    Spec("3.6", "SDR", (("Demucs", None), ("Conv-TasNet", None), ("Meta-TasNet", None), ("UMX", None),
                        ("DGRU-DGConv", None), ("MMDenseLSTM", None), ("D3Net", None),
                        ("Proposed (TFC-TDF U-Net)", "u9l-tfc-tdf"), ("Demucs (extra data: 1.5k songs)", None),
                        ("Conv-TasNet (extra data: 150 songs)", None), ("MMDenseLSTM (extra data: 804 songs)", None),
                        ("D3Net (extra data: 1.5k songs)", None)),
         dict(_SDR_COLS), global_sdr=True),
    Spec("3.7", "SDR", (("TFC-TDF, bottleneck", "u9l-tfc-tdf"), ("TFC-TDF, no bottleneck", "u9l-tfc-tdf-single"),
                        ("TFC-TDF (DME)", "u9l-dme"), ("TFC", "u9l-tfc")),
         {"# params": ("params",), "SDR": ("task", "sdr-vocals")}, global_sdr=True),
    Spec("4.1", "SDR", (("dedicated", "u7-dcse"), ("FiLM CUNet", "cunet-film"), ("FiLM CUNet + TDF", "cunet-film-tdf"),
                        ("FiLM CUNet + LaSAFT", "cunet-film-lasaft"), ("GPoCM CUNet", "cunet-gpocm"),
                        ("GPoCM CUNet + TDF", "cunet-gpocm-tdf"), ("GPoCM CUNet + LaSAFT", "cunet-gpocm-lasaft")),
         {**_SDR_COLS, "AVG": ("avg",)}, global_sdr=True),
    Spec("4.2", "SDR", (("Demucs*", None), ("Conv-Tasnet*", None), ("UMX", None), ("DGRU-DGConv", None),
                        ("MMDenseLSTM", None), ("D3Net", None), ("Nachmani*", None),
                        ("dedicated (chapter 3)", "u9l-tfc-tdf"), ("Meta-TasNet*", None),
                        ("LaSAFT+GPoCM", "lasaft-gpocm-net12")),
         {**_SDR_COLS, "AVG": ("avg",)}, global_sdr=True),
    Spec("5.2", "SDR", (("Meta-TasNet", None), ("LaSAFT-GPoCM-Net_12", "lasaft-gpocm-net12"),
                        ("LaSAFT-GPoCM-Net_11", "cunet-gpocm-lasaft"), ("AMSS-Net_separate", "amss-net-separate"),
                        ("AMSS-Net", "amss-net"), ("AMSS-Net w/o CSA", "amss-net-wo-csa"),
                        ("AMSS-Net w/o SMPoCM", "amss-net-wo-smpocm")),
         {**_SDR_COLS, "AVG": ("avg",)}, ("identity", "oracle", "dsp-mixture"), global_sdr=True),
    # 5.3 is long (model × task rows, source columns): rows name the *model*; handled by _mfcc_rows
    Spec("5.3", "mfcc_rmse", (("reference loss", "identity"), ("AMSS-Net", "amss-net"), ("w/o CSA", "amss-net-wo-csa"),
                              ("w/o SMPoCM", "amss-net-wo-smpocm")),
         {s: ("mfcc", s) for s in MFCC_SOURCES}, ("oracle", "dsp-mixture")),
)


# ------------------------------------------------------------------------------------------------------ helpers

def _num(x) -> float | None:
    if x is None:
        return None
    x = float(x)
    return None if (math.isnan(x) or math.isinf(x)) else x


def _ci(row) -> list[float] | None:
    lo, hi = _num(row.get("ci_low")), _num(row.get("ci_high"))
    return None if lo is None or hi is None else [lo, hi]


class _Results:
    """Look-ups into the aggregated cells/groups."""

    def __init__(self, cells: pd.DataFrame, groups: pd.DataFrame):
        self.cells: dict[tuple, dict] = {}
        self.mfcc: dict[tuple, dict] = {}
        self.groups: dict[tuple, dict] = {}
        self.tasks: dict[str, set[str]] = {}
        for r in (cells.to_dict(orient="records") if not cells.empty else []):
            self.cells[(r["label"], r["task_id"], r["metric"])] = r
            self.tasks.setdefault(r["label"], set()).add(r["task_id"])
            if r["kind"] == "mfcc":
                self.mfcc[(r["label"], r["column"], r["source"], r["metric"])] = r
        for r in (groups.to_dict(orient="records") if not groups.empty else []):
            self.groups[(r["label"], r["group"], r["metric"])] = r

    def labels(self) -> set[str]:
        return set(self.tasks)


def _value_fields(metric: str, row: dict | None) -> dict:
    if row is None:
        return {"ours": None, "ci": None, "std": None, "n_runs": None, "n_tracks": None, "at_floor": False}
    v = _num(row["value"])
    floor = v is not None and metric_info(metric).at_floor(v)
    out = {"ours": v, "ci": _ci(row), "std": _num(row.get("std")), "n_runs": int(row["n_runs"]),
           "n_tracks": int(row["n_tracks"]), "at_floor": bool(floor)}
    if v is None:
        out["missing_reason"] = ("not finite: the estimate equals the reference in every frame (+inf), which "
                                 "museval stores as NaN" if metric_info(metric).floor is not None  # BSS family
                                 else "not finite")
    return out


def _paper_fields(text: str | None) -> dict:
    p = paper.parse_value(text) if text is not None else None
    if p is None:
        return {"paper": None, "paper_text": text if text not in (None, "") else None, "paper_std": None}
    return {"paper": p.value, "paper_text": p.text, "paper_std": p.std}


def _delta(cell: dict) -> None:
    o, p = cell.get("ours"), cell.get("paper")
    ok = o is not None and isinstance(p, (int, float)) and not cell.get("at_floor") and cell.get("metric") not in \
        ("blocks",)
    cell["delta"] = (o - p) if ok else None


def _missing_system(label: str, profile: str) -> str:
    return (f"no results for {label}: model not trained or not evaluated in profile {profile} "
            "(params.yaml train:/evaluate: lists)")


def _missing_task(res: _Results, label: str, task: str) -> str:
    have = sorted(t for t in res.tasks.get(label, ()) if t.startswith("sdr-")) or sorted(res.tasks.get(label, ()))
    return f"task {task} not evaluated for {label} (its results cover only: {', '.join(have)})"


def _registry(label: str, profile: str) -> tuple[dict | None, str | None]:
    """(n_params, n_blocks, exact paper-configuration count) of a registry model in ``profile``, or (None, reason)."""
    try:
        from models import registry
    except Exception as err:  # pragma: no cover - the package ships with the suite
        return None, f"models.registry unavailable ({err})"
    if profile not in registry.PROFILES:
        return None, f"profile {profile!r} has no model configurations (known: {', '.join(registry.PROFILES)})"
    try:
        cfg = registry.config_for(label, profile)
        return {"params": registry.count_params(label, profile), "blocks": int(cfg["n_blocks"]),
                "paper_params_exact": registry.get_info(label).published_params}, None
    except KeyError as err:
        return None, str(err)


# ------------------------------------------------------------------------------------------------------ builders

def _sdr_cell(res: _Results, label: str, how: tuple, metric: str, profile: str) -> dict:
    if label not in res.labels():
        return {**_value_fields(metric, None), "missing_reason": _missing_system(label, profile)}
    if how[0] == "task":
        row = res.cells.get((label, how[1], metric))
        if row is None:
            why = _missing_task(res, label, how[1]) if how[1] not in res.tasks.get(label, ()) else \
                f"no {metric} values for {label} on {how[1]} (back-end without {metric}?)"
            return {**_value_fields(metric, None), "missing_reason": why}
        return _value_fields(metric, row)
    # mean over the four targets: only when every target is there (never over what is missing)
    absent = [t for t in TARGETS if (label, f"sdr-{t}", metric) not in res.cells]
    if absent and all(f"sdr-{t}" in res.tasks.get(label, ()) for t in absent):
        return {**_value_fields(metric, None),
                "missing_reason": f"no {metric} values for {label} (back-end without {metric}?)"}
    if absent:
        return {**_value_fields(metric, None),
                "missing_reason": f"mean over the 4 targets not computed: {', '.join(absent)} not evaluated for "
                                  f"{label} (never averaged over missing cells)"}
    return _value_fields(metric, res.groups.get((label, "AVG", metric)))


def _model_cell(label: str, what: str, profile: str, registry_cache: dict) -> dict:
    if label not in registry_cache:
        registry_cache[label] = _registry(label, profile)
    reg, why = registry_cache[label]
    base = {"ours": None, "ci": None, "std": None, "n_runs": None, "n_tracks": None, "at_floor": False}
    if reg is None:
        return {**base, "missing_reason": why}
    if what == "params":
        return {**base, "ours": reg["params"] / 1e6, "ours_exact": reg["params"],
                "paper_config_exact": reg["paper_params_exact"],
                "note": f"registry count of the {profile} configuration (network only; the thesis's large models "
                        "count the STFT window too, docs/models.md)"}
    return {**base, "ours": reg["blocks"], "note": f"n_blocks of the {profile} configuration"}


def _cell(system: str, model: str | None, column: str, metric: str, convention: str | None, values: dict,
          published: str | None, **extra) -> dict:
    cell = {"system": system, "model": model, "column": column, "metric": metric, "convention": convention,
            **_paper_fields(published), **values, **extra}
    _delta(cell)
    return cell


def survey_models() -> list[tuple[str, str, tuple[str, ...]]]:
    """(registry name, thesis (table, row), also_in) of the registry's survey separators (``ModelInfo.collection`` "survey"):
    the models of the survey that the report places beside the published rows and in "Other separators"."""
    try:
        from models import registry
    except Exception:  # pragma: no cover - the package ships with the suite
        return []
    out = []
    for name in registry.survey_names():
        info = registry.get_info(name)
        out.append((name, (info.table, info.row), tuple(info.also_in)))
    return out


def _survey_label(table_id: str, row: str, survey: list) -> str | None:
    """The survey model whose registry metadata names this published row (``table``/``row`` or an ``also_in``
    entry "<table> <row>"), else None."""
    for name, (table, trow), also in survey:
        if (table, trow) == (table_id, row) or f"{table_id} {row}" in also:
            return name
    return None


#: published row -> (display name, registry name) of a *sibling* system printed beside it (not the same system)
SIBLINGS = {"MMDenseLSTM": ("MMDenseNet — sibling of MMDenseLSTM (no LSTM), not the same system", "mmdensenet")}


def _sdr_table(spec: Spec, res: _Results, profile: str, registry_cache: dict) -> list[dict]:
    t = paper.table(spec.id)
    rows: list[dict] = []
    descriptive = [h for h in t.header[1:] if h not in spec.columns]
    survey = survey_models()
    spec_rows = [(name, label if label is not None else _survey_label(spec.id, name, survey))
                 for name, label in spec.rows]
    for (name, label), printed in zip(spec_rows, t.rows):
        by_col = dict(zip(t.header, printed))
        attrs = {h: by_col[h] for h in descriptive}
        for col, how in spec.columns.items():
            published = by_col[col]
            conv = "museval" if how[0] in ("task", "avg") else None
            metric = spec.metric if conv else how[0]
            if label is None:
                values = {"ours": None, "ci": None, "std": None, "n_runs": None, "n_tracks": None,
                          "at_floor": False, "missing_reason": PUBLISHED_ONLY}
            elif how[0] in ("params", "blocks"):
                values = _model_cell(label, how[0], profile, registry_cache)
            else:
                values = _sdr_cell(res, label, how, spec.metric, profile)
            extra = {"attributes": attrs} if attrs else {}
            if label is None:
                extra["published_only"] = True
            rows.append(_cell(name, label, col, metric, conv, values, published, **extra))
        sibling = SIBLINGS.get(name)
        if sibling and sibling[1] in res.labels() and "extra data" not in name:
            for col, how in spec.columns.items():
                if how[0] in ("task", "avg"):
                    rows.append(_cell(sibling[0], sibling[1], col, spec.metric, "museval",
                                      _sdr_cell(res, sibling[1], how, spec.metric, profile), None,
                                      paper_note=f"sibling of the published {name} row; no published number"))
    for label in spec.extra:
        if label not in res.labels():
            continue
        for col, how in spec.columns.items():
            if how[0] not in ("task", "avg"):
                continue
            rows.append(_cell(label, label, col, spec.metric, "museval",
                              _sdr_cell(res, label, how, spec.metric, profile), None, paper_note=NOT_IN_THESIS))
    if spec.global_sdr:
        for (name, label), _ in zip(spec_rows, t.rows):
            if label is None:
                continue
            for col, how in spec.columns.items():
                if how[0] not in ("task", "avg"):
                    continue
                rows.append(_cell(name, label, col, "global_SDR", "global",
                                  _sdr_cell(res, label, how, "global_SDR", profile), None,
                                  paper_note="the thesis reports only the museval median"))
    return rows


def _mfcc_table(spec: Spec, res: _Results, profile: str) -> list[dict]:
    t = paper.table(spec.id)
    label_of = dict(spec.rows)
    rows: list[dict] = []

    def values(label: str, task: str, source: str) -> dict:
        if label not in res.labels():
            return {**_value_fields("mfcc_rmse", None), "missing_reason": _missing_system(label, profile)}
        if task == "mean":
            tasks = [k for k in res.mfcc if k[0] == label and k[2] == source and k[3] == "mfcc_rmse"]
            if len(tasks) < 7:
                return {**_value_fields("mfcc_rmse", None),
                        "missing_reason": f"mean over the 7 tasks not computed: only {len(tasks)} of the {source} "
                                          f"tasks evaluated for {label} (never averaged over missing cells)"}
            return _value_fields("mfcc_rmse", res.groups.get((label, source, "mfcc_rmse")))
        row = res.mfcc.get((label, task, source, "mfcc_rmse"))
        if row is None:
            return {**_value_fields("mfcc_rmse", None),
                    "missing_reason": f"task {task} / {source} not evaluated for {label}"}
        return _value_fields("mfcc_rmse", row)

    for printed in t.rows:
        by_col = dict(zip(t.header, printed))
        name, task = by_col["model"], by_col["task"]
        label = label_of[name]
        for source in MFCC_SOURCES:
            rows.append(_cell(name, label, f"{task} / {source}", "mfcc_rmse", "rmse_mfcc",
                              values(label, task, source), by_col[source], task=task, source=source))
    tasks = list(dict.fromkeys(r[1] for r in t.rows))
    for label in spec.extra:
        if label not in res.labels():
            continue
        for task in tasks:
            for source in MFCC_SOURCES:
                rows.append(_cell(label, label, f"{task} / {source}", "mfcc_rmse", "rmse_mfcc",
                                  values(label, task, source), None, task=task, source=source,
                                  paper_note=NOT_IN_THESIS))
    return rows


PRESERVATION = "preservation"


def preservation_section(res: _Results) -> dict:
    """``tables.json`` ``preservation``: the preservation of the untouched sources by the edits (not a thesis metric,
    so not a thesis table: no published value, never part of a thesis average). Rows: every system (our label) ×
    edit task (``task`` = the Table 5.3 column, ``source`` = the edited source), then per system and source the
    mean over the source's 7 tasks (``task = "mean"``; only when all 7 are there)."""
    m = metric_info(PRESERVATION)
    rows = []
    for label in sorted(res.labels()):
        keys = sorted(k for k in res.mfcc if k[0] == label and k[3] == PRESERVATION)
        for _, column, source, _ in keys:
            rows.append({"system": label, "model": label, "task": column, "source": source, "metric": PRESERVATION,
                         **_value_fields(PRESERVATION, res.mfcc[(label, column, source, PRESERVATION)])})
        for source in MFCC_SOURCES:
            n = sum(1 for k in keys if k[2] == source)
            if not n:
                continue
            g = res.groups.get((label, source, PRESERVATION)) if n == 7 else None
            row = {"system": label, "model": label, "task": "mean", "source": source, "metric": PRESERVATION,
                   **_value_fields(PRESERVATION, g)}
            if g is None:
                row["missing_reason"] = (f"mean over the 7 tasks not computed: only {n} of the {source} tasks "
                                         f"evaluated for {label} (never averaged over missing cells)")
            rows.append(row)
    return {"metric": PRESERVATION, "unit": m.unit, "higher_is_better": m.higher_is_better,
            "aggregation": RULES[PRESERVATION], "floor_db": m.floor, "cap_db": 100.0,
            "definition": "10 log10(Σ untouched sources' energy / Σ energy of the parts of estimate − target that a "
                          "joint 256-tap distortion-filter fit attributes to them), capped at 100 dB; docs/metrics.md",
            "rows": rows}


# ------------------------------------------------------------------------------------------------------ other separators

OTHER_ID = "other"
_OTHER_COLS = {**_SDR_COLS, "AVG": ("avg",)}
OTHER_TITLE = "Other separators: the spatial baselines and the survey's learned separators, per-target SDR"
SPATIAL = ("ica", "duet", "adress", "projet")
#: published reference numbers per system, keyed by the system's name folded to lower-case letters and digits
#: (registry or baseline name): (survey table of benchmark.reporting.paper.SURVEY_MD or "thesis", row, what it is)
PUBLISHED_REFS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "mmdensenet": (("sisec2018", "TAK1", "SiSEC 2018 TAK1 = MMDenseLSTM, MUSDB18 only: a sibling, not the same "
                                         "system"),
                   ("sisec2018", "TAK3", "SiSEC 2018 TAK3 = MMDenseNet + multichannel Wiener filter, 804 extra "
                                         "songs"),
                   ("dsd100", "MMDenseNet", "SiSEC 2016 DSD100: another dataset")),
    "mdensenet": (("dsd100", "MDenseNet", "SiSEC 2016 DSD100: another dataset"),),
    "waveunet": (("sisec2018", "STL2", "SiSEC 2018 STL2 = Wave-U-Net, MUSDB18 only"),),
    "wavenet": (("wavenet", "4 stacks", "Lluís et al. 2019, 4 stacks, MUSDB18 medians"),),
    "wavenetseparator": (("wavenet", "4 stacks", "Lluís et al. 2019, 4 stacks, MUSDB18 medians"),),
    "deepconvsep": (("wavenet", "DeepConvSep 44 kHz", "DeepConvSep 44 kHz as Lluís et al. 2019 report it, MUSDB18 "
                                                       "medians"),),
    "umx": (("thesis", "UMX", "thesis Table 3.6, MUSDB18, no extra data"),),
    "demucsv2": (("thesis", "Demucs", "thesis Table 3.6, MUSDB18, no extra data"),),
    "convtasnet": (("thesis", "Conv-TasNet", "thesis Table 3.6, MUSDB18, no extra data"),),
}
#: reference rows at the bottom: (display, our label or None, SiSEC 2018 entry)
OTHER_REFERENCE_ROWS = (("mixture (SiSEC 2018 MIX; ours: identity)", "identity", "MIX"),
                        ("IRM2 oracle (ideal ratio mask)", None, "IRM2"))


def fold(name: str) -> str:
    """A system name folded for :data:`PUBLISHED_REFS`: lower-case letters and digits only."""
    return "".join(c for c in name.lower() if c.isalnum())


def other_systems() -> list[str]:
    """Every other separator, in order: the spatial baselines, then the registry's survey separators."""
    return list(SPATIAL) + [name for name, _, _ in survey_models()]


def _published_cell(table: str, row: str, col: str) -> str | None:
    if table == "thesis":
        t = paper.table("3.6")
        for r in t.rows:
            if r[0] == row:
                return dict(zip(t.header, r)).get(col)
        return None
    return paper.survey_value(table, row, col)


def _published_fields(text: str | None) -> dict:
    try:
        value = float(text) if text is not None else None
    except ValueError:
        value = None
    return {"paper": value, "paper_text": text, "paper_std": None}


def _other_table(res: _Results, profile: str) -> list[dict]:
    rows: list[dict] = []
    for system in other_systems():
        for col, how in _OTHER_COLS.items():
            values = _sdr_cell(res, system, how, "SDR", profile)
            rows.append(_cell(system, system, col, "SDR", "museval", values, None, paper_note=NOT_IN_THESIS,
                              other_kind="spatial" if system in SPATIAL else "survey"))
        for table, row, what in PUBLISHED_REFS.get(fold(system), ()):
            dataset = "MUSDB18" if table in ("sisec2018", "wavenet", "thesis") else \
                paper.SURVEY_TITLES[table][2]
            for col in _OTHER_COLS:
                text = _published_cell(table, row, col)
                cell = {"system": f"{system}: {what}", "model": None, "column": col, "metric": "SDR",
                        "convention": "museval", **_published_fields(text), "ours": None, "ci": None, "std": None,
                        "n_runs": None, "n_tracks": None, "at_floor": False, "missing_reason": PUBLISHED_ONLY,
                        "published_only": True, "reference_of": system, "dataset": dataset,
                        "source": paper.SURVEY_TITLES[table][1] if table != "thesis" else "Choi 2021, Table 3.6"}
                cell["delta"] = None
                rows.append(cell)
    for display, label, entry in OTHER_REFERENCE_ROWS:
        for col, how in _OTHER_COLS.items():
            text = paper.survey_value("sisec2018", entry, col)
            if label is not None:
                values = _sdr_cell(res, label, how, "SDR", profile)
                cell = _cell(display, label, col, "SDR", "museval", values, None, paper_note=NOT_IN_THESIS)
                cell.update(_published_fields(text), dataset="MUSDB18", source=paper.SURVEY_TITLES["sisec2018"][1])
                cell["delta"] = None  # embedded synthetic set vs MUSDB18: printed side by side, never subtracted
            else:
                cell = {"system": display, "model": None, "column": col, "metric": "SDR", "convention": "museval",
                        **_published_fields(text), "ours": None, "ci": None, "std": None, "n_runs": None,
                        "n_tracks": None, "at_floor": False, "missing_reason": PUBLISHED_ONLY,
                        "published_only": True, "dataset": "MUSDB18", "source": paper.SURVEY_TITLES["sisec2018"][1],
                        "delta": None}
            rows.append(cell)
    return rows


def build_tables(cells: pd.DataFrame, groups: pd.DataFrame, *, profile: str, manifest_hash: str | None,
                 n_tracks: int | None, sdr_backend, sdr_scoring=None) -> dict:
    """The ``tables.json`` document: every thesis table, every printed cell."""
    res = _Results(cells, groups)
    registry_cache: dict = {}
    tables = []
    for spec in SPECS:
        title = paper.TITLES[spec.id][0]
        if spec.metric == "mfcc_rmse":
            rows = _mfcc_table(spec, res, profile)
        else:
            rows = _sdr_table(spec, res, profile, registry_cache)
        m = metric_info(spec.metric)
        tables.append({
            "id": spec.id, "title": title, "metric": spec.metric, "unit": m.unit,
            "higher_is_better": m.higher_is_better,
            "aggregation": RULES[spec.metric],
            "conventions": sorted({r["convention"] for r in rows if r["convention"]}),
            "columns": list(spec.columns),
            "rows": rows,
        })
    m = metric_info("SDR")
    tables.append({
        "id": OTHER_ID, "title": OTHER_TITLE, "metric": "SDR", "unit": m.unit, "higher_is_better": m.higher_is_better,
        "aggregation": RULES["SDR"], "conventions": ["museval"], "columns": list(_OTHER_COLS),
        "rows": _other_table(res, profile),
        "note": "Not a thesis table. Published numbers are of MUSDB18 (SiSEC 2018, thesis Table 3.6, Lluís et al. "
                "2019) or of DSD100 (another dataset), each row naming its source; SiSEC 2018 had no ICA, DUET, "
                "ADRess or PROJET entry. Open-Unmix separates with the step params.yaml evaluate.wiener sets "
                "(default: its package's multichannel Wiener filter, 1 EM iteration; docs/models.md).",
    })
    return {
        "tables_version": TABLES_VERSION,
        "profile": profile,
        "comparable_with_paper": profile == "paper",
        "testset": {"manifest_hash": manifest_hash, "n_tracks": n_tracks},
        "sdr_backend": sdr_backend,
        "sdr_scoring": sdr_scoring,
        "conventions": CONVENTIONS,
        "floor": {"bss_eval_db": metric_info("SDR").floor,
                  "rule": "SDR-family values at or above the floor are float rounding, not measurement: printed "
                          "'≥ floor', at_floor = true, no Δ"},
        "tables": tables,
        "preservation": preservation_section(res),
    }


# ------------------------------------------------------------------------------------------------------ headline

#: column of a thesis SDR table -> headline key ("SDR" of Tables 3.5/3.7 is the vocals SDR; mean/all/AVG -> AVG)
_HEADLINE_SDR = {"vocals": "SDR_vocals", "drums": "SDR_drums", "bass": "SDR_bass", "other": "SDR_other",
                 "SDR": "SDR_vocals", "mean": "SDR_AVG", "AVG": "SDR_AVG"}


def headline(doc: dict) -> dict[str, dict[str, float]]:
    """The headline numbers for ``dvc metrics``: per system (our label), a small flat dict of its thesis-convention
    numbers, rounded to 4 decimals: ``SDR_<target>`` and ``SDR_AVG`` (museval median; AVG only when all four targets
    are there) from the SDR tables, ``RMSE_MFCC_mean_<source>`` from Table 5.3, and, apart from the thesis numbers,
    ``PRES_mean_<source>`` (the preservation of the untouched sources, mean over the source's 7 edit tasks; a mean
    at the floor is written as the cap, 100: machine-independent, the oracle's perfect score). Otherwise missing,
    non-finite and at-floor cells are left out (never a partial average)."""
    out: dict[str, dict[str, float]] = {}
    pres = doc.get("preservation", {})
    for r in pres.get("rows", []):
        if r["task"] == "mean" and r["ours"] is not None:
            value = pres["cap_db"] if r["at_floor"] else round(r["ours"], 4)
            out.setdefault(r["model"], {})[f"PRES_mean_{r['source']}"] = value
    for t in doc["tables"]:
        for r in t["rows"]:
            if r["model"] is None or r["ours"] is None or r["at_floor"]:
                continue
            if t["metric"] == "SDR" and r["convention"] == "museval" and r["column"] in _HEADLINE_SDR:
                key = _HEADLINE_SDR[r["column"]]
            elif t["metric"] == "mfcc_rmse" and r.get("task") == "mean":
                key = f"RMSE_MFCC_mean_{r['source']}"
            else:
                continue
            value = round(r["ours"], 4)
            previous = out.setdefault(r["model"], {}).setdefault(key, value)
            if previous != value:  # pragma: no cover - one model, one number, whichever table prints it
                raise AssertionError(f"{r['model']} {key}: {previous} in one table, {value} in Table {t['id']}")
    return {m: dict(sorted(v.items())) for m, v in sorted(out.items())}


def plot_rows(doc: dict) -> list[dict]:
    """Cells with both numbers (thesis convention), for the ours-vs-published scatter of ``dvc plots``."""
    rows = []
    for t in doc["tables"]:
        if t["id"] == OTHER_ID:  # not a thesis table: its published numbers are of other data sets
            continue
        for r in t["rows"]:
            if r["ours"] is None or r["paper"] is None or r["at_floor"] or r["convention"] not in ("museval",
                                                                                                 "rmse_mfcc"):
                continue
            rows.append({"cell": f"{t['id']} {r['system']} {r['column']}", "table": t["id"], "metric": t["metric"],
                         "ours": round(r["ours"], 4), "paper": r["paper"]})
    return rows


# ------------------------------------------------------------------------------------------------------ markdown

def _f(cell: dict, key: str = "ours") -> str:
    v = cell.get(key)
    if v is None:
        return "—"
    if key == "ours" and cell.get("at_floor"):
        return "≥ floor"
    if cell["metric"] == "blocks":
        return str(v)
    if cell["metric"] == "params":
        return f"{v:.2f}M"
    return f"{v:.2f}"


def _glance(cell: dict) -> str:
    if cell.get("published_only"):
        return f"*{cell['paper_text']}*" if cell.get("paper_text") else "—"
    ours = _f(cell)
    if cell.get("paper_text") is None:
        return ours
    d = cell.get("delta")
    unit = "M" if cell["metric"] == "params" else ""
    tail = "" if d is None else f"; Δ {d:+.2f}{unit}"
    text = f"{ours} ({cell['paper_text']}{tail})"
    if cell["metric"] == "params" and cell.get("ours_exact") != cell.get("paper_config_exact"):
        text += f"; paper configuration {cell['paper_config_exact'] / 1e6:.2f}M"
    return text


def _wide(rows: list[dict], columns: list[str], key=lambda r: r["system"], col=lambda r: r["column"]) -> list[str]:
    order = list(dict.fromkeys(key(r) for r in rows))
    grid = {(key(r), col(r)): r for r in rows}
    lines = ["| system | " + " | ".join(columns) + " |", "|" + "---|" * (len(columns) + 1)]
    for name in order:
        cells = [grid.get((name, c)) for c in columns]
        first = next(c for c in cells if c is not None)
        label = name
        if first.get("published_only"):
            label += " — *published, not recomputed*"
        elif first.get("paper_note") == NOT_IN_THESIS:
            label += " *(ours only)*"
        elif first["model"] and first["model"] != name:
            label += f" (`{first['model']}`)"
        lines.append("| " + label + " | " + " | ".join("" if c is None else _glance(c) for c in cells) + " |")
    return lines


def _long(rows: list[dict]) -> list[str]:
    lines = ["| system | column | convention | ours | paper | Δ | 95 % CI | runs | tracks | note |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if r.get("published_only"):
            continue
        ci = "—" if r["ci"] is None else ("≥ floor" if r["at_floor"] else f"[{r['ci'][0]:.2f}, {r['ci'][1]:.2f}]")
        note = r.get("missing_reason") or r.get("paper_note") or ""
        if r["metric"] == "params" and r["ours"] is not None:
            note = f"{r['ours_exact']:,} ({r['note'].split(' (')[0]}); paper configuration {r['paper_config_exact']:,}"
        d = "—" if r["delta"] is None else f"{r['delta']:+.2f}"
        lines.append(f"| {r['system']} | {r['column']} | {r['convention'] or r['metric']} | {_f(r)} | "
                     f"{r['paper_text'] or '—'} | {d} | {ci} | {r['n_runs'] or '—'} | {r['n_tracks'] or '—'} | "
                     f"{note} |")
    return lines


def _missing(rows: list[dict]) -> list[str]:
    seen: dict[str, list[str]] = {}
    for r in rows:
        why = r.get("missing_reason")
        if why and not r.get("published_only") and r["convention"] != "global":
            seen.setdefault(why, []).append(f"{r['system']} / {r['column']}")
    return [f"* {', '.join(cells)}: {why}" for why, cells in seen.items()]


def scoring_note(scoring) -> str:
    """`` (scoring: joint, pair; …)`` after the SDR back-end in a header; empty for results without the key.
    joint = one 4-target BSS-Eval call per track; pair = each dedicated model on its own (docs/fidelity.md §1)."""
    if not scoring:
        return ""
    return f" (scoring: {', '.join(scoring)}" + ("; pair = dedicated models vs. {target, accompaniment}, "
                                                  "docs/fidelity.md §1)" if "pair" in scoring else ")")


def markdown(doc: dict) -> list[str]:
    """The thesis tables as markdown lines (an at-a-glance table per table, then every cell in a <details>)."""
    backend = ", ".join(doc["sdr_backend"] or []) or "—"
    backend += scoring_note(doc.get("sdr_scoring"))
    h = doc["testset"]["manifest_hash"] or ""
    lines = ["## The thesis tables, cell by cell", "",
             f"Profile **{doc['profile']}** · test-set manifest `{h[:16]}…` ({doc['testset']['n_tracks']} tracks) · "
             f"SDR back-end {backend}. Every cell: ours (published; Δ = ours − published). "
             + ("" if doc["comparable_with_paper"] else "**Profile embedded: the published column shows what the "
                "table means; the numbers are not comparable with the thesis.** ")
             + "Our 95 % bootstrap intervals over tracks, runs and tracks per cell are in the details of each table "
               "and in `tables.json`. Values at the numerical floor (SDR family ≥ "
             f"{doc['floor']['bss_eval_db']:g} dB: float rounding) print as \"≥ floor\". Nothing is averaged over "
             "missing cells: each missing cell says why.", ""]
    for t in doc["tables"]:
        rows = t["rows"]
        if t["id"] == OTHER_ID:
            lines += [f"### {t['title']}", "", t["note"] + " Published rows are in italics (not recomputed); "
                      "nothing is subtracted across datasets.", ""]
        else:
            lines += [f"### Table {t['id']} — {t['title']}", ""]
        direction = "higher is better" if t["higher_is_better"] else "lower is better"
        lines += [f"{METRIC_LABEL[t['metric']]}, {direction}. Aggregation: {t['aggregation']}"
                  + (" (thesis convention, museval)" if family_of(t["metric"]).name == "bss_eval" else "") + ". "
                  f"Profile {doc['profile']}, manifest `{h[:16]}…`, SDR back-end {backend}.", ""]
        main = [r for r in rows if r["convention"] != "global"]
        if t["metric"] == "mfcc_rmse":
            lines += ["The `reference loss` row is our `identity` (the unmanipulated input scored against the "
                      "target, protocol §3.2).", ""]
            lines += _wide(main, list(MFCC_SOURCES), key=lambda r: f"{r['system']} — {r['task']}",
                           col=lambda r: r["source"]) + [""]
        else:
            lines += _wide(main, t["columns"]) + [""]
        glob = [r for r in rows if r["convention"] == "global"]
        if glob:
            lines += [f"Same systems, **global SDR** ({CONVENTIONS['global']}):", ""]
            lines += _wide(glob, [c for c in t["columns"] if c not in ("# params", "# blocks")]) + [""]
        missing = _missing(rows)
        if missing:
            lines += ["Missing cells:", ""] + missing + [""]
        lines += ["<details><summary>every cell: CI, runs, tracks</summary>", ""] + _long(rows) + \
            ["", "</details>", ""]
    return lines
