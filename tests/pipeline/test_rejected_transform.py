"""RejectedToDeadLetters and the graph: what the HTTP collector refused lands in dead_letters, once."""

from __future__ import annotations

import apache_beam as beam
from apache_beam.testing.util import assert_that, equal_to

from clickstream.core import attributes as attr
from clickstream.core.reasons import Reason, Stage
from pipelines.graph import process
from pipelines.messages import RawMessage
from pipelines.transforms.collect import RejectedToDeadLetters
from tests.support.keys import key_file
from tests.support.teststream import CATALOG, T0_MS, at, message, new_stream, options, paused, streaming_pipeline


def rejected(n: int, reason: str = Reason.NOT_AN_EVENT) -> RawMessage:
    return RawMessage(
        data=b"[1, 2]",
        attributes={attr.REJECT_REASON: reason, attr.REJECT_DETAIL: "not a JSON object"},
        message_id=f"r-{n}",
        publish_time_ms=T0_MS + n,
    )


def test_each_rejected_message_becomes_exactly_one_collect_dead_letter() -> None:
    messages = [rejected(1), rejected(2, Reason.CONTRACT_VIOLATION), rejected(3, "no_such_reason")]
    p = streaming_pipeline()
    stream = new_stream().add_elements(at(messages)).advance_watermark_to_infinity()
    rows = p | stream | RejectedToDeadLetters(str(key_file()))
    with p:
        assert_that(
            rows | beam.Map(lambda d: (d["message_id"], d["stage"], d["reason"])),
            equal_to(
                [
                    ("r-1", Stage.COLLECT, Reason.NOT_AN_EVENT),
                    ("r-2", Stage.COLLECT, Reason.CONTRACT_VIOLATION),
                    ("r-3", Stage.COLLECT, Reason.INVALID_VALUE),
                ]
            ),
        )


def test_the_graph_joins_rejected_messages_to_the_other_dead_letters() -> None:
    bad = paused("ann", 0, position_ms=-1)
    p = streaming_pipeline(options())
    events = p | "Events" >> new_stream().add_elements(at([message(bad)])).advance_watermark_to_infinity()
    refused = p | "Rejected" >> beam.Create([rejected(1)])
    catalog = p | "Catalog" >> beam.Create([CATALOG])
    outputs = process(events, options(), catalog, rejected=refused)
    with p:
        assert_that(
            outputs.dead_letters | beam.Map(lambda d: (d["stage"], d["reason"])),
            equal_to([(Stage.VALIDATE, Reason.NEGATIVE_POSITION), (Stage.COLLECT, Reason.NOT_AN_EVENT)]),
        )
