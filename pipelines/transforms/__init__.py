"""Composite PTransforms of the pipeline; each wraps the rules of the same name in ``pipelines.rules``."""

METRICS_NAMESPACE = "clickstream"

# Output tags, spelled once: the main output of decode and dedup is EVENTS.
EVENTS = "events"
DEAD_LETTERS = "dead_letters"
DUPLICATES = "duplicates"
FILTERED = "filtered"  # the privacy filter's side output (pipelines.transforms.privacy_filter)
IMPRESSIONS = "impressions"  # RouteImpressions' side output (pipelines.transforms.impressions)
SESSIONS = "sessions"  # the batch graph's session rows (pipelines.transforms.by_user)

# The graph's outputs: each a table the sinks write, and a field of ``pipelines.graph.Outputs``.
TABLES = (EVENTS, IMPRESSIONS, SESSIONS, DEAD_LETTERS, DUPLICATES, FILTERED)
