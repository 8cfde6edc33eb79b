"""Importing reference checkpoints (models/reference_import.py).

The reference networks are re-expressed in ``reference_nets.py`` from the reference code (module names and
forward passes transcribed); their ``state_dict`` therefore carries the reference key names. Each test fills one
with seeded random values, wraps it in a Lightning-style checkpoint, imports it, and compares weights and outputs.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest
import reference_nets as ref
import soundfile as sf
import torch
from torch import nn

from benchmark import cli
from models import checkpoint, reference_import, registry
from models.checkpoint import CheckpointError

DEDICATED = [i.name for i in registry.list_models() if i.family == "dedicated" and i.collection == "thesis"]
CONDITIONED = [i.name for i in registry.list_models() if i.family == "conditioned" and i.collection == "thesis"]

# Transcribed from lasaft/pretrained/load_pretrained_nets.py (__define_large_params__) plus the trainer's 'model' key.
LASAFT_LARGE_HP = {
    "n_fft": 4096, "hop_length": 1024, "num_frame": 128, "spec_type": "complex", "spec_est_mode": "mapping",
    "optimizer": "adam", "lr": 0.0001, "train_loss": "spec_mse", "val_loss": "raw_l1", "n_blocks": 9,
    "input_channels": 4, "internal_channels": 24, "first_conv_activation": "relu", "last_activation": "identity",
    "t_down_layers": None, "f_down_layers": None, "tif_init_mode": None, "n_internal_layers": 5, "kernel_size_t": 3,
    "kernel_size_f": 3, "tfc_tdf_activation": "relu", "bn_factor": 16, "min_bn_units": 16, "tfc_tdf_bias": False,
    "num_tdfs": 6, "dk": 32, "control_vector_type": "embedding", "control_input_dim": 4, "embedding_dim": 64,
    "condition_to": "decoder", "control_n_layer": 4, "control_type": "dense", "pocm_type": "matmul",
    "pocm_norm": "batch_norm", "auto_lr_schedule": True, "model": "lasaft_net",
}
# The ISMIR 2020 trainer's defaults (tfc_tdf_net.py / dense_u_net.py add_model_specific_args) for a CaC U7.
ISMIR_HP = {
    "model": "tfc_tdf_net", "target_name": "vocals", "n_fft": 2048, "hop_length": 1024, "num_frame": 128,
    "spec_type": "complex", "spec_est_mode": "mapping", "n_blocks": 7, "input_channels": 4, "internal_channels": 24,
    "first_conv_activation": "relu", "last_activation": "identity", "t_down_layers": None, "f_down_layers": None,
    "n_internal_layers": 5, "kernel_size_t": 3, "kernel_size_f": 3, "bn_factor": 16, "min_bn_units": 16,
    "tfc_tdf_bias": False, "tfc_tdf_activation": "relu", "tif_init_mode": None, "optimizer": "adam", "lr": 0.001,
    "train_loss": "spec_mse", "val_loss": "raw_l1", "layer_level_init_weight": False, "unfreeze_stft_from": -1,
    "dev_mode": False,
}
_METHOD = {  # our method -> (spec_type, spec_est_mode, last_activation, input channels)
    "dme": ("magnitude", "mapping", "relu", 2), "mme": ("magnitude", "masking", "sigmoid", 2),
    "cme_sigmoid": ("complex", "masking", "sigmoid", 4), "cme_tanh": ("complex", "masking", "tanh", 4),
    "dcse": ("complex", "mapping", "identity", 4),
}
_ACT = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "identity": nn.Identity}


def reference_for(name: str):
    """(reference framework module, its hyper-parameters) for one of our embedded configurations."""
    cfg = registry.config_for(name, "embedded")
    if cfg["arch"] == "dedicated":
        spec_type, est_mode, last, c_io = _METHOD[cfg["method"]]
        t_down = [i for i, d in enumerate(cfg["time_down"]) if d]
        bn_factor = cfg["bf"] if cfg["tdf"] == "bottleneck" else None
        net = ref.DenseUNet(cfg["n_fft"], cfg["n_blocks"], c_io, cfg["channels"], cfg["tfc_layers"], cfg["kernel"],
                            _ACT[last](), t_down, bn_factor, cfg["min_units"], cfg["tdf_bias"], cfg["block"])
        hp = dict(ISMIR_HP, model="tfc_net" if cfg["block"] == "tfc" else "tfc_tdf_net", n_fft=cfg["n_fft"],
                  hop_length=cfg["hop_length"], n_blocks=cfg["n_blocks"], input_channels=c_io,
                  internal_channels=cfg["channels"], n_internal_layers=cfg["tfc_layers"], spec_type=spec_type,
                  spec_est_mode=est_mode, last_activation=last, t_down_layers=str(t_down), bn_factor=bn_factor,
                  min_bn_units=cfg["min_units"], tfc_tdf_bias=cfg["tdf_bias"])
        if cfg["block"] == "tfc":
            for k in ("bn_factor", "min_bn_units", "tfc_tdf_bias", "tfc_tdf_activation", "tif_init_mode"):
                hp.pop(k)
            hp["tfc_activation"] = "relu"
    else:
        mod, ft = cfg["modulation"], cfg["ft_block"]
        net = ref.DenseCUNet(cfg["n_fft"], cfg["n_blocks"], cfg["channels"], cfg["tfc_layers"], cfg["kernel"], mod,
                             ft, cfg["embedding_dim"], cfg["n_conditions"], cfg["bf"], cfg["min_units"],
                             cfg["ft_bias"], cfg["n_latent"], cfg["d_k"])
        hp = dict(LASAFT_LARGE_HP, n_fft=cfg["n_fft"], hop_length=cfg["hop_length"], n_blocks=cfg["n_blocks"],
                  internal_channels=cfg["channels"], n_internal_layers=cfg["tfc_layers"],
                  min_bn_units=cfg["min_units"], embedding_dim=cfg["embedding_dim"],
                  model="CUNET_TFC_" + {"film": "FiLM", "gpocm": "GPoCM"}[mod]
                  + {"none": "", "tdf": "_TDF", "lasaft": "_LaSAFT"}[ft])
        if ft == "lasaft":
            hp.update(num_tdfs=cfg["n_latent"], dk=cfg["d_k"])
        else:
            hp.pop("num_tdfs"), hp.pop("dk")
        if mod == "film":
            hp.pop("pocm_norm"), hp.pop("pocm_type")
            hp.update(film_type="complex", gamma_activation="identity", beta_activation="identity")
    return ref.RefFramework(cfg["n_fft"], net), hp


def write_ckpt(path, state, hp, **extra):
    torch.save({"epoch": 3, "global_step": 120, "pytorch-lightning_version": "0.9.0", "state_dict": state,
                "hyper_parameters": hp, "optimizer_states": [], **extra}, path)
    return path


def origin_of(name):
    return "ismir2020" if name in DEDICATED else "lasaft"


# ---------------------------------------------------------------------------------------------- key tables


# Transcribed by hand from the reference code for the paper configurations (F = n_fft / 2 at level 0).
U7_DCSE_TABLE = {  # ISMIR2020: TFC_TDF_NET, n_fft 2048, 24 channels, 5 layers, bn_factor 16, tfc_tdf_bias False
    "stft.stft.window": (2048,),
    "spec2spec.first_conv.0.weight": (24, 4, 1, 2),
    "spec2spec.first_conv.1.num_batches_tracked": (),
    "spec2spec.encoders.0.tfc.H.0.0.weight": (24, 24, 3, 3),
    "spec2spec.encoders.0.tfc.H.4.0.weight": (24, 120, 3, 3),
    "spec2spec.encoders.0.tfc.H.4.1.weight": (24,),
    "spec2spec.encoders.0.tif.tif.0.weight": (64, 1024),  # F 1024 -> 1024 // 16
    "spec2spec.encoders.0.tif.tif.1.running_var": (24,),  # BatchNorm2d(affine=False): no weight/bias
    "spec2spec.encoders.0.tif.tif.3.weight": (1024, 64),
    "spec2spec.downsamplings.2.0.weight": (24, 24, 2, 2),
    "spec2spec.mid_block.tif.tif.0.weight": (16, 128),  # F 128 -> max(8, 16)
    "spec2spec.upsamplings.0.0.weight": (24, 24, 2, 2),
    "spec2spec.decoders.0.tfc.H.0.0.weight": (24, 48, 3, 3),
    "spec2spec.decoders.0.tif.tif.0.weight": (16, 256),
    "spec2spec.decoders.2.tif.tif.3.weight": (1024, 64),
    "spec2spec.last_conv.0.weight": (4, 24, 1, 2),
    "spec2spec.last_conv.0.bias": (4,),
}
NET12_TABLE = {  # LaSAFT: DCUN_TFC_GPoCM_LaSAFT, lasaft_large (n_fft 4096, 9 blocks, E 64, 6 TDFs, d_k 32)
    "stft.stft.window": (4096,),
    "spec2spec.embedding.weight": (4, 64),
    "spec2spec.condition_generator.dense_control_block.linear.0.weight": (128, 64),
    "spec2spec.condition_generator.dense_control_block.linear.5.running_mean": (256,),
    "spec2spec.condition_generator.dense_control_block.linear.9.weight": (512,),
    "spec2spec.condition_generator.linear_gamma.0.weight": (4 * 24 * 24, 512),
    "spec2spec.condition_generator.linear_gamma.2.running_var": (4 * 24 * 24,),
    "spec2spec.condition_generator.linear_beta.0.bias": (4 * 24,),
    "spec2spec.condition_generator.linear_beta.2.num_batches_tracked": (),
    "spec2spec.encoders.0.tfc.H.0.0.weight": (24, 24, 3, 3),
    "spec2spec.encoders.0.tdfs.tdf.0.weight": (768, 2048),  # f2 = 6·2048 = 12288 -> 12288 // 16
    "spec2spec.encoders.0.tdfs.tdf.1.weight": (24,),  # BatchNorm2d affine
    "spec2spec.encoders.0.tdfs.tdf.3.weight": (12288, 768),
    "spec2spec.encoders.0.keys": (32, 6),
    "spec2spec.encoders.0.linear_query.weight": (32, 64),
    "spec2spec.mid_block.tdfs.tdf.0.weight": (48, 128),  # F 128: 768 // 16
    "spec2spec.decoders.3.tfc.H.0.0.weight": (24, 48, 3, 3),
    "spec2spec.last_conv.0.weight": (4, 24, 1, 2),
}


@pytest.mark.parametrize("name, origin, table, absent", [
    ("u7-dcse", "ismir2020", U7_DCSE_TABLE, ["spec2spec.encoders.0.tif.tif.1.weight",
                                              "spec2spec.encoders.0.tif.tif.0.bias"]),
    ("lasaft-gpocm-net12", "lasaft", NET12_TABLE, ["spec2spec.condition_generator.linear_gamma.2.weight",
                                                    "spec2spec.encoders.0.tdfs.tdf.0.bias"]),
])
def test_paper_key_table(name, origin, table, absent):
    with torch.device("meta"):
        ours = registry.build(registry.config_for(name))
    want = {v: tuple(ours.state_dict()[k].shape) for k, v in reference_import.key_map(ours, origin).items()}
    want[reference_import.WINDOW_KEY] = (ours.config["n_fft"],)
    for key, shape in table.items():
        assert want.get(key) == shape, key
    for key in absent:
        assert key not in want
    assert len(set(want)) == len(want)  # the mapping is one-to-one


# ---------------------------------------------------------------------------------------------- import per architecture


@pytest.mark.parametrize("name", DEDICATED + CONDITIONED)
def test_import_matches_reference(tmp_path, name):
    origin = origin_of(name)
    frame, hp = reference_for(name)
    state = ref.fill_seeded(frame, seed=len(name))
    path = write_ckpt(tmp_path / "ref.ckpt", state, hp)
    model, meta = reference_import.import_checkpoint(path, origin, f"{name}@embedded")
    assert meta["imported_from"] == origin and len(meta["source_sha256"]) == 64
    assert meta["reference_hyper_parameters"]["n_fft"] == 512
    # (a) every key consumed and (c) exported back exactly
    back = reference_import.export_state_dict(model, origin)
    assert set(back) == set(state)
    for k, v in state.items():
        assert torch.equal(back[k], v), k
    # (b) spot checks by name
    own = model.state_dict()
    pairs = [("first_conv.conv.weight", "spec2spec.first_conv.0.weight"),
             ("downs.1.bn.running_var", "spec2spec.downsamplings.1.1.running_var"),
             ("ups.0.conv.weight", "spec2spec.upsamplings.0.0.weight"),
             ("last_conv.conv.bias", "spec2spec.last_conv.0.bias")]
    cfg = model.config
    if origin == "ismir2020":
        tfc = "" if cfg["block"] == "tfc" else "tfc."
        pairs.append((f"decoders.1.{tfc}layers.2.0.weight", f"spec2spec.decoders.1.{tfc}H.2.0.weight"))
        if cfg["block"] == "tfc_tdf":
            pairs.append(("mid.tdf.net.0.weight", "spec2spec.mid_block.tif.tif.0.weight"))
    else:
        pairs += [("condition_generator.embedding.weight", "spec2spec.embedding.weight"),
                  ("condition_generator.fc.6.weight", "spec2spec.condition_generator.dense_control_block.linear.6.weight")]
        if cfg["modulation"] == "gpocm":
            pairs.append(("condition_generator.weight.1.running_mean",
                          "spec2spec.condition_generator.linear_gamma.2.running_mean"))
        else:
            pairs.append(("condition_generator.beta.weight", "spec2spec.condition_generator.linear_beta.0.weight"))
        if cfg["ft_block"] == "lasaft":
            pairs += [("encoders.0.lasaft.keys", "spec2spec.encoders.0.keys"),
                      ("decoders.2.lasaft.value.3.weight", "spec2spec.decoders.2.tdfs.tdf.3.weight")]
        elif cfg["ft_block"] == "tdf":
            pairs.append(("mid.tdf.net.4.bias", "spec2spec.mid_block.tdf.tdf.4.bias"))
    for ours, theirs in pairs:
        assert torch.equal(own[ours], state[theirs]), (ours, theirs)
    # output equality with the reference network under the same weights (eval mode)
    frame.eval()
    g = torch.Generator().manual_seed(1)
    t = 16
    if origin == "ismir2020":
        c_io = 2 if model.representation == "mag" else 4
        spec = torch.randn(2, c_io, t, cfg["n_fft"] // 2 + 1, generator=g)
        if c_io == 2:
            spec = spec.abs()
        with torch.no_grad():
            y = frame.spec2spec(spec)
            if cfg["method"] in ("mme", "cme_sigmoid", "cme_tanh"):
                y = spec * y
            ours_y = model.estimate(spec)
    else:
        spec = torch.randn(4, 4, t, cfg["n_fft"] // 2 + 1, generator=g)
        cond = torch.tensor([0, 1, 2, 3])
        with torch.no_grad():
            y = frame.spec2spec(spec, cond)
            ours_y = model.estimate(spec, cond)
    torch.testing.assert_close(ours_y, y, rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------------------------------------- refusals


def _u7_ckpt(tmp_path, **hp_changes):
    frame, hp = reference_for("u7-dcse")
    state = ref.fill_seeded(frame, seed=0)
    hp.update(hp_changes)
    return state, hp


def test_every_problem_listed_at_once(tmp_path):
    state, hp = _u7_ckpt(tmp_path, n_fft=1024)
    del state["spec2spec.encoders.1.tif.tif.3.weight"]
    state["spec2spec.encoders.0.extra.weight"] = torch.zeros(3)
    state["spec2spec.decoders.0.tfc.H.1.0.weight"] = torch.zeros(8, 99, 3, 3)
    path = write_ckpt(tmp_path / "bad.ckpt", state, hp)
    with pytest.raises(reference_import.ImportErrorReport) as err:
        reference_import.import_checkpoint(path, "ismir2020", "u7-dcse@embedded")
    text = str(err.value)
    assert "4 problems" in text
    assert "missing key spec2spec.encoders.1.tif.tif.3.weight" in text
    assert "unexpected key spec2spec.encoders.0.extra.weight" in text
    # decoder 0 sees 2·8 channels, its layer 1 another 8 more: 24
    assert "spec2spec.decoders.0.tfc.H.1.0.weight: shape ours (8, 24, 3, 3) vs theirs (8, 99, 3, 3)" in text
    assert "n_fft: ours 512 vs theirs 1024" in text


@pytest.mark.parametrize("name, change, needle", [
    ("cunet-gpocm-lasaft", {"embedding_dim": 16}, "embedding_dim: ours 8 vs theirs 16"),
    ("cunet-gpocm-lasaft", {"condition_to": "full"}, "condition_to: ours 'decoder' vs theirs 'full'"),
    ("cunet-film", {"film_type": "simple"}, "film_type: ours 'complex' vs theirs 'simple'"),
    ("cunet-gpocm-tdf", {"model": "CUNET_TFC_GPoCM_LaSAFT"}, "model: ours 'CUNET_TFC_GPoCM_TDF'"),
    ("u7-mme", {"spec_est_mode": "mapping"}, "spec_est_mode: ours 'masking' vs theirs 'mapping'"),
    ("u17-tfc-sampling-o", {"t_down_layers": "[0, 1]"}, "t_down_layers: ours [0, 2] vs theirs '[0, 1]'"),
    ("u9l-tfc-tdf-single", {"bn_factor": 16}, "bn_factor: ours None vs theirs 16"),
])
def test_other_configuration_refused(tmp_path, name, change, needle):
    frame, hp = reference_for(name)
    hp.update(change)
    path = write_ckpt(tmp_path / "x.ckpt", ref.fill_seeded(frame, 0), hp)
    with pytest.raises(reference_import.ImportErrorReport, match="does not fit") as err:
        reference_import.import_checkpoint(path, origin_of(name), f"{name}@embedded")
    assert needle in str(err.value)


def test_paper_model_refuses_embedded_checkpoint(tmp_path):
    frame, hp = reference_for("u7-dcse")
    path = write_ckpt(tmp_path / "x.ckpt", ref.fill_seeded(frame, 0), hp)
    with pytest.raises(reference_import.ImportErrorReport) as err:
        reference_import.import_checkpoint(path, "ismir2020", "u7-dcse")
    text = str(err.value)
    assert "n_fft: ours 2048 vs theirs 512" in text and "internal_channels: ours 24 vs theirs 8" in text
    assert "spec2spec.first_conv.0.weight: shape ours (24, 4, 1, 2) vs theirs (8, 4, 1, 2)" in text


def test_wrong_family_and_origin(tmp_path):
    frame, hp = reference_for("cunet-gpocm")
    path = write_ckpt(tmp_path / "x.ckpt", ref.fill_seeded(frame, 0), hp)
    with pytest.raises(reference_import.ImportErrorReport, match="conditioned model; --from ismir2020"):
        reference_import.import_checkpoint(path, "ismir2020", "cunet-gpocm@embedded")
    with pytest.raises(ValueError, match="--from must be one of"):
        reference_import.import_checkpoint(path, "amss", "cunet-gpocm@embedded")


def test_target_name_sets_source_and_bad_target_refused(tmp_path):
    frame, hp = reference_for("u7-dcse")
    state = ref.fill_seeded(frame, 0)
    model, _ = reference_import.import_checkpoint(write_ckpt(tmp_path / "a.ckpt", state, dict(hp, target_name="bass")),
                                                  "ismir2020", "u7-dcse@embedded")
    assert model.source == "bass" and model.info.name == "u7-dcse@embedded"
    with pytest.raises(reference_import.ImportErrorReport, match="source must be one of"):
        reference_import.import_checkpoint(write_ckpt(tmp_path / "b.ckpt", state, dict(hp, target_name="piano")),
                                           "ismir2020", "u7-dcse@embedded")


def test_trained_window_refused(tmp_path):
    state, hp = _u7_ckpt(tmp_path)
    state["stft.stft.window"] = state["stft.stft.window"] * 1.01
    path = write_ckpt(tmp_path / "w.ckpt", state, hp)
    with pytest.raises(reference_import.ImportErrorReport, match="stft.stft.window: not the Hann window"):
        reference_import.import_checkpoint(path, "ismir2020", "u7-dcse@embedded")


def test_missing_required_hparam(tmp_path):
    state, hp = _u7_ckpt(tmp_path)
    del hp["hop_length"]
    path = write_ckpt(tmp_path / "h.ckpt", state, hp)
    with pytest.raises(reference_import.ImportErrorReport, match="'hop_length' missing"):
        reference_import.import_checkpoint(path, "ismir2020", "u7-dcse@embedded")


# ---------------------------------------------------------------------------------------------- safe loading


class _Evil:
    def __reduce__(self):
        return (print, ("code ran",))


def test_code_executing_pickle_refused(tmp_path, capsys):
    state, hp = _u7_ckpt(tmp_path)
    path = write_ckpt(tmp_path / "evil.ckpt", state, hp, callbacks={"x": _Evil()})
    with pytest.raises(CheckpointError, match="refused to load"):
        reference_import.import_checkpoint(path, "ismir2020", "u7-dcse@embedded")
    assert "code ran" not in capsys.readouterr().out


def test_lightning_attribute_dict_and_namespace_accepted(tmp_path, monkeypatch):
    import sys
    import types

    state, hp = _u7_ckpt(tmp_path)

    class AttributeDict(dict):  # stands in for Lightning's class while the file is written
        pass

    where = "pytorch_lightning.utilities.parsing"
    AttributeDict.__module__, AttributeDict.__qualname__ = where, "AttributeDict"
    for mod in ("pytorch_lightning", "pytorch_lightning.utilities", where):
        monkeypatch.setitem(sys.modules, mod, types.ModuleType(mod))
    sys.modules[where].AttributeDict = AttributeDict
    path = write_ckpt(tmp_path / "ad.ckpt", state, AttributeDict(hp))
    monkeypatch.undo()  # the class is gone when the file is read, as in a session without Lightning
    model, meta = reference_import.import_checkpoint(path, "ismir2020", "u7-dcse@embedded")
    assert meta["reference_hyper_parameters"]["n_fft"] == 512
    path2 = tmp_path / "ns.ckpt"
    torch.save({"state_dict": state, "hparams": argparse.Namespace(**hp)}, path2)
    _, meta2 = reference_import.import_checkpoint(path2, "ismir2020", "u7-dcse@embedded")
    assert meta2["reference_hyper_parameters"]["internal_channels"] == 8


def test_not_a_lightning_checkpoint(tmp_path):
    torch.save({"weights": {}}, tmp_path / "x.ckpt")
    with pytest.raises(CheckpointError, match="no 'state_dict'"):
        reference_import.read_lightning(tmp_path / "x.ckpt")
    with pytest.raises(CheckpointError, match="not found"):
        reference_import.read_lightning(tmp_path / "nope.ckpt")


# ---------------------------------------------------------------------------------------------- CLI


def test_cli_import_writes_loadable_checkpoint(tmp_path, capsys):
    frame, hp = reference_for("cunet-gpocm-lasaft")
    state = ref.fill_seeded(frame, 7)
    src = write_ckpt(tmp_path / "lasaft.ckpt", state, dict(hp, seed=2020))
    out = tmp_path / "model.pt"
    rc = cli.main(["models", "import", "--from", "lasaft", "--checkpoint", str(src), "--model",
                   "cunet-gpocm-lasaft@embedded", "-o", str(out)])
    err = capsys.readouterr().err
    assert rc == 0, err
    loaded = checkpoint.load(out, expected_name="cunet-gpocm-lasaft")
    assert loaded.info.name == "cunet-gpocm-lasaft@embedded"
    meta = loaded.checkpoint_metadata
    assert meta["source_sha256"] == reference_import.sha256(src) and meta["imported_from"] == "lasaft"
    assert meta["reference_hyper_parameters"]["model"] == "CUNET_TFC_GPoCM_LaSAFT" and meta["seed"] == 2020
    assert torch.equal(loaded.state_dict()["encoders.1.lasaft.keys"], state["spec2spec.encoders.1.keys"])
    json.dumps(meta)
    # ready for manipulate: the CLI output equals the imported model's own manipulate
    x = torch.Generator().manual_seed(3)
    audio = (torch.rand(20_000, 2, generator=x) * 0.6 - 0.3).numpy()
    wav_in, wav_out = tmp_path / "in.wav", tmp_path / "out.wav"
    sf.write(wav_in, audio, 44100, subtype="FLOAT")
    assert cli.main(["manipulate", str(wav_in), "separate bass", "--checkpoint", str(out), "-o", str(wav_out)]) == 0
    y, _ = sf.read(wav_out, dtype="float32", always_2d=True)
    np.testing.assert_array_equal(y, loaded.manipulate(audio, "separate bass"))
    capsys.readouterr()
    bad = cli.main(["models", "import", "--from", "ismir2020", "--checkpoint", str(src), "--model",
                    "cunet-gpocm-lasaft@embedded", "-o", str(tmp_path / "no.pt")])
    assert bad != 0 and not (tmp_path / "no.pt").exists()
    assert "--from ismir2020" in capsys.readouterr().err
