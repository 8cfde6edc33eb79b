"""`amss-bench report`: tables and figures from a results folder."""

import json

import pytest

from benchmark.cli import main


@pytest.fixture(scope="module")
def results(baseline_results):
    return baseline_results  # tests/conftest.py: the tiny test set and the three baselines evaluated on it


def test_report_tables_and_figures(results, capsys):
    out = results / "report"
    assert main(["report", "--results", str(results / "results"), "--testset", str(results / "ts"),
                 "--out", str(out), "--profile", "embedded"]) == 0
    md = (out / "tables.md").read_text()
    assert "not comparable with the thesis" in md
    assert "## Every system: SDR (dB), layout of thesis Table 5.2" in md
    assert "## Every system: RMSE-MFCC, layout of thesis Table 5.3" in md
    tables_md = md.split("## Every system: SDR")[1].split("## Preservation of untouched sources")[0]
    rows = {line.split(" | ")[0].strip("| "): line for line in tables_md.splitlines() if line.startswith("| ")}
    assert {"identity", "oracle", "dsp-mixture"} <= set(rows)
    sdr_rows = [line for line in md.split("## Every system: SDR")[1].split("## Every system: RMSE-MFCC")[0].splitlines()
                if line.startswith("| oracle")]
    assert sdr_rows == ["| oracle | — | — | — | — | — |"]
    # oracle: RMSE-MFCC exactly 0 on every task; its SDR is +inf → NaN (shown as —)
    assert rows["oracle"].count("0.00") >= 21
    summary = json.loads((out / "summary.json").read_text())
    assert summary["profile"] == "embedded" and summary["cells"]
    assert (out / "sdr.png").stat().st_size > 1000 and (out / "rmse_mfcc.png").stat().st_size > 1000
    # the do-nothing check: the oracle beats the identity on every RMSE-MFCC/MAE task; the DSP-on-mixture baseline
    # equals the identity on the SDR tasks (its input is the mixture), so it is "not better" there
    assert "## Better than doing nothing?" in md
    check = {e["system"]: e for e in summary["do_nothing"]}
    assert set(check) == {"oracle", "dsp-mixture"}
    assert check["oracle"]["beats"] and check["oracle"]["metrics"]["RMSE-MFCC"] == {
        "tasks": 21, "better": 21, "not_finite": 0, "mean_delta": pytest.approx(
            check["oracle"]["metrics"]["RMSE-MFCC"]["mean_delta"]), "not_better_on": []}
    assert check["oracle"]["metrics"]["RMSE-MFCC"]["mean_delta"] < 0
    assert check["oracle"]["metrics"]["SDR"]["tasks"] == 0 and check["oracle"]["metrics"]["SDR"]["not_finite"] == 4
    assert not check["dsp-mixture"]["beats"] and check["dsp-mixture"]["metrics"]["SDR"]["better"] == 0
    rows_check = [line for line in md.split("## Better than doing nothing?")[1].splitlines() if line.startswith("| ")]
    assert any(line.startswith("| oracle |") and line.endswith("| yes |") for line in rows_check)
    assert any(line.startswith("| dsp-mixture |") and line.endswith("| **no** |") for line in rows_check)


def test_do_nothing_check_directions():
    import pandas as pd

    from benchmark.reporting.report import do_nothing_check

    rows = []
    for label, sdr, mfcc, mae in (("identity", 1.0, 5.0, 0.1), ("good", 2.0, 4.0, 0.05), ("mixed", 3.0, 6.0, 0.05)):
        rows += [dict(label=label, metric="SDR", task_id="sdr-vocals", value=sdr),
                 dict(label=label, metric="mfcc_rmse", task_id="pan-left-vocals", value=mfcc),
                 dict(label=label, metric="mae", task_id="pan-left-vocals", value=mae)]
    rows.append(dict(label="good", metric="SDR", task_id="sdr-drums", value=float("nan")))
    check = {e["system"]: e for e in do_nothing_check(pd.DataFrame(rows))}
    assert set(check) == {"good", "mixed"}
    assert check["good"]["beats"] and check["good"]["metrics"]["SDR"]["not_finite"] == 1
    assert check["good"]["metrics"]["RMSE-MFCC"]["mean_delta"] == pytest.approx(-1.0)
    assert not check["mixed"]["beats"]
    assert check["mixed"]["metrics"]["RMSE-MFCC"] == {"tasks": 1, "better": 0, "not_finite": 0, "mean_delta": 1.0,
                                                      "not_better_on": ["pan-left-vocals"]}
    assert check["mixed"]["metrics"]["SDR"]["better"] == 1 and check["mixed"]["metrics"]["MAE"]["better"] == 1


def test_report_errors(tmp_path, results, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["report", "--results", str(tmp_path / "empty"), "--testset", str(results / "ts"),
                 "--out", str(tmp_path / "r"), "--profile", "embedded"]) == 2
    assert "no result files" in capsys.readouterr().err
    assert main(["report", "--results", str(results / "results"), "--testset", str(tmp_path / "nope"),
                 "--out", str(tmp_path / "r"), "--profile", "embedded"]) == 2
    assert "no test-set manifest" in capsys.readouterr().err


def test_report_outputs_are_byte_reproducible(results):
    """Two reports of the same results (into two folders) are byte-identical — no date, host name, path or
    matplotlib version (PNG text chunk) in summary.json, tables.md or the figures."""
    outs = [results / "repro-a", results / "repro-b" / "elsewhere"]
    for out in outs:
        assert main(["-q", "report", "--results", str(results / "results"), "--testset", str(results / "ts"),
                     "--out", str(out), "--profile", "embedded"]) == 0
    assert sorted(p.name for p in (outs[0] / "metrics").iterdir()) == ["dsp-mixture.json", "identity.json",
                                                                       "oracle.json"]
    for name in ("summary.json", "tables.md", "tables.json", "cells.csv", "sdr.png", "rmse_mfcc.png",
                 "metrics/identity.json", "metrics/oracle.json", "metrics/dsp-mixture.json"):
        a, b = (outs[0] / name).read_bytes(), (outs[1] / name).read_bytes()
        assert a == b, name
        assert str(results).encode() not in a, name
    for name in ("sdr.png", "rmse_mfcc.png"):
        assert not {"tEXt", "iTXt", "zTXt", "tIME"} & set(_png_chunks((outs[0] / name).read_bytes())), name


def test_report_thesis_tables(results):
    """tables.json carries every thesis table; with only the baselines evaluated, every model cell is missing and
    says why, the reference-loss row of Table 5.3 is the identity's, and nothing is averaged over missing cells."""
    out = results / "report"
    if not (out / "tables.json").is_file():
        assert main(["-q", "report", "--results", str(results / "results"), "--testset", str(results / "ts"),
                     "--out", str(out), "--profile", "embedded"]) == 0
    doc = json.loads((out / "tables.json").read_text())
    assert [t["id"] for t in doc["tables"]] == ["3.1", "3.2", "3.3", "3.4", "3.5", "3.6", "3.7", "4.1", "4.2", "5.2",
                                                "5.3", "other"]
    assert doc["profile"] == "embedded" and doc["comparable_with_paper"] is False
    assert doc["testset"]["n_tracks"] == 2 and len(doc["testset"]["manifest_hash"]) == 64
    for t in doc["tables"]:
        assert {"id", "title", "metric", "rows", "aggregation"} <= set(t)
        for r in t["rows"]:
            assert {"system", "column", "ours", "paper", "ci", "n_runs", "n_tracks", "at_floor"} <= set(r)
            if r["ours"] is None:
                assert r["missing_reason"], (t["id"], r)
    t31 = next(t for t in doc["tables"] if t["id"] == "3.1")
    dcse = [r for r in t31["rows"] if r["model"] == "u7-dcse"]
    assert dcse and all(r["ours"] is None and "not trained or not evaluated in profile embedded" in r["missing_reason"]
                        for r in dcse)
    t53 = next(t for t in doc["tables"] if t["id"] == "5.3")
    ref = [r for r in t53["rows"] if r["system"] == "reference loss"]
    assert len(ref) == 24 and all(r["ours"] is not None and r["paper"] is not None and r["n_runs"] == 1
                                  and r["n_tracks"] == 2 and r["ci"] is not None for r in ref)
    oracle = [r for r in t53["rows"] if r["model"] == "oracle"]
    assert len(oracle) == 24 and all(r["ours"] == 0.0 and r["paper"] is None for r in oracle)
    # sdr-only back-end: no ISR/SIR/SAR, said so
    isr = next(r for r in next(t for t in doc["tables"] if t["id"] == "3.2")["rows"] if r["model"] == "identity")
    assert isr["ours"] is None and "no ISR values" in isr["missing_reason"]
    metrics = json.loads((out / "metrics" / "identity.json").read_text())  # one small flat JSON per system
    assert set(metrics) == {"SDR_vocals", "SDR_drums", "SDR_bass", "SDR_other", "SDR_AVG", "RMSE_MFCC_mean_vocals",
                            "RMSE_MFCC_mean_drums", "RMSE_MFCC_mean_bass", "PRES_mean_vocals", "PRES_mean_drums",
                            "PRES_mean_bass"}
    assert all(isinstance(v, float) for v in metrics.values())
    ref = {r["source"]: r["ours"] for r in ref if r["task"] == "mean"}
    assert metrics["RMSE_MFCC_mean_vocals"] == round(ref["vocals"], 4)
    oracle_metrics = json.loads((out / "metrics" / "oracle.json").read_text())
    assert oracle_metrics == {"RMSE_MFCC_mean_bass": 0.0, "RMSE_MFCC_mean_drums": 0.0, "RMSE_MFCC_mean_vocals": 0.0,
                              "PRES_mean_bass": 100.0, "PRES_mean_drums": 100.0, "PRES_mean_vocals": 100.0}
    md = (out / "tables.md").read_text()
    assert "### Table 5.3 — RMSE-MFCC" in md and "| reference loss — pan left (`identity`) |" in md
    assert (out / "cells.csv").read_text().startswith("cell,table,metric,paper,ours\n5.3 reference loss pan left")


@pytest.mark.parametrize("damage", ["malformed", "incomplete"])
def test_bad_results_stop_the_report_and_leave_the_previous_one(results, tmp_path, capsys, damage):
    import shutil

    src = tmp_path / "results"
    shutil.copytree(results / "results", src)
    out = tmp_path / "report"
    assert main(["-q", "report", "--results", str(src), "--testset", str(results / "ts"), "--out", str(out),
                 "--profile", "embedded"]) == 0
    before = {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
    assert {"tables.json", "tables.md", "summary.json", "metrics/identity.json"} <= set(before)
    victim = sorted((src / "identity" / "pan-left-vocals").glob("*.json"))[0]
    if damage == "malformed":
        victim.write_text(victim.read_text()[:-40])
    else:
        victim.unlink()
    capsys.readouterr()
    assert main(["-q", "report", "--results", str(src), "--testset", str(results / "ts"), "--out", str(out),
                 "--profile", "embedded"]) == 2
    err = capsys.readouterr().err
    if damage == "malformed":
        assert str(victim) in err and "not valid JSON" in err
    else:
        assert "pan-left-vocals" in err and victim.stem in err and "missing" in err
    assert {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()} == before


def _png_chunks(data: bytes) -> list[str]:
    import struct

    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, kinds = 8, []
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        kinds.append(kind.decode("ascii"))
        pos += 12 + length
    return kinds
