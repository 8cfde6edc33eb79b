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

This module is the bottom of ``models``' registration: it imports neither the registry nor the recipes. They call
:func:`ensure_loaded` before a look-up and :func:`record` for each addition; the undo log makes a load all or
nothing.
"""

from __future__ import annotations

import importlib.metadata
import os

GROUP = "amss_bench.models"
ENV_SWITCH = "AMSS_BENCH_MODEL_PLUGINS"

_state = {"loaded": False, "origin": None}
#: how to take back each out-of-tree addition (a model, a recipe family), oldest first
_undo_log: list = []


class PluginError(ValueError):
    """An ``amss_bench.models`` entry point that cannot be loaded (the message names distribution and entry point)."""


def current_origin() -> str | None:
    """The entry point being run (``registry.register`` records it as the entry's origin), else None."""
    return _state["origin"]


def record(undo) -> None:
    """Note how to take back an out-of-tree addition: ``registry.register`` and ``recipes.register_family`` call
    this for every model or family they add, so that a failed entry point leaves nothing behind and :func:`reset`
    removes them all. ``undo`` is a function without arguments."""
    _undo_log.append(undo)


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
    """Run the entry points (default: every installed one) and return their descriptions, in the order run.

    All or nothing: on any failure the registrations of this call are undone and :class:`PluginError` raised."""
    _state["loaded"] = True  # set first: an entry point's own registry look-ups must not load again
    if os.environ.get(ENV_SWITCH, "1").strip().lower() in ("0", "false", "no", "off"):
        return []
    mark = len(_undo_log)
    ran = []
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
            ran.append(label)
    except PluginError as err:
        _undo(mark)
        _state["loaded"] = False
        raise PluginError(f"{err} (fix or uninstall the package, or set {ENV_SWITCH}=0 to skip out-of-tree "
                          f"models)") from err.__cause__
    return ran


def _undo(mark: int) -> None:
    """Take back the additions recorded after the first ``mark`` ones, newest first."""
    while len(_undo_log) > mark:
        _undo_log.pop()()


def reset() -> None:
    """Remove every out-of-tree model and recipe family; the entry points run again at the next look-up (tests)."""
    _undo(0)
    _state["loaded"] = False
