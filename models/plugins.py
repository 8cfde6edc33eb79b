"""Out-of-tree models: the ``amss_bench.models`` entry points of the installed packages.

A package declares, e.g. in its ``pyproject.toml``::

    [project.entry-points."amss_bench.models"]
    my-net = "my_pkg.registration:register"

``register`` is a function without arguments that calls :func:`models.registry.register` (and, for its own
training recipes, :func:`models.recipes.register_family`). The entry points are run once, in name order,
the first time the registry is looked up (:func:`ensure_loaded`), in every process (DVC stages, evaluation
workers), so a checkpoint of an out-of-tree model loads wherever its package is installed.

A failing entry point (import error, exception, a refused registration) raises :class:`PluginError` naming the
distribution, its version and the entry point; the registry is left as it was (no half-loaded package), and
every later look-up raises the same error until the package is fixed or uninstalled — or
``AMSS_BENCH_MODEL_PLUGINS=0`` is set, which skips the entry points altogether.
"""

from __future__ import annotations

import importlib.metadata
import os

GROUP = "amss_bench.models"
ENV_SWITCH = "AMSS_BENCH_MODEL_PLUGINS"

_state = {"loaded": False, "origin": None}


class PluginError(ValueError):
    """An ``amss_bench.models`` entry point that cannot be loaded (the message names distribution and entry point)."""


def current_origin() -> str | None:
    """The entry point being run (``registry.register`` records it as the entry's origin), else None."""
    return _state["origin"]


def describe(ep) -> str:
    dist = getattr(ep, "dist", None)
    where = f"distribution {dist.metadata['Name']} {dist.version}" if dist is not None else "unknown distribution"
    return f"entry point {ep.name!r} = {ep.value!r} ({GROUP}) of {where}"


def entry_points() -> list:
    return sorted(importlib.metadata.entry_points(group=GROUP), key=lambda ep: (ep.name, ep.value))


def ensure_loaded() -> None:
    if not _state["loaded"]:
        load()


def load(eps=None) -> list[str]:
    """Run the entry points (default: every installed one) and return the names of the models they added.

    All or nothing: on any failure the registrations of this call are undone and :class:`PluginError` raised."""
    from models import registry
    from models import recipes

    _state["loaded"] = True  # set first: an entry point's own registry look-ups must not load again
    if os.environ.get(ENV_SWITCH, "1").strip().lower() in ("0", "false", "no", "off"):
        return []
    before = set(registry._ENTRIES)
    families = set(recipes.RECIPES)
    try:
        for ep in entry_points() if eps is None else eps:
            label = describe(ep)
            try:
                func = ep.load()
            except Exception as err:  # noqa: BLE001 - any import-time failure of third-party code
                raise PluginError(f"{label}: cannot be imported: {type(err).__name__}: {err}") from err
            if not callable(func):
                raise PluginError(f"{label}: is a {type(func).__name__}, expected a function that calls "
                                  f"models.registry.register")
            _state["origin"] = label
            try:
                func()
            except Exception as err:  # noqa: BLE001
                raise PluginError(f"{label}: registration failed: {type(err).__name__}: {err}") from err
            finally:
                _state["origin"] = None
    except PluginError as err:
        _undo(before, families)
        _state["loaded"] = False
        raise PluginError(f"{err} (fix or uninstall the package, or set {ENV_SWITCH}=0 to skip out-of-tree "
                          f"models)") from err.__cause__
    return [n for n in registry._ENTRIES if n not in before]


def _undo(names: set, families: set) -> None:
    from models import registry
    from models import recipes

    for name in [n for n in registry._ENTRIES if n not in names]:
        registry.unregister(name)
    for fam in [f for f in recipes.RECIPES if f not in families]:
        del recipes.RECIPES[fam]


def reset() -> None:
    """Remove every out-of-tree model and recipe family; the entry points run again at the next look-up (tests)."""
    from models import registry
    from models import recipes

    _undo(set(registry.BUILTIN), set(recipes.FAMILIES))
    _state["loaded"] = False

