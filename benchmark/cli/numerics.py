"""``amss-bench numerics``: which numeric code paths are in force on this machine (benchmark/base/numerics.py)."""

from __future__ import annotations

import json

from benchmark.scoring.numerics_probe import probe


def _numerics(args) -> int:
    from benchmark.base import numerics

    out = numerics.report()
    if args.probe:
        out["probe"] = probe()
    print(json.dumps(out, indent=2, sort_keys=True))
    return 0


def register(sub) -> None:
    p = sub.add_parser("numerics", help="print the pinned numeric code paths (CPU kernels, BLAS, MKL) in force here")
    p.add_argument("--probe", action="store_true",
                   help="also hash small computations on every numeric path (compare two machines with it)")
    p.set_defaults(func=_numerics)
