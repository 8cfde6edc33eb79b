"""``metrics`` CLI group (benchmark/cli/metrics.py), driven through ``register`` on a fresh parser."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest
import soundfile as sf

from benchmark.cli import metrics as cmd

SR = 44100


def _run(argv, capsys):
    parser = argparse.ArgumentParser(prog="amss-bench")
    cmd.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    rc = args.func(args)
    out = capsys.readouterr()
    return rc, out.out, out.err


@pytest.fixture(scope="module")
def track(tmp_path_factory):
    root = tmp_path_factory.mktemp("track")
    rng = np.random.default_rng(0)
    n = int(2.5 * SR)
    (root / "ref").mkdir()
    (root / "est").mkdir()
    for t in ("vocals", "drums"):
        r = 0.1 * rng.standard_normal((n, 2))
        sf.write(root / "ref" / f"{t}.wav", r, SR, subtype="FLOAT")
        sf.write(root / "est" / f"{t}.wav", 0.9 * r + 0.01 * rng.standard_normal((n, 2)), SR, subtype="FLOAT")
    return root


@pytest.mark.parametrize("backend", ["fast", "sdr-only"])
def test_bss_prints_museval_json_and_medians(track, capsys, backend):
    rc, out, err = _run(["metrics", "bss", "--reference", str(track / "ref"), "--estimate", str(track / "est"),
                         "--backend", backend], capsys)
    assert rc == 0, err
    doc = json.loads(out)
    assert doc["backend"] == backend and doc["track"] == "ref"
    assert [t["name"] for t in doc["targets"]] == ["drums", "vocals"]
    assert len(doc["targets"][0]["frames"]) == 2
    assert set(doc["medians"]["vocals"]) == ({"SDR"} if backend == "sdr-only" else {"SDR", "ISR", "SIR", "SAR"})
    # the numbers are BSS-Eval's on the files as read, references and estimates in that order (a window such as
    # 15-25 dB would also accept a swapped call)
    from benchmark.scoring.metrics import bss_eval_track, frame_medians

    refs = {t: sf.read(track / "ref" / f"{t}.wav", dtype="float64", always_2d=True)[0] for t in ("drums", "vocals")}
    ests = {t: sf.read(track / "est" / f"{t}.wav", dtype="float64", always_2d=True)[0] for t in ("drums", "vocals")}
    want = frame_medians(bss_eval_track(refs, ests, backend=backend))
    swapped = frame_medians(bss_eval_track(ests, refs, backend=backend))
    for t in ("drums", "vocals"):
        for m, v in want[t].items():
            assert doc["medians"][t][m] == pytest.approx(v, abs=1e-9), (t, m)
        assert abs(doc["medians"][t]["SDR"] - swapped[t]["SDR"]) > 0.05
    assert 15 < doc["medians"]["vocals"]["SDR"] < 25


def test_bss_both_reports_delta(track, capsys):
    rc, out, err = _run(["metrics", "bss", "--reference", str(track / "ref"), "--estimate", str(track / "est"),
                         "--backend", "both"], capsys)
    assert rc == 0, err
    doc = json.loads(out)
    assert set(doc) >= {"museval", "fast", "max_abs_delta", "nan_mismatch_frames", "speedup"}
    assert max(doc["max_abs_delta"].values()) <= 0.01
    assert sum(doc["nan_mismatch_frames"].values()) == 0


def test_bss_input_errors(track, tmp_path, capsys):
    rc, out, err = _run(["metrics", "bss", "--reference", str(track / "ref"), "--estimate", str(tmp_path)], capsys)
    assert rc == 2 and out == "" and "holds no <target>.wav" in err
    est = tmp_path / "est"
    est.mkdir()
    sf.write(est / "vocals.wav", np.zeros((100, 2)), SR)
    rc, out, err = _run(["metrics", "bss", "--reference", str(track / "ref"), "--estimate", str(est)], capsys)
    assert rc == 2 and "lacks drums.wav" in err
    sf.write(est / "drums.wav", np.ones((100, 2)) * 0.1, 22050)
    sf.write(est / "vocals.wav", np.ones((100, 2)) * 0.1, SR)
    rc, out, err = _run(["metrics", "bss", "--reference", str(track / "ref"), "--estimate", str(est)], capsys)
    assert rc == 2 and "drums.wav: sample rate 22050 Hz, expected 44100 Hz" in err
    sf.write(est / "drums.wav", np.ones((100, 1)) * 0.1, SR)
    rc, out, err = _run(["metrics", "bss", "--reference", str(track / "ref"), "--estimate", str(est)], capsys)
    assert rc == 2 and "estimate 'drums' has 1 channel(s), expected 2" in err


def test_rmse_mfcc_command(track, capsys, tmp_path):
    rc, out, err = _run(["metrics", "rmse-mfcc", "--reference", str(track / "ref" / "vocals.wav"),
                         "--estimate", str(track / "est" / "vocals.wav")], capsys)
    assert rc == 0, err
    doc = json.loads(out)
    assert list(doc) == ["mfcc_rmse", "mfcc_rmse_left", "mfcc_rmse_right", "mae", "mae_left", "mae_right"]
    mono = tmp_path / "mono.wav"
    sf.write(mono, np.zeros((1000, 1)), SR)
    rc, out, err = _run(["metrics", "rmse-mfcc", "--reference", str(track / "ref" / "vocals.wav"),
                         "--estimate", str(mono)], capsys)
    assert rc == 2 and "mono.wav: 1 channel(s), expected 2" in err
    rc, out, err = _run(["metrics", "rmse-mfcc", "--reference", str(tmp_path / "nope.wav"),
                         "--estimate", str(mono)], capsys)
    assert rc == 2 and "nope.wav: file not found" in err


def test_silence_command_with_a_stub_model(monkeypatch, capsys, tmp_path):
    registry = pytest.importorskip("models.registry")
    calls = {}

    class Stub:
        config = {"n_fft": 512, "hop_length": 256}

        def manipulate(self, audio, query, device="cpu"):
            calls["query"], calls["shape"] = query, audio.shape
            return np.zeros_like(audio)

    def create(name, profile="paper", seed=None, **kw):
        if name != "stub":
            raise KeyError(f"unknown model {name!r}")
        return Stub()

    monkeypatch.setattr(registry, "create", create)
    png = tmp_path / "s.png"
    rc, out, err = _run(["metrics", "silence", "--model", "stub", "--seconds", "2", "--png", str(png)], capsys)
    assert rc == 0, err
    doc = json.loads(out)
    assert doc["peak"] == 0.0 and doc["rms_dbfs"] is None and doc["zero_fraction"] == 1.0
    assert calls == {"query": "separate vocals", "shape": (2 * SR, 2)}
    assert png.read_bytes().startswith(b"\x89PNG")
    rc, out, err = _run(["metrics", "silence", "--model", "nope"], capsys)
    assert rc == 2 and "cannot build model 'nope'" in err


def test_register_wires_three_actions():
    parser = argparse.ArgumentParser()
    cmd.register(parser.add_subparsers(dest="command", required=True))
    for argv in (["metrics", "bss", "--reference", "a", "--estimate", "b"],
                 ["metrics", "rmse-mfcc", "--reference", "a", "--estimate", "b"],
                 ["metrics", "silence", "--model", "m"]):
        ns = parser.parse_args(argv)
        assert callable(ns.func)


# --------------------------------------------------------------------------------------------------------------
# start-up and I/O of `metrics bss` (docs/performance.md, "BSS-Eval through the CLI")


@pytest.fixture(scope="module")
def pcm16_track(tmp_path_factory):
    """4 targets as 16-bit PCM (the usual stem format), one with a silent stretch and one estimate shorter."""
    root = tmp_path_factory.mktemp("pcm16")
    rng = np.random.default_rng(5)
    n = int(3.3 * SR)
    (root / "ref").mkdir()
    (root / "est").mkdir()
    refs = {t: 0.2 * rng.standard_normal((n, 2)) for t in ("vocals", "drums", "bass", "other")}
    refs["vocals"][SR:2 * SR] = 0.0
    for t, r in refs.items():
        e = 0.8 * r + 0.05 * sum(refs.values()) + 0.01 * rng.standard_normal((n, 2))
        if t == "bass":
            e = e[:-1000]
        sf.write(root / "ref" / f"{t}.wav", np.clip(r, -1, 1), SR, subtype="PCM_16")
        sf.write(root / "est" / f"{t}.wav", np.clip(e, -1, 1), SR, subtype="PCM_16")
    return root


@pytest.mark.parametrize("subtype, narrowed", [("PCM_16", True), ("PCM_U8", True), ("PCM_24", False),
                                               ("PCM_32", False), ("FLOAT", False), ("DOUBLE", False)])
def test_exact32_read_holds_the_float64_values(tmp_path, subtype, narrowed):
    rng = np.random.default_rng(1)
    x = np.clip(0.4 * rng.standard_normal((3000, 3)), -1, 1)
    x[0] = [-1.0, 0.999, 0.0]  # full-scale negative, near full-scale, zero
    path = tmp_path / f"{subtype}.wav"
    sf.write(path, x, SR, subtype=subtype)
    wide, sr_w = cmd._read(path)
    narrow, sr_n = cmd._read(path, exact32=True)
    assert sr_w == sr_n == SR and wide.dtype == np.float64
    assert narrow.dtype == (np.float32 if narrowed else np.float64)
    np.testing.assert_array_equal(narrow.astype(np.float64), wide)
    if narrowed:
        assert wide[0, 0] == -1.0


def test_exact32_read_of_8_bit_signed_aiff(tmp_path):
    x = np.linspace(-1, 0.99, 2000).reshape(-1, 2)
    path = tmp_path / "s8.aiff"
    sf.write(path, x, SR, subtype="PCM_S8")
    narrow, _ = cmd._read(path, exact32=True)
    assert narrow.dtype == np.float32
    np.testing.assert_array_equal(narrow.astype(np.float64), cmd._read(path)[0])


@pytest.mark.parametrize("backend", ["fast", "sdr-only"])
def test_bss_command_equals_the_library_on_float64_input(pcm16_track, capsys, backend):
    """The CLI reads 16-bit stems as float32; its JSON must be exactly what the library gives for the float64 read
    (bit-identical values, not just close), silent frames and padding included."""
    from benchmark.scoring.metrics import bss

    rc, out, err = _run(["metrics", "bss", "--reference", str(pcm16_track / "ref"), "--estimate",
                         str(pcm16_track / "est"), "--backend", backend], capsys)
    assert rc == 0, err
    doc = json.loads(out)
    refs = {p.stem: sf.read(p, dtype="float64", always_2d=True)[0] for p in sorted((pcm16_track / "ref").glob("*.wav"))}
    ests = {p.stem: sf.read(p, dtype="float64", always_2d=True)[0] for p in sorted((pcm16_track / "est").glob("*.wav"))}
    res = bss.bss_eval_track(refs, ests, backend=backend)
    expected = bss.to_museval_json(res, "ref")
    assert doc["targets"] == json.loads(json.dumps(expected["targets"]))
    assert doc["medians"] == json.loads(cmd.json.dumps(cmd._nan_to_none(bss.frame_medians(res))))
    nulls = [f for t in doc["targets"] for f in t["frames"] if f["metrics"]["SDR"] is None]
    assert len(nulls) == 4  # second 1 of every target: the silent vocals reference
    raw32 = bss.bss_eval_track_raw({t: a.astype(np.float32) for t, a in refs.items()},
                                   {t: a.astype(np.float32) for t, a in ests.items()}, backend=backend)
    raw64 = bss.bss_eval_track_raw(refs, ests, backend=backend)
    for t in raw64:
        for m in raw64[t]:
            np.testing.assert_array_equal(raw32[t][m], raw64[t][m])


@pytest.mark.parametrize("backend, inside", [("fast", False), ("sdr-only", False), ("museval", True),
                                              ("both", True)])
def test_bss_command_hugepage_setting(pcm16_track, capsys, monkeypatch, backend, inside):
    """Fast back-ends run with NumPy's huge-page hint off (restored afterwards); museval runs as it always did."""
    from numpy._core.multiarray import _set_madvise_hugepage

    seen = {}

    def spy(args):
        seen["during"] = _set_madvise_hugepage(True)  # returns the setting in force inside the handler
        _set_madvise_hugepage(seen["during"])
        return 0

    monkeypatch.setattr(cmd, "_bss_impl", spy)
    old = _set_madvise_hugepage(True)
    try:
        rc, _, _ = _run(["metrics", "bss", "--reference", str(pcm16_track / "ref"), "--estimate",
                         str(pcm16_track / "est"), "--backend", backend], capsys)
        after = _set_madvise_hugepage(old)
    finally:
        _set_madvise_hugepage(old)
    assert rc == 0
    assert seen["during"] is inside and after is True


_IMPORT_PROBE = r"""
import contextlib, io, json, sys
from benchmark import cli
with contextlib.redirect_stdout(io.StringIO()) as out:
    rc = cli.main(["metrics", "bss", "--reference", sys.argv[1], "--estimate", sys.argv[2], "--backend", sys.argv[3]])
json.loads(out.getvalue())
print(json.dumps({"rc": rc, "modules": sorted(sys.modules)}))
"""


@pytest.mark.parametrize("backend", ["fast", "sdr-only"])
def test_fast_backends_do_not_import_the_heavy_stack(pcm16_track, backend):
    """Start-up: `metrics bss --backend fast|sdr-only` imports torch (and loads SciPy's pocketfft binding for fast) but
    not museval, pandas, librosa, matplotlib, nor the scipy.fft package (≈ 0.4 s of CPU). fast imports scipy.linalg
    (≈ 0.2 s) for the Cholesky factorisation through OpenBLAS, which saves 3 s of MKL's reproducible branch."""
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", _IMPORT_PROBE, str(pcm16_track / "ref"), str(pcm16_track / "est"),
                           backend], capture_output=True, text=True, check=True)
    doc = json.loads(proc.stdout.splitlines()[-1])
    assert doc["rc"] == 0
    top = {m.split(".")[0] for m in doc["modules"]}
    assert "torch" in top
    assert not top & {"museval", "pandas", "librosa", "matplotlib", "sklearn", "numba"}, top
    assert "scipy.fft" not in doc["modules"] and "scipy.special" not in doc["modules"]
    # the fast back-end loads SciPy's pocketfft binding straight from its file; only the LAPACK wrappers are imported
    scipy_modules = {m for m in doc["modules"] if m == "scipy" or m.startswith("scipy.")}
    if backend == "fast":
        assert "scipy.linalg" in scipy_modules
    else:
        assert not scipy_modules


def test_prefetch_imports_in_the_background_and_stops_at_a_missing_module():
    import sys

    sys.modules.pop("colorsys", None)
    if "tabnanny" in sys.modules:
        pytest.skip("tabnanny already imported by something else")
    t = cmd._prefetch(("colorsys", "no_such_module_amss", "tabnanny"))
    t.join(timeout=60)
    assert not t.is_alive() and t.daemon
    assert "colorsys" in sys.modules
    assert "tabnanny" not in sys.modules  # stopped at the failure, which the back-end's own import reports
    assert cmd._prefetch(()) is None
    assert set(cmd.PREFETCH) == {"fast", "sdr-only", "museval", "both"}
    assert all(m not in ("museval", "pandas", "librosa", "matplotlib") for mods in cmd.PREFETCH.values() for m in mods)


def test_bss_threads_option_reaches_the_fft_workers(track, capsys, monkeypatch):
    """--threads sets the FFT workers of the library call (default: one per CPU this process may use); a count
    below 1 is refused by the parser (exit 2) with the offending value named."""
    from benchmark.scoring.metrics import bss

    calls = []
    real = bss.bss_eval_track

    def spy(*args, **kwargs):
        calls.append(kwargs.get("fft_workers"))
        return real(*args, **kwargs)

    monkeypatch.setattr(bss, "bss_eval_track", spy)
    argv = ["metrics", "bss", "--reference", str(track / "ref"), "--estimate", str(track / "est")]
    assert _run(argv + ["--threads", "3"], capsys)[0] == 0
    assert _run(argv, capsys)[0] == 0
    assert calls == [3, cmd._cpus()]
    with pytest.raises(SystemExit) as exc:
        _run(argv + ["--threads", "0"], capsys)
    assert exc.value.code == 2
    assert "--threads: expected a positive integer, got '0'" in capsys.readouterr().err


def test_bss_as_a_program_exits_without_teardown_but_with_its_output_and_code(track, tmp_path, monkeypatch):
    """Run as a program, `metrics bss` ends through os._exit once its output is flushed (the interpreter's teardown
    with torch loaded cost ≈ 0.75 s): the JSON must still be complete on a pipe, the exit code must be the command's
    (0, and 2 for a missing estimate file), and an in-process call must return instead of exiting."""
    import subprocess
    import sys
    from pathlib import Path

    from benchmark import cli

    repo = Path(__file__).resolve().parents[2]
    argv = ["metrics", "bss", "--reference", str(track / "ref"), "--estimate", str(track / "est")]
    ok = subprocess.run([sys.executable, "-m", "benchmark.cli", *argv], cwd=repo, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert [t["name"] for t in json.loads(ok.stdout)["targets"]] == ["drums", "vocals"]
    (tmp_path / "est").mkdir()
    (tmp_path / "est" / "drums.wav").write_bytes((track / "est" / "drums.wav").read_bytes())
    bad = subprocess.run([sys.executable, "-m", "benchmark.cli", "metrics", "bss", "--reference", str(track / "ref"),
                          "--estimate", str(tmp_path / "est")], cwd=repo, capture_output=True, text=True)
    assert bad.returncode == 2 and "lacks vocals.wav" in bad.stderr, bad.stderr  # bad input: 2
    exits = []
    monkeypatch.setattr(cli.os, "_exit", lambda rc: exits.append(rc))
    assert cli.main(argv) == 0 and exits == []  # in-process: returns, never exits
    monkeypatch.setattr(sys, "argv", ["amss-bench", *argv])
    assert cli.main() == 0 and exits == [0]  # as a program: the exit is requested with the command's code
