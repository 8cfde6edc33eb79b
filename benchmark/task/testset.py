"""The AMSS test set: for every evaluation task × test track, the exact (input, target) pair the evaluation uses.

Storage design (documented in README, "The test set"): the set is a **manifest** (``manifest.json``) holding, per
pair, the task id/version/description, the track, and the sha256 of the input and of the target samples. The audio
is *not* stored: every pair is a deterministic function of the dataset and the task (SoX is bit-reproducible), so
:meth:`TestSet.load_pair` regenerates it and verifies both hashes — a mismatch is a loud
:class:`TestSetIntegrityError`. Full MUSDB18 (50 tracks × 25 tasks) therefore costs a few hundred kB instead of
~190 GB of float32 pairs; regeneration costs ≈ 0.2 s of SoX per minute of audio.

Pair definitions (protocol §1.4, §3, §6.1):

* SDR tasks: input = ``mixture.wav`` (not normalised), target = the musdb target (the stem; "other" for the
  mute task);
* RMSE-MFCC tasks: corrected Algorithm 1 on the full-length stems (:func:`benchmark.task.dsp.make_pair`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmark.task import aml, dsp
from benchmark.base.audio import read_wav, write_json, write_wav
from benchmark.base.constants import SOURCES
from benchmark.data.dataset import Dataset, open_dataset
from benchmark.base.provenance import array_sha256, environment, json_sha256
from benchmark.task.tasks import CHANGELOG, EVAL_TASKS, TASKS_SCHEMA, Task, get_task, task_for_query

log = logging.getLogger("amss_bench.testset")

MANIFEST = "manifest.json"
MANIFEST_SCHEMA = 1


class TestSetIntegrityError(RuntimeError):
    """A regenerated pair does not hash to what the manifest recorded."""

    __test__ = False  # not a pytest test class


def pair_from_audio(task: Task, stems: np.ndarray, mixture: np.ndarray, *, peak_mode: str = "signed") -> dsp.Pair:
    """The (input, target) pair of an evaluation task from a track's stems (4, N, 2) and mixture (N, 2)."""
    if task.kind == "sdr":
        return dsp.Pair(mixture, stems[SOURCES.index(task.source)].copy(), task.query)
    return dsp.make_pair(stems, task.query, peak_mode=peak_mode)


def task_pair(task: Task, ds: Dataset, track: str, *, peak_mode: str = "signed") -> dsp.Pair:
    """The (input, target) pair of an evaluation task on one track."""
    mixture = ds.mixture(track) if task.kind == "sdr" else None
    return pair_from_audio(task, ds.stems(track), mixture, peak_mode=peak_mode)


def query_pair(query: str | aml.Query, ds: Dataset, track: str, *, peak_mode: str = "signed") -> dsp.Pair:
    """The pair for any AML query: an evaluation task's own pair when the query is one, else Algorithm 1."""
    q = aml.parse(query) if isinstance(query, str) else query
    task = task_for_query(q)
    if task is not None:
        return task_pair(task, ds, track, peak_mode=peak_mode)
    return dsp.make_pair(ds.stems(track), q, peak_mode=peak_mode)


#: musdb's ``accompaniment`` target (musdb ``configs/mus.yaml``): the same three stems whatever the separated target
ACCOMPANIMENT = ("drums", "bass", "other")
PCM16_MAX = 32767 / 32768


def stem_sum(stems: np.ndarray) -> np.ndarray:
    """Sum of stems (k, N, 2) in float64 (exact for 16-bit samples: no rounding, no clipping), as musdb sums its
    targets."""
    return np.asarray(stems, dtype=np.float64).sum(axis=0)


def pcm16_sum(stems: np.ndarray) -> tuple[np.ndarray, int]:
    """The stem sum as a 16-bit PCM file holds it (what ``musdbconvert`` writes to ``linear_mixture.wav``): clipped
    to [-1, 1 - 2^-15], as float32. Returns (audio, number of clipped samples). For 16-bit stems the sum is a
    multiple of 2^-15 already, so only the clipping can change it."""
    total = stem_sum(stems)
    clipped = int(np.count_nonzero((total < -1.0) | (total > PCM16_MAX)))
    return np.clip(total, -1.0, PCM16_MAX).astype(np.float32), clipped


@dataclass(frozen=True)
class Entry:
    task_id: str
    task_version: int
    description: str
    kind: str
    track: str
    frames: int
    input_sha256: str
    target_sha256: str
    normalisation_gain: float
    clipped_samples: int


def build(root: str | Path, out: str | Path, *, source: str = "synthetic", tasks: tuple[Task, ...] = EVAL_TASKS,
          peak_mode: str = "signed", seed: int = 0, progress: bool = True) -> Path:
    """Build the test set of a dataset root into ``out``; returns the manifest path.

    No randomness is involved (evaluation uses default descriptions); ``seed`` is recorded for provenance."""
    from tqdm import tqdm

    ds = open_dataset(root, source)
    tracks = ds.tracks("test")
    entries = []
    bar = tqdm(total=len(tracks) * len(tasks), desc="test set", unit="pair", disable=not progress)
    for track in tracks:
        stems = ds.stems(track)
        mixture = ds.mixture(track)
        for task in tasks:
            pair = pair_from_audio(task, stems, mixture, peak_mode=peak_mode)
            if pair.total_clipped:
                log.info("%s / %s: SoX clipped %d samples", track, task.id, pair.total_clipped)
            entries.append(Entry(task.id, task.version, task.description, task.kind, track, int(pair.input.shape[0]),
                                 array_sha256(pair.input), array_sha256(pair.target), pair.gain,
                                 pair.total_clipped).__dict__)
            bar.update()
    bar.close()
    manifest = {
        "schema": MANIFEST_SCHEMA,
        "data": {"source": source, "root": str(root), "test_tracks": tracks},
        "peak_mode": peak_mode,
        "seed": seed,
        "tasks": {t.id: {"version": t.version, "description": t.description, "kind": t.kind, "source": t.source,
                         "table": t.table, "column": t.column} for t in tasks},
        "tasks_schema": TASKS_SCHEMA,
        "tasks_changelog": [list(c) for c in CHANGELOG],
        "hash": "sha256 of little-endian float32 samples, C order (N, 2)",
        "entries": entries,
        "environment": environment(),
    }
    path = Path(out) / MANIFEST
    write_json(path, manifest)
    log.info("wrote %s: %d pairs (%d tasks × %d tracks)", path, len(entries), len(tasks), len(tracks))
    return path


class TestSet:
    """An opened test set: its manifest, plus verified regeneration of its pairs."""

    __test__ = False

    def __init__(self, manifest: dict, path: Path, root: str | Path | None = None):
        self.manifest = manifest
        self.path = path
        self.root = Path(root) if root is not None else Path(manifest["data"]["root"])
        self.source = manifest["data"]["source"]
        self.peak_mode = manifest.get("peak_mode", "signed")
        self.entries = [Entry(**e) for e in manifest["entries"]]
        self._index = {(e.task_id, e.track): e for e in self.entries}
        self._ds: Dataset | None = None
        self._audio: list | None = None  # [track, stems, mixture or None]: the last track read, for its other tasks

    @classmethod
    def open(cls, directory: str | Path, root: str | Path | None = None) -> "TestSet":
        import json

        path = Path(directory) / MANIFEST
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no test-set manifest (build one with `amss-bench testset build`)")
        manifest = json.loads(path.read_text())
        if manifest.get("schema") != MANIFEST_SCHEMA:
            raise ValueError(f"{path}: manifest schema {manifest.get('schema')!r}, expected {MANIFEST_SCHEMA}")
        return cls(manifest, path, root)

    @property
    def manifest_hash(self) -> str:
        """sha256 of the manifest content without its environment block (what results refer to)."""
        return json_sha256({k: v for k, v in self.manifest.items() if k != "environment"})

    @property
    def dataset(self) -> Dataset:
        if self._ds is None:
            self._ds = open_dataset(self.root, self.source, validate=False)
        return self._ds

    def tasks(self) -> list[str]:
        return list(dict.fromkeys(e.task_id for e in self.entries))

    def tracks(self) -> list[str]:
        return list(dict.fromkeys(e.track for e in self.entries))

    def entry(self, task_id: str, track: str) -> Entry:
        try:
            return self._index[(task_id, track)]
        except KeyError:
            raise KeyError(f"{self.path}: no pair for task {task_id!r} and track {track!r}") from None

    def _track_audio(self, track: str, *, with_mixture: bool) -> tuple[np.ndarray, np.ndarray | None]:
        """Stems (and mixture) of a track, read once for all the tasks evaluated on it in a row."""
        if self._audio is None or self._audio[0] != track:
            self._audio = [track, self.dataset.stems(track), None]
        if with_mixture and self._audio[2] is None:
            self._audio[2] = self.dataset.mixture(track)
        return self._audio[1], self._audio[2]

    def accompaniment(self, track: str) -> np.ndarray:
        """musdb's ``accompaniment`` target of a track, drums + bass + other (float64, exact for 16-bit stems): the
        second reference of the pair scoring (docs/fidelity.md §1). Derived from the stems the test set already
        reads, so the manifest is unchanged."""
        stems, _ = self._track_audio(track, with_mixture=False)
        return stem_sum(stems[[SOURCES.index(s) for s in ACCOMPANIMENT]])

    def linear_mixture(self, track: str) -> tuple[np.ndarray, dict]:
        """The reference code's ``linear_mixture`` input of a track as float32, and where it came from:
        ``<track>/linear_mixture.wav`` when the dataset has one (``musdbconvert`` output), else the sum of the four
        stems written as 16 bits would write it (clipped to [-1, 1 - 2^-15]; MUSDB18-HQ and the synthetic set)."""
        path = None if self.source == "musdb18" else self.dataset.track_dir(track) / "linear_mixture.wav"
        stems, _ = self._track_audio(track, with_mixture=False)
        if path is not None and path.is_file():
            audio = read_wav(path)[0]
            if audio.shape != stems.shape[1:]:
                raise TestSetIntegrityError(f"{path}: {audio.shape[0]} samples × {audio.shape[1]} channels, expected "
                                            f"{stems.shape[1]} × {stems.shape[2]} like the stems of the track")
            return audio, {"derivation": "linear_mixture.wav", "clipped_samples": 0}
        audio, clipped = pcm16_sum(stems)
        return audio, {"derivation": "stem-sum-16bit", "clipped_samples": clipped}

    def target_sources(self, task_id: str, track: str, pair: dsp.Pair) -> dict[str, np.ndarray]:
        """The target of an edit task's ``pair`` split into its sources (float64, SOURCES order): each untouched
        source is its stem divided by the pair's normalisation gain; the edited source (``task.source``) is the
        rest, ``target − Σ untouched`` — its edited version (for dereverb: the dry stem), up to the float32 rounding
        of the stored target, with no second SoX run. What the preservation metric decomposes the error on."""
        task = get_task(task_id)
        if task.kind != "mfcc":
            raise ValueError(f"task {task_id!r} is not an edit task: its target has no source decomposition")
        stems, _ = self._track_audio(track, with_mixture=False)
        if stems.shape[1:] != pair.target.shape:
            raise ValueError(f"{self.path}: track {track!r} stems of {stems.shape[1]} samples, the target of task "
                             f"{task_id} {pair.target.shape[0]}")
        out = {s: stems[k].astype(np.float64) / pair.gain for k, s in enumerate(SOURCES) if s != task.source}
        out[task.source] = pair.target.astype(np.float64) - sum(out.values())
        return {s: out[s] for s in SOURCES}

    def load_pair(self, task_id: str, track: str) -> dsp.Pair:
        """Regenerate a pair and verify it against the manifest."""
        e = self.entry(task_id, track)
        task = get_task(task_id)
        if task.version != e.task_version:
            raise TestSetIntegrityError(f"{self.path}: task {task_id} is version {task.version} in this code but "
                                        f"version {e.task_version} in the manifest; rebuild the test set")
        stems, mixture = self._track_audio(track, with_mixture=task.kind == "sdr")
        pair = pair_from_audio(task, stems, mixture, peak_mode=self.peak_mode)
        for name, arr, want in (("input", pair.input, e.input_sha256), ("target", pair.target, e.target_sha256)):
            got = array_sha256(arr)
            if got != want:
                raise TestSetIntegrityError(
                    f"{self.path}: regenerated {name} of task {task_id} on track {track!r} has sha256 {got[:16]}…, "
                    f"manifest says {want[:16]}… — the dataset, SoX or the task code changed; rebuild the test set")
        return pair


def write_pair(pair: dsp.Pair, outdir: str | Path) -> tuple[Path, Path]:
    """Write ``input.wav`` and ``target.wav`` (float32, 44.1 kHz, stereo)."""
    outdir = Path(outdir)
    paths = outdir / "input.wav", outdir / "target.wav"
    write_wav(paths[0], pair.input.astype(np.float32))
    write_wav(paths[1], pair.target.astype(np.float32))
    return paths
