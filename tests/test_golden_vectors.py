"""Every registered model, embedded and paper configuration, still produces its golden output (tests/golden).

A failure lists the models whose outputs changed. If the change is intended, rewrite the file with
``amss-bench gate --update-golden`` and commit it: the pull request then shows the change in its diff.
"""

from __future__ import annotations

from pathlib import Path

from benchmark.gate import golden
from models import registry

GOLDEN = Path(__file__).parent / "golden" / "models.json"


def test_golden_file_covers_every_registered_model_in_both_profiles():
    recorded = golden.load(GOLDEN)["models"]
    expected = {f"{n}@{p}" for n in registry.model_names() for p in golden.PROFILES}
    assert set(recorded) == expected, ("golden vectors out of date with the registry: "
                                       f"missing {sorted(expected - set(recorded))}, extra {sorted(set(recorded) - expected)}")


def test_every_model_output_matches_its_golden_vector():
    recorded = golden.load(GOLDEN)["models"]
    changes = golden.compare(recorded, golden.compute())
    assert not changes, "model outputs changed (amss-bench gate --update-golden if intended):\n" + "\n".join(
        f"  {c.key}: {c.status}: {'; '.join(c.reasons)}" for c in changes)
