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
    rows = {line.split(" | ")[0].strip("| "): line for line in md.splitlines() if line.startswith("| ")}
    assert {"identity", "oracle", "dsp-mixture"} <= set(rows)
    sdr_rows = [line for line in md.split("## RMSE-MFCC")[0].splitlines() if line.startswith("| oracle")]
    assert sdr_rows == ["| oracle | — | — | — | — | — |"]
    # oracle: RMSE-MFCC exactly 0 on every task; its SDR is +inf → NaN (shown as —)
    assert rows["oracle"].count("0.00") >= 21
    summary = json.loads((out / "summary.json").read_text())
    assert summary["profile"] == "embedded" and summary["cells"]
    assert (out / "sdr.png").stat().st_size > 1000 and (out / "rmse_mfcc.png").stat().st_size > 1000


def test_report_errors(tmp_path, results, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["report", "--results", str(tmp_path / "empty"), "--testset", str(results / "ts"),
                 "--out", str(tmp_path / "r"), "--profile", "embedded"]) == 2
    assert "no result files" in capsys.readouterr().err
    assert main(["report", "--results", str(results / "results"), "--testset", str(tmp_path / "nope"),
                 "--out", str(tmp_path / "r"), "--profile", "embedded"]) == 2
    assert "no test-set manifest" in capsys.readouterr().err
