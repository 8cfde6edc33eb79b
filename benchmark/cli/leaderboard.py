"""``amss-bench leaderboard submit|build`` and ``amss-bench testset export`` (docs/leaderboard.md).

    amss-bench testset export --testset data/testset --out DIR
    amss-bench leaderboard submit --estimates PATH --meta submission.yaml
    amss-bench leaderboard submit --system module:factory|ENTRY_POINT --meta submission.yaml
    amss-bench leaderboard build
"""

from __future__ import annotations

import argparse

from benchmark.cli import fail


def _testset(args):
    from benchmark.task.testset import TestSet

    return TestSet.open(args.testset, args.root)


def _export(args) -> int:
    from benchmark.leaderboard.export import export_inputs
    from benchmark.task.testset import TestSetIntegrityError

    try:
        out = export_inputs(_testset(args), args.out, overwrite=args.overwrite, progress=not args.no_progress)
    except (FileNotFoundError, FileExistsError, ValueError, TestSetIntegrityError) as err:
        return fail(str(err))
    from benchmark.leaderboard.export import read_export

    info = read_export(out)
    print(f"wrote the inputs of {len(info['tasks'])} tasks × {len(info['tracks'])} tracks to {out} "
          f"(queries.json, testset.json; manifest hash {info['manifest_hash']})")
    return 0


def _profile(args, params) -> str:
    return args.profile or params.get("profile", "embedded")


def _submit(args) -> int:
    from benchmark.leaderboard import SubmissionError, entries

    params = entries.load_params(args.params)
    try:
        testset = _testset(args)
    except (FileNotFoundError, ValueError) as err:
        return fail(str(err))
    profile = _profile(args, params)
    summary = args.summary or f"reports/{profile}/summary.json"
    submissions = args.submissions or entries.settings(params)["submissions"]
    try:
        dest = entries.submit(meta_path=args.meta, testset=testset, submissions=submissions, params=params,
                              estimates=args.estimates, system=args.system, system_path=args.system_path,
                              replace=args.replace, summary_path=summary,
                              trusted_local=getattr(args, "trusted_local", False))
    except SubmissionError as err:
        return fail(str(err))
    entry = __import__("json").loads((dest / entries.ENTRY).read_text())
    nums = ", ".join(f"{k} {v:.3f}" for k, v in entry["scores_at_acceptance"].items() if v is not None)
    print(f"accepted {entry['name']} ({entry['kind']}) into {dest}: {nums}")
    print("rebuild the leaderboard with `amss-bench leaderboard build` (or `dvc repro leaderboard`)")
    return 0


def _build(args) -> int:
    from benchmark.leaderboard import SubmissionError, entries
    from benchmark.leaderboard.board import build

    params = entries.load_params(args.params)
    profile = _profile(args, params)
    try:
        testset = _testset(args)
    except (FileNotFoundError, ValueError) as err:
        return fail(str(err))
    summary = args.summary or f"reports/{profile}/summary.json"
    out = args.out or f"reports/{profile}/leaderboard"
    submissions = args.submissions or entries.settings(params)["submissions"]
    scored = []
    try:
        for d in entries.list_entries(submissions):
            scored.append(entries.rescore(d, testset, params, trusted_local=args.trusted_local))
    except SubmissionError as err:
        return fail(str(err), 1)
    try:
        doc = build(summary_path=summary, entries=scored, testset=testset, out=out, profile=profile)
    except (FileNotFoundError, ValueError) as err:
        return fail(str(err))
    n_sub = sum(1 for r in doc["entries"] if r["type"] == "submission")
    print(f"wrote {out}/leaderboard.md, leaderboard.html and leaderboard.json: {len(doc['entries'])} rows ({n_sub} submission(s), "
          "every one scored again by the suite)")
    return 0


def _common(p, *, testset_default="data/testset") -> None:
    p.add_argument("--testset", default=testset_default, metavar="DIR", help="test-set folder (manifest.json)")
    p.add_argument("--root", help="dataset root (default: the root recorded in the manifest)")


def _add_export(s) -> None:
    e = s.add_parser("export", help="write the inputs of every task × test track (never the targets), queries.json "
                                    "and the manifest hash, for running your own system (leaderboard)")
    _common(e)
    e.add_argument("--out", required=True, metavar="DIR", help="output folder: DIR/<task_id>/<track>.wav")
    e.add_argument("--overwrite", action="store_true", help="replace a non-empty DIR")
    e.add_argument("--no-progress", action="store_true")
    e.set_defaults(func=_export)


def _testset_subparsers(sub):
    """The ACTION subparsers of the existing ``testset`` command (benchmark/cli/testset.py), if registered."""
    parser = sub.choices.get("testset") if hasattr(sub, "choices") else None
    if parser is None:
        return None
    for action in parser._actions:  # noqa: SLF001 - argparse has no public accessor for a parser's subcommands
        if isinstance(action, argparse._SubParsersAction):  # noqa: SLF001
            return action
    return None


def register(sub) -> None:
    ts = _testset_subparsers(sub)
    if ts is not None and "export" not in ts.choices:
        _add_export(ts)
    p = sub.add_parser("leaderboard", help="submit a system (estimates or code) and build the leaderboard",
                       description=__doc__.splitlines()[0])
    s = p.add_subparsers(dest="leaderboard_command", metavar="ACTION", required=True)
    if ts is None:  # `testset` not registered (should not happen): keep export reachable
        _add_export(s)
    m = s.add_parser("submit", help="validate, score (recomputed by the suite) and add an entry under submissions/")
    what = m.add_mutually_exclusive_group(required=True)
    what.add_argument("--estimates", metavar="PATH", help="folder, .zip or .tar.gz: <task_id>/<track>.wav")
    what.add_argument("--system", metavar="SPEC", help="module:factory or an amss_bench.systems entry point")
    m.add_argument("--system-path", metavar="DIR", help="folder to import the module of --system from "
                   "(default: the installed packages / sys.path)")
    m.add_argument("--meta", required=True, metavar="YAML", help="submission.yaml (docs/leaderboard.md)")
    m.add_argument("--replace", action="store_true", help="replace an entry of the same name (its history is kept)")
    trusted = ("run code submissions WITHOUT isolation where no sandbox (bubblewrap) works here: only for code you "
               "trust (recorded in the entry and shown on the leaderboard)")
    m.add_argument("--trusted-local", action="store_true", help=trusted)
    for q in (m,):
        _common(q)
        q.add_argument("--submissions", help="entries folder (default: params.yaml leaderboard.submissions)")
        q.add_argument("--params", default="params.yaml")
        q.add_argument("--summary", help="aggregated results of the thesis systems (default: "
                       "reports/<profile>/summary.json; their names are reserved)")
        q.add_argument("--profile", help="default: params.yaml profile")
    m.set_defaults(func=_submit)
    b = s.add_parser("build", help="score every entry under submissions/ again and write the leaderboard "
                                   "(markdown + JSON) beside the thesis systems and baselines")
    _common(b)
    b.add_argument("--submissions", help="entries folder (default: params.yaml leaderboard.submissions)")
    b.add_argument("--params", default="params.yaml")
    b.add_argument("--summary", help="default: reports/<profile>/summary.json (the report stage)")
    b.add_argument("--out", help="default: reports/<profile>/leaderboard")
    b.add_argument("--profile", help="default: params.yaml profile")
    b.add_argument("--trusted-local", action="store_true", help=trusted)
    b.set_defaults(func=_build)
