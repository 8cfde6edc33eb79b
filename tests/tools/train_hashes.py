"""Print ``<model> <hash>`` for three embedded training steps of each model named on the command line (the numerics
probe's ``_train_steps``: seeded batch, fused Adam, BatchNorm and dropout in training mode; pinned numerics, one
thread). A name ending in ``+onednn`` runs that model with its ``GemmConv1d`` layers on ``nn.Conv1d.forward``
(oneDNN), the code path the waveform models had before; it must come last, because the switch is not undone.

Used by tests/test_emulated_cpu.py, natively and under an emulated processor."""

import hashlib
import sys

from benchmark.base import numerics

numerics.pin()

import torch  # noqa: E402

from benchmark.scoring import numerics_probe  # noqa: E402


def sha(t: torch.Tensor) -> str:
    return hashlib.sha256(t.detach().contiguous().numpy().tobytes()).hexdigest()[:16]


def main(names: list[str]) -> None:
    torch.set_num_threads(1)
    for name in names:
        model = name
        if name.endswith("+onednn"):
            from models.survey import common

            common.GemmConv1d.forward = torch.nn.Conv1d.forward
            model = name[: -len("+onednn")]
        print(name, numerics_probe._train_steps(model, sha), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
