"""The multichannel Wiener filter over four dedicated magnitude separators (baselines/wiener.py): the filter against
norbert's and the openunmix package's, its excerpts, the system built on it, and the command line's --wiener."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import pickle
import sys
import types
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from baselines.base import System, SystemConfigError
from baselines.wiener import (REFERENCE_ITERATIONS, WINDOW_FRAMES, WienerSystem, filter_spectrograms,
                              parse_iterations, reference_iterations)
from benchmark.task.dsp import Pair
from benchmark.task.tasks import get_task
from models.stft import STFT

SOURCES = ("vocals", "drums", "bass", "other")
N = 256 * 80  # samples: 81 frames at hop 256


def _stems(seed=0, n=N):
    """Four stereo sources, each panned to its own side and band-limited to its own band (so each is known)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / 44100
    stems = []
    for j, (f0, pan) in enumerate(((440.0, 0.2), (2900.0, 0.8), (110.0, 0.5), (1200.0, 0.35))):
        mono = 0.2 * np.sin(2 * np.pi * f0 * t) * (1 + 0.5 * np.sin(2 * np.pi * (0.7 + j) * t))
        mono += 0.002 * rng.standard_normal(n)
        stems.append(np.stack([mono * (1 - pan), mono * pan], axis=1).astype(np.float32))
    return stems


def _sdr(ref, est):
    return 10 * np.log10(np.sum(ref ** 2) / np.sum((ref - est) ** 2))


class _Member(System):
    """A separator answering one SDR task with a fixed estimate, with the STFT a magnitude model carries."""

    kind = "model"

    def __init__(self, source, estimate, n_fft=512, hop=256):
        super().__init__(f"fake-{source}", label="fake")
        self.source, self._estimate = source, estimate
        self.model = SimpleNamespace(stft=STFT(n_fft, hop))
        self.calls = 0

    def supports(self, task):
        return task.id == f"sdr-{self.source}"

    @property
    def fingerprint(self):
        return f"fake-{self.source}"

    def estimate(self, task, pair, *, track=None):
        self.calls += 1
        return self._estimate


def _spectra(seed=0, frames=40, bins=33, sources=4):
    rng = np.random.default_rng(seed)
    v = rng.random((frames, bins, 2, sources)) + 0.01
    x = rng.standard_normal((frames, bins, 2)) + 1j * rng.standard_normal((frames, bins, 2))
    return v, x


def test_zero_iterations_is_the_magnitude_with_the_mixture_phase():
    v, x = _spectra()
    y = filter_spectrograms(v, x, 0)
    np.testing.assert_allclose(y, v * np.exp(1j * np.angle(x))[..., None], rtol=1e-12)


def test_one_iteration_is_norbert_excerpt_by_excerpt():
    import norbert

    v, x = _spectra(frames=70)
    y = filter_spectrograms(v, x, 1, window_frames=30)
    for start in (0, 30, 60):
        part = slice(start, start + 30)
        ref = norbert.wiener(v[part], x[part], iterations=1, use_softmask=False, eps=1e-10)
        np.testing.assert_array_equal(y[part], ref)
    whole = filter_spectrograms(v, x, 1, window_frames=1000)
    assert not np.allclose(whole, y)  # the excerpts are filtered on their own (one spatial model each)


def test_a_single_precision_mixture_gives_the_double_precision_result_rounded_once():
    v, x = _spectra(seed=4, frames=45)
    v32, x64 = v.astype(np.float32), x.astype(np.complex64)
    wide = filter_spectrograms(v32.astype(np.float64), x64.astype(np.complex128), 1, window_frames=20)
    narrow = filter_spectrograms(v32, x64, 1, window_frames=20)
    assert narrow.dtype == np.complex64 and wide.dtype == np.complex128
    np.testing.assert_array_equal(narrow, wide.astype(np.complex64))


def test_the_filtered_sources_add_up_to_the_mixture():
    v, x = _spectra(seed=3)
    y = filter_spectrograms(v, x, 1)
    # to norbert's regularisation (sqrt(eps) on the mixture covariance's diagonal)
    np.testing.assert_allclose(y.sum(-1), x, rtol=0, atol=1e-3 * np.abs(x).max())
    assert not np.allclose(filter_spectrograms(v, x, 0).sum(-1), x, atol=0.1)  # unlike the unfiltered estimates


def test_filter_matches_the_openunmix_package(monkeypatch):
    """openunmix.filtering.wiener (torch, float32) on the same magnitudes and mixture: the estimates agree."""
    if importlib.util.find_spec("openunmix") is None:
        pytest.skip("the openunmix package is not installed (make setup installs it)")
    if importlib.util.find_spec("torchaudio") is None:  # imported at module level by openunmix/__init__, not used here
        monkeypatch.setitem(sys.modules, "torchaudio", types.ModuleType("torchaudio"))
    filtering = importlib.import_module("openunmix.filtering")
    v, x = _spectra(seed=5, frames=50)
    ours = filter_spectrograms(v, x, 1, window_frames=50)
    mix = torch.from_numpy(np.stack([x.real, x.imag], -1).astype(np.float32))
    theirs = filtering.wiener(torch.from_numpy(v.astype(np.float32)), mix, iterations=1, softmask=False,
                              residual=False)
    theirs = theirs[..., 0, :].numpy() + 1j * theirs[..., 1, :].numpy()  # (T, F, C, J)
    err = np.abs(ours - theirs).max() / np.abs(ours).max()
    assert err < 1e-4, err


def test_filter_rejects_mismatched_shapes():
    v, x = _spectra()
    with pytest.raises(ValueError, match="must agree"):
        filter_spectrograms(v, x[:-1], 1)
    with pytest.raises(ValueError, match="window_frames"):
        filter_spectrograms(v, x, 1, window_frames=0)


def _system(iterations, estimates, **kw):
    members = [_Member(s, e) for s, e in zip(SOURCES, estimates)]
    return WienerSystem(members, iterations, name="fake-wiener", **kw), members


def test_system_improves_rough_estimates_and_keeps_the_mixture():
    stems = _stems()
    mix = np.sum(stems, axis=0)
    rng = np.random.default_rng(1)
    # rough estimates: each true source plus a share of the others (what an untrained mask leaks)
    rough = [(s + 0.3 * (mix - s) + 0.01 * rng.standard_normal(s.shape)).astype(np.float32) for s in stems]
    system, members = _system(1, rough)
    pair = Pair(input=mix, target=stems[0])
    out = [system.estimate(get_task(f"sdr-{s}"), pair) for s in SOURCES]
    assert [m.calls for m in members] == [1, 1, 1, 1]  # four tasks of one mixture: the members run once
    for ref, before, after in zip(stems, rough, out):
        assert after.shape == ref.shape and after.dtype == np.float32
        assert _sdr(ref, after) > _sdr(ref, before) + 3
    np.testing.assert_allclose(np.sum(out, axis=0), mix, atol=2e-3 * np.abs(mix).max())
    assert np.abs(np.sum(rough, axis=0) - mix).max() > 0.1 * np.abs(mix).max()


def test_zero_iterations_passes_the_members_estimates_through():
    stems = _stems()
    system, _ = _system(0, stems)
    pair = Pair(input=np.sum(stems, axis=0), target=stems[1])
    assert system.estimate(get_task("sdr-drums"), pair) is stems[1]


def test_system_fingerprint_metadata_and_pickling():
    stems = _stems()
    one, _ = _system(1, stems)
    two, _ = _system(2, stems)
    assert one.fingerprint != two.fingerprint
    meta = one.metadata()["postprocessing"]
    assert meta["iterations"] == 1 and meta["window_frames"] == WINDOW_FRAMES and meta["softmask"] is False
    assert meta["norbert"]
    pair = Pair(input=np.sum(stems, axis=0), target=stems[0])
    one.estimate(get_task("sdr-vocals"), pair)
    assert one._cache is not None and pickle.loads(pickle.dumps(one))._cache is None


def test_system_needs_one_member_per_source():
    stems = _stems()
    members = [_Member(s, e) for s, e in zip(SOURCES[:3], stems)]
    with pytest.raises(SystemConfigError, match="sdr-other"):
        WienerSystem(members, 1, name="three")
    with pytest.raises(SystemConfigError, match=">= 0"):
        WienerSystem([_Member(s, e) for s, e in zip(SOURCES, stems)], -1, name="neg")


def test_system_refuses_members_with_different_stfts():
    stems = _stems()
    members = [_Member(s, e, n_fft=512 if s != "bass" else 1024) for s, e in zip(SOURCES, stems)]
    system = WienerSystem(members, 1, name="mixed")
    with pytest.raises(SystemConfigError, match="STFTs differ"):
        system.estimate(get_task("sdr-bass"), Pair(input=np.sum(stems, axis=0), target=stems[2]))


def test_iterations_from_the_command_line():
    assert REFERENCE_ITERATIONS == {"umx": 1}
    assert parse_iterations("reference", "umx") == 1 == reference_iterations("umx")
    assert parse_iterations("reference", "mmdensenet") == 0 == parse_iterations("reference", None)
    assert parse_iterations("off", "umx") == 0
    assert parse_iterations("3", "u7-dme") == 3
    for bad in ("-1", "one", "1.5", ""):
        with pytest.raises(ValueError, match="--wiener"):
            parse_iterations(bad, "umx")


def _args(**kw):
    base = dict(model=None, checkpoint=None, system=None, estimates=None, wiener="reference", label=None, seed=None,
                name=None, device="cpu", batch_size=8, inference_mode=None, autocast=None, pcm16=False,
                separator_model=None, separator_checkpoint=None, params="params.yaml")
    base.update(kw)
    return argparse.Namespace(**base)


def test_cli_refuses_the_filter_where_it_cannot_apply(tmp_path):
    from benchmark.cli.evaluate import _build_system
    from models import checkpoint as ckpt
    from models import registry

    path = tmp_path / "umx-other.pt"
    ckpt.save(registry.create("umx", "embedded", seed=0, source="other"), path)
    with pytest.raises(ValueError, match="four checkpoints"):
        _build_system(_args(model="umx", checkpoint=[str(path)], wiener="1"))
    assert _build_system(_args(model="umx", checkpoint=[str(path)])).name  # reference: nothing to filter with one
    with pytest.raises(ValueError, match="--wiener goes with"):
        _build_system(_args(system="identity", wiener="2"))


def test_cli_evaluates_four_umx_checkpoints_with_the_reference_filter(baseline_results, tmp_path):
    """amss-bench evaluate on the tiny test set: --wiener reference filters Open-Unmix (one EM iteration, recorded in
    every result), --wiener off gives the checkpoints' own estimates, and the two differ."""
    import json

    from benchmark.cli import main
    from benchmark.scoring import results as res
    from models import checkpoint as ckpt
    from models import registry

    paths = []
    for k, source in enumerate(SOURCES):
        paths.append(tmp_path / f"umx-{source}.pt")
        ckpt.save(registry.create("umx", "embedded", seed=k, source=source), paths[-1])
    common = ["evaluate", "--model", "umx", "--checkpoint", *map(str, paths), "--tasks", "sdr", "--testset",
              str(baseline_results / "ts"), "--out", str(tmp_path / "results"), "--backend", "sdr-only",
              "--workers", "1", "--no-progress"]
    assert main([*common, "--name", "umx-filtered"]) == 0
    assert main([*common, "--name", "umx-own", "--wiener", "off"]) == 0
    filtered = res.load_results(tmp_path / "results" / "umx-filtered")
    own = res.load_results(tmp_path / "results" / "umx-own")
    assert len(filtered) == len(own) == 4 * len({d["track"] for d in own})
    for doc in filtered:
        assert doc["system"]["metadata"]["postprocessing"]["iterations"] == 1, json.dumps(doc["system"])[:400]
    assert all("postprocessing" not in d["system"]["metadata"] for d in own)
    assert {d["estimate"]["sha256"] for d in filtered}.isdisjoint({d["estimate"]["sha256"] for d in own})
