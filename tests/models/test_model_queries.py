"""Which queries each model family answers (Table 5.2 mapping for separation models; full AML for AMSS-Net)."""

from __future__ import annotations

import pytest
import torch

from benchmark.task import aml
from models import registry
from models.base import UnsupportedQueryError


@pytest.fixture(scope="module")
def models():
    return {n: registry.create(n, profile="embedded", init=False) for n in
            ("u7-dcse", "cunet-film", "amss-net", "amss-net-separate", "amss-net-wo-csa")}


@pytest.mark.parametrize("source", ["vocals", "drums", "bass"])
def test_dedicated_answers_only_its_source(source):
    m = registry.create("u7-cme-sigmoid", profile="embedded", source=source, init=False)
    assert m.supported_queries() == [f"separate {source}"]
    assert m.condition_for(f"separate {source}") is None
    assert m.condition_for(f"isolate {source}") is None  # synonym of the same operation
    other = next(s for s in ("vocals", "drums", "bass") if s != source)
    with pytest.raises(UnsupportedQueryError, match=f"separate {source}"):
        m.condition_for(f"separate {other}")
    with pytest.raises(UnsupportedQueryError):
        m.condition_for(f"mute {source}")


def test_dedicated_other_model_answers_mute_all():
    m = registry.create("u7-dcse", profile="embedded", source="other", init=False)
    assert m.supported_queries() == ["mute vocals, drums, bass"]
    assert m.condition_for("remove bass, vocals, drums") is None
    with pytest.raises(UnsupportedQueryError):
        m.condition_for("separate vocals")


def test_conditioned_mapping(models):
    m = models["cunet-film"]
    assert m.supported_queries() == list(aml.SDR_DESCRIPTIONS)
    assert [m.condition_for(q) for q in aml.SDR_DESCRIPTIONS] == [0, 1, 2, 3]
    assert m.condition_for("extract bass") == 2
    assert m.condition_for("get rid of drums, bass, vocals") == 3
    for bad in ("separate vocals, drums", "mute vocals", "pan vocals to the left side"):
        with pytest.raises(UnsupportedQueryError, match="Supported queries: 'separate vocals'"):
            m.condition_for(bad)
    cond = m.make_condition(["separate drums", "mute vocals, drums, bass", 1])
    assert cond.tolist() == [1, 3, 1]


def test_amss_answers_the_whole_language(models):
    m = models["amss-net"]
    qs = m.supported_queries()
    assert len(qs) == 240 and set(aml.EVAL_DESCRIPTIONS) <= set(qs)
    for q in qs:
        assert m.condition_for(q) == aml.encode(q)
    assert m.condition_for("pan vocals, drums completely to the left side") == [23, 32, 1, 8, 6, 31, 30, 17, 29]
    # adjective-less filters are tokenised with the default (medium) level, models.md §6 item 17
    assert m.condition_for("apply lowpass to drums") == aml.encode("apply medium lowpass to drums")
    with pytest.raises(ValueError):  # aml.AMLError
        m.condition_for("separate the guitar")


def test_amss_separate_is_limited_to_task1(models):
    m = models["amss-net-separate"]
    assert len(m.supported_queries()) == 105
    assert m.condition_for("mute vocals, drums, bass") == aml.encode("mute vocals, drums, bass")
    with pytest.raises(UnsupportedQueryError, match="task1"):
        m.condition_for("apply heavy lowpass to vocals")


def test_amss_batch_condition_padding(models):
    m = models["amss-net-wo-csa"]
    tokens, lengths = m.make_condition(["separate vocals", "increase the volume of drums, bass"])
    assert lengths.tolist() == [2, 7]
    assert tokens.shape == (2, 7) and tokens[0, 2:].tolist() == [0] * 5
    assert tokens.dtype == torch.long


def test_query_objects_are_accepted(models):
    q = aml.parse("separate bass")
    assert models["cunet-film"].condition_for(q) == 2
    assert models["amss-net"].condition_for(q) == [28, 5]
    with pytest.raises(TypeError):
        models["cunet-film"].condition_for(3.5)
