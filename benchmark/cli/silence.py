"""``amss-bench silence``: thesis Figure 3.10, an all-zero input through every trained checkpoint (the `silence`
pipeline stage)."""

from __future__ import annotations

from benchmark.cli import fail


def _silence(args) -> int:
    from baselines.base import SystemConfigError
    from benchmark.reporting.silence import SilenceError, run

    try:
        path = run(args.runs, args.out, profile=args.profile, seconds=args.seconds)
    except (SilenceError, SystemConfigError, FileNotFoundError) as err:
        return fail(str(err))
    print(f"wrote {path}")
    return 0


def register(sub) -> None:
    p = sub.add_parser("silence", help="Figure 3.10: every trained checkpoint on an all-zero input (table + figure)")
    p.add_argument("--runs", required=True, help="training runs folder (runs/train/<profile>)")
    p.add_argument("--out", required=True, help="output folder (silence.json, silence.md, silence.png)")
    p.add_argument("--profile", required=True, help="profile the runs belong to (printed on every output)")
    p.add_argument("--seconds", type=float, default=10.0, help="length of the silent input (default 10, protocol §8)")
    p.set_defaults(func=_silence)
