"""Bringing a submitted folder or archive (``.zip``, ``.tar.gz``/``.tgz``) into a private temporary folder, safely.

Everything is checked on the *member list* before a single byte is extracted, and the extraction itself counts the
bytes it writes (declared sizes can lie):

* names: absolute paths, drive letters, backslashes, ``..`` components, NUL bytes (zip-slip), duplicates (also
  after Unicode NFC normalisation and case folding: they would overwrite each other on some file systems);
* kinds: symlinks, hard links (archives; a folder's files are read, never linked), device files, FIFOs (only
  regular files and folders are accepted);
* nested archives (``.zip``, ``.tar``, ``.gz``, ``.tgz``, ``.bz2``, ``.xz``, ``.zst``, ``.7z``, ``.rar``);
* more files than the test set needs (+ the allowed extras ``submission.yaml``, ``README*``, ``LICENSE*``,
  and the ``queries.json``/``testset.json`` of an export folder);
* total uncompressed size above the limit (the exact maximum a valid submission can have, plus slack) and
  compression ratio above ``max_ratio`` (zip bombs).

A folder is copied file by file after the same checks (``os.walk`` without following links, ``lstat`` on every
entry). The copy/extraction goes to ``dest``, which the caller places beside its final location and removes on
failure. If every member sits in one top-level folder that is not a task id, that folder is stripped.
"""

from __future__ import annotations

import os
import shutil
import stat
import tarfile
import unicodedata
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from benchmark.leaderboard import SubmissionError

NESTED = (".zip", ".tar", ".gz", ".tgz", ".bz2", ".xz", ".zst", ".7z", ".rar", ".lz4", ".lzma")
EXTRA_NAMES = ("submission.yaml", "queries.json", "testset.json")  # the last two: an export folder
EXTRA_PREFIXES = ("readme", "licence", "license")
CHUNK = 1 << 20


@dataclass(frozen=True)
class Limits:
    max_files: int          # regular files at most (what the test set needs + the allowed extras)
    max_total_bytes: int    # uncompressed bytes at most
    max_file_bytes: int     # bytes of one file at most
    max_ratio: float        # uncompressed / compressed size at most (archives)


def is_extra(rel: str) -> bool:
    """The files a submission may carry beside the estimates (at its top level)."""
    if "/" in rel:
        return False
    low = rel.lower()
    return rel in EXTRA_NAMES or low.startswith(EXTRA_PREFIXES)


def archive_kind(path: Path) -> str | None:
    name = path.name.lower()
    if name.endswith(".zip"):
        return "zip"
    if name.endswith((".tar.gz", ".tgz")):
        return "tar.gz"
    return None


def _name_problems(where: str, name: str) -> list[str]:
    out = []
    if not name or name in (".", "./"):
        return [f"{where}: member with an empty name"]
    if "\x00" in name:
        out.append(f"{where}: member {name!r}: NUL byte in the name")
    if "\\" in name:
        out.append(f"{where}: member {name!r}: backslash in the name (use '/'; refused as a path-traversal risk)")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        out.append(f"{where}: member {name!r}: absolute path (refused: it would be written outside the submission)")
    if ".." in PurePosixPath(name).parts:
        out.append(f"{where}: member {name!r}: '..' in the path (zip-slip; refused)")
    if name.lower().endswith(NESTED):
        out.append(f"{where}: member {name!r}: nested archive (refused; submit the WAV files themselves)")
    return out


def _dupes(where: str, names: list[str]) -> list[str]:
    out, seen = [], {}
    for n in names:
        key = unicodedata.normalize("NFC", n.rstrip("/")).casefold()
        if key in seen:
            out.append(f"{where}: member {n!r}: duplicate name (same as {seen[key]!r}"
                       + (", up to case or Unicode normalisation)" if seen[key] != n else ")"))
        else:
            seen[key] = n
    return out


def _strip_prefix(names: list[str], task_ids) -> str | None:
    tops = {PurePosixPath(n).parts[0] for n in names if PurePosixPath(n).parts}
    if len(tops) == 1:
        (top,) = tops
        if top not in task_ids and not is_extra(top) and any(len(PurePosixPath(n).parts) > 1 for n in names):
            return top
    return None


def _check_totals(where: str, n_files: int, total: int, sizes: list[tuple[str, int]], limits: Limits,
                  compressed: int | None) -> list[str]:
    out = []
    if n_files > limits.max_files:
        out.append(f"{where}: {n_files} files, more than the test set needs ({limits.max_files} at most: one WAV per "
                   "task × track plus submission.yaml/README/LICENSE)")
    if total > limits.max_total_bytes:
        out.append(f"{where}: {total} bytes uncompressed, above the limit of {limits.max_total_bytes} bytes "
                   "(refused before extraction)")
    for name, size in sizes:
        if size > limits.max_file_bytes:
            out.append(f"{where}: member {name!r}: {size} bytes, above the largest valid estimate "
                       f"({limits.max_file_bytes} bytes)")
    if compressed is not None and compressed > 0 and total / compressed > limits.max_ratio:
        out.append(f"{where}: compression ratio {total / compressed:.0f}:1 above the limit {limits.max_ratio:.0f}:1 "
                   "(refused as a possible zip bomb)")
    return out


class _Budget:
    def __init__(self, where: str, limits: Limits):
        self.where, self.limits, self.total = where, limits, 0

    def copy(self, src, dst: Path, name: str) -> None:
        dst.parent.mkdir(parents=True, exist_ok=True)
        n = 0
        with open(dst, "xb") as out:
            while True:
                block = src.read(CHUNK)
                if not block:
                    break
                n += len(block)
                self.total += len(block)
                if n > self.limits.max_file_bytes or self.total > self.limits.max_total_bytes:
                    raise SubmissionError(self.where, [
                        f"{self.where}: member {name!r}: extraction exceeded the size limit ({self.limits.max_file_bytes}"
                        f" bytes per file, {self.limits.max_total_bytes} in all) although the archive declared less "
                        "(refused as a possible zip bomb)"])
                out.write(block)


def _zip(path: Path, dest: Path, limits: Limits, task_ids) -> None:
    where = str(path)
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as err:
        raise SubmissionError(where, [f"{where}: not a readable zip archive ({err})"]) from None
    with zf:
        infos = zf.infolist()
        problems = _dupes(where, [i.filename for i in infos])
        files = []
        for i in infos:
            problems += _name_problems(where, i.filename)
            mode = (i.external_attr >> 16) & 0xFFFF
            if stat.S_ISLNK(mode):
                problems.append(f"{where}: member {i.filename!r}: symbolic link (refused)")
            elif stat.S_IFMT(mode) and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):  # 0: no type recorded
                problems.append(f"{where}: member {i.filename!r}: not a regular file (device, FIFO or socket; refused)")
            elif i.flag_bits & 0x1:
                problems.append(f"{where}: member {i.filename!r}: encrypted (refused)")
            elif not i.is_dir():
                files.append(i)
        total = sum(i.file_size for i in files)
        compressed = sum(i.compress_size for i in files)
        problems += _check_totals(where, len(files), total, [(i.filename, i.file_size) for i in files], limits,
                                  compressed)
        if problems:
            raise SubmissionError(where, problems)
        prefix = _strip_prefix([i.filename for i in files], task_ids)
        budget = _Budget(where, limits)
        for i in files:
            rel = PurePosixPath(i.filename)
            rel = PurePosixPath(*rel.parts[1:]) if prefix else rel
            with zf.open(i) as src:
                budget.copy(src, dest.joinpath(*rel.parts), i.filename)


def _tar(path: Path, dest: Path, limits: Limits, task_ids) -> None:
    where = str(path)
    try:
        tf = tarfile.open(path, "r:gz")
        members = tf.getmembers()  # reads the headers only (a gzip stream: decompressed once, not extracted)
    except (tarfile.TarError, OSError, EOFError) as err:
        raise SubmissionError(where, [f"{where}: not a readable .tar.gz archive ({err})"]) from None
    with tf:
        problems = _dupes(where, [m.name for m in members])
        files = []
        for m in members:
            problems += _name_problems(where, m.name)
            if m.issym() or m.islnk():
                kind = "symbolic link" if m.issym() else "hard link"
                problems.append(f"{where}: member {m.name!r}: {kind} to {m.linkname!r} (refused)")
            elif m.ischr() or m.isblk() or m.isfifo() or m.isdev():
                problems.append(f"{where}: member {m.name!r}: device file or FIFO (refused)")
            elif m.isfile():
                files.append(m)
            elif not m.isdir():
                problems.append(f"{where}: member {m.name!r}: unsupported member type {m.type!r} (refused)")
        total = sum(m.size for m in files)
        problems += _check_totals(where, len(files), total, [(m.name, m.size) for m in files], limits,
                                  path.stat().st_size)
        if problems:
            raise SubmissionError(where, problems)
        prefix = _strip_prefix([m.name for m in files], task_ids)
        budget = _Budget(where, limits)
        for m in files:
            rel = PurePosixPath(m.name)
            rel = PurePosixPath(*rel.parts[1:]) if prefix else rel
            src = tf.extractfile(m)
            with src:
                budget.copy(src, dest.joinpath(*rel.parts), m.name)


def _folder(path: Path, dest: Path, limits: Limits, task_ids) -> None:
    where = str(path)
    problems, files = [], []
    for dirpath, dirnames, filenames in os.walk(path, followlinks=False):
        for d in list(dirnames):
            p = Path(dirpath) / d
            if p.is_symlink():
                problems.append(f"{p}: symbolic link to a folder (refused)")
                dirnames.remove(d)
        for f in filenames:
            p = Path(dirpath) / f
            rel = p.relative_to(path).as_posix()
            st = os.lstat(p)
            if stat.S_ISLNK(st.st_mode):
                problems.append(f"{p}: symbolic link (refused)")
            elif not stat.S_ISREG(st.st_mode):
                problems.append(f"{p}: not a regular file (device, FIFO or socket; refused)")
            elif rel.lower().endswith(NESTED):
                problems.append(f"{p}: nested archive (refused; submit the WAV files themselves)")
            else:
                files.append((rel, st.st_size))
    problems += _dupes(where, [r for r, _ in files])
    problems += _check_totals(where, len(files), sum(s for _, s in files), files, limits, None)
    if problems:
        raise SubmissionError(where, problems)
    prefix = _strip_prefix([r for r, _ in files], task_ids)
    budget = _Budget(where, limits)
    for rel, _ in sorted(files):
        parts = PurePosixPath(rel).parts
        with open(path / rel, "rb") as src:
            budget.copy(src, dest.joinpath(*(parts[1:] if prefix else parts)), rel)


def intake(path: str | Path, dest: str | Path, limits: Limits, task_ids=()) -> Path:
    """Copy/extract a submitted folder or archive into the (new, empty) folder ``dest``; returns ``dest``."""
    path, dest = Path(path), Path(dest)
    if path.is_symlink() and path.is_dir():
        raise SubmissionError(str(path), [f"{path}: symbolic link (give the folder itself)"])
    if not path.exists():
        raise SubmissionError(str(path), [f"{path}: not found"])
    dest.mkdir(parents=True, exist_ok=False)
    if path.is_dir():
        _folder(path, dest, limits, set(task_ids))
    else:
        kind = archive_kind(path)
        if kind is None:
            raise SubmissionError(str(path), [f"{path}: not a folder, .zip, .tar.gz or .tgz archive"])
        (_zip if kind == "zip" else _tar)(path, dest, limits, set(task_ids))
    return dest


def remove(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
