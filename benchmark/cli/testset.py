"""``amss-bench testset build|pair``."""

from __future__ import annotations

from benchmark.cli import fail


def _build(args) -> int:
    from benchmark.task import testset
    from benchmark.data.dataset import DatasetError

    try:
        path = testset.build(args.root, args.out, source=args.source, peak_mode=args.peak_mode, seed=args.seed)
    except (DatasetError, ValueError) as err:
        return fail(str(err))
    print(f"wrote {path}")
    return 0


def _pair(args) -> int:
    from benchmark.task import aml, testset
    from benchmark.data.dataset import DatasetError, open_dataset

    try:
        query = aml.parse(args.query)
        ds = open_dataset(args.root, args.source, validate=False)
        ds.check_track(args.track, ds.split_of(args.track))
        pair = testset.query_pair(query, ds, args.track, peak_mode=args.peak_mode)
    except (aml.AMLError, DatasetError, ValueError) as err:
        return fail(str(err))
    paths = testset.write_pair(pair, args.output)
    print(f"wrote {paths[0]} and {paths[1]} ({query.canonical!r} on {args.track!r}; normalisation gain "
          f"{pair.gain:.6g}, SoX-clipped samples {pair.total_clipped})")
    return 0


def register(sub) -> None:
    from benchmark.data.dataset import DATA_SOURCES
    from benchmark.task.dsp import PEAK_MODES

    p = sub.add_parser("testset", help="build the AMSS test set or write one pair")
    s = p.add_subparsers(dest="testset_command", metavar="ACTION", required=True)
    b = s.add_parser("build", help="manifest of every evaluation task × test track (hash-verified pairs)")
    b.add_argument("--root", required=True, help="dataset root")
    b.add_argument("--out", required=True, help="output folder (manifest.json)")
    b.add_argument("--source", default="synthetic", choices=DATA_SOURCES)
    b.add_argument("--peak-mode", default="signed", choices=PEAK_MODES,
                   help="signed = reference normalisation (default); abs = corrected variant")
    b.add_argument("--seed", type=int, default=0, help="recorded for provenance (evaluation pairs are not random)")
    b.set_defaults(func=_build)
    q = s.add_parser("pair", help="write input.wav and target.wav for any AML query on one track")
    q.add_argument("--root", required=True)
    q.add_argument("--track", required=True)
    q.add_argument("--query", required=True)
    q.add_argument("-o", "--output", required=True, help="output folder")
    q.add_argument("--source", default="synthetic", choices=DATA_SOURCES)
    q.add_argument("--peak-mode", default="signed", choices=PEAK_MODES)
    q.set_defaults(func=_pair)
