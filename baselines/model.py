"""A trained model (``models/`` registry + checkpoint) as an evaluated system.

``ModelSystem(model_name, checkpoint)`` loads the checkpoint lazily (also inside each worker process) and answers
every task with ``model.manipulate(pair.input, task.description, ...)`` (full-track chunked inference, protocol §4).

Fingerprint: sha256 of the checkpoint *file* plus the inference settings that change outputs (stitching mode,
autocast, 16-bit round-trip); the batch size and the device are recorded but not part of it. A model object passed
directly (no checkpoint file; tests, notebooks) is fingerprinted by the sha256 of its config and state dict.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from baselines.base import System, SystemConfigError, as_estimate
from benchmark.base.provenance import json_sha256


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def state_sha256(model) -> str:
    """sha256 over a module's config (if any) and its state dict (names, dtypes, shapes, bytes)."""
    import torch

    h = hashlib.sha256()
    cfg = getattr(model, "config", None)
    if isinstance(cfg, dict):
        h.update(json_sha256(cfg).encode())
    if isinstance(model, torch.nn.Module):
        for key, t in sorted(model.state_dict().items()):
            t = t.detach().cpu().contiguous()
            h.update(f"{key}|{t.dtype}|{tuple(t.shape)}".encode())
            h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")  # 0-dim too
    return h.hexdigest()


def load_checkpoint(path: str | Path, model_name: str | None = None):
    """Build the model stored in an amss-bench checkpoint (:func:`models.checkpoint.load`: weights + config, loaded
    with ``weights_only=True``). ``model_name``, when given, must match the checkpoint's model."""
    from models import checkpoint as ckpt

    path = Path(path)
    if not path.is_file():
        raise SystemConfigError(f"{path}: checkpoint file not found")
    try:
        return ckpt.load(path, expected_name=model_name)
    except (ckpt.CheckpointError, KeyError) as err:
        raise SystemConfigError(str(err).strip('"')) from None


#: validation numbers of the training run copied from the checkpoint into every result (docs/evaluation.md)
TRAINING_KEYS = ("steps", "best_step", "best_l1", "identity_l1", "silence_l1")


class ModelSystem(System):
    kind = "model"
    version = 1

    def __init__(self, model_name: str | None = None, checkpoint: str | Path | None = None, *, model=None,
                 name: str | None = None, label: str | None = None, seed: int | None = None,
                 device: str = "cpu", batch_size: int = 8, mode: str | None = None,
                 autocast: str | None = None, pcm16: bool = False, channels_last: bool | None = None):
        if model is None and checkpoint is None:
            raise SystemConfigError("a model system needs a checkpoint file (--checkpoint) or a model object")
        self.model_name = model_name
        self.checkpoint = Path(checkpoint) if checkpoint is not None else None
        self.device = device
        self.batch_size = int(batch_size)
        self.mode = mode
        self.autocast = autocast
        self.pcm16 = bool(pcm16)
        # channels-last convolutions: 1.3-1.5x faster inference of the embedded models on CPU (docs/performance.md);
        # None = on for a checkpoint evaluated on CPU (a model object passed in is left as it is). Part of the
        # fingerprint: the float results may differ in the last bits from the contiguous layout.
        if channels_last is None:
            channels_last = str(device).startswith("cpu") and model is None
        self.channels_last = bool(channels_last)
        self._model = model
        self._formatted = False
        if self.checkpoint is not None and not self.checkpoint.is_file():
            raise SystemConfigError(f"{self.checkpoint}: checkpoint file not found")
        if self.checkpoint is not None:
            self.checkpoint = self.checkpoint.resolve()
        self._ckpt_sha = file_sha256(self.checkpoint) if self.checkpoint is not None else None
        self._state_sha = state_sha256(model) if (model is not None and self.checkpoint is None) else None
        if seed is None:
            seed = (getattr(self.model, "checkpoint_metadata", None) or {}).get("seed")
            seed = int(seed) if isinstance(seed, (int, float)) and not isinstance(seed, bool) else None
        base = getattr(getattr(self.model, "info", None), "name", None) or model_name or type(self.model).__name__
        if name is None:
            name = base + (f"-seed{seed}" if seed is not None else "")
        super().__init__(name, label=label or base, seed=seed)

    # the model is rebuilt from the checkpoint in worker processes instead of being pickled
    def __getstate__(self):
        state = dict(self.__dict__)
        if self.checkpoint is not None:
            state["_model"] = None
            state["_formatted"] = False
        return state

    @property
    def model(self):
        if self._model is None:
            self._model = load_checkpoint(self.checkpoint, self.model_name)
        if self.channels_last and not self._formatted:
            import torch

            self._model.to(memory_format=torch.channels_last)
            self._formatted = True
        return self._model

    @property
    def checkpoint_sha256(self) -> str | None:
        return self._ckpt_sha

    @property
    def family(self) -> str | None:
        return getattr(getattr(self.model, "info", None), "family", None)

    def _inference(self) -> dict:
        # every setting that can change the estimate's bits is in the fingerprint (the batch size does, by float rounding)
        return {"mode": self.mode, "autocast": self.autocast, "pcm16": self.pcm16, "channels_last": self.channels_last,
                "batch_size": self.batch_size}

    @property
    def fingerprint(self) -> str:
        return json_sha256({"checkpoint_sha256": self._ckpt_sha, "state_sha256": self._state_sha,
                            "inference": self._inference()})

    def metadata(self) -> dict:
        info = getattr(self.model, "info", None)
        meta = {**super().metadata(), "model": self.model_name,
                "checkpoint": self.checkpoint.name if self.checkpoint is not None else None,
                "state_sha256": self._state_sha, "inference": self._inference(), "batch_size": self.batch_size}
        training = (getattr(self.model, "checkpoint_metadata", None) or {}).get("training")
        if isinstance(training, dict):  # the run's validation numbers (the report's "does every model learn?" check)
            meta["training"] = {k: training.get(k) for k in TRAINING_KEYS}
            meta["training"]["source"] = (training.get("extra") or {}).get("source")
            if training.get("word_embeddings") is not None:  # AMSS: GloVe or random (docs/fidelity.md §2)
                meta["training"]["word_embeddings"] = training["word_embeddings"]
        if info is not None:
            meta["model_info"] = {k: getattr(info, k, None) for k in ("name", "family", "table", "row", "profile",
                                                                       "task_set", "source")}
            if getattr(info, "collection", "thesis") != "thesis":  # the survey's separators: their collection and
                # paper, for the reports (the thesis models' results keep their keys as they were)
                meta["model_info"].update(collection=info.collection, reference=info.reference)
        return meta

    def supports(self, task) -> bool:
        try:
            self.model.condition_for(task.description)
        except NotImplementedError:
            return True
        except ValueError:  # models.base.UnsupportedQueryError is a ValueError
            return False
        return True

    def check(self, tasks, tracks) -> None:
        bad = [t for t in tasks if not self.supports(t)]
        if bad:
            supported = []
            try:
                supported = list(self.model.supported_queries())
            except Exception:  # noqa: BLE001 - only for the message
                pass
            raise SystemConfigError(
                f"model {self.name!r} cannot answer task(s) {', '.join(t.id for t in bad)} "
                f"({'; '.join(repr(t.description) for t in bad)}). Supported queries: "
                f"{', '.join(map(repr, supported[:12]))}{' …' if len(supported) > 12 else ''}. "
                f"Select tasks with --tasks (a group or comma-separated task ids).")

    def estimate(self, task, pair, *, track=None) -> np.ndarray:
        out = self.model.manipulate(np.asarray(pair.input, dtype=np.float32), task.description,
                                    batch_size=self.batch_size, device=self.device, autocast=self.autocast,
                                    mode=self.mode, progress=False, pcm16=self.pcm16)
        return as_estimate(out, who=self.name)
