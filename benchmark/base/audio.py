"""WAV input/output and atomic file writes.

Everything the suite writes goes through :func:`atomic_write` (temporary file in the destination folder, then
``os.replace``), so an interrupted run never leaves a half-written file in place of a finished one.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

from benchmark.base.constants import SR


class AudioFormatError(ValueError):
    """A file is not the audio the suite expects (names the file and what was expected)."""


@contextlib.contextmanager
def atomic_write(path: str | Path, mode: str = "wb", suffix: str | None = None):
    """Open a temporary file beside ``path``; on success move it into place, on error remove it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix or path.suffix or ".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode) as fh:
            yield fh
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_json(path: str | Path, obj) -> None:
    """Atomically write JSON with sorted keys and a trailing newline (byte-stable output)."""
    with atomic_write(path, "w") as fh:
        json.dump(obj, fh, indent=2, sort_keys=True, allow_nan=False)
        fh.write("\n")


def read_wav(path: str | Path, *, dtype: str = "float32", expect_sr: int | None = SR,
             expect_channels: int | None = 2) -> tuple[np.ndarray, int]:
    """Read a WAV file as (N, C) ``dtype``; checks sample rate and channel count when given."""
    path = Path(path)
    if not path.is_file():
        raise AudioFormatError(f"{path}: file not found")
    try:
        audio, sr = sf.read(str(path), dtype=dtype, always_2d=True)
    except Exception as exc:  # soundfile raises LibsndfileError/RuntimeError with terse messages
        raise AudioFormatError(f"{path}: not a readable audio file ({exc})") from None
    if expect_sr is not None and sr != expect_sr:
        raise AudioFormatError(f"{path}: sample rate {sr} Hz, expected {expect_sr} Hz")
    if expect_channels is not None and audio.shape[1] != expect_channels:
        raise AudioFormatError(f"{path}: {audio.shape[1]} channel(s), expected {expect_channels} (stereo)")
    return audio, sr


def write_wav(path: str | Path, audio: np.ndarray, sr: int = SR, subtype: str = "FLOAT") -> None:
    """Atomically write an (N, C) array as WAV (``subtype`` FLOAT = 32-bit float, PCM_16 = 16-bit)."""
    audio = np.asarray(audio)
    if audio.ndim != 2:
        raise ValueError(f"{path}: expected an (N, channels) array, got shape {audio.shape}")
    with atomic_write(path, "wb", suffix=".wav") as fh:
        sf.write(fh, audio, sr, subtype=subtype, format="WAV")
