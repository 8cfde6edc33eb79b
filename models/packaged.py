"""The survey's learned separators from maintained packages, re-expressed on this suite's model interface:

* :class:`OpenUnmix` — Open-Unmix (Stöter, Uhlich, Liutkus, Mitsufuji, JOSS 2019), the ``openunmix`` package's
  ``openunmix.model.OpenUnmix`` (one network per target, magnitude in, magnitude mask × mixture out);
* :class:`DemucsV2` — Demucs (Défossez, Usunier, Bottou, Bach 2019), the ``demucs`` package's waveform model
  ``demucs.demucs.Demucs`` in its v2 configuration (BiLSTM bottleneck, GLU rewrite convolutions, no DConv branches,
  no group norm, ReLU);
* :class:`ConvTasNet` — Conv-TasNet (Luo, Mesgarani, TASLP 2019), the ``asteroid`` package's
  ``asteroid.models.ConvTasNet`` (free filterbank encoder/decoder, TDConvNet masker with gLN).

Each class has the package model's module tree and parameter names, so a state dict of the package model loads
into it unchanged (``tests/models/test_packaged_models.py`` loads one and compares the outputs with the package's). The
packages are not imported at run time: their numerics (``nn.LSTM``'s cell, ``torch.tanh``, asteroid's gLN
``sqrt``, julius's ``sin``/``cos`` filter design) go through MKL's vector math on CPU, whose rounding follows the
processor (docs/performance.md, "Reproducible numerics across CPUs"); here they are computed with
:mod:`models.portable` (LSTM cells, tanh), ``F.group_norm`` (gLN), a VML-free square root (Demucs's input standard
deviation) and float64 ``math`` (the resampling filter). The VML tripwire of tests/test_numerics_vml.py covers
their training steps.
Why a re-expression rather than the package for each: docs/models.md, "The survey's learned separators".

The two waveform models (Demucs, Conv-TasNet) estimate the four sources at once; on this suite's separation
interface they answer the four SDR queries (condition index 0-3 = vocals, drums, bass, "mute vocals, drums, bass" =
other), and their training contract is waveform in, waveform out: ``spec`` is the identity and the trainer's loss
is the MSE between the estimated and the target waveform of the queried source.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from . import portable
from .base import SOURCES, AudioModel, SingleSourceQueries, SourceIndexQueries


# ---------------------------------------------------------------------------------------------- shared pieces

def lstm(module: nn.LSTM, x: torch.Tensor) -> torch.Tensor:
    """The output sequence of a (multi-layer, optionally bidirectional) ``nn.LSTM`` over full-length sequences, as
    ``module(x)[0]`` computes it, from ``module``'s own parameters with the VML-free cell of :mod:`models.portable`.
    Dropout between layers is applied in training mode as ``nn.LSTM`` does (``module.dropout``)."""
    if module.proj_size:
        raise ValueError("lstm: projections are not supported")
    if module.batch_first:
        x = x.transpose(0, 1)
    length, batch, _ = x.shape
    hidden = module.hidden_size
    for layer in range(module.num_layers):
        outputs = []
        for suffix in ("", "_reverse") if module.bidirectional else ("",):
            name = f"l{layer}{suffix}"
            w_ih, w_hh = getattr(module, "weight_ih_" + name), getattr(module, "weight_hh_" + name)
            b_ih, b_hh = getattr(module, "bias_ih_" + name, None), getattr(module, "bias_hh_" + name, None)
            x_proj = F.linear(x, w_ih, b_ih)  # (L, B, 4H)
            h = x.new_zeros(batch, hidden)
            c = x.new_zeros(batch, hidden)
            out = [None] * length
            for t in (range(length) if not suffix else reversed(range(length))):
                h, c = portable._cell("lstm", x_proj[t], h, c, w_hh, b_hh)
                out[t] = h
            outputs.append(torch.stack(out, dim=0))
        x = torch.cat(outputs, dim=-1)
        if module.dropout and module.training and layer < module.num_layers - 1:
            x = F.dropout(x, module.dropout, training=True)
    return x.transpose(0, 1) if module.batch_first else x


class _WaveformModel(SourceIndexQueries, AudioModel):
    """Waveform in, waveform out: ``spec`` is the identity, ``forward`` returns the queried source's waveform."""

    representation = "wave"

    def spec(self, wave: torch.Tensor) -> torch.Tensor:
        return wave

    def to_wave(self, est: torch.Tensor, mixture_wave: torch.Tensor) -> torch.Tensor:
        return est

    def sources(self, wave: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        """(B, 2, N) mixture -> (B, 4, 2, N) estimates of vocals, drums, bass, other."""
        raise NotImplementedError

    def forward(self, wave: torch.Tensor, cond=None) -> torch.Tensor:
        if cond is None:
            raise ValueError(f"{self.name}: needs a condition index tensor (B,) (the source; see make_condition)")
        cond = torch.as_tensor(cond, device=wave.device, dtype=torch.long).reshape(-1)
        if cond.shape[0] != wave.shape[0]:
            raise ValueError(f"{cond.shape[0]} conditions for a batch of {wave.shape[0]}")
        est = self.sources(wave)
        return est[torch.arange(wave.shape[0], device=wave.device), cond]


# ---------------------------------------------------------------------------------------------- Open-Unmix

class OpenUnmix(SingleSourceQueries, AudioModel):
    """Open-Unmix for one target (``openunmix.model.OpenUnmix``): magnitude frames of both channels, cropped to
    ``max_bin``, standardised, fc1 + BN + tanh, a 3-layer BiLSTM, skip concatenation, fc2 + BN + ReLU, fc3 + BN,
    output scale/mean, ReLU mask × the mixture magnitude. The STFT (n_fft 4096, hop 1024, Hann) is this suite's
    (``models.stft``); the estimate is synthesised with the mixture phase (the package's optional Wiener filter
    post-processing is not part of the network and not applied)."""

    representation = "mag"
    query_role = "Open-Unmix {source} model"

    def __init__(self, config: dict):
        super().__init__(config)
        cfg = self.config
        nb_channels = 2
        self.nb_output_bins = cfg["n_fft"] // 2 + 1
        self.nb_bins = cfg["max_bin"] or self.nb_output_bins
        self.hidden_size = hidden = cfg["hidden_size"]
        self.fc1 = nn.Linear(self.nb_bins * nb_channels, hidden, bias=False)
        self.bn1 = nn.BatchNorm1d(hidden)
        lstm_hidden = hidden if cfg["unidirectional"] else hidden // 2
        self.lstm = nn.LSTM(input_size=hidden, hidden_size=lstm_hidden, num_layers=cfg["nb_layers"],
                            bidirectional=not cfg["unidirectional"], batch_first=False,
                            dropout=cfg["lstm_dropout"] if cfg["nb_layers"] > 1 else 0)
        self.fc2 = nn.Linear(hidden * 2, hidden, bias=False)
        self.bn2 = nn.BatchNorm1d(hidden)
        self.fc3 = nn.Linear(hidden, self.nb_output_bins * nb_channels, bias=False)
        self.bn3 = nn.BatchNorm1d(self.nb_output_bins * nb_channels)
        self.input_mean = nn.Parameter(torch.zeros(self.nb_bins))
        self.input_scale = nn.Parameter(torch.ones(self.nb_bins))
        self.output_scale = nn.Parameter(torch.ones(self.nb_output_bins))
        self.output_mean = nn.Parameter(torch.ones(self.nb_output_bins))

    @torch.no_grad()
    def fit_input_statistics(self, mixtures) -> dict:
        """Set the input standardisation from training mixtures, as the openunmix training script does before
        training (``get_statistics``): the mean and standard deviation (population, sklearn's ``StandardScaler``)
        of every frequency bin of the channel-averaged magnitude frames of the whole tracks, the deviation floored
        at 1e-4 × its largest value; ``input_mean`` = −mean and ``input_scale`` = 1 / deviation over the first
        ``max_bin`` bins. ``mixtures``: an iterable of (N, 2) float32 arrays, one per track. Every sum is
        ``math.fsum`` (exactly rounded, so independent of the CPU's vector width; the squares of float32 magnitudes
        are exact in float64) and every square root ``math.sqrt``; the result is rounded once to float32.
        Returns {frames, mean, std} as lists."""
        sums: list[list[float]] = [[] for _ in range(self.nb_output_bins)]
        squares: list[list[float]] = [[] for _ in range(self.nb_output_bins)]
        frames = 0
        for mix in mixtures:
            wave = torch.as_tensor(mix, dtype=torch.float32).T.unsqueeze(0)  # (1, 2, N)
            mag = self.stft.magnitude(wave)[0].mean(0).to(torch.float64).numpy()  # (T, F), mono as the package's
            for f in range(self.nb_output_bins):
                column = mag[:, f].tolist()
                sums[f].append(math.fsum(column))
                squares[f].append(math.fsum(v * v for v in column))
            frames += mag.shape[0]
        if frames == 0:
            raise ValueError("Open-Unmix input statistics: no training frames (the train split is empty)")
        mean = [math.fsum(s) / frames for s in sums]
        std = [math.sqrt(max(0.0, math.fsum(q) / frames - m * m)) for q, m in zip(squares, mean)]
        floor = 1e-4 * max(std)
        std = [max(v, floor) for v in std]
        if floor == 0.0:
            raise ValueError("Open-Unmix input statistics: the training mixtures are silent")
        nb = self.nb_bins
        self.input_mean.copy_(torch.tensor([-m for m in mean[:nb]], dtype=torch.float64).to(torch.float32))
        self.input_scale.copy_(torch.tensor([1.0 / v for v in std[:nb]], dtype=torch.float64).to(torch.float32))
        return {"frames": frames, "mean": mean, "std": std}

    def estimate(self, spec: torch.Tensor, cond=None) -> torch.Tensor:
        """(B, 2, T, F) mixture magnitude -> (B, 2, T, F) target magnitude (the package's forward on
        (B, 2, F, T))."""
        x = spec.permute(2, 0, 1, 3)  # (T, B, C, F): the package's frame-major layout
        nb_frames, nb_samples, nb_channels, _ = x.shape
        mix = x.detach().clone()
        x = x[..., : self.nb_bins]
        x = x + self.input_mean
        x = x * self.input_scale
        x = self.fc1(x.reshape(-1, nb_channels * self.nb_bins))
        x = self.bn1(x)
        x = x.reshape(nb_frames, nb_samples, self.hidden_size)
        x = portable.tanh(x)
        x = torch.cat([x, lstm(self.lstm, x)], -1)
        x = self.fc2(x.reshape(-1, x.shape[-1]))
        x = self.bn2(x)
        x = F.relu(x)
        x = self.fc3(x)
        x = self.bn3(x)
        x = x.reshape(nb_frames, nb_samples, nb_channels, self.nb_output_bins)
        x = x * self.output_scale
        x = x + self.output_mean
        x = F.relu(x) * mix
        return x.permute(1, 2, 0, 3)


# ---------------------------------------------------------------------------------------------- Demucs (v2)

def _resample_kernel(old_sr: int, new_sr: int, zeros: int = 24, rolloff: float = 0.945) -> tuple[torch.Tensor, int]:
    """julius.resample.ResampleFrac's windowed-sinc kernels, computed in float64 with the C library's sin/cos and
    rounded once to float32 (julius computes them with torch's sin/cos in float32). Returns (kernel, width)."""
    sr = min(new_sr, old_sr) * rolloff
    width = math.ceil(zeros * old_sr / sr)
    rows = []
    for i in range(new_sr):
        row = []
        for k in range(-width, width + old_sr):
            t = (-i / new_sr + float(k) / old_sr) * sr
            t = max(-zeros, min(zeros, t)) * math.pi
            window = math.cos(t / zeros / 2) ** 2
            row.append((1.0 if t == 0 else math.sin(t) / t) * window)
        total = math.fsum(row)
        rows.append([v / total for v in row])
    return torch.tensor(rows, dtype=torch.float64).to(torch.float32).view(new_sr, 1, -1), width


def resample_frac(x: torch.Tensor, old_sr: int, new_sr: int) -> torch.Tensor:
    """``julius.resample_frac(x, old_sr, new_sr)`` (default zeros 24, rolloff 0.945; output length
    floor(new_sr · N / old_sr)) with the kernel of :func:`_resample_kernel`."""
    g = math.gcd(old_sr, new_sr)
    old_sr, new_sr = old_sr // g, new_sr // g
    if old_sr == new_sr:
        return x
    kernel, width = _resample_kernel(old_sr, new_sr)
    shape, length = x.shape, x.shape[-1]
    y = F.pad(x.reshape(-1, length)[:, None], (width, width + old_sr), mode="replicate")
    y = F.conv1d(y, kernel.to(x.device, x.dtype), stride=old_sr)
    y = y.transpose(1, 2).reshape(list(shape[:-1]) + [-1])
    return y[..., : int(new_sr * length // old_sr)]


def center_trim(tensor: torch.Tensor, length: int) -> torch.Tensor:
    """demucs.utils.center_trim: the centre ``length`` samples (the odd extra sample removed on the right)."""
    delta = tensor.shape[-1] - length
    if delta < 0:
        raise ValueError(f"tensor must be longer than {length} samples, is {tensor.shape[-1]}")
    return tensor[..., delta // 2: tensor.shape[-1] - (delta - delta // 2)] if delta else tensor


class BLSTM(nn.Module):
    """demucs.demucs.BLSTM without chunking: a BiLSTM over time with as many hidden units as channels, then a linear
    projection back to the channels."""

    def __init__(self, dim: int, layers: int = 1):
        super().__init__()
        self.lstm = nn.LSTM(bidirectional=True, num_layers=layers, hidden_size=dim, input_size=dim)
        self.linear = nn.Linear(2 * dim, dim)

    def forward(self, x):
        x = x.permute(2, 0, 1)
        x = self.linear(lstm(self.lstm, x))
        return x.permute(1, 2, 0)


def _rescale(module: nn.Module, reference: float) -> None:
    """demucs.demucs.rescale_module: divide each convolution's weight and bias by sqrt(std(weight) / reference)."""
    for sub in module.modules():
        if isinstance(sub, (nn.Conv1d, nn.ConvTranspose1d)) and not sub.weight.is_meta:  # meta: counting only
            # = sqrt(weight.std() / reference) in float64 with the C library's sqrt (torch's sqrt and its pow of a
            # 0-dim tensor go through VML)
            scale = math.sqrt(math.sqrt(float(sub.weight.detach().double().var())) / reference)
            sub.weight.data /= scale
            if sub.bias is not None:
                sub.bias.data /= scale


class _Sqrt(torch.autograd.Function):
    """sqrt of a small tensor (Demucs's per-item standard deviation) without MKL's VML: the C library's correctly
    rounded ``sqrt`` per element in float64, rounded once (torch's ``sqrt`` and ``pow(x, 0.5)`` go through VML on
    CPU); backward ``g / (2·y)``."""

    @staticmethod
    def forward(ctx, x):
        if x.device.type != "cpu" or x.is_meta:
            y = torch.sqrt(x)
        else:
            values = [math.sqrt(v) for v in x.detach().double().reshape(-1).tolist()]
            y = torch.tensor(values, dtype=torch.float64).to(x.dtype).reshape(x.shape)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        return grad / (2.0 * y)


class DemucsV2(_WaveformModel):
    """Demucs in the v2 configuration of the ``demucs`` package's ``demucs.demucs.Demucs`` (``dconv_mode=0``,
    ``gelu=False``, ``norm_starts`` past the depth, ``lstm_layers=2``, ``context=1``: a 3-tap decoder rewrite
    convolution): encoder layers Conv1d(K 8, S 4) + ReLU + 1×1 Conv + GLU, channels doubling from ``channels``; a
    2-layer BiLSTM bottleneck; decoder layers 3-tap Conv + GLU + ConvTranspose1d(K 8, S 4) (+ ReLU but the last);
    U-Net skips added; the input is padded to a valid length and the output centre-trimmed; optional ×2 up-sampling
    inside (``resample``) and input standardisation (``normalize``); convolution weights rescaled at construction
    (``rescale`` 0.1)."""

    def __init__(self, config: dict):
        super().__init__(config)
        cfg = self.config
        self.audio_channels = 2
        self.kernel_size, self.stride, self.depth = cfg["kernel_size"], cfg["stride"], cfg["depth"]
        self.resample, self.normalize, ctx = cfg["resample"], cfg["normalize"], cfg["context"]
        self.encoder = nn.ModuleList()
        self.decoder = nn.ModuleList()
        channels, in_channels = cfg["channels"], self.audio_channels
        for index in range(self.depth):
            # the package's layer layout, Identity standing where its (unused here) group norms are
            self.encoder.append(nn.Sequential(
                nn.Conv1d(in_channels, channels, self.kernel_size, self.stride), nn.Identity(), nn.ReLU(),
                nn.Conv1d(channels, 2 * channels, 1), nn.Identity(), nn.GLU(dim=1)))
            out_channels = in_channels if index > 0 else len(SOURCES) * self.audio_channels
            decode = [nn.Conv1d(channels, 2 * channels, 2 * ctx + 1, padding=ctx), nn.Identity(), nn.GLU(dim=1),
                      nn.ConvTranspose1d(channels, out_channels, self.kernel_size, self.stride)]
            if index > 0:
                decode += [nn.Identity(), nn.ReLU()]
            self.decoder.insert(0, nn.Sequential(*decode))
            in_channels = channels
            channels = int(cfg["growth"] * channels)
        self.lstm = BLSTM(in_channels, cfg["lstm_layers"]) if cfg["lstm_layers"] else None
        if cfg["rescale"]:
            _rescale(self, cfg["rescale"])

    def valid_length(self, length: int) -> int:
        """demucs.demucs.Demucs.valid_length: the padded input length with no sample left over by any layer."""
        if self.resample:
            length *= 2
        for _ in range(self.depth):
            length = max(1, math.ceil((length - self.kernel_size) / self.stride) + 1)
        for _ in range(self.depth):
            length = (length - 1) * self.stride + self.kernel_size
        if self.resample:
            length = math.ceil(length / 2)
        return int(length)

    def sources(self, wave: torch.Tensor) -> torch.Tensor:
        x, length = wave, wave.shape[-1]
        if self.normalize:
            mono = wave.mean(dim=1, keepdim=True)
            mean = mono.mean(dim=-1, keepdim=True)
            std = _Sqrt.apply(mono.var(dim=-1, keepdim=True))  # Tensor.std's sqrt goes through VML
            x = (x - mean) / (1e-5 + std)
        else:
            mean, std = 0, 1
        delta = self.valid_length(length) - length
        x = F.pad(x, (delta // 2, delta - delta // 2))
        if self.resample:
            x = resample_frac(x, 1, 2)
        saved = []
        for encode in self.encoder:
            x = encode(x)
            saved.append(x)
        if self.lstm is not None:
            x = self.lstm(x)
        for decode in self.decoder:
            x = decode(x + center_trim(saved.pop(-1), x.shape[-1]))
        if self.resample:
            x = resample_frac(x, 2, 1)
        x = x * std + mean
        x = center_trim(x, length)
        return x.reshape(x.shape[0], len(SOURCES), self.audio_channels, x.shape[-1])


# ---------------------------------------------------------------------------------------------- Conv-TasNet

class GlobLN(nn.Module):
    """asteroid's global layer norm (gLN): normalise over channels and time per item, then a per-channel gain and
    bias (``gamma``, ``beta``); computed by ``F.group_norm`` with one group (the same statistics, eps 1e-8; its
    inverse square root is the processor's IEEE one, asteroid's ``sqrt`` goes through VML)."""

    def __init__(self, channel_size: int):
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(channel_size))
        self.beta = nn.Parameter(torch.zeros(channel_size))

    def forward(self, x):
        return F.group_norm(x, 1, self.gamma, self.beta, eps=1e-8)


class _FreeFB(nn.Module):
    """asteroid_filterbanks' free filterbank (learned filters ``_filters``, Xavier-normal initialised)."""

    def __init__(self, n_filters: int, kernel_size: int):
        super().__init__()
        self._filters = nn.Parameter(torch.ones(n_filters, 1, kernel_size))
        nn.init.xavier_normal_(self._filters)


class _Codec(nn.Module):
    def __init__(self, n_filters: int, kernel_size: int):
        super().__init__()
        self.filterbank = _FreeFB(n_filters, kernel_size)


class Conv1DBlock(nn.Module):
    """asteroid.masknn.convolutional.Conv1DBlock (non-causal, gLN): 1×1 conv, PReLU, gLN, depth-wise dilated conv,
    PReLU, gLN; residual and skip 1×1 convs."""

    def __init__(self, in_chan, hid_chan, skip_out_chan, kernel_size, padding, dilation):
        super().__init__()
        self.shared_block = nn.Sequential(
            nn.Conv1d(in_chan, hid_chan, 1), nn.PReLU(), GlobLN(hid_chan),
            nn.Conv1d(hid_chan, hid_chan, kernel_size, padding=padding, dilation=dilation, groups=hid_chan),
            nn.PReLU(), GlobLN(hid_chan))
        self.res_conv = nn.Conv1d(hid_chan, in_chan, 1)
        self.skip_conv = nn.Conv1d(hid_chan, skip_out_chan, 1)

    def forward(self, x):
        shared = self.shared_block(x)
        return self.res_conv(shared), self.skip_conv(shared)


class TDConvNet(nn.Module):
    """asteroid.masknn.convolutional.TDConvNet with skip connections: gLN + 1×1 bottleneck, R repeats of X blocks
    with dilations 1 … 2^(X−1), PReLU + 1×1 conv to n_src masks, mask non-linearity."""

    def __init__(self, in_chan, n_src, n_blocks, n_repeats, bn_chan, hid_chan, skip_chan, conv_kernel_size,
                 mask_act):
        super().__init__()
        self.n_src, self.out_chan = n_src, in_chan
        self.bottleneck = nn.Sequential(GlobLN(in_chan), nn.Conv1d(in_chan, bn_chan, 1))
        self.TCN = nn.ModuleList(
            Conv1DBlock(bn_chan, hid_chan, skip_chan, conv_kernel_size, padding=(conv_kernel_size - 1) * 2**x // 2,
                        dilation=2**x)
            for _ in range(n_repeats) for x in range(n_blocks))
        self.mask_net = nn.Sequential(nn.PReLU(), nn.Conv1d(skip_chan, n_src * in_chan, 1))
        if mask_act not in ("sigmoid", "relu"):
            raise ValueError(f"Conv-TasNet: mask_act must be 'sigmoid' or 'relu', got {mask_act!r}")
        self.mask_act = mask_act

    def forward(self, w):
        batch, _, n_frames = w.shape
        output = self.bottleneck(w)
        skip_connection = torch.zeros((), device=w.device, dtype=w.dtype)
        for layer in self.TCN:
            residual, skip = layer(output)
            skip_connection = skip_connection + skip
            output = output + residual
        score = self.mask_net(skip_connection).view(batch, self.n_src, self.out_chan, n_frames)
        return torch.sigmoid(score) if self.mask_act == "sigmoid" else F.relu(score)


class ConvTasNet(_WaveformModel):
    """asteroid.models.ConvTasNet (free filterbank, gLN, non-causal) for the four sources. The package model is
    mono: a stereo mixture is separated channel by channel with the same network (channels folded into the batch),
    as the package does for a multi-channel input of shape (B, C, N) (its ``_unsqueeze_to_3d``/``_shape_reconstructed``
    treat C as extra batch items only for 3-D input with C = 1: the fold is made explicit here)."""

    def __init__(self, config: dict):
        super().__init__(config)
        cfg = self.config
        self.kernel_size, self.stride = cfg["fb_kernel_size"], cfg["fb_stride"]
        self.encoder = _Codec(cfg["n_filters"], self.kernel_size)
        self.masker = TDConvNet(cfg["n_filters"], len(SOURCES), cfg["n_blocks"], cfg["n_repeats"], cfg["bn_chan"],
                                cfg["hid_chan"], cfg["skip_chan"], cfg["conv_kernel_size"], cfg["mask_act"])
        self.decoder = _Codec(cfg["n_filters"], self.kernel_size)

    def separate_mono(self, wav: torch.Tensor) -> torch.Tensor:
        """(B, 1, N) -> (B, n_src, N): asteroid's BaseEncoderMaskerDecoder.forward (encoder, masks × representation,
        decoder, zero-padded/cut to the input length)."""
        tf_rep = F.conv1d(wav, self.encoder.filterbank._filters, stride=self.stride)
        masked = self.masker(tf_rep) * tf_rep.unsqueeze(1)
        b, s, n, t = masked.shape
        decoded = F.conv_transpose1d(masked.reshape(b * s, n, t), self.decoder.filterbank._filters,
                                     stride=self.stride).reshape(b, s, -1)
        length = wav.shape[-1]
        return F.pad(decoded, (0, max(0, length - decoded.shape[-1])))[..., :length]

    def sources(self, wave: torch.Tensor) -> torch.Tensor:
        b, c, n = wave.shape
        est = self.separate_mono(wave.reshape(b * c, 1, n))  # (B·C, 4, N)
        return est.reshape(b, c, len(SOURCES), n).transpose(1, 2)
