"""Procedural multi-track composer for the synthetic dataset (see ``docs/dataset.md``).

A :class:`Song` is composed from a seeded :class:`numpy.random.Generator`: tempo, key and mode, a section structure
(intro / verse / chorus / bridge, each with its own chord progression and density), and for each of the four MUSDB
sources a list of General MIDI :class:`Part` s (one MIDI channel each). :func:`write_midi` writes the parts of one
source into a standard MIDI file that FluidSynth renders (``benchmark.data.synth``).

Everything here is pure Python/numpy: the same generator state always gives the same song, note for note.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

BEATS_PER_BAR = 4
TICKS_PER_BEAT = 480
DRUM_CHANNEL = 9  # GM channel 10

SCALES = {"major": (0, 2, 4, 5, 7, 9, 11), "minor": (0, 2, 3, 5, 7, 8, 10)}
KEY_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")

# Chord progressions as 0-based scale degrees, one chord per slot.
PROGRESSIONS = {
    "major": (
        (0, 4, 5, 3),  # I V vi IV
        (5, 3, 0, 4),  # vi IV I V
        (0, 5, 3, 4),  # I vi IV V
        (0, 3, 4, 3),  # I IV V IV
        (1, 4, 0, 0),  # ii V I I
        (0, 3, 0, 4),  # I IV I V
        (3, 4, 2, 5),  # IV V iii vi
        (0, 2, 3, 4),  # I iii IV V
    ),
    "minor": (
        (0, 5, 2, 6),  # i VI III VII
        (0, 3, 4, 0),  # i iv v i
        (0, 6, 5, 6),  # i VII VI VII
        (0, 5, 3, 4),  # i VI iv v
        (0, 2, 6, 5),  # i III VII VI
        (3, 0, 6, 0),  # iv i VII i
    ),
}

# Section kind -> density (0 sparse, 1 medium, 2 dense).
DENSITY = {"intro": 0, "verse": 1, "chorus": 2, "bridge": 1}

# General MIDI programs (0-based) per role; all present in TimGM6mb.sf2.
VOCAL_PROGRAMS = (52, 53, 54, 85)  # choir aahs, voice oohs, synth voice, lead 6 (voice)
BASS_PROGRAMS = tuple(range(32, 40))  # acoustic .. synth bass 2
PAD_PROGRAMS = (48, 49, 50, 51, 19, 88, 89, 90, 91, 92, 94, 95)  # strings, church organ, pads
COMP_PROGRAMS = (0, 1, 2, 4, 5, 16, 17, 18, 24, 25, 26, 27, 28, 29, 30)  # pianos, organs, guitars
ARP_PROGRAMS = (0, 4, 5, 6, 8, 11, 12, 24, 25, 26, 27, 46)  # pianos, harpsichord, mallets, guitars, harp
DRUM_KITS = (0, 8, 16, 24, 25, 32)  # standard, room, power, electronic, TR-808, jazz (bank 128)

# GM percussion keys.
KICK, SIDE_STICK, SNARE, CLAP, HH_CLOSED, HH_PEDAL, HH_OPEN = 36, 37, 38, 39, 42, 44, 46
CRASH, RIDE = 49, 51
TOMS = (50, 48, 47, 45, 43, 41)  # high .. low

DRUM_STYLES = ("rock", "four", "half", "hiphop")
BASS_STYLES = ("quarters", "eighths", "root_fifth", "sync")
COMP_STYLES = ("block", "half", "push", "strum", "offbeat")
ARP_DIRECTIONS = ("up", "down", "updown")


@dataclass(frozen=True)
class Note:
    start: float  # beats from the song start
    dur: float  # beats
    pitch: int
    vel: int


@dataclass
class Part:
    """One MIDI channel of one source."""

    role: str
    channel: int
    program: int
    pan: int  # CC10, 0..127 (64 = centre)
    volume: int  # CC7
    notes: list[Note] = field(default_factory=list)

    @property
    def is_drums(self) -> bool:
        return self.channel == DRUM_CHANNEL


@dataclass(frozen=True)
class Section:
    kind: str
    start_bar: int
    n_bars: int


@dataclass
class Song:
    bpm: int
    key: int
    mode: str
    sections: list[Section]
    n_bars: int
    stems: dict[str, list[Part]]
    styles: dict[str, str]

    @property
    def tempo_us(self) -> int:
        """MIDI tempo (microseconds per beat) exactly as written to the file."""
        return tempo_us(self.bpm)

    @property
    def key_name(self) -> str:
        return f"{KEY_NAMES[self.key]} {self.mode}"

    def describe(self) -> dict:
        """JSON-able summary (tempo, key, structure, programs, pans)."""
        return {
            "bpm": self.bpm,
            "key": self.key_name,
            "sections": [f"{s.kind}:{s.n_bars}" for s in self.sections],
            "styles": dict(self.styles),
            "parts": {
                stem: [{"role": p.role, "program": p.program, "pan_cc": p.pan, "notes": len(p.notes)} for p in parts]
                for stem, parts in self.stems.items()
            },
        }


def tempo_us(bpm: int) -> int:
    return int(round(60_000_000 / bpm))


def beat_seconds(bpm: int) -> float:
    return tempo_us(bpm) / 1e6


# --------------------------------------------------------------------------------------------------------------------
# harmony helpers


def _chord_pcs(key: int, mode: str, degree: int, seventh: bool) -> tuple[int, ...]:
    scale = SCALES[mode]
    steps = (0, 2, 4, 6) if seventh else (0, 2, 4)
    return tuple((key + scale[(degree + s) % 7]) % 12 for s in steps)


def _nearest(pc: int, center: float) -> int:
    """MIDI pitch with pitch class ``pc`` closest to ``center`` (ties go down)."""
    base = int(math.floor(center)) - 6
    cands = [p for p in range(base, base + 13) if p % 12 == pc]
    return min(cands, key=lambda p: (abs(p - center), p))


def _vel(rng: np.random.Generator, base: float, spread: float = 6.0) -> int:
    return int(np.clip(round(base + rng.normal(0.0, spread)), 1, 127))


@dataclass(frozen=True)
class _Chord:
    start: float  # beats
    dur: float
    root: int  # pitch class
    pcs: tuple[int, ...]
    degree: int


@dataclass(frozen=True)
class _Bar:
    index: int
    start: float
    section: Section
    bar_in_section: int
    chords: tuple[_Chord, ...]

    @property
    def density(self) -> int:
        return DENSITY[self.section.kind]

    @property
    def first_of_section(self) -> bool:
        return self.bar_in_section == 0

    @property
    def last_of_section(self) -> bool:
        return self.bar_in_section == self.section.n_bars - 1

    def chord_at(self, beat: float) -> _Chord:
        for c in reversed(self.chords):
            if beat >= c.start - 1e-9:
                return c
        return self.chords[0]


# --------------------------------------------------------------------------------------------------------------------
# structure


def _sections(rng: np.random.Generator, n_bars: int) -> list[Section]:
    order = ("intro", "verse", "chorus", "verse", "chorus", "bridge", "chorus", "chorus")
    start = int(rng.choice([0, 1, 2], p=[0.5, 0.3, 0.2]))
    lens = {
        "intro": int(rng.choice([1, 2])),
        "verse": int(rng.choice([2, 4])),
        "chorus": int(rng.choice([2, 4])),
        "bridge": 2,
    }
    out: list[Section] = []
    bar = 0
    i = start
    while bar < n_bars:
        kind = order[i] if i < len(order) else order[3 + (i - 3) % (len(order) - 3)]
        n = min(lens[kind], n_bars - bar)
        out.append(Section(kind, bar, n))
        bar += n
        i += 1
    return out


def _bars(rng: np.random.Generator, key: int, mode: str, sections: list[Section]) -> list[_Bar]:
    progs = PROGRESSIONS[mode]
    picks = rng.choice(len(progs), size=3, replace=False)
    prog_of = {"intro": progs[picks[0]], "verse": progs[picks[0]], "chorus": progs[picks[1]], "bridge": progs[picks[2]]}
    two_per_bar = {"intro": False, "verse": bool(rng.random() < 0.2), "chorus": bool(rng.random() < 0.35),
                   "bridge": False}
    seventh = bool(rng.random() < 0.35)
    bars: list[_Bar] = []
    for sec in sections:
        prog = prog_of[sec.kind]
        slot = 0
        for b in range(sec.n_bars):
            index = sec.start_bar + b
            start = float(index * BEATS_PER_BAR)
            n_ch = 2 if two_per_bar[sec.kind] else 1
            chords = []
            for k in range(n_ch):
                deg = prog[slot % len(prog)]
                slot += 1
                dur = BEATS_PER_BAR / n_ch
                pcs = _chord_pcs(key, mode, deg, seventh)
                chords.append(_Chord(start + k * dur, dur, pcs[0], pcs, deg))
            bars.append(_Bar(index, start, sec, b, tuple(chords)))
    return bars


# --------------------------------------------------------------------------------------------------------------------
# drums


def _drum_pattern(style: str, density: int, bpm: int) -> dict[int, list[int]]:
    """16-step pattern (step -> list of keys) for one bar."""
    pat: dict[int, list[int]] = {s: [] for s in range(16)}

    def add(steps, key):
        for s in steps:
            pat[s].append(key)

    if density == 0:
        add((0, 4, 8, 12), RIDE if style == "half" else HH_CLOSED)
        add((0,) if style != "four" else (0, 8), KICK)
        if style in ("rock", "hiphop"):
            add((12,), SIDE_STICK)
        return pat
    if style == "rock":
        add((0, 8) + ((10,) if density == 2 else ()), KICK)
        add((4, 12), SNARE)
        hats = range(0, 16, 2)
    elif style == "four":
        add((0, 4, 8, 12), KICK)
        add((4, 12), CLAP if density == 2 else SNARE)
        hats = (2, 6, 10, 14) if density == 1 else range(0, 16, 2)
    elif style == "half":
        add((0, 10) if density == 1 else (0, 6, 10), KICK)
        add((8,), SNARE)
        hats = range(0, 16, 2)
    else:  # hiphop
        add((0, 7, 10) if density == 1 else (0, 3, 7, 10), KICK)
        add((4, 12), SNARE)
        hats = range(0, 16, 1) if bpm <= 105 else range(0, 16, 2)
    if density == 2 and style in ("rock", "half"):
        add(hats, RIDE)
    elif density == 2 and style == "four":
        add([h for h in hats if h % 4 == 2], HH_OPEN)
        add([h for h in hats if h % 4 == 0], HH_CLOSED)
    else:
        add(hats, HH_CLOSED)
    return pat


def _drums(rng: np.random.Generator, bars: list[_Bar], bpm: int, style: str) -> list[Note]:
    notes: list[Note] = []
    base = {KICK: 104, SNARE: 100, CLAP: 96, SIDE_STICK: 80, HH_CLOSED: 72, HH_OPEN: 80, HH_PEDAL: 64,
            CRASH: 104, RIDE: 78}
    for bar in bars:
        pat = _drum_pattern(style, bar.density, bpm)
        fill_from = 16
        has_next = bar.index + 1 < len(bars)
        if bar.last_of_section and has_next and bar.density > 0:
            fill_from = int(rng.choice([8, 12]))
        elif bar.last_of_section and has_next:
            fill_from = 12
        for step in range(16):
            t = bar.start + step / 4
            if step >= fill_from:
                continue
            for key in pat[step]:
                accent = 8 if step % 4 == 0 else 0
                notes.append(Note(t, 0.25, key, _vel(rng, base[key] + accent)))
        if fill_from < 16:
            n_steps = 16 - fill_from
            toms = TOMS if bar.density > 0 else (SNARE,)
            use_snare = bool(rng.random() < 0.4)
            for k in range(n_steps):
                step = fill_from + k
                t = bar.start + step / 4
                if use_snare or bar.density == 0:
                    key = SNARE
                else:
                    key = toms[min(len(toms) - 1, k * len(toms) // n_steps)]
                vel = 70 + 40 * (k + 1) / n_steps
                notes.append(Note(t, 0.25, key, _vel(rng, vel, 4)))
                if step % 4 == 0:
                    notes.append(Note(t, 0.25, KICK, _vel(rng, 96)))
        if bar.first_of_section and bar.index > 0 and bar.density > 0:
            notes.append(Note(bar.start, 0.25, CRASH, _vel(rng, base[CRASH])))
    return notes


# --------------------------------------------------------------------------------------------------------------------
# bass


def _bass(rng: np.random.Generator, bars: list[_Bar], key: int, mode: str, style: str) -> list[Note]:
    notes: list[Note] = []

    def root_pitch(c: _Chord) -> int:
        return 28 + (c.root - 4) % 12  # E1 .. Eb2

    for bar in bars:
        if bar.density == 0:
            rhythm = [(0.0, 2.0, "r"), (2.0, 2.0, "r")] if bar.chords[0].dur < 4 else [(0.0, 4.0, "r")]
        elif style == "quarters" and bar.density == 1:
            rhythm = [(float(b), 1.0, "r") for b in range(4)]
        elif style in ("quarters", "eighths"):
            rhythm = [(b / 2, 0.5, "o" if b in (3, 7) and bar.density == 2 else "r") for b in range(8)]
        elif style == "root_fifth":
            rhythm = [(0.0, 1.5, "r"), (1.5, 0.5, "r"), (2.0, 1.0, "f"), (3.0, 1.0, "o")]
        else:  # sync
            rhythm = [(0.0, 1.5, "r"), (1.5, 1.0, "r"), (2.5, 0.5, "f"), (3.0, 1.0, "r")]
        for pos, dur, what in rhythm:
            chord = bar.chord_at(bar.start + pos)
            # if the chord changes inside this note, cut it at the change
            nxt = chord.start + chord.dur
            dur = min(dur, nxt - (bar.start + pos))
            p = root_pitch(chord)
            if what == "f":
                p += 7
            elif what == "o":
                p += 12
            notes.append(Note(bar.start + pos, dur * 0.92, p, _vel(rng, 92 + 8 * (pos % 1 == 0), 5)))
        # approach note into the next bar's root on the last eighth (dense sections)
        if bar.density == 2 and bar.index + 1 < len(bars) and rng.random() < 0.5:
            target = root_pitch(bars[bar.index + 1].chords[0])
            last_t = bar.start + 3.5
            notes = [n for n in notes if n.start < last_t - 1e-9]
            notes = [Note(n.start, min(n.dur, last_t - n.start - 0.04), n.pitch, n.vel) for n in notes]
            scale_p = _scale_pitches(key, mode, target - 3, target + 3)
            below = [p for p in scale_p if p < target]
            above = [p for p in scale_p if p > target]
            approach = below[-1] if (rng.random() < 0.6 or not above) and below else above[0]
            notes.append(Note(last_t, 0.46, approach, _vel(rng, 88)))
    return notes


# --------------------------------------------------------------------------------------------------------------------
# lead "vocal" line


def _scale_pitches(key: int, mode: str, lo: int, hi: int) -> list[int]:
    pcs = {(key + s) % 12 for s in SCALES[mode]}
    return [p for p in range(lo, hi + 1) if p % 12 in pcs]


def _vocals(rng: np.random.Generator, bars: list[_Bar], key: int, mode: str, bpm: int) -> tuple[list[Note], list[Note]]:
    """Lead line with phrases and short rests, plus an optional harmony (backing) line in dense sections."""
    center = int(rng.integers(60, 67))
    max_rest = max(0.5, min(1.0, math.floor(0.75 / beat_seconds(bpm) * 2) / 2))  # rests never exceed ~0.75 s
    harmony_on = bool(rng.random() < 0.6)
    lead: list[Note] = []
    harmony: list[Note] = []
    prev = center
    total = len(bars) * BEATS_PER_BAR

    # group consecutive bars by section
    for sec_bars in _group_by_section(bars):
        sec = sec_bars[0].section
        t = sec_bars[0].start
        end = t + len(sec_bars) * BEATS_PER_BAR
        if sec.kind == "intro":
            # soft humming: sustained chord tones, no rests
            for bar in sec_bars:
                for c in bar.chords:
                    p = _nearest(c.pcs[int(rng.integers(1, len(c.pcs)))], center)
                    lead.append(Note(c.start, c.dur * 0.98, p, _vel(rng, 62, 4)))
                    prev = p
            continue
        shift = 3 if sec.kind == "chorus" else 0
        lo, hi = center - 7 + shift, center + 8 + shift
        scale_p = _scale_pitches(key, mode, lo, hi)
        durs = (0.5, 0.5, 1.0, 1.0, 1.5, 2.0) if sec.kind != "chorus" else (0.5, 1.0, 1.0, 1.5, 2.0, 2.0)
        while t < end - 1e-9:
            phrase_len = float(rng.choice([4.0, 6.0, 8.0]))
            p_end = min(end, t + phrase_len)
            if end - p_end < 2.0:
                p_end = end  # do not leave a tiny tail
            p_start = t
            first = True
            while t < p_end - 1e-9:
                d = float(rng.choice(durs))
                d = min(d, p_end - t)
                bar = bars[min(int(t // BEATS_PER_BAR), len(bars) - 1)]
                chord = bar.chord_at(t)
                strong = abs(t - round(t)) < 1e-9 and int(round(t)) % 2 == 0
                if strong or first:
                    cands = [p for p in range(lo, hi + 1) if p % 12 in chord.pcs]
                    p = min(cands, key=lambda q: (abs(q - prev) + rng.random() * 3, q))
                else:
                    i = min(range(len(scale_p)), key=lambda k: abs(scale_p[k] - prev))
                    step = int(rng.choice([-2, -1, -1, 0, 1, 1, 2]))
                    i = int(np.clip(i + step, 0, len(scale_p) - 1))
                    p = scale_p[i]
                pos = (t - p_start) / max(p_end - p_start, 1e-9)
                vel = _vel(rng, 84 + 14 * math.sin(math.pi * pos), 4)
                lead.append(Note(t, d * 0.95, p, vel))
                if harmony_on and sec.kind == "chorus":
                    # diatonic third below the lead
                    hp = _scale_pitches(key, mode, lo - 8, hi)
                    j = min(range(len(hp)), key=lambda k: abs(hp[k] - p))
                    harmony.append(Note(t, d * 0.95, hp[max(0, j - 2)], max(1, vel - 18)))
                prev = p
                first = False
                t += d
                # short breath inside a phrase
                if t < p_end - 1.0 and rng.random() < 0.12:
                    t += 0.5
            # rest between phrases (never longer than max_rest)
            if t < end - 1e-9:
                t += float(rng.choice([0.5, max_rest]))
    lead = [n for n in lead if n.start < total]
    return lead, harmony


def _group_by_section(bars: list[_Bar]) -> list[list[_Bar]]:
    groups: list[list[_Bar]] = []
    for bar in bars:
        if bar.first_of_section or not groups:
            groups.append([bar])
        else:
            groups[-1].append(bar)
    return groups


# --------------------------------------------------------------------------------------------------------------------
# "other": pads, comping, arpeggios


def _voicing(pcs: tuple[int, ...], center: int) -> list[int]:
    return sorted({_nearest(pc, center) for pc in pcs})


def _pad(rng: np.random.Generator, bars: list[_Bar], center: int) -> list[Note]:
    notes = []
    for bar in bars:
        for c in bar.chords:
            voices = _voicing(c.pcs[:3], center)
            if bar.density == 2:
                voices = voices + [voices[0] + 12]
            for p in voices:
                notes.append(Note(c.start, c.dur * 0.98, p, _vel(rng, 64 + 6 * bar.density, 3)))
    return notes


def _comp(rng: np.random.Generator, bars: list[_Bar], center: int, style: str) -> list[Note]:
    notes = []
    for bar in bars:
        if bar.density == 0:
            continue
        if style == "block":
            rhythm = [(float(b), 0.9) for b in range(4)]
        elif style == "half":
            rhythm = [(0.0, 1.9), (2.0, 1.9)] if bar.density == 1 else [(float(b), 0.9) for b in range(4)]
        elif style == "push":
            rhythm = [(0.0, 1.4), (1.5, 0.9), (2.5, 0.4), (3.0, 0.9)]
        elif style == "strum":
            rhythm = [(b / 2, 0.45) for b in range(8)]
        else:  # offbeat
            rhythm = [(b + 0.5, 0.4) for b in range(4)]
        for pos, dur in rhythm:
            c = bar.chord_at(bar.start + pos)
            dur = min(dur, c.start + c.dur - (bar.start + pos))
            voices = _voicing(c.pcs, center)
            if bar.density == 2:
                voices = sorted(set(voices + [voices[0] + 12]))
            accent = 10 if pos % 1 == 0 else 0
            down = style != "strum" or int(pos * 2) % 2 == 0
            order = voices if down else voices[::-1]
            base = 66 + 8 * bar.density + accent
            for k, p in enumerate(order):
                off = 0.012 * k if style == "strum" else 0.0
                notes.append(Note(bar.start + pos + off, max(0.05, dur - off), p, _vel(rng, base, 4)))
    return notes


def _arp(rng: np.random.Generator, bars: list[_Bar], center: int, direction: str, bpm: int) -> list[Note]:
    notes = []
    for bar in bars:
        step = 0.5 if (bar.density < 2 or bpm > 100) else 0.25
        if bar.density == 0:
            step = 1.0 if bpm < 100 else 0.5
        n = int(round(BEATS_PER_BAR / step))
        for k in range(n):
            t = bar.start + k * step
            c = bar.chord_at(t)
            tones = _voicing(c.pcs, center)
            tones = tones + [p + 12 for p in tones]
            if direction == "up":
                seq = tones
            elif direction == "down":
                seq = tones[::-1]
            else:
                seq = tones + tones[-2:0:-1]
            p = seq[k % len(seq)]
            notes.append(Note(t, step * 0.9, p, _vel(rng, 62 + 8 * bar.density + 8 * (k % 4 == 0), 4)))
    return notes


# --------------------------------------------------------------------------------------------------------------------


def compose(rng: np.random.Generator, seconds: float) -> Song:
    """Compose a song that covers at least ``seconds`` of audio."""
    bpm = int(rng.integers(78, 141))
    key = int(rng.integers(0, 12))
    mode = "major" if rng.random() < 0.6 else "minor"
    n_bars = max(1, math.ceil(seconds / (BEATS_PER_BAR * beat_seconds(bpm))))
    sections = _sections(rng, n_bars)
    bars = _bars(rng, key, mode, sections)

    drum_style = str(rng.choice(DRUM_STYLES))
    bass_style = str(rng.choice(BASS_STYLES))
    comp_style = str(rng.choice(COMP_STYLES))
    arp_dir = str(rng.choice(ARP_DIRECTIONS))

    # --- vocals
    vprog = int(rng.choice(VOCAL_PROGRAMS))
    lead, harm = _vocals(rng, bars, key, mode, bpm)
    vpan = 64 + int(rng.integers(-8, 9))
    vocals = [Part("lead", 0, vprog, vpan, 104, lead)]
    if harm:
        side = 1 if rng.random() < 0.5 else -1
        hpan = int(np.clip(vpan + side * int(rng.integers(18, 40)), 0, 127))
        vocals.append(Part("harmony", 1, vprog, hpan, int(rng.integers(70, 90)), harm))

    # --- drums
    kit = int(rng.choice(DRUM_KITS))
    drums = [Part("kit", DRUM_CHANNEL, kit, 64, 104, _drums(rng, bars, bpm, drum_style))]

    # --- bass
    bprog = int(rng.choice(BASS_PROGRAMS))
    bass = [Part("bass", 2, bprog, 64 + int(rng.integers(-4, 5)), 104, _bass(rng, bars, key, mode, bass_style))]

    # --- other: comp + (pad | arp) [+ the other one]
    roles = ["comp", "pad" if rng.random() < 0.5 else "arp"]
    if rng.random() < 0.4:
        roles.append("arp" if roles[1] == "pad" else "pad")
    side = 1 if rng.random() < 0.5 else -1
    other: list[Part] = []
    for ch, role in enumerate(roles, start=3):
        if role == "comp":
            prog = int(rng.choice(COMP_PROGRAMS))
            pan = 64 + side * int(rng.integers(10, 46))
            notes = _comp(rng, bars, int(rng.integers(58, 65)), comp_style)
        elif role == "pad":
            prog = int(rng.choice(PAD_PROGRAMS))
            pan = 64 + int(rng.integers(-20, 21))
            notes = _pad(rng, bars, int(rng.integers(56, 66)))
        else:
            prog = int(rng.choice(ARP_PROGRAMS))
            pan = 64 - side * int(rng.integers(10, 46))
            notes = _arp(rng, bars, int(rng.integers(62, 70)), arp_dir, bpm)
        other.append(Part(role, ch, prog, int(np.clip(pan, 0, 127)), int(rng.integers(84, 111)), notes))

    return Song(
        bpm=bpm, key=key, mode=mode, sections=sections, n_bars=n_bars,
        stems={"vocals": vocals, "drums": drums, "bass": bass, "other": other},
        styles={"drums": drum_style, "bass": bass_style, "comp": comp_style, "arp": arp_dir},
    )


# --------------------------------------------------------------------------------------------------------------------
# MIDI


def write_midi(parts: list[Part], bpm: int, path: str | Path) -> None:
    """Write ``parts`` (one source) as a type-0 standard MIDI file (480 ticks per beat)."""
    import mido

    events: list[tuple[int, int, int, mido.Message]] = []  # (tick, priority, seq, msg)
    seq = 0

    def push(tick: int, prio: int, msg) -> None:
        nonlocal seq
        events.append((tick, prio, seq, msg))
        seq += 1

    push(0, 0, mido.MetaMessage("set_tempo", tempo=tempo_us(bpm)))
    push(0, 0, mido.MetaMessage("time_signature", numerator=4, denominator=4))
    for part in parts:
        ch = part.channel
        if not part.is_drums:
            push(0, 1, mido.Message("control_change", channel=ch, control=0, value=0))  # bank select MSB
        push(0, 1, mido.Message("program_change", channel=ch, program=part.program))
        push(0, 1, mido.Message("control_change", channel=ch, control=7, value=part.volume))
        push(0, 1, mido.Message("control_change", channel=ch, control=10, value=part.pan))
        push(0, 1, mido.Message("control_change", channel=ch, control=91, value=0))  # reverb send
        push(0, 1, mido.Message("control_change", channel=ch, control=93, value=0))  # chorus send
        for n in part.notes:
            on = int(round(n.start * TICKS_PER_BEAT))
            off = max(on + 1, int(round((n.start + n.dur) * TICKS_PER_BEAT)))
            push(on, 3, mido.Message("note_on", channel=ch, note=int(n.pitch), velocity=int(n.vel)))
            push(off, 2, mido.Message("note_off", channel=ch, note=int(n.pitch), velocity=0))
    events.sort(key=lambda e: (e[0], e[1], e[2]))
    track = mido.MidiTrack()
    last = 0
    for tick, _prio, _seq, msg in events:
        track.append(msg.copy(time=tick - last))
        last = tick
    track.append(mido.MetaMessage("end_of_track", time=0))
    mid = mido.MidiFile(type=0, ticks_per_beat=TICKS_PER_BEAT)
    mid.tracks.append(track)
    mid.save(str(path))
