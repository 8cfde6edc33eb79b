"""A tiny seeded dataset root in the MUSDB18-HQ layout (noise and tones, no FluidSynth): the fixture of the test
suite and of the regression gate's training fingerprints (``benchmark/gate/golden.py``). Bit-identical for the same
arguments: 16-bit PCM from NumPy's seeded generator."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import soundfile as sf

from benchmark.base.constants import SOURCES, SR


def make_root(root: Path, *, n_train: int = 2, n_valid: int = 1, n_test: int = 2, seconds: float = 3.0,
              seed: int = 0) -> Path:
    """Write a valid synthetic-source root: 16-bit stems with distinct spectra and stereo placement."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    t = np.arange(n) / SR
    names = {"train": [f"Noise {i:02d} - Train" for i in range(n_train)],
             "valid": [f"Noise {i:02d} - Valid" for i in range(n_valid)],
             "test": [f"Noise {i:02d} - Test" for i in range(n_test)]}
    for split, tracks in names.items():
        for name in tracks:
            d = root / ("test" if split == "test" else "train") / name
            d.mkdir(parents=True)
            ints = []
            for k, source in enumerate(SOURCES):
                tone = np.sin(2 * np.pi * (110 * (k + 1) + rng.uniform(0, 50)) * t)
                noise = rng.standard_normal(n) * (0.05 + 0.05 * k)
                mono = 0.2 * tone + noise
                pan = rng.uniform(0.2, 0.8)
                stereo = np.stack([mono * (1 - pan), mono * pan], axis=1) * 0.5
                pcm = np.clip(np.round(stereo * 32768), -32768, 32767).astype(np.int16)
                ints.append(pcm.astype(np.int32))
                sf.write(d / f"{source}.wav", pcm, SR, subtype="PCM_16")
            mix = np.clip(sum(ints), -32768, 32767).astype(np.int16)
            sf.write(d / "mixture.wav", mix, SR, subtype="PCM_16")
    (root / "splits.json").write_text(json.dumps({**names, "seed": seed}))
    return root
