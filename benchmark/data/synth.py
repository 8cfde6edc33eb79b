"""Embedded synthetic dataset in the MUSDB18-HQ layout (see ``docs/dataset.md``).

``render(root, ...)`` composes one multi-track song per track (:mod:`benchmark.data.composer`), writes one General MIDI
file per source, renders each with the ``fluidsynth`` command-line synthesizer (reverb and chorus off) and a GM
soundfont, places each stem in the stereo field with a seeded pan/width matrix, sets seeded per-source levels and
writes::

    <root>/train/<Artist - Title>/{mixture,vocals,drums,bass,other}.wav   # train + valid tracks
    <root>/test/<Artist - Title>/{mixture,vocals,drums,bass,other}.wav
    <root>/splits.json                                                    # which train/ tracks are "valid", params
    <root>/README

All WAVs are 44.1 kHz, stereo, 16-bit PCM; ``mixture`` is the sum of the four int16 stems (clipped to int16 if needed,
and the number of clipped samples is reported). Each track is a pure function of ``(seed, split, index, seconds,
soundfont, fluidsynth version)``: the same parameters give byte-identical files, and adding tracks does not change the
existing ones.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
import shutil
import subprocess
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np

from benchmark.base.constants import SOURCES, SR
from benchmark.data import composer

log = logging.getLogger("amss_bench.data")

GENERATOR = "amss-bench synth v1"
DEFAULT_SOUNDFONT = "/usr/share/sounds/sf2/TimGM6mb.sf2"
SPLITS = ("train", "valid", "test")
SPLIT_CODE = {"train": 0, "valid": 1, "test": 2}
SPLIT_FOLDER = {"train": "train", "valid": "train", "test": "test"}
MIN_SECONDS = 4.0
FILES = ("mixture",) + SOURCES
TMP_DIR = ".tmp"
FLUIDSYNTH_GAIN = 0.5

# Target RMS level (dBFS, whole stem) ranges, pan position ranges (-1 = hard left .. +1 = hard right, drawn
# uniformly in [-max, +max]) and stereo-width ranges (side-signal gain) per source.
LEVEL_DB = {"vocals": (-28.0, -21.0), "drums": (-28.0, -21.0), "bass": (-30.0, -23.0), "other": (-31.0, -23.0)}
PAN_MAX = {"vocals": 0.25, "drums": 0.5, "bass": 0.2, "other": 0.7}
WIDTH = {"vocals": (0.3, 1.0), "drums": (0.4, 1.4), "bass": (0.0, 0.8), "other": (0.5, 1.5)}
HEADROOM = 10 ** (-1.0 / 20)  # mixture peak limit before quantisation (-1 dBFS)

ADJECTIVES = (
    "Amber", "Bitter", "Blue", "Brave", "Bright", "Broken", "Calm", "Cold", "Crimson", "Crystal", "Dancing", "Distant",
    "Dusty", "Electric", "Empty", "Endless", "Faded", "Fallen", "Fast", "Gentle", "Golden", "Hidden", "Hollow",
    "Honest", "Iron", "Last", "Lazy", "Little", "Lonely", "Lost", "Lucky", "Midnight", "Morning", "Neon", "Northern",
    "Paper", "Quiet", "Restless", "Rusty", "Secret", "Silent", "Silver", "Slow", "Solar", "Static", "Summer",
    "Sweet", "Velvet", "Wandering", "Wild", "Winter", "Wooden",
)
NOUNS = (
    "Anchor", "Avenue", "Balloon", "Bridge", "Canyon", "Circus", "City", "Cloud", "Comet", "Coast", "Dream", "Echo",
    "Engine", "Feather", "Fire", "Garden", "Harbor", "Heart", "Highway", "Horizon", "Island", "Lantern", "Letter",
    "Machine", "Meadow", "Mirror", "Moon", "Mountain", "Ocean", "Orchard", "Parade", "Planet", "Radio", "Rain",
    "River", "Road", "Shadow", "Signal", "Sky", "Station", "Storm", "Street", "Sun", "Thunder", "Tide", "Tower",
    "Train", "Valley", "Wave", "Window", "Wolf", "Year",
)


class SynthError(RuntimeError):
    """Rendering failed (FluidSynth error, inconsistent output)."""


# ----------------------------------------------------------------------------------------------------------------
# naming and seeding


def _seed_sequence(seed: int, split: str, index: int) -> np.random.SeedSequence:
    return np.random.SeedSequence([int(seed), SPLIT_CODE[split], int(index)])


def track_number(split: str, index: int) -> int:
    """Interleaved track numbers: train 1, 4, 7, ...; valid 2, 5, ...; test 3, 6, ... (unique and stable)."""
    return 3 * index + SPLIT_CODE[split] + 1


def track_name(seed: int, split: str, index: int) -> str:
    """Folder name ``"Synth NNNN - Adjective Noun"`` of track ``index`` of ``split`` (deterministic, unique)."""
    name_rng = np.random.default_rng(_seed_sequence(seed, split, index).spawn(3)[0])
    adj = ADJECTIVES[int(name_rng.integers(len(ADJECTIVES)))]
    noun = NOUNS[int(name_rng.integers(len(NOUNS)))]
    return f"Synth {track_number(split, index):04d} - {adj} {noun}"


def compose_track(seed: int, split: str, index: int, seconds: float) -> composer.Song:
    """The song of one track (pure function of its arguments)."""
    song_rng = np.random.default_rng(_seed_sequence(seed, split, index).spawn(3)[1])
    return composer.compose(song_rng, seconds)


def mix_params(seed: int, split: str, index: int) -> dict[str, dict[str, float]]:
    """Seeded per-source level (target RMS dBFS), pan (-1..1) and width of one track."""
    rng = np.random.default_rng(_seed_sequence(seed, split, index).spawn(3)[2])
    out = {}
    for src in SOURCES:
        lo, hi = LEVEL_DB[src]
        level = float(rng.uniform(lo, hi))
        pan = float(rng.uniform(-PAN_MAX[src], PAN_MAX[src]))
        wlo, whi = WIDTH[src]
        width = float(rng.uniform(wlo, whi))
        out[src] = {"level_db": level, "pan": pan, "width": width}
    return out


def pan_width_matrix(pan: float, width: float) -> np.ndarray:
    """2x2 matrix M with ``out = x @ M.T`` for x of shape (N, 2).

    Mid/side width (side gain ``width``) followed by a constant-power pan law normalised to unity at the centre:
    ``g_L = sqrt(2) cos(theta)``, ``g_R = sqrt(2) sin(theta)``, ``theta = (pan + 1) pi / 4``.
    """
    ms = np.array([[(1 + width) / 2, (1 - width) / 2], [(1 - width) / 2, (1 + width) / 2]], dtype=np.float64)
    theta = (pan + 1.0) * math.pi / 4
    g = np.diag([math.sqrt(2) * math.cos(theta), math.sqrt(2) * math.sin(theta)])
    return g @ ms


# ----------------------------------------------------------------------------------------------------------------
# tools


def find_fluidsynth() -> str:
    exe = shutil.which("fluidsynth")
    if exe is None:
        raise FileNotFoundError(
            "the 'fluidsynth' binary was not found on PATH; the synthetic dataset needs the FluidSynth command-line "
            "synthesizer (Debian/Ubuntu: apt-get install fluidsynth; macOS: brew install fluid-synth)"
        )
    return exe


def fluidsynth_version(exe: str) -> str:
    try:
        out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError) as err:
        raise SynthError(f"could not run '{exe} --version': {err}") from err
    m = re.search(r"version\s+([0-9][0-9A-Za-z.\-+]*)", out)
    return m.group(1) if m else "unknown"


def resolve_soundfont(soundfont: str | os.PathLike | None) -> Path:
    path = Path(soundfont if soundfont is not None else DEFAULT_SOUNDFONT).expanduser()
    if not path.is_file():
        hint = " (Debian/Ubuntu: apt-get install fluid-soundfont-gm or timgm6mb-soundfont)" if soundfont is None else ""
        raise FileNotFoundError(f"soundfont not found: {path}{hint}; pass soundfont=<path to a General MIDI .sf2>")
    return path.resolve()


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _fluidsynth_cmd(exe: str, soundfont: Path, midi: Path, out_raw: Path) -> list[str]:
    return [
        exe, "-n", "-i", "-q",
        "-R", "0", "-C", "0",
        "-o", "synth.reverb.active=0", "-o", "synth.chorus.active=0",
        "-o", "synth.cpu-cores=1",
        "-g", str(FLUIDSYNTH_GAIN), "-r", str(SR),
        "-F", str(out_raw), "-T", "raw", "-O", "float", "-E", "little",
        str(soundfont), str(midi),
    ]


def read_raw(out_raw: Path) -> np.ndarray:
    data = np.fromfile(out_raw, dtype="<f4")
    if data.size % 2:
        raise SynthError(f"fluidsynth wrote an odd number of float samples to {out_raw}")
    return data.reshape(-1, 2)


def render_midis(exe: str, soundfont: Path, jobs: list[tuple[Path, Path]]) -> None:
    """Render each ``(midi, out_raw)`` with FluidSynth (fast render to a raw float32 file, reverb and chorus off).

    The processes run concurrently: a FluidSynth call is dominated by ~0.1 s of idle start-up/shut-down time, not by
    CPU. Each ``out_raw`` receives interleaved stereo little-endian float32 at 44.1 kHz (read it with ``read_raw``).
    """
    procs = []
    try:
        for midi, out_raw in jobs:
            procs.append(subprocess.Popen(_fluidsynth_cmd(exe, soundfont, midi, out_raw), stdout=subprocess.PIPE,
                                          stderr=subprocess.PIPE, text=True))
        errors = []
        for (midi, out_raw), proc in zip(jobs, procs):
            _out, err = proc.communicate(timeout=3600)
            if proc.returncode != 0 or not out_raw.is_file():
                errors.append(f"fluidsynth failed (exit {proc.returncode}) on {midi.name}: {err.strip()[-2000:]}")
        if errors:
            raise SynthError("; ".join(errors))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def render_midi(exe: str, soundfont: Path, midi: Path, out_raw: Path) -> np.ndarray:
    """Render one MIDI file with FluidSynth -> (n, 2) float32 at 44.1 kHz."""
    render_midis(exe, soundfont, [(midi, out_raw)])
    return read_raw(out_raw)


# ----------------------------------------------------------------------------------------------------------------
# one track


def _fit(x: np.ndarray, n: int) -> np.ndarray:
    if x.shape[0] >= n:
        return x[:n]
    return np.concatenate([x, np.zeros((n - x.shape[0], 2), dtype=x.dtype)])


def apply_matrix(x: np.ndarray, m: np.ndarray) -> np.ndarray:
    """``x @ m.T`` for x (N, 2) float32, computed element-wise in float32 (exactly reproducible, no BLAS)."""
    c = m.astype(np.float32)
    out = np.empty_like(x)
    out[:, 0] = c[0, 0] * x[:, 0] + c[0, 1] * x[:, 1]
    out[:, 1] = c[1, 0] * x[:, 0] + c[1, 1] * x[:, 1]
    return out


def to_int16(x: np.ndarray, gain: float = 1.0) -> tuple[np.ndarray, int]:
    """Quantise float audio (full scale 1.0) to int16: ``rint(x * gain * 32768)``, clipped; returns (int16, #clipped)."""
    y = x * np.float32(gain * 32768.0)
    np.rint(y, out=y)
    clipped = int(np.count_nonzero((y > 32767) | (y < -32768)))
    np.clip(y, -32768, 32767, out=y)
    return y.astype(np.int16), clipped


def mix_int16(stems: np.ndarray) -> tuple[np.ndarray, int]:
    """Sum int16 stems (4, N, 2) in int32; clip to int16. Returns (mixture int16, number of clipped samples)."""
    total = stems[0].astype(np.int32)
    for stem in stems[1:]:
        total += stem
    clipped = int(np.count_nonzero((total > 32767) | (total < -32768)))
    return np.clip(total, -32768, 32767).astype(np.int16), clipped


def silent_frames(x: np.ndarray, frame: int = SR) -> int:
    """Number of complete ``frame``-sample windows in which ``x`` (N, 2) is exactly zero."""
    n = x.shape[0] // frame
    if n == 0:
        return 0
    blocks = x[: n * frame].reshape(n, frame * x.shape[1])
    return int(np.count_nonzero(~blocks.any(axis=1)))


def _render_track(job: dict) -> dict:
    """Render one track into ``job['tmp_dir']/<name>`` and atomically rename it to ``job['dest']``."""
    import soundfile as sf

    t0 = time.perf_counter()
    seed, split, index, seconds = job["seed"], job["split"], job["index"], job["seconds"]
    name, dest = job["name"], Path(job["dest"])
    tmp_root = Path(job["tmp_dir"])
    n = int(round(seconds * SR))
    song = compose_track(seed, split, index, seconds)
    mix = mix_params(seed, split, index)

    work = Path(tempfile.mkdtemp(prefix=f"{name}.", dir=tmp_root))
    try:
        scratch = work / "scratch"
        out_dir = work / "track"
        scratch.mkdir()
        out_dir.mkdir()
        float_stems = np.zeros((len(SOURCES), n, 2), dtype=np.float32)
        fs_jobs = []
        for src in SOURCES:
            composer.write_midi(song.stems[src], song.bpm, scratch / f"{src}.mid")
            fs_jobs.append((scratch / f"{src}.mid", scratch / f"{src}.raw"))
        render_midis(job["fluidsynth"], Path(job["soundfont"]), fs_jobs)
        for s, src in enumerate(SOURCES):
            x = apply_matrix(_fit(read_raw(fs_jobs[s][1]), n), pan_width_matrix(mix[src]["pan"], mix[src]["width"]))
            rms = math.sqrt(float(np.mean(x * x, dtype=np.float64)))
            if not rms > 0:
                raise SynthError(f"{name}: FluidSynth rendered a silent '{src}' stem (soundfont {job['soundfont']})")
            np.multiply(x, np.float32(10 ** (mix[src]["level_db"] / 20) / rms), out=float_stems[s])
            del x
        mix_sum = float_stems.sum(axis=0)
        peak = float(np.max(np.abs(mix_sum)))
        del mix_sum
        scale = HEADROOM / peak if peak > HEADROOM else 1.0
        ints = np.zeros((len(SOURCES), n, 2), dtype=np.int16)
        stem_clipped = 0
        for s in range(len(SOURCES)):
            ints[s], c = to_int16(float_stems[s], scale)
            stem_clipped += c
        del float_stems
        mixture, clipped = mix_int16(ints)
        silent = {src: silent_frames(ints[s]) for s, src in enumerate(SOURCES)}
        for s, src in enumerate(SOURCES):
            if not ints[s].any():
                raise SynthError(f"{name}: stem '{src}' is entirely silent after quantisation")
        for fname, data in zip(FILES, [mixture, *ints]):
            sf.write(out_dir / f"{fname}.wav", data, SR, subtype="PCM_16", format="WAV")
        if dest.exists():
            shutil.rmtree(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.rename(out_dir, dest)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {
        "name": name,
        "split": split,
        "clipped": clipped,
        "stem_clipped": stem_clipped,
        "scale_db": 20 * math.log10(scale),
        "silent_frames": silent,
        "elapsed": time.perf_counter() - t0,
        "song": f"{song.bpm} bpm, {song.key_name}, {'/'.join(s.kind for s in song.sections)}",
    }


def _check_track(folder: Path, n: int) -> int | None:
    """If ``folder`` holds a complete track of ``n`` frames return its clipped-sample count, else None."""
    import soundfile as sf

    try:
        for f in FILES:
            info = sf.info(str(folder / f"{f}.wav"))
            if (info.samplerate, info.channels, info.subtype, info.frames) != (SR, 2, "PCM_16", n):
                return None
        stems = np.stack([sf.read(str(folder / f"{s}.wav"), dtype="int16")[0] for s in SOURCES])
    except (OSError, RuntimeError, ValueError):
        return None
    return mix_int16(stems)[1]


# ----------------------------------------------------------------------------------------------------------------
# public API


def _check_count(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    if value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value}")
    return int(value)


def _splits_document(seed: int, counts: dict[str, int], seconds: float, sf2: Path, fs_version: str) -> dict:
    doc: dict = {s: [track_name(seed, s, i) for i in range(counts[s])] for s in SPLITS}
    doc["seed"] = seed
    doc["generator"] = GENERATOR
    doc["params"] = {
        "n_train": counts["train"],
        "n_valid": counts["valid"],
        "n_test": counts["test"],
        "seconds": seconds,
        "sample_rate": SR,
        "soundfont": sf2.name,
        "soundfont_sha256": _sha256(sf2),
        "fluidsynth": fs_version,
        "layout": "MUSDB18-HQ (valid tracks live in train/)",
    }
    return doc


def _write_json_atomic(path: Path, doc: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def render(
    root: str | Path,
    *,
    seed: int = 0,
    n_train: int = 8,
    n_valid: int = 2,
    n_test: int = 4,
    seconds: float = 12.0,
    soundfont: str | None = None,
    workers: int = 1,
    overwrite: bool = False,
    progress: bool = True,
) -> dict:
    """Render the synthetic dataset into ``root`` (MUSDB18-HQ layout); see the module docstring.

    Returns ``{"tracks": {split: [names]}, "clipped_samples": {name: int}, "seconds": float, "root": str,
    "elapsed": float, "rendered": [names], "skipped": [names]}`` where ``seconds`` is the track duration and
    ``elapsed`` the wall time of this call.

    Raises ``ValueError`` (bad counts/seconds/seed/workers), ``FileNotFoundError`` (no fluidsynth binary, missing
    soundfont), ``FileExistsError`` (``root`` is not empty and holds a different or no ``splits.json``; pass
    ``overwrite=True`` to replace it), :class:`SynthError` (FluidSynth failed).
    """
    from tqdm import tqdm

    t0 = time.perf_counter()
    counts = {"train": _check_count("n_train", n_train), "valid": _check_count("n_valid", n_valid),
              "test": _check_count("n_test", n_test)}
    if sum(counts.values()) == 0:
        raise ValueError("n_train + n_valid + n_test must be at least 1")
    seed = _check_count("seed", seed)
    try:
        seconds = float(seconds)
    except (TypeError, ValueError):
        raise ValueError(f"seconds must be a number, got {seconds!r}") from None
    if not math.isfinite(seconds) or seconds < MIN_SECONDS:
        raise ValueError(f"seconds must be at least {MIN_SECONDS} (got {seconds})")
    if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers < 1:
        raise ValueError(f"workers must be a positive integer, got {workers!r}")
    exe = find_fluidsynth()
    sf2 = resolve_soundfont(soundfont)
    fs_version = fluidsynth_version(exe)

    root = Path(root)
    doc = _splits_document(seed, counts, seconds, sf2, fs_version)
    splits_path = root / "splits.json"
    if root.exists() and not root.is_dir():
        raise FileExistsError(f"dataset root {root} exists and is not a directory")
    if root.is_dir() and any(root.iterdir()):
        try:
            existing = json.loads(splits_path.read_text(encoding="utf-8")) if splits_path.is_file() else None
        except (OSError, ValueError):
            existing = "unreadable"
        if existing != doc:
            why = ("has no splits.json" if existing is None else
                   "has an unreadable splits.json" if existing == "unreadable" else
                   "holds a dataset rendered with different parameters (splits.json differs)")
            if not overwrite:
                raise FileExistsError(f"dataset root {root} is not empty and {why}; refusing to overwrite it "
                                      "(pass overwrite=True to replace train/, test/, splits.json and README)")
            log.warning("overwriting %s (%s): removing train/, test/, splits.json, README", root, why)
            for sub in ("train", "test", TMP_DIR):
                shutil.rmtree(root / sub, ignore_errors=True)
            for f in ("splits.json", "README"):
                (root / f).unlink(missing_ok=True)
        else:
            log.info("%s already holds this dataset (same splits.json); finishing missing tracks", root)
    root.mkdir(parents=True, exist_ok=True)
    tmp_dir = root / TMP_DIR
    shutil.rmtree(tmp_dir, ignore_errors=True)  # leftovers of an interrupted render
    tmp_dir.mkdir()
    _write_json_atomic(splits_path, doc)
    log.info("rendering %d/%d/%d train/valid/test tracks of %.1f s into %s (seed %d, soundfont %s, fluidsynth %s, "
             "%d worker%s)", counts["train"], counts["valid"], counts["test"], seconds, root, seed, sf2, fs_version,
             workers, "s" if workers > 1 else "")

    n = int(round(seconds * SR))
    clipped: dict[str, int] = {}
    jobs, skipped = [], []
    for split in SPLITS:
        for index, name in enumerate(doc[split]):
            dest = root / SPLIT_FOLDER[split] / name
            if dest.is_dir():
                c = _check_track(dest, n)
                if c is not None:
                    clipped[name] = c
                    skipped.append(name)
                    continue
                log.warning("track %s is incomplete or corrupt; rendering it again", dest)
            jobs.append({"seed": seed, "split": split, "index": index, "seconds": seconds, "name": name,
                         "dest": str(dest), "tmp_dir": str(tmp_dir), "fluidsynth": exe, "soundfont": str(sf2)})
    if skipped:
        log.info("skipping %d finished track(s)", len(skipped))
    for sub in ("train", "test"):
        (root / sub).mkdir(exist_ok=True)

    rendered = []
    bar = tqdm(total=len(jobs), desc="synth tracks", unit="track", disable=not progress)

    def done(res: dict) -> None:
        clipped[res["name"]] = res["clipped"]
        rendered.append(res["name"])
        silent = {k: v for k, v in res["silent_frames"].items() if v}
        log.info("rendered %s/%s (%s) in %.2f s: clipped samples %d, mix scale %.1f dB%s", res["split"],
                 res["name"], res["song"], res["elapsed"], res["clipped"], res["scale_db"],
                 f", silent 1-s frames {silent}" if silent else "")
        if res["clipped"]:
            log.warning("mixture of %s clipped in %d samples", res["name"], res["clipped"])
        bar.update(1)

    try:
        if workers == 1 or len(jobs) <= 1:
            for job in jobs:
                done(_render_track(job))
        else:
            import multiprocessing

            ctx = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(max_workers=min(workers, len(jobs)), mp_context=ctx) as pool:
                futures = [pool.submit(_render_track, job) for job in jobs]
                try:
                    for fut in as_completed(futures):
                        done(fut.result())
                except BaseException:
                    for fut in futures:
                        fut.cancel()
                    raise
    finally:
        bar.close()
    shutil.rmtree(tmp_dir, ignore_errors=True)

    expected = {s: set(doc[s] + (doc["valid"] if s == "train" else [])) for s in ("train", "test")}
    for sub, names in expected.items():
        extra = sorted(p.name for p in (root / sub).iterdir() if p.name not in names)
        if extra:
            log.warning("%s/%s holds entries that are not part of this dataset (musdb will list them): %s",
                        root, sub, extra)
    (root / "README").write_text(
        f"Synthetic MUSDB18-HQ-layout dataset rendered by {GENERATOR} (seed {seed}, "
        f"{counts['train']}/{counts['valid']}/{counts['test']} train/valid/test tracks of {seconds:g} s; "
        "valid tracks live in train/, see splits.json).\n", encoding="utf-8")
    elapsed = time.perf_counter() - t0
    total_clipped = sum(clipped.values())
    log.info("dataset ready in %s: %d rendered, %d skipped, %.1f s; clipped samples in mixtures: %d", root,
             len(rendered), len(skipped), elapsed, total_clipped)
    order = [nm for s in SPLITS for nm in doc[s]]
    return {
        "tracks": {s: list(doc[s]) for s in SPLITS},
        "clipped_samples": {nm: clipped[nm] for nm in order},
        "seconds": seconds,
        "root": str(root),
        "elapsed": elapsed,
        "rendered": [nm for nm in order if nm in set(rendered)],
        "skipped": [nm for nm in order if nm in set(skipped)],
    }
