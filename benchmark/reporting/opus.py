"""Ogg Opus clips of the reports (the listening section, the property clips): ffmpeg, byte-deterministic
(``-fflags +bitexact``: no encoder version, fixed Ogg serial numbers; no metadata). Imports nothing of the suite
beyond WAV I/O (a small stage dependency)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from benchmark.base.audio import write_wav

#: Opus in Ogg at this bit rate: ≈ 35 kB per 4-s stereo clip (Chromium plays it)
BITRATE = "64k"


class EncodeError(ValueError):
    """ffmpeg is missing or failed."""


def ffmpeg_args(src: Path, dst: Path) -> list[str]:
    """The ffmpeg command that encodes ``src`` (WAV) to ``dst`` (Ogg Opus) with no metadata, byte-deterministic."""
    return ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(src), "-map_metadata", "-1",
            "-fflags", "+bitexact", "-flags:a", "+bitexact", "-c:a", "libopus", "-b:a", BITRATE, "-ar", "48000",
            str(dst)]


def encode(audio: np.ndarray, dst: Path, error=EncodeError) -> None:
    """``audio`` (N, 2), clipped to ±1, as 16-bit PCM → ``dst`` (Ogg Opus); ``error``: the exception class raised."""
    if shutil.which("ffmpeg") is None:
        raise error("ffmpeg not found (a declared system dependency: `make system-deps`)")
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "clip.wav"
        write_wav(wav, np.clip(np.asarray(audio, dtype=np.float32), -1.0, 1.0), subtype="PCM_16")
        done = subprocess.run(ffmpeg_args(wav, dst), capture_output=True, text=True)
        if done.returncode != 0:
            raise error(f"ffmpeg could not encode {dst}: {done.stderr.strip()[-400:]}")
