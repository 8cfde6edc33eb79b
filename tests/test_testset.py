"""The AMSS test set: manifest, determinism, verified regeneration, `testset pair`."""

import json

import numpy as np
import pytest

from benchmark.task import dsp, testset
from benchmark.base.audio import read_wav
from benchmark.cli import main
from benchmark.base.constants import SOURCES
from benchmark.data.dataset import open_dataset
from benchmark.base.provenance import array_sha256
from benchmark.task.tasks import EVAL_TASKS, get_task


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
# task_pair / query_pair / build / write_pair: what a mutation run showed untested. The expected values
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
    from benchmark.task import aml

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


# ------------------------------------------------------------------------------------------------------------------
# A MUSDB18-HQ-layout root made for the manifest's numbers: "A - Negative peak" sums to ≈ -1.2 at one sample and
# stays below +0.2 elsewhere (signed and absolute peak normalisation give different pairs); "B - Square drums" has a
# full-scale square wave as drums, which SoX's heavy highpass drives past full scale (clipped samples > 0).

PEAK_TRACKS = ("A - Negative peak", "B - Square drums")
PEAK_TASKS = ("sdr-vocals", "volume-down-vocals", "highpass-drums")


def _write_peak_root(root):
    import soundfile as sf

    from benchmark.base.constants import SR

    rng = np.random.default_rng(5)
    n = SR // 4
    for name in PEAK_TRACKS:
        stems = rng.standard_normal((4, n, 2)) * 0.02
        if name.startswith("A"):
            stems[0, 1000] = stems[1, 1000] = -0.6
        else:
            stems[1] = np.where(np.arange(n) // 110 % 2, 0.97, -0.97)[:, None]
        pcm = np.clip(np.round(stems * 32768), -32768, 32767).astype(np.int16)
        d = root / "test" / name
        d.mkdir(parents=True)
        for k, s in enumerate(SOURCES):
            sf.write(d / f"{s}.wav", pcm[k], SR, subtype="PCM_16")
        mix = np.clip(pcm.astype(np.int32).sum(axis=0), -32768, 32767).astype(np.int16)
        sf.write(d / "mixture.wav", mix, SR, subtype="PCM_16")
    (root / "train").mkdir()
    return root


@pytest.fixture(scope="module")
def peak_root(tmp_path_factory):
    return _write_peak_root(tmp_path_factory.mktemp("peak") / "root")


def _expected_pair(root, track, task_id, peak_mode):
    """The pair from the files, read here with soundfile: mixture.wav and the stem for SDR tasks, Algorithm 1 on the
    stems otherwise."""
    import soundfile as sf

    task = get_task(task_id)
    d = root / "test" / track
    stems = np.stack([sf.read(d / f"{s}.wav", dtype="float32")[0] for s in SOURCES])
    if task.kind == "sdr":
        return dsp.Pair(sf.read(d / "mixture.wav", dtype="float32")[0], stems[SOURCES.index(task.source)])
    return dsp.make_pair(stems, task.query, peak_mode=peak_mode)


@pytest.mark.parametrize("peak_mode", ["signed", "abs"])
def test_build_writes_every_manifest_field(peak_root, tmp_path, caplog, peak_mode):
    import logging

    from benchmark.base.provenance import environment
    from benchmark.task.tasks import CHANGELOG, TASKS_SCHEMA

    tasks = tuple(get_task(t) for t in PEAK_TASKS)
    with caplog.at_level(logging.INFO, logger="amss_bench.testset"):
        path = testset.build(peak_root, tmp_path / "ts", source="musdb18hq", tasks=tasks, peak_mode=peak_mode,
                             seed=7, progress=False)
    assert path == tmp_path / "ts" / "manifest.json"
    m = json.loads(path.read_text())
    entries = []
    for track in PEAK_TRACKS:
        for t in tasks:
            p = _expected_pair(peak_root, track, t.id, peak_mode)
            entries.append({"task_id": t.id, "task_version": t.version, "description": t.description, "kind": t.kind,
                            "track": track, "frames": 44100 // 4, "input_sha256": array_sha256(p.input),
                            "target_sha256": array_sha256(p.target), "normalisation_gain": p.gain,
                            "clipped_samples": p.total_clipped})
    assert m == {
        "schema": 1,
        "data": {"source": "musdb18hq", "root": str(peak_root), "test_tracks": list(PEAK_TRACKS)},
        "peak_mode": peak_mode,
        "seed": 7,
        "tasks": {t.id: {"version": t.version, "description": t.description, "kind": t.kind, "source": t.source,
                         "table": t.table, "column": t.column} for t in tasks},
        "tasks_schema": TASKS_SCHEMA,
        "tasks_changelog": [list(c) for c in CHANGELOG],
        "hash": "sha256 of little-endian float32 samples, C order (N, 2)",
        "entries": entries,
        "environment": environment(),
    }
    # the fixture tells the fields apart: a normalisation gain ≠ 1 (abs only), SoX clipping in the highpass task
    gains = {(e["track"], e["task_id"]): e["normalisation_gain"] for e in entries}
    assert (gains[PEAK_TRACKS[0], "volume-down-vocals"] > 1.1) == (peak_mode == "abs")
    clipped = {(e["track"], e["task_id"]): e["clipped_samples"] for e in entries}
    assert clipped[PEAK_TRACKS[1], "highpass-drums"] > 0 and clipped[PEAK_TRACKS[0], "sdr-vocals"] == 0
    # the manifest's hash description is what array_sha256 computes
    import hashlib

    p = _expected_pair(peak_root, PEAK_TRACKS[0], "sdr-vocals", peak_mode)
    assert entries[0]["target_sha256"] == hashlib.sha256(p.target.astype("<f4").tobytes(order="C")).hexdigest()
    messages = [r.getMessage() for r in caplog.records if r.name == "amss_bench.testset"]
    n = clipped[PEAK_TRACKS[1], "highpass-drums"]
    assert messages == [f"{PEAK_TRACKS[1]} / highpass-drums: SoX clipped {n} samples",
                        f"wrote {path}: 6 pairs (3 tasks × 2 tracks)"]


def test_an_abs_test_set_regenerates_its_pairs_with_absolute_peaks(peak_root, tmp_path):
    tasks = tuple(get_task(t) for t in PEAK_TASKS)
    testset.build(peak_root, tmp_path, source="musdb18hq", tasks=tasks, peak_mode="abs", progress=False)
    ts = testset.TestSet.open(tmp_path)
    assert ts.peak_mode == "abs" and ts.source == "musdb18hq" and ts.root == peak_root
    track = PEAK_TRACKS[0]
    p = ts.load_pair("volume-down-vocals", track)
    want = _expected_pair(peak_root, track, "volume-down-vocals", "abs")
    assert np.array_equal(p.input, want.input) and np.array_equal(p.target, want.target) and p.gain == want.gain
    signed = _expected_pair(peak_root, track, "volume-down-vocals", "signed")
    assert not np.array_equal(p.input, signed.input)


def test_a_manifest_without_peak_mode_reads_as_signed(built, tiny_root):
    m = json.loads((built / "a" / "manifest.json").read_text())
    del m["peak_mode"]
    ts = testset.TestSet(m, built / "a" / "manifest.json")
    assert ts.peak_mode == "signed" and ts.root == tiny_root
    track = "Noise 00 - Test"
    p = ts.load_pair("volume-up-bass", track)
    want = dsp.make_pair(open_dataset(tiny_root).stems(track), "increase the volume of bass", peak_mode="signed")
    assert np.array_equal(p.input, want.input) and np.array_equal(p.target, want.target)


def test_open_refuses_a_missing_or_foreign_manifest(built, tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        testset.TestSet.open(tmp_path)
    assert str(err.value) == (f"{tmp_path / 'manifest.json'}: no test-set manifest "
                              "(build one with `amss-bench testset build`)")
    m = json.loads((built / "a" / "manifest.json").read_text())
    for schema, shown in ((2, "2"), (None, "None")):
        m["schema"] = schema
        (tmp_path / "manifest.json").write_text(json.dumps(m))
        with pytest.raises(ValueError) as err:
            testset.TestSet.open(tmp_path)
        assert str(err.value) == f"{tmp_path / 'manifest.json'}: manifest schema {shown}, expected 1"
    m["schema"] = 1
    (tmp_path / "manifest.json").write_text(json.dumps(m))
    ts = testset.TestSet.open(tmp_path)
    assert ts.manifest == m and ts.path == tmp_path / "manifest.json"


def test_errors_name_the_manifest_the_task_and_the_track(built):
    path = built / "a" / "manifest.json"
    ts = testset.TestSet.open(built / "a")
    with pytest.raises(KeyError) as err:
        ts.entry("sdr-vocals", "No Such Track")
    assert err.value.args == (f"{path}: no pair for task 'sdr-vocals' and track 'No Such Track'",)
    m = json.loads(path.read_text())
    for e in m["entries"]:
        if e["task_id"] == "pan-left-bass":
            e["task_version"] = 99
    with pytest.raises(testset.TestSetIntegrityError) as err:
        testset.TestSet(m, path).load_pair("pan-left-bass", "Noise 01 - Test")
    assert str(err.value) == (f"{path}: task pan-left-bass is version {get_task('pan-left-bass').version} in this "
                              "code but version 99 in the manifest; rebuild the test set")


@pytest.mark.parametrize("field", ["input", "target"])
def test_integrity_error_names_the_array_that_changed(built, tiny_root, field):
    path = built / "a" / "manifest.json"
    m = json.loads(path.read_text())
    track = "Noise 01 - Test"
    (e,) = [e for e in m["entries"] if e["task_id"] == "lowpass-vocals" and e["track"] == track]
    e[f"{field}_sha256"] = want = "0123456789abcdef" * 4
    got = array_sha256(getattr(dsp.make_pair(open_dataset(tiny_root).stems(track), "apply heavy lowpass to vocals"),
                               field))
    with pytest.raises(testset.TestSetIntegrityError) as err:
        testset.TestSet(m, path).load_pair("lowpass-vocals", track)
    assert str(err.value) == (f"{path}: regenerated {field} of task lowpass-vocals on track {track!r} has sha256 "
                              f"{got[:16]}…, manifest says {want[:16]}… — the dataset, SoX or the task code changed; "
                              "rebuild the test set")


class _CountingDataset:
    """A dataset that counts the stems and mixture reads per track."""

    def __init__(self, ds):
        self.ds, self.reads = ds, []

    def stems(self, track):
        self.reads.append(("stems", track))
        return self.ds.stems(track)

    def mixture(self, track):
        self.reads.append(("mixture", track))
        return self.ds.mixture(track)

    def track_dir(self, track):
        return self.ds.track_dir(track)


def test_a_track_is_read_once_for_the_tasks_evaluated_on_it_in_a_row(built, tiny_root):
    import soundfile as sf

    ts = testset.TestSet.open(built / "a")
    ds = ts._ds = _CountingDataset(open_dataset(tiny_root))
    a, b = "Noise 00 - Test", "Noise 01 - Test"
    for task_id in ("pan-left-bass", "sdr-vocals", "highpass-drums", "sdr-drums"):
        ts.load_pair(task_id, a)  # hash-verified against the manifest
    acc = ts.accompaniment(a)
    lin, how = ts.linear_mixture(a)
    assert ds.reads == [("stems", a), ("mixture", a)]
    ts.load_pair("lowpass-bass", b)
    ts.accompaniment(b)
    ts.linear_mixture(b)
    assert ds.reads[2:] == [("stems", b)]  # no mixture: no SDR task on b
    p = ts.load_pair("sdr-other", a)
    assert ds.reads[3:] == [("stems", a), ("mixture", a)]
    d = tiny_root / "test" / a
    ints = {s: sf.read(d / f"{s}.wav", dtype="int16")[0].astype(np.int64) for s in SOURCES}
    assert acc.dtype == np.float64 and np.array_equal(acc, (ints["drums"] + ints["bass"] + ints["other"]) / 32768)
    assert how == {"derivation": "stem-sum-16bit", "clipped_samples": 0}
    assert np.array_equal(lin, (sum(ints.values()) / 32768).astype(np.float32))
    assert np.array_equal(p.input, sf.read(d / "mixture.wav", dtype="float32")[0])
    assert np.array_equal(p.target, ints["other"].astype(np.float32) / 32768)


def test_linear_mixture_of_a_musdb18_set_is_the_stem_sum_even_beside_a_file(built, tiny_root, tmp_path):
    """MUSDB18 (.stem.mp4) has no linear_mixture.wav: the sum is derived, whatever lies in a folder of that name."""
    import shutil

    import soundfile as sf

    track = "Noise 00 - Test"
    root = tmp_path / "root"
    shutil.copytree(tiny_root, root)
    sf.write(root / "test" / track / "linear_mixture.wav", np.zeros((132300, 2), np.int16), 44100, subtype="PCM_16")
    m = json.loads((built / "a" / "manifest.json").read_text())
    m["data"]["source"] = "musdb18"
    ts = testset.TestSet(m, built / "a" / "manifest.json", root)
    ts._ds = open_dataset(root, validate=False)  # the stems as musdb would decode them
    lin, how = ts.linear_mixture(track)
    assert how == {"derivation": "stem-sum-16bit", "clipped_samples": 0}
    stems = open_dataset(tiny_root).stems(track)
    assert np.array_equal(lin, stems.astype(np.float64).sum(axis=0).astype(np.float32)) and np.abs(lin).max() > 0


def test_linear_mixture_file_of_the_wrong_length_is_refused_with_both_shapes(built, tiny_root, tmp_path):
    import shutil

    import soundfile as sf

    track = "Noise 01 - Test"
    root = tmp_path / "root"
    shutil.copytree(tiny_root, root)
    path = root / "test" / track / "linear_mixture.wav"
    sf.write(path, np.zeros((1000, 2), np.int16), 44100, subtype="PCM_16")
    with pytest.raises(testset.TestSetIntegrityError) as err:
        testset.TestSet.open(built / "a", root).linear_mixture(track)
    assert str(err.value) == f"{path}: 1000 samples × 2 channels, expected 132300 × 2 like the stems of the track"
    sf.write(path, np.full((132300, 2), 1000, np.int16), 44100, subtype="PCM_16")
    lin, how = testset.TestSet.open(built / "a", root).linear_mixture(track)
    assert how == {"derivation": "linear_mixture.wav", "clipped_samples": 0}
    assert lin.dtype == np.float32 and np.all(lin == np.float32(1000 / 32768))


def test_pcm16_sum_boundaries_and_float64_stem_sum():
    q = 2.0 ** -15
    stems = np.zeros((4, 4, 2), np.float32)
    stems[:, 0, 0] = [-0.5, -0.25, -0.25, 0.0]         # exactly -1: representable, not clipped
    stems[:, 1, 0] = [0.5, 0.25, 0.25 - q, 0.0]        # exactly 1 - 2^-15: the largest 16-bit value, not clipped
    stems[:, 2, 1] = [-0.75, -0.5, -0.25, -0.125]      # -1.625: clipped to -1 (between -2 and -1)
    stems[:, 3, 1] = [0.5, 0.5, 0.0, q]                # 1 + 2^-15: clipped to 1 - 2^-15
    out, clipped = testset.pcm16_sum(stems)
    assert clipped == 2 and out.dtype == np.float32
    assert out[0, 0] == -1.0 and out[1, 0] == 1 - q and out[2, 1] == -1.0 and out[3, 1] == 1 - q
    # stem_sum sums in float64 whatever the input: float32 would round 1 + 2^-30 to 1
    tiny = np.zeros((4, 1, 2), np.float32)
    tiny[0, 0, 0], tiny[1, 0, 0] = 1.0, 2.0 ** -30
    s = testset.stem_sum(tiny)
    assert s.dtype == np.float64 and s.shape == (1, 2) and s[0, 0] == 1.0 + 2.0 ** -30


def test_pair_from_audio_is_signed_algorithm_1_by_default():
    ds = _StubDataset()
    task = get_task("volume-down-vocals")
    got = testset.pair_from_audio(task, ds.stems_, ds.mixture_)
    assert _same_pair(got, dsp.make_pair(ds.stems_, task.query, peak_mode="signed"))
    assert _same_pair(testset.pair_from_audio(task, ds.stems_, ds.mixture_, peak_mode="abs"),
                      dsp.make_pair(ds.stems_, task.query, peak_mode="abs"))
