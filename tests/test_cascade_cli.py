"""The separate-then-DSP cascade as a CLI system and a pipeline stage: `evaluate --system
separate-then-dsp --separator-model M --separator-checkpoint P`, its unsupported dereverb tasks visible (results,
summary.json, report table, leaderboard) and never averaged over, a separator that cannot answer the four
separation queries refused, and the `evaluate-cascade` stage's command line as dvc.yaml writes it."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
import yaml

from benchmark.scoring import aggregate
from benchmark.scoring import results as res
from benchmark.cli import evaluate as cmd
from benchmark.task.tasks import get_task
from benchmark.task.testset import TestSet, build

REPO = Path(__file__).resolve().parents[1]
TASKS = ["sdr-vocals", "sdr-other", "pan-left-vocals", "dereverb-vocals"]
SEPARATOR = "cunet-film"


@pytest.fixture(scope="module")
def ts_dir(tiny_root, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("testset")
    build(tiny_root, out, tasks=tuple(get_task(t) for t in TASKS), progress=False)
    return out


@pytest.fixture(scope="module")
def ckpts(tmp_path_factory):
    from models import checkpoint, registry

    d = tmp_path_factory.mktemp("ckpt")
    sep = checkpoint.save(registry.create(SEPARATOR, profile="embedded", seed=3),
                          d / SEPARATOR / "seed2020" / "model.pt", {"seed": 2020})
    ded = checkpoint.save(registry.create("u7-dcse", profile="embedded", source="vocals", seed=1),
                          d / "u7-dcse" / "vocals" / "seed2020" / "model.pt", {"seed": 2020})
    return {"separator": sep, "dedicated": ded}


def _argv(ts_dir, out, *extra):
    return ["--testset", str(ts_dir), "--out", str(out), "--backend", "sdr-only", "--workers", "1",
            "--no-progress", "-q", *extra]


@pytest.fixture(scope="module")
def cascade_out(ts_dir, ckpts, tmp_path_factory):
    out = tmp_path_factory.mktemp("results")
    argv = _argv(ts_dir, out, "--system", "separate-then-dsp", "--separator-model", SEPARATOR,
                 "--separator-checkpoint", str(ckpts["separator"]), "--name", "separate-then-dsp-seed2020",
                 "--label", "separate-then-dsp", "--tasks", ",".join(t for t in TASKS if t != "dereverb-vocals"))
    assert cmd.main(argv) == 0
    return out


def test_group_selections_drop_the_unsupported_tasks_visibly(caplog):
    """`--tasks all` (the stage's call): the 3 dereverb tasks are left out with a warning naming them; 22 remain."""
    from baselines.cascade import SeparateThenDSPSystem

    system = SeparateThenDSPSystem(lambda x: np.zeros((4, *x.shape), np.float32), separator_fingerprint="0" * 64)
    with caplog.at_level("WARNING", logger="amss_bench.evaluate"):
        chosen = [t.id for t in cmd._tasks_for(system, "all")]
    assert len(chosen) == 22 and not any(t.startswith("dereverb-") for t in chosen)
    assert "not evaluated: dereverb-vocals, dereverb-drums, dereverb-bass" in caplog.text
    assert [t.id for t in cmd._tasks_for(system, "sdr")] == ["sdr-vocals", "sdr-drums", "sdr-bass", "sdr-other"]


def test_cli_evaluates_the_supported_tasks_and_records_the_unsupported(cascade_out, ts_dir):
    testset = TestSet.open(ts_dir)
    docs = res.load_results(cascade_out / "separate-then-dsp-seed2020")
    got = {(d["task"]["id"], d["track"]) for d in docs}
    assert got == {(t, tr) for t in TASKS if t != "dereverb-vocals" for tr in testset.tracks()}
    d0 = docs[0]["system"]
    assert (d0["name"], d0["label"], d0["kind"]) == ("separate-then-dsp-seed2020", "separate-then-dsp", "baseline")
    assert d0["metadata"]["unsupported_tasks"] == ["dereverb-vocals", "dereverb-drums", "dereverb-bass"]
    assert docs[0]["run"]["seed"] == 2020  # the separator checkpoint's seed
    summary = json.loads((cascade_out / "separate-then-dsp-seed2020" / "summary.json").read_text())
    assert summary["not_supported"] == {"separate-then-dsp": ["dereverb-vocals"]}  # limited to this test set
    assert {c["task_id"] for c in summary["cells"]} == {"sdr-vocals", "sdr-other", "pan-left-vocals"}
    # the vocals edit mean covers pan-left-vocals only here; the report and the leaderboard must not show it
    g = [g for g in summary["groups"] if g["kind"] == "mfcc" and g["group"] == "vocals"
         and g["metric"] == "mfcc_rmse"]
    assert len(g) == 1 and g[0]["n_tasks"] == 1


def test_cascade_sdr_other_is_the_separators_mute_all_output(cascade_out, ts_dir, ckpts):
    """Independent of the cascade's code: load the pair, ask the checkpoint itself the query, hash the output."""
    from benchmark.base.provenance import array_sha256
    from models import checkpoint

    import torch

    torch.set_num_threads(1)  # as the evaluation runner
    testset = TestSet.open(ts_dir)
    model = checkpoint.load(ckpts["separator"])
    track = testset.tracks()[0]
    pair = testset.load_pair("sdr-other", track)
    doc = res.read_result(res.result_path(cascade_out, "separate-then-dsp-seed2020", "sdr-other", track))
    ref = np.asarray(model.manipulate(np.asarray(pair.input, dtype=np.float32), "mute vocals, drums, bass",
                                      batch_size=8, progress=False), dtype=np.float32)
    if doc["estimate"]["sha256"] != array_sha256(ref):  # same bits unless the thread count changes the sums
        s, e = pair.target.astype(np.float64), ref.astype(np.float64)
        by_hand = 10 * np.log10((np.sum(s ** 2) + 1e-7) / (np.sum((s - e) ** 2) + 1e-7))
        assert doc["global_sdr"] == pytest.approx(by_hand, abs=1e-3)


def test_report_table_shows_not_supported_and_no_shorter_mean(cascade_out, ts_dir):
    from benchmark.reporting.report import mfcc_markdown, mfcc_table

    testset = TestSet.open(ts_dir)
    # the identity answers the dereverb task, so the table has its column (as in the pipeline's report)
    assert cmd.main(_argv(ts_dir, cascade_out, "--system", "identity", "--tasks",
                          "pan-left-vocals,dereverb-vocals")) == 0
    docs = res.load_results(cascade_out)
    tables = aggregate.aggregate_results(docs, testset)
    summary = aggregate.summary_document(tables, testset=testset, results=docs)
    table = mfcc_table(tables["cells"], tables["groups"], summary["not_supported"])
    assert math.isnan(table.loc["separate-then-dsp", ("mean", "vocals")])  # 1 of 2 vocals tasks: no mean
    lines = mfcc_markdown(table, tables["cells"], summary["not_supported"])
    row = next(line for line in lines if line.startswith("| separate-then-dsp |"))
    assert row.count("| not supported |") == 1 and "n/a (not supported)" in row
    ident = next(line for line in lines if line.startswith("| identity |"))
    assert "not supported" not in ident  # a complete system: its cells and its vocals mean
    assert table.loc["identity", ("mean", "vocals")] == pytest.approx(
        tables["groups"].query("label == 'identity' and group == 'vocals' and metric == 'mfcc_rmse'")["value"].item())
    pan = tables["cells"].query("label == 'separate-then-dsp' and task_id == 'pan-left-vocals' "
                                "and metric == 'mfcc_rmse'")["value"].item()
    assert f"{pan:.2f}" in row


def test_leaderboard_row_says_not_supported_not_a_partial_average(cascade_out, ts_dir):
    from benchmark.leaderboard import board

    assert "separate-then-dsp" in board.BASELINES
    testset = TestSet.open(ts_dir)
    summary = json.loads((cascade_out / "separate-then-dsp-seed2020" / "summary.json").read_text())
    row = board.system_row(summary, "separate-then-dsp", testset.tasks())
    assert row["not_supported"] == ["dereverb-vocals"]
    m = row["metrics"]
    for key in ("RMSE_MFCC_vocals", "RMSE_MFCC_all", "MAE_all"):
        assert m[key]["value"] is None and m[key]["note"] == "not supported: dereverb-vocals", key
        assert board._cell(m[key]) == "not supported"
    assert m["SDR_vocals"]["value"] is not None


def test_a_separator_that_cannot_answer_the_four_queries_is_refused(ts_dir, ckpts, tmp_path, capsys):
    argv = _argv(ts_dir, tmp_path, "--system", "separate-then-dsp", "--separator-model", "u7-dcse",
                 "--separator-checkpoint", str(ckpts["dedicated"]))
    assert cmd.main(argv) == 2
    err = capsys.readouterr().err
    assert "'u7-dcse'" in err and str(ckpts["dedicated"]) in err
    for q in ("'separate drums'", "'separate bass'", "'mute vocals, drums, bass'"):
        assert q in err
    assert "cannot answer 'separate vocals'" not in err  # the one it does answer is not named as missing
    assert not list(res.iter_result_paths(tmp_path))


@pytest.mark.parametrize("extra, needle", [
    (["--system", "separate-then-dsp", "--separator-model", SEPARATOR], "--separator-checkpoint"),
    (["--system", "identity", "--separator-model", SEPARATOR], "--system separate-then-dsp only"),
])
def test_incomplete_or_misplaced_separator_flags_are_refused(ts_dir, tmp_path, capsys, extra, needle):
    assert cmd.main(_argv(ts_dir, tmp_path, *extra)) == 2
    assert needle in capsys.readouterr().err


def test_an_explicitly_requested_dereverb_task_is_refused(ts_dir, ckpts, tmp_path, capsys):
    argv = _argv(ts_dir, tmp_path, "--system", "separate-then-dsp", "--separator-model", SEPARATOR,
                 "--separator-checkpoint", str(ckpts["separator"]), "--tasks", "sdr-vocals,dereverb-vocals")
    assert cmd.main(argv) == 2
    assert "does not support task(s) dereverb-vocals" in capsys.readouterr().err
    assert not list(res.iter_result_paths(tmp_path))


def _resolve(text: str, params: dict, item: dict) -> str:
    def look(m):
        key = m.group(1)
        if key.startswith("item."):
            return str(item[key[5:]])
        v = params
        for k in key.split("."):
            v = v[k]
        return str(v)

    return re.sub(r"\$\{([^}]+)\}", look, text)


def test_the_stage_command_parses_as_dvc_yaml_calls_it():
    import argparse

    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    stage = stages["evaluate-cascade"]
    sep = params["evaluate"]["cascade_separator"]
    assert sep in params["train"]["separation"]  # a trained model answering the four queries
    assert stage["matrix"] == {"seed": "${train.seeds}"}
    seed = params["train"]["seeds"][0]
    argv = _resolve(stage["cmd"], params, {"seed": seed}).split()
    assert argv[:2] == ["amss-bench", "evaluate"]
    p = argparse.ArgumentParser()
    cmd.add_arguments(p)
    args = p.parse_args(argv[2:])
    assert (args.system, args.separator_model, args.tasks) == ("separate-then-dsp", sep, "all")
    assert (args.name, args.label) == (f"separate-then-dsp-seed{seed}", "separate-then-dsp")
    deps = [_resolve(d, params, {"seed": seed}) for d in stage["deps"]]
    assert args.separator_checkpoint in deps
    assert args.separator_checkpoint == f"runs/train/{params['profile']}/{sep}/seed{seed}/model.pt"
    outs = [_resolve(next(iter(o)), params, {"seed": seed}) for o in stage["outs"]]
    assert outs == [f"{args.out}/{args.name}"]
    assert "evaluate.cascade_separator" in stage["params"]


def test_model_separator_separates_one_input_once():
    """The 4 SDR tasks of a track give the separator the same mixture: 4 inferences, not 16; a new input, 4 more."""
    from types import SimpleNamespace

    from baselines.cascade import SEPARATION_QUERIES, ModelSeparator

    calls = []

    def manipulate(audio, query, **kw):
        calls.append(query)
        return audio * (1 + SEPARATION_QUERIES.index(query))

    system = SimpleNamespace(model=SimpleNamespace(manipulate=manipulate), batch_size=8, device="cpu",
                             autocast=None, mode=None, pcm16=False, fingerprint="f" * 64)
    sep = ModelSeparator(system)
    x = np.random.default_rng(0).normal(size=(64, 2)).astype(np.float32)
    first = sep(x)
    first[0] = 0  # a caller editing the stems does not touch the cache
    again = sep(x.copy())
    assert calls == list(SEPARATION_QUERIES)
    np.testing.assert_array_equal(again, np.stack([x * k for k in (1, 2, 3, 4)]))
    sep(x + 1)
    assert len(calls) == 8
    assert ModelSeparator.__getstate__(sep)["_last"] is None  # worker processes get no cached stems
