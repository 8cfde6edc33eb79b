"""The published numbers of the thesis (Choi 2021) that the report prints beside its own.

``PUBLISHED_MD`` holds every table of ``../shared/spec/paper-tables.md`` **verbatim** (the markdown table lines,
copied character for character; ``tests/test_report_tables.py`` compares them with the spec whenever it is present),
so that each published number reaches ``tables.json`` exactly as the thesis prints it: ``paper`` is the number,
``paper_text`` the printed string ("7.98 ± .07", "5.4", "1.56M"), ``paper_std`` the spread after "±".

* :func:`table` parses one table into header + rows of strings;
* :func:`parse_value` turns a printed cell into a :class:`Published` (``None`` for "n/a" or text such as "yes");
* :func:`extract_from_spec` reads the same blocks out of a paper-tables.md text (for the faithfulness test).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: table id -> (title, line of paper-tables.md that starts the table's section)
TITLES: dict[str, tuple[str, str]] = {
    "3.1": ("TFC-TDF U-Nets by spectrogram estimation method, SDR (dedicated, n_fft 2048, 7 blocks)",
            "## Table 3.1"),
    "3.2": ("TFC-TDF U-Nets by spectrogram estimation method, ISR", "ISR (Table 3.2)"),
    "3.3": ("TFC-TDF U-Nets by spectrogram estimation method, SIR", "SIR (Table 3.3)"),
    "3.4": ("TFC-TDF U-Nets by spectrogram estimation method, SAR", "SAR (Table 3.4)"),
    "3.5": ("time-frequency blocks, vocals SDR (dedicated, DCSE)", "## Table 3.5"),
    "3.6": ("comparison with other systems, SDR (n_fft 4096, 9 blocks for \"Proposed\")", "## Table 3.6"),
    "3.7": ("ablation of TFC-TDF U-Nets, vocals (n_fft 4096, 9 blocks)", "## Table 3.7"),
    "4.1": ("conditioned U-Net ablation, SDR (n_fft 2048, 7 blocks; \"dedicated\" = DCSE row of Table 3.1)",
            "## Table 4.1"),
    "4.2": ("conditioned vs other systems, SDR (LaSAFT+GPoCM with n_fft 4096)", "## Table 4.2"),
    "5.2": ("SDR of the AMSS separate/mute tasks (LaSAFT-GPoCM-Net_x uses n_fft 2^x)", "## Table 5.2"),
    "5.3": ("RMSE-MFCC over 7 AMSS tasks × 3 target sources (lower is better)", "## Table 5.3"),
}

PUBLISHED_MD: dict[str, str] = {
    "3.1": """\
| estimation | vocals | drums | bass | other | mean |
|---|---|---|---|---|---|
| DME | 6.01 | 4.17 | 3.98 | 4.16 | 4.58 |
| MME | 5.28 | 3.35 | 3.96 | 4.45 | 4.26 |
| CME-σ | 7.04 | 4.88 | 4.99 | 4.51 | 5.35 |
| CME-tanh | 6.89 | 4.90 | 5.05 | 4.55 | 5.35 |
| DCSE | 7.05 | 5.38 | 5.62 | 4.61 | 5.66 |""",
    "3.2": """\
| estimation | vocals | drums | bass | other | all |
|---|---|---|---|---|---|
| DME | 12.68 | 7.92 | 8.68 | 7.79 | 9.27 |
| MME | 13.61 | 8.06 | 9.23 | 8.02 | 9.73 |
| CME-σ | 13.08 | 7.78 | 7.56 | 7.53 | 8.99 |
| CME-tanh | 12.75 | 7.68 | 9.01 | 7.52 | 9.24 |
| DCSE | 13.17 | 9.27 | 9.95 | 8.28 | 10.17 |""",
    "3.3": """\
| estimation | vocals | drums | bass | other | mean |
|---|---|---|---|---|---|
| DME | 11.51 | 7.97 | 4.87 | 6.46 | 7.70 |
| MME | 9.12 | 6.90 | 5.57 | 6.58 | 7.04 |
| CME-σ | 13.60 | 10.55 | 8.68 | 9.50 | 10.58 |
| CME-tanh | 13.53 | 12.20 | 8.89 | 8.58 | 10.80 |
| DCSE | 14.38 | 11.97 | 11.36 | 9.97 | 11.92 |""",
    "3.4": """\
| estimation | vocals | drums | bass | other | mean |
|---|---|---|---|---|---|
| DME | 6.16 | 4.30 | 3.67 | 4.48 | 4.65 |
| MME | 6.02 | 4.74 | 3.63 | 5.04 | 4.86 |
| CME-σ | 6.96 | 4.37 | 5.63 | 3.95 | 5.23 |
| CME-tanh | 6.70 | 4.37 | 4.25 | 4.01 | 4.83 |
| DCSE | 6.96 | 5.13 | 4.82 | 3.92 | 5.20 |""",
    "3.5": """\
| model | down/up-sampling in time | # blocks | # params | SDR |
|---|---|---|---|---|
| TFC | yes | 17 | 1.56M | 6.89 |
| TFC | no | 17 | 1.56M | 6.75 |
| TFC-TDF | yes | 7 | 0.99M | 7.07 |
| TFC-TDF | yes | 17 | 1.93M | 7.12 |""",
    "3.6": """\
| model | waveform-to-waveform | extra data | vocals | drums | bass | other |
|---|---|---|---|---|---|---|
| Demucs | yes | no | 6.84 | 6.86 | 7.01 | 4.42 |
| Conv-TasNet | yes | no | 6.43 | 6.02 | 6.20 | 4.27 |
| Meta-TasNet | yes | no | 6.40 | 5.91 | 5.58 | 4.19 |
| UMX | no | no | 6.32 | 5.73 | 5.23 | 4.02 |
| DGRU-DGConv | no | no | 6.85 | 5.85 | 4.86 | 4.65 |
| MMDenseLSTM | no | no | 6.60 | 6.43 | 5.16 | 4.15 |
| D3Net | no | no | 7.24 | 7.01 | 5.25 | 4.53 |
| Proposed (TFC-TDF U-Net) | no | no | 7.98 ± .07 | 6.11 ± .13 | 5.94 ± .08 | 5.02 ± .07 |
| Demucs | yes | 1.5k songs | 7.29 | 7.58 | 7.60 | 4.69 |
| Conv-TasNet | yes | 150 songs | 6.74 | 7.11 | 7.00 | 4.44 |
| MMDenseLSTM | no | 804 songs | 7.16 | 6.81 | 5.4 | 4.8 |
| D3Net | no | 1.5k songs | 7.80 | 7.36 | 6.20 | 5.37 |""",
    "3.7": """\
| block | bottleneck | # params | SDR |
|---|---|---|---|
| TFC-TDF | yes | 2.24M | 7.98 |
| TFC-TDF | no | 12.00M | 7.72 |
| TFC-TDF (DME) | yes | 2.24M | 7.24 |
| TFC | n/a | 0.83M | 6.60 |""",
    "4.1": """\
| model | vocals | drums | bass | other | AVG |
|---|---|---|---|---|---|
| dedicated | 7.07 | 5.38 | 5.62 | 4.61 | 5.66 |
| FiLM CUNet | 5.14 | 5.25 | 4.20 | 3.40 | 4.49 |
| FiLM CUNet + TDF | 5.88 | 5.70 | 4.55 | 3.67 | 4.95 |
| FiLM CUNet + LaSAFT | 6.74 | 5.64 | 5.13 | 4.32 | 5.46 |
| GPoCM CUNet | 5.43 | 5.30 | 4.43 | 3.51 | 4.67 |
| GPoCM CUNet + TDF | 5.94 | 5.46 | 4.47 | 3.81 | 4.92 |
| GPoCM CUNet + LaSAFT | 6.96 | 5.84 | 5.24 | 4.54 | 5.64 |""",
    "4.2": """\
| model | conditioned | vocals | drums | bass | other | AVG |
|---|---|---|---|---|---|---|
| Demucs* | no | 6.84 | 6.86 | 7.01 | 4.42 | 6.28 |
| Conv-Tasnet* | no | 6.43 | 6.02 | 6.20 | 4.27 | 5.73 |
| UMX | no | 6.32 | 5.73 | 5.23 | 4.02 | 5.32 |
| DGRU-DGConv | no | 6.85 | 5.85 | 4.86 | 4.65 | 5.55 |
| MMDenseLSTM | no | 6.60 | 6.43 | 5.16 | 4.15 | 5.59 |
| D3Net | no | 7.24 | 7.01 | 5.25 | 4.53 | 6.01 |
| Nachmani* | no | 6.92 | 6.15 | 5.88 | 4.32 | 5.82 |
| dedicated (chapter 3) | no | 7.98 | 6.11 | 5.94 | 5.02 | 6.26 |
| Meta-TasNet* | yes | 6.40 | 5.91 | 5.58 | 4.19 | 5.52 |
| LaSAFT+GPoCM | yes | 7.33 | 5.68 | 5.63 | 4.87 | 5.88 |""",
    "5.2": """\
| model | vocals | drums | bass | other | AVG |
|---|---|---|---|---|---|
| Meta-TasNet | 6.40 | 5.91 | 5.58 | 4.19 | 5.52 |
| LaSAFT-GPoCM-Net_12 | 7.33 | 5.68 | 5.63 | 4.87 | 5.88 |
| LaSAFT-GPoCM-Net_11 | 6.96 | 5.84 | 5.24 | 4.54 | 5.64 |
| AMSS-Net_separate | 6.78 ± .12 | 5.92 ± .03 | 5.10 ± .06 | 4.51 ± .10 | 5.58 ± .90 |
| AMSS-Net | 6.34 ± .016 | 5.53 ± .07 | 4.33 ± .13 | 3.99 ± .07 | 5.05 ± .99 |
| AMSS-Net w/o CSA | 6.03 ± .24 | 5.53 ± .12 | 4.22 ± .09 | 3.73 ± .23 | 4.88 ± .99 |
| AMSS-Net w/o SMPoCM | 6.08 ± .25 | 5.63 ± .08 | 4.28 ± .19 | 3.76 ± .04 | 4.94 ± .99 |""",
    "5.3": """\
| model | task | vocals | drums | bass |
|---|---|---|---|---|
| reference loss | pan left | 4.62 | 8.20 | 2.18 |
| reference loss | pan right | 4.66 | 8.30 | 2.13 |
| reference loss | decrease volume | 4.06 | 6.99 | 2.00 |
| reference loss | increase volume | 6.68 | 9.70 | 3.48 |
| reference loss | lowpass filter | 9.02 | 16.27 | 1.12 |
| reference loss | highpass filter | 6.72 | 8.22 | 4.74 |
| reference loss | dereverberation | 9.43 | 11.07 | 5.61 |
| reference loss | mean | 6.46 | 9.82 | 3.04 |
| AMSS-Net | pan left | 3.32 ± 0.19 | 4.81 ± 0.16 | 2.11 ± 0.13 |
| AMSS-Net | pan right | 3.34 ± 0.19 | 4.85 ± 0.19 | 2.11 ± 0.17 |
| AMSS-Net | decrease volume | 2.72 ± 0.23 | 3.78 ± 0.18 | 1.93 ± 0.13 |
| AMSS-Net | increase volume | 3.49 ± 0.2 | 4.36 ± 0.18 | 2.9 ± 0.19 |
| AMSS-Net | lowpass filter | 7.32 ± 0.19 | 10.92 ± 0.15 | 2.65 ± 0.09 |
| AMSS-Net | highpass filter | 5.65 ± 0.28 | 6.9 ± 0.3 | 3.8 ± 0.11 |
| AMSS-Net | dereverberation | 6.12 ± 0.29 | 6.72 ± 0.23 | 4.18 ± 0.24 |
| AMSS-Net | mean | 4.57 ± 1.70 | 6.05 ± 2.33 | 2.81 ± 0.85 |
| w/o CSA | pan left | 3.65 ± 0.17 | 5.46 ± 0.2 | 2.61 ± 0.33 |
| w/o CSA | pan right | 3.63 ± 0.11 | 5.53 ± 0.23 | 2.58 ± 0.3 |
| w/o CSA | decrease volume | 3 ± 0.13 | 4.26 ± 0.14 | 2.32 ± 0.33 |
| w/o CSA | increase volume | 4.47 ± 0.12 | 5.11 ± 0.18 | 3.66 ± 0.4 |
| w/o CSA | lowpass filter | 7.44 ± 0.07 | 12.37 ± 0.5 | 3.15 ± 0.21 |
| w/o CSA | highpass filter | 5.49 ± 0.25 | 7.41 ± 0.67 | 4.23 ± 0.4 |
| w/o CSA | dereverberation | 6.18 ± 0.12 | 7.08 ± 0.07 | 4.28 ± 0.1 |
| w/o CSA | mean | 4.84 ± 1.53 | 6.75 ± 2.60 | 3.26 ± 0.83 |
| w/o SMPoCM | pan left | 4.34 ± 0.2 | 5.51 ± 0.16 | 3.23 ± 0.19 |
| w/o SMPoCM | pan right | 4.23 ± 0.18 | 5.5 ± 0.11 | 3.19 ± 0.17 |
| w/o SMPoCM | decrease volume | 3.55 ± 0.16 | 4.41 ± 0.16 | 2.92 ± 0.17 |
| w/o SMPoCM | increase volume | 4.16 ± 0.14 | 5.2 ± 0.15 | 3.4 ± 0.17 |
| w/o SMPoCM | lowpass filter | 8.11 ± 0.1 | 12.06 ± 0.31 | 3.67 ± 0.23 |
| w/o SMPoCM | highpass filter | 6.81 ± 0.21 | 7.84 ± 0.24 | 4.85 ± 0.42 |
| w/o SMPoCM | dereverberation | 6.68 ± 0.12 | 7.17 ± 0.24 | 4.68 ± 0.05 |
| w/o SMPoCM | mean | 5.41 ± 1.67 | 6.81 ± 2.47 | 3.71 ± 0.75 |""",
}


@dataclass(frozen=True)
class Published:
    """One printed cell: ``value`` as a float (``int`` for counts such as # blocks), ``std`` after "±", ``text``."""

    value: float | int
    text: str
    std: float | None = None
    unit: str = ""


_NUMBER = r"[0-9]*\.?[0-9]+"
_CELL = re.compile(rf"^(?P<v>{_NUMBER})(?P<unit>M)?(?:\s*±\s*(?P<s>{_NUMBER}))?$")


def parse_value(text: str) -> Published | None:
    """"7.98 ± .07" -> Published(7.98, std=0.07); "1.56M" -> Published(1.56, unit="M"); "17" -> 17; "n/a" -> None."""
    m = _CELL.match(text.strip())
    if m is None:
        return None
    v = m.group("v")
    value: float | int = int(v) if re.fullmatch(r"[0-9]+", v) and not m.group("unit") and not m.group("s") \
        else float(v)
    return Published(value, text.strip(), float(m.group("s")) if m.group("s") else None, m.group("unit") or "")


@dataclass(frozen=True)
class PaperTable:
    id: str
    title: str
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


def _split(line: str) -> tuple[str, ...]:
    return tuple(c.strip() for c in line.strip().strip("|").split("|"))


def table(table_id: str) -> PaperTable:
    lines = PUBLISHED_MD[table_id].splitlines()
    header = _split(lines[0])
    rows = tuple(_split(line) for line in lines[2:])
    for r in rows:
        if len(r) != len(header):
            raise ValueError(f"Table {table_id}: row {r} has {len(r)} cells, header {len(header)}")
    return PaperTable(table_id, TITLES[table_id][0], header, rows)


def numbers(table_id: str) -> list[str]:
    """Every printed number of a table (the cell strings that :func:`parse_value` reads), in reading order."""
    t = table(table_id)
    return [c for r in t.rows for c in r if parse_value(c) is not None]


def extract_from_spec(text: str) -> dict[str, str]:
    """The table blocks of a paper-tables.md text, in the form of :data:`PUBLISHED_MD`."""
    lines = text.splitlines()
    return {tid: _table_block(lines, marker) for tid, (_, marker) in TITLES.items()}


def _table_block(lines: list[str], marker: str) -> str:
    """The first Markdown table after the line that starts with ``marker``."""
    i = next(k for k, line in enumerate(lines) if line.startswith(marker))
    j = i + 1
    while not lines[j].startswith("|"):
        j += 1
    k = j
    while k < len(lines) and lines[k].startswith("|"):
        k += 1
    return "\n".join(lines[j:k])


# ------------------------------------------------------------------------------------------------ the other separators

#: survey table id -> (title, source citation, dataset, line of shared/spec/survey.md after which the table starts)
SURVEY_TITLES: dict[str, tuple[str, str, str, str]] = {
    "sisec2018": ("SiSEC 2018 MUSDB18 reference points (BSS-Eval v4, median over frames, then over the 50 test "
                  "tracks)",
                  "F.-R. Stöter, A. Liutkus, N. Ito, \"The 2018 Signal Separation Evaluation Campaign\", LVA/ICA 2018; "
                  "medians computed from the campaign's per-track results (sigsep-mus-2018, submissions/)",
                  "MUSDB18", "Medians over frames, then over the 50 test tracks"),
    "dsd100": ("MMDenseNet / MDenseNet on SiSEC 2016 DSD100, SDR (BSS Eval)",
               "N. Takahashi, Y. Mitsufuji, \"Multi-scale multi-band DenseNets for audio source separation\", "
               "WASPAA 2017 (as the survey reproduces it)",
               "DSD100 (another dataset than MUSDB18)", "Published SDR (dB) on SiSEC 2016 DSD100"),
    "wavenet": ("Wavenet-based separator and DeepConvSep on MUSDB18, medians SDR / SIR / SAR",
                "F. Lluís, J. Pons, X. Serra, \"End-to-end music source separation: is it possible in the waveform "
                "domain?\", Interspeech 2019 (as the survey reproduces it)",
                "MUSDB18", "WaveNet without causality"),
}

#: the survey's published tables, verbatim (``tests/test_report_tables.py`` compares them with survey.md)
SURVEY_MD: dict[str, str] = {
    "dsd100": """\
| method | bass | drums | other | vocals | acco. |
|---|---|---|---|---|---|
| DeepNMF | 1.88 | 2.11 | 2.64 | 2.75 | 8.90 |
| NUG | 2.72 | 3.89 | 3.18 | 4.55 | 10.29 |
| FNN | 2.54 | 3.75 | 2.92 | 4.47 | 11.12 |
| BLSTM | 2.89 | 4.00 | 3.24 | 4.86 | 11.26 |
| BLEND | 2.98 | 4.13 | 3.52 | 5.23 | 11.70 |
| MDenseNet | 2.74 | 4.37 | 3.33 | 4.91 | 11.21 |
| MMDenseNet | 3.91 | 5.37 | 3.81 | 6.00 | 12.10 |
| MMDenseNet+ | 4.13 | 5.19 | 4.37 | 6.06 | 12.66 |""",
    "wavenet": """\
| model | vocals SDR / SIR / SAR | drums SDR / SIR / SAR | bass SDR / SIR / SAR | other SDR / SIR / SAR |
|---|---|---|---|---|
| 1 stack | 0.35 / 3.94 / 4.38 | 1.24 / 7.98 / 3.56 | 0.35 / 4.54 / 4.70 | -2.70 / -1.37 / 6.75 |
| 2 stacks | 0.07 / 4.48 / 3.49 | -0.09 / 6.87 / 2.88 | -0.55 / 0.87 / 7.80 | -2.05 / -0.97 / 8.96 |
| 3 stacks | 3.46 / 11.26 / 5.18 | 4.39 / 13.37 / 5.08 | 2.24 / 6.36 / 5.94 | 0.54 / 4.07 / 4.41 |
| 4 stacks | 3.35 / 11.25 / 5.24 | 4.13 / 13.23 / 5.00 | 2.49 / 6.53 / 5.77 | 0.41 / 3.83 / 4.47 |
| 5 stacks | 2.84 / 9.56 / 5.20 | 4.60 / 12.66 / 6.08 | 2.48 / 6.70 / 6.27 | 0.18 / 3.26 / 4.75 |
| 4 stacks + L_d | 3.05 / 10.58 / 4.80 | 4.09 / 12.85 / 5.31 | 2.23 / 5.66 / 6.37 | -0.19 / 4.37 / 3.24 |
| DeepConvSep 16 kHz | 2.38 / 4.45 / 8.39 | 3.19 / 6.69 / 6.58 | 0.27 / 1.92 / 7.46 | -2.02 / 1.74 / 2.50 |
| DeepConvSep 44 kHz | 2.37 / 4.65 / 8.04 | 3.14 / 6.73 / 6.55 | 0.17 / 1.98 / 7.06 | -2.13 / 1.84 / 2.33 |""",
    "sisec2018": """\
| entry | what | vocals | drums | bass | other | acco. |
|---|---|---|---|---|---|---|
| MIX | the mixture as every estimate | 1.12 | 1.33 | 0.67 | 1.16 | 6.32 |
| IRM2 | oracle ideal ratio mask | 9.43 | 8.45 | 7.12 | 7.85 | 15.64 |
| IBM1 | oracle ideal binary mask | 7.67 | 7.09 | 5.19 | 5.89 | 10.03 |
| MWF | oracle multichannel Wiener filter | 9.13 | 8.09 | 6.75 | 7.56 | 15.40 |
| TAK1 | MMDenseLSTM, MUSDB18 only (thesis Table 3.6 row) | 6.60 | 6.43 | 5.16 | 4.15 | 12.83 |
| TAK2 | MMDenseLSTM, 804 extra songs (thesis Table 3.6 row) | 7.16 | 6.81 | 5.40 | 4.80 | 13.74 |
| TAK3 | MMDenseNet + MWF, 804 extra songs | 6.80 | 6.82 | 5.29 | 4.40 | 13.29 |
| STL2 | Wave-U-Net, MUSDB18 only | 3.25 | 4.22 | 3.21 | 2.25 | — |
| STL1 | Wave-U-Net, vocals/accompaniment | 4.97 | — | — | — | 11.11 |
| REP2 | REPET variant (nussl) | 2.30 | — | — | — | 7.37 |
| MELO | melody-based (nussl) | 1.97 | — | — | — | 7.20 |
| 2DFT | 2-D Fourier (nussl) | 0.56 | — | — | — | 5.84 |
| RPCA | robust PCA (nussl) | 0.05 | — | — | — | 5.43 |
| HPSS | harmonic-percussive (nussl) | -0.34 | — | — | — | 4.37 |""",
}


def survey_table(table_id: str) -> PaperTable:
    """One of the survey's published tables (:data:`SURVEY_MD`) as header + rows of strings."""
    lines = SURVEY_MD[table_id].splitlines()
    header = _split(lines[0])
    rows = tuple(_split(line) for line in lines[2:])
    return PaperTable(table_id, SURVEY_TITLES[table_id][0], header, rows)


def survey_value(table_id: str, row: str, column: str) -> str | None:
    """The printed cell of ``row`` (first column) and ``column`` in a survey table; for the SDR / SIR / SAR triples
    of the Wavenet table the SDR (first) part; None for "—" or where the row has no such column."""
    t = survey_table(table_id)
    for r in t.rows:
        if r[0] == row:
            for h, cell in zip(t.header, r):
                if h == column or h.split(" ")[0] == column:
                    text = cell.split(" / ")[0].strip()
                    return None if parse_value(text) is None and not text.startswith("-") else text
    return None


def extract_survey_from_spec(text: str) -> dict[str, str]:
    """The table blocks of a survey.md text, in the form of :data:`SURVEY_MD`."""
    lines = text.splitlines()
    return {tid: _table_block(lines, marker) for tid, (*_, marker) in SURVEY_TITLES.items()}
