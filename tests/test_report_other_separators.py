"""The other separators in the report (benchmark/reporting/tables.py): the survey's registry models beside their
published rows of thesis Tables 3.6 and 4.2, the MMDenseNet sibling row, the "Other separators" table with the
SiSEC 2018 / survey numbers (benchmark/reporting/paper.py, verbatim from shared/spec/survey.md), the headline."""

from pathlib import Path

import pandas as pd
import pytest

from benchmark.reporting import paper, tables
from benchmark.scoring import aggregate
from models import registry

SURVEY_SPEC = Path(__file__).resolve().parents[2] / "shared" / "spec" / "survey.md"
TARGETS = ("vocals", "drums", "bass", "other")


def _per_track(values: dict) -> pd.DataFrame:
    rows = []
    for (label, task, metric), vals in values.items():
        for i, v in enumerate(vals):
            rows.append(dict(label=label, system=f"{label}-seed1", seed=1, kind="sdr", task_id=task, task_version=1,
                             source=task[4:], column=task[4:], track=f"t{i}", family="bss_eval", metric=metric,
                             value=v))
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def doc():
    vals = {}
    for i, t in enumerate(TARGETS):
        vals[("demucs-v2", f"sdr-{t}", "SDR")] = [1.0 + i, 3.0 + i]  # medians 2, 3, 4, 5
        vals[("umx", f"sdr-{t}", "SDR")] = [0.5, 0.5]
        vals[("duet", f"sdr-{t}", "SDR")] = [-1.0, 1.0]  # median 0
        vals[("identity", f"sdr-{t}", "SDR")] = [0.25, 0.75]
        vals[("mmdensenet", f"sdr-{t}", "SDR")] = [2.0, 2.0]  # a sibling of MMDenseLSTM, evaluated
    cells, groups = aggregate.aggregate(_per_track(vals), n_boot=20)
    return tables.build_tables(cells, groups, profile="embedded", manifest_hash="cd" * 32, n_tracks=2,
                               sdr_backend=["fast"])


def _rows(doc, table_id, **match):
    t = next(t for t in doc["tables"] if t["id"] == table_id)
    return [r for r in t["rows"] if all(r.get(k) == v for k, v in match.items())]


@pytest.mark.skipif(not SURVEY_SPEC.is_file(), reason="../shared/spec/survey.md not present")
def test_survey_numbers_are_the_spec_verbatim():
    assert paper.extract_survey_from_spec(SURVEY_SPEC.read_text()) == paper.SURVEY_MD


def test_survey_values():
    assert paper.survey_value("sisec2018", "TAK1", "vocals") == "6.60"
    assert paper.survey_value("sisec2018", "STL2", "other") == "2.25"
    assert paper.survey_value("sisec2018", "STL1", "drums") is None  # "—"
    assert paper.survey_value("dsd100", "MMDenseNet", "bass") == "3.91"
    assert paper.survey_value("wavenet", "DeepConvSep 44 kHz", "other") == "-2.13"  # the SDR of "SDR / SIR / SAR"


def test_survey_models_sit_beside_their_published_rows(doc):
    for table_id, row, label in (("3.6", "Demucs", "demucs-v2"), ("4.2", "Demucs*", "demucs-v2"),
                                 ("3.6", "UMX", "umx"), ("4.2", "UMX", "umx"),
                                 ("3.6", "Conv-TasNet", "conv-tasnet"), ("4.2", "Conv-Tasnet*", "conv-tasnet")):
        cells = {r["column"]: r for r in _rows(doc, table_id, system=row, convention="museval")}
        assert all(c["model"] == label and not c.get("published_only") for c in cells.values()), (table_id, row)
    vocals = _rows(doc, "3.6", system="Demucs", column="vocals", convention="museval")[0]
    assert (vocals["ours"], vocals["paper"]) == (2.0, 6.84) and vocals["delta"] == pytest.approx(2.0 - 6.84)
    assert _rows(doc, "4.2", system="Demucs*", column="AVG", convention="museval")[0]["ours"] == pytest.approx(3.5)
    # the extra-data rows stay published only; so do systems the suite does not have
    assert all(r["published_only"] for r in _rows(doc, "3.6", system="Demucs (extra data: 1.5k songs)"))
    assert all(r["published_only"] for r in _rows(doc, "3.6", system="D3Net"))
    # MMDenseNet is printed as a sibling of MMDenseLSTM, never in its row
    assert all(r["published_only"] for r in _rows(doc, "3.6", system="MMDenseLSTM"))
    sib = [r for r in _rows(doc, "3.6", model="mmdensenet") if r["convention"] == "museval"]
    assert len(sib) == 4 and all(r["paper"] is None and "sibling" in r["system"] and r["ours"] == 2.0 for r in sib)


def test_the_other_separators_table(doc):
    t = next(t for t in doc["tables"] if t["id"] == tables.OTHER_ID)
    ours = {r["system"] for r in t["rows"] if r["model"] is not None and r.get("other_kind")}
    # every spatial baseline and every survey model of the registry, found by the registry flag
    assert ours == set(tables.SPATIAL) | set(registry.survey_names())
    assert _rows(doc, tables.OTHER_ID, system="duet", column="vocals")[0]["ours"] == pytest.approx(0.0)
    assert "no results for ica" in _rows(doc, tables.OTHER_ID, system="ica", column="bass")[0]["missing_reason"]
    # published references under their system, with dataset and source
    ref = [r for r in t["rows"] if r.get("reference_of") == "umx"]
    assert [r["paper"] for r in ref] == [6.32, 5.73, 5.23, 4.02, None] and all(r["dataset"] == "MUSDB18" for r in ref)
    # the mixture row: ours is the identity system beside SiSEC 2018's MIX, never subtracted
    mix = _rows(doc, tables.OTHER_ID, model="identity", column="vocals")[0]
    assert mix["ours"] == pytest.approx(0.5) and mix["paper"] == 1.12 and mix["delta"] is None
    irm = _rows(doc, tables.OTHER_ID, system="IRM2 oracle (ideal ratio mask)", column="bass")[0]
    assert irm["published_only"] and irm["paper"] == 7.12
    for r in t["rows"]:
        assert (r["ours"] is None) == bool(r.get("missing_reason")), r


@pytest.mark.parametrize("name, refs", [("MMDenseNet", ("TAK1", "TAK3", "MMDenseNet")), ("Wave-U-Net", ("STL2",)),
                                        ("mdensenet", ("MDenseNet",)), ("DeepConvSep", ("DeepConvSep 44 kHz",)),
                                        ("wavenet-separator", ("4 stacks",)), ("waveunet", ("STL2",))])
def test_published_references_of_the_other_helpers_models(name, refs):
    """Models registered elsewhere find their published rows by their folded name."""
    got = tables.PUBLISHED_REFS[tables.fold(name)]
    assert tuple(row for _, row, _ in got) == refs
    for table, row, what in got:
        assert all(tables._published_cell(table, row, c) is not None for c in ("vocals", "drums", "bass")), row
        if table == "dsd100":
            assert "another dataset" in what


def test_markdown_and_headline(doc):
    text = "\n".join(tables.markdown(doc))
    assert "### " + tables.OTHER_TITLE in text and "another dataset" in text
    assert "| duet *(ours only)* |" in text
    head = tables.headline(doc)
    assert head["demucs-v2"]["SDR_vocals"] == 2.0 and head["duet"]["SDR_AVG"] == 0.0
    assert all(r["table"] != tables.OTHER_ID for r in tables.plot_rows(doc))
