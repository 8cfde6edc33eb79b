"""Silent-mixture property (protocol §8): masking estimators (CME, MME) give exact zeros for an all-zero input;
direct estimators (DCSE, DME, conditioned/AMSS models) need not. Untrained networks, embedded profile."""

from __future__ import annotations

import numpy as np
import pytest

from models import registry

SILENCE = np.zeros((50_000, 2), dtype=np.float32)  # > 2 embedded AMSS windows (useful length 24 320)


def query(model):
    return model.supported_queries()[0]


@pytest.mark.parametrize("name", ["u7-cme-sigmoid", "u7-cme-tanh", "u7-mme"])
@pytest.mark.parametrize("mode", ["lasaft", "amss"])
def test_masking_models_return_exact_zeros(name, mode):
    model = registry.create(name, profile="embedded", seed=0)
    out = model.manipulate(SILENCE, query(model), mode=mode)
    assert out.shape == SILENCE.shape
    assert np.count_nonzero(out) == 0


def test_masking_model_paper_config_one_window():
    model = registry.create("u7-cme-sigmoid", seed=0)
    out = model.manipulate(np.zeros((50_000, 2), np.float32), "separate vocals")
    assert np.count_nonzero(out) == 0


@pytest.mark.parametrize("name", ["u7-dcse", "u7-dme", "cunet-gpocm-lasaft", "amss-net"])
def test_direct_estimators_may_produce_output_and_it_is_periodic(name):
    model = registry.create(name, profile="embedded", seed=0)
    out = model.manipulate(SILENCE, query(model), mode="amss")
    assert np.isfinite(out).all()
    # every window sees the same (zero) input, so any artefact repeats with the useful length T
    t = model.inference_params("amss")
    period = (model.config["hop_length"] * (model.config["num_frame"] - 1)
              - 2 * -(-t["min_trim"] // t["hop"]) * t["hop"])
    np.testing.assert_allclose(out[:period], out[period : 2 * period], atol=1e-6)
