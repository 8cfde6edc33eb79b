"""``amss-bench metrics bss|rmse-mfcc|silence`` (see ``docs/metrics.md``)."""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import sys
import threading
import time
from pathlib import Path

import numpy as np

from benchmark.cli import positive_int
from benchmark.cli import fail


class _InputError(ValueError):
    """Bad input named by the handler (exit status 2)."""


#: Sample formats whose every value is exactly a float32: integers of at most 16 bits, which libsndfile normalises
#: as k / 2**15 (8-bit samples are shifted to 16 bits first). Their per-sample channel sums are exact in float32 too
#: (up to 256 channels), so the fast back-ends — which compute in float64 from these samples — give bit-identical
#: results from float32 arrays, which take half the memory and are read faster.
EXACT_FLOAT32_SUBTYPES = frozenset({"PCM_S8", "PCM_U8", "PCM_16"})
_INT16_SCALE = np.float32(2.0 ** -15)


def _read(path: Path, dtype: str = "float64", exact32: bool = False) -> tuple[np.ndarray, int]:
    """``(audio (N, C), sample rate)`` in ``dtype``. With ``exact32``, files in :data:`EXACT_FLOAT32_SUBTYPES` come
    back as float32 holding exactly the values a ``dtype="float64"`` read gives: read as int16 and scaled by 2**-15
    (exact in float32; cheaper than libsndfile's per-sample float conversion)."""
    import soundfile as sf

    if not path.is_file():
        raise _InputError(f"{path}: file not found")
    try:
        with sf.SoundFile(str(path)) as f:
            sr = f.samplerate
            if exact32 and f.subtype in EXACT_FLOAT32_SUBTYPES:
                raw = f.read(dtype="int16", always_2d=True)
                audio = np.multiply(raw, _INT16_SCALE, dtype=np.float32)
            else:
                audio = f.read(dtype=dtype, always_2d=True)
    except Exception as exc:  # soundfile's errors are terse
        raise _InputError(f"{path}: not a readable audio file ({exc})") from None
    return audio, sr


def _read_dir(folder: Path, what: str, dtype: str = "float64",
              exact32: bool = False) -> tuple[dict[str, np.ndarray], int, dict]:
    if not folder.is_dir():
        raise _InputError(f"{what} directory {folder} not found")
    files = sorted(folder.glob("*.wav"))
    if not files:
        raise _InputError(f"{what} directory {folder} holds no <target>.wav files")
    audio, rates = {}, {}
    for f in files:
        audio[f.stem], rates[f.stem] = _read(f, dtype, exact32)
    return audio, rates, {t: folder / f"{t}.wav" for t in audio}


#: Modules a back-end imports on its first call (lazily, inside benchmark.scoring.metrics.bss). The CLI starts importing them
#: in a background thread while it reads the WAV files (libsndfile runs without the GIL), so that start-up and I/O
#: overlap. Never museval/pandas/librosa/matplotlib for the fast back-ends.
PREFETCH = {"fast": ("torch",), "sdr-only": ("torch",), "museval": (), "both": ()}


def _prefetch(modules) -> threading.Thread | None:
    """Import ``modules`` in a daemon thread (errors are left for the real import to report); join before use."""
    if not modules:
        return None

    def run():
        for name in modules:
            try:
                importlib.import_module(name)
            except Exception:  # noqa: BLE001 - the back-end's own import raises it again, where it is handled
                return

    t = threading.Thread(target=run, name="amss-bench-prefetch", daemon=True)
    t.start()
    return t


def _json_default(o):
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    raise TypeError(f"not JSON serialisable: {type(o)}")


def _nan_to_none(x):
    if isinstance(x, dict):
        return {k: _nan_to_none(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_nan_to_none(v) for v in x]
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def _print_json(obj) -> None:
    print(json.dumps(_nan_to_none(obj), indent=2, default=_json_default, allow_nan=False))


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _bss(args) -> int:
    if args.backend in ("fast", "sdr-only"):
        from benchmark.scoring.metrics.bss import no_numpy_hugepages  # the WAVs too, not only the work buffers

        with no_numpy_hugepages():
            return _bss_impl(args)
    return _bss_impl(args)  # museval (the yardstick) runs exactly as it always did


def _bss_impl(args) -> int:
    from benchmark.scoring.metrics import bss

    # fast/sdr-only compute in float64 from the samples; 8/16-bit PCM read as float32 holds the same values (museval
    # and `both` get float64 arrays, as they always did)
    exact32 = args.backend in ("fast", "sdr-only")
    loader = _prefetch(PREFETCH[args.backend])
    try:
        try:
            refs, ref_rates, ref_paths = _read_dir(Path(args.reference), "reference", exact32=exact32)
            ests, est_rates, est_paths = _read_dir(Path(args.estimate), "estimate", exact32=exact32)
        finally:  # never leave an import running in a daemon thread at exit
            if loader is not None:
                loader.join()
        missing = [t for t in refs if t not in ests]
        extra = [t for t in ests if t not in refs]
        if missing:
            raise _InputError(f"estimate directory {args.estimate} lacks {', '.join(t + '.wav' for t in missing)} "
                              f"(expected one file per reference target: {', '.join(sorted(refs))})")
        if extra:
            raise _InputError(f"estimate directory {args.estimate} has {', '.join(t + '.wav' for t in extra)} without "
                              f"a reference in {args.reference}")
        sr = next(iter(ref_rates.values()))
        for rates, paths in ((ref_rates, ref_paths), (est_rates, est_paths)):
            for t, r in rates.items():
                if r != sr:
                    raise _InputError(f"{paths[t]}: sample rate {r} Hz, expected {sr} Hz like "
                                      f"{ref_paths[next(iter(ref_rates))]}")
        win = hop = int(round(args.win * sr))
        backends = ("museval", "fast") if args.backend == "both" else (args.backend,)
        results, timings = {}, {}
        for b in backends:
            t0 = time.perf_counter()
            results[b] = bss.bss_eval_track(refs, ests, backend=b, device=args.device, win=win, hop=hop,
                                            fft_workers=args.threads)
            timings[b] = time.perf_counter() - t0
    except (_InputError, ValueError) as err:
        return fail(str(err))
    except RuntimeError as err:  # e.g. CUDA not available
        return fail(f"metrics bss: {err}")
    track = args.name or Path(args.reference).resolve().name
    out = {}
    for b, res in results.items():
        doc = bss.to_museval_json(res, track, win=win, hop=hop, sr=sr)
        doc["backend"] = b
        doc["medians"] = bss.frame_medians(res)
        doc["seconds"] = round(timings[b], 3)
        out[b] = doc
    if args.backend == "both":
        delta, nan_mismatch = {}, {}
        for m in bss.METRICS:
            d, mism = 0.0, 0
            for t in refs:
                a, f = results["museval"][t][m], results["fast"][t][m]
                mism += int(np.count_nonzero(np.isnan(a) != np.isnan(f)))
                ok = ~np.isnan(a) & ~np.isnan(f)
                if ok.any():
                    d = max(d, float(np.max(np.abs(a[ok] - f[ok]))))
            delta[m], nan_mismatch[m] = d, mism
        out["max_abs_delta"] = delta
        out["nan_mismatch_frames"] = nan_mismatch
        out["speedup"] = round(timings["museval"] / timings["fast"], 2) if timings["fast"] > 0 else None
        _print_json(out)
    else:
        _print_json(out[args.backend])
    return 0


def _rmse_mfcc(args) -> int:
    from benchmark.scoring.metrics import mfcc

    try:
        ref, sr_r = _read(Path(args.reference), "float32")
        est, sr_e = _read(Path(args.estimate), "float32")
        if sr_r != mfcc.SR:
            raise _InputError(f"{args.reference}: sample rate {sr_r} Hz, expected {mfcc.SR} Hz")
        if sr_e != sr_r:
            raise _InputError(f"{args.estimate}: sample rate {sr_e} Hz, expected {sr_r} Hz like {args.reference}")
        for path, a in ((args.reference, ref), (args.estimate, est)):
            if a.shape[1] != 2:
                raise _InputError(f"{path}: {a.shape[1]} channel(s), expected 2 (stereo)")
        if ref.shape[0] != est.shape[0]:
            raise _InputError(f"{args.estimate}: {est.shape[0]} samples, expected {ref.shape[0]} like "
                              f"{args.reference}")
        res = mfcc.rmse_mfcc(ref, est)
    except (_InputError, ValueError) as err:
        return fail(str(err))
    _print_json(res)
    return 0


def _silence(args) -> int:
    from benchmark.scoring.metrics import silence

    try:
        from models import checkpoint, registry
    except ImportError as err:  # the models package is not importable in this checkout
        return fail(f"metrics silence needs the models package: {err}", 1)
    try:
        if args.checkpoint:
            model = checkpoint.load(args.checkpoint, expected_name=args.model)
        else:
            model = registry.create(args.model, args.profile, seed=args.seed)
    except (KeyError, ValueError, FileNotFoundError) as err:
        return fail(f"metrics silence: cannot build model {args.model!r}: {err}")
    try:
        res = silence.silence_measure(lambda x: model.manipulate(x, args.query, device=args.device),
                                      seconds=args.seconds)
    except ValueError as err:
        return fail(f"metrics silence: {args.model}: {err}")
    doc = {"model": args.model, "checkpoint": args.checkpoint, "query": args.query, **res.to_json()}
    if args.png:
        cfg = getattr(model, "config", {}) or {}
        n_fft = int(cfg.get("n_fft", 2048))
        hop = int(cfg.get("hop_length", n_fft // 2))
        title = f"{args.model}: {args.query!r} on {res.seconds:g} s of silence"
        doc["png"] = str(silence.plot_silence(res.output, args.png, title, n_fft=n_fft, hop=hop))
    _print_json(doc)
    return 0


def register(sub) -> None:
    p = sub.add_parser("metrics", help="BSS-Eval v4 (museval / fast), RMSE-MFCC, silent-mixture measure")
    s = p.add_subparsers(dest="metrics_command", metavar="ACTION", required=True)

    b = s.add_parser("bss", help="framewise SDR/ISR/SIR/SAR of one track (museval JSON + per-target medians)")
    b.add_argument("--reference", required=True, help="folder of reference <target>.wav files")
    b.add_argument("--estimate", required=True, help="folder of estimated <target>.wav files (same names)")
    b.add_argument("--backend", default="fast", choices=("fast", "museval", "both", "sdr-only"),
                   help="fast (PyTorch float64), museval (official), both (prints both and the max |delta|), "
                        "sdr-only (closed-form SDR)")
    b.add_argument("--device", default="cpu", help="torch device for fast/sdr-only (cpu, cuda, cuda:1 ...)")
    b.add_argument("--win", type=float, default=1.0, help="frame length = hop in seconds (protocol: 1.0)")
    b.add_argument("--name", default=None, help="track name for the JSON (default: the reference folder name)")
    cpus = _cpus()
    b.add_argument("--threads", type=positive_int, default=cpus,
                   help="FFT worker threads of fast/sdr-only on CPU (default: the CPUs this process may use, "
                        f"here {cpus}); the numbers are bit-identical for any count")
    b.set_defaults(func=_bss, exit_without_teardown=True)

    r = s.add_parser("rmse-mfcc", help="RMSE-MFCC and MAE between a target and an output WAV (prints JSON)")
    r.add_argument("--reference", required=True, help="target A' (stereo 44.1 kHz WAV)")
    r.add_argument("--estimate", required=True, help="model output (or the input A for the reference loss)")
    r.set_defaults(func=_rmse_mfcc)

    q = s.add_parser("silence", help="feed a model silence; peak, RMS (dBFS), exact-zero fraction [, PNG]")
    q.add_argument("--model", required=True, help="registered model name (models.registry)")
    q.add_argument("--checkpoint", default=None, help="trained checkpoint (default: freshly initialised weights)")
    q.add_argument("--png", default=None, help="write waveform + magnitude spectrogram here")
    q.add_argument("--query", default="separate vocals", help="description fed with the silence")
    q.add_argument("--seconds", type=float, default=10.0, help="length of the silent input (s)")
    q.add_argument("--profile", default="paper", help="model profile when no checkpoint is given")
    q.add_argument("--seed", type=int, default=0, help="initialisation seed when no checkpoint is given")
    q.add_argument("--device", default="cpu", help="inference device")
    q.set_defaults(func=_silence)


if __name__ == "__main__":  # pragma: no cover - manual use
    import argparse

    ap = argparse.ArgumentParser(prog="metrics")
    register(ap.add_subparsers(dest="command", required=True))
    a = ap.parse_args()
    sys.exit(a.func(a))
