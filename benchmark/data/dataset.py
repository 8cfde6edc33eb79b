"""Reading and validating a dataset root: the embedded synthetic set, MUSDB18-HQ, or MUSDB18.

All three are read as (4, N, 2) float32 stems in SOURCES order and an (N, 2) float32 mixture (protocol §1):

* ``synthetic`` and ``musdb18hq``: ``<root>/{train,test}/<track>/{mixture,vocals,drums,bass,other}.wav``, read
  losslessly with soundfile (16-bit PCM → float32, exactly what musdb's 16-bit decoder yields);
  a MUSDB18 tree converted with ``musdbconvert`` has the same layout (plus two extra files, ignored) and is read as
  ``musdb18hq`` — this is the faithful route to the thesis numbers (protocol §1.2).
* ``musdb18``: ``<root>/{train,test}/<track>.stem.mp4`` decoded through musdb/stempeg (needs ffmpeg).

Splits: ``train``/``valid``/``test``. For real MUSDB18 the 14 validation tracks are musdb's own list
(``validation_tracks`` in musdb's ``configs/mus.yaml``); the synthetic set names its own in ``splits.json``.

A root is validated before any work (:meth:`Dataset.validate`): every track has all five files, 44.1 kHz, stereo,
readable, equal lengths. Errors name the offending file and what was expected.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from benchmark.base.audio import read_wav
from benchmark.base.constants import SOURCES, SR, STEMS

DATA_SOURCES = ("synthetic", "musdb18hq", "musdb18")
SPLITS = ("train", "valid", "test")


class DatasetError(ValueError):
    """The dataset root is not what the suite expects; the message names the file/track and the expectation."""


@functools.cache
def musdb_validation_tracks() -> tuple[str, ...]:
    """musdb's own validation list (14 tracks), read from the installed musdb package's config."""
    import importlib.util

    import yaml

    spec = importlib.util.find_spec("musdb")
    if spec is None or not spec.submodule_search_locations:
        raise DatasetError("the musdb package is not installed; it defines the MUSDB18 validation split")
    cfg = Path(list(spec.submodule_search_locations)[0]) / "configs" / "mus.yaml"
    with open(cfg) as fh:
        return tuple(yaml.safe_load(fh)["validation_tracks"])


@dataclass(frozen=True)
class TrackInfo:
    name: str
    split: str
    folder: str  # "train" or "test" on disk
    frames: int


class Dataset:
    """A validated dataset root."""

    def __init__(self, root: str | Path, source: str = "synthetic"):
        if source not in DATA_SOURCES:
            raise DatasetError(f"data.source must be one of {', '.join(DATA_SOURCES)}, got {source!r}")
        self.root = Path(root)
        self.source = source
        if not self.root.is_dir():
            raise DatasetError(f"{self.root}: dataset root not found (data.source = {source})")
        self._splits = self._read_splits()

    # ---------------------------------------------------------------------------------------------- splits
    def _folder_tracks(self, folder: str) -> list[str]:
        d = self.root / folder
        if not d.is_dir():
            raise DatasetError(f"{d}: missing folder; a {self.source} root holds train/ and test/")
        if self.source == "musdb18":
            names = [p.name[: -len(".stem.mp4")] for p in d.glob("*.stem.mp4")]
        else:
            names = [p.name for p in d.iterdir() if p.is_dir() and not p.name.startswith(".")]
        return sorted(names)

    def _read_splits(self) -> dict[str, list[str]]:
        train_all = self._folder_tracks("train")
        test = self._folder_tracks("test")
        if self.source == "synthetic":
            spec = self.root / "splits.json"
            if not spec.is_file():
                raise DatasetError(f"{spec}: missing; a synthetic root is written by `amss-bench data render`")
            splits = json.loads(spec.read_text())
            for split in SPLITS:
                folder_tracks = test if split == "test" else train_all
                for name in splits.get(split, []):
                    if name not in folder_tracks:
                        raise DatasetError(f"{spec}: track {name!r} of split {split!r} has no folder under "
                                           f"{self.root / ('test' if split == 'test' else 'train')}")
            return {s: list(splits.get(s, [])) for s in SPLITS}
        valid_names = set(musdb_validation_tracks())
        return {"train": [t for t in train_all if t not in valid_names],
                "valid": [t for t in train_all if t in valid_names],
                "test": test}

    def tracks(self, split: str = "test") -> list[str]:
        if split not in SPLITS:
            raise DatasetError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
        return list(self._splits[split])

    def split_of(self, track: str) -> str:
        for split in SPLITS:
            if track in self._splits[split]:
                return split
        raise DatasetError(f"{self.root}: no track named {track!r} (data.source = {self.source})")

    def _folder(self, track: str) -> str:
        return "test" if self.split_of(track) == "test" else "train"

    def track_dir(self, track: str) -> Path:
        return self.root / self._folder(track) / track

    # ---------------------------------------------------------------------------------------------- audio
    def stems(self, track: str) -> np.ndarray:
        """The four sources as (4, N, 2) float32 in SOURCES order."""
        if self.source == "musdb18":
            t = self._musdb_track(track)
            return np.stack([t.sources[s].audio for s in SOURCES]).astype(np.float32)
        return np.stack([read_wav(self.track_dir(track) / f"{s}.wav")[0] for s in SOURCES])

    def mixture(self, track: str) -> np.ndarray:
        """The mixture as (N, 2) float32 (``mixture.wav``, not the stem sum; protocol §1.4)."""
        if self.source == "musdb18":
            return self._musdb_track(track).audio.astype(np.float32)
        return read_wav(self.track_dir(track) / "mixture.wav")[0]

    @functools.cached_property
    def _musdb(self):
        import musdb

        return {t.name: t for t in musdb.DB(root=str(self.root), is_wav=False, subsets=["train", "test"])}

    def _musdb_track(self, track: str):
        self.split_of(track)
        return self._musdb[track]

    # ---------------------------------------------------------------------------------------------- checks
    def validate(self, splits: tuple[str, ...] = SPLITS) -> dict[str, list[TrackInfo]]:
        """Check every track of the given splits; returns track infos per split or raises DatasetError."""
        out: dict[str, list[TrackInfo]] = {}
        for split in splits:
            infos = []
            for name in self.tracks(split):
                infos.append(self.check_track(name, split))
            out[split] = infos
        if not out.get("test", [None]):
            raise DatasetError(f"{self.root}: the test split is empty")
        return out

    def check_track(self, name: str, split: str) -> TrackInfo:
        folder = "test" if split == "test" else "train"
        if self.source == "musdb18":
            path = self.root / folder / f"{name}.stem.mp4"
            if not path.is_file():
                raise DatasetError(f"{path}: missing (expected a MUSDB18 .stem.mp4 file)")
            return TrackInfo(name, split, folder, -1)
        frames = None
        for stem in STEMS:
            path = self.root / folder / name / f"{stem}.wav"
            if not path.is_file():
                raise DatasetError(f"{path}: missing; every track needs {', '.join(s + '.wav' for s in STEMS)}")
            try:
                info = sf.info(str(path))
            except Exception as exc:
                raise DatasetError(f"{path}: not a readable WAV file ({exc})") from None
            if info.samplerate != SR:
                raise DatasetError(f"{path}: sample rate {info.samplerate} Hz, expected {SR} Hz")
            if info.channels != 2:
                raise DatasetError(f"{path}: {info.channels} channel(s), expected 2 (stereo)")
            if frames is None:
                frames = info.frames
            elif info.frames != frames:
                raise DatasetError(f"{path}: {info.frames} samples, expected {frames} like mixture.wav of the "
                                   f"same track")
        return TrackInfo(name, split, folder, frames)

    def describe(self, *, hash_files: bool | None = None) -> dict:
        """A JSON-able description of the validated root (the `data` stage's output).

        Synthetic roots list the sha256 of every file; real roots list sizes and lengths unless ``hash_files``."""
        if hash_files is None:
            hash_files = self.source == "synthetic"
        infos = self.validate()
        tracks = {}
        for split, items in infos.items():
            for info in items:
                entry = {"split": split, "frames": info.frames}
                if self.source != "musdb18":
                    files = {}
                    for stem in STEMS:
                        p = self.root / info.folder / info.name / f"{stem}.wav"
                        files[stem] = file_sha256(p) if hash_files else p.stat().st_size
                    entry["files"] = files
                tracks[info.name] = entry
        return {"source": self.source, "splits": {s: self.tracks(s) for s in SPLITS}, "tracks": tracks,
                "file_digest": "sha256" if hash_files else "size"}


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def open_dataset(root: str | Path, source: str = "synthetic", *, validate: bool = True) -> Dataset:
    """Open (and by default validate) a dataset root."""
    ds = Dataset(root, source)
    if validate:
        ds.validate()
    return ds
