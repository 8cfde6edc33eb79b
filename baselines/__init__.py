"""Evaluated systems that need no training, and the common system protocol (see :mod:`baselines.base`).

``SYSTEMS`` maps the names accepted by ``amss-bench evaluate --system`` to factories; ``get_system(name)`` builds
one. Trained models are wrapped by :class:`baselines.model.ModelSystem`, estimate folders by
:class:`baselines.estimates.EstimatesSystem`; the separate-then-DSP cascade (:mod:`baselines.cascade`) needs a
trained separator: :func:`baselines.cascade.from_checkpoint`, ``evaluate --system separate-then-dsp``; the spatial
separators ``ica``, ``duet``, ``adress``, ``projet`` (:mod:`baselines.spatial`) are that cascade over a training-free
separator, their parameters from ``params.yaml`` ``baselines.<method>`` (``params=``).
"""

from __future__ import annotations

import functools

from baselines.base import System, SystemConfigError, check_name
from baselines.dsp_mixture import DSPMixtureSystem
from baselines.identity import IdentitySystem
from baselines.oracle import OracleSystem
from baselines.spatial import METHODS as SPATIAL_METHODS, SpatialSystem

SYSTEMS = {
    "identity": IdentitySystem,
    "oracle": OracleSystem,
    "dsp-mixture": DSPMixtureSystem,
    **{m: functools.partial(SpatialSystem, m) for m in SPATIAL_METHODS},  # ica, duet, adress, projet
}


def get_system(system: str, /, **kwargs) -> System:
    """Build a training-free system by its registry name (``identity``, ``oracle``, ``dsp-mixture``, ``ica``,
    ``duet``, ``adress``, ``projet``); keyword
    arguments (``name=``, ``label=``, ``seed=`` …) go to its constructor."""
    try:
        factory = SYSTEMS[system]
    except KeyError:
        raise KeyError(f"unknown system {system!r}; known: {', '.join(SYSTEMS)}") from None
    return factory(**kwargs)


def __getattr__(attr):  # lazy: these pull in torch / soundfile only when used
    if attr == "ModelSystem":
        from baselines.model import ModelSystem

        return ModelSystem
    if attr == "EstimatesSystem":
        from baselines.estimates import EstimatesSystem

        return EstimatesSystem
    if attr == "CompositeSystem":
        from baselines.composite import CompositeSystem

        return CompositeSystem
    if attr == "SeparateThenDSPSystem":
        from baselines.cascade import SeparateThenDSPSystem

        return SeparateThenDSPSystem
    raise AttributeError(attr)


__all__ = ["SYSTEMS", "System", "SystemConfigError", "check_name", "get_system", "IdentitySystem", "OracleSystem",
           "DSPMixtureSystem", "SpatialSystem", "SPATIAL_METHODS", "ModelSystem", "EstimatesSystem", "CompositeSystem",
           "SeparateThenDSPSystem"]
