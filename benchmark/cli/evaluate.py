"""amss-bench evaluate: a model checkpoint, a training-free baseline or a folder of estimates → result JSONs.

    amss-bench evaluate --model NAME --checkpoint PATH --tasks sdr|mfcc|all --testset DIR --out DIR
    amss-bench evaluate --system identity|oracle|dsp-mixture|ica|duet|adress|projet --testset DIR --out DIR
    amss-bench evaluate --system separate-then-dsp --separator-model NAME --separator-checkpoint PATH ...
    amss-bench evaluate --estimates DIR --testset DIR --out DIR

Also usable without the top-level CLI: ``python -m benchmark.cli.evaluate ...``.
"""

from __future__ import annotations

import argparse
import logging
import sys

from benchmark.cli import fail

log = logging.getLogger("amss_bench.evaluate")
CASCADE = "separate-then-dsp"  # baselines.cascade.NAME (not imported here: it pulls in the DSP chain)
SPATIAL = ("ica", "duet", "adress", "projet")  # baselines.spatial.METHODS: parameters from params.yaml baselines.<m>


def _build_system(args):
    from baselines import get_system

    common = {"label": args.label, "seed": args.seed}
    if args.model is not None or args.checkpoint is not None:
        if args.checkpoint is None:
            raise ValueError("--model needs --checkpoint PATH (the trained weights to evaluate)")
        from baselines.model import ModelSystem
        from baselines.wiener import parse_iterations
        from benchmark.scoring.evaluate import rank_device

        ckpts = [args.checkpoint] if isinstance(args.checkpoint, str) else list(args.checkpoint)
        kw = dict(device=rank_device(args.device), batch_size=args.batch_size, mode=args.inference_mode,
                  autocast=args.autocast, pcm16=args.pcm16)
        wiener = getattr(args, "wiener", "reference")  # absent from a Namespace built without the flag
        if len(ckpts) == 1:
            system = ModelSystem(args.model, ckpts[0], name=args.name, **kw, **common)
            if wiener not in ("reference", "off") and parse_iterations(wiener, args.model) > 0:
                raise ValueError(f"--wiener {wiener}: the Wiener filter needs the four checkpoints of a dedicated "
                                 "model (vocals, drums, bass, other), got one")
            return system
        from baselines.composite import CompositeSystem

        members = [ModelSystem(args.model, c, seed=args.seed, **kw) for c in ckpts]
        model_name = args.model or getattr(getattr(members[0].model, "info", None), "name", None)
        iterations = parse_iterations(wiener, model_name)
        if iterations > 0:
            from baselines.wiener import WienerSystem

            log.info("%s: multichannel Wiener filter over the %d checkpoints, %d EM iteration(s) (--wiener %s)",
                     model_name, len(ckpts), iterations, wiener)
            return WienerSystem(members, iterations, name=args.name, **common)
        return CompositeSystem(members, args.name, **common)
    if getattr(args, "wiener", "reference") not in ("reference", "off"):
        raise ValueError("--wiener goes with --model/--checkpoint (the four checkpoints of a dedicated model)")
    sep_model = getattr(args, "separator_model", None)  # absent from a Namespace built without these flags
    sep_ckpt = getattr(args, "separator_checkpoint", None)
    if args.system == CASCADE:
        from baselines.cascade import from_checkpoint
        from benchmark.scoring.evaluate import rank_device

        if sep_model is None or sep_ckpt is None:
            raise ValueError(f"--system {CASCADE} needs --separator-model NAME and --separator-checkpoint PATH (a "
                             "trained model answering the four separation queries)")
        return from_checkpoint(sep_model, sep_ckpt, name=args.name, label=args.label,
                               seed=args.seed, device=rank_device(args.device), batch_size=args.batch_size,
                               mode=args.inference_mode, autocast=args.autocast, pcm16=args.pcm16)
    if sep_model is not None or sep_ckpt is not None:
        raise ValueError(f"--separator-model/--separator-checkpoint go with --system {CASCADE} only")
    if args.system is not None:
        extra = {"name": args.name} if args.name else {}
        if args.system in SPATIAL:
            extra["params"] = _spatial_params(args.system, getattr(args, "params", "params.yaml"))
        return get_system(args.system, **extra, **common)
    from baselines.estimates import EstimatesSystem

    return EstimatesSystem(args.estimates, name=args.name, **common)


def _spatial_params(method: str, path: str) -> dict | None:
    """``baselines.<method>`` of the parameters file (None without the file or the section: the defaults)."""
    from pathlib import Path

    from benchmark.base.params import load

    if not Path(path).is_file():
        log.warning("%s: no parameters file %s, the defaults of baselines.spatial are used", method, path)
        return None
    section = (load(path).get("baselines") or {}).get(method)
    if section is not None and not isinstance(section, dict):
        raise ValueError(f"{path}: baselines.{method} must be a mapping of parameters, got {section!r}")
    return section


def _tasks_for(system, spec: str):
    """The tasks to evaluate: ``spec`` (--tasks) less the tasks ``system`` declares unsupported
    (``unsupported_tasks()``, the cascade's dereverb tasks) when they come from a group (all, mfcc, ...) — dropped
    visibly: logged, and recorded in the results and summary.json. Named explicitly, they are an error."""
    from benchmark.scoring.evaluate import select_tasks
    from benchmark.task.tasks import TASK_GROUPS

    selected = select_tasks(spec)
    unsupported = set(getattr(system, "unsupported_tasks", lambda: [])())
    named = {s.strip() for s in spec.split(",") if s.strip() and s.strip() not in TASK_GROUPS}
    asked = sorted(unsupported & named)
    if asked:
        raise ValueError(f"system {system.name!r} does not support task(s) {', '.join(asked)} (--tasks {spec})")
    dropped = [t.id for t in selected if t.id in unsupported]
    if dropped:
        log.warning("%s: not supported, not evaluated: %s (recorded as 'not supported' in the results and "
                    "summary.json; never averaged over)", system.name, ", ".join(dropped))
        selected = tuple(t for t in selected if t.id not in unsupported)
    if not selected:
        raise ValueError(f"system {system.name!r}: none of the tasks of --tasks {spec} is supported")
    return selected


def _evaluate(args) -> int:
    from baselines.base import SystemConfigError
    from benchmark.scoring.aggregate import AggregationError
    from benchmark.base.audio import AudioFormatError
    from benchmark.scoring.evaluate import EvaluationError, evaluate
    from benchmark.scoring.results import ResultValidationError
    from benchmark.task.testset import TestSet, TestSetIntegrityError

    sources = [x for x in (args.system, args.estimates) if x is not None] + (
        ["model"] if (args.model is not None or args.checkpoint is not None) else [])
    if len(sources) != 1:
        return fail("give exactly one of --model/--checkpoint, --system or --estimates")
    if args.workers is not None and args.workers < 1:
        return fail("--workers must be >= 1")
    if args.threads < 1:
        return fail("--threads must be >= 1")
    if args.batch_size < 1:
        return fail(f"--batch-size must be >= 1, got {args.batch_size}")
    try:
        testset = TestSet.open(args.testset, args.root)
        system = _build_system(args)
        tasks = _tasks_for(system, args.tasks)
    except (FileNotFoundError, ValueError, KeyError, SystemConfigError) as err:
        return fail(_msg(err))
    try:
        report = evaluate(system, testset, args.out, tasks=tasks, backend=args.backend, device=args.device,
                          workers=args.workers, threads=args.threads, seed=args.seed, progress=not args.no_progress,
                          summary=not args.no_summary, wait_timeout=args.wait_timeout,
                          dedicated_scoring=args.dedicated_scoring, sdr_input=args.sdr_input)
    except (KeyError, ValueError, SystemConfigError, AudioFormatError) as err:
        # bad input: unknown tasks, unsupported tasks, missing/malformed estimate files, inconsistent results
        status = 1 if isinstance(err, (AggregationError, ResultValidationError)) else 2
        return fail(_msg(err), status)
    except (EvaluationError, TestSetIntegrityError) as err:
        cause = err.__cause__
        if isinstance(cause, (SystemConfigError, AudioFormatError)):
            return fail(_msg(err), 2)
        return fail(_msg(err), 1)
    print(report.line())
    return 0


def _msg(err: BaseException) -> str:
    return err.args[0] if isinstance(err, KeyError) and err.args else str(err)


def add_arguments(p: argparse.ArgumentParser) -> None:
    from benchmark.scoring.evaluate import BACKENDS, SCORINGS, SDR_INPUTS

    what = p.add_argument_group("what to evaluate (exactly one)")
    what.add_argument("--model", help="registry name of the trained model (checked against the checkpoint)")
    what.add_argument("--checkpoint", nargs="+", metavar="PATH",
                      help="checkpoint file (models.checkpoint format); several files = one system whose tasks go "
                           "to the first checkpoint answering them (e.g. the 4 dedicated separators of one model)")
    what.add_argument("--wiener", default="reference", metavar="reference|off|N",
                      help="separation step over the four checkpoints of a dedicated magnitude model: N EM iterations "
                           "of the multichannel Wiener filter (norbert, as openunmix's Separator; baselines/wiener.py), "
                           "off, or reference = the model's reference post-processing (Open-Unmix: 1; others: off; "
                           "default)")
    what.add_argument("--system", help="baseline: identity | oracle | dsp-mixture | ica | duet | adress | projet "
                      "(training-free; the spatial ones read params.yaml baselines.<name>, see --params) | "
                      f"{CASCADE} (a trained separator's 4 stems, the edit applied to them; with --separator-*)")
    casc = p.add_argument_group(f"--system {CASCADE} (protocol §6.5; the 3 dereverb tasks are not supported)")
    casc.add_argument("--separator-model", metavar="NAME",
                      help="registry name of the separator: any model answering the 4 separation queries "
                           "(a conditioned CUNet/LaSAFT model or amss-net-separate)")
    casc.add_argument("--separator-checkpoint", metavar="PATH", help="the separator's checkpoint file")
    what.add_argument("--estimates", metavar="DIR",
                      help="folder of estimates: DIR/<task_id>/<track>.wav (44.1 kHz stereo)")
    p.add_argument("--params", default="params.yaml", metavar="PATH",
                   help="parameters file of the spatial systems (section baselines.<name>; default params.yaml)")
    p.add_argument("--testset", required=True, metavar="DIR", help="test-set folder (manifest.json)")
    p.add_argument("--root", help="dataset root (default: the root recorded in the manifest)")
    p.add_argument("--out", required=True, metavar="DIR", help="results folder: DIR/<system>/<task_id>/<track>.json")
    p.add_argument("--tasks", default="all",
                   help="sdr | mfcc | all, or comma-separated task ids/groups (default: all)")
    p.add_argument("--backend", default="fast", choices=BACKENDS,
                   help="BSS-Eval back-end of the SDR tasks (museval = official, slow; default: fast)")
    p.add_argument("--dedicated-scoring", default="pair", choices=SCORINGS,
                   help="SDR scoring of a dedicated-family model (u7-*, u17-*, u9l-*): pair = each task on its own "
                        "against {target, accompaniment}, as the ISMIR 2020 code did (default); joint = one 4-target "
                        "BSS-Eval call, as museval scores a 4-source system (docs/fidelity.md §1). Other systems are "
                        "always joint")
    p.add_argument("--sdr-input", default="auto", choices=SDR_INPUTS,
                   help="signal given to the system on the SDR tasks: auto = linear_mixture (stem sum) for the "
                        "dedicated and conditioned families, as their reference code, mixture.wav otherwise")
    p.add_argument("--device", default="cpu", help="torch device of the model and the fast back-end (cpu, cuda, "
                   "cuda:1; 'cuda' under torchrun means cuda:LOCAL_RANK)")
    p.add_argument("--workers", type=int, default=None,
                   help="worker processes over tracks (default: min(CPUs, available RAM / per-track need))")
    p.add_argument("--threads", type=int, default=1,
                   help="BLAS/OpenMP/torch threads per worker (default 1; results are bit-identical for any "
                        "--workers at a fixed --threads)")
    p.add_argument("--name", help="results folder name of this run (default: the system / model instance name, "
                   "+ '-seed<N>' for models with a seed)")
    p.add_argument("--label", help="table row this run belongs to; runs with one label are averaged "
                   "(default: the system / model name)")
    p.add_argument("--seed", type=int, default=None, help="training seed of this run (default: from the checkpoint)")
    p.add_argument("--batch-size", type=int, default=8, help="model inference batch size (windows; 8 is 1.3x faster than 4 on CPU)")
    p.add_argument("--inference-mode", choices=("amss", "lasaft", "overlap"), default=None,
                   help="chunking/stitching mode (default: the model's)")
    p.add_argument("--autocast", choices=("bf16", "fp16"), default=None, help="mixed-precision inference")
    p.add_argument("--pcm16", action="store_true", help="16-bit round-trip of model outputs (LaSAFT reference)")
    p.add_argument("--no-summary", action="store_true", help="do not write <out>/<system>/summary.json")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--wait-timeout", type=float, default=24 * 3600,
                   help="rank 0 under torchrun: seconds to wait for the other ranks' results (default 24 h)")


def register(sub) -> None:
    p = sub.add_parser("evaluate", help="evaluate a model, a baseline or a folder of estimates on the test set",
                       description=__doc__.splitlines()[0])
    add_arguments(p)
    p.set_defaults(func=_evaluate)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="amss-bench evaluate", description=__doc__.splitlines()[0])
    parser.add_argument("-q", "--quiet", action="store_true")
    add_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    return _evaluate(args)


if __name__ == "__main__":
    sys.exit(main())
