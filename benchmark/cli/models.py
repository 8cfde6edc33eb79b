"""``amss-bench models list [--json]``,
``amss-bench models import --from {ismir2020,lasaft} --checkpoint FILE.ckpt --model NAME -o model.pt`` and
``amss-bench manipulate IN.wav "QUERY" --model NAME [--checkpoint PATH] -o OUT.wav``."""

from __future__ import annotations

import json
import math
import sys

import numpy as np

from benchmark.cli import positive_int
from benchmark.cli import fail

SR = 44100


def _list(args) -> int:
    from models import registry

    rows = []
    try:
        infos = registry.list_models()
    except ValueError as err:  # a broken amss_bench.models entry point (models.plugins.PluginError)
        return fail(str(err))
    for info in infos:
        n = registry.count_params(info.name)
        d = info.to_dict()
        # out-of-tree models may publish no count (None: nothing to check)
        d.update(params=n, matches_published=None if info.published_params is None else n == info.published_params,
                 embedded_name=f"{info.name}@embedded", embedded_params=registry.count_params(info.name, "embedded"))
        rows.append(d)
    if args.json:
        print(json.dumps(rows, indent=2, sort_keys=True, default=str))
        return 0
    head = ("name", "family", "table/row", "params", "published", "thesis", "embedded")
    table = [head] + [
        (r["name"], r["family"], f"{r['table']} {r['row']}" if r["table"] else r["origin"], f"{r['params']:,}",
         "—" if r["published_params"] is None else f"{r['published_params']:,}",
         r["thesis_params"] or "—", f"{r['embedded_params']:,}")
        for r in rows
    ]
    widths = [max(len(str(row[i])) for row in table) for i in range(len(head))]
    for row in table:
        print("  ".join(str(v).ljust(w) if i < 3 else str(v).rjust(w) for i, (v, w) in enumerate(zip(row, widths))))
    bad = [r["name"] for r in rows if r["matches_published"] is False]
    if bad:
        print(f"WARNING: parameter count differs from the published count for {', '.join(bad)}", file=sys.stderr)
        return 1
    return 0


def _import(args) -> int:
    from models import checkpoint, reference_import
    from models.checkpoint import CheckpointError

    try:
        model, meta = reference_import.import_checkpoint(args.checkpoint, args.origin, args.model)
    except KeyError as err:  # unknown registry name
        return fail(str(err).strip("'\""))
    except (CheckpointError, ValueError) as err:
        return fail(str(err))
    checkpoint.save(model, args.output, meta)
    print(f"{args.output}: {model.info.name} ({model.num_parameters():,} parameters) from {args.origin} checkpoint "
          f"{args.checkpoint} (sha256 {meta['source_sha256'][:12]}…, {len(model.state_dict())} tensors mapped)",
          file=sys.stderr)
    return 0


def _read_input(args):
    """Read IN.wav; returns (audio (N, 2) float32, note) or raises ValueError with a user-facing message."""
    try:
        from benchmark.base.audio import read_wav
    except ImportError:  # pragma: no cover - benchmark.base.audio is part of the package
        read_wav = None
    if read_wav is not None:
        audio, sr = read_wav(args.input, expect_sr=None, expect_channels=None)
    else:  # pragma: no cover
        import soundfile as sf

        audio, sr = sf.read(args.input, dtype="float32", always_2d=True)
    notes = []
    if sr != SR:
        if not args.resample:
            raise ValueError(f"{args.input}: sample rate {sr} Hz; the models expect {SR} Hz "
                             f"(pass --resample to resample it to {SR} Hz first)")
        from scipy.signal import resample_poly

        g = math.gcd(SR, int(sr))
        audio = resample_poly(audio, SR // g, int(sr) // g, axis=0).astype(np.float32)
        notes.append(f"resampled {sr} Hz -> {SR} Hz")
    if audio.shape[1] == 1:
        if not args.upmix:
            raise ValueError(f"{args.input}: mono file; the models expect stereo "
                             "(pass --upmix to duplicate the channel)")
        audio = np.repeat(audio, 2, axis=1)
        notes.append("mono input duplicated to both channels")
    elif audio.shape[1] != 2:
        raise ValueError(f"{args.input}: {audio.shape[1]} channels; the models expect stereo (2 channels)")
    return np.ascontiguousarray(audio, dtype=np.float32), notes


def _manipulate(args) -> int:
    from benchmark.task import aml
    from benchmark.base.audio import AudioFormatError, write_wav
    from models import checkpoint, inference, registry
    from models.base import UnsupportedQueryError

    if not args.model and not args.checkpoint:
        return fail("give --model NAME (and optionally --checkpoint PATH)")
    try:
        aml.parse(args.query)
    except aml.AMLError as err:
        return fail(str(err))
    try:
        audio, notes = _read_input(args)
    except (AudioFormatError, ValueError) as err:
        return fail(str(err))
    try:
        if args.checkpoint:
            model = checkpoint.load(args.checkpoint, expected_name=args.model)
        else:
            model = registry.create(args.model, profile=args.profile, seed=args.seed)
    except (KeyError, ValueError) as err:
        return fail(str(err).strip("'\""))
    try:
        model.condition_for(args.query)
    except UnsupportedQueryError as err:
        return fail(str(err))
    if not args.checkpoint:
        bar = "!" * 78
        print(f"{bar}\nWARNING: no --checkpoint given: running the UNTRAINED network {model.info.name!r} "
              f"(random weights, seed {args.seed}).\nThe output is NOT a meaningful manipulation.\n{bar}",
              file=sys.stderr)
    params = model.inference_params(args.mode)
    if params["mode"] == "overlap":
        n_win = inference.num_windows_overlap(len(audio), params["hop"], params["num_frame"], params["min_trim"],
                                              params["overlap_ratio"])
    else:
        n_win = inference.num_windows(len(audio), params["hop"], params["num_frame"], params["min_trim"])
    progress = not getattr(args, "quiet", False) and n_win > 2 * args.batch_size
    try:
        out = model.manipulate(audio, args.query, batch_size=args.batch_size, device=args.device,
                               autocast=args.autocast, mode=args.mode, progress=progress, pcm16=args.pcm16)
    except RuntimeError as err:  # e.g. CUDA unavailable / out of memory
        return fail(f"inference failed: {err}", 1)
    write_wav(args.output, out, SR, subtype=args.subtype)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    print(f"{args.output}: {len(out) / SR:.2f} s, model {model.info.name}, mode {params['mode']}, "
          f"{n_win} windows", file=sys.stderr)
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("models", help="list the registered architectures and their parameter counts")
    s = p.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    q = s.add_parser("list", help="name, family, thesis table/row, parameter count, published count")
    q.add_argument("--json", action="store_true", help="print JSON instead of a table")
    q.set_defaults(func=_list)
    i = s.add_parser("import", help="convert a reference code base's Lightning checkpoint (.ckpt) into ours")
    i.add_argument("--from", dest="origin", required=True, choices=("ismir2020", "lasaft"),
                   help="ismir2020: ws-choi/ISMIR2020_U_Nets_SVS (chapter-3 U-Nets); "
                        "lasaft: ws-choi/Conditioned-Source-Separation-LaSAFT (chapter-4 CUNets, lasaft_large_20xx)")
    i.add_argument("--checkpoint", required=True, metavar="FILE.ckpt", help="the reference checkpoint (read with "
                   "torch.load(weights_only=True): nothing in it is executed)")
    i.add_argument("--model", required=True, help="our registry name it holds, e.g. u7-dcse or lasaft-gpocm-net12 "
                   "(suffix @embedded for the scaled-down profile)")
    i.add_argument("-o", "--output", required=True, metavar="model.pt", help="checkpoint to write (models.checkpoint)")
    i.set_defaults(func=_import)

    m = subparsers.add_parser("manipulate", help="apply an AML query to a WAV file with a model")
    m.add_argument("input", metavar="IN.wav", help="stereo 44.1 kHz WAV")
    m.add_argument("query", metavar="QUERY", help='AML description, e.g. "separate vocals"')
    m.add_argument("--model", help="registry name (see `amss-bench models list`); optional with --checkpoint")
    m.add_argument("--checkpoint", help="checkpoint written by models.checkpoint.save")
    m.add_argument("-o", "--output", required=True, metavar="OUT.wav")
    m.add_argument("--profile", default="paper", choices=("paper", "embedded"),
                   help="architecture profile when no checkpoint is given (default: paper)")
    m.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda (default: cpu)")
    m.add_argument("--batch-size", type=positive_int, default=8, help="windows per forward pass (default: 8)")
    m.add_argument("--autocast", choices=("bf16", "fp16"), default=None, help="mixed-precision inference")
    m.add_argument("--mode", choices=("amss", "lasaft", "overlap"), default=None,
                   help="chunking: amss (trim 16384), lasaft (trim 5120), overlap (overlap-add); "
                        "default: the model's own")
    m.add_argument("--pcm16", action="store_true", help="16-bit round trip of the output (LaSAFT HEAD behaviour)")
    m.add_argument("--resample", action="store_true", help="resample inputs of another sample rate to 44.1 kHz")
    m.add_argument("--upmix", action="store_true", help="accept a mono input by duplicating its channel")
    m.add_argument("--seed", type=int, default=0, help="initialisation seed of an untrained network (default: 0)")
    m.add_argument("--subtype", default="FLOAT", choices=("FLOAT", "PCM_16", "PCM_24"),
                   help="output WAV subtype (default: FLOAT)")
    m.set_defaults(func=_manipulate)
