"""Common base class of every model: STFT front end, training contract and the ``manipulate`` interface."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from . import inference
from .stft import STFT

SOURCES = ("vocals", "drums", "bass", "other")
# Table 5.2: the "other" target is asked for with "mute vocals, drums, bass".
MUTE_ALL = "mute vocals, drums, bass"
#: the four separation queries, in SOURCES order (condition index 0-3 of a multi-source separator)
SOURCE_QUERIES = ("separate vocals", "separate drums", "separate bass", MUTE_ALL)
AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "bfloat16": torch.bfloat16, "fp16": torch.float16, "float16": torch.float16}

INFERENCE_DEFAULTS = {
    "amss_min_trim": inference.AMSS_MIN_TRIM,
    "lasaft_min_trim": inference.LASAFT_MIN_TRIM,
    "overlap_ratio": 0.5,
}


class UnsupportedQueryError(ValueError):
    """A query the model cannot answer; the message lists what the model supports."""


def parse_query(query):
    """str -> ``aml.Query`` (raises ``aml.AMLError``); a Query-like object is returned unchanged."""
    if isinstance(query, str):
        from benchmark.task import aml

        return aml.parse(query)
    if hasattr(query, "operation") and hasattr(query, "targets"):
        return query
    raise TypeError(f"query must be a string or an aml.Query, got {type(query).__name__}")


def source_index(query) -> int | None:
    """Index in :data:`SOURCES` of the source a separation query asks for ("separate vocals" -> 0, ``MUTE_ALL`` ->
    3), or None for any other query."""
    q = parse_query(query)
    if q.operation == "separate" and len(q.targets) == 1 and q.targets[0] in SOURCES[:3]:
        return SOURCES.index(q.targets[0])
    if q.operation == "mute" and len(q.targets) == 3 and set(q.targets) == set(SOURCES[:3]):
        return 3
    return None


def check_audio(audio) -> np.ndarray:
    """Validate a (samples, 2) float array at 44.1 kHz; returns a contiguous float32 copy/view."""
    if isinstance(audio, torch.Tensor):
        audio = audio.detach().cpu().numpy()
    audio = np.asarray(audio)
    if audio.ndim != 2 or audio.shape[1] != 2:
        raise ValueError(
            f"audio must be a (samples, 2) stereo array, got shape {audio.shape}"
            + (" (mono input: duplicate the channel explicitly if that is intended)" if audio.ndim == 1
               or (audio.ndim == 2 and audio.shape[1] == 1) else "")
        )
    if audio.dtype.kind != "f":
        raise ValueError(f"audio must be floating point (float32), got dtype {audio.dtype}")
    if not np.isfinite(audio).all():
        raise ValueError("audio contains NaN or infinite samples")
    return np.ascontiguousarray(audio, dtype=np.float32)


def autocast_context(device: torch.device, autocast):
    if autocast in (None, False, "none", "fp32", "float32"):
        return contextlib.nullcontext()
    if autocast not in AUTOCAST_DTYPES:
        raise ValueError(f"autocast must be None, 'bf16' or 'fp16', got {autocast!r}")
    return torch.autocast(device_type=device.type, dtype=AUTOCAST_DTYPES[autocast])


def pad_time(x: torch.Tensor, multiple: int) -> tuple[torch.Tensor, int]:
    """Zero-pad the frame axis (dim 2) of (B, C, T, F) to a multiple; returns (padded, original T)."""
    t = x.shape[2]
    rem = (-t) % multiple
    if rem:
        x = torch.nn.functional.pad(x, (0, 0, 0, rem))
    return x, t


class AudioModel(nn.Module):
    """Base class. Subclasses implement :meth:`estimate` (spectrogram in -> spectrogram out) and the query mapping.

    Training contract (see ``models/__init__.py``): ``est = model(wave, cond)``, ``target = model.spec(target_wave)``,
    ``loss = mse(est, target)``; ``cond = model.make_condition(queries)``.
    """

    #: "cac" (4 channels [Re L, Re R, Im L, Im R]), "mag" (2 channels [|L|, |R|]) or "wave" (the waveform itself:
    #: waveform-domain separators, models/survey; the training loss is then a waveform MSE)
    representation = "cac"
    info = None  # set by models.registry.create

    def __init__(self, config: dict):
        super().__init__()
        cfg = dict(INFERENCE_DEFAULTS)
        cfg.update(config)
        self.config = cfg
        self.stft = STFT(cfg["n_fft"], cfg["hop_length"])

    # ---------------------------------------------------------------- metadata
    @property
    def name(self) -> str:
        return self.info.name if self.info is not None else type(self).__name__

    @property
    def chunk_samples(self) -> int:
        """Training/inference window in samples: hop · (num_frame − 1) (130 048 for the paper configs)."""
        return inference.window_length(self.config["hop_length"], self.config["num_frame"])

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    # ---------------------------------------------------------------- training contract
    def spec(self, wave: torch.Tensor) -> torch.Tensor:
        """Target representation of a waveform batch (B, 2, N): CaC (B, 4, T, F), magnitude (B, 2, T, F) or, for a
        waveform model, the waveform (B, 2, N) itself."""
        if self.representation == "wave":
            return wave
        return self.stft.cac(wave) if self.representation == "cac" else self.stft.magnitude(wave)

    def forward(self, wave: torch.Tensor, cond=None) -> torch.Tensor:
        """Mixture waveforms (B, 2, N) [+ condition] -> estimated target spectrogram (same layout as ``spec``)."""
        return self.estimate(self.spec(wave), cond)

    def estimate(self, spec: torch.Tensor, cond=None) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def to_wave(self, est: torch.Tensor, mixture_wave: torch.Tensor) -> torch.Tensor:
        """Estimated spectrogram -> waveform (B, 2, N); magnitude models use the mixture phase."""
        n = mixture_wave.shape[-1]
        if self.representation == "wave":
            return est
        if self.representation == "cac":
            return self.stft.inverse_cac(est, n)
        return self.stft.inverse_magnitude(est, mixture_wave, n)

    def separate(self, wave: torch.Tensor, cond=None) -> torch.Tensor:
        """Waveform in, waveform out (one window batch)."""
        return self.to_wave(self(wave, cond), wave)

    # ---------------------------------------------------------------- conditions
    def condition_for(self, query):
        """One query (str / aml.Query) -> the model's condition for one item; UnsupportedQueryError otherwise."""
        raise NotImplementedError

    def supported_queries(self) -> list[str]:
        raise NotImplementedError

    def batch_conditions(self, conds: Sequence, device=None):
        """Stack per-item conditions (as returned by :meth:`condition_for`) into a batch condition."""
        return None

    def make_condition(self, queries: Sequence, device=None):
        """Batch condition for ``forward`` from a list of queries (strings or aml.Query)."""
        return self.batch_conditions([self.condition_for(q) for q in queries], device)

    def _unsupported(self, query, extra: str = "") -> UnsupportedQueryError:
        qs = self.supported_queries()
        shown = ", ".join(repr(q) for q in qs[:12]) + (f", ... ({len(qs)} in all)" if len(qs) > 12 else "")
        text = query if isinstance(query, str) else getattr(query, "canonical", repr(query))
        return UnsupportedQueryError(
            f"model {self.name!r} cannot answer {text!r}{extra}. Supported queries: {shown}"
        )

    # ---------------------------------------------------------------- inference
    def inference_params(self, mode: str | None = None) -> dict:
        mode = mode or self.config.get("inference_mode", "amss")
        if mode not in inference.MODES:
            raise ValueError(f"unknown inference mode {mode!r}; choose one of {inference.MODES}")
        return {
            "mode": mode,
            "hop": self.config["hop_length"],
            "num_frame": self.config["num_frame"],
            "min_trim": self.config["amss_min_trim"] if mode == "amss" else self.config["lasaft_min_trim"],
            "overlap_ratio": self.config["overlap_ratio"],
        }

    def manipulate(
        self,
        audio,
        query,
        *,
        batch_size: int = 8,
        device="cpu",
        autocast=None,
        mode: str | None = None,
        progress: bool = False,
        pcm16: bool = False,
    ) -> np.ndarray:
        """Apply a text query to a whole track: (N, 2) float32 at 44.1 kHz -> (N, 2) float32.

        The model is moved to ``device`` and put in eval mode (its previous train/eval mode is restored).
        ``mode`` = "amss" | "lasaft" | "overlap" (default: the model's ``config["inference_mode"]``);
        ``autocast`` = None | "bf16" | "fp16".
        """
        audio = check_audio(audio)
        cond1 = self.condition_for(query)
        params = self.inference_params(mode)
        dev = torch.device(device)
        was_training = self.training
        self.to(dev)
        self.eval()

        def process(batch: np.ndarray) -> np.ndarray:
            x = torch.from_numpy(np.ascontiguousarray(batch.transpose(0, 2, 1))).to(dev)
            cond = self.batch_conditions([cond1] * x.shape[0], dev)
            with torch.inference_mode(), autocast_context(dev, autocast):
                y = self.separate(x, cond)
            return y.float().cpu().numpy().transpose(0, 2, 1)

        try:
            out = inference.infer_track(
                process,
                audio,
                mode=params["mode"],
                hop=params["hop"],
                num_frame=params["num_frame"],
                min_trim=params["min_trim"],
                overlap_ratio=params["overlap_ratio"],
                batch_size=batch_size,
                progress=progress,
                pcm16=pcm16,
            )
        finally:
            self.train(was_training)
        return np.ascontiguousarray(out, dtype=np.float32)


class SingleSourceQueries:
    """Query mapping of a network trained for one source (``config["source"]``): it answers that source's separation
    query only ("separate vocals"; ``MUTE_ALL`` for other) and needs no condition (None). Mixed into an
    :class:`AudioModel`; ``query_role`` names the model in the unsupported-query error."""

    query_role = "dedicated {source} separator"

    @property
    def source(self) -> str:
        return self.config["source"]

    def supported_queries(self) -> list[str]:
        return [SOURCE_QUERIES[SOURCES.index(self.source)]]

    def condition_for(self, query):
        if source_index(query) != SOURCES.index(self.source):
            raise self._unsupported(query, f" ({self.query_role.format(source=self.source)})")
        return None


class SourceIndexQueries:
    """Query mapping of one network that answers the four separation queries: the condition is the source index
    (0 vocals, 1 drums, 2 bass, 3 other = ``MUTE_ALL``), given as a query or directly as an int. Mixed into an
    :class:`AudioModel`; ``query_role`` names the model in the unsupported-query error."""

    query_role = "multi-source separator: one source per query"

    def supported_queries(self) -> list[str]:
        return list(SOURCE_QUERIES)

    def condition_for(self, query) -> int:
        if isinstance(query, int) and not isinstance(query, bool):
            if not 0 <= query < int(self.config.get("n_conditions", len(SOURCE_QUERIES))):
                raise self._unsupported(str(query))
            return int(query)
        index = source_index(query)
        if index is None:
            raise self._unsupported(query, f" ({self.query_role})")
        return index

    def batch_conditions(self, conds, device=None):
        return torch.tensor([int(c) for c in conds], dtype=torch.long, device=device)


class IdentityModel(AudioModel):
    """Returns its input unchanged for any query (a test/reference system for chunking and stitching).

    Not a thesis model; not registered.
    """

    def __init__(self, hop_length: int = 1024, num_frame: int = 128, inference_mode: str = "amss"):
        super().__init__({"n_fft": 2 * hop_length, "hop_length": hop_length, "num_frame": num_frame,
                          "inference_mode": inference_mode})

    def forward(self, wave, cond=None):
        return self.spec(wave)

    def separate(self, wave, cond=None):
        return wave

    def condition_for(self, query):
        return None

    def supported_queries(self) -> list[str]:
        return ["<any>"]
