"""The learned separators of the music-source-separation survey (shared/spec/survey.md §2), registered beside the
thesis models (``models.registry``; docs/models.md, "Survey separators").

Every entry's :class:`models.registry.ModelInfo` has ``collection == "survey"`` and its paper in ``reference``, so
reports can tell them from the thesis models. Paper configurations run stereo at 44.1 kHz (the suite's audio); the
papers' own sample rates and channel counts are config options (``sample_rate``, ``audio_channels``), listed in
``PAPER_NATIVE`` and in docs/models.md.
"""

from __future__ import annotations

from .deepconvsep import DeepConvSep
from .mmdensenet import MMDenseNet
from .waveunet import WaveUNet
from .wavenet import WavenetSeparator

COLLECTION = "survey"

TAKAHASHI = 'N. Takahashi, Y. Mitsufuji, "Multi-scale multi-band DenseNets for audio source separation", WASPAA 2017'
STOLLER = ('D. Stoller, S. Ewert, S. Dixon, "Wave-U-Net: a multi-scale neural network for end-to-end audio source '
           'separation", ISMIR 2018')
LLUIS = ('F. Lluís, J. Pons, X. Serra, "End-to-end music source separation: is it possible in the waveform domain?", '
         'Interspeech 2019')
CHANDNA = ('P. Chandna, M. Miron, J. Janer, E. Gómez, "Monoaural audio source separation using deep convolutional '
           'neural networks", LVA/ICA 2017')

_INFER = dict(amss_min_trim=16384, lasaft_min_trim=5000, overlap_ratio=0.5, inference_mode="lasaft")
_INFER_EMB = dict(amss_min_trim=4096, lasaft_min_trim=1250)
_STFT = dict(n_fft=2048, hop_length=1024, num_frame=128)
_STFT_EMB = dict(n_fft=512, hop_length=256)


def _band(first, dense):
    return {"first": list(first), "dense": [list(d) for d in dense]}


# Table 1 of Takahashi & Mitsufuji 2017: (t, f, channels) of the first convolution; (k, L) of dense blocks 1-7
MMDENSE_BANDS = {
    "low": _band((3, 4, 32), [(14, 4)] + [(16, 4)] * 6),
    "high": _band((3, 3, 32), [(10, 3)] * 7),
    "full": _band((3, 4, 32), [(6, 2)] * 3 + [(6, 4)] + [(6, 2)] * 3),
}
MDENSE_BANDS = {"full": _band((3, 4, 32), [(12, 4)] * 7)}
# embedded: the same 3 bands / 7 blocks / 4 scales, narrower
MMDENSE_BANDS_EMB = {
    "low": _band((3, 4, 8), [(4, 2)] * 7),
    "high": _band((3, 3, 8), [(3, 2)] * 7),
    "full": _band((3, 4, 8), [(2, 2)] * 3 + [(2, 3)] + [(2, 2)] * 3),
}
# growth 6: at growth 4 (8,994 parameters) MDenseNet's `other` stayed at the silence level (0.995 × silence),
# at 6 it clears it (0.902; docs/training.md, "Survey separators")
MDENSE_BANDS_EMB = {"full": _band((3, 4, 8), [(6, 2)] * 7)}


def _dense_entry(row: str, description: str, bands: dict, embedded_bands: dict) -> dict:
    """Registration of a (M)MDenseNet: a dedicated magnitude estimator, one network per source (Table 1)."""
    return dict(
        arch=MMDenseNet, family="dedicated", recipe_family="mmdensenet", pipeline_group="survey_dedicated",
        reference=TAKAHASHI, table="Takahashi 2017, Table 1", row=row, description=description,
        config=dict(**_STFT, **_INFER, source="vocals", bands=bands, final_dense=[4, 2], final_conv=[1, 2],
                    output="magnitude"),
        embedded=dict(**_STFT_EMB, **_INFER_EMB, bands=embedded_bands, final_dense=[4, 2]))


#: name -> registration (models.registry adds these as built-in entries of the "survey" collection)
ENTRIES: dict[str, dict] = {
    "mmdensenet": _dense_entry(
        "MMDenseNet", "multi-scale multi-band DenseNet (low / high / full band), magnitude estimate, one per source",
        MMDENSE_BANDS, MMDENSE_BANDS_EMB),
    "mdensenet": _dense_entry(
        "MDenseNet", "multi-scale DenseNet on the full band, magnitude estimate, one per source",
        MDENSE_BANDS, MDENSE_BANDS_EMB),
    "waveunet": dict(
        arch=WaveUNet, family="conditioned", recipe_family="waveunet", pipeline_group="survey",
        reference=STOLLER, table="Stoller 2018", row="Wave-U-Net (multi-instrument, difference output)",
        description="waveform U-Net, 12 levels, 24·i filters, kernels 15/5, difference output; stereo 44.1 kHz",
        config=dict(**_STFT, **_INFER, levels=12, filters=24, down_kernel=15, up_kernel=5, difference_output=True,
                    audio_channels=2, sample_rate=44100),
        embedded=dict(**_STFT_EMB, **_INFER_EMB, levels=6, filters=8)),
    "wavenet-separator": dict(
        arch=WavenetSeparator, family="conditioned", recipe_family="wavenet", pipeline_group="survey",
        reference=LLUIS, table="Lluís 2019", row="Wavenet-based, 4 stacks",
        description="non-causal WaveNet, 4 stacks × 10 dilations, 64 channels, direct waveform regression of "
                    "vocals / drums / bass (other = remainder); stereo 44.1 kHz",
        config=dict(**_STFT, **_INFER, stacks=4, dilations=10, channels=64, kernel=3, final=[2048, 256], outputs=3,
                    audio_channels=2, sample_rate=44100),
        embedded=dict(**_STFT_EMB, **_INFER_EMB, stacks=2, dilations=8, channels=16, final=[64, 32])),
    "deepconvsep": dict(
        arch=DeepConvSep, family="conditioned", recipe_family="deepconvsep", pipeline_group="survey",
        reference=CHANDNA, table="Chandna 2017", row="DeepConvSep (4 decoders)",
        description="vertical (timbre) then horizontal (time) convolution, 128-unit bottleneck, 4 decoders, soft "
                    "masks; 30 frames of STFT 1024 / hop 512; stereo",
        config=dict(_INFER, n_fft=1024, hop_length=512, num_frame=30, vertical_filters=50, horizontal_filters=30,
                    horizontal_kernel=10, bottleneck=128, audio_channels=2, lasaft_min_trim=2048),
        embedded=dict(_INFER_EMB, n_fft=512, hop_length=256, vertical_filters=16, horizontal_filters=8,
                      bottleneck=64)),
}

#: the papers' own input settings where they differ from the suite's stereo 44.1 kHz (config overrides)
PAPER_NATIVE: dict[str, dict] = {
    "waveunet": dict(sample_rate=22050),
    "wavenet-separator": dict(sample_rate=16000, audio_channels=1),
    "deepconvsep": dict(audio_channels=1),
}
