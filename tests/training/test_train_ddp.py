"""DistributedDataParallel on CPU (gloo, 2 processes): one DDP step on two half-batches equals one single-process
step on the full batch (SyncBatchNorm makes the batch statistics those of the full batch).

Both checks share one ``torch.multiprocessing.spawn`` of two ranks (process start-up dominates the cost)."""

from __future__ import annotations

import os
import socket

import pytest
import torch
import torch.multiprocessing as mp

# a tiny U7 with the TDF floor this comparison was calibrated on (4 units; the embedded default is 16)
TINY = dict(n_fft=256, hop_length=128, num_frame=32, channels=4, tfc_layers=2, min_units=4)
RECIPE = dict(segment=3968, batch_size=4, max_steps=1, log_every_steps=1, valid_at_end=False, num_workers=0,
              optimizer="sgd", lr=0.5)
NAME = "u7-dcse"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, root: str, out: str, x: torch.Tensor) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    from models.training import distributed as tdist
    from models.training import trainer

    t = trainer.Trainer(NAME, f"{out}/ddp", root=root, profile="embedded", seed=5, recipe=RECIPE,
                        model_overrides=TINY, device="cpu", progress=False)
    # 1) the CPU SyncBatchNorm on its own: half of x per rank
    bn = tdist.convert_sync_batchnorm(torch.nn.Sequential(torch.nn.BatchNorm2d(3)), torch.device("cpu"))
    half = x.chunk(world)[rank].clone().requires_grad_(True)
    y = bn(half)
    (y**3).sum().backward()  # a non-trivial upstream gradient
    torch.save((y.detach(), half.grad, bn[0].running_mean, bn[0].running_var), f"{out}/bn{rank}.pt")
    # 2) one DDP training step (SyncBN-converted model, each rank half of the effective batch)
    try:
        t.fit()
    finally:
        t.close()


@pytest.fixture(scope="module")
def ddp_run(tiny_root, tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp")
    x = torch.randn(4, 3, 5, 6) * 2 + 1
    mp.spawn(_worker, args=(2, _free_port(), str(tiny_root), str(out), x), nprocs=2, join=True)
    return out, x


def test_cpu_sync_batchnorm_matches_full_batch(ddp_run):
    out, x = ddp_run
    got = [torch.load(out / f"bn{r}.pt") for r in range(2)]
    ref = torch.nn.BatchNorm2d(3)
    xr = x.clone().requires_grad_(True)
    yr = ref(xr)
    (yr**3).sum().backward()
    torch.testing.assert_close(torch.cat([g[0] for g in got]), yr.detach(), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(torch.cat([g[1] for g in got]), xr.grad, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(got[0][2], ref.running_mean)
    torch.testing.assert_close(got[0][3], ref.running_var)


def test_ddp_step_equals_single_process_full_batch(ddp_run, tiny_root):
    from models import registry
    from models.training import train

    out, _ = ddp_run
    train(NAME, out / "single", root=tiny_root, profile="embedded", seed=5, recipe=RECIPE, model_overrides=TINY,
          device="cpu", progress=False)
    a = torch.load(out / "ddp" / "checkpoints" / "last.pt", weights_only=False)
    b = torch.load(out / "single" / "checkpoints" / "last.pt", weights_only=False)
    assert a["world_size"] == 2 and b["world_size"] == 1 and len(a["rng"]) == 2
    for k, v in b["model"].items():
        torch.testing.assert_close(a["model"][k].float(), v.float(), rtol=1e-4, atol=1e-5, msg=k)
    # the step moved the weights, so the comparison is not vacuous (without SyncBN the difference is ~3e-2)
    fresh = registry.create(NAME, "embedded", seed=5, **TINY).state_dict()
    assert any(not torch.equal(fresh[k], b["model"][k]) for k in fresh if fresh[k].is_floating_point())
