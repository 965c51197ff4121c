"""The clickstream Beam pipeline: decode + validate, clock-skew correction, de-duplication,
enrichment and sessionization, writing events, sessions and dead letters to BigQuery.

Pure event logic lives in ``pipelines.rules`` (plain functions, unit-tested without Beam);
``pipelines.transforms`` wraps it in composite PTransforms; ``pipelines.streaming`` and
``pipelines.replay`` are the entry points.
"""
