"""AML inventory, vocabulary, encoder, parser and sampler (protocol §2.1–§2.7, §11)."""

import collections
import json
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmark.task import aml
from benchmark.cli import main

ALL_DESCRIPTIONS = [(g, d) for g in aml.generators("task2") for d in g.descriptions]


def test_inventory_counts_per_family():
    gens = aml.generators("task2")
    assert len(gens) == 87
    assert len(aml.descriptions("task2")) == 240
    assert len(set(aml.descriptions("task2"))) == 240
    gen_counts = collections.Counter(g.family for g in gens)
    desc_counts = collections.Counter()
    for g in gens:
        desc_counts[g.family] += len(g.descriptions)
    assert gen_counts == {"separate": 7, "mute": 7, "volume_up": 7, "volume_down": 7, "pan_left": 7, "pan_right": 7,
                          "pan_left_hard": 7, "pan_right_hard": 7, "filter": 24, "dereverb": 7}
    assert desc_counts == {"separate": 45, "mute": 60, "volume_up": 15, "volume_down": 15, "pan_left": 15,
                           "pan_right": 15, "pan_left_hard": 15, "pan_right_hard": 15, "filter": 30, "dereverb": 15}
    task1 = aml.generators("task1")
    assert len(task1) == 14 and {g.family for g in task1} == {"mute", "separate"}


def test_reference_order_of_families_and_descriptions():
    fams = [g.family for g in aml.generators("task2")]
    order = list(dict.fromkeys(fams))
    assert order == ["mute", "separate", "pan_left", "pan_right", "pan_left_hard", "pan_right_hard", "filter",
                     "dereverb", "volume_down", "volume_up"]
    mute_vd = aml.get_generator("mute:vocals+drums")
    # permutation outer loop, verb inner loop
    assert mute_vd.descriptions[:5] == ("mute vocals, drums", "remove vocals, drums", "get rid of vocals, drums",
                                        "eliminate vocals, drums", "mute drums, vocals")
    filters = [g for g in aml.generators("task2") if g.family == "filter"]
    assert [g.default_description for g in filters[:4]] == [
        "apply light lowpass to vocals", "apply light lowpass to drums", "apply light lowpass to vocals, drums",
        "apply light lowpass to bass"]
    assert filters[-1].default_description == "apply heavy highpass to bass"


def test_vocabulary_exact_order():
    assert aml.VOCAB == ("<pad>", ",", "<bgn>", "<end>", "apply", "bass", "completely", "decrease", "drums",
                         "eliminate", "extract", "from", "get", "heavy", "highpass", "increase", "isolate", "left",
                         "light", "lowpass", "medium", "mute", "of", "pan", "remove", "reverb", "rid", "right",
                         "separate", "side", "the", "to", "vocals", "volume")


@pytest.mark.parametrize("text, ids", [
    ("pan vocals, drums completely to the left side", [23, 32, 1, 8, 6, 31, 30, 17, 29]),
    ("apply heavy lowpass to vocals, drums", [4, 13, 19, 31, 32, 1, 8]),
    ("  GET rid of   Bass ", [12, 26, 22, 5]),
])
def test_encoding_examples(text, ids):
    assert aml.encode(text) == ids


def test_encoder_never_adds_bgn_end_and_lengths():
    lengths = [len(aml.encode(d)) for _, d in ALL_DESCRIPTIONS]
    assert min(lengths) == 2 and max(lengths) == 11
    assert all(2 not in aml.encode(d) and 3 not in aml.encode(d) for _, d in ALL_DESCRIPTIONS)


def test_evaluation_lists():
    assert aml.SDR_DESCRIPTIONS == ("separate vocals", "separate drums", "separate bass", "mute vocals, drums, bass")
    assert len(aml.EVAL_DESCRIPTIONS) == 25 and len(aml.MFCC_DESCRIPTIONS) == 21
    assert aml.MFCC_DESCRIPTIONS[:3] == tuple(f"pan {s} completely to the left side" for s in ("vocals", "drums",
                                                                                                  "bass"))
    assert "apply heavy highpass to bass" in aml.MFCC_DESCRIPTIONS
    assert not any("light" in d or "medium" in d or d.startswith("pan") and "completely" not in d
                   for d in aml.MFCC_DESCRIPTIONS)


@pytest.mark.parametrize("gen, desc", ALL_DESCRIPTIONS, ids=[d for _, d in ALL_DESCRIPTIONS])
def test_every_description_parses_to_its_generator(gen, desc):
    q = aml.parse(desc)
    assert q.generator_id == gen.id and q.in_reference
    assert q.canonical == desc
    assert q.operation == gen.operation and set(q.targets) == set(gen.targets) and q.level == gen.level


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(ALL_DESCRIPTIONS), st.data())
def test_case_and_whitespace_are_forgiven(item, data):
    gen, desc = item
    words = desc.split(" ")
    spaced = "".join(w + " " * data.draw(st.integers(1, 3)) for w in words)
    cased = "".join(c.upper() if data.draw(st.booleans()) else c for c in spaced)
    assert aml.parse(" " + cased).generator_id == gen.id


@settings(max_examples=500, deadline=None)
@given(st.one_of(st.text(max_size=60),
                 st.lists(st.sampled_from(list(aml.VOCAB) + list(string.punctuation) + ["drum", "é", " "]),
                          max_size=12).map(" ".join)))
def test_arbitrary_text_never_crashes(text):
    try:
        q = aml.parse(text)
    except aml.AMLError as err:
        assert str(err).startswith("invalid AML query")
    else:
        assert q.operation in aml.OPERATIONS


def test_error_names_word_position_expectation_and_suggestion():
    with pytest.raises(aml.AMLError) as exc:
        aml.parse("apply heavy lowpass to drum")
    err = exc.value
    assert (err.word, err.position, err.column, err.suggestion) == ("drum", 5, 24, "drums")
    assert set(err.expected) == {"vocals", "drums", "bass"}
    assert "'drum' at word 5" in str(err) and "did you mean 'drums'" in str(err)


@pytest.mark.parametrize("text, fragment", [
    ("", "empty query"),
    ("separate other", "'other' at word 2 (character 10) is not a target"),
    ("separate vocals, vocals", "named twice"),
    ("separate vocals,", "query ends after word 3"),
    ("seperate vocals", "did you mean 'separate'"),
    ("pan vocals to left side", "expected 'the'"),
    ("separate vocals!", "unexpected '!'"),
    ("remove reverb vocals", "expected 'from'"),
])
def test_errors(text, fragment):
    with pytest.raises(aml.AMLError, match=None) as exc:
        aml.parse(text)
    assert fragment in str(exc.value)


def test_grammar_only_queries_are_accepted_and_flagged():
    q = aml.parse("apply lowpass to drums")
    assert q.level == "medium" and not q.in_reference and q.generator_id == "lowpass:medium:drums"
    assert q.canonical == "apply lowpass to drums"
    q = aml.parse("apply heavy highpass to bass, vocals")
    assert q.generator_id is None and not q.in_reference and q.targets == ("bass", "vocals")
    q = aml.parse("pan vocals, bass to the left side")  # the grammar allows one source; the code pans any set
    assert q.in_reference and q.generator_id == "pan_left:vocals+bass"


def test_sampler_is_seeded_and_generator_uniform():
    a = [aml.Sampler("task2", seed=7).sample()[1] for _ in range(1)]
    s1, s2 = aml.Sampler("task2", seed=7), aml.Sampler("task2", seed=7)
    assert [s1.sample()[1] for _ in range(50)] == [s2.sample()[1] for _ in range(50)]
    s = aml.Sampler("task2", seed=0)
    fams = collections.Counter(s.sample()[0].family for _ in range(8700))
    assert abs(fams["filter"] / 8700 - 24 / 87) < 0.02  # uniform over generators, not over families
    assert abs(fams["dereverb"] / 8700 - 7 / 87) < 0.015
    assert a[0] in aml.descriptions("task2")
    assert all(g.family in ("mute", "separate") for g, _ in (aml.Sampler("task1", 1).sample() for _ in range(50)))


def test_cli_list_parse_encode(capsys):
    assert main(["aml", "list", "--set", "mfcc"]) == 0
    assert capsys.readouterr().out.splitlines() == list(aml.MFCC_DESCRIPTIONS)
    assert main(["aml", "list"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 240
    assert main(["aml", "parse", "Pan drums completely to the LEFT side"]) == 0
    parsed = json.loads(capsys.readouterr().out)
    assert parsed["operation"] == "pan_left_hard" and parsed["targets"] == ["drums"]
    assert parsed["generator_id"] == "pan_left_hard:drums"
    assert main(["aml", "encode", "separate vocals"]) == 0
    assert json.loads(capsys.readouterr().out) == [28, 32]


@pytest.mark.parametrize("action", ["parse", "encode"])
def test_cli_invalid_query_exit_2_stderr_only(capsys, action):
    assert main(["aml", action, "separate drum"]) == 2
    out = capsys.readouterr()
    assert out.out == "" and "did you mean 'drums'" in out.err
