"""``amss-bench train``: train one registry model for one seed (``models.training``; docs/training.md).

Examples::

    amss-bench train --model u7-dcse --stem drums --seed 2020 --out runs/train/u7-dcse/drums/seed2020
    amss-bench train --model amss-net --profile paper --root /data/musdb18hq --source musdb18hq --resume
    torchrun --nproc-per-node 4 -m benchmark.cli train --model amss-net --profile paper ...   # DDP

Defaults come from ``--params`` (``params.yaml`` when present: ``profile``, ``seed``, ``data.root``,
``data.source``, the ``train.<profile>.<all|family>`` recipe overrides and, for AMSS models, the GloVe file
``glove.<profile>``); flags win over the file. The paper profile refuses an AMSS run without its GloVe file unless
``glove.paper`` is ``none`` (docs/training.md, docs/fidelity.md §2).
The model may be given as ``NAME/STEM`` (e.g. ``u7-dcse/drums``) instead of ``--model NAME --stem STEM``.
"""

from __future__ import annotations

import logging
from pathlib import Path

from benchmark.cli import fail

log = logging.getLogger("amss_bench.train")


def default_out(model: str, stem: str | None, profile: str, seed: int) -> Path:
    parts = ["runs", "train", profile, model] + ([stem] if stem else []) + [f"seed{seed}"]
    return Path(*parts)


def split_model(spec: str, stem: str | None) -> tuple[str, str | None]:
    name, sep, tail = spec.partition("/")
    if sep:
        if stem is not None and stem != tail:
            raise ValueError(f"--model {spec!r} names stem {tail!r} but --stem is {stem!r}")
        return name, tail
    return spec, stem


def _replace_option(argv: list[str], option: str, value: str | None) -> list[str]:
    """``argv`` without ``option`` (``--opt V`` or ``--opt=V``), then ``option value`` appended (unless None)."""
    out, skip = [], False
    for tok in argv:
        if skip:
            skip = False
            continue
        if tok == option:
            skip = True
            continue
        if tok.startswith(option + "="):
            continue
        out.append(tok)
    return out + ([option, value] if value is not None else [])


def _train_stems(args, stems: list[str]) -> int:
    """Several stems of a dedicated model: one ``amss-bench train`` process per stem, ``--jobs`` at a time (one
    thread each by the embedded recipe, so two jobs use both cores of a 2-core machine; results are those of the
    same runs one after the other, bit for bit). Each stem's output is written atomically to its own folder."""
    import subprocess
    import sys
    from concurrent.futures import ThreadPoolExecutor

    if args.out is not None and "{stem}" not in args.out:
        return fail(f"--out {args.out!r}: with several stems the output folder must contain {{stem}}")
    base = _replace_option(list(args.argv), "--jobs", None)

    def one(stem: str):
        argv = _replace_option(base, "--stem", stem)
        if args.out is not None:
            argv = _replace_option(argv, "--out", args.out.format(stem=stem))
        res = subprocess.run([sys.executable, "-m", "benchmark.cli", *argv], capture_output=True, text=True)
        return stem, res

    failed = []
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        for stem, res in pool.map(one, stems):
            sys.stderr.write(res.stderr)
            sys.stdout.write(res.stdout)
            if res.returncode != 0:
                failed.append(f"{stem} (exit {res.returncode})")
    if failed:
        return fail(f"training {args.model} failed for stem(s) {', '.join(failed)} (messages above); the other "
                    f"stems' outputs are complete")
    return 0


def _handler(args) -> int:
    from benchmark.base import params as bparams
    from benchmark.base.constants import SOURCES
    from benchmark.data.dataset import DatasetError

    if args.batch_size is not None and args.batch_size < 1:
        return fail(f"--batch-size must be >= 1, got {args.batch_size}")
    if args.stem is not None and "," in args.stem:
        stems = [x.strip() for x in args.stem.split(",") if x.strip()]
        bad = [x for x in stems if x not in SOURCES]
        if bad or len(set(stems)) != len(stems):
            return fail(f"--stem {args.stem!r}: expected distinct sources from {', '.join(SOURCES)}")
        return _train_stems(args, stems)
    if args.jobs != 1:
        return fail("--jobs needs several stems (--stem vocals,drums,bass,other)")
    try:
        model, stem = split_model(args.model, args.stem)
        if stem is not None and stem not in SOURCES:
            raise ValueError(f"--stem must be one of {', '.join(SOURCES)}, got {stem!r}")
        from models import registry

        try:
            info = registry.get_info(model)
        except KeyError as err:
            raise ValueError(str(err).strip("'\"")) from None
        if stem is None and info.family == "dedicated":
            stem = info.source  # dedicated runs always name their stem (output folder, messages)
        params = None
        path = Path(args.params) if args.params else Path("params.yaml")
        if args.params or path.is_file():
            params = bparams.load(path)
        profile = args.profile or (params.get("profile") if params else None) or "embedded"
        seed = args.seed if args.seed is not None else int(params.get("seed", 2020) if params else 2020)
        root = args.root or (bparams.get(params, "data.root", str) if params else None)
        source = args.source or (bparams.get(params, "data.source", str) if params else None) or "synthetic"
        if root is None:
            raise ValueError("no dataset root: pass --root DATA_ROOT (and --source) or a --params file with data.root")
        recipe = {}
        if args.max_steps is not None:
            recipe["max_steps"] = args.max_steps
        if args.max_epochs is not None:
            recipe["max_epochs"] = args.max_epochs
        if args.workers is not None:
            recipe["num_workers"] = args.workers
        if args.precision is not None:
            recipe["precision"] = args.precision
        if args.compile:
            recipe["compile"] = True
        if args.channels_last:
            recipe["channels_last"] = True
        if args.threads is not None:
            recipe["threads"] = args.threads
        if args.batch_size is not None:
            recipe["batch_size"] = args.batch_size
        for item in args.set or []:
            key, eq, value = item.partition("=")
            if not eq:
                raise ValueError(f"--set expects KEY=VALUE, got {item!r}")
            import yaml

            recipe[key.strip()] = yaml.safe_load(value)
        model_overrides = {}
        for item in args.model_set or []:
            key, eq, value = item.partition("=")
            if not eq:
                raise ValueError(f"--model-set expects KEY=VALUE, got {item!r}")
            import yaml

            model_overrides[key.strip()] = yaml.safe_load(value)
        out = Path(args.out) if args.out else default_out(model, stem, profile, seed)
    except (bparams.ParamsError, ValueError) as err:
        return fail(str(err))

    from models.training import TrainingError
    from models import recipes
    from models.training.trainer import Trainer

    trainer = None
    try:
        trainer = Trainer(model, out, root=root, source=source, profile=profile, seed=seed, stem=stem, params=params,
                          recipe=recipe, model_overrides=model_overrides, device=args.device, progress=args.progress)
        result = trainer.fit(resume=args.resume)
    except KeyboardInterrupt:
        print(f"amss-bench: interrupted; continue with the same command plus --resume (state in {out}/checkpoints)",
              file=__import__("sys").stderr)
        return 130
    except recipes.RecipeError as err:  # name the params file actually read, not the default name
        msg = str(err)
        if params is not None and msg.startswith("params.yaml:"):
            msg = f"{path}:" + msg[len("params.yaml:"):]
        return fail(msg)
    except (TrainingError, DatasetError, KeyError, ValueError) as err:
        return fail(str(err).strip("'\""))
    finally:
        if trainer is not None:
            trainer.close()
    if trainer.ctx.is_main:
        verdict = ""
        if result.best_l1 is not None:
            verdict = (f"; validation L1 {result.best_l1:.5f} vs identity {result.identity_l1:.5f}, silence "
                       f"{result.silence_l1:.5f} ({'beats' if result.beats_identity else 'does NOT beat'} identity)")
        print(f"trained {model}{'/' + stem if stem else ''} ({profile}, seed {seed}): {result.steps} steps in "
              f"{result.seconds:.1f} s{verdict}; wrote {out / 'model.pt'}")
    return 0


def register(sub) -> None:
    from benchmark.data.dataset import DATA_SOURCES

    p = sub.add_parser("train", help="train one model for one seed (resumable; DDP under torchrun)",
                       description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, help="registry name, e.g. u7-dcse, cunet-gpocm-lasaft, amss-net "
                   "(dedicated models: NAME/STEM or --stem)")
    p.add_argument("--stem", default=None, help="dedicated models: the source to separate (default vocals); several "
                   "comma-separated stems train one process per stem (--out must then contain {stem})")
    p.add_argument("--jobs", type=int, default=1, help="with several stems: how many train at once (default 1)")
    p.add_argument("--profile", choices=("embedded", "paper"), default=None,
                   help="model configuration and recipe (default: params.yaml 'profile', else embedded)")
    p.add_argument("--seed", type=int, default=None, help="default: params.yaml 'seed', else 2020")
    p.add_argument("--out", default=None, help="output folder (default runs/train/PROFILE/MODEL[/STEM]/seedSEED)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoints/last.pt if it exists")
    p.add_argument("--root", default=None, help="dataset root (default: params.yaml data.root)")
    p.add_argument("--source", default=None, choices=DATA_SOURCES, help="dataset kind (default: params.yaml)")
    p.add_argument("--params", default=None, help="params file (default: ./params.yaml when present)")
    p.add_argument("--max-steps", type=int, default=None, help="cap on optimiser steps")
    p.add_argument("--max-epochs", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=None, help="effective (global) batch")
    p.add_argument("--workers", type=int, default=None, help="DataLoader workers per process")
    p.add_argument("--device", default=None, help="cpu | cuda | cuda:N (default: cuda if available)")
    p.add_argument("--precision", choices=("auto", "fp32", "bf16", "fp16"), default=None)
    p.add_argument("--compile", action="store_true", help="torch.compile the network")
    p.add_argument("--channels-last", action="store_true", help="channels-last memory format")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (recipe key 'threads')")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="any recipe key (repeatable), e.g. lr=5e-4")
    p.add_argument("--model-set", action="append", metavar="KEY=VALUE",
                   help="model config override (repeatable; structural keys label the model @custom)")
    p.add_argument("--progress", action="store_true", default=None, help="force the progress bar")
    p.set_defaults(func=_handler)
