"""The data-only wire protocol between the suite and a code submission's worker, and the worker's main loop.

This file runs on both sides. The suite imports it for :func:`send` / :func:`recv`; the sandbox runs it as a script
(``python -I -S -B worker.py CONFIG_JSON``) next to a copy of the submission's files and the suite's shim (see
:mod:`benchmark.leaderboard.sandbox`). It therefore imports nothing of the suite at module level: the stdlib and
NumPy only.

A frame is ``b"AMSS"``, a 4-byte big-endian header length, a UTF-8 JSON header (at most :data:`MAX_HEADER` bytes),
then the arrays the header announces in ``"arrays": [byte sizes]``, each one ``.npy`` file (format 1.0–3.0). Arrays
are decoded by :func:`decode_array`: the ``.npy`` header is parsed first, only little-endian or native ``float32`` /
``float64`` of the expected shape is accepted (no object arrays, no pickle: ``allow_pickle`` is never set), and the
byte count must match the shape exactly. Nothing that can run code is ever deserialised: JSON and raw float bytes.
"""

from __future__ import annotations

import ast
import io
import json
import os
import select
import struct
import sys
import time

if __name__ == "__main__":  # in the sandbox: the submission, the shim and the third-party packages first
    sys.path[:0] = [p for p in json.loads(sys.argv[1])["path"] if p]

import numpy as np  # noqa: E402

MAGIC = b"AMSS"
MAX_HEADER = 1 << 16  # bytes of one JSON header
FLOAT_DTYPES = ("<f4", "<f8")


class WireError(Exception):
    """The other side broke the protocol (bad magic, oversized frame, malformed header or array, early EOF)."""


class WireTimeout(Exception):
    """No complete frame before the deadline."""


# ---------------------------------------------------------------------------------------------------- encoding

def encode_array(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(a), allow_pickle=False)
    return buf.getvalue()


def send(stream, header: dict, arrays=()) -> None:
    """Write one frame to a binary stream (flushed)."""
    blobs = [encode_array(a) for a in arrays]
    head = json.dumps({**header, "arrays": [len(b) for b in blobs]}).encode()
    if len(head) > MAX_HEADER:
        raise WireError(f"header of {len(head)} bytes, above {MAX_HEADER}")
    stream.write(MAGIC + struct.pack(">I", len(head)) + head)
    for b in blobs:
        stream.write(b)
    stream.flush()


def _read_exact(fd: int, n: int, deadline: float | None) -> bytes:
    chunks, got = [], 0
    while got < n:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise WireTimeout()
        block = os.read(fd, min(n - got, 1 << 20))
        if not block:
            raise EOFError("the other side closed the pipe")
        chunks.append(block)
        got += len(block)
    return b"".join(chunks)


def recv(fd: int, *, deadline: float | None = None, max_array_bytes=()) -> tuple[dict, list[bytes]]:
    """Read one frame from a file descriptor: ``(header, raw array blobs)``. ``max_array_bytes`` caps each announced
    array (its length is the most arrays accepted); a larger or extra array is a :class:`WireError` before any of it
    is read."""
    pre = _read_exact(fd, 8, deadline)
    if pre[:4] != MAGIC:
        raise WireError(f"bad frame start {pre[:4]!r} (output written to the protocol pipe?)")
    (n,) = struct.unpack(">I", pre[4:])
    if n > MAX_HEADER:
        raise WireError(f"frame header of {n} bytes, above the limit of {MAX_HEADER}")
    try:
        header = json.loads(_read_exact(fd, n, deadline).decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as err:
        raise WireError(f"frame header is not JSON ({err})") from None
    sizes = header.get("arrays") if isinstance(header, dict) else None
    if not isinstance(sizes, list) or not all(isinstance(s, int) and s >= 0 for s in sizes):
        raise WireError("frame header without a valid 'arrays' list")
    caps = list(max_array_bytes)
    if len(sizes) > len(caps):
        raise WireError(f"{len(sizes)} arrays in one frame, at most {len(caps)} expected")
    for size, cap in zip(sizes, caps):
        if size > cap:
            raise WireError(f"an array frame of {size} bytes, above the limit of {cap} bytes")
    return header, [_read_exact(fd, s, deadline) for s in sizes]


def decode_array(blob: bytes, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """A ``.npy`` blob → a float array, refusing anything but float32/float64 (of ``shape`` when given).
    Raises ``ValueError`` naming what was wrong."""
    buf = io.BytesIO(blob)
    try:
        major, _minor = np.lib.format.read_magic(buf)
        if major not in (1, 2, 3):
            raise ValueError(f"unsupported .npy version {major}")
        # read the header as a Python literal only (what np.lib.format does), never anything executable
        hlen = struct.unpack("<H" if major == 1 else "<I", buf.read(2 if major == 1 else 4))[0]
        raw = buf.read(hlen).decode("latin1" if major < 3 else "utf-8")
        d = ast.literal_eval(raw)
    except (ValueError, SyntaxError, struct.error, UnicodeDecodeError) as err:
        raise ValueError(f"not a valid .npy array ({err})") from None
    if not isinstance(d, dict) or set(d) != {"descr", "fortran_order", "shape"}:
        raise ValueError("not a valid .npy header")
    descr, fortran, got_shape = d["descr"], d["fortran_order"], d["shape"]
    if not isinstance(descr, str) or descr.replace("=", "<").replace("|", "<") not in FLOAT_DTYPES:
        raise ValueError(f"dtype {descr!r}, expected floating point (float32 or float64)")
    if not isinstance(got_shape, tuple) or not all(isinstance(s, int) and s >= 0 for s in got_shape):
        raise ValueError(f"invalid shape {got_shape!r}")
    if shape is not None and tuple(got_shape) != tuple(shape):
        raise ValueError(f"shape {tuple(got_shape)}, expected {tuple(shape)}")
    dtype = np.dtype(descr.replace("=", "<").replace("|", "<"))
    data = buf.read()
    n = int(np.prod(got_shape, dtype=np.int64)) if got_shape else 1
    if len(data) != n * dtype.itemsize:
        raise ValueError(f"{len(data)} data bytes for shape {tuple(got_shape)} of {dtype}")
    a = np.frombuffer(data, dtype=dtype).reshape(got_shape, order="F" if fortran else "C")
    return a


def max_npy_bytes(shape: tuple[int, ...], itemsize: int = 8) -> int:
    """The largest ``.npy`` blob an array of ``shape`` can take (float64 plus a generous header)."""
    return int(np.prod(shape, dtype=np.int64)) * itemsize + 4096


# ---------------------------------------------------------------------------------------------------- worker

def _limits(cfg: dict) -> None:
    import resource

    if cfg.get("memory_mb"):
        lim = int(cfg["memory_mb"]) << 20
        resource.setrlimit(resource.RLIMIT_AS, (lim, lim))
    if cfg.get("max_processes"):
        n = int(cfg["max_processes"])
        resource.setrlimit(resource.RLIMIT_NPROC, (n, n))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def main(argv) -> int:  # pragma: no cover - runs in the sandbox (exercised by tests/test_leaderboard_sandbox.py)
    import traceback

    cfg = json.loads(argv[1])
    # the protocol owns the original stdout; whatever the submission prints goes to stderr
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    fd_in = sys.stdin.fileno()
    try:
        _limits(cfg)
        import importlib

        module, _, attr = cfg["target"].partition(":")
        factory = importlib.import_module(module)
        for part in attr.split("."):
            factory = getattr(factory, part)
        system = factory()
        if not callable(getattr(system, "estimate", None)):
            raise TypeError(f"{cfg['target']}() returned {type(system).__name__}, which has no "
                            "estimate(task, pair, track=)")
        send(out, {"kind": "ready", "uses_target": bool(getattr(system, "uses_target", False)),
                   "class": f"{type(system).__module__}.{type(system).__qualname__}"})
    except BaseException:  # noqa: BLE001
        send(out, {"kind": "error", "message": traceback.format_exc(limit=6)[-8000:]})
        return 1
    from benchmark.task import dsp
    from benchmark.task.properties import get_property_task
    from benchmark.task.tasks import get_task

    def lookup(task_id):
        """A catalogue task, or a property task (drift / level control: the suite runs their k-fold loop and
        feeds the system's previous output back as an ordinary input; the worker sees one query at a time)."""
        if msg.get("property"):
            return get_property_task(task_id)
        return get_task(task_id)

    while True:
        try:
            msg, blobs = recv(fd_in, max_array_bytes=(1 << 40, 1 << 40))
        except (EOFError, WireError):
            return 0
        if msg.get("op") == "stop":
            return 0
        try:
            if msg["op"] == "supports":
                sup = getattr(system, "supports", None)
                send(out, {"kind": "ok", "unsupported": [t for t in msg["tasks"]
                                                         if sup is not None and not sup(lookup(t))]})
                continue
            task = lookup(msg["task"])
            x = decode_array(blobs[0]).astype(np.float32)
            target = decode_array(blobs[1]).astype(np.float32) if len(blobs) > 1 else None
            est = np.asarray(system.estimate(task, dsp.Pair(x, target, task.query), track=msg["track"]))
            if est.dtype.kind != "f" or est.dtype.itemsize not in (4, 8):
                send(out, {"kind": "bad", "message": f"estimate of dtype {est.dtype}, expected floating point"})
                continue
            send(out, {"kind": "ok"}, [est.astype(est.dtype.newbyteorder("<"))])
        except BaseException as err:  # noqa: BLE001
            if isinstance(err, MemoryError):
                text = "MemoryError: the memory limit was reached"
            else:
                text = "".join(traceback.format_exception_only(type(err), err)).strip()
            send(out, {"kind": "error", "message": text[-8000:]})


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(sys.argv))
