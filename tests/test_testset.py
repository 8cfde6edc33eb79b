"""The AMSS test set: manifest, determinism, verified regeneration, `testset pair` (issue 2 §5)."""

import json

import numpy as np
import pytest

from benchmark import dsp, testset
from benchmark.audio import read_wav
from benchmark.cli import main
from benchmark.constants import SOURCES
from benchmark.data.dataset import open_dataset
from benchmark.provenance import array_sha256
from benchmark.tasks import EVAL_TASKS, get_task


@pytest.fixture(scope="module")
def built(tiny_root, tmp_path_factory):
    out = tmp_path_factory.mktemp("ts")
    testset.build(tiny_root, out / "a", progress=False)
    testset.build(tiny_root, out / "b", progress=False)
    return out


def test_manifest_content_and_identical_rebuild(built, tiny_root):
    a = (built / "a" / "manifest.json").read_bytes()
    assert a == (built / "b" / "manifest.json").read_bytes()
    m = json.loads(a)
    assert len(m["entries"]) == 25 * 2
    e = m["entries"][0]
    assert set(e) >= {"task_id", "task_version", "description", "track", "input_sha256", "target_sha256"}
    assert m["environment"]["tools"]["sox"] and m["environment"]["packages"]["numpy"]
    assert m["tasks"]["lowpass-bass"]["description"] == "apply heavy lowpass to bass"
    assert m["seed"] == 0 and m["data"]["test_tracks"] == ["Noise 00 - Test", "Noise 01 - Test"]


def test_load_pair_regenerates_and_verifies(built, tiny_root):
    ts = testset.TestSet.open(built / "a")
    assert len(ts.tasks()) == 25 and len(ts.tracks()) == 2
    ds = open_dataset(tiny_root)
    track = "Noise 01 - Test"
    p = ts.load_pair("sdr-other", track)
    assert np.array_equal(p.input, ds.mixture(track)) and np.array_equal(p.target, ds.stems(track)[3])
    p = ts.load_pair("dereverb-drums", track)
    ref = dsp.make_pair(ds.stems(track), "remove reverb from drums")
    assert np.array_equal(p.input, ref.input) and np.array_equal(p.target, ref.target)
    assert array_sha256(p.target) == ts.entry("dereverb-drums", track).target_sha256


def test_integrity_error_on_changed_data(built, tiny_root, tmp_path):
    import shutil

    import soundfile as sf

    root = tmp_path / "root"
    shutil.copytree(tiny_root, root)
    ts = testset.TestSet.open(built / "a", root=root)
    path = root / "test" / "Noise 00 - Test" / "bass.wav"
    pcm, sr = sf.read(path, dtype="int16")
    pcm[100] += 1
    sf.write(path, pcm, sr, subtype="PCM_16")
    with pytest.raises(testset.TestSetIntegrityError, match="volume-up-bass on track 'Noise 00 - Test'"):
        ts.load_pair("volume-up-bass", "Noise 00 - Test")
    ts.load_pair("volume-up-bass", "Noise 01 - Test")  # other tracks are untouched


def test_manifest_hash_is_stable_and_content_sensitive(built):
    a = testset.TestSet.open(built / "a")
    b = testset.TestSet.open(built / "b")
    assert a.manifest_hash == b.manifest_hash
    a.manifest["entries"][0]["input_sha256"] = "0" * 64
    assert a.manifest_hash != b.manifest_hash


def test_cli_build_and_pair(tiny_root, tmp_path, capsys):
    assert main(["testset", "build", "--root", str(tiny_root), "--out", str(tmp_path / "ts")]) == 0
    assert (tmp_path / "ts" / "manifest.json").is_file()
    capsys.readouterr()
    out = tmp_path / "pair"
    assert main(["testset", "pair", "--root", str(tiny_root), "--track", "Noise 00 - Test",
                 "--query", "Apply heavy LOWPASS to drums", "-o", str(out)]) == 0
    x, sr = read_wav(out / "input.wav")
    y, _ = read_wav(out / "target.wav")
    ts = testset.TestSet.open(tmp_path / "ts")
    ref = ts.load_pair("lowpass-drums", "Noise 00 - Test")
    assert sr == 44100 and np.array_equal(x, ref.input) and np.array_equal(y, ref.target)
    # a query that is no evaluation task: Algorithm 1 on the stems
    assert main(["testset", "pair", "--root", str(tiny_root), "--track", "Noise 00 - Test",
                 "--query", "pan vocals, drums to the left side", "-o", str(out)]) == 0
    ds = open_dataset(tiny_root)
    ref = dsp.make_pair(ds.stems("Noise 00 - Test"), "pan vocals, drums to the left side")
    assert np.array_equal(read_wav(out / "target.wav")[0], ref.target)


@pytest.mark.parametrize("args, fragment", [
    (["--track", "No Such Track", "--query", "separate vocals"], "no track named 'No Such Track'"),
    (["--track", "Noise 00 - Test", "--query", "separate vocal"], "did you mean 'vocals'"),
])
def test_cli_pair_errors(tiny_root, tmp_path, capsys, args, fragment):
    assert main(["testset", "pair", "--root", str(tiny_root), "-o", str(tmp_path / "p"), *args]) == 2
    out = capsys.readouterr()
    assert out.out == "" and fragment in out.err
    assert not (tmp_path / "p").exists()


def test_task_registry_versions_and_mapping():
    assert len(EVAL_TASKS) == 25 and len({t.id for t in EVAL_TASKS}) == 25
    assert all(t.version >= 1 for t in EVAL_TASKS)
    assert get_task("sdr-other").description == "mute vocals, drums, bass"
    assert get_task("pan-right-bass").description == "pan bass completely to the right side"
    assert {t.source for t in EVAL_TASKS if t.kind == "sdr"} == set(SOURCES)
    with pytest.raises(KeyError, match="unknown task id"):
        get_task("pan-up-vocals")
