"""Tests of the embedded synthetic MUSDB18-HQ renderer (benchmark.data.synth)."""

from __future__ import annotations

import filecmp
import json
import logging
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from benchmark.data import composer, synth

pytestmark = pytest.mark.skipif(
    shutil.which("fluidsynth") is None or not Path(synth.DEFAULT_SOUNDFONT).is_file(),
    reason="needs the fluidsynth binary and the TimGM6mb soundfont",
)

SECONDS = 5.0
COUNTS = {"n_train": 2, "n_valid": 1, "n_test": 2}
STEMS = ("vocals", "drums", "bass", "other")
FILES = ("mixture",) + STEMS
N = int(SECONDS * 44100)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth") / "data"
    summary = synth.render(root, seed=3, seconds=SECONDS, workers=2, progress=False, **COUNTS)
    return root, summary


@pytest.fixture(scope="module")
def rendered_again(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth2") / "data"
    summary = synth.render(root, seed=3, seconds=SECONDS, workers=1, progress=False, **COUNTS)
    return root, summary


def _folder(root: Path, split: str, name: str) -> Path:
    return root / ("test" if split == "test" else "train") / name


def _tracks(summary):
    return [(split, name) for split, names in summary["tracks"].items() for name in names]


def test_summary(rendered):
    root, summary = rendered
    assert set(summary) >= {"tracks", "clipped_samples", "seconds", "root"}
    assert summary["root"] == str(root)
    assert summary["seconds"] == SECONDS
    assert {k: len(v) for k, v in summary["tracks"].items()} == {"train": 2, "valid": 1, "test": 2}
    assert set(summary["clipped_samples"]) == {n for _, n in _tracks(summary)}
    assert all(isinstance(v, int) and v >= 0 for v in summary["clipped_samples"].values())


def test_layout_and_format(rendered):
    root, summary = rendered
    assert sorted(p.name for p in root.iterdir()) == ["README", "splits.json", "test", "train"]
    train_names = summary["tracks"]["train"] + summary["tracks"]["valid"]
    assert sorted(p.name for p in (root / "train").iterdir()) == sorted(train_names)
    assert sorted(p.name for p in (root / "test").iterdir()) == sorted(summary["tracks"]["test"])
    for split, name in _tracks(summary):
        folder = _folder(root, split, name)
        assert sorted(p.name for p in folder.iterdir()) == sorted(f"{f}.wav" for f in FILES)
        for f in FILES:
            info = sf.info(str(folder / f"{f}.wav"))
            assert (info.samplerate, info.channels, info.subtype, info.format, info.frames) == (
                44100, 2, "PCM_16", "WAV", N)


def test_mixture_is_int_sum_of_stems(rendered):
    root, summary = rendered
    for split, name in _tracks(summary):
        folder = _folder(root, split, name)
        stems = np.stack([sf.read(str(folder / f"{s}.wav"), dtype="int16")[0] for s in STEMS]).astype(np.int32)
        mix = sf.read(str(folder / "mixture.wav"), dtype="int16")[0]
        total = stems.sum(axis=0)
        np.testing.assert_array_equal(mix, np.clip(total, -32768, 32767))
        assert summary["clipped_samples"][name] == int(np.count_nonzero((total > 32767) | (total < -32768)))


def test_mix_int16_counts_clipping():
    stems = np.zeros((4, 3, 2), dtype=np.int16)
    stems[:, 0, 0] = 20000  # 80000 -> clipped high
    stems[:2, 1, 1] = -20000  # -40000 -> clipped low
    stems[0, 2, 0] = 5
    mix, clipped = synth.mix_int16(stems)
    assert clipped == 2
    assert mix.dtype == np.int16
    assert mix[0, 0] == 32767 and mix[1, 1] == -32768 and mix[2, 0] == 5


def test_deterministic_bytes(rendered, rendered_again):
    (a, sa), (b, sb) = rendered, rendered_again
    assert sa["tracks"] == sb["tracks"] and sa["clipped_samples"] == sb["clipped_samples"]
    files = [p.relative_to(a) for p in sorted(a.rglob("*")) if p.is_file()]
    assert sorted(files) == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    assert len(files) == 5 * 5 + 2
    match, mismatch, errors = filecmp.cmpfiles(a, b, [str(f) for f in files], shallow=False)
    assert not mismatch and not errors


def test_musdb_reads_it(rendered):
    musdb = pytest.importorskip("musdb")
    root, summary = rendered
    train = musdb.DB(str(root), is_wav=True, subsets="train")
    test = musdb.DB(str(root), is_wav=True, subsets="test")
    assert len(train) == 3 and len(test) == 2
    assert sorted(t.name for t in train) == sorted(summary["tracks"]["train"] + summary["tracks"]["valid"])
    track = test[0]
    assert track.rate == 44100
    x = sf.read(str(root / "test" / track.name / "vocals.wav"), dtype="float64")[0]
    np.testing.assert_array_equal(track.targets["vocals"].audio, x)
    assert track.audio.shape == (N, 2)


def test_splits_json(rendered):
    root, summary = rendered
    doc = json.loads((root / "splits.json").read_text())
    for split in ("train", "valid", "test"):
        assert doc[split] == summary["tracks"][split]
    assert doc["seed"] == 3
    assert doc["generator"].startswith("amss-bench synth v")
    params = doc["params"]
    assert (params["n_train"], params["n_valid"], params["n_test"], params["seconds"]) == (2, 1, 2, SECONDS)
    assert params["soundfont"] == "TimGM6mb.sf2" and len(params["soundfont_sha256"]) == 64
    names = doc["train"] + doc["valid"] + doc["test"]
    assert len(set(names)) == len(names)
    for name in names:
        assert re.fullmatch(r"Synth \d{4} - [A-Z][a-z]+ [A-Z][a-z]+", name), name
    assert (root / "README").read_text().strip()


def test_stems_not_silent(rendered):
    root, summary = rendered
    for split, name in _tracks(summary):
        for s in STEMS:
            x = sf.read(str(_folder(root, split, name) / f"{s}.wav"), dtype="int16")[0]
            assert x.any(), (name, s)
            # at most one exactly-silent 1-second frame (museval marks such frames NaN)
            assert synth.silent_frames(x) <= 1, (name, s)
            rms = np.sqrt(np.mean((x / 32768.0) ** 2))
            assert 20 * np.log10(rms) > -45, (name, s)


def test_pan_differs_between_tracks(rendered):
    root, summary = rendered
    ratios = {s: [] for s in STEMS}
    for split, name in _tracks(summary):
        for s in STEMS:
            x = sf.read(str(_folder(root, split, name) / f"{s}.wav"))[0]
            e = (x**2).sum(axis=0)
            ratios[s].append(10 * np.log10(e[0] / e[1]))
    spreads = {s: max(v) - min(v) for s, v in ratios.items()}
    assert spreads["other"] > 1.0 or spreads["drums"] > 1.0, spreads
    assert sum(v > 0.5 for v in spreads.values()) >= 2, spreads


def test_levels_vary(rendered):
    root, summary = rendered
    levels = []
    for split, name in _tracks(summary):
        x = sf.read(str(_folder(root, split, name) / "vocals.wav"))[0]
        levels.append(10 * np.log10(np.mean(x**2)))
    assert max(levels) - min(levels) > 0.5


def test_rerun_skips_finished_tracks(rendered, caplog):
    root, summary = rendered
    victim = _folder(root, "test", summary["tracks"]["test"][1])
    before = (victim / "mixture.wav").read_bytes()
    stamp = {p: p.stat().st_mtime_ns for p in root.rglob("*.wav") if victim not in p.parents}
    shutil.rmtree(victim)
    (root / synth.TMP_DIR / "leftover").mkdir(parents=True)  # as if a render had been interrupted
    with caplog.at_level(logging.INFO, logger="amss_bench.data"):
        again = synth.render(root, seed=3, seconds=SECONDS, workers=1, progress=False, **COUNTS)
    assert again["rendered"] == [victim.name]
    assert len(again["skipped"]) == 4
    assert again["tracks"] == summary["tracks"] and again["clipped_samples"] == summary["clipped_samples"]
    assert (victim / "mixture.wav").read_bytes() == before
    assert all(p.stat().st_mtime_ns == t for p, t in stamp.items())
    assert not (root / synth.TMP_DIR).exists()
    assert any("clipped samples" in r.getMessage() and victim.name in r.getMessage() for r in caplog.records)


def test_refuses_to_overwrite(tmp_path, rendered):
    root, _ = rendered
    with pytest.raises(FileExistsError, match="splits.json differs"):
        synth.render(root, seed=4, seconds=SECONDS, progress=False, **COUNTS)
    with pytest.raises(FileExistsError, match="splits.json differs"):
        synth.render(root, seed=3, seconds=SECONDS, progress=False, n_train=3, n_valid=1, n_test=2)
    other = tmp_path / "other"
    other.mkdir()
    (other / "somefile.txt").write_text("x")
    with pytest.raises(FileExistsError, match="no splits.json"):
        synth.render(other, seed=0, seconds=4.0, progress=False, n_train=1, n_valid=0, n_test=0)


def test_overwrite_replaces(tmp_path):
    root = tmp_path / "d"
    (root / "train" / "Junk - Track").mkdir(parents=True)
    (root / "splits.json").write_text("{}")
    (root / "keep.txt").write_text("not ours")
    out = synth.render(root, seed=1, seconds=4.0, progress=False, overwrite=True, n_train=1, n_valid=0, n_test=1)
    assert sorted(p.name for p in (root / "train").iterdir()) == out["tracks"]["train"]
    assert (root / "keep.txt").exists()
    assert json.loads((root / "splits.json").read_text())["seed"] == 1


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_train": -1}, "n_train"),
        ({"n_test": 1.5}, "n_test"),
        ({"n_train": 0, "n_valid": 0, "n_test": 0}, "at least 1"),
        ({"seconds": 3.0}, "seconds"),
        ({"seconds": float("nan")}, "seconds"),
        ({"seed": -2}, "seed"),
        ({"workers": 0}, "workers"),
    ],
)
def test_bad_parameters(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        synth.render(tmp_path / "x", progress=False, **kwargs)
    assert not (tmp_path / "x").exists()


def test_missing_soundfont(tmp_path):
    missing = tmp_path / "nope" / "gm.sf2"
    with pytest.raises(FileNotFoundError, match=re.escape(str(missing))):
        synth.render(tmp_path / "x", soundfont=str(missing), progress=False)
    assert not (tmp_path / "x").exists()


def test_missing_fluidsynth(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="fluidsynth"):
        synth.render(tmp_path / "x", progress=False)


def test_tracks_are_stable_when_adding_tracks(tmp_path):
    names = [synth.track_name(5, "train", i) for i in range(4)]
    assert names == [synth.track_name(5, "train", i) for i in range(4)]
    # a dataset with more tracks per split starts with exactly the tracks of the smaller one
    sf2 = tmp_path / "x.sf2"
    sf2.write_bytes(b"sf2")
    small = synth._splits_document(5, {"train": 2, "valid": 1, "test": 2}, 12.0, sf2, "2.3")
    large = synth._splits_document(5, {"train": 6, "valid": 3, "test": 5}, 12.0, sf2, "2.3")
    for split in ("train", "valid", "test"):
        assert large[split][: len(small[split])] == small[split] and len(large[split]) > len(small[split])
    assert len(set(large["train"] + large["valid"] + large["test"])) == 14
    assert len({synth.track_name(5, s, i) for s in ("train", "valid", "test") for i in range(40)}) == 120
    a = synth.compose_track(5, "valid", 2, 12.0).describe()
    b = synth.compose_track(5, "valid", 2, 12.0).describe()
    assert a == b
    assert synth.mix_params(5, "valid", 2) == synth.mix_params(5, "valid", 2)
    assert synth.mix_params(5, "valid", 2) != synth.mix_params(5, "valid", 3)


def test_composition_is_music_like():
    seen_vocal, seen_bass, seen_kinds, bpms = set(), set(), set(), set()
    for i in range(30):
        song = synth.compose_track(0, "train", i, 20.0)
        bpms.add(song.bpm)
        seen_kinds.update(s.kind for s in song.sections)
        assert 78 <= song.bpm <= 140
        drums, = song.stems["drums"]
        assert drums.channel == composer.DRUM_CHANNEL
        keys = {n.pitch for n in drums.notes}
        assert composer.KICK in keys and (keys & {composer.HH_CLOSED, composer.RIDE, composer.HH_OPEN})
        bass, = song.stems["bass"]
        assert 32 <= bass.program <= 39 and all(24 <= n.pitch <= 55 for n in bass.notes)
        lead = song.stems["vocals"][0]
        assert lead.program in (52, 53, 54, 85)
        seen_vocal.add(lead.program)
        seen_bass.add(bass.program)
        # phrasing: the lead line has gaps (rests) but none longer than one second
        beat = composer.beat_seconds(song.bpm)
        notes = sorted(lead.notes, key=lambda n: n.start)
        gaps = [(b.start - a.start - a.dur) * beat for a, b in zip(notes, notes[1:])]
        assert max(gaps) < 1.0
        assert len(song.stems["other"]) >= 2
        for parts in song.stems.values():
            for p in parts:
                assert p.notes and all(0 <= n.pitch <= 127 and 1 <= n.vel <= 127 for n in p.notes)
    assert len(bpms) > 10 and len(seen_vocal) >= 3 and len(seen_bass) >= 4
    assert {"verse", "chorus"} <= seen_kinds


def test_write_midi_roundtrip(tmp_path):
    mido = pytest.importorskip("mido")
    song = synth.compose_track(0, "test", 0, 8.0)
    path = tmp_path / "other.mid"
    composer.write_midi(song.stems["other"], song.bpm, path)
    mid = mido.MidiFile(str(path))
    ons = [m for m in mid.tracks[0] if m.type == "note_on" and m.velocity > 0]
    assert len(ons) == sum(len(p.notes) for p in song.stems["other"])
    pans = {m.channel: m.value for m in mid.tracks[0] if m.type == "control_change" and m.control == 10}
    assert pans == {p.channel: p.pan for p in song.stems["other"]}
    assert abs(mid.length - song.n_bars * 4 * composer.beat_seconds(song.bpm)) < 1.0


def test_pan_width_matrix():
    np.testing.assert_allclose(synth.pan_width_matrix(0.0, 1.0), np.eye(2), atol=1e-12)
    m = synth.pan_width_matrix(-1.0, 0.0)  # mono, hard left
    x = np.array([[1.0, 1.0]])
    np.testing.assert_allclose(x @ m.T, [[np.sqrt(2), 0.0]], atol=1e-12)
