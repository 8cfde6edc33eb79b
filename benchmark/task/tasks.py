"""Versioned evaluation tasks: the 4 SDR tasks of Table 5.2 and the 21 RMSE-MFCC tasks of Table 5.3 (protocol §3).

Every task has an id, a version and the default description fed to the models. Changing what a task computes
(its description, its DSP, its input/target definition) means a new version and a line in ``CHANGELOG``; results
record the task version, and results of another version are never mixed into one table.

Every task declares the metric families it is scored with (``metric_families``, names of
``benchmark.scoring.metricinfo.FAMILIES``): evaluation computes them, aggregation and the tables loop over them. The
declaration lives in :data:`KIND_FAMILIES`, once per kind; ``kind`` itself stays what the result files record
("sdr": the model reads the mixture, the SDR tasks of a track are scored jointly; "mfcc": the corrected
Algorithm 1 pair).
"""

from __future__ import annotations

from dataclasses import dataclass

from benchmark.task import aml

TASKS_SCHEMA = 1

#: task kind -> the metric families its tasks are scored with (benchmark/scoring/metricinfo.py FAMILIES): SDR tasks →
#: BSS-Eval v4 + the global SDR; edit tasks → RMSE-MFCC with its MAE companions, and the preservation of the untouched
#: sources (read beside RMSE-MFCC). The one place a kind meets metrics.
KIND_FAMILIES: dict[str, tuple[str, ...]] = {"sdr": ("bss_eval", "global_sdr"), "mfcc": ("rmse_mfcc", "preservation")}


@dataclass(frozen=True)
class Task:
    id: str
    version: int
    description: str  # the default description fed to the model
    kind: str  # "sdr": input = mixture.wav, target = one musdb target; "mfcc": corrected Algorithm 1 pair
    source: str  # the column's source: vocals/drums/bass (other for the mute task)
    table: str  # thesis table
    column: str  # table column (SDR: target; RMSE-MFCC: task family)
    # the metric families it is scored with (KIND_FAMILIES[kind]); their metric keys: metricinfo.task_metrics(task).
    # This module imports no metric code, so the stages that only read tasks (testset, silence, listen) do not
    # depend on the metric registry.
    metric_families: tuple[str, ...] = ()

    def scores_with(self, family: str) -> bool:
        """Whether the task is scored with this metric family (``benchmark.scoring.metricinfo.FAMILIES``)."""
        return family in self.metric_families

    @property
    def query(self) -> aml.Query:
        return aml.parse(self.description)

    @property
    def museval_target(self) -> str | None:
        return self.source if self.kind == "sdr" else None


_COLUMNS = {  # RMSE-MFCC task family → (id prefix, Table 5.3 column)
    "pan_left_hard": ("pan-left", "pan left"), "pan_right_hard": ("pan-right", "pan right"),
    "volume_down": ("volume-down", "decrease volume"), "volume_up": ("volume-up", "increase volume"),
    "lowpass": ("lowpass", "lowpass filter"), "highpass": ("highpass", "highpass filter"),
    "dereverb": ("dereverb", "dereverberation"),
}


def _build() -> tuple[Task, ...]:
    tasks = []
    for desc, source in zip(aml.SDR_DESCRIPTIONS, ("vocals", "drums", "bass", "other")):
        tasks.append(Task(f"sdr-{source}", 1, desc, "sdr", source, "5.2", source, KIND_FAMILIES["sdr"]))
    for desc in aml.MFCC_DESCRIPTIONS:
        q = aml.parse(desc)
        prefix, column = _COLUMNS[q.operation]
        tasks.append(Task(f"{prefix}-{q.targets[0]}", 1, desc, "mfcc", q.targets[0], "5.3", column,
                          KIND_FAMILIES["mfcc"]))
    return tuple(tasks)


EVAL_TASKS = _build()
_BY_ID = {t.id: t for t in EVAL_TASKS}
TASK_GROUPS = {"sdr": tuple(t for t in EVAL_TASKS if t.kind == "sdr"),
               "mfcc": tuple(t for t in EVAL_TASKS if t.kind == "mfcc"),
               "all": EVAL_TASKS}

CHANGELOG = (
    ("2026-11-21", "all tasks", 1, "initial definitions following protocol §3.1/§3.2 (default descriptions, "
                                   "signed-peak normalisation, SoX 14.4.2 effects)"),
)


def get_task(task_id: str) -> Task:
    try:
        return _BY_ID[task_id]
    except KeyError:
        raise KeyError(f"unknown task id {task_id!r}; known: {', '.join(_BY_ID)}") from None


def families_of_kind(kind: str) -> tuple[str, ...]:
    """The metric families a result of this kind carries (``KIND_FAMILIES``)."""
    try:
        return KIND_FAMILIES[kind]
    except KeyError:
        raise KeyError(f"unknown task kind {kind!r}; known: {', '.join(KIND_FAMILIES)}") from None


def task_for_query(query: str | aml.Query) -> Task | None:
    """The evaluation task whose default description is this query (after parsing), if any."""
    q = aml.parse(query) if isinstance(query, str) else query
    for t in EVAL_TASKS:
        if t.description == q.canonical:
            return t
    return None
