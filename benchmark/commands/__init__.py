"""Command groups of the ``amss-bench`` CLI."""

import sys


def fail(message: str, status: int = 2) -> int:
    """Print an error on stderr (nothing on stdout) and return the exit status."""
    print(f"amss-bench: error: {message}", file=sys.stderr)
    return status
