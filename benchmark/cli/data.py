"""``amss-bench data render|check|prepare``."""

from __future__ import annotations

import logging
from pathlib import Path

from benchmark.cli import fail

log = logging.getLogger("amss_bench.data")


def _render(args) -> int:
    from benchmark.data import synth

    try:
        summary = synth.render(args.root, seed=args.seed, n_train=args.train, n_valid=args.valid, n_test=args.test,
                               seconds=args.seconds, soundfont=args.soundfont, workers=args.workers,
                               overwrite=args.overwrite)
    except (ValueError, FileNotFoundError, FileExistsError, RuntimeError) as err:
        return fail(str(err))
    counts = ", ".join(f"{k} {len(v)}" for k, v in summary["tracks"].items())
    clipped = sum(summary["clipped_samples"].values())
    print(f"rendered {args.root}: {counts}; mixture samples clipped: {clipped}")
    return 0


def _check(args) -> int:
    from benchmark.data.dataset import DatasetError, open_dataset

    try:
        ds = open_dataset(args.root, args.source, validate=False)
        infos = ds.validate()
    except DatasetError as err:
        return fail(str(err))
    for split, items in infos.items():
        seconds = sum(max(i.frames, 0) for i in items) / 44100
        length = f", {seconds:.1f} s" if args.source != "musdb18" else ""
        print(f"{split}: {len(items)} tracks{length} ({args.source}, {args.root})")
    return 0


def _prepare(args) -> int:
    """The `data` DVC stage: render the synthetic set (or validate a real root) and describe it."""
    from benchmark.base import params as P
    from benchmark.base.audio import write_json
    from benchmark.data.dataset import DatasetError, open_dataset

    try:
        params = P.load(args.params)
        source = P.get(params, "data.source", str)
        root = Path(P.get(params, "data.root", str))
        synth_dir = Path(args.synthetic_dir)
        if source == "synthetic":
            from benchmark.data import synth

            s = P.get(params, "data.synth", dict)
            if root != synth_dir:
                raise P.ParamsError(f"{params['_path']}: data.root must be {synth_dir} when data.source is "
                                    f"synthetic (the DVC stage renders there), got {root}")
            synth.render(root, seed=P.get(params, "data.synth.seed", int), n_train=P.get(params, "data.synth.train", int),
                         n_valid=P.get(params, "data.synth.valid", int), n_test=P.get(params, "data.synth.test", int),
                         seconds=P.get(params, "data.synth.seconds", (int, float)),
                         soundfont=s.get("soundfont"), workers=int(s.get("workers", 1)),
                         overwrite=True)  # data/synthetic is owned by the pipeline stage
        else:
            synth_dir.mkdir(parents=True, exist_ok=True)
            (synth_dir / "NOT_USED").write_text(f"data.source is {source}; the dataset is read from {root}\n")
        description = open_dataset(root, source, validate=False).describe()
        description["root"] = str(root)
        write_json(args.out, description)
    except (P.ParamsError, DatasetError, ValueError, FileNotFoundError, RuntimeError) as err:
        return fail(str(err))
    print(f"prepared {source} dataset at {root} → {args.out}")
    return 0


def register(sub) -> None:
    from benchmark.data.dataset import DATA_SOURCES

    p = sub.add_parser("data", help="render the embedded dataset or check a dataset root")
    s = p.add_subparsers(dest="data_command", metavar="ACTION", required=True)

    r = s.add_parser("render", help="render the synthetic multitrack dataset (MUSDB18-HQ layout)")
    r.add_argument("--root", required=True, help="output folder")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--train", type=int, default=8, help="number of training tracks")
    r.add_argument("--valid", type=int, default=2, help="number of validation tracks (stored under train/)")
    r.add_argument("--test", type=int, default=4, help="number of test tracks")
    r.add_argument("--seconds", type=float, default=12.0, help="track length in seconds")
    r.add_argument("--soundfont", default=None, help="General MIDI .sf2 (default: Debian's TimGM6mb)")
    r.add_argument("--workers", type=int, default=1, help="rendering processes")
    r.add_argument("--overwrite", action="store_true", help="replace a root rendered with other parameters")
    r.set_defaults(func=_render)

    c = s.add_parser("check", help="validate a dataset root; one summary line per split")
    c.add_argument("--root", required=True)
    c.add_argument("--source", default="synthetic", choices=DATA_SOURCES)
    c.set_defaults(func=_check)

    q = s.add_parser("prepare", help="the `data` pipeline stage: render or validate per params.yaml")
    q.add_argument("--params", default="params.yaml")
    q.add_argument("--synthetic-dir", default="data/synthetic")
    q.add_argument("--out", default="data/dataset.json")
    q.set_defaults(func=_prepare)
