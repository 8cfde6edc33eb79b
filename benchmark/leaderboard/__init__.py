"""The leaderboard: submit a system as estimates or as code; the suite validates the submission to the
last byte and recomputes every score itself; the thesis systems and the baselines are always on the board.

Modules: :mod:`.export` (the test inputs a submitter runs on), :mod:`.meta` (``submission.yaml``),
:mod:`.intake` (folders and archives, safely), :mod:`.estimates` (audio checks), :mod:`.code` (code submissions run
under time and memory limits), :mod:`.entries` (validate, score, store an entry atomically), :mod:`.board` (the
markdown/JSON leaderboard). docs/leaderboard.md describes the rules.
"""


class SubmissionError(ValueError):
    """A submission is refused. ``problems`` lists every problem found (each names the file and what was expected)."""

    def __init__(self, what: str, problems: list[str]):
        self.what = what
        self.problems = list(problems)
        shown = "\n  ".join(self.problems[:60])
        more = f"\n  … and {len(self.problems) - 60} more" if len(self.problems) > 60 else ""
        super().__init__(f"{what}: submission refused, {len(self.problems)} problem(s):\n  {shown}{more}")
