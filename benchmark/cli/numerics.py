"""``amss-bench numerics``: which numeric code paths are in force on this machine (benchmark/base/numerics.py)."""

from __future__ import annotations

import json

from benchmark.scoring.numerics_probe import probe


def _numerics(args) -> int:
    from benchmark.base import numerics

    out = numerics.report()
    if args.probe or args.record:
        out["probe"] = probe()
    if args.record:
        _record(args.record, out)
    print(json.dumps(out, indent=2, sort_keys=True))
    return 0


def _record(path: str, state: dict) -> None:
    """Write this machine's probe as the golden values (keeping the other machines' recorded values)."""
    import platform
    from pathlib import Path

    import numpy
    import scipy
    import torch

    from benchmark.base.audio import atomic_write
    from benchmark.base.numerics import cpu_identity

    target = Path(path)
    old = json.loads(target.read_text()) if target.is_file() else {}
    cpu = cpu_identity()
    doc = {"probe": dict(sorted(state["probe"].items())), "cpu": cpu,
           "recorded_on": f"{cpu.get('name', platform.processor())} (family {cpu.get('family')} model "
                          f"{cpu.get('model')}), torch {torch.__version__}, numpy {numpy.__version__}, "
                          f"scipy {scipy.__version__}",
           "other_machines": old.get("other_machines", {})}
    with atomic_write(target, "w") as fh:
        fh.write(json.dumps(doc, indent=1, sort_keys=True) + "\n")


def register(sub) -> None:
    p = sub.add_parser("numerics", help="print the pinned numeric code paths (CPU kernels, BLAS, MKL) in force here")
    p.add_argument("--probe", action="store_true",
                   help="also hash small computations on every numeric path (compare two machines with it)")
    p.add_argument("--record", metavar="PATH",
                   help="write the probe as the golden values to PATH (tests/data/numerics_probe.json), keeping "
                        "its other machines' values")
    p.set_defaults(func=_numerics)
