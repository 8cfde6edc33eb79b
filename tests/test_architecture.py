"""The architecture of docs/architecture.md as import contracts (``[tool.importlinter]`` in pyproject.toml): the
rooms of ``benchmark/`` in layers, ``models`` below scoring and reporting, no import cycles. Function-level imports
count like top-level ones."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

LINT = "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"


def lint_imports(repo: Path) -> subprocess.CompletedProcess:
    """``lint-imports`` on the packages of ``repo`` (first on the path: an installed copy elsewhere is not read)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(repo), *filter(None, [os.environ.get("PYTHONPATH")])]))
    return subprocess.run([sys.executable, "-c", LINT, "--no-cache"], cwd=repo, env=env, capture_output=True,
                          text=True, timeout=600)


def test_import_contracts_are_kept():
    res = lint_imports(REPO)
    assert res.returncode == 0, f"import contracts broken (pyproject.toml [tool.importlinter]):\n{res.stdout}{res.stderr}"
