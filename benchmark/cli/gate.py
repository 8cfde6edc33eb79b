"""``amss-bench gate``: the pull-request regression gate (benchmark/gate, docs/regression-gate.md)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

log = logging.getLogger(__name__)


def _update_golden(args) -> int:
    from benchmark.gate import GOLDEN_FILE, GateError, golden, repo_root

    try:
        root = repo_root(Path.cwd())
    except GateError as err:
        print(f"amss-bench gate: {err}", file=sys.stderr)
        return 2
    path = root / GOLDEN_FILE
    models, training = golden.compute_all(progress=lambda *what: log.info("golden: %s", " ".join(what)))
    changes = []
    if path.is_file():
        try:
            old = golden.load(path)
            changes = golden.compare(old["models"], models) + golden.compare_training(old["training"], training,
                                                                                       strict=True)
        except ValueError as err:
            log.warning("%s (rewriting it)", err)
        else:
            changed = {c.key for c in changes}
            models = golden.keep_unchanged(old["models"], models, changed)
            training = golden.keep_unchanged(old["training"], training, changed)
    golden.write(path, models, training)
    print(f"wrote {path.relative_to(root)}: {len(models)} model and {len(training)} training fingerprints; "
          f"{len(changes)} changed: {', '.join(c.key for c in changes) or 'none'}")
    return 0


def _gate(args) -> int:
    from benchmark import gate
    from benchmark.base.params import ParamsError

    if args.update_golden:
        return _update_golden(args)
    opts = gate.Options(base=args.base, params=args.params, allow=args.allow or [], results=not args.no_results,
                        golden=not args.no_golden, speed=not args.no_speed, recompute_base=args.recompute_base,
                        same_numerics=args.same_numerics,
                        dvc_check=not args.no_dvc_check, speed_rounds=args.speed_rounds,
                        speed_select=args.speed_select, threshold=args.threshold, plots=args.plots, out=args.out,
                        keep_worktree=args.keep_worktree, argv=args.argv)
    try:
        code, doc = gate.run(opts)
    except (gate.GateError, ParamsError) as err:
        print(f"amss-bench gate: could not compare: {err}", file=sys.stderr)
        return gate.CANNOT
    print(doc["verdict_line"])
    print(f"report: {doc['_out']}/gate.md (markdown for a PR comment), {doc['_out']}/gate.json")
    return code


def register(sub) -> None:
    p = sub.add_parser("gate", help="regression gate: results, model outputs and speed against a base revision "
                                    "(exit 0 pass, 1 regression, 2 could not compare)")
    p.add_argument("--base", help="base git revision (default: the merge base of HEAD with main)")
    p.add_argument("--params", default="params.yaml", help="params file of the working tree (its gate: section)")
    p.add_argument("--allow", action="append", metavar="PATTERN",
                   help="declare an expected change (repeatable): STATUS:SYSTEM/TASK/METRIC glob, e.g. "
                        "'regressed:cunet-gpocm/*', 'missing:u9l-tfc/*', 'testset'; added to gate.allow")
    p.add_argument("--recompute-base", action="store_true",
                   help="recompute the base's results in a worktree on this machine (dvc pull if a remote is "
                        "configured, then dvc repro) instead of reading its committed summary")
    p.add_argument("--same-numerics", action="store_true",
                   help="the committed base was computed with this machine's numerics (e.g. on this machine): "
                        "compare with it without running the numerics probe")
    p.add_argument("--no-results", action="store_true", help="skip the results comparison")
    p.add_argument("--no-golden", action="store_true", help="skip the model-output (golden vector) check")
    p.add_argument("--no-speed", action="store_true", help="skip the speed comparison")
    p.add_argument("--no-dvc-check", action="store_true",
                   help="do not require `dvc status` to be clean (results may then not match the code)")
    p.add_argument("--speed-rounds", type=int, help="interleaved rounds per side (default gate.speed.rounds)")
    p.add_argument("--speed-select", help="pytest -k expression selecting speed cases")
    p.add_argument("--threshold", type=float, help="slowdown ratio that fails (default gate.speed.threshold)")
    p.add_argument("--plots", action="store_true", help="also write `dvc plots diff BASE` next to the report")
    p.add_argument("--out", default=".gate/report", help="report folder (gate.md, gate.json)")
    p.add_argument("--keep-worktree", action="store_true", help="keep the base's worktree under .gate/")
    p.add_argument("--update-golden", action="store_true",
                   help="recompute every model's golden fingerprint and rewrite tests/golden/models.json, then exit")
    p.set_defaults(func=_gate)
