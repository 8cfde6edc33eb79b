"""`amss-bench tasks list`: the task registry as a user reads it ("One place per metric")."""

from __future__ import annotations

import json

from benchmark.task import aml
from benchmark.cli import main
from benchmark.task.tasks import EVAL_TASKS, task_for_query


def test_tasks_list_json_is_the_registry(capsys):
    assert main(["tasks", "list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["id"] for r in rows] == [t.id for t in EVAL_TASKS] and len(rows) == 25
    for r in rows:
        assert task_for_query(aml.parse(r["query"])).id == r["id"]  # the query is the task's own AML description
        assert r["version"] >= 1 and r["table"] in ("5.2", "5.3")
    by_kind = {k: [r for r in rows if r["kind"] == k] for k in ("sdr", "mfcc")}
    assert len(by_kind["sdr"]) == 4 and len(by_kind["mfcc"]) == 21
    assert all(r["metrics"] == ["SDR", "ISR", "SIR", "SAR", "global_SDR"] for r in by_kind["sdr"])
    assert all(r["metrics"] == ["mfcc_rmse", "mfcc_rmse_left", "mfcc_rmse_right", "mae", "mae_left", "mae_right",
                                "preservation"] for r in by_kind["mfcc"])
    assert {r["query"] for r in by_kind["sdr"]} == {"separate vocals", "separate drums", "separate bass",
                                                     "mute vocals, drums, bass"}


def test_tasks_list_text_and_kind_filter(capsys):
    assert main(["tasks", "list", "--kind", "mfcc"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-1].startswith("21 task(s)")
    assert out[0].split()[0] == "pan-left-vocals" and "'pan vocals completely to the left side'" in out[0]
    assert not any(line.startswith("sdr-") for line in out)
