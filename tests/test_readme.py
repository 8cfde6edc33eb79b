"""The README's `$ amss-bench aml ...` examples print what the README says they print."""

import re
import shlex
from pathlib import Path

import pytest

from benchmark.cli import main

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()
EXAMPLES = re.findall(r"^\$ amss-bench (aml (?:parse|encode) .+)\n(.+)$", README, flags=re.M)


def test_readme_has_examples():
    assert len(EXAMPLES) >= 2


@pytest.mark.parametrize("command, expected", EXAMPLES)
def test_readme_example(command, expected, capsys):
    status = main(shlex.split(command))
    out = capsys.readouterr()
    if expected.startswith("amss-bench: error:"):
        assert status == 2 and out.err.strip() == expected and out.out == ""
    else:
        assert status == 0 and out.out.strip() == expected
