"""Training-free systems (identity, oracle, DSP-on-mixture, cascade), the model wrapper and the estimates folder."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import soundfile as sf
import torch

import baselines
from baselines.base import SystemConfigError, as_estimate, check_name
from baselines.cascade import SeparateThenDSPSystem
from baselines.dsp_mixture import DSPMixtureSystem
from baselines.estimates import EstimatesFolderError, EstimatesSystem
from baselines.identity import IdentitySystem
from baselines.oracle import OracleSystem
from benchmark.task import dsp
from benchmark.base.constants import SR
from benchmark.task.tasks import EVAL_TASKS, get_task


def _pair(n=4410, seed=0, scale=0.3):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((n, 2)) * scale).astype(np.float32)
    y = (rng.standard_normal((n, 2)) * scale).astype(np.float32)
    return dsp.Pair(x, y)


def test_registry_and_names():
    assert set(baselines.SYSTEMS) == {"identity", "oracle", "dsp-mixture", "ica", "duet", "adress", "projet"}
    assert isinstance(baselines.get_system("identity"), IdentitySystem)
    assert baselines.get_system("oracle", name="oracle-2").name == "oracle-2"
    with pytest.raises(KeyError, match="known: identity, oracle, dsp-mixture, ica, duet, adress, projet"):
        baselines.get_system("nope")
    for bad in ("", "a/b", "../x", " x", ".hidden"):
        with pytest.raises(ValueError, match="folder name"):
            check_name(bad)
    assert check_name("amss-net@embedded-seed2020") == "amss-net@embedded-seed2020"


def test_identity_and_oracle():
    pair = _pair()
    task = get_task("pan-left-vocals")
    est = IdentitySystem().estimate(task, pair)
    assert est.dtype == np.float32 and np.array_equal(est, pair.input) and est is not pair.input
    assert np.array_equal(OracleSystem().estimate(task, pair), pair.target)
    assert OracleSystem.uses_target and not IdentitySystem.uses_target
    # distinct, stable fingerprints
    fps = {IdentitySystem().fingerprint, OracleSystem().fingerprint, DSPMixtureSystem().fingerprint}
    assert len(fps) == 3 and IdentitySystem().fingerprint == IdentitySystem(name="other").fingerprint


def test_as_estimate_rejects_bad_outputs():
    with pytest.raises(ValueError, match="shape"):
        as_estimate(np.zeros(10, np.float32))
    with pytest.raises(ValueError, match="NaN"):
        as_estimate(np.full((10, 2), np.nan, np.float32))
    with pytest.raises(ValueError, match="floating"):
        as_estimate(np.zeros((10, 2), np.int16))


@pytest.mark.parametrize("task_id", ["pan-left-drums", "pan-right-bass", "volume-down-vocals", "volume-up-drums",
                                     "lowpass-bass", "highpass-vocals"])
def test_dsp_mixture_applies_the_task_dsp_to_the_whole_mix(task_id):
    task = get_task(task_id)
    pair = _pair(scale=0.2)
    est = DSPMixtureSystem().estimate(task, pair)
    edited, _ = dsp.apply_to_source(pair.input, task.query, task.source)
    g = max(1.0, float(max(pair.input.max(), edited.max())))
    np.testing.assert_array_equal(est, (edited / g).astype(np.float32))
    assert not np.array_equal(est, pair.input)


def test_dsp_mixture_normalises_overs_and_passes_through_the_rest():
    loud = dsp.Pair(np.full((1000, 2), 0.8, np.float32), np.zeros((1000, 2), np.float32))
    est = DSPMixtureSystem().estimate(get_task("volume-up-vocals"), loud)
    np.testing.assert_allclose(est, 1.0)  # 1.6 / joint peak 1.6
    pair = _pair()
    for tid in ("dereverb-vocals", "sdr-vocals", "sdr-other"):
        assert np.array_equal(DSPMixtureSystem().estimate(get_task(tid), pair), pair.input), tid


def test_cascade_over_a_trivial_separator_equals_dsp_on_the_mix():
    # a "separator" that puts the whole input into the vocals stem: editing vocals = editing the mix
    def sep(x):
        return np.stack([x, 0 * x, 0 * x, 0 * x])

    cascade = SeparateThenDSPSystem(sep, separator_fingerprint="0" * 64)
    pair = _pair(scale=0.2)
    for tid in ("pan-left-vocals", "volume-up-vocals", "lowpass-vocals"):
        task = get_task(tid)
        np.testing.assert_allclose(cascade.estimate(task, pair), DSPMixtureSystem().estimate(task, pair), atol=1e-7)
    np.testing.assert_array_equal(cascade.estimate(get_task("sdr-vocals"), pair), pair.input)
    assert not cascade.estimate(get_task("sdr-drums"), pair).any()
    with pytest.raises(SystemConfigError, match="dereverb"):
        cascade.check([get_task("dereverb-bass")], ["t"])
    assert sum(cascade.supports(t) for t in EVAL_TASKS if t.kind == "mfcc") == 18
    with pytest.raises(SystemConfigError, match="fingerprint"):
        SeparateThenDSPSystem(sep)


def test_estimates_system_checks_every_file(tmp_path):
    d = tmp_path / "est"
    (d / "sdr-vocals").mkdir(parents=True)
    sf.write(d / "sdr-vocals" / "A.wav", np.zeros((100, 2), np.float32), SR, subtype="FLOAT")
    sf.write(d / "sdr-vocals" / "B.wav", np.zeros((100, 2), np.float32), 22050, subtype="FLOAT")
    sf.write(d / "sdr-vocals" / "C.wav", np.zeros((100, 1), np.float32), SR, subtype="FLOAT")
    system = EstimatesSystem(d)
    assert system.name == "est" and system.kind == "estimates"
    with pytest.raises(EstimatesFolderError) as exc:
        system.check([get_task("sdr-vocals")], ["A", "B", "C", "D"])
    msg = str(exc.value)
    assert "3 problem(s)" in msg
    assert f"{d / 'sdr-vocals' / 'B.wav'}: sample rate 22050 Hz, expected 44100 Hz" in msg
    assert f"{d / 'sdr-vocals' / 'C.wav'}: 1 channel(s)" in msg
    assert f"{d / 'sdr-vocals' / 'D.wav'}: missing" in msg
    system.check([get_task("sdr-vocals")], ["A"])
    with pytest.raises(EstimatesFolderError, match="not found"):
        EstimatesSystem(tmp_path / "nope")
    # length must match for RMSE-MFCC tasks
    (d / "pan-left-vocals").mkdir()
    sf.write(d / "pan-left-vocals" / "A.wav", np.zeros((90, 2), np.float32), SR, subtype="FLOAT")
    pair = dsp.Pair(np.zeros((100, 2), np.float32), np.zeros((100, 2), np.float32))
    with pytest.raises(EstimatesFolderError, match="90 samples, expected 100"):
        system.estimate(get_task("pan-left-vocals"), pair, track="A")
    # the unit fingerprint follows the file content
    before = system.unit_fingerprint(["sdr-vocals"], "A")
    sf.write(d / "sdr-vocals" / "A.wav", np.ones((100, 2), np.float32) * 0.1, SR, subtype="FLOAT")
    assert system.unit_fingerprint(["sdr-vocals"], "A") != before


def test_model_system_with_a_model_object():
    from baselines.model import ModelSystem
    from models.base import IdentityModel

    m = IdentityModel()
    system = ModelSystem(model=m, name="id-model", label="id")
    pair = _pair(n=20000)
    est = system.estimate(get_task("pan-left-vocals"), pair)
    np.testing.assert_allclose(est, pair.input, atol=1e-6)
    assert system.kind == "model" and system.checkpoint_sha256 is None and system.label == "id"
    assert system.supports(get_task("sdr-other"))
    fp = system.fingerprint
    assert ModelSystem(model=IdentityModel(), name="x").fingerprint == fp
    assert ModelSystem(model=m, name="x", mode="overlap").fingerprint != fp  # inference settings count
    with pytest.raises(SystemConfigError, match="checkpoint"):
        ModelSystem("u7-dcse")
    with pytest.raises(SystemConfigError, match="not found"):
        ModelSystem("u7-dcse", "/nonexistent/ckpt.pt")


def test_model_system_from_a_checkpoint(tmp_path):
    from baselines.model import ModelSystem
    from models import checkpoint, registry

    model = registry.create("u7-dcse", profile="embedded", seed=1, source="drums")
    path = checkpoint.save(model, tmp_path / "u7.pt", extra_metadata={"seed": 7})
    system = ModelSystem("u7-dcse", path)
    assert system.name == "u7-dcse@embedded-seed7" and system.label == "u7-dcse@embedded" and system.seed == 7
    import hashlib

    assert system.checkpoint_sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert system.supports(get_task("sdr-drums")) and not system.supports(get_task("sdr-vocals"))
    with pytest.raises(SystemConfigError, match="cannot answer task"):
        system.check([get_task("sdr-vocals"), get_task("pan-left-vocals")], ["t"])
    clone = pickle.loads(pickle.dumps(system))  # workers reload the weights from the checkpoint
    assert clone._model is None and clone.fingerprint == system.fingerprint
    pair = _pair(n=8000)
    np.testing.assert_array_equal(clone.estimate(get_task("sdr-drums"), pair),
                                  system.estimate(get_task("sdr-drums"), pair))
    with pytest.raises(SystemConfigError, match="not 'u7-dme'"):
        ModelSystem("u7-dme", path).model  # noqa: B018
    # CPU inference of a checkpoint is channels-last by default; the layout is part of the fingerprint and changes
    # the estimate only by float rounding
    assert system.channels_last and system.metadata()["inference"]["channels_last"] is True
    contiguous = ModelSystem("u7-dcse", path, channels_last=False)
    assert contiguous.fingerprint != system.fingerprint
    assert ModelSystem("u7-dcse", path, batch_size=4).fingerprint != system.fingerprint  # rounding differs
    np.testing.assert_allclose(contiguous.estimate(get_task("sdr-drums"), pair),
                               system.estimate(get_task("sdr-drums"), pair), rtol=0, atol=1e-5)
    assert any(p.dim() == 4 and p.is_contiguous(memory_format=torch.channels_last) and not p.is_contiguous()
               for p in system.model.parameters())
    assert all(p.is_contiguous() for p in contiguous.model.parameters())


def test_composite_routes_each_task_to_the_first_member_answering_it():
    from baselines.composite import CompositeSystem

    def sep(x):
        return np.stack([x, 0 * x, 0 * x, 0 * x])

    cascade = SeparateThenDSPSystem(sep, separator_fingerprint="0" * 64, name="casc")
    both = CompositeSystem([cascade, IdentitySystem()], "combo")
    pair = _pair(scale=0.2)
    dereverb, pan = get_task("dereverb-vocals"), get_task("pan-left-vocals")
    assert both.member_for(dereverb).name == "identity" and both.member_for(pan).name == "casc"
    np.testing.assert_array_equal(both.estimate(dereverb, pair), pair.input)
    np.testing.assert_array_equal(both.estimate(pan, pair), cascade.estimate(pan, pair))
    both.check(list(EVAL_TASKS), ["t"])
    assert CompositeSystem([IdentitySystem(), cascade], "combo").fingerprint != both.fingerprint
    assert [m["name"] for m in both.metadata()["members"]] == ["casc", "identity"]
    with pytest.raises(SystemConfigError, match="dereverb-vocals"):
        CompositeSystem([cascade], "only").check([dereverb, pan], ["t"])


def test_state_sha256_covers_scalar_buffers_and_values():
    """A registry model's state holds 0-dim tensors (BatchNorm's num_batches_tracked): they are hashed, and a changed
    value changes the hash."""
    from baselines.model import state_sha256
    from models import registry

    m = registry.create("u7-dcse", "embedded", seed=0)
    scalars = [k for k, t in m.state_dict().items() if t.dim() == 0]
    assert scalars, "the test needs a model with 0-dim state"
    h = state_sha256(m)
    assert h == state_sha256(registry.create("u7-dcse", "embedded", seed=0))
    with torch.no_grad():
        m.state_dict()[scalars[0]].add_(1)
    assert state_sha256(m) != h
