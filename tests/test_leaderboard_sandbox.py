"""Code submissions run isolated (benchmark/leaderboard/sandbox.py, worker.py): hostile submissions each fail at
what they try, while a benign one computes exactly what the same system computes in the suite.

Each hostile system tries one thing in ``estimate()`` and raises ``Leak: ...`` when it succeeds; otherwise it
returns half its input. A sandbox that lets an attack through therefore shows up as a ``Leak`` problem of the run
(and :func:`test_attacks_succeed_without_a_sandbox` checks, for the attacks that only read, that they do succeed
in an unisolated worker: the checks can fail). Side effects (files, processes, the host's /tmp) are also checked
from outside. The backend that ran is printed; the tests skip, with the reason, only where no backend works here;
``AMSS_REQUIRE_SANDBOX=bwrap`` (set by ``make test``) turns that skip into a failure."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pytest

from baselines.base import SystemConfigError
from benchmark.task import dsp
from benchmark.leaderboard import sandbox
from benchmark.leaderboard.code import CodeSystem
from benchmark.task.tasks import get_task
from benchmark.task.testset import TestSet, build
from sandbox_backend import backend_or_skip

REPO = Path(__file__).resolve().parents[1]
MARK = f"amsshostile{uuid.uuid4().hex[:10]}"  # module name of the hostile systems: finds their processes
SLEEP_S = str(900000 + os.getpid() % 90000)  # a sleep duration no other process uses


def _backend() -> str:
    return backend_or_skip()


@pytest.fixture(scope="module")
def backend() -> str:
    b = _backend()
    print(f"\ncode-submission sandbox backend: {b}")
    return b


@pytest.fixture(scope="module")
def ts(tiny_root, tmp_path_factory) -> TestSet:
    out = tmp_path_factory.mktemp("sbx-testset")
    build(tiny_root, out, progress=False)
    return TestSet.open(out)


HOSTILE = r'''
import ctypes, json, os, signal, socket, subprocess, sys, time
import numpy as np

P = json.loads(%(paths)r)


class Leak(Exception):
    pass


def _opened(path, mode="rb"):
    try:
        with open(path, mode):
            return True
    except OSError:
        return False


def read_by_path():
    for p in P["secrets"]:
        if _opened(p):
            raise Leak(f"read {p}")


def read_by_symlink():
    for i, p in enumerate(P["secrets"]):
        link = f"/tmp/link{i}"
        try:
            os.symlink(p, link)
        except OSError:
            continue
        if _opened(link):
            raise Leak(f"read {p} through {link}")


def walk_root():
    import hashlib
    names = {os.path.basename(p) for p in P["secrets"]}
    for d, dirs, files in os.walk("/"):
        dirs[:] = [x for x in dirs if os.path.join(d, x) not in ("/proc", "/sys", "/dev")]
        for name in names.intersection(files):
            try:
                with open(os.path.join(d, name), "rb") as f:
                    digest = hashlib.sha256(f.read()).hexdigest()
            except OSError:
                continue
            if digest in P["secret_sha256"]:
                raise Leak(f"found {name} under {d}")


def import_suite():
    import importlib
    for mod in ("benchmark.task.testset", "benchmark.data", "benchmark.scoring.evaluate", "models", "baselines.oracle"):
        try:
            importlib.import_module(mod)
        except Exception:
            continue
        raise Leak(f"imported {mod}")
    # the editable install's own finder, installed by hand
    for d in sys.path:
        try:
            names = os.listdir(d)
        except OSError:
            continue
        for n in names:
            if n.startswith("__editable__") and n.endswith("_finder.py"):
                try:
                    finder = importlib.import_module(n[:-3])
                    finder.install()
                    for m in [m for m in sys.modules if m == "benchmark" or m.startswith("benchmark.")]:
                        del sys.modules[m]
                    # the finder maps the suite's sub-packages that the shim lacks (scoring: the evaluation)
                    importlib.import_module("benchmark.scoring")
                except Exception:
                    continue
                raise Leak("imported benchmark.scoring through the editable finder")


def write_files():
    for p in P["writable"]:
        if _opened(p, "r+b"):  # opening for writing is the proof; nothing is changed
            raise Leak(f"could open {p} for writing")
    for d in P["dirs"] + [os.path.dirname(os.path.abspath(__file__))]:
        try:
            fd = os.open(os.path.join(d, "planted-" + P["mark"]), os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except OSError:
            continue
        os.close(fd)
        os.unlink(os.path.join(d, "planted-" + P["mark"]))
        raise Leak(f"created a file in {d}")
    with open(P["host_tmp"], "w") as f:  # the scratch /tmp: allowed, but it is not the host's
        f.write("x")


def tcp():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(2)
    try:
        s.connect(("127.0.0.1", P["tcp_port"]))
    except OSError:
        return
    s.sendall(b"leak")
    raise Leak("TCP connection to the host")


def udp():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.sendto(b"leak:" + P["mark"].encode(), ("127.0.0.1", P["udp_port"]))
    except OSError:
        pass


def netlink():
    names = [n for _, n in socket.if_nameindex()]
    if [n for n in names if n != "lo"]:
        raise Leak(f"sees the host's network interfaces {names}")


def signal_parent():
    for pid in (P["parent_pid"], os.getppid()):
        try:
            os.kill(pid, 0)
        except OSError:
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read()
        except OSError:
            cmd = b""
        if b"pytest" in cmd or pid == P["parent_pid"]:
            raise Leak(f"can signal the suite's process {pid}")
    for pid in [p for p in os.listdir("/proc") if p.isdigit()]:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if b"pytest" in f.read():
                    raise Leak(f"sees the suite's process {pid}")
        except OSError:
            pass


def environment():
    if any(P["secret_value"] in v for v in os.environ.values()):
        raise Leak("read a secret from the environment")
    for pid in ("self", "1"):
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                if P["secret_value"].encode() in f.read():
                    raise Leak("read a secret from /proc/*/environ")
        except OSError:
            pass


def nested_unshare():
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(0x10000000) == 0:  # CLONE_NEWUSER
        raise Leak("created a user namespace")
    try:
        r = subprocess.run(["unshare", "-r", "true"], capture_output=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return
    if r.returncode == 0:
        raise Leak("ran unshare -r")


ATTACKS = {f.__name__: f for f in (read_by_path, read_by_symlink, walk_root, import_suite, write_files, tcp, udp,
                                   netlink, signal_parent, environment, nested_unshare)}


class Hostile:
    uses_target = False

    def __init__(self, what):
        self.what = what

    def estimate(self, task, pair, *, track=None):
        ATTACKS[self.what]()
        return np.asarray(pair.input, dtype=np.float32) * 0.5


def make(what):
    return lambda: Hostile(what)


for _name in ATTACKS:
    globals()[_name] = make(_name)


class Reduce:
    def __reduce__(self):
        return (os.system, ("touch " + P["pickle_marker"],))


class Payload(Hostile):
    def estimate(self, task, pair, *, track=None):
        if self.what == "pickle":
            return Reduce()
        if self.what == "object_array":
            return np.array([[Reduce(), Reduce()]] * len(pair.input), dtype=object)
        # raw frames written past the worker, straight into the protocol pipe (whichever fd it is)
        import io, struct
        if self.what == "raw_pickle_frame":
            buf = io.BytesIO()
            np.save(buf, np.array([[Reduce(), Reduce()]] * len(pair.input), dtype=object), allow_pickle=True)
            blob = buf.getvalue()
        else:  # an oversized frame
            blob = None
        head = json.dumps({"kind": "ok", "arrays": [len(blob) if blob else 1 << 40]}).encode()
        for fd in range(3, 64):
            try:
                if not os.path.stat.S_ISFIFO(os.fstat(fd).st_mode):
                    continue
                os.write(fd, b"AMSS" + struct.pack(">I", len(head)) + head + (blob or b"\0" * 4096))
            except OSError:
                pass
        time.sleep(5)
        return np.asarray(pair.input, dtype=np.float32)


def pickle():
    return Payload("pickle")


def object_array():
    return Payload("object_array")


def raw_pickle_frame():
    return Payload("raw_pickle_frame")


def oversized_frame():
    return Payload("oversized_frame")


class Fork(Hostile):
    def estimate(self, task, pair, *, track=None):
        if self.what == "fork_bomb":
            for _ in range(100000):
                try:
                    if os.fork() == 0:
                        while True:
                            try:
                                os.fork()
                            except OSError:
                                time.sleep(0.05)
                except OSError:
                    break
        else:
            subprocess.Popen(["sleep", P["sleep_s"]], start_new_session=True)
            if os.fork() == 0:
                os.setsid()
                time.sleep(10 ** 6)
        time.sleep(10 ** 6)


def fork_bomb():
    return Fork("fork_bomb")


def endless_sleep():
    return Fork("endless_sleep")
'''


def _processes(*needles: str) -> list[str]:
    out = []
    for pid in [p for p in os.listdir("/proc") if p.isdigit()]:
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if any(n in cmd for n in needles):
            out.append(f"{pid}: {cmd[:200]}")
    return out


@pytest.fixture(scope="module")
def world(ts, tiny_root, tmp_path_factory):
    """The hostile module and what it aims at: the test set, the stems, the checkout's results/reports/params, another
    entry, the environment's site-packages, a host TCP and UDP listener, the suite's pid."""
    base = tmp_path_factory.mktemp("sbx-world")
    code = base / "code"
    code.mkdir()
    other = base / "submissions" / "other"
    other.mkdir(parents=True)
    (other / "entry.json").write_text("{}\n")
    stems = sorted(str(p) for p in Path(tiny_root).rglob("*") if p.is_file())[:6]
    secrets = [str(ts.path), *stems, str(REPO / "params.yaml"), str(other / "entry.json")]
    writable = [str(REPO / "params.yaml"), str(REPO / "reports" / "embedded" / "summary.json"),
                str(other / "entry.json"), str(ts.path), sys.executable]
    writable = [p for p in writable if os.path.exists(p)]
    dirs = [str(code), str(other), str(REPO / "submissions"), str(REPO / "reports"), *sandbox.site_dirs()]
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tcp.bind(("127.0.0.1", 0))
    tcp.listen(4)
    tcp.setblocking(False)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    udp.setblocking(False)
    paths = {"secrets": secrets, "writable": writable, "dirs": dirs, "mark": MARK, "host_tmp": f"/tmp/{MARK}-host",
             "tcp_port": tcp.getsockname()[1], "udp_port": udp.getsockname()[1], "parent_pid": os.getpid(),
             "secret_sha256": [hashlib.sha256(Path(p).read_bytes()).hexdigest() for p in secrets],
             "secret_value": f"s3cret-{MARK}", "pickle_marker": str(base / "pickle-ran"), "sleep_s": SLEEP_S}
    (code / f"{MARK}.py").write_text(HOSTILE % {"paths": json.dumps(paths)})
    yield {"code": code, "paths": paths, "tcp": tcp, "udp": udp, "ts": ts}
    tcp.close()
    udp.close()


def run(world, factory: str, *, time_limit: float = 60, trusted_local: bool = False, tasks=("sdr-vocals",)):
    ts = world["ts"]
    track = ts.tracks()[0]
    cs = CodeSystem(f"{MARK}:{factory}", "hostile", search_path=world["code"], time_limit_s_per_track=time_limit,
                    memory_limit_mb=4096, trusted_local=trusted_local)
    outs = []
    try:
        for tid in tasks:
            pair = ts.load_pair(tid, track)
            outs.append((pair, cs.estimate(get_task(tid), dsp.Pair(pair.input, None, pair.query), track=track)))
    finally:
        cs.stop()
    return cs, outs


@pytest.mark.parametrize("attack", ["read_by_path", "read_by_symlink", "walk_root", "import_suite", "write_files",
                                    "tcp", "udp", "netlink", "signal_parent", "environment", "nested_unshare"])
def test_hostile_submission_fails_at_what_it_tries(backend, world, attack, monkeypatch):
    monkeypatch.setenv("AMSS_TEST_SECRET", world["paths"]["secret_value"])
    protected = {p: Path(p).read_bytes() for p in world["paths"]["writable"] if Path(p).stat().st_size < 1 << 22}
    cs, outs = run(world, attack)
    assert not [e for e in cs.errors if "Leak" in e], cs.errors
    assert not cs.errors, cs.errors  # the attack ran to its end inside the sandbox
    pair, est = outs[0]
    assert np.array_equal(est, np.asarray(pair.input, dtype=np.float32) * np.float32(0.5))
    for p, data in protected.items():
        assert Path(p).read_bytes() == data, p
    assert not os.path.exists(world["paths"]["host_tmp"]), "the scratch /tmp is the host's /tmp"
    assert not list(Path(world["code"]).glob("planted-*"))
    if attack == "tcp":
        with pytest.raises(BlockingIOError):
            world["tcp"].accept()
    if attack == "udp":
        with pytest.raises(BlockingIOError):
            world["udp"].recv(100)


@pytest.mark.parametrize("attack, match", [
    ("pickle", "expected floating point"),
    ("object_array", "expected floating point"),
    ("raw_pickle_frame", "estimate refused: dtype '|O'"),
    ("oversized_frame", "above the limit"),
])
def test_nothing_executable_crosses_the_boundary(backend, world, attack, match):
    cs, outs = run(world, attack)
    assert len(cs.errors) == 1 and match in cs.errors[0], cs.errors
    assert not os.path.exists(world["paths"]["pickle_marker"]), "the suite ran a submission's payload"
    pair, est = outs[0]
    assert np.array_equal(est, pair.input)  # the input stands in for a refused estimate


@pytest.mark.parametrize("attack", ["fork_bomb", "endless_sleep"])
def test_everything_dead_after_the_time_limit(backend, world, attack):
    t0 = time.monotonic()
    cs, _ = run(world, attack, time_limit=3)
    assert time.monotonic() - t0 < 60
    assert len(cs.errors) == 1 and "time-out" in cs.errors[0], cs.errors
    deadline = time.monotonic() + 30  # a loaded machine reaps slowly
    while _processes(MARK, f"sleep {SLEEP_S}") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _processes(MARK, f"sleep {SLEEP_S}")


def test_benign_submission_scores_exactly_as_the_system_run_directly(backend, ts):
    """The example entry (the dsp-mixture baseline through the code route, SoX included) gives bit for bit the
    estimates of the baseline run in the suite's own process, on every task of a track."""
    from baselines.dsp_mixture import DSPMixtureSystem

    entry = REPO / "submissions" / "example-dsp-mixture"
    import yaml

    spec = yaml.safe_load((entry / "submission.yaml").read_text())["system"]
    cs = CodeSystem(spec, "example", search_path=entry / "code", time_limit_s_per_track=600)
    direct = DSPMixtureSystem()
    track = ts.tracks()[0]
    try:
        for tid in ts.tasks():
            pair = ts.load_pair(tid, track)
            task = get_task(tid)
            got = cs.estimate(task, dsp.Pair(pair.input, None, pair.query), track=track)
            assert np.array_equal(got, direct.estimate(task, pair, track=track)), tid
    finally:
        cs.stop()
    assert not cs.errors and cs.backend == backend


def test_suite_module_cannot_be_the_submission(backend, world):
    cs = CodeSystem("benchmark.task.testset:TestSet", "x", time_limit_s_per_track=10)
    with pytest.raises(SystemConfigError, match="is part of the suite"):
        cs.start()


def test_attacks_succeed_without_a_sandbox(world, monkeypatch):
    """The read-only attacks do reach their target in an unisolated worker (--trusted-local): the checks above can
    fail. Also: with no sandbox and no --trusted-local, code submissions are refused with the reason."""
    monkeypatch.setenv("AMSS_SANDBOX", "none")
    monkeypatch.setenv("AMSS_TEST_SECRET", world["paths"]["secret_value"])
    with pytest.raises(SystemConfigError, match="none is available on this machine.*--trusted-local"):
        CodeSystem(f"{MARK}:read_by_path", "x", search_path=world["code"])
    leaked = {}
    for attack in ("read_by_path", "import_suite", "environment"):
        cs, _ = run(world, attack, trusted_local=True)
        assert cs.backend == "trusted-local"
        leaked[attack] = any("Leak" in e for e in cs.errors)
    # environment: trusted-local also clears the environment; the others reach the checkout
    assert leaked == {"read_by_path": True, "import_suite": True, "environment": False}, leaked


def test_the_scratch_tmp_is_mounted_before_the_runtime_so_a_venv_under_tmp_stays_visible(tmp_path):
    """A checkout (and its .venv) under /tmp: bwrap mounts in argument order, so the scratch /tmp must come first or
    it hides the virtual env's site-packages (numpy could not be imported in a clone under /tmp)."""
    from benchmark.leaderboard import sandbox

    argv = sandbox.bwrap_argv(tmp_path, {})
    scratch = argv.index("/tmp", argv.index("--size"))
    binds = [i for i, a in enumerate(argv) if a == "--ro-bind" and argv[i + 2] != "/amss"]
    assert binds and all(i > scratch for i in binds)
