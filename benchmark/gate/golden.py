"""Golden regression vectors: a small numeric fingerprint of every registered model's output.

For every built-in model of ``models.registry`` — the thesis models and the survey's learned separators
(:func:`model_names`) — in both configurations (``embedded`` and ``paper``), the fingerprint is taken from a seeded
initialisation (``registry.create(name, profile, seed=GOLDEN_SEED)``) run in eval mode on a fixed input:

* the input is seeded uniform noise (``torch.Generator().manual_seed(0)``, amplitude ±0.25), stereo, one batch item
  per query. Its length (:func:`input_samples`):

  - thesis models: the embedded configuration gets its full window hop·(num_frame − 1), the paper configuration a
    16-frame window (every layer runs, at an eighth of the cost of its 128-frame window);
  - survey separators, embedded: the training segment of the embedded recipe (``models.recipes``: MMDenseNet /
    MDenseNet 16 128, Wave-U-Net 16 384, Wavenet separator 4 096, Open-Unmix 4 032, Demucs v2 16 384, Conv-TasNet
    8 192 samples); DeepConvSep, whose dense layers take exactly ``num_frame`` frames, its window in both
    configurations (7 424 / 14 848 samples);
  - survey separators, paper: the shortest input on which every layer runs on more than one position, because the
    waveform models are expensive at paper size on a CPU (measured, one thread: the Wavenet separator 13.7 s,
    Conv-TasNet 9.5 s on the thesis models' 16-frame window). Wave-U-Net: 2 · 2^levels = 8 192 samples (it pads to a
    multiple of 2^levels; two samples reach the bottleneck); Demucs v2: 6 826 samples, its valid length (no padding)
    with a 2-step BiLSTM bottleneck (on one step the recurrent weights would not act); the Wavenet separator and
    Conv-TasNet (same-padded convolutions, any length is valid): ``PAPER_WAVE_SAMPLES`` = 2 048; the spectrogram
    models (MMDenseNet, MDenseNet, Open-Unmix): the 16-frame window, as the thesis models.

  Measured cost of the 16 survey fingerprints (``compute(registry.model_names(collection="survey"))``, one thread,
  on the shared 2-core VM): 10.7-11.7 s unpinned (as in ``make test``), 13.5-13.7 s with the pinned numerics; of it
  Demucs v2 at paper size 5.2 s (1.8 s initialising and 2.3 s summing its 265.7 M parameters), the Wavenet separator
  at paper size 1.9 s, Conv-TasNet 1.0 s, every embedded configuration ≤ 0.2 s;
* queries: dedicated models none; conditioned models (multi-output survey separators included) every source they
  separate; AMSS models four queries that cover separation and three different effects (so a wrong token, source or
  effect embedding, or a multi-output model's wrong output, changes the output).

What is stored (``tests/golden/models.json``, readable JSON, no pickles): the parameter count, a SHA-256 of the
parameters' names and shapes (exact), the sum and the sum of squares of the seeded initial parameters, the output
shape, per (item, channel) RMS, and ``N_SAMPLES`` evenly spaced output samples — twice: in eval mode, and with
BatchNorm on batch statistics (dropout off), because at initialisation eval-mode BatchNorm is the identity and a bug
around it (a swapped ReLU/BatchNorm order, a wrong normalised axis) would not show. The initial values themselves are
*not* bit-identical between CPUs (ATen's vectorised random kernels differ in the last ulp between its AVX2 and
AVX-512/default builds), so values are compared with tolerances: the parameter sums to ``PARAM_RTOL``, the outputs
to ``OUTPUT_RTOL`` of the output's RMS. Measured between ATen's default and AVX2 kernels (different initial ulps
*and* different compute kernels): at most 2.2e-5 of the RMS over all 46 models (``amss-net@embedded``); the tolerance
is ten times that, and still catches any change of a layer, an initialisation, a condition or the STFT, which move
outputs by percents. Batch-statistics outputs divide by small batch variances and spread more between kernels
(measured up to 8.4e-4 of the RMS, ``u17-tfc-sampling-o@paper``): ``TRAIN_OUTPUT_RTOL`` = 1e-2; a bug around a
BatchNorm moves them by their whole size. The survey separators' 16 fingerprints spread less: between the pinned
numerics (the recorded file) and this VM's native AVX-512 paths at most 5.3e-6 of the RMS in eval mode and 3.7e-6
with batch statistics (both ``mmdensenet@paper``), parameter sums equal to 12 digits; ``ATEN_CPU_CAPABILITY=avx2``
alone changes none of their values (their convolutions and matrix products go through oneDNN / MKL, not ATen's
vectorised kernels), and two fresh processes with the same numerics give identical files. A few survey outputs are
exactly zero at initialisation (ReLU outputs): one channel of ``mmdensenet``'s eval-mode output in both profiles
(not with batch statistics) and the fourth output (``other``) of ``deepconvsep@embedded`` in both passes; the other
items and channels, the parameter sums and the layout still cover those networks.

**Training fingerprints** (same file, ``training``): ``TRAIN_STEPS`` steps of the real trainer with the embedded
recipe on a tiny seeded dataset, one run per training code path (``TRAIN_RUNS``): a planted bug in data loading,
pair generation, the loss, the optimiser or validation changes them in seconds, where the pipeline's results would
need a full retraining to show it (tolerances: :func:`compare_training`).

``amss-bench gate --update-golden`` rewrites the file; the PR that changes a model therefore changes it in its diff.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path

GOLDEN_VERSION = 2
GOLDEN_SEED = 0
N_SAMPLES = 128
PAPER_FRAMES = 16
PAPER_WAVE_SAMPLES = 2048  # Wavenet separator and Conv-TasNet, paper configuration (see the module docstring)
OUTPUT_RTOL = 2e-4  # of the output's RMS, per compared value (10x the measured cross-kernel spread)
TRAIN_OUTPUT_RTOL = 1e-2  # batch-statistics outputs: 12x the measured cross-kernel spread (8.4e-4)
PARAM_RTOL = 1e-5
PROFILES = ("embedded", "paper")
AMSS_QUERIES = ("separate vocals", "apply heavy lowpass to drums", "pan bass completely to the left side",
                "increase the volume of other")
DEFAULT_PATH = Path("tests/golden/models.json")


def _queries(model) -> list:
    fam = model.info.family
    if fam == "dedicated":
        return [None]
    supported = list(model.supported_queries())
    if fam == "amss":
        wanted = [q for q in AMSS_QUERIES if q in supported]
        return wanted or supported[:4]
    return supported[:4]


def model_names() -> list[str]:
    """The models with golden fingerprints: the thesis models, then the survey's learned separators (built-in registry
    entries only, not out-of-tree registrations)."""
    from models import registry

    return registry.model_names(builtin_only=True) + registry.model_names(collection="survey")


def input_samples(model, profile: str) -> int:
    """Length (samples) of the fixed input of ``model`` in ``profile`` (see the module docstring)."""
    cfg = model.config
    window = model.chunk_samples                                   # hop · (num_frame − 1)
    if getattr(model.info, "collection", "thesis") != "survey":
        return window if profile == "embedded" else cfg["hop_length"] * (PAPER_FRAMES - 1)
    if getattr(model, "time_multiple", None) == cfg.get("num_frame"):
        return window                                              # DeepConvSep: exactly one window, no other length
    if profile == "embedded":
        from models import recipes

        return int(recipes.recipe_for(model.name, "embedded")["segment"] or window)   # its training segment
    arch = cfg["arch"]
    if arch == "waveunet":                                         # padded to a multiple of 2^levels: two samples
        return 2 * 2 ** cfg["levels"]                              # at the bottleneck
    if arch == "demucs":                                           # the valid length with a 2-step BiLSTM bottleneck
        n = 2
        for _ in range(cfg["depth"]):
            n = (n - 1) * cfg["stride"] + cfg["kernel_size"]
        return math.ceil(n / 2) if cfg["resample"] else n
    if arch in ("wavenet", "convtasnet"):
        return PAPER_WAVE_SAMPLES
    return cfg["hop_length"] * (PAPER_FRAMES - 1)                  # spectrogram models, as the thesis models


def _input(model, profile: str, batch: int):
    import torch

    n = input_samples(model, profile)
    g = torch.Generator().manual_seed(0)
    one = (torch.rand(1, 2, n, generator=g, dtype=torch.float32) - 0.5) * 0.5
    return one.expand(batch, 2, n).contiguous()


def layout_digest(model) -> str:
    """SHA-256 of every state entry's name, dtype and shape (exact on every machine)."""
    h = hashlib.sha256()
    for name, p in sorted(model.state_dict().items()):
        h.update(f"{name}:{p.dtype}:{tuple(p.shape)};".encode())
    return h.hexdigest()


def param_sums(model) -> list[float]:
    """[Σ p, Σ p²] over every floating state entry, in float64."""
    s1 = s2 = 0.0
    for _, p in sorted(model.state_dict().items()):
        if p.is_floating_point():
            v = p.detach().double()
            s1 += float(v.sum())
            s2 += float((v * v).sum())
    return [float(f"{s1:.12g}"), float(f"{s2:.12g}")]


def fingerprint(name: str, profile: str) -> dict:
    """Seeded model ``name`` in ``profile`` on the fixed input: the record stored in the golden file."""
    import numpy as np
    import torch

    from models import registry

    torch.manual_seed(GOLDEN_SEED)
    model = registry.create(name, profile=profile, seed=GOLDEN_SEED).eval()
    queries = _queries(model)
    x = _input(model, profile, len(queries))
    cond = None if queries == [None] else model.make_condition(queries)
    layout, sums = layout_digest(model), param_sums(model)   # before the batch-statistics pass touches buffers
    with torch.inference_mode():
        y = model.separate(x, cond).double().numpy()
        model.train()                                            # BatchNorm on batch statistics: at initialisation
        for m in model.modules():                                # eval-mode BatchNorm is the identity, so a bug
            if isinstance(m, torch.nn.modules.dropout._DropoutNd):   # around it would be invisible; dropout stays
                m.eval()                                         # off (its random masks are CPU-dependent)
        y_train = model.separate(x, cond).double().numpy()

    def picks(a):
        flat = a.reshape(-1)
        idx = np.linspace(0, flat.size - 1, N_SAMPLES).round().astype(np.int64)
        return [float(f"{v:.9g}") for v in flat[idx]]

    def rms(a):
        return [[float(f"{v:.9g}") for v in row] for row in np.sqrt((a ** 2).mean(axis=-1))]

    return {"params": int(model.num_parameters()),
            "layout_sha256": layout,
            "param_sums": sums,
            "queries": [q for q in queries if q is not None],
            "input_samples": int(x.shape[-1]),
            "shape": list(y.shape),
            "rms": rms(y), "samples": picks(y),
            "train_rms": rms(y_train), "train_samples": picks(y_train)}


def compute(names=None, profiles=PROFILES, progress=None) -> dict:
    names = list(names or model_names())  # the suite's own models, not out-of-tree ones
    out = {}
    for profile in profiles:
        for name in names:
            out[f"{name}@{profile}"] = fingerprint(name, profile)
            if progress:
                progress(name, profile)
    return out


def keep_unchanged(old: dict, new: dict, changed: set[str]) -> dict:
    """The fingerprints to write: the new entry for every key in ``changed`` or not recorded before, the old entry
    (byte for byte) for every other key of ``new``; keys no longer computed are dropped. So an update rewrites only
    what moved beyond its tolerance, and the file's diff shows exactly those entries."""
    return {k: (new[k] if k in changed or k not in old else old[k]) for k in new}


def document(models: dict, training: dict | None = None) -> dict:
    import torch

    return {"golden_version": GOLDEN_VERSION, "training": dict(sorted((training or {}).items())),
            "train_steps": TRAIN_STEPS, "train_seed": TRAIN_SEED, "seed": GOLDEN_SEED, "n_samples": N_SAMPLES,
            "paper_frames": PAPER_FRAMES, "output_rtol": OUTPUT_RTOL, "train_output_rtol": TRAIN_OUTPUT_RTOL, "param_rtol": PARAM_RTOL, "torch": torch.__version__,
            "models": dict(sorted(models.items()))}


def write(path: str | Path, models: dict, training: dict | None = None) -> Path:
    from benchmark.base.audio import atomic_write

    path = Path(path)
    with atomic_write(path, "w") as fh:
        fh.write(json.dumps(document(models, training), indent=1, sort_keys=True) + "\n")
    return path


def load(path: str | Path) -> dict:
    path = Path(path)
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no golden vectors (create them with `amss-bench gate --update-golden`)") \
            from None
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from None
    if doc.get("golden_version") != GOLDEN_VERSION or not isinstance(doc.get("models"), dict) \
            or not isinstance(doc.get("training"), dict):
        raise ValueError(f"{path}: expected golden_version {GOLDEN_VERSION} with 'models' and 'training' mappings")
    return doc


@dataclass
class ModelChange:
    key: str            # "<model>@<profile>"
    status: str         # changed | new | removed
    reasons: list[str]

    def as_dict(self) -> dict:
        return {"model": self.key, "status": self.status, "reasons": self.reasons}


def _max_rel(a, b, scale: float) -> float:
    return max((abs(x - y) for x, y in zip(a, b)), default=0.0) / scale


def compare_one(key: str, old: dict, new: dict, rtol: float = OUTPUT_RTOL) -> ModelChange | None:
    reasons = []
    if old["params"] != new["params"]:
        reasons.append(f"parameter count {old['params']} → {new['params']}")
    if old["layout_sha256"] != new["layout_sha256"]:
        reasons.append("parameter names or shapes differ")
    norm = math.sqrt(max(old["param_sums"][1], 0.0))
    for what, a, b in zip(("Σ p", "Σ p²"), old["param_sums"], new["param_sums"]):
        if not math.isclose(a, b, rel_tol=PARAM_RTOL, abs_tol=PARAM_RTOL * norm):
            reasons.append(f"seeded initial parameters: {what} {a:.9g} → {b:.9g}")
    comparable = True
    for field in ("queries", "input_samples", "shape"):
        if old[field] != new[field]:
            reasons.append(f"{field} {old[field]} → {new[field]}")
            comparable = False
    passes = (("eval-mode", "", rtol), ("batch-statistics", "train_", max(rtol, TRAIN_OUTPUT_RTOL)))
    for mode, prefix, tol in passes if comparable else ():
        rms_old = [v for row in old[prefix + "rms"] for v in row]
        rms_new = [v for row in new[prefix + "rms"] for v in row]
        scale = max(math.sqrt(sum(v * v for v in rms_old) / max(len(rms_old), 1)), 1e-12)
        d_rms = _max_rel(rms_old, rms_new, scale)
        d_out = _max_rel(old[prefix + "samples"], new[prefix + "samples"], scale)
        if not (math.isfinite(d_rms) and math.isfinite(d_out)) or any(not math.isfinite(v)
                                                                    for v in new[prefix + "samples"]):
            reasons.append(f"{mode} output is not finite")
        elif max(d_rms, d_out) > tol:
            reasons.append(f"{mode} output moved by {max(d_rms, d_out):.2e} of its RMS (tolerance {tol:.0e})")
    return ModelChange(key, "changed", reasons) if reasons else None


def compare(old_models: dict, new_models: dict, rtol: float = OUTPUT_RTOL) -> list[ModelChange]:
    changes = []
    for key in sorted(set(old_models) | set(new_models)):
        if key not in new_models:
            changes.append(ModelChange(key, "removed", ["no longer registered"]))
        elif key not in old_models:
            changes.append(ModelChange(key, "new", ["no golden vector yet"]))
        else:
            c = compare_one(key, old_models[key], new_models[key], rtol)
            if c:
                changes.append(c)
    return changes


# ------------------------------------------------------------------------------------------- training trajectories
#: one short training run per training code path: dedicated (masking, one stem), conditioned CUNet, AMSS on the
#: whole AML (Algorithm 1 with SoX), AMSS on the four separation tasks, and a waveform-domain survey separator
#: (``representation == "wave"``: the trainer's loss is a waveform MSE with no STFT; Demucs v2, multi-output with a
#: source-index condition, the cheapest of the four waveform models: 0.5 s against 2.5-4 s; between the pinned and
#: the native numerics its losses and best L1 are equal to 9 digits, its trained weight sums within 3.2e-9)
TRAIN_RUNS = (("u7-dme", "vocals"), ("cunet-gpocm", None), ("amss-net", None), ("amss-net-separate", None),
              ("demucs-v2", None))
TRAIN_STEPS = 4
TRAIN_SEED = 2020
DATA_RTOL = 1e-5
TRAJ_RTOL_STRICT = 1e-6
TRAJ_RTOL_LOOSE = 0.05


def _tiny_root(where: Path) -> Path:
    from benchmark.data.tiny import make_root

    return make_root(where / "root", n_train=2, n_valid=1, n_test=1, seconds=2.0, seed=0)


def train_fingerprint(name: str, stem: str | None, where: Path, root: Path | None = None) -> dict:
    """``TRAIN_STEPS`` optimiser steps of the real trainer (embedded recipe: data loading, Algorithm 1, loss, optimiser,
    schedule, validation) on a tiny seeded root: the losses of every step, the validation L1s and the final weights'
    sums. A change anywhere on the training path moves them (see :func:`compare_training` for the tolerances)."""
    import csv

    import torch

    from models.training.trainer import train

    root = root or _tiny_root(where)
    out = where / f"{name}-{stem or 'all'}"
    res = train(name, out, root=root, source="synthetic", profile="embedded", seed=TRAIN_SEED, stem=stem,
                recipe={"max_steps": TRAIN_STEPS, "valid_every_steps": None, "valid_every_epochs": None,
                        "valid_at_end": True, "num_workers": 0, "threads": 1, "log_every_steps": 1},
                progress=False)
    with open(out / "metrics" / "train.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    losses = [float(r["loss"]) for r in rows]
    from models import checkpoint

    model = checkpoint.load(out / "model.pt")
    model = model[0] if isinstance(model, tuple) else model
    s1 = s2 = 0.0
    for _, p in sorted(model.state_dict().items()):
        if isinstance(p, torch.Tensor) and p.is_floating_point():
            s1 += float(p.double().sum())
            s2 += float((p.double() ** 2).sum())
    f = lambda v: None if v is None else float(f"{v:.9g}")  # noqa: E731
    return {"steps": int(res.steps), "losses": [f(v) for v in losses], "best_l1": f(res.best_l1),
            "identity_l1": f(res.identity_l1), "silence_l1": f(res.silence_l1),
            "param_sums": [f(s1), f(s2)]}


def compute_training(where: Path, progress=None) -> dict:
    where = Path(where)
    root = _tiny_root(where)
    out = {}
    for name, stem in TRAIN_RUNS:
        out[f"{name}/{stem or 'all'}@train"] = train_fingerprint(name, stem, where, root)
        if progress:
            progress(name, stem or "all")
    return out


def compute_all(progress=None) -> tuple[dict, dict]:
    """(model fingerprints, training fingerprints), the training runs in a temporary folder."""
    import tempfile

    models = compute(progress=progress)
    with tempfile.TemporaryDirectory(prefix="amss-gate-train-") as tmp:
        return models, compute_training(Path(tmp), progress=progress)


def compare_training(old: dict, new: dict, *, strict: bool) -> list[ModelChange]:
    """Training fingerprints. The first loss and the validation do-nothing L1s depend only on the data, the
    initialisation and the loss (``DATA_RTOL``, always); the rest of the trajectory (later losses, best L1, trained
    weights) goes through Adam, whose first steps amplify rounding (a near-zero gradient's sign), so it is compared
    at ``TRAJ_RTOL_STRICT`` when this machine reproduces the pinned numerics and at ``TRAJ_RTOL_LOOSE`` otherwise
    (measured between ATen's default and AVX2 kernels: up to 1.1 % on a best L1, 0.2 % on a weight sum)."""
    traj = TRAJ_RTOL_STRICT if strict else TRAJ_RTOL_LOOSE
    changes = []
    for key in sorted(set(old) | set(new)):
        if key not in new or key not in old:
            changes.append(ModelChange(key, "removed" if key not in new else "new", ["training fingerprint"]))
            continue
        a, b = old[key], new[key]
        reasons = []
        if a["steps"] != b["steps"] or len(a["losses"]) != len(b["losses"]):
            reasons.append(f"steps {a['steps']} → {b['steps']}")
        for i, (x, y) in enumerate(zip(a["losses"], b["losses"])):
            if not math.isclose(x, y, rel_tol=DATA_RTOL if i == 0 else traj, abs_tol=1e-12):
                reasons.append(f"training loss at step {i + 1}: {x:.7g} → {y:.7g}")
                break
        for field, rtol in (("identity_l1", DATA_RTOL), ("silence_l1", DATA_RTOL), ("best_l1", traj)):
            x, y = a[field], b[field]
            if (x is None) != (y is None) or (x is not None and not math.isclose(x, y, rel_tol=rtol)):
                reasons.append(f"validation {field} {x} → {y}")
        norm = math.sqrt(max(a["param_sums"][1] or 0.0, 0.0))
        for what, x, y in zip(("Σ w", "Σ w²"), a["param_sums"], b["param_sums"]):
            if not math.isclose(x, y, rel_tol=traj, abs_tol=traj * norm):
                reasons.append(f"trained weights {what} {x:.9g} → {y:.9g}")
        if reasons:
            changes.append(ModelChange(key, "changed", reasons))
    return changes
