"""A folder of precomputed estimates as a system (``amss-bench evaluate --estimates DIR``).

Layout (docs/evaluation.md)::

    DIR/<task_id>/<track>.wav        e.g. DIR/sdr-vocals/Al James - Schoolboy Facination.wav
                                          DIR/pan-left-vocals/Al James - Schoolboy Facination.wav

Every file: WAV, 44 100 Hz, 2 channels, any subtype soundfile reads (float32 or 16/24-bit PCM), the same number of
samples as the test pair (SDR tasks: shorter/longer files are zero-padded/truncated like museval does; RMSE-MFCC
tasks: the length must match exactly). :meth:`EstimatesSystem.check` verifies every needed file (presence, sample
rate, channels) before any work starts and names every bad file in one error.

Resumability: a result records the sha256 of the estimate file(s) it was computed from (``estimate.source_sha256``);
replacing a file invalidates exactly the results that used it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Sequence

import numpy as np

from baselines.base import System, SystemConfigError, as_estimate
from benchmark.base.constants import SR


class EstimatesFolderError(SystemConfigError):
    """Missing or malformed estimate files (the message names each file)."""


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


class EstimatesSystem(System):
    kind = "estimates"
    version = 1

    def __init__(self, directory: str | Path, name: str | None = None, **kw):
        self.directory = Path(directory)
        if not self.directory.is_dir():
            raise EstimatesFolderError(f"{self.directory}: estimates folder not found")
        super().__init__(name or self.directory.resolve().name, **kw)

    def path(self, task_id: str, track: str) -> Path:
        return self.directory / task_id / f"{track}.wav"

    def metadata(self) -> dict:
        return {**super().metadata(), "layout": "<dir>/<task_id>/<track>.wav"}

    def check(self, tasks, tracks) -> None:
        import soundfile as sf

        super().check(tasks, tracks)
        problems = []
        for task in tasks:
            for track in tracks:
                p = self.path(task.id, track)
                if not p.is_file():
                    problems.append(f"{p}: missing (estimate of task {task.id} for track {track!r})")
                    continue
                try:
                    info = sf.info(str(p))
                except Exception as exc:  # soundfile's errors are terse
                    problems.append(f"{p}: not a readable audio file ({exc})")
                    continue
                if info.samplerate != SR:
                    problems.append(f"{p}: sample rate {info.samplerate} Hz, expected {SR} Hz")
                if info.channels != 2:
                    problems.append(f"{p}: {info.channels} channel(s), expected 2 (stereo)")
        if problems:
            more = f"\n  … and {len(problems) - 50} more" if len(problems) > 50 else ""
            shown = "\n  ".join(problems[:50]) + more
            raise EstimatesFolderError(f"estimates folder {self.directory} has {len(problems)} problem(s):\n  {shown}")

    def unit_fingerprint(self, task_ids: Sequence[str], track: str) -> str | None:
        from benchmark.base.provenance import json_sha256

        hashes = {}
        for tid in task_ids:
            p = self.path(tid, track)
            if not p.is_file():
                raise EstimatesFolderError(f"{p}: missing (estimate of task {tid} for track {track!r})")
            hashes[tid] = file_sha256(p)
        return json_sha256(hashes)

    def estimate(self, task, pair, *, track=None) -> np.ndarray:
        from benchmark.base.audio import AudioFormatError, read_wav

        if track is None:
            raise EstimatesFolderError("the estimates-folder system needs the track name")
        p = self.path(task.id, track)
        try:
            audio, _ = read_wav(p, expect_sr=SR, expect_channels=2)
        except AudioFormatError as err:
            raise EstimatesFolderError(str(err)) from None
        n = pair.target.shape[0]
        if task.kind != "sdr" and audio.shape[0] != n:
            raise EstimatesFolderError(f"{p}: {audio.shape[0]} samples, expected {n} (the length of the test pair of "
                                       f"task {task.id} on track {track!r})")
        try:
            return as_estimate(audio, who=str(p))
        except ValueError as err:
            raise EstimatesFolderError(str(err)) from None
