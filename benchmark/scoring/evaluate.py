"""Evaluation runner: a system × the test set → one validated result JSON per (system, task, track) + a summary.

Work units (docs/evaluation.md):

* per test track, **one SDR unit** covering every selected SDR task: the system answers each task, the estimates
  go into **one** joint BSS-Eval call (as museval evaluates a track), and one result per task is written — except
  for the dedicated (chapter 3) families, scored by default the way the ISMIR 2020 code did: each task on its own,
  two sources {target, accompaniment} (``dedicated_scoring="pair"``; docs/fidelity.md §1), with the stem sum
  (``linear_mixture``) as the model input (``sdr_input="auto"``);
* per test track and RMSE-MFCC task, one unit (one estimate, one :func:`benchmark.scoring.metrics.rmse_mfcc` call and
  one :func:`benchmark.scoring.metrics.preservation.preservation` call on the target's sources).

Resumable: before a unit runs, its result files are read; if every one of them exists, is valid and has the
provenance this run would write (:func:`benchmark.scoring.results.resume_key`: manifest hash, pair hashes, task id and
version, system name/label/fingerprint/checkpoint, seed, metric back-end and joint task set, estimate-file hashes),
the unit is skipped. Results are written atomically, so a killed run leaves only complete files; rerunning
recomputes exactly the missing/stale units (an SDR unit is recomputed as a whole if any of its files is missing).

Parallel: ``workers`` processes (this one and ``workers`` − 1 spawned ones; BLAS/OpenMP threads pinned to 1 per
process) evaluate units concurrently; ``workers=None`` picks ``min(cpus, available RAM / estimated per-unit need, units)``.
Distributed: under ``torchrun`` (``RANK``/``WORLD_SIZE`` in the environment) rank r evaluates the tracks with index
i % world == r (index in the manifest's track order); results meet in the shared output folder and rank 0 waits
until every result of every rank is on disk before it writes ``<out>/<system>/summary.json``.

Byte-reproducible: result files and summaries hold no wall time, date or host name. The wall times of the units go to
``<out>/<system>/timing.json`` (``timing.rank<r>.json`` per rank when sharded), which is not a result and which DVC
ignores (``.dvcignore``), and the run's total to the log line of :meth:`Report.line`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import glob
import logging
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from benchmark.scoring import metricinfo
from benchmark.scoring import results as res
from benchmark.base.provenance import array_sha256, environment, git_commit
from benchmark.task.tasks import EVAL_TASKS, TASK_GROUPS, Task, get_task

log = logging.getLogger("amss_bench.evaluate")

BACKENDS = ("fast", "museval", "sdr-only")
SCORINGS = ("pair", "joint")  # dedicated_scoring: how the dedicated (chapter 3) families are scored
SDR_INPUTS = ("auto", "mixture", "linear_mixture")  # what the system is given on the SDR tasks
LINEAR_MIXTURE_FAMILIES = ("dedicated", "conditioned")  # the reference read linear_mixture (protocol §1.4, §4.2)
WIN = HOP = 44100
THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS",
              "NUMEXPR_NUM_THREADS", "BLIS_NUM_THREADS")


class EvaluationError(RuntimeError):
    """A unit failed (the message names the system, the task(s) and the track)."""


# ------------------------------------------------------------------------------------------------------ selection

def select_tasks(spec: str | Sequence[str] | Sequence[Task]) -> tuple[Task, ...]:
    """``"sdr" | "mfcc" | "all"`` or comma-separated task ids / groups (or a sequence of them) → tasks in registry
    order, without duplicates."""
    if isinstance(spec, str):
        items = [s.strip() for s in spec.split(",") if s.strip()]
    else:
        items = list(spec)
    if not items:
        raise ValueError("no tasks selected")
    chosen: set[str] = set()
    for it in items:
        if isinstance(it, Task):
            chosen.add(it.id)
        elif it in TASK_GROUPS:
            chosen.update(t.id for t in TASK_GROUPS[it])
        else:
            chosen.add(get_task(it).id)  # KeyError lists the known ids
    return tuple(t for t in EVAL_TASKS if t.id in chosen)


def distributed_env() -> tuple[int, int]:
    """(rank, world size) from torchrun's environment (0, 1 when not distributed)."""
    try:
        rank = int(os.environ.get("RANK", "0"))
        world = int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        raise ValueError(f"RANK/WORLD_SIZE must be integers, got {os.environ.get('RANK')!r}/"
                         f"{os.environ.get('WORLD_SIZE')!r}") from None
    if world < 1 or not 0 <= rank < world:
        raise ValueError(f"invalid RANK={rank} / WORLD_SIZE={world}")
    return rank, world


def rank_device(device: str) -> str:
    """``cuda`` under torchrun → ``cuda:LOCAL_RANK`` (one GPU per rank); anything explicit is kept."""
    if device == "cuda" and "LOCAL_RANK" in os.environ:
        return f"cuda:{int(os.environ['LOCAL_RANK'])}"
    return device


@dataclass(frozen=True)
class Unit:
    kind: str  # "sdr" | "mfcc"
    task_ids: tuple[str, ...]
    track: str
    track_index: int

    def __str__(self) -> str:
        return f"{'+'.join(self.task_ids)} on {self.track!r}"


def plan(testset, tasks: Sequence[Task], rank: int = 0, world: int = 1) -> list[Unit]:
    """The units of one rank: tracks i with i % world == rank (manifest order); per track the SDR unit first."""
    sdr = tuple(t.id for t in tasks if t.kind == "sdr")
    mfcc = [t.id for t in tasks if t.kind == "mfcc"]
    have = {(e.task_id, e.track) for e in testset.entries}
    units = []
    for i, track in enumerate(testset.tracks()):
        if i % world != rank:
            continue
        missing = [tid for tid in (*sdr, *mfcc) if (tid, track) not in have]
        if missing:
            raise ValueError(f"{testset.path}: the test set has no pair for task(s) {', '.join(missing)} on track "
                             f"{track!r}; rebuild it with these tasks")
        if sdr:
            units.append(Unit("sdr", sdr, track, i))
        units.extend(Unit("mfcc", (tid,), track, i) for tid in mfcc)
    return units


# ------------------------------------------------------------------------------------------------------ options

@dataclass
class Options:
    backend: str = "fast"
    device: str = "cpu"
    seed: int | None = None
    rank: int = 0
    world_size: int = 1
    threads: int | None = 1  # BLAS/OpenMP/torch threads per unit (see limited_threads)
    scoring: str = "joint"  # resolved for the system: "pair" | "joint" (resolve_scoring)
    sdr_input: str = "mixture"  # resolved for the system: "mixture" | "linear_mixture" (resolve_sdr_input)

    def metric_block(self, unit: Unit, task_id: str | None = None) -> dict:
        if unit.kind == "sdr":
            if self.scoring == "pair":
                if task_id is None:
                    raise ValueError("pair scoring: metric_block needs the task id")
                return {"name": metricinfo.family("bss_eval").result_name, "backend": self.backend, "win": WIN,
                        "hop": HOP, "joint_tasks": [task_id], "joint_targets": [get_task(task_id).museval_target],
                        "scoring": "pair", "second_reference": "accompaniment"}
            return {"name": metricinfo.family("bss_eval").result_name, "backend": self.backend, "win": WIN,
                    "hop": HOP, "joint_tasks": list(unit.task_ids),
                    "joint_targets": [get_task(t).museval_target for t in unit.task_ids], "scoring": "joint"}
        # a unit of one task: the block names the first family the task declares (the one that writes it)
        family = metricinfo.family(get_task(unit.task_ids[0]).metric_families[0])
        return {"name": family.result_name, "backend": family.backend}


def resolve_scoring(system, dedicated_scoring: str = "pair") -> str:
    """``pair`` for a system of the dedicated families (u7-*, u17-*, u9l-*: ``system.family == "dedicated"``) unless
    ``dedicated_scoring="joint"``; ``joint`` for every other system."""
    if dedicated_scoring not in SCORINGS:
        raise ValueError(f"dedicated_scoring must be one of {', '.join(SCORINGS)}, got {dedicated_scoring!r}")
    return "pair" if getattr(system, "family", None) == "dedicated" and dedicated_scoring == "pair" else "joint"


def resolve_sdr_input(system, sdr_input: str = "auto") -> str:
    """``auto``: ``linear_mixture`` for the dedicated and conditioned families (the ISMIR 2020 code and the
    thesis-era LaSAFT evaluation fed the stem sum), except a conditioned model run with ``--inference-mode overlap``
    (LaSAFT HEAD, which reads the mixture); ``mixture`` otherwise (AMSS ``task1_eval.py``, baselines, estimates)."""
    if sdr_input not in SDR_INPUTS:
        raise ValueError(f"sdr_input must be one of {', '.join(SDR_INPUTS)}, got {sdr_input!r}")
    if sdr_input != "auto":
        return sdr_input
    if getattr(system, "family", None) == "conditioned" and getattr(system, "mode", None) == "overlap":
        return "mixture"  # LaSAFT HEAD's overlap-aware evaluation reads track.audio (protocol §1.4)
    return "linear_mixture" if getattr(system, "family", None) in LINEAR_MIXTURE_FAMILIES else "mixture"


@functools.cache
def _provenance() -> dict:
    import importlib.metadata

    try:
        version = importlib.metadata.version("amss-bench")
    except importlib.metadata.PackageNotFoundError:
        version = None
    # no git commit (nor a hash of the whole code base) in a result: it changes at every commit, and with it the bytes
    # of every result DVC tracks, so a fresh clone of the commit that adds dvc.lock could never reproduce it. The code
    # that computed a pipeline result is pinned by the md5 of every dependency in dvc.lock; the commit goes to the
    # untracked <system>/timing.json (docs/evaluation.md)
    return {"git_commit": None, "amss_bench_version": version, "environment": environment()}


_ZERO = "0" * 64


def _document(system, testset, unit: Unit, task: Task, opts: Options, *, source_sha256, estimate_sha256=_ZERO,
              estimate_frames=1, model_input: dict | None = None) -> dict:
    entry = testset.entry(task.id, unit.track)
    provenance = _provenance()
    if task.kind == "sdr" and opts.sdr_input != "mixture":
        # the input differs from the test pair's (testset.input_sha256): record what the system was given
        provenance = {**provenance, "model_input": model_input or {"signal": opts.sdr_input}}
    return res.base_document(kind=task.kind, task=task, track=unit.track, testset=testset, entry=entry,
                             system=system, estimate_sha256=estimate_sha256, estimate_frames=estimate_frames,
                             source_sha256=source_sha256, seed=opts.seed if opts.seed is not None else system.seed,
                             device=opts.device, rank=opts.rank, world_size=opts.world_size,
                             metric=opts.metric_block(unit, task.id), provenance=provenance)


def unit_paths(out, system, unit: Unit) -> list[Path]:
    return [res.result_path(out, system.name, tid, unit.track) for tid in unit.task_ids]


def _expected(doc: dict) -> dict:
    """A result document before its metrics are computed, with the settings this code would compute the
    preservation metric with (what resumption compares: filter length, cap)."""
    if res.scored_with(doc, "preservation"):
        from benchmark.scoring.metrics.preservation import CAP_DB, FILTER_TAPS

        doc = {**doc, "preservation": {"filter_taps": FILTER_TAPS, "cap_db": CAP_DB}}
    return doc


def unit_done(out, system, testset, unit: Unit, opts: Options) -> bool:
    """Whether every result of the unit is on disk, valid, and has this run's provenance."""
    paths = unit_paths(out, system, unit)
    if not all(p.is_file() for p in paths):
        return False
    source = system.unit_fingerprint(unit.task_ids, unit.track)
    for tid, p in zip(unit.task_ids, paths):
        try:
            doc = res.read_result(p)
        except (res.ResultValidationError, OSError) as err:
            log.warning("%s: unusable result, recomputing (%s)", p, err)
            return False
        want = res.resume_key(_expected(_document(system, testset, unit, get_task(tid), opts, source_sha256=source)))
        if res.resume_key(doc) != want:
            diff = sorted(k for k in want if want[k] != res.resume_key(doc).get(k))
            log.info("%s: provenance differs (%s); recomputing", p, ", ".join(diff))
            return False
    return True


# ------------------------------------------------------------------------------------------------------ one unit

def _metrics():
    """The compute functions of the SDR families (metric registry) and museval's per-track format."""
    from benchmark.scoring.metrics import to_museval_json

    return metricinfo.family("bss_eval").function(), metricinfo.family("global_sdr").function(), to_museval_json


@contextlib.contextmanager
def limited_threads(n: int | None):
    """Limit the BLAS/OpenMP pools (threadpoolctl) and torch's intra-op threads to ``n`` inside the block.

    Float32 reductions (librosa's MFCC matrix products, the model's convolutions) round differently with another
    thread count, so every unit runs with the same count in the main process and in workers: results are then
    bit-identical whatever ``workers`` is. ``None`` leaves the pools alone."""
    if n is None:
        yield
        return
    import torch

    old = torch.get_num_threads()
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl ships with scikit-learn/scipy stacks
        threadpool_limits = None
    torch.set_num_threads(n)
    try:
        if threadpool_limits is None:
            yield
        else:
            with threadpool_limits(n):
                yield
    finally:
        torch.set_num_threads(old)


def run_unit(system, testset, unit: Unit, opts: Options, out) -> list[Path]:
    """Compute and write the results of one unit; returns their paths."""
    return run_unit_timed(system, testset, unit, opts, out)[0]


def run_unit_timed(system, testset, unit: Unit, opts: Options, out) -> tuple[list[Path], dict]:
    """:func:`run_unit`, also returning the unit's wall times (``timing.json``; never written into a result)."""
    try:
        with limited_threads(opts.threads):
            return _run_unit(system, testset, unit, opts, out)
    except EvaluationError:
        raise
    except Exception as err:
        raise EvaluationError(f"system {system.name!r}, task(s) {', '.join(unit.task_ids)}, track "
                              f"{unit.track!r}: {type(err).__name__}: {err}") from err


def _run_unit(system, testset, unit: Unit, opts: Options, out) -> tuple[list[Path], dict]:
    bss_eval_track, global_sdr, to_museval_json = _metrics()
    t0 = time.perf_counter()
    source = system.unit_fingerprint(unit.task_ids, unit.track)
    tasks = [get_task(t) for t in unit.task_ids]
    pairs, ests = {}, {}
    t_est = 0.0
    model_input, lin = None, None
    if unit.kind == "sdr" and opts.sdr_input == "linear_mixture":
        lin, how = testset.linear_mixture(unit.track)
        model_input = {"signal": "linear_mixture", **how, "sha256": array_sha256(lin)}
    for task in tasks:
        pair = testset.load_pair(task.id, unit.track)
        given = pair
        if lin is not None:
            if lin.shape != pair.input.shape:
                raise ValueError(f"linear mixture of shape {lin.shape} ({model_input['derivation']}), the mixture "
                                 f"{pair.input.shape}")
            given = dataclasses.replace(pair, input=lin)
        t1 = time.perf_counter()
        est = system.estimate(task, given, track=unit.track)
        t_est += time.perf_counter() - t1
        est = np.asarray(est)
        if est.ndim != 2 or est.shape[1] != 2:
            raise ValueError(f"estimate of shape {est.shape}, expected (samples, 2)")
        if task.kind == "mfcc" and est.shape[0] != pair.target.shape[0]:
            raise ValueError(f"estimate has {est.shape[0]} samples, the test pair {pair.target.shape[0]}")
        pairs[task.id], ests[task.id] = pair, np.ascontiguousarray(est, dtype=np.float32)
    t2 = time.perf_counter()
    payloads = {}
    if unit.kind == "sdr" and opts.scoring == "pair":
        payloads = _pair_payloads(testset, unit, tasks, pairs, ests, opts)
    elif unit.kind == "sdr":
        refs = {t.museval_target: pairs[t.id].target for t in tasks}
        est_d = {t.museval_target: ests[t.id] for t in tasks}
        scores = bss_eval_track(refs, est_d, backend=opts.backend, device=opts.device, win=WIN, hop=HOP)
        mj = to_museval_json(scores, unit.track)
        for t in tasks:
            payloads[t.id] = res.sdr_payload(mj, t.museval_target,
                                             global_sdr(pairs[t.id].target, ests[t.id]))
    else:  # one task, each family it declares computed on (target, estimate) (the metric registry's compute)
        (t,) = tasks
        scores, payload = {}, {}
        for name in t.metric_families:
            fam = metricinfo.family(name)
            extra = {}
            if "sources" in fam.needs:  # the target split into its sources (the preservation metric)
                extra = {"sources": testset.target_sources(t.id, unit.track, pairs[t.id]), "edited": t.source}
            got = fam.function()(pairs[t.id].target, ests[t.id], **extra)
            if fam.block is not None:
                payload.update(getattr(res, f"{fam.block}_payload")(got[f"{fam.block}_block"]))
            else:
                scores.update(got)
        stored = [f for f in t.metric_families if metricinfo.family(f).block is None]
        payloads[t.id] = {**res.scores_payload(scores, metricinfo.metrics_of(stored)), **payload}
    t3 = time.perf_counter()
    paths = []
    for t in tasks:
        doc = _document(system, testset, unit, t, opts, source_sha256=source, estimate_sha256=array_sha256(ests[t.id]),
                        estimate_frames=ests[t.id].shape[0], model_input=model_input)
        doc.update(payloads[t.id])
        paths.append(res.write_result(out, doc))
    timing = {"tasks": list(unit.task_ids), "track": unit.track, "wall_time_s": round(t3 - t0, 6),
              "estimate_s": round(t_est, 6), "metric_s": round(t3 - t2, 6)}
    log.debug("%s: %s in %.2f s (estimate %.2f s, metric %.2f s)", system.name, unit, t3 - t0, t_est, t3 - t2)
    return paths, timing


def fit_length(est: np.ndarray, n: int) -> np.ndarray:
    """An estimate cut or zero-padded at the end to ``n`` samples (museval's ``pad_or_truncate``)."""
    if est.shape[0] >= n:
        return est[:n]
    return np.pad(est, [(0, n - est.shape[0]), (0, 0)])


def pair_scores(target: str, reference: np.ndarray, estimate: np.ndarray, mixture: np.ndarray,
                accompaniment: np.ndarray, *, backend: str = "fast", device="cpu") -> dict:
    """One task scored the way the ISMIR 2020 code scored a dedicated model (``separation_framework.py``,
    ``on_test_epoch_end``): ``museval.eval_mus_track(track, {target: ŝ, "accompaniment": mixture − ŝ})``, i.e. a
    two-source BSS-Eval against {target, musdb accompaniment = drums + bass + other}. ŝ is cut/padded to the track
    length first; ``mixture`` is the decoded mixture as float32. Returns :func:`bss_eval_track`'s dict (both
    sources)."""
    bss_eval_track = metricinfo.family("bss_eval").function()
    est = fit_length(np.asarray(estimate, dtype=np.float32), reference.shape[0])
    acc_est = np.asarray(mixture, dtype=np.float32) - est
    refs = {target: reference, "accompaniment": accompaniment}
    ests = {target: est, "accompaniment": acc_est}
    return bss_eval_track(refs, ests, backend=backend, device=device, win=WIN, hop=HOP)


def _pair_payloads(testset, unit: Unit, tasks, pairs, ests, opts: Options) -> dict:
    _, global_sdr, to_museval_json = _metrics()
    acc = testset.accompaniment(unit.track)
    payloads = {}
    for t in tasks:
        pair = pairs[t.id]
        scores = pair_scores(t.museval_target, pair.target, ests[t.id], pair.input, acc, backend=opts.backend,
                             device=opts.device)
        mj = to_museval_json({t.museval_target: scores[t.museval_target]}, unit.track)
        payloads[t.id] = res.sdr_payload(mj, t.museval_target, global_sdr(pair.target, ests[t.id]))
    return payloads


# ------------------------------------------------------------------------------------------------------ resources

def available_memory() -> int:
    """Bytes of available RAM (MemAvailable), or a conservative 4 GiB when unknown."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except Exception:  # noqa: BLE001
        return 4 << 30


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - non-Linux
        return os.cpu_count() or 1


def unit_memory(n_samples: int, backend: str, kind: str = "sdr", system_kind: str = "baseline") -> int:
    """Rough peak memory (bytes) of one unit on a track of ``n_samples`` samples (heuristic, see docs).

    museval: ≈ 430 B per point of its 2^ceil(log2(N + 511)) FFT + 300 MB (protocol §5.4: 1.45 GB at 30 s, 7.2 GB at
    240 s); fast/sdr-only BSS and RMSE-MFCC: ≈ 400 B per sample + 300 MB; a model adds 1 GB."""
    if kind == "sdr" and backend == "museval":
        need = 300e6 + 430 * 2 ** math.ceil(math.log2(n_samples + 511))
    else:
        need = 300e6 + 400 * n_samples
    if system_kind == "model":
        need += 1e9
    return int(need)


def default_workers(testset, units: Sequence[Unit], backend: str, system_kind: str = "baseline") -> int:
    if not units:
        return 1
    longest = max(e.frames for e in testset.entries)
    need = max(unit_memory(longest, backend, u.kind, system_kind) for u in {u.kind: u for u in units}.values())
    by_ram = max(1, available_memory() // need)
    return int(max(1, min(cpu_count(), by_ram, len(units))))


@contextlib.contextmanager
def pinned_thread_env(threads: int = 1):
    """Set the BLAS/OpenMP thread variables for child processes started inside the block (restored after)."""
    old = {k: os.environ.get(k) for k in THREAD_ENV}
    try:
        for k in THREAD_ENV:
            os.environ[k] = str(threads)
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


_WORKER: dict = {}


def _worker_init(system, testset_dir, root, out, opts) -> None:
    try:
        from threadpoolctl import threadpool_limits

        _WORKER["limits"] = threadpool_limits(opts.threads or 1)
    except ImportError:  # pragma: no cover
        pass
    try:
        import torch

        torch.set_num_threads(opts.threads or 1)
    except Exception:  # noqa: BLE001  # pragma: no cover
        pass
    from benchmark.task.testset import TestSet

    _WORKER.update(system=system, testset=TestSet.open(testset_dir, root), out=out, opts=opts)


def _worker_run(unit: Unit) -> tuple[list[str], dict]:
    w = _WORKER
    paths, timing = run_unit_timed(w["system"], w["testset"], unit, w["opts"], w["out"])
    return [str(p) for p in paths], timing


# ------------------------------------------------------------------------------------------------------ runner

@dataclass
class Report:
    system: str
    out: Path
    units: int = 0
    computed: list[Path] = field(default_factory=list)
    skipped: int = 0
    workers: int = 1
    rank: int = 0
    world_size: int = 1
    threads: int | None = 1  # BLAS/OpenMP/torch threads per unit (see limited_threads)
    summary: Path | None = None
    elapsed_s: float = 0.0
    timings: list[dict] = field(default_factory=list)  # wall times of the computed units (timing.json)
    timing: Path | None = None

    def line(self) -> str:
        return (f"{self.system}: {len(self.computed)} result(s) written, {self.skipped} unit(s) already done, "
                f"{self.units} unit(s) on rank {self.rank}/{self.world_size}, {self.workers} worker(s), "
                f"{self.elapsed_s:.1f} s" + (f"; summary {self.summary}" if self.summary else ""))


def _clean_stale_temps(out, system, units: Sequence[Unit]) -> None:
    """Remove temporary files a killed run left behind (only for this rank's units)."""
    for u in units:
        for p in unit_paths(out, system, u):
            if p.parent.is_dir():
                for tmp in p.parent.glob(glob.escape(f".{p.name}.") + "*"):
                    with contextlib.suppress(FileNotFoundError):
                        tmp.unlink()
                        log.info("removed stale temporary file %s", tmp)


def evaluate(system, testset, out, *, tasks="all", backend: str = "fast", device: str = "cpu",
             workers: int | None = 1, seed: int | None = None, rank: int | None = None,
             world_size: int | None = None, threads: int | None = 1, progress: bool = True, summary: bool = True,
             wait_timeout: float = 24 * 3600, poll_interval: float = 1.0, dedicated_scoring: str = "pair",
             sdr_input: str = "auto") -> Report:
    """Evaluate ``system`` on ``testset`` (a :class:`~benchmark.task.testset.TestSet` or its folder) into ``out``.

    ``tasks``: see :func:`select_tasks`. ``backend``: BSS back-end for the SDR tasks. ``workers``: processes
    (``None`` = memory-aware default). ``rank``/``world_size``: default from ``RANK``/``WORLD_SIZE``.
    ``threads``: BLAS/OpenMP/torch threads per unit (default 1, the same in every process, so results do not
    depend on ``workers``; ``None`` = leave the thread pools alone).
    ``summary``: write ``<out>/<system>/summary.json`` (rank 0 only, after every rank's results are on disk).
    ``dedicated_scoring``: ``pair`` (default: each SDR task of a dedicated-family system on its own, as the ISMIR
    2020 code did) or ``joint`` (one 4-target call, as every other system). ``sdr_input``: ``auto`` | ``mixture`` |
    ``linear_mixture`` (:func:`resolve_sdr_input`). docs/fidelity.md §1."""
    from tqdm import tqdm

    from benchmark.task.testset import TestSet

    t_start = time.perf_counter()
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {BACKENDS}")
    if not isinstance(testset, TestSet):
        testset = TestSet.open(testset)
    out = Path(out)
    env_rank, env_world = distributed_env()
    rank = env_rank if rank is None else int(rank)
    world = env_world if world_size is None else int(world_size)
    if world < 1 or not 0 <= rank < world:
        raise ValueError(f"invalid rank {rank} for world size {world}")
    device = rank_device(device)
    selected = select_tasks(tasks)
    opts = Options(backend=backend, device=device, seed=seed if seed is not None else system.seed, rank=rank,
                   world_size=world, threads=threads, scoring=resolve_scoring(system, dedicated_scoring),
                   sdr_input=resolve_sdr_input(system, sdr_input))
    units = plan(testset, selected, rank, world)
    system.check(selected, sorted({u.track for u in units}))
    report = Report(system=system.name, out=out, units=len(units), rank=rank, world_size=world, threads=threads)
    _clean_stale_temps(out, system, units)

    n_results = sum(len(u.task_ids) for u in units)
    bar = tqdm(total=n_results, desc=f"evaluate {system.name}" + (f" [rank {rank}/{world}]" if world > 1 else ""),
               unit="result", disable=not progress)
    todo = []
    for u in units:
        if unit_done(out, system, testset, u, opts):
            report.skipped += 1
            bar.update(len(u.task_ids))
        else:
            todo.append(u)
    if report.skipped:
        log.info("%s: %d of %d unit(s) already done (matching provenance), skipped", system.name, report.skipped,
                 len(units))
    if workers is None:  # one process per GPU: several workers would each hold the model on the same device
        n_workers = 1 if str(device).startswith("cuda") else default_workers(testset, todo, backend, system.kind)
    else:
        n_workers = max(1, int(workers))
    n_workers = min(n_workers, max(1, len(todo)))
    report.workers = n_workers
    try:
        if n_workers == 1:
            for u in todo:
                paths, timing = run_unit_timed(system, testset, u, opts, out)
                report.computed.extend(paths)
                report.timings.append(timing)
                bar.update(len(u.task_ids))
        else:
            _run_pool(system, testset, todo, opts, out, n_workers, bar, report)
    finally:
        bar.close()
        if report.timings:  # also after a failure: the units that were computed are on disk
            try:
                report.timing = _write_timing(out, system, units, report, opts, time.perf_counter() - t_start)
            except OSError as err:  # wall times are information only: never fail (or mask a failure) for them
                log.warning("%s: could not write the wall times (%s)", system.name, err)

    if summary and rank == 0:
        if world > 1:
            _wait_for_all(system, testset, selected, out, opts, world, wait_timeout, poll_interval)
        from benchmark.scoring.aggregate import write_summary

        report.summary = write_summary(res.system_dir(out, system.name), testset)
    report.elapsed_s = time.perf_counter() - t_start
    return report


def _write_timing(out, system, units: Sequence[Unit], report: Report, opts: Options, elapsed_s: float) -> Path:
    """``<out>/<system>/timing.json``: the wall times of this rank's units, those computed now and, for the units a
    resumed run skipped, the times an earlier run recorded. Not a result; DVC ignores it (``.dvcignore``)."""
    import json

    from benchmark.base.audio import write_json

    path = res.timing_path(out, system.name, opts.rank, opts.world_size)
    known: dict = {}
    try:
        for t in json.loads(path.read_text())["units"]:
            known[(tuple(t["tasks"]), t["track"])] = t
    except (OSError, ValueError, KeyError, TypeError):
        pass
    for t in report.timings:
        known[(tuple(t["tasks"]), t["track"])] = t
    rows = [known[k] for k in ((u.task_ids, u.track) for u in units) if k in known]
    write_json(path, {"format": "amss-bench-eval-timing/1", "system": system.name, "rank": opts.rank,
                      "world_size": opts.world_size, "workers": report.workers, "threads": opts.threads,
                      "git_commit": git_commit(Path(__file__).resolve().parents[1]),
                      "device": str(opts.device), "backend": opts.backend, "computed": len(report.timings),
                      "skipped": report.skipped, "elapsed_s": round(elapsed_s, 3), "units": rows})
    return path


def _run_pool(system, testset, todo, opts, out, n_workers, bar, report) -> None:
    """``n_workers`` − 1 spawned worker processes **and this process**: a worker starts by importing torch and
    loading the system (≈ 5 s on the reference VM), and this process, which has done both already, computes units
    meanwhile instead of waiting. Units are handed out one at a time (the workers take them from the front of the
    list, this process from the back), so both stay busy however few units a stage has. A unit's results do not
    depend on where it runs (same thread count everywhere: :func:`limited_threads`; tested bit for bit)."""
    import multiprocessing as mp
    from collections import deque
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    def record(unit, paths, timing):
        report.computed.extend(Path(p) for p in paths)
        report.timings.append(timing)
        bar.update(len(unit.task_ids))

    ctx = mp.get_context("spawn")
    testset_dir = testset.path.parent
    queue = deque(todo)
    n_pool = n_workers - 1
    with pinned_thread_env(opts.threads or 1):
        ex = ProcessPoolExecutor(max_workers=n_pool, mp_context=ctx, initializer=_worker_init,
                                 initargs=(system, testset_dir, testset.root, out, opts))
        inflight: dict = {}
        try:
            while queue or inflight:
                while queue and len(inflight) < n_pool:
                    unit = queue.popleft()
                    inflight[ex.submit(_worker_run, unit)] = unit
                if queue:
                    unit = queue.pop()
                    paths, timing = run_unit_timed(system, testset, unit, opts, out)
                    record(unit, paths, timing)
                else:
                    wait(inflight, return_when=FIRST_COMPLETED)
                for f in [f for f in inflight if f.done()]:
                    unit = inflight.pop(f)
                    err = f.exception()
                    if err is not None:
                        raise err
                    paths, timing = f.result()
                    record(unit, [Path(p) for p in paths], timing)
        finally:
            ex.shutdown(wait=True, cancel_futures=True)


def _wait_for_all(system, testset, tasks, out, opts, world, timeout, poll) -> None:
    """Rank 0: wait until the results of every rank are on disk with this run's provenance."""
    all_units = [u for r in range(world) for u in plan(testset, tasks, r, world)]
    deadline = time.monotonic() + timeout
    remaining = list(all_units)
    while True:
        remaining = [u for u in remaining if not all(p.is_file() for p in unit_paths(out, system, u))]
        if not remaining:
            stale = [u for u in all_units
                     if not unit_done(out, system, testset, u, opts)]
            if not stale:
                return
            remaining = stale
        if time.monotonic() > deadline:
            names = ", ".join(str(u) for u in remaining[:10])
            raise EvaluationError(f"rank 0 waited {timeout:.0f} s for the other ranks; still missing "
                                  f"{len(remaining)} unit(s): {names}")
        time.sleep(poll)
