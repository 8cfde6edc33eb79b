"""AML contracts the inventory/parser tests leave open: the named sets and their errors, the parsed verb and
``Query.to_dict``, the exact AMLError texts (query, word position, what was expected, suggestion) and the sampler's
defaults (protocol §2.2, §2.6; README's error example)."""

import random

import pytest

from benchmark.task import aml

FIRST_WORDS = ("'apply' or 'decrease' or 'eliminate' or 'extract' or 'get' or 'increase' or 'isolate' or 'mute' or "
               "'pan' or 'remove' or 'separate'")


# ---------------------------------------------------------------------------------------------------------------
# Named sets


def test_default_sets_are_task2():
    assert len(aml.generators()) == 87
    assert aml.generators()[0].id == "mute:vocals"
    assert len(aml.descriptions()) == 240
    assert aml.descriptions()[:2] == ("mute vocals", "remove vocals")


def test_task1_descriptions_are_the_mute_then_separate_lists():
    d = aml.descriptions("task1")
    assert len(d) == 60 + 45
    assert d[:4] == ("mute vocals", "remove vocals", "get rid of vocals", "eliminate vocals")
    assert d[60:63] == ("separate vocals", "isolate vocals", "extract vocals")
    assert d[-1] == "extract bass, drums, vocals"


def test_eval_and_sdr_description_sets():
    three = ("vocals", "drums", "bass")
    expected = (["mute vocals, drums, bass"] + [f"separate {s}" for s in three]
                + [f"pan {s} completely to the left side" for s in three]
                + [f"pan {s} completely to the right side" for s in three]
                + [f"apply heavy lowpass to {s}" for s in three] + [f"apply heavy highpass to {s}" for s in three]
                + [f"remove reverb from {s}" for s in three]
                + [f"decrease the volume of {s}" for s in three] + [f"increase the volume of {s}" for s in three])
    assert aml.descriptions("eval") == tuple(expected)
    assert aml.descriptions("sdr") == ("separate vocals", "separate drums", "separate bass", "mute vocals, drums, bass")


def test_unknown_sets_and_ids_name_what_exists():
    with pytest.raises(ValueError) as exc:
        aml.descriptions("task3")
    assert str(exc.value) == "unknown description set 'task3'; expected one of task2, task1, eval, sdr, mfcc"
    with pytest.raises(ValueError) as exc:
        aml.generators("eval")
    assert str(exc.value) == "unknown generator set 'eval'; expected 'task2' or 'task1'"
    with pytest.raises(KeyError) as exc:
        aml.get_generator("mute:other")
    assert exc.value.args == ("unknown generator id 'mute:other'",)


# ---------------------------------------------------------------------------------------------------------------
# Parsed queries


@pytest.mark.parametrize("text, verb", [
    ("apply heavy lowpass to drums", "apply"),
    ("apply highpass to vocals", "apply"),
    ("pan bass to the right side", "pan"),
    ("pan bass completely to the left side", "pan"),
    ("remove reverb from vocals", "remove reverb from"),
    ("remove vocals", "remove"),
    ("get rid of drums", "get rid of"),
    ("isolate bass", "isolate"),
    ("decrease the volume of drums", "decrease"),
])
def test_verb_is_kept_as_written(text, verb):
    assert aml.parse(text).verb == verb


def test_to_dict_of_a_reference_query():
    assert aml.parse("Apply HEAVY lowpass to drums,vocals").to_dict() == {
        "operation": "lowpass", "targets": ["drums", "vocals"], "level": "heavy", "verb": "apply",
        "canonical": "apply heavy lowpass to drums, vocals", "generator_id": "lowpass:heavy:vocals+drums",
        "in_reference": True, "default_description": "apply heavy lowpass to vocals, drums",
    }


def test_to_dict_of_a_grammar_only_query():
    q = aml.parse("apply heavy highpass to bass, vocals")
    assert q.in_reference is False
    assert q.to_dict() == {
        "operation": "highpass", "targets": ["bass", "vocals"], "level": "heavy", "verb": "apply",
        "canonical": "apply heavy highpass to bass, vocals", "generator_id": None, "in_reference": False,
        "default_description": None,
    }


def test_parse_refuses_a_non_string():
    with pytest.raises(TypeError) as exc:
        aml.parse(42)
    assert str(exc.value) == "AML query must be a string, got int"


# ---------------------------------------------------------------------------------------------------------------
# AMLError texts: query, word n (character c), what was expected, suggestion


def _error(text):
    with pytest.raises(aml.AMLError) as exc:
        aml.parse(text)
    return exc.value


def test_error_text_of_the_readme_example():
    err = _error("apply heavy lowpass to drum")
    assert str(err) == ("invalid AML query 'apply heavy lowpass to drum': unexpected 'drum' at word 5 (character 24); "
                        "expected 'vocals' or 'drums' or 'bass'; did you mean 'drums'?")
    assert err.query == "apply heavy lowpass to drum"


def test_error_of_the_empty_query():
    err = _error("")
    assert str(err) == f"invalid AML query '': empty query; expected {FIRST_WORDS}"
    assert (err.query, err.word, err.position, err.column, err.suggestion) == ("", None, 1, 1, None)
    assert err.expected == ("apply", "decrease", "eliminate", "extract", "get", "increase", "isolate", "mute", "pan",
                            "remove", "separate")


def test_error_of_a_query_that_stops_early():
    err = _error("Separate Vocals,")
    assert str(err) == "invalid AML query 'Separate Vocals,': query ends after word 3; expected 'drums' or 'bass'"
    assert (err.query, err.word, err.position, err.column) == ("Separate Vocals,", None, 4, 17)
    assert err.expected == ("drums", "bass")
    err = _error("pan drums ")  # the column is one past the last character, trailing blanks included
    assert (err.position, err.column, err.expected) == (3, 11, ("to", "completely"))


def test_error_of_other():
    err = _error("separate other")
    assert str(err) == ("invalid AML query 'separate other': 'other' at word 2 (character 10) is not a target (AML "
                        "names vocals, drums and bass; the 'other' source is what 'mute vocals, drums, bass' keeps); "
                        "expected 'vocals' or 'drums' or 'bass'")
    assert err.query == "separate other"


def test_error_after_a_complete_query():
    err = _error("separate vocals now")
    assert str(err) == ("invalid AML query 'separate vocals now': unexpected 'now' at word 3 (character 17); "
                        "expected 'end of query'")
    assert (err.word, err.position, err.column, err.expected, err.suggestion) == ("now", 3, 17, ("end of query",),
                                                                                   None)
    # nothing is suggested in place of the end, not even for a word that spells it
    err = _error("separate vocals endofquery")
    assert err.suggestion is None and "did you mean" not in str(err)


@pytest.mark.parametrize("text, expected", [
    ("apply to drums", "'lowpass' or 'highpass' or 'light' or 'medium' or 'heavy'"),  # a level may stand here
    ("apply heavy to drums", "'lowpass' or 'highpass'"),  # the level is given
    ("pan vocals the left side", "'to' or 'completely'"),
    ("pan vocals completely the left side", "'to'"),
])
def test_error_lists_only_what_may_stand_there(text, expected):
    err = _error(text)
    assert str(err).endswith(f"; expected {expected}")
    assert "did you mean" not in str(err)


def test_filter_level_is_not_taken_twice():
    err = _error("apply heavy light lowpass to drums")
    assert str(err) == ("invalid AML query 'apply heavy light lowpass to drums': unexpected 'light' at word 3 "
                        "(character 13); expected 'lowpass' or 'highpass'")


@pytest.mark.parametrize("text, word, position, column, expected", [
    # 'high' is as close to 'right' and 'light' as to 'highpass'; the two nearest vocabulary words win
    ("apply light high to drums", "high", 3, 13, "'lowpass' or 'highpass'"),
    # 'applight' is nearest to 'light' and 'right', not to a first word
    ("applight lowpass to drums", "applight", 1, 1, FIRST_WORDS),
    # a source named twice is not suggested again
    ("separate vocals, vocal", "vocal", 4, 18, "'drums' or 'bass'"),
])
def test_suggestions_come_from_the_two_nearest_vocabulary_words(text, word, position, column, expected):
    err = _error(text)
    assert str(err) == (f"invalid AML query {text!r}: unexpected {word!r} at word {position} (character {column}); "
                        f"expected {expected}")
    assert err.suggestion is None


def test_aml_error_joins_what_was_expected_with_or():
    err = aml.AMLError("q", "bad", expected=("a", "b", "c"), suggestion="b")
    assert str(err) == "invalid AML query 'q': bad; expected 'a' or 'b' or 'c'; did you mean 'b'?"
    assert (err.query, err.expected, err.suggestion) == ("q", ("a", "b", "c"), "b")


# ---------------------------------------------------------------------------------------------------------------
# Sampler (protocol §2.2: generator uniform, then description uniform, Python random.randint; README seed 2020)


def _reference_samples(task_set, seed, n):
    gens = aml.generators(task_set)
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        g = gens[rng.randint(0, len(gens) - 1)]
        out.append((g.id, g.descriptions[rng.randint(0, len(g.descriptions) - 1)]))
    return out


def _samples(sampler, n):
    return [(g.id, d) for g, d in (sampler.sample() for _ in range(n))]


def test_sampler_defaults_are_task2_and_seed_2020():
    s = aml.Sampler()
    assert len(s.generators) == 87
    assert _samples(s, 200) == _reference_samples("task2", 2020, 200)


def test_sampler_draws_with_randint_over_every_generator():
    assert _samples(aml.Sampler("task2", seed=5), 3000) == _reference_samples("task2", 5, 3000)
    ids = {g for g, _ in _samples(aml.Sampler("task1", seed=3), 2000)}
    assert ids == {g.id for g in aml.generators("task1")}  # first and last generator included


def test_sampler_state_round_trip_resumes_the_sequence():
    s = aml.Sampler("task2", seed=11)
    state = s.getstate()
    _samples(s, 30)
    s.setstate(state)
    assert _samples(s, 30) == _reference_samples("task2", 11, 30)
    other = aml.Sampler("task2", seed=99)
    other.setstate(s.getstate())  # the state carries over: the other sampler continues this one's sequence
    assert _samples(other, 5) == _reference_samples("task2", 11, 35)[30:]


@pytest.mark.parametrize("text, word, position, column, expected", [
    # a source where no source may stand is unexpected, not "named twice" (it was named once)
    ("separate vocals drums", "drums", 3, 17, "'end of query'"),
    ("apply heavy drums", "drums", 3, 13, "'lowpass' or 'highpass'"),
    ("pan vocals drums to the left side", "drums", 3, 12, "'to' or 'completely'"),
])
def test_a_source_named_once_in_the_wrong_place_is_unexpected(text, word, position, column, expected):
    err = _error(text)
    assert str(err) == (f"invalid AML query {text!r}: unexpected {word!r} at word {position} (character {column}); "
                        f"expected {expected}")


def test_a_source_named_twice_says_so():
    err = _error("separate vocals, drums, vocals")
    assert str(err) == ("invalid AML query 'separate vocals, drums, vocals': 'vocals' at word 6 (character 25) is "
                        "named twice; expected 'bass'")
