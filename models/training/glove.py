"""GloVe for AMSS-Net's word embeddings in training runs (models.md §3.2; docs/fidelity.md "2. GloVe").

The reference (AMSS-Net ``src/amss/script/trainer.py``) copies the GloVe 6B-100d vector of every vocabulary token
that GloVe has into the embedding (``,`` included) after the random initialisation. Here the file comes from
``params.yaml`` ``glove.<profile>`` (a local ``glove.6B.100d.txt``; nothing is downloaded) or ``none``, an explicit
opt-out that trains with random embeddings and is labelled so (:func:`label`) in the checkpoint metadata, the
evaluation results and the report.
"""

from __future__ import annotations

from pathlib import Path

from benchmark.base import params as bparams

#: the ``word_embeddings`` label of a run trained without GloVe
RANDOM = {"init": "random", "glove": bparams.GLOVE_NONE}


class GloveError(ValueError):
    """The configured GloVe file is missing (the message says where to put it and how to opt out)."""


def resolve(profile: str, params: dict | None, model_overrides: dict) -> str | None:
    """The GloVe file an AMSS training run uses, or None for random embeddings.

    An explicit ``glove_path`` model override (``--model-set glove_path=…``) wins; otherwise ``glove.<profile>``
    of ``params`` (its default when absent). A configured file that does not exist is an error, never a silent
    fallback to random embeddings."""
    where = (params or {}).get("_path", "params.yaml")
    if "glove_path" in model_overrides:
        path = model_overrides["glove_path"]
        if path in (None, "", bparams.GLOVE_NONE):
            return None
        origin = "--model-set glove_path"
    else:
        path = bparams.glove_setting(params, profile)
        if path == bparams.GLOVE_NONE:
            return None
        origin = f"{where}: glove.{profile}"
    if not Path(path).is_file():
        raise GloveError(
            f"{origin} is {str(path)!r}, but there is no such file. AMSS-Net's word embeddings are initialised from "
            f"GloVe 6B-100d (models.md §3.2) and nothing is downloaded: put glove.6B.100d.txt (from glove.6B.zip of "
            f"the Stanford GloVe project) at {path}, or opt out explicitly with 'glove: {{{profile}: none}}' in "
            f"{where} (random word embeddings; the run is labelled 'trained without GloVe')")
    return str(path)


def label(path: str | None, rows: int | None = None) -> dict:
    """The ``word_embeddings`` metadata of a run: ``{"init": "glove", "glove": FILE NAME, "rows": N}`` or
    :data:`RANDOM`."""
    if path is None:
        return dict(RANDOM)
    return {"init": "glove", "glove": Path(path).name, "rows": rows}

