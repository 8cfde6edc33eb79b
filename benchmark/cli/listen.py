"""``amss-bench listen``: listening clips (input, target, estimates) and their spectrograms for the HTML report (the
`listen` pipeline stage)."""

from __future__ import annotations

from benchmark.cli import fail


def _csv(text: str) -> tuple[str, ...]:
    return tuple(t for t in (x.strip() for x in text.split(",")) if t)


def _listen(args) -> int:
    from baselines.base import SystemConfigError
    from benchmark.reporting.listen import ListenError, build
    from benchmark.reporting.silence import SilenceError
    from benchmark.task.testset import TestSetIntegrityError

    try:
        path = build(args.testset, args.out, runs_root=args.runs, models=_csv(args.models),
                     baselines=_csv(args.baselines), tasks=_csv(args.tasks), track=args.track, seconds=args.seconds,
                     root=args.root, profile=args.profile)
    except (ListenError, SilenceError, SystemConfigError, TestSetIntegrityError, FileNotFoundError, KeyError) as err:
        return fail(str(err))
    print(f"wrote {path}")
    return 0


def register(sub) -> None:
    from benchmark.reporting.listen import DEFAULT_BASELINES, DEFAULT_MODELS, DEFAULT_TASKS, SECONDS

    p = sub.add_parser("listen", help="listening clips of a few test pairs (input, target, estimates) for the report")
    p.add_argument("--testset", required=True, help="test-set folder (manifest.json)")
    p.add_argument("--out", required=True, help="output folder (listen.json, <task>/<role>.ogg and .png)")
    p.add_argument("--runs", default=None, help="training runs folder (runs/train/<profile>) for --models")
    p.add_argument("--models", default=",".join(DEFAULT_MODELS),
                   help="comma-separated trained models (their first run under --runs); empty for none")
    p.add_argument("--baselines", default=",".join(DEFAULT_BASELINES), help="comma-separated baseline systems")
    p.add_argument("--tasks", default=",".join(DEFAULT_TASKS), help="comma-separated task ids")
    p.add_argument("--track", default=None, help="test track (default: the manifest's first)")
    p.add_argument("--seconds", type=float, default=SECONDS, help=f"clip length (default {SECONDS:g})")
    p.add_argument("--root", default=None, help="dataset root, if not the manifest's")
    p.add_argument("--profile", default="", help="profile (recorded in listen.json)")
    p.set_defaults(func=_listen)
