"""The Dataflow graph builds offline: DataflowRunner --dry_run=True, no credentials needed."""

from __future__ import annotations

import apache_beam as beam
from apache_beam.io.gcp.pubsub import ReadFromPubSub
from apache_beam.transforms.periodicsequence import PeriodicImpulse
from apache_beam.transforms.window import Sessions

from pipelines.options import option_names
from pipelines.streaming import build, make_options
from tests.support.teststream import transforms_by_label

# A Dataflow job built offline: --dry_run submits nothing, so no credentials are needed. On
# Dataflow the key is a Secret Manager version, read by the workers (never at build time).
OFFLINE_DATAFLOW = [
    "--runner=DataflowRunner",
    "--project=offline-project",
    "--region=us-central1",
    "--temp_location=gs://offline-bucket/tmp",
    "--dry_run=True",
    "--sdk_location=container",
    "--pseudonym_key=projects/offline-project/secrets/clickstream-pseudonym-key/versions/latest",
]
ARGV = [
    *OFFLINE_DATAFLOW,
    "--input_subscription=projects/offline-project/subscriptions/clickstream-pipeline",
    "--session_gap_s=900",
]


def test_dataflow_graph_holds_the_read_windowing_and_sinks() -> None:
    options = make_options(ARGV)
    pipeline = beam.Pipeline(options=options)
    build(pipeline, options)
    result = pipeline.run()
    assert result.state == "DONE"

    by_label = transforms_by_label(pipeline)
    read = by_label["ReadPubSub"]
    assert isinstance(read, ReadFromPubSub)
    assert read.with_attributes
    windows = [t for t in by_label.values() if isinstance(t, beam.WindowInto)]
    sessions = [w for w in windows if isinstance(w.windowing.windowfn, Sessions)]
    assert len(sessions) == 1 and sessions[0].windowing.windowfn.gap_size == 900
    assert any(isinstance(t, PeriodicImpulse) for t in by_label.values())  # catalog refresh on Dataflow
    for sink in ("WriteEvents", "WriteImpressions", "WriteDuplicates", "WriteSessions", "WriteDeadLetters"):
        assert f"{sink}/InsertAll" in by_label, sink


def test_dataflow_sets_no_id_label_so_a_republished_event_reaches_the_ledger() -> None:
    """id_label would make Dataflow drop a re-published event_id before the pipeline sees it:
    no duplicates row, and the ledger one message short. The pipeline's own de-duplication
    audits every dropped delivery instead (Dataflow still drops redeliveries of one message id,
    which are one message to the ledger)."""
    for argv in (ARGV, [a for a in ARGV if not a.startswith(("--runner", "--dry_run"))]):
        options = make_options(argv)
        pipeline = beam.Pipeline(options=options)
        build(pipeline, options)
        read = transforms_by_label(pipeline)["ReadPubSub"]
        assert read._source.id_label is None, argv


def test_option_names_are_snake_case_and_complete() -> None:
    names = option_names()
    assert {"input_subscription", "session_gap_s", "dedup_horizon_s", "write_method"} <= set(names)
    # Table names come from schemas/bigquery/tables.json only, never from an option.
    assert not [name for name in names if name.endswith("_table")]
    assert all(name == name.lower() and "-" not in name for name in names)


def test_the_collectors_rejected_subscription_is_read_into_dead_letters_when_set() -> None:
    rejected = "projects/offline-project/subscriptions/clickstream-pipeline-rejected"
    options = make_options([*ARGV, f"--rejected_subscription={rejected}"])
    pipeline = beam.Pipeline(options=options)
    build(pipeline, options)
    by_label = transforms_by_label(pipeline)
    read = by_label["ReadRejected"]
    assert isinstance(read, ReadFromPubSub) and read.with_attributes
    assert read._source.full_subscription == rejected
    assert "CollectorRejected" in by_label
    # Without the option there is no second read.
    plain = beam.Pipeline(options=make_options(ARGV))
    build(plain, plain.options.view_as(type(options)))
    assert "ReadRejected" not in transforms_by_label(plain)


def test_flex_template_parameters_check_the_tracing_options_and_the_rejected_subscription() -> None:
    """Dataflow checks a Flex Template parameter against its regexes before launching: a bad
    value is refused there, not by a worker that fails to start."""
    import re

    from pipelines.flex_metadata import metadata

    regexes = {p["name"]: p.get("regexes", []) for p in metadata()["parameters"]}

    def accepted(name: str, value: str) -> bool:
        return all(re.fullmatch(r, value) for r in regexes[name])

    assert regexes["trace_sample_ratio"] and regexes["trace_exporter"] and regexes["rejected_subscription"]
    assert all(accepted("trace_sample_ratio", v) for v in ("0", "0.0", "0.01", "1", "1.0"))
    assert not any(accepted("trace_sample_ratio", v) for v in ("1.5", "-0.1", "half", ""))
    assert all(accepted("trace_exporter", v) for v in ("none", "console", "otlp", "gcp"))
    assert not accepted("trace_exporter", "zipkin")
    assert accepted("rejected_subscription", "") and accepted("rejected_subscription", "projects/p/subscriptions/s")
    assert not accepted("rejected_subscription", "projects/p/topics/t")
