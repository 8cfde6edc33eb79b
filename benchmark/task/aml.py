"""Audio Manipulation Language (AML) — thesis Appendix 7.1 as the reference code generates it.

Protocol §2.1–§2.7. The module holds

* the generator inventory (87 task2 generators / 240 descriptions, the 14 of task1) in the reference order,
* the 34-token vocabulary and the reference encoder (commas are tokens; no ``<bgn>``/``<end>``),
* a parser from text to a typed :class:`Query`, with errors that say what was expected where,
* a seeded :class:`Sampler` (generator uniform, then description uniform) for training.

Queries the grammar allows but the reference code never generates are accepted and flagged with
``Query.in_reference = False``:

* filters without an adjective ("apply lowpass to drums") mean the *medium* level (thesis Appendix 7.1);
* filters on source sets the code never filters (any set with bass and another source, or all three sources) use
  each source's own cutoff (vocal/drum cutoffs for vocals and drums, bass cutoffs for bass).
"""

from __future__ import annotations

import difflib
import itertools
import random
import re
from dataclasses import dataclass, field

from benchmark.base.constants import TARGETABLE

# --------------------------------------------------------------------------------------------------------------
# Operations and DSP parameters (protocol §2.2–§2.4)

OPERATIONS = (
    "separate", "mute", "volume_up", "volume_down",
    "pan_left", "pan_right", "pan_left_hard", "pan_right_hard",
    "lowpass", "highpass", "dereverb",
)

LEVELS = ("light", "medium", "heavy")

#: Biquad cutoffs in Hz, by (operation, level, cutoff group); group "bass" for the bass, "vd" for vocals and drums.
FILTER_CUTOFFS = {
    ("lowpass", "light", "vd"): 1378, ("lowpass", "medium", "vd"): 689, ("lowpass", "heavy", "vd"): 344,
    ("lowpass", "light", "bass"): 172, ("lowpass", "medium", "bass"): 86, ("lowpass", "heavy", "bass"): 43,
    ("highpass", "light", "vd"): 1378, ("highpass", "medium", "vd"): 2756, ("highpass", "heavy", "vd"): 5512,
    ("highpass", "light", "bass"): 86, ("highpass", "medium", "bass"): 172, ("highpass", "heavy", "bass"): 344,
}
FILTER_Q = 10.0
DEFAULT_FILTER_LEVEL = "medium"


def filter_cutoff(operation: str, level: str, source: str) -> int:
    """Cutoff frequency (Hz) of a filter task for one source."""
    return FILTER_CUTOFFS[(operation, level, "bass" if source == "bass" else "vd")]


# --------------------------------------------------------------------------------------------------------------
# Generators (protocol §2.1, §2.2)

TARGET_SETS = tuple(c for i in (1, 2, 3) for c in itertools.combinations(TARGETABLE, i))
"""The 7 non-empty subsets of (vocals, drums, bass) in ``itertools.combinations`` order."""

FILTER_TARGET_SETS = (("vocals",), ("drums",), ("vocals", "drums"), ("bass",))

_TEMPLATES = {
    "separate": ("separate {}", "isolate {}", "extract {}"),
    "mute": ("mute {}", "remove {}", "get rid of {}", "eliminate {}"),
    "volume_up": ("increase the volume of {}",),
    "volume_down": ("decrease the volume of {}",),
    "pan_left": ("pan {} to the left side",),
    "pan_right": ("pan {} to the right side",),
    "pan_left_hard": ("pan {} completely to the left side",),
    "pan_right_hard": ("pan {} completely to the right side",),
    "dereverb": ("remove reverb from {}",),
}


@dataclass(frozen=True)
class Generator:
    """A (DSP operation, target set, description list) triple of the reference task set."""

    id: str
    operation: str
    targets: tuple[str, ...]
    level: str | None
    descriptions: tuple[str, ...]

    @property
    def family(self) -> str:
        return "filter" if self.operation in ("lowpass", "highpass") else self.operation

    @property
    def remove(self) -> bool:
        """True for the *remove* generator (dereverb): input and target are swapped."""
        return self.operation == "dereverb"

    @property
    def default_description(self) -> str:
        return self.descriptions[0]


def _generator_id(operation: str, targets: tuple[str, ...], level: str | None) -> str:
    head = f"{operation}:{level}" if level else operation
    return f"{head}:{'+'.join(targets)}"


def _make(operation: str, targets: tuple[str, ...], level: str | None = None) -> Generator:
    if level is None:
        templates = _TEMPLATES[operation]
    else:
        templates = (f"apply {level} {operation} to {{}}",)
    # permutation is the outer loop, verb the inner loop (protocol §2.1)
    descs = tuple(t.format(", ".join(p)) for p in itertools.permutations(targets) for t in templates)
    return Generator(_generator_id(operation, targets, level), operation, targets, level, descs)


def _family(operation: str) -> tuple[Generator, ...]:
    return tuple(_make(operation, t) for t in TARGET_SETS)


def _filters() -> tuple[Generator, ...]:
    # reference order: light/medium/heavy lowpass, light/medium/heavy highpass; each over v, d, v+d, b
    return tuple(_make(op, t, level) for op in ("lowpass", "highpass") for level in LEVELS for t in FILTER_TARGET_SETS)


_TASK2 = (
    _family("mute") + _family("separate")
    + _family("pan_left") + _family("pan_right") + _family("pan_left_hard") + _family("pan_right_hard")
    + _filters() + _family("dereverb") + _family("volume_down") + _family("volume_up")
)
_TASK1 = _family("mute") + _family("separate")
_BY_ID = {g.id: g for g in _TASK2}

#: Default descriptions of the 4 SDR tasks (protocol §3.1), in museval target order vocals, drums, bass, other.
SDR_DESCRIPTIONS = ("separate vocals", "separate drums", "separate bass", "mute vocals, drums, bass")
_EVAL_DEFAULTS = set(SDR_DESCRIPTIONS) | {
    f"pan {s} completely to the {side} side" for s in TARGETABLE for side in ("left", "right")
} | {f"apply heavy {f} to {s}" for s in TARGETABLE for f in ("lowpass", "highpass")} | {
    f"remove reverb from {s}" for s in TARGETABLE
} | {f"{d} the volume of {s}" for s in TARGETABLE for d in ("increase", "decrease")}

#: The 25 evaluation descriptions, in the order of the training set they are filtered from (task2_config).
EVAL_DESCRIPTIONS = tuple(g.default_description for g in _TASK2 if g.default_description in _EVAL_DEFAULTS)
#: The 21 RMSE-MFCC descriptions (task2_eval.py skips "separate" and "mute").
MFCC_DESCRIPTIONS = tuple(d for d in EVAL_DESCRIPTIONS if "separate" not in d and "mute" not in d)

TASK_SETS = ("task2", "task1", "eval", "sdr", "mfcc")


def generators(task_set: str = "task2") -> tuple[Generator, ...]:
    """Generators of a training set: ``task2`` (87) or ``task1`` (14), in the reference order."""
    if task_set == "task2":
        return _TASK2
    if task_set == "task1":
        return _TASK1
    raise ValueError(f"unknown generator set {task_set!r}; expected 'task2' or 'task1'")


def get_generator(generator_id: str) -> Generator:
    try:
        return _BY_ID[generator_id]
    except KeyError:
        raise KeyError(f"unknown generator id {generator_id!r}") from None


def descriptions(task_set: str = "task2") -> tuple[str, ...]:
    """Description strings of a set, one per line of ``amss-bench aml list`` (reference order)."""
    if task_set in ("task2", "task1"):
        return tuple(d for g in generators(task_set) for d in g.descriptions)
    if task_set == "eval":
        return EVAL_DESCRIPTIONS
    if task_set == "sdr":
        return SDR_DESCRIPTIONS
    if task_set == "mfcc":
        return MFCC_DESCRIPTIONS
    raise ValueError(f"unknown description set {task_set!r}; expected one of {', '.join(TASK_SETS)}")


# --------------------------------------------------------------------------------------------------------------
# Vocabulary and the reference encoder (protocol §2.7)

_REF_SPLIT = re.compile(r"(,|<pad>|<bgn>|<end>|\W)")


def reference_tokenize(text: str) -> list[str]:
    """Split exactly as the reference tokenizer: keep separators, drop empty strings and spaces."""
    return [t for t in _REF_SPLIT.split(text) if t and not t.isspace()]


def _build_vocab() -> tuple[str, ...]:
    words = {w for g in _TASK2 for d in g.descriptions for w in reference_tokenize(d)}
    return ("<pad>",) + tuple(sorted(words | {"<bgn>", "<end>"}))


VOCAB = _build_vocab()
WORD_TO_INDEX = {w: i for i, w in enumerate(VOCAB)}
PAD = 0


def encode(text: str) -> list[int]:
    """Token ids of a query: parsed (so case and spacing are forgiven), then encoded as the reference does."""
    return [WORD_TO_INDEX[t] for t in reference_tokenize(parse(text).canonical)]


# --------------------------------------------------------------------------------------------------------------
# Parser

class AMLError(ValueError):
    """A query outside the language. ``str(err)`` names the word, where it is, what was expected and a suggestion."""

    def __init__(self, query: str, message: str, *, word: str | None = None, position: int | None = None,
                 column: int | None = None, expected: tuple[str, ...] = (), suggestion: str | None = None):
        self.query = query
        self.word = word
        self.position = position
        self.column = column
        self.expected = expected
        self.suggestion = suggestion
        text = f"invalid AML query {query!r}: {message}"
        if expected:
            text += f"; expected {' or '.join(repr(e) for e in expected)}"
        if suggestion:
            text += f"; did you mean {suggestion!r}?"
        super().__init__(text)


@dataclass(frozen=True)
class Query:
    """A parsed AML query."""

    operation: str
    targets: tuple[str, ...]  # in the order written
    level: str | None  # filters only
    verb: str  # as written: "get rid of", "isolate", ...
    canonical: str  # normalised text (lower case, single spaces, ", " between sources)
    generator_id: str | None  # None when the reference never generates this operation/target set
    in_reference: bool = field(default=True)  # False for grammar-only queries (see module docstring)

    @property
    def generator(self) -> Generator | None:
        return _BY_ID.get(self.generator_id) if self.generator_id else None

    @property
    def default_description(self) -> str | None:
        g = self.generator
        return g.default_description if g else None

    @property
    def canonical_targets(self) -> tuple[str, ...]:
        return tuple(s for s in TARGETABLE if s in self.targets)

    def to_dict(self) -> dict:
        return {
            "operation": self.operation, "targets": list(self.targets), "level": self.level, "verb": self.verb,
            "canonical": self.canonical, "generator_id": self.generator_id, "in_reference": self.in_reference,
            "default_description": self.default_description,
        }


_TOKEN = re.compile(r"[a-z]+|,|\S")

_VOLUME_VERBS = {"separate": "separate", "isolate": "separate", "extract": "separate",
                 "mute": "mute", "remove": "mute", "eliminate": "mute"}
_FIRST_WORDS = ("apply", "decrease", "eliminate", "extract", "get", "increase", "isolate", "mute", "pan", "remove",
                "separate")


class _Tokens:
    def __init__(self, query: str):
        self.query = query
        self.text = query.lower()
        self.items = [(m.group(), m.start()) for m in _TOKEN.finditer(self.text)]
        self.i = 0

    def peek(self) -> str | None:
        return self.items[self.i][0] if self.i < len(self.items) else None

    def error(self, expected: tuple[str, ...], vocabulary: tuple[str, ...] | None = None) -> AMLError:
        word = self.peek()
        if word is None:
            what = "empty query" if self.i == 0 else f"query ends after word {self.i}"
            return AMLError(self.query, what, position=self.i + 1, column=len(self.text) + 1, expected=expected)
        column = self.items[self.i][1]
        where = f"at word {self.i + 1} (character {column + 1})"
        if word == "other":
            problem = f"'other' {where} is not a target (AML names vocals, drums and bass; the 'other' source is " \
                      "what 'mute vocals, drums, bass' keeps)"
        elif word in TARGETABLE and word in [w for w, _ in self.items[:self.i]]:
            problem = f"{word!r} {where} is named twice"
        else:
            problem = f"unexpected {word!r} {where}"
        pool = vocabulary if vocabulary is not None else expected
        close = [c for c in difflib.get_close_matches(word, pool, n=2, cutoff=0.6) if c != word and c in expected]
        return AMLError(self.query, problem, word=word, position=self.i + 1, column=column + 1, expected=expected,
                        suggestion=close[0] if close else None)

    def take(self, *expected: str, vocabulary: tuple[str, ...] | None = None) -> str:
        word = self.peek()
        if word not in expected:
            raise self.error(expected, vocabulary)
        self.i += 1
        return word

    def sequence(self, *words: str) -> None:
        for w in words:
            self.take(w)

    def done(self) -> None:
        if self.peek() is not None:
            raise self.error(("end of query",), VOCAB)


def _sources(tokens: _Tokens) -> tuple[str, ...]:
    found = []
    while True:
        remaining = tuple(s for s in TARGETABLE if s not in found)
        found.append(tokens.take(*remaining, vocabulary=TARGETABLE + ("other",)))
        if tokens.peek() != "," or len(found) == len(TARGETABLE):
            return tuple(found)
        tokens.take(",")


def parse(query: str) -> Query:
    """Parse an AML query. Whitespace and letter case are forgiven; anything else outside the language raises
    :class:`AMLError`."""
    if not isinstance(query, str):
        raise TypeError(f"AML query must be a string, got {type(query).__name__}")
    t = _Tokens(query)
    first = t.take(*_FIRST_WORDS, vocabulary=VOCAB)
    level = None
    if first == "apply":
        nxt = t.peek()
        if nxt in LEVELS:
            level = t.take(*LEVELS)
        operation = t.take("lowpass", "highpass", *(() if level else LEVELS), vocabulary=VOCAB)
        t.take("to")
        targets = _sources(t)
        verb = "apply"
    elif first in ("increase", "decrease"):
        t.sequence("the", "volume", "of")
        targets = _sources(t)
        operation, verb = ("volume_up" if first == "increase" else "volume_down"), first
    elif first == "pan":
        targets = _sources(t)
        hard = t.peek() == "completely"
        if hard:
            t.take("completely")
        t.take("to", *(() if hard else ("completely",)))  # the error lists 'completely' where it could stand
        t.take("the")
        side = t.take("left", "right")
        t.take("side")
        operation, verb = f"pan_{side}{'_hard' if hard else ''}", "pan"
    elif first == "get":
        t.sequence("rid", "of")
        targets, operation, verb = _sources(t), "mute", "get rid of"
    elif first == "remove" and t.peek() == "reverb":
        t.sequence("reverb", "from")
        targets, operation, verb = _sources(t), "dereverb", "remove reverb from"
    else:
        targets, operation, verb = _sources(t), _VOLUME_VERBS[first], first
    t.done()

    in_reference = True
    if operation in ("lowpass", "highpass"):
        written = f"{level} " if level else ""
        if level is None:
            level, in_reference = DEFAULT_FILTER_LEVEL, False
        if tuple(s for s in TARGETABLE if s in targets) not in FILTER_TARGET_SETS:
            in_reference = False
        canonical = f"apply {written}{operation} to {', '.join(targets)}"
    else:
        canonical = _canonical(operation, verb, targets)
    gid = _generator_id(operation, tuple(s for s in TARGETABLE if s in targets), level)
    if gid not in _BY_ID:
        gid = None
    return Query(operation, targets, level, verb, canonical, gid, in_reference)


def _canonical(operation: str, verb: str, targets: tuple[str, ...]) -> str:
    s = ", ".join(targets)
    if operation in ("separate", "mute"):
        return f"{verb} {s}"
    return _TEMPLATES[operation][0].format(s)


# --------------------------------------------------------------------------------------------------------------
# Sampler (protocol §2.2): generator uniform, then description uniform, Python ``random.randint``


class Sampler:
    """Seeded training-description sampler. ``sample()`` returns (generator, description)."""

    def __init__(self, task_set: str = "task2", seed: int = 2020):
        self.generators = generators(task_set)
        self.rng = random.Random(seed)

    def sample(self) -> tuple[Generator, str]:
        g = self.generators[self.rng.randint(0, len(self.generators) - 1)]
        return g, g.descriptions[self.rng.randint(0, len(g.descriptions) - 1)]

    def getstate(self):
        return self.rng.getstate()

    def setstate(self, state) -> None:
        self.rng.setstate(state)
