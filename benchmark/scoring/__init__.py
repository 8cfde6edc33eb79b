"""Scoring: the metrics, the metric registry (``metricinfo``), the evaluation runner (``evaluate``), result files
(``results``), their aggregation (``aggregate``) and the numerics probe. Imports the task definition, the data and
the base (docs/architecture.md)."""
