"""Pinned numeric code paths (benchmark/base/numerics.py): what is set, when, and that the CLI really runs with them."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmark.base import numerics
from benchmark.scoring import numerics_probe


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


def test_cpu_identity_reads_the_first_processor(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nvendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 143\n"
                    "model name\t: Intel(R) Xeon(R)\nflags\t: avx2\n\nprocessor\t: 1\nvendor_id\t: Other\n")
    assert numerics.cpu_identity(info) == {"vendor": "GenuineIntel", "family": "6", "model": "143",
                                           "name": "Intel(R) Xeon(R)"}
    assert numerics.cpu_identity(tmp_path / "absent") == {}


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


GOLDEN_PATH = Path(__file__).parent / "data" / "numerics_probe.json"
GOLDEN = json.loads(GOLDEN_PATH.read_text())
#: which probe entries a variable the environment may override decides
_DEPENDS = {"ATEN_CPU_CAPABILITY": ("torch_", "train_", "vml_"), "ONEDNN_MAX_CPU_ISA": ("torch_conv", "train_"),
            "MKL_CBWR": ("torch_", "train_", "vml_", "bss_"), "NPY_DISABLE_CPU_FEATURES": ("numpy_", "mfcc", "rmse_"),
            "OPENBLAS_CORETYPE": ("openblas_", "mfcc", "rmse_", "bss_")}
#: set by .ci/run: on the CI machine a difference is a failure, whatever the CPU
STRICT_ENV = "AMSS_BENCH_NUMERICS_STRICT"


def _strict(environ=None) -> bool:
    """A differing probe fails where the committed numbers must reproduce: under CI (``STRICT_ENV``) and on the
    processor model the golden values were recorded on; on any other machine it is an expected failure that says
    what differs and what to do (docs/performance.md, "On another machine")."""
    environ = os.environ if environ is None else environ
    if environ.get(STRICT_ENV, "") not in ("", "0"):
        return True
    return bool(GOLDEN.get("cpu")) and numerics.cpu_identity() == GOLDEN["cpu"]


@pytest.fixture(scope="module")
def probed():
    return _cli_numerics({}, "--probe")


def test_pinned_paths_compute_the_golden_bits(probed):
    """The reference machine's bits, on this machine: the guarantee behind a committed dvc.lock that reproduces on
    another AVX2 x86-64 CPU. A mismatch names the numeric paths that differ and what to do about it."""
    state = probed
    if state["cpu_missing_flags"]:
        pytest.skip(f"this CPU lacks {state['cpu_missing_flags']}: the pinned AVX2 paths cannot run here")
    overridden = [k for k, v in state["env"].items() if v != numerics.PINNED_ENV[k]]
    excluded = {key for var in overridden for key in GOLDEN["probe"] if key.startswith(_DEPENDS.get(var, ()))}
    assert len(excluded) < len(GOLDEN["probe"])
    assert set(state["probe"]) == set(GOLDEN["probe"]), "the probe's entries changed: re-record the golden values"
    verdict = numerics_probe.compare(state["probe"], GOLDEN, skip=excluded)
    message = numerics_probe.describe(verdict, GOLDEN)
    if verdict["vml"]:
        print(message)  # informational: the pipeline does not call MKL's vector math
    if verdict["pipeline"]:
        text = message + f"; variables overridden by the environment: {overridden}"
        if _strict():
            pytest.fail(text)
        pytest.xfail(text)


def test_strict_mode_follows_the_ci_variable_and_the_processor():
    assert _strict({STRICT_ENV: "1"})
    assert _strict({STRICT_ENV: "0"}) == (numerics.cpu_identity() == GOLDEN["cpu"])


def test_compare_separates_pipeline_paths_from_vml_and_names_the_machine_a_vml_value_equals():
    golden = {"probe": {"torch_stft": "aaaa", "vml_sqrt": "11112222", "vml_exp": "3333"},
              "recorded_on": "machine A", "other_machines": {"machine B": {"vml_sqrt": "9999"}}}
    same = numerics_probe.compare({"torch_stft": "aaaa", "vml_sqrt": "11112222", "vml_exp": "3333"}, golden)
    assert same == {"pipeline": [], "vml": {}}
    v = numerics_probe.compare({"torch_stft": "bbbb", "vml_sqrt": "99990000", "vml_exp": "4444"}, golden)
    assert v["pipeline"] == ["torch_stft"]
    assert v["vml"]["vml_sqrt"]["equals"] == ["machine B"] and v["vml"]["vml_exp"]["equals"] == []
    text = numerics_probe.describe(v, golden)
    assert "torch_stft" in text and "--recompute-base" in text and "machine A" in text
    assert "vml_sqrt" in text and "equal to machine B" in text and "unlike every recorded machine" in text
    assert numerics_probe.compare({"torch_stft": "bbbb"}, golden, skip={"torch_stft", "vml_sqrt", "vml_exp"}) == \
        {"pipeline": [], "vml": {}}


def test_golden_records_the_second_machines_vml_values_and_ours_differ_from_its_sqrt_only_where_expected():
    """The shared second-machine table (Intel Xeon, MKL_CBWR=COMPATIBLE) is in the golden file: its sqrt differs
    from the reference machine's, which is why the pipeline's paths avoid VML."""
    other = GOLDEN["other_machines"]
    assert other, "no other machine recorded"
    intel = next(v for k, v in other.items() if "Intel" in k)
    assert {"vml_sqrt", "vml_exp", "vml_log"} <= set(intel)
    assert not GOLDEN["probe"]["vml_sqrt"].startswith(intel["vml_sqrt"])


def test_probe_vml_entries_hash_what_the_shared_mkl_probe_script_hashes(probed):
    """The ``vml_`` entries compute exactly what ../shared/numerics/mkl_vml_probe.py prints, so its lines for other
    machines compare with ours."""
    script = Path(__file__).resolve().parents[2] / "shared" / "numerics" / "mkl_vml_probe.py"
    if not script.is_file():
        pytest.skip(f"{script} is not beside this checkout")
    line = subprocess.run([sys.executable, str(script), numerics.PINNED_ENV["MKL_CBWR"]], capture_output=True,
                          text=True, check=True, timeout=600).stdout
    fields = dict(f.split("=", 1) for f in line.split() if "=" in f)
    for fn in ("sqrt", "exp", "log"):
        assert probed["probe"]["vml_" + fn].startswith(fields[fn]), fn


def test_probe_sees_a_different_code_path():
    """The golden test has teeth: ATen's scalar kernels (what a CPU without the pinned path would run) change the
    torch entries and nothing that does not use ATen, and the comparison names them."""
    state = _cli_numerics({"ATEN_CPU_CAPABILITY": "default"}, "--probe")
    probe = state["probe"]
    assert probe["torch_elementwise"] != GOLDEN["probe"]["torch_elementwise"]
    assert probe["torch_stft"] != GOLDEN["probe"]["torch_stft"]
    assert probe["openblas_gemm"] == GOLDEN["probe"]["openblas_gemm"]
    differ = numerics_probe.compare(probe, GOLDEN)["pipeline"]
    assert "torch_elementwise" in differ and "openblas_gemm" not in differ
