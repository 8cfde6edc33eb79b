"""The trainer: one model × one seed, resumable, deterministic on CPU, DDP-capable (models.md §4).

Outputs under ``out`` (rank 0 writes; every file atomically):

* ``checkpoints/last.pt`` — full training state (model, optimiser, scheduler, grad scaler, step, epoch, the RNG
  states of every rank, best/top-k bookkeeping, early-stopping counter). ``resume=True`` continues from it with the
  same step count; on CPU the resumed run ends with bit-identical weights to an uninterrupted one.
* ``checkpoints/top/step-XXXXXXXX.pt`` — the ``keep_top_k`` best weights by validation L1.
* ``metrics/train.csv`` (step, epoch, loss, lr) and ``metrics/valid.csv`` (epoch, step, l1, identity_l1, silence_l1,
  lr) — drawable with ``dvc plots``; rows after the resumed checkpoint are dropped on resume.
* ``model.pt`` + ``config.json`` — the selected weights (best validation L1, else the last step) through
  ``models.checkpoint.save``; ``summary.json`` — the run's numbers (a DVC metrics file).
* ``timing.json`` — wall time and throughput (total seconds, samples/s, elapsed time at every logged step); not a DVC
  output, rewritten with every ``last.pt``.

Byte-reproducible outputs: ``model.pt``, ``config.json``, ``summary.json`` and ``metrics/*.csv`` hold no wall time,
date, host name or output path, so a retrain that ends with bit-identical weights rewrites them byte for byte (their
hashes are in ``dvc.lock``). Timings go to ``timing.json`` and the log only (:data:`VOLATILE_RESULT_FIELDS`).

Loss: MSE between ``model(input_wave, cond)`` and ``model.spec(target_wave)`` (spectrogram MSE for every family; for
a waveform model, ``representation == "wave"``, ``spec`` is the identity and the loss a waveform MSE).
Validation: waveform L1 on the fixed chunks of the valid split (``data.ValidationSet``), with the identity and silence
baselines on the same entries.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import math
import os
import random
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from benchmark.base.audio import atomic_write, write_json
from benchmark.base.params import ParamsError

from . import data as tdata
from . import distributed, glove
from models import recipes

log = logging.getLogger("amss_bench.training")

STATE_FORMAT = "amss-bench-train-state/1"
TRAIN_FIELDS = ("step", "epoch", "loss", "lr")
VALID_FIELDS = ("epoch", "step", "l1", "identity_l1", "silence_l1", "lr")
#: Wall time and throughput of a run (not a DVC output: the only file of a run that differs between two retrains).
TIMING_FILE = "timing.json"
TIMING_FORMAT = "amss-bench-train-timing/1"
#: ``TrainResult`` fields kept out of ``summary.json`` and the ``model.pt``/``config.json`` metadata: the wall-clock
#: numbers (in ``timing.json``) and the output folder (a path that depends on where the repository is cloned).
VOLATILE_RESULT_FIELDS = ("out", "seconds", "samples_per_s")
#: Recipe keys that may change between an interrupted run and its resumption.
RESUMABLE_KEYS = frozenset({"threads", "max_epochs", "max_steps", "num_workers", "log_every_steps", "checkpoint_every_steps",
                            "valid_at_end", "compile", "early_stop_patience", "min_epochs", "keep_top_k", "preload",
                            "valid_batch", "valid_cache"})


class TrainingError(RuntimeError):
    """A configuration or state problem the user can fix (the message says how)."""


@dataclass
class TrainResult:
    out: str
    model: str
    profile: str
    seed: int
    steps: int
    epochs: float
    seconds: float
    best_l1: float | None
    best_step: int | None
    identity_l1: float | None
    silence_l1: float | None
    last_l1: float | None
    stopped_early: bool
    samples_per_s: float
    selected: str
    beats_identity: bool | None = None
    beats_silence: bool | None = None
    extra: dict = field(default_factory=dict)

    def record(self) -> dict:
        """The result as written to ``summary.json`` and the checkpoint metadata: everything but
        :data:`VOLATILE_RESULT_FIELDS` (identical for two runs with identical weights)."""
        return {k: v for k, v in asdict(self).items() if k not in VOLATILE_RESULT_FIELDS}


# --------------------------------------------------------------------------------------------------------------
# helpers


def rng_state(device: torch.device) -> dict:
    state = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _numpy_rng_globals() -> list:
    """What ``np.random.get_state()`` pickles (an ndarray of uint32 keys) and the ``TorchVersion`` string: the only
    non-tensor objects of a training state, allowed by name for ``torch.load(weights_only=True)``."""
    try:
        from numpy._core.multiarray import _reconstruct
    except ImportError:  # pragma: no cover - NumPy < 2
        from numpy.core.multiarray import _reconstruct
    from torch.torch_version import TorchVersion  # a str subclass: ``torch.__version__`` of states written before

    return [_reconstruct, np.ndarray, np.dtype, type(np.dtype(np.uint32)), TorchVersion]


def load_weights_only(path) -> dict:
    """A training state or a best-checkpoint file, loaded with ``weights_only=True`` like every other checkpoint
    (tensors, plain containers and the NumPy RNG state only; nothing in the file is executed)."""
    with torch.serialization.safe_globals(_numpy_rng_globals()):
        return torch.load(path, map_location="cpu", weights_only=True)


def set_rng_state(state: dict, device: torch.device) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


def set_deterministic(device: torch.device, enabled: bool = True) -> None:
    """CPU kernels are deterministic for a fixed thread count; on CUDA switch cuDNN/cuBLAS to deterministic modes."""
    if device.type == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.backends.cudnn.benchmark = not enabled
        torch.backends.cudnn.deterministic = enabled
        torch.use_deterministic_algorithms(enabled, warn_only=True)


def resolve_precision(precision: str, device: torch.device) -> str:
    if precision == "auto":
        return "fp16" if device.type == "cuda" else "fp32"
    return precision


def save_model_file(model, path: Path, metadata: dict) -> None:
    """Final weights through ``models.checkpoint.save`` when available (fallback: the same layout, documented)."""
    path = Path(path)
    try:
        from models import checkpoint as mc  # written by the models engineer
    except ImportError:
        mc = None
    if mc is not None and hasattr(mc, "save"):
        mc.save(model, path, metadata)
    else:  # pragma: no cover - only until models.checkpoint exists
        payload = {
            "format": "amss-bench-model/1",
            "name": model.info.name if model.info else type(model).__name__,
            "registry_name": model.info.registry_name if model.info else None,
            "profile": model.info.profile if model.info else None,
            "config": model.config,
            "state_dict": model.state_dict(),
            "metadata": metadata,
        }
        with atomic_write(path) as fh:
            torch.save(payload, fh)
    # rewritten with every model.pt: a config.json left by an earlier run in the same folder must not survive
    info = model.info.to_dict() if model.info is not None else {}
    write_json(path.parent / "config.json", {"model": info.get("name"), "registry_name": info.get("registry_name"),
                                             "profile": info.get("profile"), "config": _jsonable(model.config),
                                             "metadata": _jsonable(metadata)})


def _jsonable(obj):
    return json.loads(json.dumps(obj, default=str))


#: recipe keys added after training states were first written, with the behaviour a state without them had: such a
#: state resumes when the new key keeps that behaviour (an embedded run), and is refused otherwise
LEGACY_RECIPE = {"valid_scheme": "suite", "valid_weighting": "entry", "sdr_share": None, "input_stats": False,
                 "source_augmentations": ()}


def _with_legacy_keys(identity: dict) -> dict:
    recipe = dict(identity.get("recipe") or {})
    for key, value in LEGACY_RECIPE.items():
        recipe.setdefault(key, value)
    return {**identity, "recipe": recipe}


def _fingerprint(d: dict) -> str:
    return hashlib.sha256(json.dumps(_jsonable(d), sort_keys=True).encode()).hexdigest()[:16]


class _CSV:
    """Append-only CSV written by rank 0 (flushed per row); ``truncate(step)`` drops rows after a resumed step."""

    def __init__(self, path: Path, fields: tuple[str, ...], enabled: bool):
        self.path, self.fields, self.enabled = Path(path), fields, enabled

    def reset(self) -> None:
        if self.enabled:
            with atomic_write(self.path, "w") as fh:
                csv.writer(fh).writerow(self.fields)

    def truncate(self, step: int) -> None:
        if not self.enabled:
            return
        if not self.path.exists():
            self.reset()
            return
        with open(self.path, newline="") as fh:
            rows = [r for r in csv.DictReader(fh) if int(float(r["step"])) <= step]
        with atomic_write(self.path, "w") as fh:
            w = csv.DictWriter(fh, self.fields, extrasaction="ignore")  # drops columns of older versions
            w.writeheader()
            w.writerows(rows)

    def append(self, row: dict) -> None:
        if not self.enabled:
            return
        with open(self.path, "a", newline="") as fh:
            csv.DictWriter(fh, self.fields).writerow({k: _fmt(row.get(k)) for k in self.fields})


def _fmt(v):
    if isinstance(v, float):
        return f"{v:.8g}"
    return v


# --------------------------------------------------------------------------------------------------------------
# trainer


class Trainer:
    """Train one registry model.

    Args:
        model_name: registry name (``"u7-dcse"``, ``"amss-net"``, …).
        out: output folder.
        root, source: dataset root and kind (``open_dataset``), or ``dataset`` an opened one.
        profile: ``"embedded"`` | ``"paper"`` (model configuration *and* recipe).
        seed: model initialisation, data items and the training RNG.
        stem: dedicated models: the source to separate (default: the registry's, vocals).
        params: a loaded ``params.yaml`` dict (``train.<profile>.<all|family>`` overrides the recipe).
        recipe: recipe keyword overrides (highest precedence).
        model_overrides: ``registry.create`` overrides (tests use tiny widths).
        device: ``"cpu"``, ``"cuda"``, ``None`` (auto; ``cuda:LOCAL_RANK`` under torchrun).
        progress: show a progress bar (default: when stderr is a terminal, rank 0 only).
    """

    def __init__(self, model_name: str, out, *, root=None, source: str = "synthetic", dataset=None,
                 profile: str = "embedded", seed: int = 2020, stem: str | None = None, params: dict | None = None,
                 recipe: dict | None = None, model_overrides: dict | None = None, device=None,
                 progress: bool | None = None):
        from models import registry

        self.model_name = model_name
        self.out = Path(out)
        self.profile = profile
        self.seed = int(seed)
        self.params = params
        self.recipe = recipes.recipe_for(model_name, profile, params, **(recipe or {}))
        self.model_overrides = dict(model_overrides or {})
        info = registry.get_info(model_name)
        if stem is not None:
            if info.family != "dedicated":
                raise TrainingError(f"--stem applies to dedicated models only; {model_name!r} is {info.family}")
            self.model_overrides["source"] = stem
        self.glove_path = None
        if info.family == "amss":  # GloVe word embeddings (params.yaml glove.<profile>; models/training/glove.py)
            try:
                self.glove_path = glove.resolve(profile, params, self.model_overrides)
            except (glove.GloveError, ParamsError) as err:
                raise TrainingError(str(err)) from None
            if self.glove_path is not None:
                self.model_overrides["glove_path"] = self.glove_path
            else:  # an explicit opt-out override ("none") means the registry default: no file
                self.model_overrides.pop("glove_path", None)
        if self.recipe["threads"]:
            torch.set_num_threads(int(self.recipe["threads"]))
        self.ctx = distributed.setup(device)
        self.device = self.ctx.device
        set_deterministic(self.device, bool(self.recipe["deterministic"]))
        self.model = registry.create(model_name, profile, seed=self.seed, **self.model_overrides)
        self.kind = tdata.kind_of(self.model)
        self.progress = (sys.stderr.isatty() if progress is None else progress) and self.ctx.is_main

        if dataset is None:
            if root is None:
                raise TrainingError("a dataset root is needed (--root DATA_ROOT --source synthetic|musdb18hq|musdb18)")
            from benchmark.data.dataset import open_dataset

            dataset = open_dataset(root, source)
        self.dataset = dataset
        r = self.recipe
        self.segment = int(r["segment"] or self.model.chunk_samples)
        self.task_set = self.model.config.get("task_set", "task2") if self.kind == "amss" else None
        self.trainset = tdata.TrainSet(
            dataset, self.kind, segment=self.segment, seed=self.seed, source=self.model.config.get("source"),
            task_set=self.task_set or "task2", peak_mode=r["peak_mode"], epoch_items=r["epoch_items"],
            preload=r["preload"], target_weights=r["target_weights"] if self.kind == "conditioned" else None,
            sdr_share=r["sdr_share"] if self.kind == "amss" else None,
            source_augmentations=r["source_augmentations"],
        )
        if r["input_stats"]:
            self._fit_input_statistics()
        self.global_batch = int(r["batch_size"])
        if self.global_batch % self.ctx.world_size:
            raise TrainingError(f"batch_size {self.global_batch} (effective batch) is not divisible by the "
                                f"{self.ctx.world_size} processes")
        self.steps_per_epoch = max(1, len(self.trainset) // self.global_batch)
        total = int(r["max_epochs"]) * self.steps_per_epoch
        if r["max_steps"]:
            total = min(total, int(r["max_steps"]))
        self.total_steps = total
        ip = self.model.inference_params()
        self.validset = tdata.ValidationSet(
            dataset, self.kind, hop=ip["hop"], num_frame=ip["num_frame"],
            min_trim=ip["min_trim"] if ip["mode"] != "overlap" else self.model.config["lasaft_min_trim"],
            source=self.model.config.get("source"), task_set=self.task_set or "task2",
            n_queries=r["valid_queries"], max_tracks=r["valid_tracks"], seconds=r["valid_seconds"],
            peak_mode=r["peak_mode"], cache=r["valid_cache"], scheme=r["valid_scheme"], weighting=r["valid_weighting"],
        )
        self.precision = resolve_precision(r["precision"], self.device)
        self._baselines: dict | None = None

        self.ckpt_dir = self.out / "checkpoints"
        self.last_path = self.ckpt_dir / "last.pt"
        self.train_csv = _CSV(self.out / "metrics" / "train.csv", TRAIN_FIELDS, self.ctx.is_main)
        self.valid_csv = _CSV(self.out / "metrics" / "valid.csv", VALID_FIELDS, self.ctx.is_main)
        self.timing_path = self.out / TIMING_FILE
        self._timing_log: list[dict] = []  # {step, samples_per_s, elapsed_s} per logged step (timing.json)
        self.identity = {
            "model": model_name, "profile": profile, "seed": self.seed, "model_config": _jsonable(self.model.config),
            "recipe": {k: v for k, v in _jsonable(self.recipe).items() if k not in RESUMABLE_KEYS},
            "segment": self.segment, "kind": self.kind,
        }

    # ------------------------------------------------------------------------------------------ set-up
    def _fit_input_statistics(self) -> None:
        """Recipe key ``input_stats``: the model's input standardisation from the training split's mixtures (the
        sum of each track's stems), before the first step; a checkpoint restores the fitted values on resume."""
        fit = getattr(self.model, "fit_input_statistics", None)
        if fit is None:
            raise TrainingError(f"model {self.model_name!r}: the recipe sets input_stats, but "
                                f"{type(self.model).__name__} has no input statistics to fit (fit_input_statistics)")
        store = self.trainset.store
        stats = fit(store.mixture(i) for i in range(len(store.tracks)))
        log.info("input statistics of %s from %d training tracks (%d frames)", self.model_name, len(store.tracks),
                 stats["frames"])

    def _build(self) -> None:
        r = self.recipe
        model = self.model
        if self.ctx.distributed:
            model = distributed.convert_sync_batchnorm(model, self.device)
            self.model = model
        model.to(self.device)
        if r["channels_last"]:
            model.to(memory_format=torch.channels_last)
        net = model
        if self.ctx.distributed:
            from torch.nn.parallel import DistributedDataParallel as DDP

            net = DDP(model, device_ids=[self.device.index] if self.device.type == "cuda" else None,
                      find_unused_parameters=bool(r["find_unused_parameters"]))
        if r["compile"]:
            net = torch.compile(net)
        self.net = net
        params = [p for p in model.parameters() if p.requires_grad]
        lr, wd = float(r["lr"]), float(r["weight_decay"])
        if r["optimizer"] == "adam":
            # The fused kernel on CPU: its sqrt is the processor's IEEE square root, where the default
            # implementation's goes through MKL's vector math and rounds differently per CPU (models.portable).
            self.optimizer = torch.optim.Adam(params, lr=lr, weight_decay=wd, fused=self.device.type == "cpu")
        elif r["optimizer"] == "rmsprop":
            self.optimizer = torch.optim.RMSprop(params, lr=lr, weight_decay=wd)
        else:
            self.optimizer = torch.optim.SGD(params, lr=lr, weight_decay=wd)
        self.scheduler = None
        self.step_scheduler = None
        if r["schedule"] == "cosine":
            self.step_scheduler = torch.optim.lr_scheduler.LambdaLR(
                self.optimizer, lambda s, n=max(1, self.total_steps): 0.5 * (1.0 + math.cos(math.pi * min(s, n) / n)))
        if r["schedule"] == "step":
            at, factor = math.ceil(float(r["step_at"]) * self.total_steps), float(r["step_factor"])
            self.step_scheduler = torch.optim.lr_scheduler.LambdaLR(
                self.optimizer, lambda s, at=at, factor=factor: 1.0 if s < at else factor)
        if r["schedule"] == "plateau":
            checks = max(1, round(int(r["plateau_patience_epochs"]) / max(1, int(r["valid_every_epochs"] or 1))))
            self.scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
                self.optimizer, mode="min", factor=float(r["plateau_factor"]), patience=checks)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.precision == "fp16")

    def _autocast(self):
        from models.base import autocast_context

        return autocast_context(self.device, None if self.precision == "fp32" else self.precision)

    # ------------------------------------------------------------------------------------------ state
    def _fresh_state(self) -> dict:
        return {"step": 0, "best_l1": None, "best_step": None, "bad_checks": 0, "topk": [], "stopped": False,
                "last_l1": None, "last_valid_step": None, "elapsed_s": 0.0, "samples": 0}

    def _save_last(self, state: dict) -> None:
        rngs = distributed.gather_objects(self.ctx, rng_state(self.device))
        if self.ctx.is_main:
            payload = {
                "format": STATE_FORMAT,
                "identity": self.identity,
                "fingerprint": _fingerprint(self.identity),
                "recipe": _jsonable(self.recipe),
                "world_size": self.ctx.world_size,
                "state": state,
                "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
                "step_scheduler": self.step_scheduler.state_dict() if self.step_scheduler is not None else None,
                "scaler": self.scaler.state_dict(),
                "rng": rngs,
                "torch": str(torch.__version__),
            }
            with atomic_write(self.last_path) as fh:
                torch.save(payload, fh)
            self._write_timing(state)
        distributed.barrier(self.ctx)

    def _write_timing(self, state: dict, finished: bool = False) -> None:
        """``timing.json`` (rank 0): the wall-clock side of the run, kept out of every DVC-tracked file."""
        if not self.ctx.is_main:
            return
        elapsed = float(state["elapsed_s"])
        write_json(self.timing_path, {
            "format": TIMING_FORMAT, "finished": finished, "steps": state["step"], "samples": state["samples"],
            "seconds": round(elapsed, 3), "samples_per_s": round(state["samples"] / max(elapsed, 1e-9), 3),
            "device": str(self.device), "world_size": self.ctx.world_size, "threads": torch.get_num_threads(),
            "log": self._timing_log,
        })

    def _load_timing_log(self, step: int) -> list[dict]:
        """The logged steps up to ``step`` of an interrupted run's ``timing.json`` (empty when it is unreadable)."""
        try:
            doc = json.loads(self.timing_path.read_text())
            return [dict(r) for r in doc["log"] if int(r["step"]) <= step]
        except (OSError, ValueError, KeyError, TypeError):
            return []

    def _load_last(self) -> dict:
        payload = load_weights_only(self.last_path)
        if payload.get("format") != STATE_FORMAT:
            raise TrainingError(f"{self.last_path}: not a training state of this version ({payload.get('format')!r})")
        if payload["fingerprint"] != _fingerprint(self.identity) and \
                _fingerprint(_with_legacy_keys(payload["identity"])) != _fingerprint(self.identity):
            old, new = _with_legacy_keys(payload["identity"]), self.identity
            diff = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
            if "recipe" in diff:
                diff.remove("recipe")
                diff += [f"recipe.{k}" for k in sorted(set(old["recipe"]) | set(new["recipe"]))
                         if old["recipe"].get(k) != new["recipe"].get(k)]
            raise TrainingError(f"{self.last_path}: the checkpoint was made with a different configuration "
                                f"({', '.join(diff)}); resume with the same settings or use a new --out")
        self.model.load_state_dict(payload["model"])
        self.optimizer.load_state_dict(payload["optimizer"])
        if self.scheduler is not None and payload["scheduler"] is not None:
            self.scheduler.load_state_dict(payload["scheduler"])
        if self.step_scheduler is not None and payload.get("step_scheduler") is not None:
            self.step_scheduler.load_state_dict(payload["step_scheduler"])
        self.scaler.load_state_dict(payload["scaler"])
        rngs = payload["rng"]
        if len(rngs) == self.ctx.world_size:
            set_rng_state(rngs[self.ctx.rank], self.device)
        else:
            log.warning("checkpoint written by %d processes, resuming with %d: data items are identical, the "
                        "training RNG (dropout) is re-seeded", len(rngs), self.ctx.world_size)
            seed_everything(tdata.derive_seed(self.seed, self.ctx.rank, payload["state"]["step"]))
        return payload["state"]

    # ------------------------------------------------------------------------------------------ validation
    @torch.no_grad()
    def validate(self) -> dict:
        """Waveform L1 on the validation entries (sharded over ranks) + identity/silence baselines."""
        from models import inference

        vs, model = self.validset, self.model
        hop, nf, trim = vs.hop, vs.num_frame, vs.min_trim
        mine = list(range(self.ctx.rank, len(vs), self.ctx.world_size))
        was_training = model.training
        model.eval()
        total = 0.0
        entries = []
        count = 0
        try:
            with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
                for i in mine:
                    if vs.stitched:  # suite scheme, entry weighting: L1 of the stitched whole track
                        x, y, cond1 = vs.pair(i)
                        est = inference.stitch(self._run_windows(inference.chunk(x, hop, nf, trim), cond1), len(x),
                                               hop, nf, trim)
                        l1 = float(np.mean(np.abs(est - y), dtype=np.float64))
                        total += l1
                        count += 1
                        entries.append({"entry": vs.label(i), "l1": l1,
                                         "identity_l1": float(np.mean(np.abs(x - y), dtype=np.float64)),
                                         "silence_l1": float(np.mean(np.abs(y), dtype=np.float64))})
                        continue
                    xw, yw, cond1 = vs.windows(i)  # L1 per whole window (the references' validation)
                    per_window = tdata.window_l1(self._run_windows(xw, cond1), yw)
                    l1 = float(np.mean(per_window))
                    if vs.weighting == "window":
                        total, count = total + float(np.sum(per_window)), count + len(per_window)
                    else:
                        total, count = total + l1, count + 1
                    entries.append({"entry": vs.label(i), "l1": l1, "windows": len(per_window),
                                    "identity_l1": float(np.mean(tdata.window_l1(xw, yw))),
                                    "silence_l1": float(np.mean(tdata.window_l1(np.zeros_like(yw), yw)))})
        finally:
            model.train(was_training)
        if self._baselines is None:
            b = vs.baselines(mine)
            s = distributed.all_reduce_sum(self.ctx, [b["identity"], b["silence"], b["count"]])
            n = len(vs) if vs.weighting == "entry" else s[2]
            self._baselines = {"identity": s[0] / n, "silence": s[1] / n}
        total, count = distributed.all_reduce_sum(self.ctx, [total, count])
        n = len(vs) if vs.weighting == "entry" else count
        entries = [e for part in distributed.gather_objects(self.ctx, entries) for e in part]
        return {"l1": total / n, "identity_l1": self._baselines["identity"],
                "silence_l1": self._baselines["silence"], "entries": entries}

    def _run_windows(self, windows: np.ndarray, cond1) -> np.ndarray:
        """Model outputs (K, W, 2) for input windows (K, W, 2) under one condition, ``valid_batch`` at a time."""
        model, outs = self.model, []
        for b in range(0, len(windows), int(self.recipe["valid_batch"])):
            w = torch.from_numpy(np.ascontiguousarray(
                windows[b : b + int(self.recipe["valid_batch"])].transpose(0, 2, 1))).to(self.device)
            cond = model.batch_conditions([cond1] * w.shape[0], self.device)
            with self._autocast():
                o = model.separate(w, cond)
            outs.append(o.float().cpu().numpy().transpose(0, 2, 1))
        return np.concatenate(outs)

    def _after_validation(self, state: dict, step: int, v: dict) -> None:
        r = self.recipe
        l1 = v["l1"]
        state["last_l1"], state["last_valid_step"] = l1, step
        state["baselines"] = dict(self._baselines or {})
        if self.scheduler is not None:
            self.scheduler.step(l1)
        improved = state["best_l1"] is None or l1 < state["best_l1"] - float(r["min_delta"])
        if improved:
            state["best_l1"], state["best_step"], state["bad_checks"] = l1, step, 0
        else:
            state["bad_checks"] += 1
        epoch = step / self.steps_per_epoch
        if r["early_stop_patience"] and state["bad_checks"] >= int(r["early_stop_patience"]) and \
                epoch >= int(r["min_epochs"]):
            state["stopped"] = True
        # top-k weights
        k = int(r["keep_top_k"])
        topk = [tuple(t) for t in state["topk"]]
        if len(topk) < k or l1 < max(t[0] for t in topk):
            path = self.ckpt_dir / "top" / f"step-{step:08d}.pt"
            if self.ctx.is_main:
                with atomic_write(path) as fh:
                    torch.save({"state_dict": self.model.state_dict(), "step": step, "valid_l1": l1}, fh)
            topk.append((l1, step, str(path.relative_to(self.out))))
            topk.sort()
            for _, _, p in topk[k:]:
                if self.ctx.is_main:
                    (self.out / p).unlink(missing_ok=True)
            topk = topk[:k]
        state["topk"] = [list(t) for t in topk]
        if self.ctx.is_main and v.get("entries"):
            write_json(self.out / "metrics" / "valid_entries.json",
                       {"step": step, "l1": l1, "entries": sorted(v["entries"], key=lambda e: e["entry"])})
        self.valid_csv.append({"epoch": round(epoch, 4), "step": step, "l1": l1, "identity_l1": v["identity_l1"],
                               "silence_l1": v["silence_l1"], "lr": self.optimizer.param_groups[0]["lr"]})
        if self.ctx.is_main:
            log.info("validation at step %d: L1 %.6f (identity %.6f, silence %.6f)%s", step, l1, v["identity_l1"],
                     v["silence_l1"], " — early stop" if state["stopped"] else "")

    # ------------------------------------------------------------------------------------------ training
    def _step(self, batch) -> torch.Tensor:
        x = batch["input"].to(self.device, non_blocking=True)
        y = batch["target"].to(self.device, non_blocking=True)
        cond = tdata.move_cond(batch["cond"], self.device)
        with self._autocast():
            est = self.net(x, cond)
        with torch.no_grad():
            target = self.model.spec(y)
        loss = F.mse_loss(est.float(), target)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if self.recipe["grad_clip"]:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), float(self.recipe["grad_clip"]))
        self.scaler.step(self.optimizer)
        self.scaler.update()
        if self.step_scheduler is not None:
            self.step_scheduler.step()
        return loss.detach()

    def fit(self, resume: bool = False, stop_after: int | None = None) -> TrainResult:
        """Train until ``total_steps`` or early stopping; ``stop_after`` raises KeyboardInterrupt after that many
        steps of this call (a test hook that simulates a kill: nothing is saved at the interruption)."""
        r = self.recipe
        self._build()
        state = None
        if resume and self.last_path.exists():
            state = self._load_last()
            self._baselines = state.get("baselines") or None
            self.train_csv.truncate(state["step"])
            self.valid_csv.truncate(state["step"])
            self._timing_log = self._load_timing_log(state["step"])
            log.info("resuming %s from step %d (%s)", self.model_name, state["step"], self.last_path)
        else:
            if resume:
                log.info("no checkpoint at %s: starting from scratch", self.last_path)
            state = self._fresh_state()
            self._timing_log = []
            seed_everything(tdata.derive_seed(self.seed, self.ctx.rank, 0x5EED))
            if self.ctx.is_main:
                for p in [self.last_path, self.out / "summary.json", self.timing_path,
                          *(self.ckpt_dir / "top").glob("step-*.pt")]:
                    p.unlink(missing_ok=True)
            self.train_csv.reset()
            self.valid_csv.reset()
        distributed.barrier(self.ctx)
        self.model.train()

        start_step = state["step"]
        sampler = tdata.StepBatchSampler(self.steps_per_epoch, self.global_batch, start_step, self.total_steps,
                                         self.ctx.rank, self.ctx.world_size)
        loader = tdata.make_train_loader(self.trainset, sampler, num_workers=int(r["num_workers"]), seed=self.seed,
                                         rank=self.ctx.rank, pin_memory=self.device.type == "cuda")
        bar = None
        if self.progress:
            from tqdm import tqdm

            bar = tqdm(total=self.total_steps, initial=start_step, desc=self.model_name, unit="step",
                       dynamic_ncols=True)
        step = start_step
        t0 = t_log = time.perf_counter()
        elapsed0 = state["elapsed_s"]
        loss_sum, loss_n, log_samples = torch.zeros((), device=self.device), 0, 0
        log_every = int(r["log_every_steps"])
        ckpt_every = r["checkpoint_every_steps"]
        valid_every_steps = r["valid_every_steps"]
        valid_every_epochs = int(r["valid_every_epochs"] or 0)
        try:
            for batch in loader if not state["stopped"] else ():
                loss = self._step(batch)
                step += 1
                loss_sum += loss
                loss_n += 1
                log_samples += self.global_batch
                state["samples"] += self.global_batch
                if step % log_every == 0 or step == self.total_steps:
                    mean_loss = distributed.all_reduce_sum(self.ctx, [float(loss_sum) / loss_n])[0] \
                        / self.ctx.world_size
                    now = time.perf_counter()
                    sps = log_samples / max(now - t_log, 1e-9)
                    row = {"step": step, "epoch": round(step / self.steps_per_epoch, 4), "loss": mean_loss,
                           "lr": self.optimizer.param_groups[0]["lr"]}
                    self.train_csv.append(row)
                    self._timing_log.append({"step": step, "samples_per_s": round(sps, 3),
                                             "elapsed_s": round(elapsed0 + now - t0, 3)})
                    if bar is not None:
                        bar.set_postfix(loss=f"{mean_loss:.4g}", samples_s=f"{sps:.1f}")
                    elif self.ctx.is_main and (step % (10 * log_every) == 0 or step == self.total_steps):
                        log.info("%s step %d/%d: loss %.5g, %.1f samples/s", self.model_name, step,
                                 self.total_steps, mean_loss, sps)
                    loss_sum, loss_n, log_samples, t_log = torch.zeros((), device=self.device), 0, 0, now
                if bar is not None:
                    bar.update(1)
                epoch_end = step % self.steps_per_epoch == 0
                do_valid = (valid_every_steps and step % int(valid_every_steps) == 0) or (
                    not valid_every_steps and valid_every_epochs and epoch_end
                    and (step // self.steps_per_epoch) % valid_every_epochs == 0)
                if do_valid:
                    self._after_validation(state, step, self.validate())
                state["step"] = step
                state["elapsed_s"] = elapsed0 + time.perf_counter() - t0
                if do_valid or epoch_end or (ckpt_every and step % int(ckpt_every) == 0) or state["stopped"]:
                    self._save_last(state)
                if state["stopped"]:
                    break
                if stop_after is not None and step - start_step >= stop_after:
                    raise KeyboardInterrupt(f"stop_after={stop_after} (test hook)")
        finally:
            if bar is not None:
                bar.close()
            del loader
        if r["valid_at_end"] and state["last_valid_step"] != step:
            self._after_validation(state, step, self.validate())
        state["step"] = step
        state["elapsed_s"] = elapsed0 + time.perf_counter() - t0
        self._save_last(state)
        return self._finish(state)

    # ------------------------------------------------------------------------------------------ final
    def _finish(self, state: dict) -> TrainResult:
        from models import registry

        selected, weights = "last", self.model.state_dict()
        if state["topk"]:
            best = self.out / state["topk"][0][2]
            if best.exists():
                weights = load_weights_only(best)["state_dict"]
                selected = f"best (step {state['topk'][0][1]})"
        base = self.identity
        result = TrainResult(
            out=str(self.out), model=self.model_name, profile=self.profile, seed=self.seed, steps=state["step"],
            epochs=round(state["step"] / self.steps_per_epoch, 4), seconds=round(state["elapsed_s"], 3),
            best_l1=state["best_l1"], best_step=state["best_step"],
            identity_l1=self._baselines["identity"] if self._baselines else None,
            silence_l1=self._baselines["silence"] if self._baselines else None,
            last_l1=state["last_l1"], stopped_early=bool(state["stopped"]),
            samples_per_s=round(state["samples"] / max(state["elapsed_s"], 1e-9), 3), selected=selected,
        )
        if result.best_l1 is not None and result.identity_l1 is not None:
            result.beats_identity = result.best_l1 < result.identity_l1
            result.beats_silence = result.best_l1 < result.silence_l1
        result.extra = {"kind": self.kind, "task_set": self.task_set, "segment": self.segment,
                        "global_batch": self.global_batch, "world_size": self.ctx.world_size,
                        "precision": self.precision, "steps_per_epoch": self.steps_per_epoch,
                        "total_steps": self.total_steps, "device": str(self.device),
                        "valid_entries": len(self.validset), "source": self.model.config.get("source")}
        if self.ctx.is_main:
            final = registry.create(self.model_name, self.profile, init=False, **self.model_overrides)
            final.load_state_dict(weights)
            record = _jsonable(result.record())  # no wall time, no output path: byte-reproducible files
            meta = {"training": {**record, "recipe": _jsonable(self.recipe), "identity": base}}
            if self.kind == "amss":  # not in summary.json: the run's numbers only
                meta["training"]["word_embeddings"] = glove.label(self.glove_path,
                                                                  getattr(self.model, "glove_rows", None))
            save_model_file(final, self.out / "model.pt", meta)
            write_json(self.out / "summary.json", record)
            self._write_timing(state, finished=True)
        distributed.barrier(self.ctx)
        return result

    def close(self) -> None:
        distributed.cleanup(self.ctx)


def train(model_name: str, out, **kwargs) -> TrainResult:
    """Convenience wrapper: ``Trainer(model_name, out, **kwargs).fit(resume=..., stop_after=...)``."""
    resume = kwargs.pop("resume", False)
    stop_after = kwargs.pop("stop_after", None)
    trainer = Trainer(model_name, out, **kwargs)
    try:
        return trainer.fit(resume=resume, stop_after=stop_after)
    finally:
        trainer.close()


__all__ = ["Trainer", "TrainResult", "TrainingError", "train"]
