"""Pinned numeric code paths (benchmark/base/numerics.py): what is set, when, and that the CLI really runs with them."""

import json
import os
import subprocess
import sys

import pytest

from benchmark.base import numerics


def test_plan_sets_every_pin_in_an_empty_environment():
    assert numerics.plan({}) == numerics.PINNED_ENV
    assert numerics.PINNED_ENV["ATEN_CPU_CAPABILITY"] == "avx2"
    assert numerics.PINNED_ENV["MKL_CBWR"] == "COMPATIBLE"
    assert numerics.PINNED_ENV["OPENBLAS_CORETYPE"] == "Haswell"
    assert "X86_V4" in numerics.PINNED_ENV["NPY_DISABLE_CPU_FEATURES"].split()


def test_plan_leaves_variables_the_user_set_and_native_mode_alone():
    env = {"MKL_CBWR": "AVX2"}
    todo = numerics.plan(env)
    assert "MKL_CBWR" not in todo and len(todo) == len(numerics.PINNED_ENV) - 1
    assert numerics.plan({numerics.MODE_ENV: "native"}) == {}


def test_unknown_mode_names_the_variable():
    with pytest.raises(numerics.NumericsError, match=numerics.MODE_ENV + ".*pinned, native"):
        numerics.plan({numerics.MODE_ENV: "fastest"})


def test_pin_is_a_no_op_once_a_numeric_library_is_loaded():
    env: dict = {}
    assert numerics.pin(env, modules={"numpy": object()}) == {}
    assert env == {}
    env = {}
    assert numerics.pin(env, modules={}) == numerics.PINNED_ENV
    assert env == numerics.PINNED_ENV


def test_cpu_flags_parse(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx avx2 fma\n")
    flags = numerics.cpu_flags(info)
    assert {"avx2", "fma"} <= flags and numerics.missing_flags(flags) == []
    info.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx\n")
    assert numerics.missing_flags(numerics.cpu_flags(info)) == ["avx2", "fma"]
    assert numerics.cpu_flags(tmp_path / "absent") is None


def _cli_numerics(extra_env, *args):
    """``amss-bench numerics [args]`` in a fresh interpreter whose environment has no pins of its own (the parent's
    OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE, if any, are kept: the tests never change them)."""
    env = {k: v for k, v in os.environ.items() if k not in numerics.PINNED_ENV and k != numerics.MODE_ENV}
    for key in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        if key in os.environ:
            env[key] = os.environ[key]
    env.update(extra_env)
    res = subprocess.run([sys.executable, "-c", "import sys; from benchmark.cli import main; "
                          f"sys.exit(main(['numerics', *{list(args)!r}]))"], capture_output=True, text=True, env=env,
                         timeout=600)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def test_cli_pins_before_the_libraries_load():
    state = _cli_numerics({})
    assert state["mode"] == "pinned"
    for key, value in numerics.PINNED_ENV.items():
        if key not in ("OPENBLAS_CORETYPE",) or "OPENBLAS_CORETYPE" not in os.environ:
            assert state["env"][key] == value, key
    if not state["cpu_missing_flags"]:
        assert state["torch_cpu_capability"] == "AVX2"  # capped even on an AVX-512 machine
        assert "X86_V4" not in state["numpy_simd"]["dispatch_enabled"]
        assert all(lib["num_threads"] == 1 for lib in state["blas"])


def test_cli_native_mode_sets_nothing():
    state = _cli_numerics({numerics.MODE_ENV: "native"})
    assert state["mode"] == "native" and state["pinned"] is False
    assert state["env"]["MKL_CBWR"] is None and state["env"]["ATEN_CPU_CAPABILITY"] is None


GOLDEN = json.loads((__import__("pathlib").Path(__file__).parent / "data" / "numerics_probe.json").read_text())
#: which probe entries a variable the environment may override decides
_DEPENDS = {"ATEN_CPU_CAPABILITY": ("torch_",), "ONEDNN_MAX_CPU_ISA": ("torch_conv",), "MKL_CBWR": ("torch_", "bss_"),
            "NPY_DISABLE_CPU_FEATURES": ("numpy_", "mfcc"), "OPENBLAS_CORETYPE": ("openblas_", "mfcc", "bss_")}


def test_pinned_paths_compute_the_golden_bits():
    """The reference machine's bits, on this machine: the guarantee behind a committed dvc.lock that reproduces on
    any AVX2 x86-64 CPU. A mismatch names the numeric paths that differ."""
    state = _cli_numerics({}, "--probe")
    if state["cpu_missing_flags"]:
        pytest.skip(f"this CPU lacks {state['cpu_missing_flags']}: the pinned AVX2 paths cannot run here")
    overridden = [k for k, v in state["env"].items() if v != numerics.PINNED_ENV[k]]
    excluded = {key for var in overridden for key in GOLDEN["probe"] if key.startswith(_DEPENDS.get(var, ()))}
    differ = sorted(k for k, v in GOLDEN["probe"].items() if k not in excluded and state["probe"].get(k) != v)
    assert not differ, (f"pinned numeric paths differ from the reference machine ({GOLDEN['recorded_on']}): {differ}; "
                        f"variables overridden by the environment: {overridden}")
    assert len(excluded) < len(GOLDEN["probe"])


def test_probe_sees_a_different_code_path():
    """The golden test has teeth: ATen's scalar kernels (what a CPU without the pinned path would run) change the
    torch entries and nothing that does not use ATen."""
    state = _cli_numerics({"ATEN_CPU_CAPABILITY": "default"}, "--probe")
    probe = state["probe"]
    assert probe["torch_elementwise"] != GOLDEN["probe"]["torch_elementwise"]
    assert probe["torch_stft"] != GOLDEN["probe"]["torch_stft"]
    assert probe["openblas_gemm"] == GOLDEN["probe"]["openblas_gemm"]
