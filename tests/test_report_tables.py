"""The thesis tables of the report (benchmark/reporting/tables.py, benchmark/reporting/paper.py): published numbers, golden cells,
missing-cell reasons, the numerical floor, the headline metrics."""

from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from benchmark.scoring import aggregate
from benchmark.reporting import paper, tables

SPEC = Path(__file__).resolve().parents[2] / "shared" / "spec" / "paper-tables.md"
#: printed numbers per published table (guards the verbatim copy against accidental edits)
N_NUMBERS = {"3.1": 25, "3.2": 25, "3.3": 25, "3.4": 25, "3.5": 12, "3.6": 48, "3.7": 8, "4.1": 35, "4.2": 50,
             "5.2": 35, "5.3": 96}


@pytest.mark.skipif(not SPEC.is_file(), reason="../shared/spec/paper-tables.md not present")
def test_published_tables_are_the_spec_verbatim():
    assert paper.extract_from_spec(SPEC.read_text()) == paper.PUBLISHED_MD


def test_published_numbers_parse():
    assert {t: len(paper.numbers(t)) for t in paper.TITLES} == N_NUMBERS
    p = paper.parse_value("6.34 ± .016")
    assert (p.value, p.std, p.text) == (6.34, 0.016, "6.34 ± .016")
    assert paper.parse_value("1.56M") == paper.Published(1.56, "1.56M", None, "M")
    assert paper.parse_value("3 ± 0.13").value == 3.0 and paper.parse_value("17").value == 17
    assert paper.parse_value("5.4").value == 5.4
    for text in ("n/a", "yes", "1.5k songs", ""):
        assert paper.parse_value(text) is None


def _per_track(values: dict) -> pd.DataFrame:
    """{(label, task_id, metric): [per-track values]} -> a per-track table (one run per label, tracks t0, t1, ...)."""
    rows = []
    for (label, task, metric), vals in values.items():
        kind = "sdr" if task.startswith("sdr-") else "mfcc"
        family = {"global_SDR": "global_sdr", "mfcc_rmse": "rmse_mfcc"}.get(metric, "bss_eval")
        if kind == "sdr":
            source = column = task[4:]
        else:
            from benchmark.task.tasks import get_task

            source, column = get_task(task).source, get_task(task).column
        for i, v in enumerate(vals):
            rows.append(dict(label=label, system=f"{label}-seed1", seed=1, kind=kind, task_id=task, task_version=1,
                             source=source, column=column, track=f"t{i}", family=family, metric=metric, value=v))
    return pd.DataFrame(rows)


TARGETS = ("vocals", "drums", "bass", "other")


@pytest.fixture(scope="module")
def doc():
    vals = {}
    for i, t in enumerate(TARGETS):  # u7-dcse: all four targets, SDR/ISR and global SDR; two tracks
        vals[("u7-dcse", f"sdr-{t}", "SDR")] = [1.0 + i, 3.0 + i]  # median over 2 tracks = mean: 2, 3, 4, 5
        vals[("u7-dcse", f"sdr-{t}", "ISR")] = [10.0, 10.0]
        vals[("u7-dcse", f"sdr-{t}", "global_SDR")] = [0.5, 1.5]
        vals[("oracle", f"sdr-{t}", "ISR")] = [150.0, 160.0]  # at the numerical floor
        vals[("oracle", f"sdr-{t}", "SDR")] = [float("nan"), float("nan")]
    vals[("cunet-film", "sdr-vocals", "SDR")] = [6.0, 8.0]  # only vocals evaluated: no AVG
    for task in ("pan-left-vocals", "pan-left-drums"):
        vals[("identity", task, "mfcc_rmse")] = [4.0, 6.0]
    cells, groups = aggregate.aggregate(_per_track(vals), n_boot=50)
    return tables.build_tables(cells, groups, profile="embedded", manifest_hash="ab" * 32, n_tracks=2,
                               sdr_backend=["fast"])


def _rows(doc, table_id, **match):
    t = next(t for t in doc["tables"] if t["id"] == table_id)
    return [r for r in t["rows"] if all(r.get(k) == v for k, v in match.items())]


def _one(doc, table_id, **match):
    rows = _rows(doc, table_id, **match)
    assert len(rows) == 1, (table_id, match, rows)
    return rows[0]


def test_every_published_number_is_in_the_document_as_printed(doc):
    thesis = [t for t in doc["tables"] if t["id"] != tables.OTHER_ID]  # "other": tests/test_report_other_separators.py
    assert [t["id"] for t in thesis] == list(paper.TITLES)
    for t in thesis:
        printed = Counter(r["paper_text"] for r in t["rows"] if r["paper_text"] is not None)
        assert printed == Counter(paper.numbers(t["id"])), t["id"]
        for r in t["rows"]:
            if r["paper_text"] is not None:
                p = paper.parse_value(r["paper_text"])
                assert (r["paper"], r["paper_std"]) == (p.value, p.std)


def test_golden_cells(doc):
    c = _one(doc, "3.1", model="u7-dcse", column="vocals", convention="museval")
    assert c["system"] == "DCSE" and c["metric"] == "SDR"
    assert (c["ours"], c["paper"], c["paper_text"], c["n_runs"], c["n_tracks"]) == (2.0, 7.05, "7.05", 1, 2)
    assert c["delta"] == pytest.approx(2.0 - 7.05) and c["at_floor"] is False
    assert c["ci"][0] == pytest.approx(1.0) and c["ci"][1] == pytest.approx(3.0)
    mean = _one(doc, "3.1", model="u7-dcse", column="mean", convention="museval")
    assert mean["ours"] == pytest.approx(3.5) and mean["paper"] == 5.66 and "missing_reason" not in mean
    g = _one(doc, "3.1", model="u7-dcse", column="vocals", convention="global")
    assert g["metric"] == "global_SDR" and g["ours"] == pytest.approx(1.0) and g["paper"] is None \
        and g["delta"] is None
    # Table 3.2 prints "all" for the mean column; ISR of u7-dcse is 10 everywhere
    assert _one(doc, "3.2", model="u7-dcse", column="all")["ours"] == pytest.approx(10.0)
    # 3.5's DCSE row is the same model, vocals; 4.1's "dedicated" too (published 7.07 there, 7.05 in 3.1)
    assert _one(doc, "3.5", model="u7-dcse", column="SDR", convention="museval")["paper"] == 7.07
    assert _one(doc, "4.1", system="dedicated", column="vocals", convention="museval")["ours"] == 2.0
    # 5.3: the reference-loss row is our identity
    ref = _one(doc, "5.3", system="reference loss", task="pan left", source="vocals")
    assert (ref["model"], ref["ours"], ref["paper"]) == ("identity", 5.0, 4.62)
    assert ref["delta"] == pytest.approx(0.38)


def test_missing_cells_say_why_and_nothing_is_averaged_over_them(doc):
    avg = _one(doc, "4.1", model="cunet-film", column="AVG", convention="museval")
    assert avg["ours"] is None and "drums, bass, other not evaluated" in avg["missing_reason"]
    assert "never averaged" in avg["missing_reason"]
    drums = _one(doc, "4.1", model="cunet-film", column="drums", convention="museval")
    assert drums["ours"] is None and "task sdr-drums not evaluated for cunet-film" in drums["missing_reason"]
    assert _one(doc, "4.1", model="cunet-film", column="vocals", convention="museval")["ours"] == 7.0
    dme = _one(doc, "3.1", model="u7-dme", column="vocals", convention="museval")
    assert dme["ours"] is None and "not trained or not evaluated in profile embedded" in dme["missing_reason"]
    demucs = _rows(doc, "3.6", system="Demucs (extra data: 1.5k songs)")
    assert len(demucs) == 4 and all(r["published_only"] and r["ours"] is None and r["model"] is None
                                    and r["missing_reason"].startswith("published, not recomputed") for r in demucs)
    # the survey's Demucs (v2) is a registry model: its row waits for its results
    demucs = _rows(doc, "3.6", system="Demucs", convention="museval")
    assert len(demucs) == 4 and all(r["model"] == "demucs-v2" and r["ours"] is None and r["paper"] is not None
                                    and "no results for demucs-v2" in r["missing_reason"] for r in demucs)
    mean = _one(doc, "5.3", system="reference loss", task="mean", source="vocals")
    assert mean["ours"] is None and "only 1 of the vocals tasks" in mean["missing_reason"]
    assert _one(doc, "5.3", system="reference loss", task="pan right", source="bass")["missing_reason"]
    # every cell without a value of ours says why
    for t in doc["tables"]:
        for r in t["rows"]:
            assert (r["ours"] is None) == bool(r.get("missing_reason")), (t["id"], r)


def test_values_at_the_floor(doc):
    isr = _one(doc, "3.2", model="oracle", column="vocals")
    assert isr["at_floor"] is True and isr["delta"] is None and isr["ours"] == pytest.approx(155.0)
    sdr = _one(doc, "3.1", model="oracle", column="vocals", convention="museval")
    assert sdr["ours"] is None and "museval stores as NaN" in sdr["missing_reason"]
    md = "\n".join(tables.markdown(doc))
    assert "| oracle *(ours only)* | ≥ floor | ≥ floor | ≥ floor | ≥ floor | ≥ floor |" in md


def test_markdown_labels_conventions_and_published_rows(doc):
    md = "\n".join(tables.markdown(doc))
    for tid in paper.TITLES:
        assert f"### Table {tid} — {paper.TITLES[tid][0]}" in md
    assert "Demucs (extra data: 1.5k songs) — *published, not recomputed* | *7.29* |" in md
    assert "| DCSE (`u7-dcse`) | 2.00 (7.05; Δ -5.05) |" in md
    assert "**global SDR** (global SDR of the MDX challenges" in md
    assert "thesis convention, museval" in md and "not comparable with the thesis" in md
    assert "manifest `abababababababab…`" in md and "SDR back-end fast" in md


def test_params_from_the_registry_next_to_the_published():
    from models import registry

    empty = pd.DataFrame()
    for profile in ("paper", "embedded"):
        d = tables.build_tables(empty, empty, profile=profile, manifest_hash=None, n_tracks=None, sdr_backend=None)
        c = _one(d, "3.5", model="u17-tfc-sampling-o", column="# params")
        assert c["paper_text"] == "1.56M" and c["paper"] == 1.56
        assert c["ours_exact"] == registry.count_params("u17-tfc-sampling-o", profile)
        assert c["paper_config_exact"] == 1_564_660
        blocks = _one(d, "3.5", model="u17-tfc-sampling-o", column="# blocks")
        assert blocks["paper"] == 17 and blocks["delta"] is None
    assert c["ours_exact"] < 1_564_660  # embedded is scaled down
    p = _one(tables.build_tables(empty, empty, profile="paper", manifest_hash=None, n_tracks=None, sdr_backend=None),
             "3.7", model="u9l-tfc-tdf-single", column="# params")
    assert p["ours"] == pytest.approx(11.991972) and p["delta"] == pytest.approx(11.991972 - 12.00)


def test_headline_metrics_are_small_flat_dicts_per_system(doc):
    h = tables.headline(doc)
    assert list(h) == ["cunet-film", "u7-dcse"]  # oracle: NaN SDR, ISR at the floor; identity: 5.3 mean needs 7 tasks
    assert h["u7-dcse"] == {"SDR_AVG": 3.5, "SDR_bass": 4.0, "SDR_drums": 3.0, "SDR_other": 5.0, "SDR_vocals": 2.0}
    assert h["cunet-film"] == {"SDR_vocals": 7.0}  # no AVG: never averaged over what is missing
