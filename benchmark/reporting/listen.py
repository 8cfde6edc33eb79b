"""Listening clips for the HTML report (the `listen` stage): a few test pairs, each with the input, the target and
some systems' estimates as short Opus clips, and a small spectrogram PNG per clip.

The pairs come from the verified test set (:meth:`benchmark.task.testset.TestSet.load_pair`), the estimates from the
ordinary system API (:class:`baselines.model.ModelSystem` for a trained checkpoint, :func:`baselines.get_system` for
a baseline): no inference code of its own. One test track (the first of the manifest, or ``track``), a window of
``seconds`` around the middle of the track; the systems run on that window only (a 4-s clip: seconds of CPU).
A system that cannot answer a task's query is left out of that task.

Outputs (``out``): ``listen.json`` (what was played: track, window, per task the clips with their roles and files)
and ``<task>/<role>.ogg`` + ``<task>/<role>.png``. Byte-deterministic: ffmpeg with ``-fflags +bitexact`` (no encoder
version, fixed Ogg serial numbers) and no metadata; PNGs without the matplotlib version chunk.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
import tempfile
from pathlib import Path

import numpy as np

from benchmark.base.audio import atomic_write
from benchmark.base.constants import SR
from benchmark.reporting import opus as _opus
from benchmark.reporting.opus import BITRATE, ffmpeg_args  # noqa: F401 - the listen stage's encoder settings
from benchmark.reporting.plotting import PNG_METADATA, pristine

log = logging.getLogger("amss_bench.listen")

#: one SDR task per kind of target and a handful of edit tasks (one per task family of Table 5.3)
DEFAULT_TASKS = ("sdr-vocals", "sdr-drums", "pan-left-drums", "volume-up-vocals", "lowpass-bass", "dereverb-vocals")
#: trained models (runs/train/<profile>/<model>) and baselines whose estimates are played
DEFAULT_MODELS = ("u7-dcse", "cunet-gpocm-lasaft", "amss-net")
DEFAULT_BASELINES = ("dsp-mixture",)
SECONDS = 4.0
SPEC_SIZE = (3.2, 1.3)


class ListenError(ValueError):
    """A task, model or track that cannot be played, or an encoder failure."""


def encode(audio: np.ndarray, dst: Path) -> None:
    _opus.encode(audio, dst, ListenError)


@pristine
def spectrogram_png(audio: np.ndarray, title: str) -> bytes:
    """A small magnitude spectrogram (dBFS, fixed scale −100…0 dB so clips compare) without version metadata."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from benchmark.reporting.silence import HOP, spectrogram_db

    s = spectrogram_db(audio)
    fig, ax = plt.subplots(figsize=SPEC_SIZE)
    ax.imshow(s, origin="lower", aspect="auto", vmin=-100, vmax=0, cmap="magma",
              extent=(0, s.shape[1] * HOP / SR, 0, SR / 2000))
    ax.set_title(title, fontsize=7)
    ax.tick_params(labelsize=6)
    ax.set_ylabel("kHz", fontsize=6)
    fig.tight_layout(pad=0.2)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80, metadata=PNG_METADATA)
    plt.close(fig)
    return buf.getvalue()


def window(n: int, seconds: float) -> tuple[int, int]:
    """(start, stop) sample of a ``seconds`` window around the middle of ``n`` samples (the whole track if shorter)."""
    length = min(n, int(round(seconds * SR)))
    start = (n - length) // 2
    return start, start + length


def systems(runs_root: str | Path | None, models, baselines) -> list:
    """The systems to play: each model's first run under ``runs_root`` (a dedicated model: its vocals checkpoint,
    like the silence stage), then the baselines."""
    from baselines import get_system
    from baselines.model import ModelSystem
    from benchmark.reporting.silence import find_checkpoints

    out = []
    if models:
        found = {}
        for model, _seed, path in find_checkpoints(runs_root):
            found.setdefault(model, path)
        missing = [m for m in models if m not in found]
        if missing:
            raise ListenError(f"{runs_root}: no checkpoint for model(s) {', '.join(missing)} "
                              f"(have: {', '.join(found) or 'none'})")
        out += [ModelSystem(checkpoint=found[m], label=m, channels_last=False) for m in models]
    out += [get_system(b) for b in baselines]
    return out


def build(testset_dir: str | Path, out: str | Path, *, runs_root: str | Path | None = None, models=DEFAULT_MODELS,
          baselines=DEFAULT_BASELINES, tasks=DEFAULT_TASKS, track: str | None = None, seconds: float = SECONDS,
          root: str | Path | None = None, profile: str = "") -> Path:
    """Write the clips, their spectrograms and ``listen.json`` to ``out`` (replaced as a whole at the end: an error
    leaves the previous folder as it was)."""
    from benchmark.task.tasks import get_task
    from benchmark.task.testset import TestSet

    ts = TestSet.open(testset_dir, root)
    track = track or ts.tracks()[0]
    if track not in ts.tracks():
        raise ListenError(f"{ts.path}: no test track {track!r} (have: {', '.join(ts.tracks())})")
    unknown = [t for t in tasks if t not in ts.tasks()]
    if unknown:
        raise ListenError(f"{ts.path}: task(s) {', '.join(unknown)} not in the test set")
    players = systems(runs_root, models, baselines)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=".listen-", dir=out.parent))
    try:
        doc = {"profile": profile, "track": track, "seconds": seconds, "sample_rate": SR, "codec": f"opus {BITRATE}",
               "manifest_hash": ts.manifest_hash, "tasks": []}
        for task_id in tasks:
            task = get_task(task_id)
            pair = ts.load_pair(task_id, track)
            a, b = window(len(pair.input), seconds)
            clip = dataclasses.replace(pair, input=pair.input[a:b], target=pair.target[a:b])
            entry = {"task": task_id, "query": task.description, "kind": task.kind, "start_s": a / SR, "clips": []}
            sounds = [("input", "input (mixture)", clip.input), ("target", "target", clip.target)]
            for system in players:
                if not system.supports(task):
                    continue
                sounds.append((system.label, system.label, system.estimate(task, clip, track=track)))
            (stage / task_id).mkdir()
            for role, title, audio in sounds:
                encode(audio, stage / task_id / f"{role}.ogg")
                (stage / task_id / f"{role}.png").write_bytes(spectrogram_png(audio, f"{task_id}: {title}"))
                entry["clips"].append({"role": role, "title": title, "audio": f"{task_id}/{role}.ogg",
                                       "spectrogram": f"{task_id}/{role}.png"})
            doc["tasks"].append(entry)
            log.info("%s: %d clips", task_id, len(entry["clips"]))
        with atomic_write(stage / "listen.json", "w") as fh:
            fh.write(json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
        stage.chmod(0o755)  # mkdtemp's 0700 is not what a results folder should be
        old = out.parent / f".listen-old-{out.name}"
        if out.exists():
            out.rename(old)
        stage.rename(out)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return out / "listen.json"
