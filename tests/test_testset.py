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


# ------------------------------------------------------------------------------------------------------------------
# task_pair / query_pair / build / write_pair: what the mutation run of issue 13 showed untested. The expected values
# come from the stub's own arrays, the WAV files read with soundfile, or dsp.make_pair called with the mode spelled out.

N_STUB = 4410  # 0.1 s: SoX on four stems of this length takes milliseconds


class _StubDataset:
    """The two methods task_pair/query_pair use, on fixed arrays: a mixture that is *not* the stem sum (as musdb's
    mixture.wav need not be) and a negative peak below -1 that only ``peak_mode="abs"`` normalises away. Records which
    tracks each method was asked for."""

    def __init__(self):
        rng = np.random.default_rng(13)
        self.stems_ = (rng.standard_normal((4, N_STUB, 2)) * 0.05).astype(np.float32)
        self.stems_[0, 100, 0] = -1.6  # vocals: the sum's signed maximum stays < 1, its absolute peak is ≈ 1.6
        self.mixture_ = (0.8 * self.stems_.sum(axis=0) + 0.01).astype(np.float32)
        self.calls = []

    def stems(self, track):
        self.calls.append(("stems", track))
        return self.stems_.copy()

    def mixture(self, track):
        self.calls.append(("mixture", track))
        return self.mixture_.copy()


def _same_pair(p, q):
    return (np.array_equal(p.input, q.input) and np.array_equal(p.target, q.target) and p.gain == q.gain
            and p.clipped == q.clipped)


@pytest.mark.parametrize("task_id, stem", [("sdr-vocals", 0), ("sdr-drums", 1), ("sdr-bass", 2), ("sdr-other", 3)])
def test_task_pair_of_an_sdr_task_is_the_mixture_and_the_stem(task_id, stem):
    ds = _StubDataset()
    p = testset.task_pair(get_task(task_id), ds, "T")
    assert np.array_equal(p.input, ds.mixture_) and np.array_equal(p.target, ds.stems_[stem])
    assert ("mixture", "T") in ds.calls and p.query == get_task(task_id).query


def test_task_pair_of_an_sdr_task_reads_the_files_of_the_track(tiny_root):
    import soundfile as sf

    track = "Noise 01 - Test"
    p = testset.task_pair(get_task("sdr-bass"), open_dataset(tiny_root), track)
    folder = tiny_root / "test" / track
    assert np.array_equal(p.input, sf.read(folder / "mixture.wav", dtype="float32")[0])
    assert np.array_equal(p.target, sf.read(folder / "bass.wav", dtype="float32")[0])


def test_stub_peaks_tell_the_peak_modes_apart():
    ds = _StubDataset()
    q = get_task("volume-up-bass").query
    signed = dsp.make_pair(ds.stems_, q, peak_mode="signed")
    absolute = dsp.make_pair(ds.stems_, q, peak_mode="abs")
    assert signed.gain == 1.0 and absolute.gain > 1.5 and not np.array_equal(signed.input, absolute.input)


@pytest.mark.parametrize("task_id", ["volume-up-bass", "pan-left-vocals"])
def test_task_pair_of_an_rmse_task_is_algorithm_1_with_its_peak_mode(task_id):
    ds = _StubDataset()
    task = get_task(task_id)
    assert _same_pair(testset.task_pair(task, ds, "T"), dsp.make_pair(ds.stems_, task.query, peak_mode="signed"))
    assert _same_pair(testset.task_pair(task, ds, "T", peak_mode="abs"),
                      dsp.make_pair(ds.stems_, task.query, peak_mode="abs"))
    # Algorithm 1 works on the stems only: mixture.wav is not read (a root may lack it for such pairs)
    assert all(kind == "stems" for kind, _ in ds.calls)


@pytest.mark.parametrize("query, stem", [("separate vocals", 0), ("MUTE vocals, drums, bass", 3)])
def test_query_pair_of_an_sdr_task_query_is_the_task_pair(query, stem):
    ds = _StubDataset()
    p = testset.query_pair(query, ds, "T")
    assert np.array_equal(p.input, ds.mixture_) and np.array_equal(p.target, ds.stems_[stem])


@pytest.mark.parametrize("query", ["increase the volume of bass", "pan vocals, drums to the left side"])
def test_query_pair_uses_the_given_peak_mode_signed_by_default(query):
    """A task's own description (volume-up-bass) and a query that is no evaluation task, as text and parsed."""
    from benchmark import aml

    ds = _StubDataset()
    signed = dsp.make_pair(ds.stems_, aml.parse(query), peak_mode="signed")
    absolute = dsp.make_pair(ds.stems_, aml.parse(query), peak_mode="abs")
    assert not np.array_equal(signed.input, absolute.input)
    for q in (query, aml.parse(query)):
        assert _same_pair(testset.query_pair(q, ds, "T"), signed)
        assert _same_pair(testset.query_pair(q, ds, "T", peak_mode="signed"), signed)
        assert _same_pair(testset.query_pair(q, ds, "T", peak_mode="abs"), absolute)
    assert all(kind == "stems" for kind, _ in ds.calls)


def test_build_shows_a_progress_bar_by_default(tiny_root, tmp_path, capsys):
    tasks = (get_task("sdr-vocals"), get_task("volume-up-bass"))
    testset.build(tiny_root, tmp_path / "a", tasks=tasks)
    err = capsys.readouterr().err
    # 2 test tracks × 2 tasks, counted in pairs
    assert "test set: 100%" in err and "| 4/4 [" in err and "pair/s]" in err
    testset.build(tiny_root, tmp_path / "b", tasks=tasks, progress=False)
    assert capsys.readouterr().err == ""


def test_build_reads_the_root_as_the_given_source(tiny_root, tmp_path):
    """A MUSDB18-HQ root has no splits.json (the synthetic source requires one): build must open it as musdb18hq."""
    import shutil

    root = tmp_path / "hq"
    shutil.copytree(tiny_root / "test", root / "test")
    (root / "train").mkdir()
    path = testset.build(root, tmp_path / "ts", source="musdb18hq", tasks=(get_task("sdr-drums"),), progress=False)
    m = json.loads(path.read_text())
    assert m["data"] == {"source": "musdb18hq", "root": str(root),
                         "test_tracks": ["Noise 00 - Test", "Noise 01 - Test"]}
    ts = testset.TestSet.open(tmp_path / "ts")
    p = ts.load_pair("sdr-drums", "Noise 00 - Test")
    assert np.array_equal(p.target, read_wav(root / "test" / "Noise 00 - Test" / "drums.wav")[0])


def test_write_pair_writes_32_bit_float_wavs_of_the_pair(tmp_path):
    """Also a float64 pair: the files hold its float32 cast (why astype(np.float32) → astype(None) is equivalent:
    the FLOAT subtype stores that cast either way, tests/mutation/equivalent.txt)."""
    import soundfile as sf

    rng = np.random.default_rng(2)
    x = rng.standard_normal((500, 2)) * 10.0 ** rng.uniform(-40, 1, (500, 1))
    paths = testset.write_pair(dsp.Pair(x, -x[::-1]), tmp_path)
    assert paths == (tmp_path / "input.wav", tmp_path / "target.wav")
    for path, want in zip(paths, (x, -x[::-1])):
        info = sf.info(path)
        assert (info.subtype, info.samplerate, info.channels) == ("FLOAT", 44100, 2)
        assert np.array_equal(sf.read(path, dtype="float32")[0], want.astype(np.float32))
