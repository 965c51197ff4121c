"""Which runner a pipeline is built for, where a transform lays out its state differently on
Beam's in-process runner.

The local streaming runner (``BundleBasedDirectRunner``, what ``clickstream pipeline run
--local``, the demo and the tests use) keeps every key it has ever seen and scans every key's
timers after each bundle (docs/local-streaming.md has the profile). A layout with one key per
event, right for Dataflow, makes it slower with every event; transforms that keep per-event
state use a bounded number of keys there instead. Selected by the runner object the pipeline
was built with, so Dataflow (or any other runner) keeps the per-event layout.
"""

from __future__ import annotations

import apache_beam as beam


def is_local_runner(pipeline: beam.Pipeline) -> bool:
    from apache_beam.runners.direct.direct_runner import BundleBasedDirectRunner

    return isinstance(getattr(pipeline, "runner", None), BundleBasedDirectRunner)
