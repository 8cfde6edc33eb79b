"""Every trainable architecture of the thesis, built from shared blocks (``models.blocks``), with one registry,
one inference interface and full-track chunking. Details and parameter tables: ``docs/models.md``.

Registry
--------
>>> from models import registry
>>> [i.name for i in registry.list_models()]            # ModelInfo: name, family, table, row, published_params,
...                                                       #   config, task_set, source, thesis_params, ...
>>> model = registry.create("amss-net")                  # paper configuration (4 245 068 parameters)
>>> small = registry.create("amss-net", profile="embedded", seed=0)   # scaled down, name "amss-net@embedded"
>>> model.manipulate(audio, "pan vocals completely to the left side")  # (N, 2) float32 -> (N, 2) float32

Training contract (for the trainer)
-----------------------------------
Every model is an ``nn.Module`` (subclass of ``models.base.AudioModel``) with

* ``model.chunk_samples`` — training window in samples, ``hop · (num_frame − 1)`` (130 048 for paper configs;
  32 512 for the embedded profile). A centred STFT of that many samples has exactly ``num_frame`` (128) frames.
* ``cond = model.make_condition(queries, device)`` — batch condition from a list of AML strings (or ``aml.Query``):

  - dedicated U-Nets: ``None`` (each query must be the model's own source, e.g. "separate vocals";
    the "other" model answers "mute vocals, drums, bass");
  - conditioned U-Nets: ``LongTensor (B,)`` of condition indices (0 vocals, 1 drums, 2 bass, 3 other);
    ``make_condition`` also accepts plain ints;
  - AMSS-Net family: ``(tokens LongTensor (B, L_w), lengths LongTensor (B,))`` — ``aml.encode`` ids, right-padded
    with 0 (``<pad>``); descriptions from ``aml.Sampler(task_set=model.info.task_set)``.

* ``est = model(mixture_wave, cond)`` — mixture waveforms ``(B, 2, N)`` float32 → estimated target spectrogram:
  CaC ``(B, 4, T, F)`` ordered ``[Re L, Re R, Im L, Im R]`` for DCSE / CME / conditioned / AMSS models, linear
  magnitude ``(B, 2, T, F)`` for DME / MME (``model.representation`` is "cac" or "mag"). For CME/MME the mask is
  already applied (est = mask ⊙ mixture spectrogram).
* ``target = model.spec(target_wave)`` — the same representation of the target waveform.
* loss: ``torch.nn.functional.mse_loss(est, target)`` (spectrogram MSE, all models; models.md §4.2).
* validation: ``model.to_wave(est, mixture_wave)`` (or ``model.separate(wave, cond)``) gives waveforms
  ``(B, 2, N)``; the reference validation loss is L1 between output and target waveforms.
* BatchNorm needs a batch of ≥ 2 in train mode (the GPoCM condition generator normalises across the batch).
* ``models.checkpoint.save(model, path, extra_metadata)`` / ``models.checkpoint.load(path)``.
* Initialisation (models.md §0.9) is applied by ``registry.create`` (``seed=`` makes it reproducible); AMSS models
  take ``glove_path=".../glove.6B.100d.txt"`` (a local file; nothing is downloaded) to initialise known words.
"""

from .registry import ModelInfo, create, get_info, list_models  # noqa: F401

__all__ = ["ModelInfo", "create", "get_info", "list_models"]
