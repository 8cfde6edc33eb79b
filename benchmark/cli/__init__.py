"""``amss-bench`` command line. Each command group lives in ``benchmark/cli/<group>.py`` and exposes
``register(subparsers)``; handlers return an exit status (0 ok, 2 bad input, 1 failure)."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

COMMAND_MODULES = (
    "benchmark.cli.data",
    "benchmark.cli.aml",
    "benchmark.cli.testset",
    "benchmark.cli.models",
    "benchmark.cli.metrics",
    "benchmark.cli.evaluate",
    "benchmark.cli.train",
    "benchmark.cli.report",
    "benchmark.cli.silence",
    "benchmark.cli.listen",
    "benchmark.cli.html",
    "benchmark.cli.properties",
    "benchmark.cli.numerics",
    "benchmark.cli.tasks",
    "benchmark.cli.gate",
    "benchmark.cli.leaderboard",  # after testset: it adds `testset export`
    "benchmark.cli.repro",
)


def positive_int(text: str) -> int:
    """argparse type of a count that must be at least 1 (``--threads``, ``--batch-size``): anything else is a usage
    error naming the value."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def fail(message: str, status: int = 2) -> int:
    """Print an error on stderr (nothing on stdout) and return the exit status."""
    print(f"amss-bench: error: {message}", file=sys.stderr)
    return status


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="amss-bench", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as err:
            if err.name != name:  # a missing dependency of an existing command module is a real error
                raise
            continue
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from benchmark.base import numerics

    numerics.pin()  # before numpy/torch load: the same code paths on every x86-64 CPU (docs/performance.md)
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    level = logging.WARNING if args.quiet else (logging.DEBUG if args.verbose > 1 else logging.INFO)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    rc = int(args.func(args) or 0)
    if argv is None and getattr(args, "exit_without_teardown", False):
        exit_without_teardown(rc)
    return rc


def exit_without_teardown(rc: int) -> None:
    """End the process now, once everything is flushed, skipping the interpreter's teardown: with torch and
    several hundred MB of arrays loaded it took ≈ 0.75 s of a ≈ 9-s ``metrics bss`` run (docs/performance.md).
    Only for commands that opt in (``exit_without_teardown`` set by their parser) and only when run as a program
    (``main()`` without ``argv``), never for an in-process call: such a command has written all its output (stdout
    and stderr here) and holds no files, child processes or temporary files that need atexit handlers."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(rc)


if __name__ == "__main__":
    sys.exit(main())
