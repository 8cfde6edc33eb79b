"""Byte-reproducibility on another processor, emulated (docs/performance.md, "An emulated second CPU").

QEMU's user-mode emulator (``qemu-x86_64 -cpu Haswell``) runs this machine's Python on a processor that reports
another vendor (GenuineIntel) and other cache sizes (4 MiB L2), with exact IEEE arithmetic: a different hash can
only come from a code path or a blocking chosen from the processor. Three embedded training steps of the waveform
models must hash as they do natively, and the positive control (Wave-U-Net on oneDNN's convolutions, whose blocking
follows the cache sizes) must not, or the emulation proved nothing on this host.

Opt-in (``AMSS_EMULATED_CPU=1``): ≈ 20 min under emulation (about 120× native). Needs ``qemu-x86_64`` (Debian
``qemu-user`` 7.2 or later, for AVX2), which the suite's set-up does not install."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

TOOL = Path(__file__).parent / "tools" / "train_hashes.py"
ROOT = Path(__file__).resolve().parents[1]
MODELS = ["waveunet", "conv-tasnet", "demucs-v2"]
CONTROL = "waveunet+onednn"
CPU = os.environ.get("AMSS_EMULATED_CPU_MODEL", "Haswell")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.environ.get("AMSS_EMULATED_CPU") != "1",
                       reason="≈ 20 min under QEMU: opt in with AMSS_EMULATED_CPU=1 (docs/performance.md)"),
]


def _hashes(prefix: list[str]) -> dict[str, str]:
    res = subprocess.run([*prefix, sys.executable, str(TOOL), *MODELS, CONTROL], cwd=ROOT, capture_output=True,
                         text=True, timeout=3600)
    assert res.returncode == 0, res.stderr[-3000:]
    return dict(line.split() for line in res.stdout.splitlines() if line.strip())


def test_waveform_models_train_to_the_same_bits_on_an_emulated_intel_cpu():
    qemu = shutil.which("qemu-x86_64")
    if qemu is None:
        pytest.skip("qemu-x86_64 is not installed (apt-get install qemu-user)")
    native = _hashes([])
    emulated = _hashes([qemu, "-cpu", CPU])
    assert emulated[CONTROL] != native[CONTROL], (
        f"Wave-U-Net on oneDNN hashes the same under -cpu {CPU}: the emulated processor did not change oneDNN's "
        "blocking here, so this check proves nothing on this host")
    assert {m: emulated[m] for m in MODELS} == {m: native[m] for m in MODELS}
