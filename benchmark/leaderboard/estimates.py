"""Byte-level checks of a folder of estimates against the test set (every problem listed at once).

Layout ``<task_id>/<track>.wav``, one file for every task of the submission's task group × every test track, and
nothing else (besides ``submission.yaml``, ``README*``, ``LICENSE*``, ``queries.json``, ``testset.json`` at the top).
Each file: a WAV container (RIFF/RF64 header, soundfile format WAV/WAVEX/RF64), a readable subtype (PCM_16,
PCM_24, PCM_32, FLOAT, DOUBLE), 44 100 Hz, 2 channels, the exact number of samples of the test pair, finite samples
(NaN/Inf refused), no larger than such a file can be. SDR tasks: the suite, like museval, would zero-pad/truncate an
estimate of another length at the end; the leaderboard refuses it all the same, so that every entry is scored on
exactly the samples the test pair has (the error says so).
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import numpy as np

from benchmark.leaderboard.intake import is_extra

SUBTYPES = ("PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE")
FORMATS = ("WAV", "WAVEX", "RF64")
HEADER_SLACK = 1 << 16


def max_file_bytes(frames: int) -> int:
    """The largest valid estimate of ``frames`` samples: 64-bit stereo + header slack."""
    return frames * 2 * 8 + HEADER_SLACK


def expected_files(testset, task_ids) -> dict[tuple[str, str], int]:
    """(task id, track) → samples, for the selected tasks × every test track."""
    return {(e.task_id, e.track): e.frames for e in testset.entries if e.task_id in set(task_ids)}


def check_folder(folder: str | Path, testset, task_ids, *, shown_as: str | None = None) -> list[str]:
    """Every problem of an estimates folder (empty list: valid). ``shown_as`` replaces the folder in messages."""
    import soundfile as sf

    from benchmark.task.tasks import get_task

    folder = Path(folder)
    shown = shown_as or str(folder)
    want = expected_files(testset, task_ids)
    all_tasks = set(testset.tasks())
    tracks = set(testset.tracks())
    problems: list[str] = []
    seen = set()
    for p in sorted(q for q in folder.rglob("*") if q.is_file() or q.is_symlink()):
        rel = p.relative_to(folder).as_posix()
        where = f"{shown}/{rel}"
        if is_extra(rel):
            continue
        parts = PurePosixPath(rel).parts
        if len(parts) != 2:
            problems.append(f"{where}: unexpected file (layout: <task_id>/<track>.wav)")
            continue
        tid, fname = parts
        if not fname.lower().endswith(".wav"):
            problems.append(f"{where}: not a .wav file (only WAV estimates are accepted)")
            continue
        track = fname[:-4]
        if tid not in all_tasks:
            problems.append(f"{where}: {tid!r} is not an evaluation task of the test set")
            continue
        if tid not in set(task_ids):
            problems.append(f"{where}: extra task {tid} (not in the submission's task group; remove it or declare "
                            "`tasks: all` in submission.yaml)")
            continue
        if track not in tracks:
            problems.append(f"{where}: extra track {track!r} (not a test track of this test set)")
            continue
        if fname != f"{track}.wav":
            problems.append(f"{where}: extension must be '.wav' in lower case")
            continue
        seen.add((tid, track))
        frames = want[(tid, track)]
        if p.is_symlink():
            problems.append(f"{where}: symbolic link (refused)")
            continue
        size = p.stat().st_size
        if size > max_file_bytes(frames):
            problems.append(f"{where}: {size} bytes, larger than any valid estimate of {frames} samples "
                            f"({max_file_bytes(frames)} bytes)")
            continue
        with open(p, "rb") as fh:
            head = fh.read(12)
        if head[:4] not in (b"RIFF", b"RF64") or head[8:12] != b"WAVE":
            problems.append(f"{where}: not a WAV file (no RIFF/WAVE header; only WAV estimates are accepted)")
            continue
        try:
            info = sf.info(str(p))
        except Exception as exc:  # noqa: BLE001 - soundfile's errors are terse
            problems.append(f"{where}: not a readable WAV file ({exc})")
            continue
        bad = []
        if info.format not in FORMATS:
            bad.append(f"container {info.format}, expected WAV")
        if info.subtype not in SUBTYPES:
            bad.append(f"sample format {info.subtype}, expected one of {', '.join(SUBTYPES)}")
        if info.samplerate != 44100:
            bad.append(f"sample rate {info.samplerate} Hz, expected 44100 Hz")
        if info.channels != 2:
            bad.append(f"{info.channels} channel(s), expected 2 (stereo)")
        if info.frames != frames:
            note = (" (SDR task: museval would zero-pad/truncate at the end; the leaderboard requires the exact "
                    "length of the test pair)" if get_task(tid).kind == "sdr" else "")
            bad.append(f"{info.frames} samples, expected {frames} (the test pair's length){note}")
        if bad:
            problems.append(f"{where}: " + "; ".join(bad))
            continue
        if info.subtype in ("FLOAT", "DOUBLE"):
            try:
                for block in sf.blocks(str(p), blocksize=1 << 18, dtype="float64", always_2d=True):
                    if not np.isfinite(block).all():
                        n_nan = int(np.isnan(block).sum())
                        problems.append(f"{where}: non-finite samples (NaN: {n_nan}, Inf: "
                                        f"{int(np.isinf(block).sum())} in one block; every sample must be finite)")
                        break
            except Exception as exc:  # noqa: BLE001
                problems.append(f"{where}: could not read the samples ({exc})")
    for (tid, track) in sorted(set(want) - seen, key=lambda k: (k[0], k[1])):
        problems.append(f"{shown}/{tid}/{track}.wav: missing (estimate of task {tid} for track {track!r}; every "
                        "task × track of the submission's task group is required)")
    return problems
