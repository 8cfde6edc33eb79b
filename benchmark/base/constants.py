"""Constants shared by every part of the suite (protocol §1, §4, §10)."""

SR = 44_100
"""Sample rate of every signal in the suite (Hz)."""

SOURCES = ("vocals", "drums", "bass", "other")
"""Unmixed source order of a track array of shape (4, N, 2) (AMSS repo, ``musdb_wrapper.py``)."""

TARGETABLE = ("vocals", "drums", "bass")
"""Sources an AML query can name ("other" is never a target, thesis §5.5.1)."""

STEMS = ("mixture",) + SOURCES
"""The five files of a MUSDB18-HQ track folder."""

HOP = 1024
NUM_FRAME = 128
WINDOW = HOP * (NUM_FRAME - 1)
"""Model window in samples: 130 048 (2.949 s)."""
