"""Training recipes per model family and profile (models.md §4.2), with overrides from ``params.yaml``.

A recipe is a flat dict of the keys in :data:`DEFAULTS`. :func:`recipe_for` resolves, in this order (later wins):

1. :data:`DEFAULTS` (the common settings),
2. ``RECIPES[family]["paper" | "embedded"]``, then ``MODEL_RECIPES[model][profile]`` (this module),
3. ``params["train"][profile]["all"]``, ``params["train"][profile][family]`` and ``params["train"][profile][model]``
   (``params.yaml``; a model section, e.g. ``amss-net-wo-smpocm: {max_steps: 1200}``, wins over its family's),
4. explicit keyword overrides (CLI flags, tests).

Unknown keys raise :class:`RecipeError` naming the key and where it came from.

``batch_size`` is always the **effective** (global) batch: per-GPU batch × number of processes (models.md §4.2:
"on one GPU, keep the effective batch"). Under ``torchrun`` each rank gets ``batch_size / world_size`` items.

Families: ``u7`` (Table 3.1 methods, Table 3.5 r3, Table 4.1 dedicated), ``u17`` (Table 3.5), ``u9l``
(Tables 3.6 / 3.7), ``cunet`` (Table 4.1), ``lasaft12`` (LaSAFT-GPoCM-Net_12), ``amss`` (Tables 5.2 / 5.3).
Out-of-tree models add families with :func:`register_family`.

Models are registered by family: the registry (which imports this module, never the other way round) calls
:func:`register_model` for every entry, with its ``recipe_family``, its aliases and its own recipe keys
(``registry.register(..., recipes=...)``); :func:`family_of` and :func:`recipe_for` read that table.
"""

from __future__ import annotations

import copy

from . import plugins

PROFILES = ("paper", "embedded")
FAMILIES = ("u7", "u17", "u9l", "cunet", "lasaft12", "amss", "mmdensenet", "waveunet", "wavenet", "deepconvsep",
            "umx", "demucs", "convtasnet")
OPTIMIZERS = ("adam", "rmsprop", "sgd")
SCHEDULES = ("none", "plateau", "cosine", "step")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
#: the recipe key ``source_augmentations``' choices (the openunmix training script's ``--source-augmentations``)
SOURCE_AUGMENTATIONS = ("gain", "channelswap")

#: Every recipe key with its common default.
DEFAULTS: dict = {
    # optimisation
    "optimizer": "adam",  # adam | rmsprop | sgd
    "lr": 1e-3,
    "weight_decay": 0.0,
    "grad_clip": None,  # max global grad norm, None = off (the references do not clip)
    "schedule": "none",  # none | plateau (ReduceLROnPlateau on the validation L1) | cosine (to 0 at the last step)
    #                      | step (lr × step_factor from step_at × total steps on)
    "step_at": 0.75,
    "step_factor": 0.1,
    "plateau_factor": 0.5,
    "plateau_patience_epochs": 50,
    # data
    "batch_size": 8,  # effective (global) batch
    "segment": None,  # training window in samples; None = the model's window hop·(num_frame−1)
    "epoch_items": None,  # items per epoch; None = the nominal epoch of models.md §4.1
    "num_workers": 0,  # DataLoader worker processes per rank (the SoX effects run there when > 0)
    "peak_mode": "signed",  # AMSS pair normalisation (protocol §2.5): signed (reference) | abs
    "preload": "auto",  # keep the training stems in memory: auto (if < 1 GiB) | true | false
    "target_weights": None,  # conditioned models: {vocals: w, drums: w, bass: w, other: w}, how often each source is
    #                          drawn as the target (None = uniform, the references)
    "input_stats": False,  # models with fit_input_statistics (Open-Unmix): set the input standardisation from the
    #                        training mixtures' magnitude statistics before the first step (the openunmix training
    #                        script's get_statistics); False = the module's zero mean / unit scale
    "source_augmentations": [],  # per-source augmentations of the training items, applied in this order: gain (x uniform
    #                              [0.25, 1.25)), channelswap (left/right swapped with probability 1/2), as the
    #                              openunmix training script's --source-augmentations; [] = none, the references
    "sdr_share": None,  # AMSS models: probability that an item's generator is one of the four SDR queries'
    #                     (separate vocals / drums / bass, mute vocals, drums, bass), else Algorithm 1 (None = Algorithm
    #                     1 alone, the references); a number (the four uniformly) or {vocals: p, drums: p, bass: p,
    #                     other: p} (each query's own probability, sum <= 1)
    # length and stopping
    "max_epochs": 1000,
    "min_epochs": 0,  # no early stop before this epoch
    "max_steps": None,  # hard cap on optimiser steps (overrides max_epochs when smaller)
    "early_stop_patience": None,  # in validation checks; None = no early stopping
    "min_delta": 0.0,
    "keep_top_k": 3,
    # validation (waveform L1 on fixed chunks of the valid split)
    "valid_every_epochs": 1,  # None = no periodic validation (only valid_at_end)
    "valid_every_steps": None,  # if set, validate every N steps instead of every N epochs
    "valid_at_end": True,  # also validate after the last step (if that step was not a validation step)
    "valid_tracks": None,  # at most this many valid tracks (None = all)
    "valid_seconds": None,  # crop each valid track to its first N seconds (None = whole track)
    "valid_queries": 8,  # AMSS, valid_scheme suite: descriptions per valid track (fixed, seeded)
    "valid_scheme": "suite",  # AMSS: suite (seeded training descriptions, whole-track pairs) | reference (the 25/4
    #                           default evaluation descriptions, each window edited and normalised on its own)
    "valid_weighting": "entry",  # entry (L1 of the stitched track per entry) | window (L1 per window, the references')
    "valid_batch": 4,
    "valid_cache": "auto",  # keep the validation windows in memory between checks: auto (if < 512 MiB) | bool
    # checkpoints and logging
    "checkpoint_every_steps": None,  # besides every validation; None = only at validations and the end
    "log_every_steps": 10,
    # precision and speed
    "precision": "auto",  # auto (fp16 + grad scaler on CUDA, fp32 on CPU) | fp32 | bf16 | fp16
    "compile": False,  # torch.compile the network
    "channels_last": False,  # channels-last memory format for the convolutions
    "threads": None,  # torch CPU threads (None = torch's default)
    "deterministic": True,  # cuDNN deterministic / no benchmark on GPU (CPU is deterministic anyway)
    "find_unused_parameters": False,  # DDP option
}

_EMBEDDED_COMMON = dict(
    lr=5e-3,
    batch_size=8,
    segment=4032,  # 16 frames of the embedded STFT (hop 256): 15·256; validation still uses the 128-frame windows
    max_epochs=1000,  # the step budget (max_steps) decides
    max_steps=200,
    valid_every_steps=50,  # the best of the periodic validations is kept (keep_top_k 1)
    valid_every_epochs=None,
    valid_tracks=2,
    valid_seconds=3.0,
    valid_queries=8,
    valid_batch=8,
    keep_top_k=1,
    log_every_steps=10,
    precision="fp32",
    early_stop_patience=None,
    channels_last=True,  # 1.2-1.3x per step on CPU (docs/performance.md, "Training")
    # one thread: bit-identical weights on any machine whatever its core count, and no OpenMP barrier stalls when
    # another process shares the machine (2 threads ran 3x slower then, docs/performance.md "A busy machine"); the
    # second core trains another stem (train --jobs) or evaluates another unit (evaluate --workers)
    threads=1,
)

#: the references' validation (docs/fidelity.md §3): L1 per window, for every paper recipe
_PAPER_VALID = dict(valid_weighting="window")
_U7_PAPER = dict(optimizer="adam", lr=1e-3, batch_size=64, max_epochs=2000, valid_every_epochs=1,
                 early_stop_patience=100, keep_top_k=3, num_workers=8, **_PAPER_VALID)

#: the embedded conditioned U-Nets' target draw: other 4 / 7.5 = 53 %, bass 20 %, vocals and drums 13 % each
_CUNET_TARGET_WEIGHTS = {"vocals": 1.0, "drums": 1.0, "bass": 1.5, "other": 4.0}
#: the FiLM CUNets' milder draw: other 2.5 / 6 = 42 %, bass 25 %, vocals and drums 17 % each (MODEL_RECIPES)
_FILM_TARGET_WEIGHTS = {"vocals": 1.0, "drums": 1.0, "bass": 1.5, "other": 2.5}

#: the lighter draw of the four SDR queries' generators (recipe key sdr_share) for AMSS-Net w/o CSA: 32.5 % of the
#: items, `other` (mute vocals, drums, bass) 15 %, vocals and bass 6.25 %, drums 5 %; the rest Algorithm 1
#: (MODEL_RECIPES)
_AMSS_SDR_SHARE = {"vocals": 0.0625, "drums": 0.05, "bass": 0.0625, "other": 0.15}
#: the heavier draw: the four SDR queries' generators in 55 % of the items (other 25 %, bass 15 %, vocals 10 %, drums
#: 5 %); AMSS-Net_separate (the rest uniform over its 14 task1 generators), AMSS-Net and w/o SMPoCM (the rest
#: Algorithm 1)
_AMSS_HEAVY_SDR_SHARE = {"vocals": 0.1, "drums": 0.05, "bass": 0.15, "other": 0.25}
#: AMSS-Net's and w/o SMPoCM's embedded recipe: the heavier draw for 2 400 steps (the family's lr × 0.1 from step
#: 1 800 on)
_AMSS_HEAVY_RECIPE = dict(sdr_share=_AMSS_HEAVY_SDR_SHARE, max_steps=2400)

#: family -> profile -> recipe keys (models.md §4.2; see docs/training.md for the choices).
RECIPES: dict[str, dict[str, dict]] = {
    # Ch.3 U7: Adam 1e-3 (README), no schedule, 16 × 4 GPUs, fp16, L1 validation, 1000–2000 epochs,
    # early stop patience 100 epochs, top 3.
    "u7": {
        "paper": dict(_U7_PAPER),
        "embedded": dict(_EMBEDDED_COMMON),
    },
    # Ch.3 U17: lr 5e-4 (thesis "5e-4–1e-3 by depth"), otherwise as U7.
    "u17": {
        "paper": dict(_U7_PAPER, lr=5e-4),
        "embedded": dict(_EMBEDDED_COMMON, max_steps=100),
    },
    # Ch.3 large U9: Adam 1e-3, 24 × 4 GPUs, 2000–3000 epochs, patience 200.
    "u9l": {
        "paper": dict(optimizer="adam", lr=1e-3, batch_size=96, max_epochs=3000, valid_every_epochs=1,
                      early_stop_patience=200, keep_top_k=3, num_workers=8, **_PAPER_VALID),
        "embedded": dict(_EMBEDDED_COMMON, max_steps=100),
    },
    # Ch.4 CUNets (2020 recipe): Adam 1e-3, no schedule, batch 8 on 1 GPU, >= 100 epochs, patience 50, top 3.
    "cunet": {
        "paper": dict(optimizer="adam", lr=1e-3, batch_size=8, max_epochs=1000, min_epochs=100,
                      valid_every_epochs=1, early_stop_patience=50, keep_top_k=3, num_workers=8, **_PAPER_VALID),
        # the CaC-direct CUNets sit at the silence level for their first 300-450 steps (docs/training.md); the GPoCM
        # CUNets (embedded: no condition-generator dropout, registry) learn clearly with 900 steps and the lr × 0.1
        # for the last quarter (cunet-gpocm seed 2021: 0.951 × silence after 600 constant-lr steps, 0.861 so);
        # `other` (the quietest target, the smallest share of the loss) stayed below 1 dB test SDR at 900 steps
        # (0.42-0.81 dB) and at 1 500 uniform steps (0.90): it is drawn as the target in 53 % of the items and bass
        # in 20 % (target_weights), 1 200 steps: 1.04-1.23 dB for seed 2020, cunet-gpocm 1.24 / 1.19 for 2019 / 2021
        # (docs/training.md, "Every SDR task above 1 dB");
        # the FiLM CUNets have their own target draw (MODEL_RECIPES)
        "embedded": dict(_EMBEDDED_COMMON, max_steps=1200, valid_every_steps=150, schedule="step", step_at=0.75,
                         step_factor=0.1, target_weights=_CUNET_TARGET_WEIGHTS),
    },
    # LaSAFT-GPoCM-Net_12: Adam 1e-4, plateau (×0.5, patience 50 epochs), 4 × 4 GPUs, early stop patience 10.
    "lasaft12": {
        "paper": dict(optimizer="adam", lr=1e-4, schedule="plateau", plateau_factor=0.5, plateau_patience_epochs=50,
                      batch_size=16, max_epochs=1000, valid_every_epochs=1, early_stop_patience=10, keep_top_k=3,
                      num_workers=8, **_PAPER_VALID),
        # as the GPoCM CUNets before their other-weighted target draw (embedded: no condition-generator dropout,
        # registry): that draw with 1 200 steps lowered Net_12's `other` test SDR (0.75 -> 0.60 dB) and slowed its
        # validation (0.834 -> 0.890 x silence), so it keeps the uniform draw; at 8 channels lr 2e-3, 1 800 / 2 400
        # steps, a TDF floor of 16, 16 channels (900 steps) and 32-frame segments did not bring `other` to 1 dB
        # (0.46-0.92 dB, seed 2020). 16 channels (registry) with 1 800 steps (lr x 0.1 from step 1 350): vocals /
        # drums / bass / other 4.37 / 6.24 / 3.22 / 1.04 dB, validation 0.632 x silence (docs/training.md)
        "embedded": dict(_EMBEDDED_COMMON, max_steps=1800, valid_every_steps=150, schedule="step", step_at=0.75,
                         step_factor=0.1),
    },
    # Ch.5 AMSS-Net family: Adam 1e-4, no schedule, 4 × 4 GPUs, validation every 10 epochs, >= 100 epochs,
    # early stop patience 40 validation checks, top 3.
    "amss": {
        "paper": dict(optimizer="adam", lr=1e-4, batch_size=16, max_epochs=2000, min_epochs=100,
                      valid_every_epochs=10, early_stop_patience=40, keep_top_k=3, num_workers=8, valid_queries=8,
                      valid_scheme="reference", **_PAPER_VALID),
        # AMSS-Net must learn to pass most of the input through (62 of 87 generators are near-identity edits):
        # measured, it overtakes the identity baseline between 300 and 400 steps (docs/training.md)
        # 24 descriptions per valid track (48 entries): with 8 (16 entries) the identity comparison flipped with the
        # draw of descriptions (docs/training.md)
        # lr × 0.1 for the last quarter: 1.5-2.5 % lower validation L1 at the same 400 steps; gradient norm clipped at
        # 0.1 (the references do not clip): another 0.5-2 % for AMSS-Net and w/o CSA (docs/training.md)
        # 1 600 steps: 5 % below the identity needed >= 1 600 steps at constant lr (docs/training.md); validation
        # every 400 steps gives the learning curve the report shows
        "embedded": dict(_EMBEDDED_COMMON, max_steps=1600, valid_every_steps=400, valid_queries=24, schedule="step",
                         step_at=0.75, step_factor=0.1, grad_clip=0.1),
    },
    # The survey's learned separators (models/survey; docs/training.md, "Survey separators"). Paper recipes: what the
    # papers state (Wave-U-Net: Adam 1e-4, batch 16, early stop after 20 epochs of 2 000 iterations), else the
    # suite's choice (Adam 1e-3, batch 16, patience 20 checks); the embedded budgets are measured (docs/training.md).
    "mmdensenet": {
        "paper": dict(optimizer="adam", lr=1e-3, batch_size=16, max_epochs=1000, valid_every_epochs=1,
                      early_stop_patience=20, keep_top_k=3, num_workers=8, **_PAPER_VALID),
        # lr 1e-3 on 16 128-sample (64-frame) windows: at lr 5e-3 on 16 frames `other` never cleared silence
        # (validation L1 ≥ 0.96 × silence within 300 steps, also with a mask output); so it clears it by 12 % at
        # step 100 (docs/training.md, "Survey separators")
        "embedded": dict(_EMBEDDED_COMMON, lr=1e-3, segment=16128, max_steps=150),
    },
    "waveunet": {
        "paper": dict(optimizer="adam", lr=1e-4, batch_size=16, epoch_items=2000 * 16, max_epochs=1000,
                      valid_every_epochs=1, early_stop_patience=20, keep_top_k=3, num_workers=8, **_PAPER_VALID),
        # a waveform model: no channels-last (1-D convolutions), a 16 384-sample training window; lr 1e-3 (5e-3
        # validates the same but stalls in the one-batch overfit check; docs/training.md, "Survey separators")
        "embedded": dict(_EMBEDDED_COMMON, lr=1e-3, segment=16384, channels_last=False, max_steps=300,
                         valid_every_steps=100),
    },
    "wavenet": {
        "paper": dict(optimizer="adam", lr=1e-3, batch_size=16, max_epochs=1000, valid_every_epochs=1,
                      early_stop_patience=20, keep_top_k=3, num_workers=8, **_PAPER_VALID),
        # 4 096-sample windows (the receptive field of 2 stacks × dilations 1-128 is ≈ 1 000 samples): every layer
        # convolves at the full rate, and 8 192-sample windows were too slow for the budget; 200 steps ended at
        # 0.963 × silence, 400 at 0.847 (docs/training.md, "Survey separators")
        "embedded": dict(_EMBEDDED_COMMON, segment=4096, channels_last=False, max_steps=400, valid_every_steps=100),
    },
    "deepconvsep": {
        "paper": dict(optimizer="adam", lr=1e-3, batch_size=32, max_epochs=1000, valid_every_epochs=1,
                      early_stop_patience=20, keep_top_k=3, num_workers=8, **_PAPER_VALID),
        # segment None: the network takes exactly num_frame frames (its window)
        "embedded": dict(_EMBEDDED_COMMON, segment=None, max_steps=300, valid_every_steps=100),
    },
    # The survey's separators (models/packaged.py). Paper: the packages' published training recipes, batch and segment
    # as published (Open-Unmix: Adam 1e-3, weight decay 1e-5, batch 16, 6-s excerpts, ReduceLROnPlateau x0.3 after
    # 80 epochs, early stop 140, input standardisation from the training set's statistics, random gain and channel
    # swap of every source; Demucs v2 and Conv-TasNet
    # as trained in Defossez et al. 2019: Adam 3e-4, batch 64, 8-s excerpts, 180 / 360 epochs). Their losses (UMX:
    # MSE on magnitudes, as here; Demucs: L1 and Conv-TasNet: SI-SNR on waveforms) differ from the trainer's MSE
    # (docs/models.md, "The survey's learned separators").
    "umx": {
        "paper": dict(optimizer="adam", lr=1e-3, weight_decay=1e-5, batch_size=16, segment=264_600, max_epochs=1000,
                      schedule="plateau", plateau_factor=0.3, plateau_patience_epochs=80, early_stop_patience=140,
                      valid_every_epochs=1, keep_top_k=3, num_workers=8, input_stats=True,
                      source_augmentations=["gain", "channelswap"], **_PAPER_VALID),
        # embedded: without the input statistics or the source augmentations; with them `other` went from 1.007 to
        # 1.08-1.33 x silence (statistics, lr 1e-3 to 5e-3) and 0.974-1.053 (augmentations, 0.05-0.71 dB test SDR)
        # (docs/training.md, "More Open-Unmix and Wave-U-Net configurations")
        "embedded": dict(_EMBEDDED_COMMON, lr=3e-3, max_steps=600, valid_every_steps=200),
    },
    "demucs": {
        "paper": dict(optimizer="adam", lr=3e-4, batch_size=64, segment=352_800, max_epochs=180, valid_every_epochs=1,
                      keep_top_k=3, num_workers=8, **_PAPER_VALID),
        "embedded": dict(_EMBEDDED_COMMON, lr=3e-3, segment=16_384, max_steps=1600, valid_every_steps=200),
    },
    "convtasnet": {
        "paper": dict(optimizer="adam", lr=3e-4, batch_size=64, segment=352_800, max_epochs=360, valid_every_epochs=1,
                      keep_top_k=3, num_workers=8, **_PAPER_VALID),
        "embedded": dict(_EMBEDDED_COMMON, lr=3e-3, segment=8_192, max_steps=300, valid_every_steps=100),
    },
}


#: model -> profile -> recipe keys that differ from the model's family (applied after the family recipe).
MODEL_RECIPES: dict[str, dict[str, dict]] = {
    # task1 (separate/mute) is far from the identity; the lr drop and the clipping that help the task2 models slowed
    # it down (validation L1 0.0338 constant lr, 0.0349 with the lr drop, 0.0355 with lr drop + clipping at 400 steps).
    # At 8 channels its `other` stayed at 0.20-0.68 dB test SDR in eight recipes; with 16 channels (registry), the
    # weighted draw and 32-frame training segments: 2.12 / 1.84 / 1.50 / 1.01 dB, validation 0.758 x silence (16
    # frames: other 0.88 dB) (docs/training.md, "The AMSS models' separation queries")
    "amss-net-separate": {"embedded": dict(schedule="none", grad_clip=None, max_steps=400, segment=8064,
                                           sdr_share=_AMSS_HEAVY_SDR_SHARE)},
    # AMSS-Net (task2): under Algorithm 1 the four SDR queries' generators are 4 of 87 (4.6 % of the items) and its
    # separation SDR stayed below 1 dB (vocals / drums / bass / other 0.52 / 2.04 / 0.28 / -0.35 dB, seed 2020). With
    # those generators drawn in 32.5 % of the items, `other` (mute vocals, drums, bass) the most: 3.29 / 2.98 / 1.16 /
    # 1.07 dB, validation 0.922 x identity (was 0.933); a uniform 25 % left `other` at 0.03 dB (docs/training.md,
    # "Every SDR task above 1 dB"). That draw cleared 1 dB for seed 2020 only (other 0.98 / 0.45 dB for seeds 2019 /
    # 2021); the heavier draw for 2 400 steps (lr x 0.1 from step 1 800) clears it for seeds 2019 / 2020 / 2021
    # (other 1.03 / 1.05 / 1.08 dB, validation 0.909 / 0.905 / 0.929 x identity); 1 600 and 2 000 steps did not
    # (docs/training.md, "Seed robustness of the AMSS and FiLM recipes")
    "amss-net": {"embedded": dict(_AMSS_HEAVY_RECIPE)},
    # AMSS-Net w/o CSA: the lighter draw (_AMSS_SDR_SHARE, AMSS-Net's earlier recipe) for 1 600 steps missed both lines
    # (validation 0.956 x identity, other 0.998 dB); 2 000 steps (lr x 0.1 from step 1 500): 3.56 / 3.19 / 1.13 /
    # 1.08 dB, validation 0.926 (docs/training.md)
    "amss-net-wo-csa": {"embedded": dict(sdr_share=_AMSS_SDR_SHARE, max_steps=2000)},
    # AMSS-Net w/o SMPoCM: with AMSS-Net's draw its bass and `other` stayed below 1 dB at 1 600-2 400 steps, 16 channels
    # or 32-frame segments (best minimum 0.56 dB). The heavier draw for 2 400 steps (lr x 0.1 from step 1 800):
    # 2.80 / 2.46 / 1.86 / 1.15 dB, validation 0.949 x identity (2 000 steps: other 1.02 dB but validation 0.956)
    # (docs/training.md, "The AMSS models' separation queries")
    "amss-net-wo-smpocm": {"embedded": dict(_AMSS_HEAVY_RECIPE)},
    # the FiLM CUNets (embedded: 24 channels, no condition-generator dropout, registry) leave the silence level within
    # 600 constant-lr steps (cunet-film seeds 2019 / 2020 / 2021: 0.847 / 0.893 / 0.852 × silence; docs/training.md,
    # "The embedded CUNet configurations"), but with the uniform draw bass and other stayed below 1 dB test SDR
    # (0.21-0.94 dB, seed 2020). cunet-film: the family's 1 200 steps with the lr × 0.1 from 75 %, and the milder
    # w1 draw (other 42 %, bass 25 %): 1.14 dB minimum (other), 0.770 × silence. The GPoCM CUNets' w2 draw (other
    # 53 %) kept it at the silence level until step 900 (0.932 × silence) and cost drums 1 dB (0.87 dB)
    # (docs/training.md, "Every SDR task above 1 dB"); with the same recipe cunet-film-tdf / -lasaft: 1.41 / 1.07 dB
    # minimum (other), 0.690 / 0.711 × silence
    "cunet-film": {"embedded": dict(target_weights=_FILM_TARGET_WEIGHTS)},
    "cunet-film-tdf": {"embedded": dict(target_weights=_FILM_TARGET_WEIGHTS)},
    "cunet-film-lasaft": {"embedded": dict(target_weights=_FILM_TARGET_WEIGHTS)},
    # 16 channels, 16-unit TDF floor (models/registry.py): vocals, drums and bass clear silence within 100-200 steps
    # (docs/training.md, "Embedded width sweep")
    "u9l-tfc-tdf": {"embedded": dict(max_steps=200)},
    # DCSE (CaC output) with the 16-unit TDF floor: drums and bass clear silence within 200 steps, other needs 300
    # (0.958 / 0.878 x silence after 200 / 300 steps; 16 channels: 0.854 after 200 at ~4x the convolution cost)
    "u7-dcse": {"embedded": dict(max_steps=300)},
    # DME: at lr 5e-3 its `other` validation L1 jumps by up to 27 % between checks 50 steps apart and the kept
    # checkpoint (step 50) scored 0.77 dB test SDR; lr 2e-3 for 300 steps, seed 2020: vocals / drums / bass / other
    # 4.87 / 5.83 / 2.38 / 1.06 dB (validation 0.52 / 0.57 / 0.75 / 0.93 x min(identity, silence)); `other` seed
    # 2021 / 2019 1.16 / 1.42 dB, 0.92 / 0.92 (docs/training.md, "Every SDR task above 1 dB")
    "u7-dme": {"embedded": dict(lr=2e-3, max_steps=300)},
    # CME-tanh: its bass sits at the silence level through step 250 (0.976 x silence, 0.83 dB test SDR after 200
    # steps; lr 2e-3 for 300 steps did not move it) and leaves it from step 300 on; 400 steps, seed 2020: vocals /
    # drums / bass / other 4.96 / 7.49 / 2.60 / 1.28 dB (validation 0.54 / 0.42 / 0.76 / 0.85); seed 2021: bass 2.88,
    # other 1.76 dB (docs/training.md, "Every SDR task above 1 dB")
    "u7-cme-tanh": {"embedded": dict(max_steps=400)},
}


class RecipeError(ValueError):
    """A recipe key or value is not valid (the message names the key and its origin)."""


def _number(v) -> bool:
    return not isinstance(v, bool) and isinstance(v, (int, float))


def target_weights_problem(weights) -> str | None:
    """What is wrong with a non-null ``target_weights`` value (a mapping naming every source to a weight >= 0, not all
    0), or None. Shared by :func:`validate` and ``models.training.data.target_cdf``."""
    from benchmark.base.constants import SOURCES

    if (not isinstance(weights, dict) or set(weights) != set(SOURCES)
            or any(not _number(v) or not v >= 0 for v in weights.values()) or not sum(weights.values()) > 0):
        return (f"training key 'target_weights' must be null or map every source ({', '.join(SOURCES)}) to a weight "
                f">= 0, not all 0; got {weights!r}")
    return None


def source_augmentations_problem(augmentations) -> str | None:
    """What is wrong with a ``source_augmentations`` value (a list or tuple of distinct names from
    :data:`SOURCE_AUGMENTATIONS`), or None. Shared by :func:`validate` and ``models.training.data.TrainSet``."""
    if (not isinstance(augmentations, (list, tuple)) or any(a not in SOURCE_AUGMENTATIONS for a in augmentations)
            or len(set(augmentations)) != len(augmentations)):
        return (f"training key 'source_augmentations' must be a list of distinct names from "
                f"{', '.join(SOURCE_AUGMENTATIONS)}, got {augmentations!r}")
    return None


def sdr_share_problem(share) -> str | None:
    """What is wrong with a non-null ``sdr_share`` value (a number in [0, 1], or a mapping naming every source to a
    probability >= 0, summing to at most 1 give or take 1e-12, so that a mapping written to sum to 1 whose float sum
    rounds above it passes), or None. Shared by :func:`validate` and
    ``models.training.data.sdr_share_cdf``."""
    from benchmark.base.constants import SOURCES

    def prob(v):
        return _number(v) and 0 <= v <= 1

    if isinstance(share, dict):
        ok = set(share) == set(SOURCES) and all(prob(v) for v in share.values()) and sum(share.values()) <= 1 + 1e-12
    else:
        ok = prob(share)
    if not ok:
        return (f"training key 'sdr_share' must be null, a number in [0, 1] or map every source "
                f"({', '.join(SOURCES)}) to a probability >= 0 summing to at most 1; got {share!r}")
    return None


#: registry name or alias -> (registry name, recipe family), filled by the registry (:func:`register_model`)
_MODELS: dict[str, tuple[str, str]] = {}


def register_model(name: str, family: str, *, aliases: tuple[str, ...] = (), recipes: dict | None = None) -> None:
    """Record a registry entry's recipe family (and its own recipe keys, ``{"embedded": {...}, "paper": {...}}``);
    called by the registry for every model it holds."""
    if family not in RECIPES:
        raise RecipeError(f"model {name!r}: unknown recipe family {family!r}; known: {', '.join(RECIPES)}")
    if recipes is not None:
        register_model_recipes(name, recipes)
    for n in (name, *aliases):
        _MODELS[n] = (name, family)


def unregister_model(name: str) -> None:
    """Forget a model registered with :func:`register_model` (its aliases and its own recipe keys too)."""
    for n in [n for n, (base, _) in _MODELS.items() if base == name]:
        del _MODELS[n]
    MODEL_RECIPES.pop(name, None)


def _entry(model_name: str) -> tuple[str, str]:
    """(registry name, recipe family) of ``"u7-dcse"``, ``"amss-net@embedded"``, an alias …"""
    plugins.ensure_loaded()  # out-of-tree models register themselves on the first look-up
    base = model_name.partition("@")[0]
    if base not in _MODELS:
        raise KeyError(f"unknown model {model_name!r}; registered: {', '.join(_model_names())}")
    return _MODELS[base]


def _model_names() -> list[str]:
    return [n for n, (base, _) in _MODELS.items() if n == base]


def family_of(model_name: str) -> str:
    """Recipe family of a registry model (``"u7-dcse"``, ``"amss-net@embedded"``, aliases …): its entry's
    ``recipe_family``."""
    return _entry(model_name)[1]


def _checked_profiles(recipes: dict, origin: str, *, both: bool) -> dict:
    if not isinstance(recipes, dict) or (both and set(recipes) != set(PROFILES)) or not set(recipes) <= set(PROFILES):
        raise RecipeError(f"{origin}: expected a mapping with the profile keys {' and '.join(PROFILES)}"
                          f"{'' if both else ' (either or both)'}, got {recipes!r}")
    out = {}
    for profile, keys in recipes.items():
        if not isinstance(keys, dict):
            raise RecipeError(f"{origin}.{profile}: expected a mapping of training keys, got {keys!r}")
        _check({}, keys, f"{origin}.{profile}")
        validate(dict(copy.deepcopy(DEFAULTS), **keys))
        out[profile] = copy.deepcopy(keys)
    return out


def register_family(name: str, *, paper: dict, embedded: dict) -> None:
    """Add a recipe family for out-of-tree models (keys over :data:`DEFAULTS`, as in :data:`RECIPES`); it can then
    be overridden in ``params.yaml`` ``train.<profile>.<name>`` like a built-in family. A taken name is refused."""
    if not isinstance(name, str) or not name or "." in name:
        raise RecipeError(f"recipe family name must be a non-empty string without '.', got {name!r}")
    if name in RECIPES:
        raise RecipeError(f"recipe family {name!r} already exists ({'built in' if name in FAMILIES else 'registered'})"
                          f"; choose another name or use it as it is")
    RECIPES[name] = _checked_profiles({"paper": paper, "embedded": embedded}, f"recipe family {name!r}", both=True)
    plugins.record(lambda: RECIPES.pop(name, None))


def register_model_recipes(model: str, recipes: dict) -> None:
    """Per-model recipe keys (``{"embedded": {...}, "paper": {...}}``) of an out-of-tree model."""
    if model in MODEL_RECIPES:
        raise RecipeError(f"model {model!r} already has recipe entries")
    MODEL_RECIPES[model] = _checked_profiles(recipes, f"recipes of model {model!r}", both=False)



def _check(recipe: dict, keys: dict, origin: str) -> None:
    for key in keys:
        if key not in DEFAULTS:
            raise RecipeError(f"{origin}: unknown training key {key!r}; known keys: {', '.join(sorted(DEFAULTS))}")


def validate(recipe: dict) -> dict:
    """Check value domains; returns the recipe."""

    def choice(key, options):
        if recipe[key] not in options:
            raise RecipeError(f"training key {key!r} is {recipe[key]!r}; expected one of {', '.join(options)}")

    choice("optimizer", OPTIMIZERS)
    choice("schedule", SCHEDULES)
    choice("precision", PRECISIONS)
    choice("peak_mode", ("signed", "abs"))
    choice("valid_scheme", ("suite", "reference"))
    choice("valid_weighting", ("entry", "window"))
    if not isinstance(recipe["input_stats"], bool):
        raise RecipeError(f"training key 'input_stats' must be true or false, got {recipe['input_stats']!r}")
    problem = source_augmentations_problem(recipe["source_augmentations"])
    if problem:
        raise RecipeError(problem)
    for key in ("batch_size", "max_epochs", "keep_top_k", "valid_batch", "log_every_steps"):
        if not isinstance(recipe[key], int) or isinstance(recipe[key], bool) or recipe[key] < 1:
            raise RecipeError(f"training key {key!r} must be a positive integer, got {recipe[key]!r}")
    for key in ("valid_every_epochs", "max_steps", "segment", "epoch_items", "valid_every_steps", "checkpoint_every_steps",
                "early_stop_patience", "valid_tracks"):
        v = recipe[key]
        if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 1):
            raise RecipeError(f"training key {key!r} must be a positive integer or null, got {v!r}")
    if recipe["threads"] is not None and (not isinstance(recipe["threads"], int) or recipe["threads"] < 1):
        raise RecipeError(f"training key 'threads' must be a positive integer or null, got {recipe['threads']!r}")
    if not isinstance(recipe["num_workers"], int) or recipe["num_workers"] < 0:
        raise RecipeError(f"training key 'num_workers' must be >= 0, got {recipe['num_workers']!r}")
    if not 0.0 < float(recipe["step_at"]) <= 1.0 or not 0.0 < float(recipe["step_factor"]) <= 1.0:
        raise RecipeError(f"training keys 'step_at' and 'step_factor' must be in (0, 1], got {recipe['step_at']!r} and "
                          f"{recipe['step_factor']!r}")
    for key, problem in (("target_weights", target_weights_problem), ("sdr_share", sdr_share_problem)):
        if recipe[key] is not None and (msg := problem(recipe[key])):
            raise RecipeError(msg)
    if not float(recipe["lr"]) > 0:
        raise RecipeError(f"training key 'lr' must be > 0, got {recipe['lr']!r}")
    return recipe


def recipe_for(model_name: str, profile: str = "embedded", params: dict | None = None, **overrides) -> dict:
    """The resolved recipe for a model and profile (see the module docstring for the precedence)."""
    if profile not in PROFILES:
        raise RecipeError(f"profile must be one of {', '.join(PROFILES)}, got {profile!r}")
    base, family = _entry(model_name)
    recipe = copy.deepcopy(DEFAULTS)
    recipe.update(copy.deepcopy(RECIPES[family][profile]))
    recipe.update(copy.deepcopy(MODEL_RECIPES.get(base, {}).get(profile, {})))
    train = (params or {}).get("train") or {}
    if not isinstance(train, dict):
        raise RecipeError("params.yaml: field 'train' must be a mapping")
    by_profile = train.get(profile) or {}
    if not isinstance(by_profile, dict):
        raise RecipeError(f"params.yaml: field 'train.{profile}' must be a mapping")
    models = _model_names()
    unknown = [k for k in by_profile if k not in ("all", *RECIPES, *models)]
    if unknown:
        raise RecipeError(f"params.yaml: train.{profile} has unknown section(s) {', '.join(map(repr, unknown))}; "
                          f"expected 'all', a family ({', '.join(RECIPES)}) or a model name ({', '.join(models)})")
    for section in ("all", family, base):
        block = by_profile.get(section) or {}
        if not isinstance(block, dict):
            raise RecipeError(f"params.yaml: field 'train.{profile}.{section}' must be a mapping")
        _check(recipe, block, f"params.yaml train.{profile}.{section}")
        recipe.update(block)
    _check(recipe, overrides, "override")
    recipe.update(overrides)
    validate(recipe)
    recipe["family"] = family
    recipe["profile"] = profile
    return recipe
