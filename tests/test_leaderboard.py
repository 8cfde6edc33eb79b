"""The leaderboard: export of the test inputs, submissions as estimates (folder, .zip, .tar.gz) and as
code, every kind of malformed submission refused with a named error and nothing written, scores equal to a direct
evaluation, time limits of code submissions, the leaderboard itself."""

from __future__ import annotations

import hashlib
import io
import json
import re
import shutil
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml

from benchmark.leaderboard import SubmissionError
from benchmark.leaderboard import entries as E
from benchmark.leaderboard import meta as M
from benchmark.leaderboard.export import export_inputs
from benchmark.base.provenance import array_sha256
from benchmark.task.testset import TestSet, build

REPO = Path(__file__).resolve().parents[1]
PARAMS = {"evaluate": {"backend": "sdr-only", "workers": 1},
          "leaderboard": {"code": {"time_limit_s_per_track": 120, "memory_limit_mb": 8192}}}
SDR_TASKS = ("sdr-vocals", "sdr-drums", "sdr-bass", "sdr-other")


@pytest.fixture(scope="module")
def ts(tiny_root, tmp_path_factory) -> TestSet:
    out = tmp_path_factory.mktemp("lb-testset")
    build(tiny_root, out, progress=False)
    return TestSet.open(out)


@pytest.fixture(scope="module")
def exported(ts, tmp_path_factory) -> Path:
    return export_inputs(ts, tmp_path_factory.mktemp("lb-export") / "inputs")


def meta(ts, tmp_path, **over) -> Path:
    doc = {"name": "my-model", "authors": ["A. Person"], "contact": "a@example.org", "description": "test entry",
           "url": "https://example.org/paper", "parameters": 1000, "training_data": "musdb18-train",
           "oracle": False, "manifest_hash": ts.manifest_hash, "licence": "MIT", "tasks": "sdr"}
    doc.update(over)
    for k in [k for k, v in over.items() if v is ...]:
        del doc[k]
    p = tmp_path / f"submission-{abs(hash(json.dumps(doc, sort_keys=True, default=str)))}.yaml"
    p.write_text(yaml.safe_dump(doc))
    return p


def estimates(exported: Path, dest: Path, tasks=SDR_TASKS) -> Path:
    """The identity's estimates (the exported inputs) for ``tasks``."""
    for t in tasks:
        shutil.copytree(exported / t, dest / t)
    return dest


def snapshot(folder: Path) -> dict:
    if not folder.exists():
        return {}
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(folder.rglob("*"))}


def refused(ts, tmp_path, *, match: str, subs: Path | None = None, params=None, **kw) -> SubmissionError:
    subs = subs or tmp_path / "submissions"
    before = snapshot(subs)
    with pytest.raises(SubmissionError) as err:
        E.submit(testset=ts, submissions=subs, params=params or PARAMS, **kw)
    assert match in str(err.value), str(err.value)
    assert snapshot(subs) == before, "a refused submission changed submissions/"
    return err.value


# ---------------------------------------------------------------------------------------------------- export

def test_export_writes_every_input_and_never_a_target(ts, exported):
    info = json.loads((exported / "testset.json").read_text())
    assert info["manifest_hash"] == ts.manifest_hash
    queries = json.loads((exported / "queries.json").read_text())
    assert sorted(queries) == sorted(ts.tasks()) and queries["pan-left-vocals"]["query"]
    targets = {e.target_sha256 for e in ts.entries} - {e.input_sha256 for e in ts.entries}
    wavs = sorted(exported.rglob("*.wav"))
    assert len(wavs) == len(ts.entries)
    for e in ts.entries:
        audio, sr = sf.read(str(exported / e.task_id / f"{e.track}.wav"), dtype="float32", always_2d=True)
        assert sr == 44100 and audio.shape == (e.frames, 2)
        assert array_sha256(audio) == e.input_sha256
        assert array_sha256(audio) not in targets  # (the reverb-free tiny stems: dereverb input = target)
    assert info["tracks"] == {t: {"frames": ts.entry(ts.tasks()[0], t).frames} for t in ts.tracks()}


def test_testset_export_cli(ts, tmp_path):
    from benchmark.cli import main

    assert main(["testset", "export", "--testset", str(ts.path.parent), "--out", str(tmp_path / "x"),
                 "--no-progress"]) == 0
    assert (tmp_path / "x" / "queries.json").is_file()
    assert main(["testset", "export", "--testset", str(ts.path.parent), "--out", str(tmp_path / "x"),
                 "--no-progress"]) == 2  # not empty: refused


# ---------------------------------------------------------------------------------------------------- valid

def memoised_decompositions(monkeypatch) -> dict:
    """Compute each distinct preservation decomposition once in this test. The test scores the same estimates four
    times (at submission, directly, rescored, and as the identity baseline); the decomposition, a pure function of
    the error and the sources (tests/test_preservation.py), is most of the cost. The key is the inputs' bytes, so a
    path that passed other inputs would still be computed, and compared, on its own."""
    from benchmark.scoring.metrics import preservation as P

    real, memo = P.decompose, {}

    def decompose(error, sources, *, filter_taps=P.FILTER_TAPS):
        h = hashlib.sha256(np.ascontiguousarray(error, dtype=np.float64).tobytes())
        for k, a in sources.items():
            h.update(k.encode() + b"\0" + np.ascontiguousarray(a, dtype=np.float64).tobytes())
        key = (h.hexdigest(), np.shape(error), int(filter_taps))
        if key not in memo:
            memo[key] = real(error, sources, filter_taps=filter_taps)
        return memo[key]

    monkeypatch.setattr(P, "decompose", decompose)
    return memo


def test_valid_submission_scored_end_to_end_equals_direct_evaluation(ts, exported, tmp_path, monkeypatch):
    from baselines.estimates import EstimatesSystem
    from benchmark.scoring import results as res
    from benchmark.scoring.aggregate import aggregate_results
    from benchmark.scoring.evaluate import evaluate

    memo = memoised_decompositions(monkeypatch)
    folder = estimates(exported, tmp_path / "est", ts.tasks())
    subs = tmp_path / "submissions"
    dest = E.submit(meta_path=meta(ts, tmp_path, tasks="all"), testset=ts, submissions=subs, params=PARAMS,
                    estimates=folder)
    entry = json.loads((dest / "entry.json").read_text())
    assert entry["kind"] == "estimates" and entry["testset"]["manifest_hash"] == ts.manifest_hash
    assert entry["tasks"] == ts.tasks() and entry["accepted_at"].endswith("Z") and entry["history"] == []
    assert not [p for p in subs.iterdir() if p.name.startswith(".")]
    # the same estimates evaluated directly
    evaluate(EstimatesSystem(folder, name="my-model", label="my-model"), ts, tmp_path / "direct",
             backend="sdr-only", progress=False, summary=False)
    direct = aggregate_results(res.load_results(tmp_path / "direct" / "my-model"), ts)
    rescored = E.rescore(dest, ts, PARAMS)
    again = rescored["summary"]
    for c in again["cells"]:
        d = direct["cells"][(direct["cells"].task_id == c["task_id"]) & (direct["cells"].metric == c["metric"])]
        assert len(d) == 1
        assert (c["value"] is None and np.isnan(d.value.iloc[0])) or c["value"] == d.value.iloc[0]
    assert len(again["cells"]) == len(direct["cells"])
    # the leaderboard: the entry's row equals its recomputed numbers; the baselines are on it
    from benchmark.scoring.aggregate import summary_document
    from baselines import get_system
    from benchmark.base.audio import write_json
    from benchmark.leaderboard.board import build as build_board

    evaluate(get_system("identity"), ts, tmp_path / "base", backend="sdr-only", progress=False, summary=False)
    docs = res.load_results(tmp_path / "base")
    write_json(tmp_path / "summary.json", summary_document(aggregate_results(docs, ts), testset=ts, results=docs))
    doc = build_board(summary_path=tmp_path / "summary.json", entries=[rescored], testset=ts,
                      out=tmp_path / "board", profile="embedded")
    rows = {r["name"]: r for r in doc["entries"]}
    assert set(rows) == {"identity", "my-model"}
    assert rows["my-model"]["metrics"]["SDR_AVG"]["value"] == rows["identity"]["metrics"]["SDR_AVG"]["value"]
    assert rows["my-model"]["metrics"]["RMSE_MFCC_all"]["value"] == pytest.approx(
        rows["identity"]["metrics"]["RMSE_MFCC_all"]["value"], abs=0)
    assert rows["my-model"]["how"] == "recomputed from estimates"
    assert memo  # the edit tasks were scored
    md = (tmp_path / "board" / "leaderboard.md").read_text()
    assert "my-model" in md and "identity" in md
    before = snapshot(tmp_path / "board")
    build_board(summary_path=tmp_path / "summary.json", entries=[rescored], testset=ts,
                out=tmp_path / "board", profile="embedded")
    assert snapshot(tmp_path / "board") == before  # a rebuild of unchanged entries changes nothing
    # a name already on the board: refused; --replace keeps the history
    refused(ts, tmp_path, match="already on the leaderboard", subs=subs, meta_path=meta(ts, tmp_path, tasks="all"),
            estimates=folder)


def _zip(src: Path, dest: Path, extra: dict | None = None, prefix="") -> Path:
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zf:
        for p in sorted(src.rglob("*.wav")):
            zf.write(p, prefix + p.relative_to(src).as_posix())
        for name, data in (extra or {}).items():
            zf.writestr(name, data)
    return dest


def _tar(src: Path, dest: Path, prefix="") -> Path:
    with tarfile.open(dest, "w:gz") as tf:
        for p in sorted(src.rglob("*.wav")):
            tf.add(p, prefix + p.relative_to(src).as_posix())
    return dest


@pytest.mark.parametrize("kind", ["zip", "tar.gz"])
def test_archives_accepted_and_replace_keeps_history(ts, exported, tmp_path, kind):
    folder = estimates(exported, tmp_path / "est")
    arc = (_zip(folder, tmp_path / "e.zip", prefix="my-estimates/") if kind == "zip"
           else _tar(folder, tmp_path / "e.tar.gz"))
    subs = tmp_path / "subs"
    dest = E.submit(meta_path=meta(ts, tmp_path), testset=ts, submissions=subs, params=PARAMS, estimates=arc)
    assert sorted(p.name for p in (dest / "estimates").iterdir()) == sorted(SDR_TASKS)
    first = json.loads((dest / "entry.json").read_text())
    E.submit(meta_path=meta(ts, tmp_path, description="v2"), testset=ts, submissions=subs, params=PARAMS,
             estimates=arc, replace=True)
    second = json.loads((dest / "entry.json").read_text())
    assert len(second["history"]) == 1 and second["history"][0]["submission_sha256"] == first["submission_sha256"]
    assert second["submission_sha256"] != first["submission_sha256"]


# ---------------------------------------------------------------------------------------------------- refused: metadata

@pytest.mark.parametrize("over, match", [
    ({"manifest_hash": "0" * 64}, "is not the current test set's"),
    ({"colour": "blue"}, "field 'colour': unknown field"),
    ({"contact": ...}, "field 'contact': required field missing"),
    ({"contact": "nobody"}, "field 'contact'"),
    ({"training_data": "extra"}, "field 'extra_data': required field missing"),
    ({"extra_data": "MedleyDB"}, "field 'extra_data'"),
    ({"parameters": -3}, "field 'parameters'"),
    ({"name": "../evil"}, "field 'name'"),
    ({"tasks": "half"}, "field 'tasks'"),
    ({"name": "identity"}, "is a system of the suite"),
    ({"name": "duet"}, "is a system of the suite"),  # a spatial separator, reserved even before it is evaluated
    ({"name": "demucs-v2"}, "is a system of the suite"),  # a survey separator of the registry
    ({"name": "u7-dcse"}, "is a system of the suite"),
])
def test_bad_metadata_refused(ts, exported, tmp_path, over, match):
    folder = estimates(exported, tmp_path / "est")
    err = refused(ts, tmp_path, match=match, meta_path=meta(ts, tmp_path, **over), estimates=folder)
    assert "submission-" in str(err)  # names the file


def test_not_yaml_refused(ts, exported, tmp_path):
    p = tmp_path / "submission.yaml"
    p.write_text("name: [unclosed")
    refused(ts, tmp_path, match="not valid YAML", meta_path=p, estimates=estimates(exported, tmp_path / "est"))


# ---------------------------------------------------------------------------------------------------- refused: audio

def _write(path: Path, audio, sr=44100, subtype="FLOAT", fmt="WAV"):
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), audio, sr, subtype=subtype, format=fmt)


def _mutate(folder: Path, ts, how: str):
    track = ts.tracks()[0]
    p = folder / "sdr-vocals" / f"{track}.wav"
    n = ts.entry("sdr-vocals", track).frames
    x = np.zeros((n, 2), np.float32)
    if how == "missing":
        p.unlink()
    elif how == "extra-task":
        _write(folder / "pan-left-vocals" / f"{track}.wav", x)
    elif how == "unknown-task":
        _write(folder / "sdr-piano" / f"{track}.wav", x)
    elif how == "extra-track":
        _write(folder / "sdr-vocals" / "Not A Track.wav", x)
    elif how == "length":
        _write(p, x[:-10])
    elif how == "mono":
        _write(p, x[:, :1])
    elif how == "rate":
        _write(p, x, sr=48000)
    elif how == "nan":
        x[5, 1] = np.nan
        _write(p, x)
    elif how == "inf":
        x[7, 0] = np.inf
        _write(p, x)
    elif how == "flac-named-wav":
        _write(p, x, subtype="PCM_16", fmt="FLAC")
    elif how == "not-wav-extension":
        _write(folder / "sdr-vocals" / f"{track}.flac", x, subtype="PCM_16", fmt="FLAC")
    elif how == "oversize":
        with open(p, "ab") as fh:
            fh.write(b"\0" * (n * 16 + (1 << 17)))
    elif how == "u8":
        _write(p, x, subtype="PCM_U8")
    elif how == "stray-file":
        (folder / "notes.txt").write_text("hi")
    elif how == "symlink":
        p.unlink()
        p.symlink_to(folder / "sdr-drums" / f"{track}.wav")


@pytest.mark.parametrize("how, match", [
    ("missing", "missing (estimate of task sdr-vocals"),
    ("extra-task", "extra task pan-left-vocals"),
    ("unknown-task", "'sdr-piano' is not an evaluation task"),
    ("extra-track", "extra track 'Not A Track'"),
    ("length", "samples, expected"),
    ("mono", "1 channel(s), expected 2"),
    ("rate", "sample rate 48000 Hz, expected 44100 Hz"),
    ("nan", "non-finite samples (NaN: 1"),
    ("inf", "non-finite samples (NaN: 0, Inf: 1"),
    ("flac-named-wav", "not a WAV file"),
    ("not-wav-extension", "not a .wav file"),
    ("oversize", "above the largest valid estimate"),
    ("u8", "sample format PCM_U8"),
    ("stray-file", "notes.txt: unexpected file"),
    ("symlink", "symbolic link (refused)"),
])
def test_bad_estimates_refused(ts, exported, tmp_path, how, match):
    folder = estimates(exported, tmp_path / "est")
    _mutate(folder, ts, how)
    err = refused(ts, tmp_path, match=match, meta_path=meta(ts, tmp_path), estimates=folder)
    assert str(folder) in str(err)  # names the file


def test_every_problem_listed_at_once(ts, exported, tmp_path):
    folder = estimates(exported, tmp_path / "est")
    for how in ("nan", "extra-track", "unknown-task"):
        _mutate(folder, ts, how)
    (folder / "sdr-bass" / f"{ts.tracks()[1]}.wav").unlink()
    err = refused(ts, tmp_path, match="4 problem(s)", meta_path=meta(ts, tmp_path), estimates=folder)
    assert len(err.problems) == 4


# ---------------------------------------------------------------------------------------------------- refused: archives

def _raw_zip(dest: Path, members: list[tuple[str, bytes]], *, symlink: str | None = None) -> Path:
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members:
            zf.writestr(name, data)
        if symlink:
            info = zipfile.ZipInfo(symlink)
            info.external_attr = (0o120777 << 16)
            zf.writestr(info, "sdr-vocals/x.wav")
    return dest


def _raw_tar(dest: Path, members: list[tarfile.TarInfo], data: dict | None = None) -> Path:
    with tarfile.open(dest, "w:gz") as tf:
        for m in members:
            payload = (data or {}).get(m.name)
            if payload is not None:
                m.size = len(payload)
                tf.addfile(m, io.BytesIO(payload))
            else:
                tf.addfile(m)
    return dest


def _ti(name, kind=tarfile.REGTYPE, link=""):
    t = tarfile.TarInfo(name)
    t.type = kind
    t.linkname = link
    return t


@pytest.mark.parametrize("case, match", [
    ("zip-slip", "'..' in the path (zip-slip"),
    ("zip-absolute", "absolute path"),
    ("zip-duplicate", "duplicate name"),
    ("zip-case-duplicate", "up to case or Unicode normalisation"),
    ("zip-nested", "nested archive"),
    ("zip-symlink", "symbolic link"),
    ("zip-too-many", "more than the test set needs"),
    ("zip-ratio", "compression ratio"),
    ("zip-total", "bytes uncompressed, above the limit"),
    ("tar-symlink", "symbolic link to '/etc/passwd'"),
    ("tar-hardlink", "hard link to"),
    ("tar-device", "device file or FIFO"),
    ("tar-absolute", "absolute path"),
    ("not-an-archive", "not a folder, .zip, .tar.gz or .tgz archive"),
    ("corrupt-zip", "not a readable zip archive"),
])
def test_unsafe_archives_refused_before_extraction(ts, exported, tmp_path, case, match):
    wav = (exported / "sdr-vocals" / f"{ts.tracks()[0]}.wav").read_bytes()
    params = PARAMS
    if case == "zip-slip":
        arc = _raw_zip(tmp_path / "a.zip", [("sdr-vocals/../../../escape.wav", wav)])
    elif case == "zip-absolute":
        arc = _raw_zip(tmp_path / "a.zip", [("/tmp/escape.wav", wav)])
    elif case == "zip-duplicate":
        with pytest.warns(UserWarning):
            arc = _raw_zip(tmp_path / "a.zip", [("sdr-vocals/a.wav", wav), ("sdr-vocals/a.wav", wav)])
    elif case == "zip-case-duplicate":
        arc = _raw_zip(tmp_path / "a.zip", [("sdr-vocals/A.wav", wav), ("sdr-vocals/a.wav", wav)])
    elif case == "zip-nested":
        arc = _raw_zip(tmp_path / "a.zip", [("more.zip", b"PK\x03\x04")])
    elif case == "zip-symlink":
        arc = _raw_zip(tmp_path / "a.zip", [], symlink="sdr-vocals/link.wav")
    elif case == "zip-too-many":
        arc = _raw_zip(tmp_path / "a.zip", [(f"sdr-vocals/{i}.wav", b"x") for i in range(40)])
    elif case == "zip-ratio":
        params = {**PARAMS, "leaderboard": {"archive": {"max_ratio": 100}}}
        arc = _raw_zip(tmp_path / "a.zip", [("sdr-vocals/z.wav", b"\0" * (2 << 20))])
    elif case == "zip-total":
        params = {**PARAMS, "leaderboard": {"archive": {"slack_mb": 0, "max_ratio": 1e9}}}
        arc = _raw_zip(tmp_path / "a.zip", [(f"sdr-vocals/{i}.wav", b"\0" * 2_100_000) for i in range(9)])
    elif case == "tar-symlink":
        arc = _raw_tar(tmp_path / "a.tar.gz", [_ti("sdr-vocals/x.wav", tarfile.SYMTYPE, "/etc/passwd")])
    elif case == "tar-hardlink":
        arc = _raw_tar(tmp_path / "a.tar.gz", [_ti("sdr-vocals/x.wav", tarfile.LNKTYPE, "sdr-vocals/y.wav")])
    elif case == "tar-device":
        arc = _raw_tar(tmp_path / "a.tar.gz", [_ti("sdr-vocals/x.wav", tarfile.CHRTYPE)])
    elif case == "tar-absolute":
        arc = _raw_tar(tmp_path / "a.tar.gz", [_ti("/tmp/x.wav")], {"/tmp/x.wav": wav})
    elif case == "not-an-archive":
        arc = tmp_path / "a.rar"
        arc.write_bytes(b"Rar!")
    else:
        arc = tmp_path / "a.zip"
        arc.write_bytes(b"PK\x03\x04 not really")
    before = snapshot(tmp_path)
    refused(ts, tmp_path, match=match, meta_path=meta(ts, tmp_path), estimates=arc, params=params)
    after = snapshot(tmp_path)
    assert set(after) - set(before) <= {p for p in after if p.startswith("submission-")}
    assert not Path("/tmp/escape.wav").exists()


def test_oracle_flag_must_match_the_estimates(ts, exported, tmp_path):
    folder = tmp_path / "est"
    for t in SDR_TASKS:
        for track in ts.tracks():
            _write(folder / t / f"{track}.wav", ts.load_pair(t, track).target.astype(np.float32))
    refused(ts, tmp_path, match="field 'oracle': false, but", meta_path=meta(ts, tmp_path), estimates=folder)
    dest = E.submit(meta_path=meta(ts, tmp_path, oracle=True), testset=ts, submissions=tmp_path / "s2", params=PARAMS,
                    estimates=folder)
    assert json.loads((dest / "entry.json").read_text())["kind"] == "estimates"


# ---------------------------------------------------------------------------------------------------- code

SYSTEMS = '''
import time
import numpy as np


class Echo:
    uses_target = False

    def estimate(self, task, pair, *, track=None):
        assert pair.target is None  # a non-oracle system never sees the targets
        return np.asarray(pair.input, dtype=np.float32) * 0.5


class Peek(Echo):
    uses_target = True

    def estimate(self, task, pair, *, track=None):
        return pair.target


class Slow(Echo):
    def estimate(self, task, pair, *, track=None):
        time.sleep(30)
        return pair.input


class Broken(Echo):
    def estimate(self, task, pair, *, track=None):
        if task.id == "sdr-drums":
            raise RuntimeError("boom")
        if task.id == "sdr-bass":
            return pair.input[:10]
        return pair.input


def echo():
    return Echo()


def peek():
    return Peek()


def slow():
    return Slow()


def broken():
    return Broken()


def nothing():
    return 42
'''


@pytest.fixture()
def code_dir(tmp_path) -> Path:
    d = tmp_path / "code"
    d.mkdir()
    (d / "lb_test_systems.py").write_text(SYSTEMS)
    (d / "lb_broken_import.py").write_text("import does_not_exist_anywhere\n")
    return d


def test_code_submission_module_factory(ts, exported, tmp_path, code_dir):
    from baselines.estimates import EstimatesSystem
    from benchmark.scoring import results as res
    from benchmark.scoring.aggregate import aggregate_results
    from benchmark.scoring.evaluate import evaluate

    subs = tmp_path / "subs"
    dest = E.submit(meta_path=meta(ts, tmp_path), testset=ts, submissions=subs, params=PARAMS,
                    system="lb_test_systems:echo", system_path=code_dir)
    entry = json.loads((dest / "entry.json").read_text())
    assert entry["kind"] == "code" and entry["code"]["files"] == ["lb_test_systems.py"]
    assert entry["code"]["files_sha256"] and (dest / "code" / "lb_test_systems.py").read_text() == SYSTEMS
    assert yaml.safe_load((dest / "submission.yaml").read_text())["system"] == "lb_test_systems:echo"
    # the same numbers as the estimates the code would write, evaluated directly
    folder = tmp_path / "est"
    for t in SDR_TASKS:
        for track in ts.tracks():
            x, _ = sf.read(str(exported / t / f"{track}.wav"), dtype="float32", always_2d=True)
            _write(folder / t / f"{track}.wav", x * np.float32(0.5))
    evaluate(EstimatesSystem(folder, name="my-model", label="my-model"), ts, tmp_path / "direct", tasks="sdr",
             backend="sdr-only", progress=False, summary=False)
    direct = aggregate_results(res.load_results(tmp_path / "direct" / "my-model"), ts)["groups"]
    got = E.rescore(dest, ts, PARAMS)["summary"]["groups"]
    want = direct[(direct.group == "AVG") & (direct.metric == "SDR")].value.iloc[0]
    assert [g["value"] for g in got if g["group"] == "AVG" and g["metric"] == "SDR"] == [want]
    # the code changed after acceptance: the entry is no longer scored
    (dest / "code" / "lb_test_systems.py").write_text(SYSTEMS + "\n# edited\n")
    with pytest.raises(SubmissionError, match="the code's files changed"):
        E.rescore(dest, ts, PARAMS)


@pytest.mark.parametrize("spec, over, match", [
    ("lb_test_systems:broken", {}, "task sdr-drums × track"),
    ("lb_test_systems:broken", {}, "estimate of shape (10, 2)"),
    ("lb_broken_import:make", {}, "could not be built"),
    ("lb_test_systems:nothing", {}, "has no estimate"),
    ("lb_test_systems:peek", {}, "field 'oracle': False but the system reads the targets"),
    ("lb_test_systems:echo", {"oracle": True}, "field 'oracle': True but the system does not read the targets"),
    ("no_such_module:make", {}, "module 'no_such_module' not found"),
    ("no-such-entry-point", {}, "no entry point 'no-such-entry-point' in group amss_bench.systems"),
])
def test_bad_code_submissions_refused(ts, tmp_path, code_dir, spec, over, match):
    refused(ts, tmp_path, match=match, meta_path=meta(ts, tmp_path, **over), system=spec, system_path=code_dir)


def test_code_time_limit_enforced(ts, tmp_path, code_dir):
    import time

    params = {**PARAMS, "leaderboard": {"code": {"time_limit_s_per_track": 1.5, "memory_limit_mb": 8192}}}
    t0 = time.monotonic()
    err = refused(ts, tmp_path, match="time-out (the per-track time limit of 1.5 s", params=params,
                  meta_path=meta(ts, tmp_path), system="lb_test_systems:slow", system_path=code_dir)
    assert time.monotonic() - t0 < 60  # the 30-s sleeps were cut short
    assert sum("time-out" in p for p in err.problems) == len(ts.tracks())  # one per track
    assert sum("not run" in p for p in err.problems) == 3 * len(ts.tracks())  # the rest of each track


# ---------------------------------------------------------------------------------------------------- the board

def test_incomplete_entries_are_never_averaged(ts):
    from benchmark.leaderboard.board import system_row

    cells = [{"label": "x", "task_id": t, "metric": "SDR", "value": 1.0, "ci_low": 0.5, "ci_high": 1.5}
             for t in ("sdr-vocals", "sdr-drums")]
    groups = [{"label": "x", "kind": "sdr", "group": "AVG", "metric": "SDR", "value": 1.0, "ci_low": 0.5,
               "ci_high": 1.5, "n_tasks": 2}]
    row = system_row({"cells": cells, "groups": groups}, "x", ts.tasks())
    assert row["metrics"]["SDR_AVG"]["value"] is None
    assert "incomplete: lacks sdr-bass, sdr-other" == row["metrics"]["SDR_AVG"]["note"]
    assert row["metrics"]["RMSE_MFCC_all"]["value"] is None and "sdr-bass" in row["missing_tasks"]


def test_other_separators_are_built_in_rows_and_reserved():
    """The spatial baselines and the registry's survey separators are built-in rows of their own type, found by
    their metadata (baselines.spatial, ModelInfo.collection), and no submission may take their names."""
    from benchmark.leaderboard.board import other_separators, row_type
    from benchmark.leaderboard.entries import reserved_names
    from models import registry

    others = other_separators()
    assert set(others) == {"ica", "duet", "adress", "projet"} | set(registry.model_names(collection="survey"))
    assert {"umx", "demucs-v2", "conv-tasnet"} <= set(others)
    assert [row_type(n) for n in ("identity", "projet", "conv-tasnet", "u7-dcse")] == \
        ["baseline", "other separator", "other separator", "thesis model"]
    assert set(others) <= reserved_names(None)


def test_ranks_tie_where_intervals_overlap():
    from benchmark.leaderboard.board import _rank

    def r(name, v, lo, hi, oracle=False):
        return {"name": name, "oracle": oracle, "metrics": {"SDR_AVG": {"value": v, "ci": [lo, hi]}}}

    rows = [r("a", 5, 4, 6), r("b", 4.5, 3.9, 5.1), r("c", 1, 0, 2), r("o", 99, 98, 100, oracle=True)]
    _rank(rows, "SDR_AVG", True)
    assert [x["rank"]["SDR_AVG"] for x in rows] == [1, 1, 3, None]
    assert rows[0]["tied"]["SDR_AVG"] and not rows[2]["tied"]["SDR_AVG"]


def test_example_entry_and_stage():
    entry = REPO / "submissions" / "example-dsp-mixture"
    doc = M.load(entry / "submission.yaml")
    assert doc["example"] is True and doc["oracle"] is False and doc["system"]
    rec = json.loads((entry / "entry.json").read_text())
    assert rec["kind"] == "code" and rec["testset"]["manifest_hash"] == doc["manifest_hash"]
    from benchmark.leaderboard.code import resolve

    assert resolve(doc["system"], entry / "code")["files_sha256"] == rec["code"]["files_sha256"]
    stage = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]["leaderboard"]
    assert "amss-bench leaderboard build" in stage["cmd"] and "reports/${profile}/summary.json" in stage["deps"]
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    assert params["leaderboard"]["code"]["time_limit_s_per_track"] > 0


def test_memory_limit_enforced(ts, tmp_path, code_dir):
    (code_dir / "lb_hog.py").write_text(
        "import numpy as np\n\n\nclass Hog:\n    def estimate(self, task, pair, *, track=None):\n"
        "        self.keep = np.ones((4 << 30) // 8)\n        return pair.input\n\n\ndef make():\n    return Hog()\n")
    params = {**PARAMS, "leaderboard": {"code": {"time_limit_s_per_track": 120, "memory_limit_mb": 2048}}}
    err = refused(ts, tmp_path, match="the memory limit was reached", params=params, meta_path=meta(ts, tmp_path),
                  system="lb_hog:make", system_path=code_dir)
    assert all("MemoryError" in p for p in err.problems)


def test_example_script_writes_the_identity_estimates(ts, exported, tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_estimates", REPO / "docs" / "examples" / "make_estimates.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.main([str(exported), str(tmp_path / "est"), "--system", "identity"]) == 0
    for e in ts.entries:
        x, _ = sf.read(str(tmp_path / "est" / e.task_id / f"{e.track}.wav"), dtype="float32", always_2d=True)
        assert array_sha256(x) == e.input_sha256
    assert not est_problems(tmp_path / "est", ts)


def est_problems(folder, ts):
    from benchmark.leaderboard.estimates import check_folder

    return check_folder(folder, ts, ts.tasks())


def test_cli_submit_and_build(ts, exported, tmp_path, capsys):
    from benchmark.cli import main
    from benchmark.scoring import results as res
    from benchmark.scoring.aggregate import aggregate_results, summary_document
    from benchmark.base.audio import write_json
    from benchmark.scoring.evaluate import evaluate
    from baselines import get_system

    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"profile": "embedded", **PARAMS}))
    folder = estimates(exported, tmp_path / "est")
    common = ["--testset", str(ts.path.parent), "--submissions", str(tmp_path / "subs"), "--params",
              str(tmp_path / "params.yaml")]
    bad = meta(ts, tmp_path, manifest_hash="f" * 64)
    assert main(["leaderboard", "submit", "--estimates", str(folder), "--meta", str(bad), *common]) == 2
    err = capsys.readouterr()
    assert "amss-bench: error:" in err.err and "is not the current test set's" in err.err and err.out == ""
    assert not (tmp_path / "subs").exists()
    assert main(["leaderboard", "submit", "--estimates", str(folder), "--meta", str(meta(ts, tmp_path)),
                 *common]) == 0
    assert "accepted my-model" in capsys.readouterr().out
    rec = json.loads((tmp_path / "subs" / "my-model" / "entry.json").read_text())
    assert rec["properties"]["status"] == "not supported" and "precomputed audio" in rec["properties"]["reason"]
    evaluate(get_system("oracle"), ts, tmp_path / "base", tasks="sdr", backend="sdr-only", progress=False,
             summary=False)
    docs = res.load_results(tmp_path / "base")
    write_json(tmp_path / "summary.json", summary_document(aggregate_results(docs, ts), testset=ts, results=docs))
    assert main(["leaderboard", "build", *common, "--summary", str(tmp_path / "summary.json"), "--out",
                 str(tmp_path / "board")]) == 0
    md = (tmp_path / "board" / "leaderboard.md").read_text()
    assert "| 1 | my-model | submission |" in md and "oracle (reads the targets; unranked)" in md
    assert "my-model: lacks 21 task(s)" in md  # tasks: sdr → the edit averages are incomplete, not averaged
    # an estimates entry cannot answer the property tasks: said in their tables, with the reason
    assert "| my-model | submission | not supported | not supported |" in md
    assert "* my-model: an estimates entry holds precomputed audio" in md
    doc = json.loads((tmp_path / "board" / "leaderboard.json").read_text())
    row = next(r for r in doc["entries"] if r["name"] == "my-model")
    assert row["metrics"]["RMSE_MFCC_all"]["value"] is None and row["rank"]["RMSE_MFCC_all"] is None
    # the same leaderboard as a self-contained page, read in a real browser (tests/chromium.py)
    import chromium

    if chromium.find_binary() is None:
        pytest.fail(chromium.MISSING)  # a declared system dependency: never skipped
    page = (tmp_path / "board" / "leaderboard.html").read_text()
    assert "<script" not in page and "<link" not in page  # self-contained: inline CSS, nothing fetched
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)
    got = chromium.load(tmp_path / "board" / "leaderboard.html", BOARD_CHECK)
    assert got["errors"] == [], got["errors"]
    seen = got["value"]
    assert seen["title"] == "amss-bench leaderboard — profile embedded"
    assert seen["tables"] == md.count("\n|---|") and seen["tables"] >= 2
    mine = next(r for r in seen["rows"] if r[1] == "my-model")
    assert mine[0] == "1" and mine[2] == "submission"
    expected = f"{row['metrics']['SDR_vocals']['value']:.2f}"
    assert expected in mine  # the recomputed SDR as the JSON holds it
    assert any(r[1] == "oracle" for r in seen["rows"])


#: what a person reads on the leaderboard page: its title, the tables and every body row's cells
BOARD_CHECK = """
(() => ({
  title: document.title,
  tables: document.querySelectorAll('table').length,
  rows: [...document.querySelectorAll('tbody tr')].map(tr => [...tr.cells].map(td => td.textContent.trim())),
}))()
"""
