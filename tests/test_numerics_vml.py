"""The pipeline's training and scoring paths never call MKL's vector math (VML), whose code branch, and so whose
rounding, depends on the processor (models/portable.py, docs/performance.md "Reproducible numerics").

The tripwire ``tests/tools/vml_trace.c`` is preloaded into a child process that runs real training steps (the
trainer, one model per code path that could reach VML: masks with tanh, direct CaC, FiLM and GPoCM conditioning, the
AMSS description encoder), inference, and one evaluation of every metric; it records every VML call."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

TOOL = Path(__file__).parent / "tools" / "vml_trace.c"

CHILD = r"""
import sys, tempfile
from pathlib import Path
from benchmark.base import numerics
numerics.pin()
import numpy as np
import torch
torch.set_num_threads(1)
from benchmark.gate import golden
from benchmark.scoring.metrics import bss, mfcc
what = sys.argv[1]
if what == "metrics":
    rng = np.random.default_rng(0)
    ref = rng.standard_normal((2, 2 * 44100, 2))
    est = ref + 0.1 * rng.standard_normal(ref.shape)
    bss.bss_eval_track_raw({"a": ref[0], "b": ref[1]}, {"a": est[0], "b": est[1]}, backend="fast")
    mfcc.rmse_mfcc(ref[0], est[0])
elif what == "vml":
    torch.rand(1000).add(1).sqrt()
else:
    name, stem = what.split("/")
    with tempfile.TemporaryDirectory() as tmp:
        golden.train_fingerprint(name, None if stem == "all" else stem, Path(tmp))
print("done")
"""


@pytest.fixture(scope="module")
def tripwire(tmp_path_factory):
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler to build the VML tripwire (tests/tools/vml_trace.c)")
    lib = tmp_path_factory.mktemp("vml") / "vml_trace.so"
    subprocess.run([cc, "-O2", "-shared", "-fPIC", "-o", str(lib), str(TOOL), "-ldl"], check=True)
    return lib


def _vml_calls(lib: Path, what: str, tmp_path: Path) -> dict:
    trace = tmp_path / f"{what.replace('/', '-')}.txt"
    env = dict(os.environ, LD_PRELOAD=str(lib), AMSS_VML_TRACE=str(trace))
    res = subprocess.run([sys.executable, "-c", CHILD, what], env=env, capture_output=True, text=True, timeout=900)
    assert res.returncode == 0 and "done" in res.stdout, res.stderr[-3000:]
    calls: dict = {}
    if trace.exists():
        for line in trace.read_text().splitlines():
            _pid, fn, n, _elems = line.split()
            calls[fn] = calls.get(fn, 0) + int(n)
    return calls


@pytest.fixture(scope="module")
def probe(tripwire, tmp_path_factory):
    """The tripwire's record of a direct torch.sqrt on a CPU tensor, which goes through VML (taken once per module
    and worker: each probe is a fresh interpreter importing torch)."""
    return _vml_calls(tripwire, "vml", tmp_path_factory.mktemp("probe"))


def test_the_tripwire_sees_vml(probe):
    """The tripwire must see the probe's VML call (else the tests below prove nothing on this build of PyTorch)."""
    if not probe:
        pytest.skip("this PyTorch build does not call MKL's vector math through its PLT (nothing to trace)")
    assert probe == {"vmsSqrt": 1}


@pytest.mark.slow
@pytest.mark.parametrize("run", ["u7-cme-tanh/vocals", "u9l-tfc-tdf/vocals", "cunet-film/all",
                                 "lasaft-gpocm-net12/all", "amss-net/all", "umx/vocals", "demucs-v2/all",
                                 "conv-tasnet/all", "metrics"])
def test_training_inference_and_metrics_call_no_vml(tripwire, probe, tmp_path, run):
    if not probe:
        pytest.skip("this PyTorch build does not call MKL's vector math through its PLT (nothing to trace)")
    assert _vml_calls(tripwire, run, tmp_path) == {}, f"{run} calls MKL's vector math (see models/portable.py)"
