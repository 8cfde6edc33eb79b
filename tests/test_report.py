"""`amss-bench report`: tables and figures from a results folder."""

import json

import pytest

from baselines import get_system
from benchmark import testset
from benchmark.cli import main
from benchmark.evaluate import evaluate


@pytest.fixture(scope="module")
def results(tiny_root, tmp_path_factory):
    base = tmp_path_factory.mktemp("report")
    testset.build(tiny_root, base / "ts", progress=False)
    for name in ("identity", "oracle", "dsp-mixture"):
        evaluate(get_system(name), base / "ts", base / "results", backend="sdr-only", progress=False)
    return base


def test_report_tables_and_figures(results, capsys):
    out = results / "report"
    assert main(["report", "--results", str(results / "results"), "--testset", str(results / "ts"),
                 "--out", str(out), "--profile", "embedded"]) == 0
    md = (out / "tables.md").read_text()
    assert "not comparable with the thesis" in md
    assert "## SDR (dB), layout of thesis Table 5.2" in md and "## RMSE-MFCC, layout of thesis Table 5.3" in md
    tables_md = md.split("## Better than doing nothing?")[0]
    rows = {line.split(" | ")[0].strip("| "): line for line in tables_md.splitlines() if line.startswith("| ")}
    assert {"identity", "oracle", "dsp-mixture"} <= set(rows)
    sdr_rows = [line for line in md.split("## RMSE-MFCC")[0].splitlines() if line.startswith("| oracle")]
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

    from benchmark.report import do_nothing_check

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
    """Issue 14: two reports of the same results (into two folders) are byte-identical — no date, host name, path or
    matplotlib version (PNG text chunk) in summary.json, tables.md or the figures."""
    outs = [results / "repro-a", results / "repro-b" / "elsewhere"]
    for out in outs:
        assert main(["-q", "report", "--results", str(results / "results"), "--testset", str(results / "ts"),
                     "--out", str(out), "--profile", "embedded"]) == 0
    for name in ("summary.json", "tables.md", "sdr.png", "rmse_mfcc.png"):
        a, b = (outs[0] / name).read_bytes(), (outs[1] / name).read_bytes()
        assert a == b, name
        assert str(results).encode() not in a, name
    for name in ("sdr.png", "rmse_mfcc.png"):
        assert not {"tEXt", "iTXt", "zTXt", "tIME"} & set(_png_chunks((outs[0] / name).read_bytes())), name


def _png_chunks(data: bytes) -> list[str]:
    import struct

    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, kinds = 8, []
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        kinds.append(kind.decode("ascii"))
        pos += 12 + length
    return kinds
