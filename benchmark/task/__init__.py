"""The task definition: the Audio Manipulation Language (``aml``), the effects and the (input, target) pairs
(``dsp``), the versioned evaluation tasks (``tasks``) and the test set (``testset``). Imports the data and the
base (docs/architecture.md)."""
