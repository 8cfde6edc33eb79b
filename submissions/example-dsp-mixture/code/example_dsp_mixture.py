"""EXAMPLE leaderboard entry, not a new model: the suite's own training-free dsp-mixture baseline (the task's DSP
applied to the whole input mixture, baselines/dsp_mixture.py) submitted through the code route, so that the
leaderboard stage shows how a code submission is run and scored. Its numbers must equal the `dsp-mixture`
baseline row exactly (the same system, scored by the same code); anything else is a bug of the leaderboard."""

from baselines.dsp_mixture import DSPMixtureSystem


def make_system():
    return DSPMixtureSystem(name="example-dsp-mixture")
