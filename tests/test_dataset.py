"""Dataset roots: reading, splits, validation errors that name the file."""

import shutil

import numpy as np
import pytest
import soundfile as sf

from benchmark.cli import main
from benchmark.base.constants import SOURCES
from benchmark.data.dataset import DatasetError, musdb_validation_tracks, open_dataset
from tests.conftest import make_root


def test_reads_stems_mixture_and_splits(tiny_root):
    ds = open_dataset(tiny_root)
    assert ds.tracks("test") == ["Noise 00 - Test", "Noise 01 - Test"]
    assert ds.tracks("valid") == ["Noise 00 - Valid"] and len(ds.tracks("train")) == 2
    stems = ds.stems("Noise 00 - Test")
    assert stems.shape == (4, 3 * 44100, 2) and stems.dtype == np.float32
    pcm = sf.read(tiny_root / "test" / "Noise 00 - Test" / "drums.wav", dtype="int16")[0]
    assert np.array_equal(stems[SOURCES.index("drums")], pcm / np.float32(32768))
    assert ds.mixture("Noise 00 - Test").shape == (3 * 44100, 2)
    assert ds.split_of("Noise 00 - Valid") == "valid"


def test_musdb_validation_list_is_musdbs_own():
    names = musdb_validation_tracks()
    assert len(names) == 14 and "Actions - One Minute Smile" in names


def test_real_layout_uses_musdb_validation_list(tmp_path):
    root = make_root(tmp_path / "hq", n_train=1, n_valid=0, n_test=1, seconds=1)
    shutil.copytree(root / "train" / "Noise 00 - Train", root / "train" / "Actions - One Minute Smile")
    ds = open_dataset(root, "musdb18hq")
    assert ds.tracks("valid") == ["Actions - One Minute Smile"] and ds.tracks("train") == ["Noise 00 - Train"]


@pytest.fixture
def broken(tmp_path):
    return make_root(tmp_path / "root", n_train=1, n_valid=0, n_test=1, seconds=1)


@pytest.mark.parametrize("breakage, message", [
    (lambda d: (d / "bass.wav").unlink(), "bass.wav: missing"),
    (lambda d: sf.write(d / "vocals.wav", np.zeros((44100, 2)), 22050), "sample rate 22050 Hz, expected 44100"),
    (lambda d: sf.write(d / "drums.wav", np.zeros((44100, 1)), 44100), "1 channel(s), expected 2"),
    (lambda d: sf.write(d / "other.wav", np.zeros((400, 2)), 44100), "400 samples, expected 44100"),
    (lambda d: (d / "mixture.wav").write_bytes(b"garbage"), "mixture.wav: not a readable WAV"),
])
def test_validation_errors_name_the_file(broken, breakage, message, capsys):
    track = broken / "test" / "Noise 00 - Test"
    breakage(track)
    with pytest.raises(DatasetError, match=None) as exc:
        open_dataset(broken)
    assert message in str(exc.value) and "Noise 00 - Test" in str(exc.value)
    assert main(["data", "check", "--root", str(broken)]) != 0
    out = capsys.readouterr()
    assert out.out == "" and message in out.err


def test_missing_root_and_bad_source(tmp_path, capsys):
    with pytest.raises(DatasetError, match="dataset root not found"):
        open_dataset(tmp_path / "nope")
    with pytest.raises(DatasetError, match="data.source must be one of"):
        open_dataset(tmp_path, "musdb19")
    (tmp_path / "train").mkdir()
    (tmp_path / "test").mkdir()
    with pytest.raises(DatasetError, match="splits.json: missing"):
        open_dataset(tmp_path)


def test_data_check_summary(tiny_root, capsys):
    assert main(["data", "check", "--root", str(tiny_root)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [f"train: 2 tracks, 6.0 s (synthetic, {tiny_root})", f"valid: 1 tracks, 3.0 s (synthetic, {tiny_root})",
                     f"test: 2 tracks, 6.0 s (synthetic, {tiny_root})"]


def test_musdb_reads_our_layout(tiny_root):
    musdb = pytest.importorskip("musdb")
    db = musdb.DB(root=str(tiny_root), is_wav=True, subsets="test")
    assert len(db) == 2
    ds = open_dataset(tiny_root)
    t = db[0]
    assert np.array_equal(t.targets["vocals"].audio.astype(np.float32), ds.stems(t.name)[0])
