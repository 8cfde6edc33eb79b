"""The shared base: constants, WAV input/output, the pinned numerics, ``params.yaml`` and provenance. It imports
nothing else of the suite; every other room may import it (docs/architecture.md)."""
