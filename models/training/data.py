"""Training and validation data: on-the-fly remix augmentation and AMSS triples (models.md §4.1, protocol §2.5).

Training items
--------------
Each item draws each of the four stems from an **independently chosen training track and offset** (window
``segment`` samples, both channels together) — the reference "mixing sources from different tracks" augmentation.
No polarity flip.

With the recipe key ``source_augmentations`` (the openunmix training script's source augmentations; none by
default, the references'), each of the four segments is first changed on its own, in the order listed: ``gain``
multiplies it by a factor uniform in [0.25, 1.25), ``channelswap`` swaps its left and right channels with probability
1/2. Their random numbers come from a stream of their own (``STREAM_AUGMENT``), so the tracks, offsets, targets and
descriptions of the items are those of the same recipe without augmentation.

* ``kind="dedicated"``: input = sum of the four segments, target = the fixed source's segment.
* ``kind="conditioned"``: the target index is uniform over the four sources; condition = that index.
* ``kind="amss"``: corrected Algorithm 1 on the four segments: a seeded :class:`benchmark.task.aml.Sampler`
  (generator uniform over the task set — 87 for ``task2``, 14 for ``task1`` — then description uniform),
  :func:`benchmark.task.dsp.make_pair` (DSP on the segment only, joint peak normalisation, dereverb swap);
  condition = the description's token ids (:func:`benchmark.task.aml.encode`). With the recipe key ``sdr_share``
  (embedded profile only; None = Algorithm 1 alone) an item's generator is, with that probability, drawn from the
  four generators of the SDR evaluation queries (:func:`sdr_generators`) instead — uniformly for a number, with each
  query's own probability for a mapping (:func:`sdr_share_cdf`) — from one more uniform number of the item's
  generator after the sampler's seed; the items outside the share are Algorithm 1's.

Determinism: an item is addressed by the key ``(epoch, index)`` and all of its randomness comes from
``numpy.random.SeedSequence([seed, STREAM_TRAIN, epoch, index])``. It is therefore a pure function of
``(seed, epoch, index)``: independent of the number of DataLoader workers, of the number of DDP ranks and of
interruptions (resume re-creates exactly the items that follow the checkpoint).

Batches (:class:`StepBatchSampler`): optimiser step ``s`` (global, 0-based) of epoch ``e = s // steps_per_epoch``
consumes the global items ``k·B … k·B + B − 1`` (``k = s mod steps_per_epoch``, ``B`` the effective batch); rank ``r``
of ``W`` gets the contiguous slice ``[r·B/W, (r+1)·B/W)``. A DDP run and a single-process run see the same items.

Validation
----------
:class:`ValidationSet`: the valid split, whole tracks (optionally cropped), each cut into the model's fixed inference
windows with trimmed borders (:func:`models.inference.chunk`). Two choices (recipe keys, docs/fidelity.md §3):

* ``scheme`` (AMSS only): ``"suite"`` — descriptions drawn once from a seeded sampler of the *training* set, the
  pair made on the whole track (one peak normalisation per track); ``"reference"`` — the reference's validation set
  (AMSS-Net ``amss_task2_datasets.py`` / ``amss_task1_datasets.py``): the default *evaluation* descriptions (25 for
  task2, 4 for task1) on every track, each window's stems edited and peak-normalised on their own
  (``SAM_Eval_Dataset`` over ``MusdbUnmixedEvalSet`` windows).
* ``weighting``: ``"entry"`` — the model output is stitched back (:func:`models.inference.stitch`) and the waveform
  L1 to the target is averaged per (track, target/query) entry; ``"window"`` — the L1 of each whole window (trimmed
  borders included, as the references' ``l1_loss`` on the padded windows) averaged over all windows, so longer tracks
  weigh more (the references' ``validation_step``/``validation_epoch_end`` of all three code bases). The reference
  scheme has no whole-track target, so with ``"entry"`` an entry's L1 is the mean of its windows'.

The same numbers for the do-nothing systems — *identity* (return the input) and *silence* — are computed on the same
entries/windows so every run states whether it beats them.
"""

from __future__ import annotations

import functools
import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import soundfile as sf
import torch

from benchmark.task import aml, dsp
from benchmark.base.constants import SOURCES, SR
from models import recipes

log = logging.getLogger("amss_bench.training.data")

KINDS = ("dedicated", "conditioned", "amss")
STREAM_TRAIN = 0x7A1
STREAM_VALID = 0x7A2
STREAM_AUGMENT = 0x7A3
PRELOAD_LIMIT = 1 << 30  # bytes; preload="auto" keeps the training stems in memory below this
VALID_CACHE_LIMIT = 512 << 20


def kind_of(model) -> str:
    """Data kind of a registry model: "dedicated" | "conditioned" | "amss"."""
    family = model.info.family if getattr(model, "info", None) is not None else None
    if family in KINDS:
        return family
    arch = model.config.get("arch")
    if arch in KINDS:
        return arch
    raise ValueError(f"cannot tell the training data kind of model {getattr(model, 'name', model)!r}")


def derive_seed(*keys: int) -> int:
    """A 63-bit integer seed derived from integer keys (stable across platforms and numpy versions)."""
    ss = np.random.SeedSequence([int(k) & 0xFFFFFFFFFFFFFFFF for k in keys])
    return int(ss.generate_state(1, np.uint64)[0] >> np.uint64(1))


def item_rng(seed: int, epoch: int, index: int, stream: int = STREAM_TRAIN) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([int(seed), stream, int(epoch), int(index)])))


# --------------------------------------------------------------------------------------------------------------
# stems


class StemStore:
    """Random access to segments of the four stems of a list of tracks.

    WAV roots (``synthetic``, ``musdb18hq``) are read segment-wise with soundfile; with ``preload`` every track is
    held in memory as (4, N, 2) float32 (shared copy-on-write with forked DataLoader workers). ``musdb18`` (.stem.mp4)
    roots are decoded whole through a small per-process LRU cache (slow: convert to WAV with ``musdbconvert``).
    """

    def __init__(self, dataset, tracks: Sequence[str], preload="auto"):
        self.dataset = dataset
        self.tracks = list(tracks)
        if not self.tracks:
            raise ValueError("no tracks to train on (the train split is empty)")
        self.wav = dataset.source != "musdb18"
        self.lengths = [self._length(t) for t in self.tracks]
        total = sum(self.lengths) * len(SOURCES) * 2 * 4
        if preload == "auto":
            preload = total < PRELOAD_LIMIT
        self.preloaded = None
        if preload:
            self.preloaded = [np.ascontiguousarray(dataset.stems(t), dtype=np.float32) for t in self.tracks]
            self.lengths = [s.shape[1] for s in self.preloaded]
        elif not self.wav:
            log.warning("reading .stem.mp4 tracks segment-wise decodes whole tracks; convert MUSDB18 to WAV "
                        "(musdbconvert) and use data.source = musdb18hq for fast training")

    def _length(self, track: str) -> int:
        if self.wav:
            return int(sf.info(str(self.dataset.track_dir(track) / f"{SOURCES[0]}.wav")).frames)
        return int(self._decoded(track).shape[1])

    @functools.lru_cache(maxsize=8)  # noqa: B019 - per-process cache of decoded tracks, bounded
    def _decoded(self, track: str) -> np.ndarray:
        return np.ascontiguousarray(self.dataset.stems(track), dtype=np.float32)

    def segment(self, track_index: int, source_index: int, start: int, length: int) -> np.ndarray:
        """(length, 2) float32; zero-padded where the track is shorter."""
        out = np.zeros((length, 2), dtype=np.float32)
        if self.preloaded is not None:
            seg = self.preloaded[track_index][source_index, start : start + length]
        elif self.wav:
            path = self.dataset.track_dir(self.tracks[track_index]) / f"{SOURCES[source_index]}.wav"
            seg, _ = sf.read(str(path), start=start, stop=start + length, dtype="float32", always_2d=True)
        else:
            seg = self._decoded(self.tracks[track_index])[source_index, start : start + length]
        out[: len(seg)] = seg
        return out

    def mixture(self, track_index: int) -> np.ndarray:
        """(N, 2) float32: the sum of the four stems of a whole track (from memory when preloaded)."""
        stems = (self.preloaded[track_index] if self.preloaded is not None
                 else np.asarray(self.dataset.stems(self.tracks[track_index]), dtype=np.float32))
        return stems.sum(0, dtype=np.float32)


# --------------------------------------------------------------------------------------------------------------
# training items


def nominal_epoch_items(lengths: Sequence[int], segment: int, kind: str) -> int:
    """models.md §4.1: Σ ⌊len/segment⌋ × targets (1 dedicated, 4 conditioned); AMSS ⌊Σ len / segment⌋ × 4."""
    if kind == "amss":
        n = (sum(lengths) // segment) * 4
    else:
        n = sum(length // segment for length in lengths) * (4 if kind == "conditioned" else 1)
    return max(int(n), 1)


def target_cdf(weights: dict) -> np.ndarray:
    """Cumulative target probabilities (float64, in :data:`SOURCES` order) of the recipe key ``target_weights``:
    a mapping source -> non-negative weight naming every source, normalised to sum 1."""
    if msg := recipes.target_weights_problem(weights):
        raise ValueError(msg)
    w = [float(weights[s]) for s in SOURCES]
    return np.cumsum(np.asarray(w, dtype=np.float64) / sum(w))


def sdr_generators(task_set: str) -> tuple:
    """The generators of ``task_set`` behind the four SDR evaluation queries (:data:`benchmark.task.aml.SDR_DESCRIPTIONS`:
    separate vocals / drums / bass, mute vocals, drums, bass), in that order; the recipe key ``sdr_share`` draws an
    item's generator uniformly among them (its description uniformly among the generator's descriptions)."""
    gens = aml.generators(task_set)
    out = []
    for d in aml.SDR_DESCRIPTIONS:
        hits = [g for g in gens if d in g.descriptions]
        if len(hits) != 1:
            raise ValueError(f"SDR query {d!r}: expected one generator of {task_set!r} with that description, "
                             f"found {len(hits)}")
        out.append(hits[0])
    return tuple(out)


def sdr_share_cdf(share) -> tuple[float, np.ndarray | None]:
    """(total probability, cumulative probabilities in :data:`SOURCES` order or None) of the recipe key ``sdr_share``:
    a number in [0, 1] (the four SDR queries' generators drawn uniformly within it) or a mapping naming every source
    to a probability >= 0, the probabilities summing to at most 1 (source = the SDR task: ``other`` is "mute vocals,
    drums, bass")."""
    if msg := recipes.sdr_share_problem(share):
        raise ValueError(msg)
    if isinstance(share, dict):
        cdf = np.cumsum(np.asarray([float(share[s]) for s in SOURCES], dtype=np.float64))
        return float(cdf[-1]), cdf
    return float(share), None


class TrainSet(torch.utils.data.Dataset):
    """Map-style dataset addressed by ``(epoch, index)`` keys (see the module docstring)."""

    def __init__(self, dataset, kind: str, *, segment: int, seed: int, source: str | None = None,
                 task_set: str = "task2", peak_mode: str = "signed", epoch_items: int | None = None,
                 preload="auto", split: str = "train", target_weights: dict | None = None,
                 sdr_share: float | None = None, source_augmentations: Sequence[str] = ()):
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        if kind == "dedicated" and source not in SOURCES:
            raise ValueError(f"dedicated training needs a source in {SOURCES}, got {source!r}")
        if kind == "amss" and task_set not in ("task1", "task2"):
            raise ValueError(f"AMSS training needs task_set 'task1' or 'task2', got {task_set!r}")
        self.kind = kind
        self.segment = int(segment)
        self.seed = int(seed)
        self.source = source
        self.task_set = task_set
        self.peak_mode = peak_mode
        self.store = StemStore(dataset, dataset.tracks(split), preload)
        self.nominal_items = nominal_epoch_items(self.store.lengths, self.segment, kind)
        self.epoch_items = int(epoch_items) if epoch_items else self.nominal_items
        self.generators = aml.generators(task_set) if kind == "amss" else ()
        # conditioned models: cumulative probabilities of drawing each source as the target (None = uniform, the
        # references' draw, which keeps the item stream of a recipe without the key bit-identical)
        self.target_cdf = None if target_weights is None else target_cdf(target_weights)
        # AMSS models: probability that an item's generator is one of the four SDR queries' generators (None =
        # Algorithm 1 alone, the references' draw, which keeps the item stream of a recipe without the key
        # bit-identical)
        # (a number: the four uniformly; a mapping vocals/drums/bass/other -> probability: each query on its own)
        self.sdr_share, self.sdr_cdf, self.sdr_generators = None, None, ()
        if sdr_share is not None:
            if kind != "amss":
                raise ValueError(f"training key 'sdr_share' applies to AMSS models only, got {sdr_share!r} for kind "
                                 f"{kind!r}")
            self.sdr_share, self.sdr_cdf = sdr_share_cdf(sdr_share)
            self.sdr_generators = sdr_generators(task_set)
        problem = recipes.source_augmentations_problem(source_augmentations)
        if problem:
            raise ValueError(problem)
        self.source_augmentations = tuple(source_augmentations)

    def __len__(self) -> int:
        return self.epoch_items

    def draw(self, epoch: int, index: int) -> dict:
        """The random choices of one item (tracks, offsets, target / description), without reading audio."""
        rng = item_rng(self.seed, epoch, index)
        n_tracks = len(self.store.tracks)
        tracks, starts = [], []
        for j in range(len(SOURCES)):
            t = int(rng.integers(0, n_tracks))
            tracks.append(t)
            starts.append(int(rng.integers(0, max(1, self.store.lengths[t] - self.segment))))
        out = {"tracks": tracks, "starts": starts}
        if self.kind == "conditioned":
            if self.target_cdf is None:
                out["target"] = int(rng.integers(0, len(SOURCES)))
            else:
                out["target"] = min(int(np.searchsorted(self.target_cdf, rng.random(), side="right")),
                                    len(SOURCES) - 1)
        elif self.kind == "amss":
            sampler_seed = int(rng.integers(0, 2**63 - 1))
            # sdr_share: one more uniform number after the sampler's seed, so an item outside the share gets the
            # same generator and description as under Algorithm 1 alone; no draw at all without the key
            u = None if self.sdr_share is None else rng.random()
            if u is not None and u < self.sdr_share:
                pick = random.Random(sampler_seed)
                if self.sdr_cdf is None:  # a number: the four generators uniformly
                    g = self.sdr_generators[pick.randint(0, len(self.sdr_generators) - 1)]
                else:  # a mapping: the generator whose cumulative probability interval holds u
                    k = min(int(np.searchsorted(self.sdr_cdf, u, side="right")), len(self.sdr_generators) - 1)
                    g = self.sdr_generators[k]
                desc = g.descriptions[pick.randint(0, len(g.descriptions) - 1)]
            else:
                g, desc = aml.Sampler(self.task_set, seed=sampler_seed).sample()
            out["generator"] = g.id
            out["description"] = desc
        return out

    def __getitem__(self, key) -> dict:
        epoch, index = key if isinstance(key, tuple) else (0, key)
        d = self.draw(epoch, index)
        stems = np.stack([self.store.segment(t, j, s, self.segment)
                          for j, (t, s) in enumerate(zip(d["tracks"], d["starts"]))])
        if self.source_augmentations:
            self.augment(stems, epoch, index)
        cond = None
        if self.kind == "amss":
            pair = dsp.make_pair(stems, aml.parse(d["description"]), peak_mode=self.peak_mode)
            x, y = pair.input, pair.target
            cond = aml.encode(d["description"])
        else:
            x = stems.sum(axis=0, dtype=np.float32)
            target = SOURCES.index(self.source) if self.kind == "dedicated" else d["target"]
            y = stems[target]
            cond = None if self.kind == "dedicated" else target
        return {
            "input": torch.from_numpy(np.ascontiguousarray(x.T, dtype=np.float32)),
            "target": torch.from_numpy(np.ascontiguousarray(y.T, dtype=np.float32)),
            "cond": cond,
            "key": (int(epoch), int(index)),
        }

    def augment(self, stems: np.ndarray, epoch: int, index: int) -> None:
        """Apply ``source_augmentations`` in place to the (4, N, 2) segments of item ``(epoch, index)``: per source,
        each augmentation in the listed order, one uniform number each from the item's augmentation stream."""
        rng = item_rng(self.seed, epoch, index, STREAM_AUGMENT)
        for j in range(stems.shape[0]):
            for name in self.source_augmentations:
                u = rng.random()
                if name == "gain":
                    stems[j] *= np.float32(0.25 + u)
                elif name == "channelswap" and u < 0.5:
                    stems[j] = stems[j][:, ::-1].copy()


def collate(items: Sequence[dict]) -> dict:
    """Stack waveforms (B, 2, N); conditions: None | LongTensor (B,) | (tokens (B, L) right-padded with 0, lengths)."""
    conds = [it["cond"] for it in items]
    if all(c is None for c in conds):
        cond = None
    elif all(isinstance(c, int) for c in conds):
        cond = torch.tensor(conds, dtype=torch.long)
    else:
        lengths = torch.tensor([len(c) for c in conds], dtype=torch.long)
        tokens = torch.full((len(conds), int(lengths.max())), aml.PAD, dtype=torch.long)
        for i, c in enumerate(conds):
            tokens[i, : len(c)] = torch.tensor(c, dtype=torch.long)
        cond = (tokens, lengths)
    return {
        "input": torch.stack([it["input"] for it in items]),
        "target": torch.stack([it["target"] for it in items]),
        "cond": cond,
        "keys": [it["key"] for it in items],
    }


def move_cond(cond, device):
    if cond is None:
        return None
    if isinstance(cond, (tuple, list)):
        return tuple(c.to(device, non_blocking=True) for c in cond)
    return cond.to(device, non_blocking=True)


class StepBatchSampler(torch.utils.data.Sampler):
    """Yields, for each optimiser step in ``[start_step, end_step)``, this rank's list of ``(epoch, index)`` keys."""

    def __init__(self, steps_per_epoch: int, global_batch: int, start_step: int, end_step: int, rank: int = 0,
                 world_size: int = 1):
        if global_batch % world_size:
            raise ValueError(f"the effective batch {global_batch} is not divisible by the {world_size} processes")
        self.steps_per_epoch = int(steps_per_epoch)
        self.global_batch = int(global_batch)
        self.per_rank = self.global_batch // world_size
        self.start_step = int(start_step)
        self.end_step = int(end_step)
        self.rank = int(rank)

    def keys(self, step: int) -> list[tuple[int, int]]:
        epoch, k = divmod(step, self.steps_per_epoch)
        base = k * self.global_batch + self.rank * self.per_rank
        return [(epoch, base + j) for j in range(self.per_rank)]

    def __iter__(self):
        for step in range(self.start_step, self.end_step):
            yield self.keys(step)

    def __len__(self) -> int:
        return max(0, self.end_step - self.start_step)


def worker_init_fn(worker_id: int) -> None:
    """Worker seeding (items do not depend on it: their randomness is keyed; this only tidies incidental RNGs)."""
    torch.set_num_threads(1)
    s = torch.initial_seed() % 2**32
    np.random.seed(s)
    random.seed(s)


def make_train_loader(trainset: TrainSet, sampler: StepBatchSampler, *, num_workers: int = 0, seed: int = 0,
                      rank: int = 0, pin_memory: bool = False) -> torch.utils.data.DataLoader:
    gen = torch.Generator()
    gen.manual_seed(derive_seed(seed, rank, 0xD1))
    return torch.utils.data.DataLoader(
        trainset,
        batch_sampler=sampler,
        num_workers=num_workers,
        collate_fn=collate,
        worker_init_fn=worker_init_fn if num_workers else None,
        generator=gen,
        pin_memory=pin_memory,
        persistent_workers=False,
        prefetch_factor=4 if num_workers else None,
    )


# --------------------------------------------------------------------------------------------------------------
# validation


@dataclass(frozen=True)
class ValidEntry:
    track: str
    target: int | None  # source index (dedicated / conditioned)
    description: str | None  # AMSS


VALID_SCHEMES = ("suite", "reference")
VALID_WEIGHTINGS = ("entry", "window")


def reference_descriptions(task_set: str) -> tuple[str, ...]:
    """The reference's validation descriptions: the default description of each evaluation generator (task2: the
    25 of ``task2_config.evaluation_amss_set``; task1: the 4 SDR ones of ``task1_config``), in training-set order."""
    if task_set == "task2":
        return aml.EVAL_DESCRIPTIONS
    if task_set == "task1":
        return tuple(d for d in aml.EVAL_DESCRIPTIONS if d in aml.SDR_DESCRIPTIONS)
    raise ValueError(f"task_set must be 'task1' or 'task2', got {task_set!r}")


class ValidationSet:
    """Fixed validation entries of the valid split (see the module docstring).

    ``window``/``hop``/``num_frame``/``min_trim`` come from the model (``model.inference_params()``), so the chunks
    are exactly the model's inference windows with trimmed borders. ``scheme="suite"``: AMSS descriptions are drawn
    once from a seeded sampler (``valid_seed``, fixed across training seeds) per track; ``scheme="reference"``: the
    fixed :func:`reference_descriptions` (``n_queries`` is not used) and per-window pairs (:meth:`windows`).
    """

    def __init__(self, dataset, kind: str, *, hop: int, num_frame: int, min_trim: int, source: str | None = None,
                 task_set: str = "task2", n_queries: int = 8, valid_seed: int = 0, max_tracks: int | None = None,
                 seconds: float | None = None, peak_mode: str = "signed", cache="auto", scheme: str = "suite",
                 weighting: str = "entry"):
        if scheme not in VALID_SCHEMES:
            raise ValueError(f"validation scheme must be one of {', '.join(VALID_SCHEMES)}, got {scheme!r}")
        if weighting not in VALID_WEIGHTINGS:
            raise ValueError(f"validation weighting must be one of {', '.join(VALID_WEIGHTINGS)}, got {weighting!r}")
        self.dataset = dataset
        self.kind = kind
        self.scheme = scheme if kind == "amss" else "suite"  # the scheme only changes the AMSS entries
        self.weighting = weighting
        self.hop, self.num_frame, self.min_trim = int(hop), int(num_frame), int(min_trim)
        self.seconds = seconds
        self.peak_mode = peak_mode
        tracks = dataset.tracks("valid")
        if not tracks:
            raise ValueError(f"{dataset.root}: the valid split is empty; validation needs at least one track")
        if max_tracks:
            tracks = tracks[: int(max_tracks)]
        self.tracks = tracks
        entries = []
        for ti, track in enumerate(tracks):
            if kind == "dedicated":
                entries.append(ValidEntry(track, SOURCES.index(source), None))
            elif kind == "conditioned":
                entries.extend(ValidEntry(track, j, None) for j in range(len(SOURCES)))
            elif self.scheme == "reference":
                entries.extend(ValidEntry(track, None, d) for d in reference_descriptions(task_set))
            else:
                sampler = aml.Sampler(task_set, seed=derive_seed(valid_seed, STREAM_VALID, ti))
                entries.extend(ValidEntry(track, None, sampler.sample()[1]) for _ in range(int(n_queries)))
        self.entries = entries
        if cache == "auto":
            n = sum(self._length(t) for t in tracks) * 2 * 4 * 2
            per_track = len(entries) // len(tracks) if kind == "amss" else 0
            n *= 4 if kind == "conditioned" else (per_track if kind == "amss" else 1)
            cache = n < VALID_CACHE_LIMIT
        self._cache: dict[int, tuple] | None = {} if cache else None
        self._stems_cache: tuple[str, np.ndarray] | None = None

    def _length(self, track: str) -> int:
        if self.seconds:
            return int(round(self.seconds * SR))
        if self.dataset.source != "musdb18":
            return int(sf.info(str(self.dataset.track_dir(track) / "mixture.wav")).frames)
        return SR * 240

    def __len__(self) -> int:
        return len(self.entries)

    def _stems(self, track: str) -> np.ndarray:
        if self._stems_cache is None or self._stems_cache[0] != track:
            stems = self.dataset.stems(track)
            if self.seconds:
                stems = stems[:, : int(round(self.seconds * SR))]
            self._stems_cache = (track, np.ascontiguousarray(stems, dtype=np.float32))
        return self._stems_cache[1]

    def pair(self, i: int) -> tuple[np.ndarray, np.ndarray, object]:
        """(input (N, 2), target (N, 2), raw condition) of entry ``i``."""
        if self._cache is not None and i in self._cache:
            return self._cache[i]
        e = self.entries[i]
        stems = self._stems(e.track)
        if self.kind == "amss":
            p = dsp.make_pair(stems, aml.parse(e.description), peak_mode=self.peak_mode)
            out = (p.input, p.target, aml.encode(e.description))
        else:
            out = (stems.sum(axis=0, dtype=np.float32), stems[e.target],
                   None if self.kind == "dedicated" else e.target)
        if self._cache is not None:
            self._cache[i] = out
        return out

    @property
    def stitched(self) -> bool:
        """Whether the loss is taken on the stitched whole track (suite scheme, entry weighting)."""
        return self.scheme == "suite" and self.weighting == "entry"

    def windows(self, i: int) -> tuple[np.ndarray, np.ndarray, object]:
        """(input windows (K, W, 2), target windows (K, W, 2), raw condition) of entry ``i``: the model's inference
        windows, zero trim borders included. Reference scheme: the window's stems are edited and peak-normalised on
        their own (the reference's ``SAM_Eval_Dataset``); otherwise the windows of the whole-track pair."""
        from models import inference

        key = ("windows", i)
        if self._cache is not None and key in self._cache:
            return self._cache[key]
        args = (self.hop, self.num_frame, self.min_trim)
        if self.scheme == "reference":
            e = self.entries[i]
            stems = np.stack([inference.chunk(s, *args) for s in self._stems(e.track)], axis=1)  # (K, 4, W, 2)
            query = aml.parse(e.description)
            pairs = [dsp.make_pair(w, query, peak_mode=self.peak_mode) for w in stems]
            out = (np.stack([p.input for p in pairs]).astype(np.float32),
                   np.stack([p.target for p in pairs]).astype(np.float32), aml.encode(e.description))
        else:
            x, y, cond = self.pair(i)
            out = (inference.chunk(x, *args), inference.chunk(y, *args), cond)
        if self._cache is not None:
            self._cache[key] = out
        return out

    def label(self, i: int) -> str:
        e = self.entries[i]
        return f"{e.track} | {e.description if e.description is not None else SOURCES[e.target]}"

    def baselines(self, indices: Sequence[int] | None = None) -> dict[str, float]:
        """Sums of the L1 of the do-nothing systems (identity, silence) and the ``count`` they are divided by: per
        entry (``weighting="entry"``: count = entries) or per window (``"window"``: count = windows)."""
        ident = silence = 0.0
        count = 0
        for i in range(len(self)) if indices is None else indices:
            if self.stitched:
                x, y, _ = self.pair(i)
                ident += float(np.mean(np.abs(x - y), dtype=np.float64))
                silence += float(np.mean(np.abs(y), dtype=np.float64))
                count += 1
                continue
            xw, yw, _ = self.windows(i)
            wi = window_l1(xw, yw)
            ws = window_l1(np.zeros_like(yw), yw)
            if self.weighting == "window":
                ident, silence, count = ident + float(np.sum(wi)), silence + float(np.sum(ws)), count + len(wi)
            else:
                ident, silence, count = ident + float(np.mean(wi)), silence + float(np.mean(ws)), count + 1
        return {"identity": ident, "silence": silence, "count": count}


def window_l1(est: np.ndarray, target: np.ndarray) -> np.ndarray:
    """(K,) float64: the mean absolute error of each whole window (K, W, C) — the references' validation L1."""
    return np.mean(np.abs(np.asarray(est, dtype=np.float64) - np.asarray(target, dtype=np.float64)), axis=(1, 2))
