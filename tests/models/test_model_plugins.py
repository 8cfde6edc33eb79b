"""Out-of-tree models (models.plugins, registry.register): a tiny package installed with pip into a temporary
folder is found through its ``amss_bench.models`` entry point, listed, trained for 2 steps, and its checkpoint
loads and evaluates; clashing names and broken entry points give errors naming the distribution and entry point.
The registry entries of the thesis models carry the recipe family and pipeline group their names implied."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import yaml

from models import checkpoint, plugins, registry
from models import recipes

REPO = Path(__file__).resolve().parents[2]

PLUGIN = '''
import torch
from torch import nn

from models import registry
from models.base import MUTE_ALL, AudioModel, parse_query
from models import recipes


class TinyGain(AudioModel):
    """A 1x1 convolution over the 4 CaC channels: the smallest AudioModel that learns something."""

    representation = "cac"

    def __init__(self, config):
        super().__init__(config)
        self.source = config["source"]
        self.mix = nn.Conv2d(4, 4, 1)

    def reset_parameters(self):
        nn.init.xavier_normal_(self.mix.weight)
        nn.init.zeros_(self.mix.bias)

    def estimate(self, spec, cond=None):
        return self.mix(spec)

    def supported_queries(self):
        return [MUTE_ALL] if self.source == "other" else [f"separate {self.source}"]

    def condition_for(self, query):
        q = parse_query(query)
        if q.canonical not in [parse_query(s).canonical for s in self.supported_queries()]:
            raise self._unsupported(query)
        return None


def register():
    recipes.register_family("tiny", paper=dict(lr=1e-3, batch_size=8),
                            embedded=dict(lr=5e-3, batch_size=2, segment=3840, max_steps=50, valid_tracks=1,
                                          valid_seconds=1.0, valid_batch=2, valid_every_epochs=None, keep_top_k=1,
                                          precision="fp32", threads=1))
    registry.register("tiny-gain", family="dedicated", arch=TinyGain, recipe_family="tiny",
                      config=dict(n_fft=2048, hop_length=1024, num_frame=128, source="vocals",
                                  inference_mode="lasaft"),
                      embedded=dict(n_fft=512, hop_length=256, num_frame=64, lasaft_min_trim=1250),
                      recipes={"embedded": dict(lr=1e-2)}, published_params=20,
                      description="test plugin: 1x1 convolution on the CaC spectrogram")
'''

PYPROJECT = '''
[build-system]
requires = ["setuptools"]
build-backend = "setuptools.build_meta"

[project]
name = "amss-tiny-plugin"
version = "0.3.1"

[project.entry-points."amss_bench.models"]
tiny-gain = "amss_tiny_plugin:register"

[tool.setuptools]
packages = ["amss_tiny_plugin"]
'''


@pytest.fixture(scope="module")
def target(tmp_path_factory) -> Path:
    """``pip install --no-deps --no-build-isolation --target`` of the tiny package (a real install: dist-info with
    its entry_points.txt, found by importlib.metadata once the folder is on sys.path)."""
    src = tmp_path_factory.mktemp("plugin-src")
    (src / "amss_tiny_plugin").mkdir()
    (src / "amss_tiny_plugin" / "__init__.py").write_text(PLUGIN)
    (src / "pyproject.toml").write_text(PYPROJECT)
    out = tmp_path_factory.mktemp("plugin-target")
    res = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index",
                          "--quiet", "--target", str(out), str(src)], capture_output=True, text=True,
                         cwd=tmp_path_factory.mktemp("pip-cwd"))
    assert res.returncode == 0, res.stderr
    assert (out / "amss_tiny_plugin").is_dir() and list(out.glob("amss_tiny_plugin-0.3.1.dist-info"))
    return out


@pytest.fixture()
def on_path(monkeypatch):
    """Put folders on sys.path (and PYTHONPATH for subprocesses); the registry forgets out-of-tree models after."""
    added = []

    def add(folder: Path):
        monkeypatch.syspath_prepend(str(folder))
        monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(folder), *filter(None, [os.environ.get("PYTHONPATH")])]))
        added.append(folder)
        plugins.reset()

    yield add
    for name in [m for m in sys.modules if m.startswith(("amss_tiny_plugin", "amss_bad_"))]:
        del sys.modules[name]
    plugins.reset()


def fake_dist(root: Path, dist: str, entry: str, module: str | None = None, code: str = "") -> Path:
    """A minimal installed distribution (dist-info with METADATA and entry_points.txt) plus an optional module."""
    info = root / f"{dist.replace('-', '_')}-0.0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.0.1\n")
    (info / "entry_points.txt").write_text(f"[amss_bench.models]\n{entry}\n")
    if module:
        (root / f"{module}.py").write_text(code)
    return root


# ------------------------------------------------------------------------------------------- built-in entries

def _prefix_family(name: str, family: str) -> str:
    """The recipe family as models/recipes.py derived it from the name before the registry carried it."""
    if family == "amss":
        return "amss"
    if family == "conditioned":
        return "lasaft12" if name == "lasaft-gpocm-net12" else "cunet"
    return "u17" if name.startswith("u17") else "u9l" if name.startswith("u9l") else "u7"


def test_builtin_entries_carry_the_families_their_names_implied():
    params = yaml.safe_load((REPO / "params.yaml").read_text())["train"]
    group_of = {m: g for key, g in (("dedicated_all_stems", "dedicated"), ("dedicated_vocals", "dedicated"),
                                    ("separation", "separation"), ("amss", "amss"),
                                    ("survey_dedicated", "survey_dedicated"), ("survey", "survey"))
                for m in params[key]}
    infos = registry.list_models()
    thesis = [i for i in infos if i.collection == "thesis"]
    assert len(thesis) == 23 and all(i.origin == "built-in" for i in infos)
    for info in thesis:
        assert info.recipe_family == _prefix_family(info.name, info.family), info.name
    for info in infos:
        assert recipes.family_of(info.name) == info.recipe_family
        assert info.pipeline_group == group_of[info.name], info.name  # the DVC stage list it is trained in
    assert sorted(group_of) == sorted(i.name for i in infos)


def test_register_refuses_builtin_names_and_bad_fields():
    from models.registry import RegistrationError

    with pytest.raises(RegistrationError, match="'u7-dcse' is a built-in model"):
        registry.register("u7-dcse", family="dedicated", arch="dedicated", config={}, recipe_family="u7")
    with pytest.raises(RegistrationError, match="'lasaft-gpocm-net11' is a built-in"):
        registry.register("x-net", family="conditioned", arch="conditioned", config={}, recipe_family="cunet",
                          aliases=("lasaft-gpocm-net11",))
    with pytest.raises(RegistrationError, match="field 'family' is 'mystery'"):
        registry.register("x-net", family="mystery", arch="dedicated", config={}, recipe_family="u7")
    with pytest.raises(RegistrationError, match="field 'recipe_family' is 'nope'"):
        registry.register("x-net", family="dedicated", arch="dedicated", config={}, recipe_family="nope")
    with pytest.raises(RegistrationError, match="no '@' or '/'"):
        registry.register("x@net", family="dedicated", arch="dedicated", config={}, recipe_family="u7")
    assert "x-net" not in registry.model_names()


def test_a_new_config_of_a_builtin_arch(on_path, tmp_path):
    on_path(tmp_path)  # an empty folder: no entry points, only the cleanup
    info = registry.register("u5-dcse", family="dedicated", arch="dedicated", recipe_family="u7",
                             config=dict(n_blocks=5, time_down=[True, True]), embedded=dict(time_down=[True, True]))
    assert (info.pipeline_group, info.origin, info.task_set) == ("dedicated", "register()", "separation-dedicated")
    model = registry.create("u5-dcse@embedded", seed=0)
    assert model.info.name == "u5-dcse@embedded" and model.config["n_blocks"] == 5 and model.config["channels"] == 8
    # its recipe family's (u7-mme has no model-specific keys; u7-dme and u7-dcse do)
    assert recipes.recipe_for("u5-dcse")["max_steps"] == recipes.recipe_for("u7-mme")["max_steps"]
    assert recipes.recipe_for("u5-dcse")["lr"] == recipes.RECIPES["u7"]["embedded"]["lr"]
    ckpt = checkpoint.save(model, tmp_path / "m.pt")
    assert checkpoint.load(ckpt).info.name == "u5-dcse@embedded"  # not "@custom": the config round trip is exact


# ------------------------------------------------------------------------------------------- the installed plugin

def test_installed_plugin_is_listed_in_a_fresh_process(target, on_path):
    on_path(target)
    res = subprocess.run([sys.executable, "-m", "benchmark.cli", "models", "list", "--json"], cwd=REPO,
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    rows = {r["name"]: r for r in json.loads(res.stdout)}
    row = rows["tiny-gain"]
    assert (row["family"], row["recipe_family"], row["pipeline_group"]) == ("dedicated", "tiny", "dedicated")
    assert "'tiny-gain'" in row["origin"] and "amss-tiny-plugin 0.3.1" in row["origin"]
    assert row["params"] == 20 and row["matches_published"] is True and row["embedded_params"] == 20
    assert len(rows) == 24 + len(registry.model_names(collection="survey")) and rows["u7-dcse"]["origin"] == "built-in"


def test_installed_plugin_trains_and_its_checkpoint_evaluates(target, on_path, tiny_root, tmp_path):
    from baselines.model import ModelSystem
    from benchmark.task import dsp
    from benchmark.cli import main
    from benchmark.task.tasks import get_task

    on_path(target)
    rec = recipes.recipe_for("tiny-gain", "embedded", {"train": {"embedded": {"tiny": {"valid_batch": 1}}}})
    assert (rec["family"], rec["lr"], rec["batch_size"], rec["valid_batch"]) == ("tiny", 1e-2, 2, 1)
    out = tmp_path / "run"
    rc = main(["train", "--model", "tiny-gain", "--root", str(tiny_root), "--source", "synthetic", "--profile",
               "embedded", "--seed", "3", "--max-steps", "2", "--out", str(out)])
    assert rc == 0
    meta = checkpoint.read_metadata(out / "model.pt")
    assert meta["name"] == "tiny-gain" and meta["metadata"]["training"]["steps"] == 2 and meta["config"]["n_fft"] == 512
    model = checkpoint.load(out / "model.pt", expected_name="tiny-gain")
    assert model.info.name == "tiny-gain@embedded" and model.info.recipe_family == "tiny"
    fresh = registry.create("tiny-gain@embedded", seed=3)
    assert not np.allclose(model.mix.weight.detach().numpy(), fresh.mix.weight.detach().numpy())  # it trained

    rng = np.random.default_rng(0)
    x = (0.1 * rng.standard_normal((22050, 2))).astype(np.float32)
    system = ModelSystem("tiny-gain", out / "model.pt")
    est = system.estimate(get_task("sdr-vocals"), dsp.Pair(x, x, "separate vocals"), track="t")
    assert est.shape == x.shape and np.isfinite(est).all() and not np.allclose(est, x, atol=1e-3)
    want = model.manipulate(x, "separate vocals")
    assert np.allclose(est, want, atol=1e-5)

    # `amss-bench evaluate` of the checkpoint, in two worker processes that find the package themselves
    from benchmark.task.testset import TestSet, build

    build(tiny_root, tmp_path / "testset", progress=False)
    ts = TestSet.open(tmp_path / "testset")
    assert main(["evaluate", "--model", "tiny-gain", "--checkpoint", str(out / "model.pt"), "--tasks", "sdr-vocals",
                 "--testset", str(tmp_path / "testset"), "--out", str(tmp_path / "results"), "--backend", "sdr-only",
                 "--workers", "2", "--no-progress"]) == 0
    docs = sorted((tmp_path / "results").glob("tiny-gain@embedded/sdr-vocals/*.json"))
    assert [d.stem for d in docs] == ts.tracks()
    meta = json.loads(docs[0].read_text())["system"]["metadata"]
    assert (meta["model"], meta["checkpoint"], meta["training"]["steps"]) == ("tiny-gain", "model.pt", 2)
    assert meta["model_info"]["name"] == "tiny-gain@embedded"


# ------------------------------------------------------------------------------------------- failures

def test_broken_entry_point_named_and_nothing_half_loaded(on_path, tmp_path, monkeypatch):
    on_path(fake_dist(tmp_path, "amss-bad-import", "bad-net = amss_bad_missing:register"))
    with pytest.raises(plugins.PluginError) as err:
        registry.model_names()
    msg = str(err.value)
    assert "entry point 'bad-net'" in msg and "distribution amss-bad-import 0.0.1" in msg
    assert "ModuleNotFoundError" in msg and "AMSS_BENCH_MODEL_PLUGINS=0" in msg
    with pytest.raises(plugins.PluginError):  # still refused at the next look-up, not silently skipped
        registry.get_info("u7-dcse")
    monkeypatch.setenv("AMSS_BENCH_MODEL_PLUGINS", "0")
    assert registry.model_names() == registry.model_names(builtin_only=True) + registry.model_names(collection="survey")


def test_clashing_entry_point_refused_and_undone(on_path, tmp_path):
    code = textwrap.dedent('''
        from models import registry
        from models import recipes

        def register():
            recipes.register_family("clash-fam", paper={}, embedded={})
            registry.register("my-u7", family="dedicated", arch="dedicated", config={}, recipe_family="u7")
            registry.register("amss-net", family="amss", arch="amss", config={}, recipe_family="amss")
    ''')
    on_path(fake_dist(tmp_path, "amss-bad-clash", "clash = amss_bad_clash:register", "amss_bad_clash", code))
    with pytest.raises(plugins.PluginError, match=r"entry point 'clash'.*amss-bad-clash 0\.0\.1.*'amss-net' is a "
                                                  r"built-in model"):
        registry.resolve("amss-net")
    assert "my-u7" not in registry._ENTRIES and "clash-fam" not in recipes.RECIPES  # all or nothing
    assert registry._ENTRIES["amss-net"][0]["published_params"] == 4_245_068  # the built-in entry untouched


def test_cli_reports_a_broken_entry_point(on_path, tmp_path, capsys):
    from benchmark.cli import main

    on_path(fake_dist(tmp_path, "amss-bad-raise", "boom = amss_bad_raise:register", "amss_bad_raise",
                      "def register():\n    raise RuntimeError('no weights here')\n"))
    assert main(["models", "list"]) == 2
    err = capsys.readouterr().err
    assert "entry point 'boom'" in err and "amss-bad-raise 0.0.1" in err and "RuntimeError: no weights here" in err
