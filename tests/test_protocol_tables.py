"""Every entry of the pan, volume and filter tables, and of the Table 5.3 task list, against protocol.md (§2.2, §2.3,
§3.2), through the code path the test set uses (:func:`benchmark.task.dsp.make_pair`), not only the constants.

The expected values are transcribed below; when the specification is reachable (``../shared/spec/protocol.md`` of a
checkout, found from this file upwards) the transcription itself is checked against the tables in it."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from benchmark.task import aml, dsp, tasks
from benchmark.base.constants import SOURCES

# protocol §2.2: (description template, left gain, right gain) on the per-sample channel mean m
PAN = {"pan_left": ("pan {} to the left side", 0.8, 0.2), "pan_right": ("pan {} to the right side", 0.2, 0.8),
       "pan_left_hard": ("pan {} completely to the left side", 1.0, 0.0),
       "pan_right_hard": ("pan {} completely to the right side", 0.0, 1.0)}
# protocol §2.2: x_j <- factor * x_j
VOLUME = {"volume_up": ("increase the volume of {}", 2.0), "volume_down": ("decrease the volume of {}", 0.5)}
# protocol §2.3: level -> (lowpass vocals/drums, lowpass bass, highpass vocals/drums, highpass bass), Hz
FILTER = {"light": (1378, 172, 1378, 86), "medium": (689, 86, 2756, 172), "heavy": (344, 43, 5512, 344)}
# protocol §3.2: Table 5.3 column -> description template (vocals, drums, bass)
TABLE_5_3 = {"pan left": "pan {} completely to the left side", "pan right": "pan {} completely to the right side",
             "decrease volume": "decrease the volume of {}", "increase volume": "increase the volume of {}",
             "lowpass filter": "apply heavy lowpass to {}", "highpass filter": "apply heavy highpass to {}",
             "dereverberation": "remove reverb from {}"}
TARGET_SETS = [("vocals",), ("drums",), ("bass",), ("vocals", "drums"), ("vocals", "bass"), ("drums", "bass"),
               ("vocals", "drums", "bass")]


def _protocol() -> str | None:
    for d in Path(__file__).resolve().parents:
        p = d / "shared" / "spec" / "protocol.md"
        if p.is_file():
            return p.read_text()
    return None


PROTOCOL = _protocol()
needs_spec = pytest.mark.skipif(PROTOCOL is None, reason="../shared/spec/protocol.md not found (the transcription "
                                                          "above is still tested against the code)")


@needs_spec
def test_transcription_equals_protocol_tables():
    rows = {m.group(1): m.group(2) for m in re.finditer(r"^\| (pan (?:left|right), (?:soft|hard)) \| (.*?) \|",
                                                          PROTOCOL, re.M)}
    num = r"(\d\.\d)·m|(0)\b"

    def gains(cell):
        left = re.search(r"x_j\[:,L\] ← (?:" + num + ")", cell)
        right = re.search(r"x_j\[:,R\] ← (?:" + num + ")", cell)
        return tuple(float(g.group(1) or g.group(2)) for g in (left, right))

    assert gains(rows["pan left, soft"]) == PAN["pan_left"][1:]
    assert gains(rows["pan right, soft"]) == PAN["pan_right"][1:]
    assert gains(rows["pan left, hard"]) == PAN["pan_left_hard"][1:]
    assert gains(rows["pan right, hard"]) == PAN["pan_right_hard"][1:]
    assert "x_j ← 2.0·x_j" in PROTOCOL and "x_j ← 0.5·x_j" in PROTOCOL
    for level, values in FILTER.items():
        m = re.search(rf"^\| {level} +\| (\d+) Hz +\| (\d+) Hz +\| (\d+) Hz +\| (\d+) Hz \|", PROTOCOL, re.M)
        assert m and tuple(int(v) for v in m.groups()) == values, level
    for column, template in TABLE_5_3.items():
        m = re.search(rf"^\| {column} \| `(.*?)`", PROTOCOL, re.M)
        assert m and m.group(1) == template.format("vocals"), column


def test_constants_equal_the_protocol():
    assert dsp.PAN_GAINS == {op: v[1:] for op, v in PAN.items()}
    assert dsp.VOLUME_GAINS == {op: v[1] for op, v in VOLUME.items()}
    assert aml.FILTER_Q == 10.0
    for level, (lp_vd, lp_b, hp_vd, hp_b) in FILTER.items():
        for source in ("vocals", "drums"):
            assert aml.filter_cutoff("lowpass", level, source) == lp_vd
            assert aml.filter_cutoff("highpass", level, source) == hp_vd
        assert aml.filter_cutoff("lowpass", level, "bass") == lp_b
        assert aml.filter_cutoff("highpass", level, "bass") == hp_b
    assert len(aml.FILTER_CUTOFFS) == 12


@pytest.fixture(scope="module")
def stems():
    """Four distinct, asymmetric stereo sources (L != R everywhere, so a swapped channel shows)."""
    rng = np.random.default_rng(13)
    s = rng.uniform(-0.2, 0.2, size=(4, 64, 2)).astype(np.float32)
    s[:, :, 0] += 0.05
    return s


def _sum_with(stems, edit, targets):
    edited = [edit(stems[j]) if src in targets else stems[j] for j, src in enumerate(SOURCES)]
    return np.sum(np.stack(edited), axis=0)


@pytest.mark.parametrize("op", list(PAN))
@pytest.mark.parametrize("targets", TARGET_SETS, ids="+".join)
def test_every_pan_through_make_pair(stems, op, targets):
    template, left, right = PAN[op]
    q = aml.parse(template.format(", ".join(targets)))
    assert q.operation == op and set(q.targets) == set(targets)

    def by_hand(x):
        m = (x[:, 0] + x[:, 1]) / 2
        return np.stack([left * m, right * m], axis=1)

    p = dsp.make_pair(stems, q, normalize=False)
    np.testing.assert_array_equal(p.input, np.sum(stems, axis=0))
    np.testing.assert_allclose(p.target, _sum_with(stems, by_hand, targets), rtol=0, atol=1e-6)
    assert p.total_clipped == 0 and set(p.clipped) == set(targets)


def test_hard_left_keeps_left_and_silences_right(stems):
    """protocol §2.2 pan notes: a centred mono source keeps L and loses R entirely under hard-left."""
    mono = np.repeat(stems[:, :, :1], 2, axis=2)
    p = dsp.make_pair(mono, "pan vocals completely to the left side", normalize=False)
    others = np.sum(mono[1:], axis=0)
    np.testing.assert_array_equal(p.target[:, 1], others[:, 1])
    np.testing.assert_allclose(p.target[:, 0], others[:, 0] + mono[0][:, 0], atol=1e-7)


@pytest.mark.parametrize("op", list(VOLUME))
@pytest.mark.parametrize("targets", TARGET_SETS, ids="+".join)
def test_every_volume_change_through_make_pair(stems, op, targets):
    template, factor = VOLUME[op]
    q = aml.parse(template.format(", ".join(targets)))
    assert q.operation == op
    p = dsp.make_pair(stems, q, normalize=False)
    np.testing.assert_allclose(p.target, _sum_with(stems, lambda x: factor * x, targets), rtol=0, atol=1e-7)


@pytest.mark.parametrize("level", list(FILTER))
@pytest.mark.parametrize("op", ["lowpass", "highpass"])
@pytest.mark.parametrize("targets", [("vocals",), ("drums",), ("vocals", "drums"), ("bass",)], ids="+".join)
def test_every_filter_cutoff_reaches_sox(stems, monkeypatch, level, op, targets):
    calls = []

    def fake_sox(x, effect):
        calls.append(tuple(effect))
        return x * 0.5, 0

    monkeypatch.setattr(dsp, "sox_effect", fake_sox)
    q = aml.parse(f"apply {level} {op} to {', '.join(targets)}")
    assert (q.operation, q.level, q.in_reference) == (op, level, True)
    p = dsp.make_pair(stems, q, normalize=False)
    lp_vd, lp_b, hp_vd, hp_b = FILTER[level]
    want = {("lowpass", False): lp_vd, ("lowpass", True): lp_b, ("highpass", False): hp_vd,
            ("highpass", True): hp_b}
    assert calls == [(op, str(want[(op, t == "bass")]), "10q") for t in sorted(targets, key=SOURCES.index)]
    np.testing.assert_allclose(p.target, _sum_with(stems, lambda x: 0.5 * x, targets), atol=1e-7)


def test_table_5_3_tasks_and_their_filter_cutoffs(monkeypatch):
    mfcc = tasks.TASK_GROUPS["mfcc"]
    want = {(column, src): template.format(src) for column, template in TABLE_5_3.items()
            for src in ("vocals", "drums", "bass")}
    assert {(t.column, t.source): t.description for t in mfcc} == want and len(mfcc) == 21
    assert all(t.kind == "mfcc" and t.table == "5.3" and t.museval_target is None for t in mfcc)
    hz = {("lowpass", "vocals"): 344, ("lowpass", "drums"): 344, ("lowpass", "bass"): 43,
          ("highpass", "vocals"): 5512, ("highpass", "drums"): 5512, ("highpass", "bass"): 344}
    for t in mfcc:
        q = t.query
        if q.operation in ("lowpass", "highpass"):
            assert aml.filter_cutoff(q.operation, q.level, t.source) == hz[(q.operation, t.source)], t.id
        assert tasks.get_task(t.id) is t and tasks.task_for_query(t.description) is t
    sdr = tasks.TASK_GROUPS["sdr"]
    assert [(t.id, t.source, t.museval_target, t.table) for t in sdr] == [
        (f"sdr-{s}", s, s, "5.2") for s in ("vocals", "drums", "bass", "other")]


# protocol §3.1: description fed to the model -> museval target
TABLE_5_2 = {"separate vocals": "vocals", "separate drums": "drums", "separate bass": "bass",
             "mute vocals, drums, bass": "other"}


def test_table_5_2_tasks():
    if PROTOCOL is not None:
        for desc, target in TABLE_5_2.items():
            assert re.search(rf"^\| `{desc}` \| (\*\*)?{target}(\*\*)? \|", PROTOCOL, re.M), desc
    sdr = tasks.TASK_GROUPS["sdr"]
    assert [(t.id, t.version, t.description, t.kind, t.source, t.table, t.column) for t in sdr] == [
        (f"sdr-{target}", 1, desc, "sdr", target, "5.2", target) for desc, target in TABLE_5_2.items()]
    assert [t.museval_target for t in sdr] == list(TABLE_5_2.values())


def test_every_task_is_version_1_and_listed_in_the_changelog():
    assert {t.version for t in tasks.EVAL_TASKS} == {1} and len(tasks.EVAL_TASKS) == 25
    assert tasks.TASK_GROUPS["all"] == tasks.EVAL_TASKS
    assert max(v for _, _, v, _ in tasks.CHANGELOG) == 1


def test_task_lookup():
    with pytest.raises(KeyError) as err:
        tasks.get_task("sdr-guitar")
    assert err.value.args[0] == ("unknown task id 'sdr-guitar'; known: "
                                 + ", ".join(t.id for t in tasks.EVAL_TASKS))
    for t in tasks.EVAL_TASKS:  # a parsed query (not only a string) finds its task
        assert tasks.task_for_query(aml.parse(t.description.upper())) is t
    assert tasks.task_for_query("pan vocals to the left side") is None  # a training-only query
