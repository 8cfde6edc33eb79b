"""Run nussl 1.1.9's DUET or PROJET on a stereo mixture, for tests/test_spatial_nussl.py (a separate process).

    python nussl_run.py SITE METHOD MIX.npy OUT.npy

SITE holds nussl installed with ``pip install --no-deps --target SITE nussl==1.1.9``. nussl is deprecated and no
longer imports on NumPy 2 / SciPy ≥ 1.13 with its full dependency set, so this script first applies a small
compatibility shim: ``np.mat`` and the window functions that SciPy moved to ``scipy.signal.windows``, and empty
stand-ins for the packages nussl imports at start-up but DUET and PROJET never use (jams, zarr, numcodecs,
pytorch-ignite, tensorboard, norbert, gpytorch, soxbindings, pyloudnorm, termtables, ffmpy, vamp,
importlib_resources). MIX.npy: (N, 2) float; OUT.npy: (K, N, 2) float64, the separated images.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
import types

STUBS = {"zarr", "numcodecs", "termtables", "pyloudnorm", "jams", "importlib_resources", "ignite", "norbert",
         "gpytorch", "tensorboard", "soxbindings", "vamp", "ffmpy"}


class _Meta(type):
    def __getattr__(cls, key):
        if key.startswith("__"):
            raise AttributeError(key)
        return _stand_in(key)


def _stand_in(name: str):
    """A class that can be subclassed, called, decorated with and read attributes from: enough for import time."""
    return _Meta(name, (), {"__init__": lambda self, *a, **k: None, "__call__": lambda self, *a, **k: _stand_in("r"),
                            "__getattr__": lambda self, key: _stand_in(key)})


class _StubModule(types.ModuleType):
    def __getattr__(self, key):
        if key.startswith("__"):
            raise AttributeError(key)
        return _stand_in(key)


class _StubFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in STUBS:
            return importlib.machinery.ModuleSpec(name, self, is_package=True)
        return None

    def create_module(self, spec):
        module = _StubModule(spec.name)
        module.__path__ = []
        return module

    def exec_module(self, module):
        pass


def shim() -> None:
    import numpy as np
    import scipy.signal
    import scipy.signal.windows

    sys.meta_path.insert(0, _StubFinder())
    sys.modules["torch.utils.tensorboard"] = _StubModule("torch.utils.tensorboard")
    np.mat = np.asmatrix
    for name in ("hamming", "hann", "blackman", "triang", "boxcar", "bartlett"):
        if not hasattr(scipy.signal, name):
            setattr(scipy.signal, name, getattr(scipy.signal.windows, name))
    if not hasattr(scipy.signal, "hanning"):
        scipy.signal.hanning = scipy.signal.windows.hann


def main(site: str, method: str, mix_path: str, out_path: str) -> None:
    sys.path.insert(0, site)
    shim()
    import numpy as np

    import nussl

    mix = np.load(mix_path)
    if method == "duet":  # Rickard's parameters, as baselines.spatial.duet
        stft = nussl.STFTParams(window_length=1024, hop_length=512, window_type="hamming")
        signal = nussl.AudioSignal(audio_data_array=mix.T, sample_rate=44100, stft_params=stft)
        sep = nussl.separation.spatial.Duet(signal, num_sources=4, attenuation_min=-0.7, attenuation_max=0.7,
                                            num_attenuation_bins=35, delay_min=-3.6, delay_max=3.6,
                                            num_delay_bins=50, p=1, q=0)
    elif method == "projet":  # panning only, as baselines.spatial.projet
        np.random.seed(0)
        stft = nussl.STFTParams(window_length=4096, hop_length=1024, window_type="hann")
        signal = nussl.AudioSignal(audio_data_array=mix.T, sample_rate=44100, stft_params=stft)
        sep = nussl.separation.spatial.Projet(signal, num_sources=4, num_iterations=50, maximum_delay_in_samples=0,
                                              location_set_panning=30, location_set_delay=1,
                                              projection_set_panning=10, projection_set_delay=1)
    else:
        raise SystemExit(f"unknown method {method}")
    estimates = sep()
    n = mix.shape[0]
    out = np.zeros((len(estimates), n, 2))
    for k, est in enumerate(estimates):
        data = np.asarray(est.audio_data).T[:n]
        out[k, :len(data)] = data
    np.save(out_path, out)


if __name__ == "__main__":
    main(*sys.argv[1:5])
