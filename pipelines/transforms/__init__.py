"""Composite PTransforms of the pipeline; each wraps rules from ``pipelines.rules``."""

METRICS_NAMESPACE = "clickstream"
