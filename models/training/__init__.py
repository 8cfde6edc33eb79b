"""Training every model of the thesis tables (models.md §4; protocol.md §2.5).

* :mod:`models.recipes` — recipe per family × profile (``recipe_for``), overridable from ``params.yaml``.
* :mod:`models.training.data` — on-the-fly remix augmentation, AMSS triples (corrected Algorithm 1), keyed
  deterministic items, step batch sampler, validation set.
* :mod:`models.training.trainer` — :class:`Trainer` / :func:`train`: resumable, deterministic on CPU, mixed precision,
  ``torch.compile``, channels-last, DDP through ``torchrun``.
* :mod:`models.training.distributed` — process group from the torchrun environment, SyncBatchNorm (GPU and CPU/gloo).
* :mod:`models.training.bench` — training-throughput benchmark (``python -m models.training.bench --device cuda``).

See ``docs/training.md``.
"""

from models.recipes import FAMILIES, RECIPES, family_of, recipe_for
from .trainer import Trainer, TrainingError, TrainResult, train

__all__ = ["FAMILIES", "RECIPES", "Trainer", "TrainResult", "TrainingError", "family_of", "recipe_for", "train"]
