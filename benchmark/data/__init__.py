"""Datasets: the embedded synthetic MUSDB18-HQ renderer (:mod:`benchmark.data.synth`) and dataset readers."""
