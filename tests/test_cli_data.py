"""`amss-bench data render|check|prepare` through the CLI, including error paths."""

import json

import pytest
import yaml

from benchmark.cli import main
from benchmark.data.dataset import open_dataset


def test_render_cli_small(tmp_path, capsys):
    root = tmp_path / "synth"
    assert main(["data", "render", "--root", str(root), "--train", "1", "--valid", "0", "--test", "1",
                 "--seconds", "4"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"rendered {root}: train 1, valid 0, test 1")
    ds = open_dataset(root)
    assert len(ds.tracks("test")) == 1 and ds.stems(ds.tracks("test")[0]).shape[1] == 4 * 44100


@pytest.mark.parametrize("args, fragment", [
    (["--seconds", "1"], "seconds must be at least"),
    (["--train", "-1"], "n_train"),
    (["--soundfont", "/nonexistent/gm.sf2"], "/nonexistent/gm.sf2"),
])
def test_render_cli_errors(tmp_path, capsys, args, fragment):
    assert main(["data", "render", "--root", str(tmp_path / "r"), *args]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and fragment in captured.err


def _params(tmp_path, **data):
    p = tmp_path / "params.yaml"
    p.write_text(yaml.safe_dump({"profile": "embedded", "seed": 1, "data": data}))
    return p


def test_prepare_real_source_validates_and_describes(tiny_root, tmp_path, capsys):
    params = _params(tmp_path, source="musdb18hq", root=str(tiny_root))
    out = tmp_path / "dataset.json"
    synth_dir = tmp_path / "synthetic"
    assert main(["data", "prepare", "--params", str(params), "--synthetic-dir", str(synth_dir),
                 "--out", str(out)]) == 0
    desc = json.loads(out.read_text())
    assert desc["source"] == "musdb18hq" and desc["file_digest"] == "size"
    assert (synth_dir / "NOT_USED").read_text().startswith("data.source is musdb18hq")
    # tiny_root's two train tracks are not in musdb's validation list
    assert len(desc["splits"]["train"]) == 3 and desc["splits"]["valid"] == []


@pytest.mark.parametrize("data, fragment", [
    ({"source": "synthetic", "root": "elsewhere", "synth": {}}, "data.root must be"),
    ({"source": "musdb19", "root": "x"}, "data.source must be one of"),
    ({"source": "musdb18hq"}, "missing field 'data.root'"),
    ({"source": "musdb18hq", "root": "/nonexistent/musdb"}, "/nonexistent/musdb: dataset root not found"),
])
def test_prepare_errors_name_the_field(tmp_path, capsys, data, fragment):
    params = _params(tmp_path, **data)
    out = tmp_path / "dataset.json"
    assert main(["data", "prepare", "--params", str(params), "--synthetic-dir", str(tmp_path / "synthetic"),
                 "--out", str(out)]) == 2
    assert fragment in capsys.readouterr().err
    assert not out.exists()
