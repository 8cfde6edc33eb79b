"""``amss-bench properties``: progressive-manipulation drift and effect-level control of one system (the
``evaluate-properties`` stages; docs/evaluation.md "Properties").

    amss-bench properties --model NAME --checkpoint PATH --testset DIR --out DIR [--k 20] [--k-others 10] [--segment-seconds 3] [--tracks 2]
    amss-bench properties --system identity|oracle|dsp-mixture --testset DIR --out DIR
    amss-bench properties --system separate-then-dsp --separator-model NAME --separator-checkpoint PATH ...

Writes ``<out>/<name>/properties.json`` (scores, settings, system and provenance blocks) and the WAVs of the figure
cases beside it (the report draws thesis Figures 5.7 and 5.8 from them).
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from benchmark.cli import fail, positive_int

RESULT_FILE = "properties.json"


def _build(args):
    from benchmark.cli.evaluate import _build_system

    ns = argparse.Namespace(model=args.model, checkpoint=args.checkpoint, system=args.system, estimates=None,
                            separator_model=args.separator_model, separator_checkpoint=args.separator_checkpoint,
                            label=args.label, seed=args.seed, name=args.name, device=args.device,
                            batch_size=args.batch_size, inference_mode=None, autocast=None, pcm16=False,
                            params="params.yaml")
    return _build_system(ns)


def _properties(args) -> int:
    from baselines.base import SystemConfigError
    from benchmark.base.audio import write_json
    from benchmark.scoring.evaluate import _provenance
    from benchmark.scoring.properties import evaluate_properties
    from benchmark.task.testset import TestSet, TestSetIntegrityError

    if (args.model is None) == (args.system is None):
        return fail("give exactly one of --model/--checkpoint or --system")
    try:
        testset = TestSet.open(args.testset, args.root)
        system = _build(args)
        tracks = testset.tracks()
        if args.tracks is not None:
            tracks = tracks[:args.tracks]
    except (FileNotFoundError, ValueError, KeyError, SystemConfigError) as err:
        return fail(str(err.args[0]) if isinstance(err, KeyError) and err.args else str(err))
    folder = Path(args.out) / system.name
    tmp = Path(args.out) / f".{system.name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        doc = evaluate_properties(system, testset, k_max=args.k, k_others=args.k_others, segment_seconds=args.segment_seconds,
                                  tracks=tracks, figure_dir=tmp)
    except (ValueError, KeyError, SystemConfigError, TestSetIntegrityError) as err:
        shutil.rmtree(tmp, ignore_errors=True)
        return fail(f"{system.name}: {err}", 1)
    seconds = doc.pop("seconds")  # wall time: logged, never written (same inputs -> same bytes)
    # the result files' provenance block: versions and numerics, no git commit (it would change the bytes of a
    # DVC-tracked output at every commit; dvc.lock pins the code)
    doc["provenance"] = _provenance()
    write_json(tmp / RESULT_FILE, doc)
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)
    d, c = doc["properties"]["drift"]["summary"], doc["properties"]["control"]["summary"]
    print(f"{system.name}: drift AUC {d['drift_auc']}, control order {c['control_order']}, "
          f"spearman {c['control_spearman']} ({len(tracks)} tracks, K={args.k}, {seconds:.0f} s) -> "
          f"{folder / RESULT_FILE}")
    return 0


def register(sub) -> None:
    p = sub.add_parser("properties", help="progressive-manipulation drift and effect-level control of one system",
                       description=__doc__.splitlines()[0])
    what = p.add_argument_group("what to measure (exactly one)")
    what.add_argument("--model", help="registry name of a trained AMSS model (with --checkpoint)")
    what.add_argument("--checkpoint", help="its checkpoint file")
    what.add_argument("--system", help="identity | oracle | dsp-mixture | separate-then-dsp (with --separator-*)")
    p.add_argument("--separator-model", metavar="NAME", help="the cascade's separator (registry name)")
    p.add_argument("--separator-checkpoint", metavar="PATH", help="the cascade separator's checkpoint")
    p.add_argument("--testset", required=True, metavar="DIR", help="test-set folder (manifest.json)")
    p.add_argument("--root", help="dataset root (default: the manifest's)")
    p.add_argument("--out", required=True, metavar="DIR", help="writes DIR/<name>/properties.json")
    p.add_argument("--name", help="folder name (default: the system's name)")
    p.add_argument("--label", help="row label (default: the system's name)")
    p.add_argument("--seed", type=int, default=None, help="training seed of the run (default: the checkpoint's)")
    p.add_argument("--k", type=positive_int, default=20,
                   help="applications of the Figure 5.7 drift task, apply highpass to drums (default 20)")
    p.add_argument("--k-others", type=positive_int, default=None,
                   help="applications of the other drift tasks (default: --k)")
    p.add_argument("--segment-seconds", type=float, default=4.0,
                   help="seconds around the middle of each test track (default 4)")
    p.add_argument("--tracks", type=positive_int, default=None, help="only the first N test tracks")
    p.add_argument("--device", default="cpu", help="torch device of a model")
    p.add_argument("--batch-size", type=positive_int, default=8, help="model inference batch size")
    p.set_defaults(func=_properties)
