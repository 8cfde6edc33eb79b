"""Write a leaderboard estimates folder from an `amss-bench testset export` folder, with any System-protocol object.

    amss-bench testset export --out inputs/
    python docs/examples/make_estimates.py inputs/ estimates/ --system dsp-mixture   # or identity, or module:factory
    amss-bench leaderboard submit --estimates estimates/ --meta submission.yaml

The example systems here are the suite's own training-free baselines (identity, dsp-mixture): use them to try the
route end to end; their rows will equal the baselines' rows of the leaderboard. A real submission replaces
``--system`` with its own model (or writes the files with any other tool: the layout is ``<task_id>/<track>.wav``,
44.1 kHz stereo WAV, exactly the input's length; 32-bit float recommended).
"""

from __future__ import annotations

import argparse
import importlib
import json
from pathlib import Path

import numpy as np
import soundfile as sf


def load_system(spec: str):
    if ":" in spec:
        module, _, attr = spec.partition(":")
        return getattr(importlib.import_module(module), attr)()
    from baselines import get_system

    return get_system(spec)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("inputs", type=Path, help="the folder of `amss-bench testset export`")
    ap.add_argument("out", type=Path, help="estimates folder to write")
    ap.add_argument("--system", default="dsp-mixture", help="identity | dsp-mixture | module:factory")
    args = ap.parse_args(argv)
    from benchmark.task import dsp
    from benchmark.task.tasks import get_task

    queries = json.loads((args.inputs / "queries.json").read_text())
    info = json.loads((args.inputs / "testset.json").read_text())
    system = load_system(args.system)
    for tid in queries:
        task = get_task(tid)
        for track in info["tracks"]:
            x, sr = sf.read(str(args.inputs / tid / f"{track}.wav"), dtype="float32", always_2d=True)
            pair = dsp.Pair(x, None, task.query)  # no target: a submitter never has it
            est = np.asarray(system.estimate(task, pair, track=track), dtype=np.float32)
            dest = args.out / tid / f"{track}.wav"
            dest.parent.mkdir(parents=True, exist_ok=True)
            sf.write(str(dest), est, sr, subtype="FLOAT", format="WAV")
    print(f"wrote {len(queries) * len(info['tracks'])} estimates to {args.out}; manifest_hash for submission.yaml: "
          f"{info['manifest_hash']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
