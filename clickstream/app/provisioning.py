"""Provisioning: every Pub/Sub and BigQuery resource the emitters and the pipeline need.

Idempotent, and the same calls work against the local stack and real Google Cloud (on
Google Cloud, Terraform owns these resources; this is for the local stack, tests and
benchmarks, which need resources of their own).
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

from google.api_core import exceptions as gexc
from google.cloud import bigquery
from google.pubsub_v1.types import Encoding, Schema

from clickstream.core import contract
from clickstream.core.bigquery_clients import bigquery_client
from clickstream.core.config import Settings
from clickstream.core.pseudonyms import SECRET_PREFIX, create_key_file
from clickstream.core.pubsub_clients import publisher_client, schema_client, subscriber_client
from clickstream.core.synthetic_videos import generate_videos
from clickstream.core.tables import CATALOG_TABLE, ensure_dataset_and_tables, ensure_views, table_specs


def ensure_schema(settings: Settings) -> str:
    """Create the topic schema with every contract revision, oldest first; idempotent.

    Committing each revision lets the topic accept events written under any
    revision of the current major, as the evolution policy promises.
    """
    client = schema_client(settings)
    try:
        existing = client.list_schema_revisions(request={"name": settings.schema_path})
        known = {json.dumps(json.loads(s.definition), sort_keys=True) for s in existing}
    except gexc.NotFound:
        known = set()
    for rev in contract.revisions().values():
        canonical = json.dumps(json.loads(rev.definition), sort_keys=True)
        if canonical in known:
            continue
        schema = Schema(name=settings.schema_path, type_=Schema.Type.AVRO, definition=rev.definition)
        if not known:
            client.create_schema(
                request={
                    "parent": f"projects/{settings.project}",
                    "schema": schema,
                    "schema_id": settings.schema_id,
                }
            )
        else:
            client.commit_schema(request={"name": settings.schema_path, "schema": schema})
        known.add(canonical)
    return settings.schema_path


def ensure_event_topic(settings: Settings) -> None:
    """The events topic, checked against the contract's schema (``ensure_schema`` first)."""
    request = {
        "name": settings.topic_path,
        "schema_settings": {"schema": settings.schema_path, "encoding": Encoding.BINARY},
    }
    with contextlib.suppress(gexc.AlreadyExists):
        publisher_client(settings).create_topic(request=request)


def ensure_topics_and_subscriptions(settings: Settings) -> None:
    ensure_event_topic(settings)
    publisher = publisher_client(settings)
    subscriber = subscriber_client(settings)
    try:
        for topic in (settings.dead_letter_topic_path, settings.parked_topic_path, settings.rejected_topic_path):
            with contextlib.suppress(gexc.AlreadyExists):
                publisher.create_topic(request={"name": topic})
        for request in (
            {
                "name": settings.subscription_path,
                "topic": settings.topic_path,
                "ack_deadline_seconds": settings.ack_deadline_s,
                "message_retention_duration": {"seconds": 7 * 24 * 3600},
                "dead_letter_policy": {
                    "dead_letter_topic": settings.dead_letter_topic_path,
                    "max_delivery_attempts": settings.max_delivery_attempts,
                },
                "retry_policy": {
                    "minimum_backoff": {"seconds": settings.retry_min_backoff_s},
                    "maximum_backoff": {"seconds": settings.retry_max_backoff_s},
                },
            },
            *(
                {
                    "name": subscription,
                    "topic": topic,
                    "ack_deadline_seconds": settings.ack_deadline_s,
                    "message_retention_duration": {"seconds": 7 * 24 * 3600},
                }
                for subscription, topic in (
                    (settings.dead_letter_subscription_path, settings.dead_letter_topic_path),
                    (settings.parked_subscription_path, settings.parked_topic_path),
                    (settings.rejected_subscription_path, settings.rejected_topic_path),
                )
            ),
        ):
            with contextlib.suppress(gexc.AlreadyExists):
                subscriber.create_subscription(request=request)
    finally:
        subscriber.close()


def seed_video_catalog(client: bigquery.Client, settings: Settings) -> int:
    """Load the generated catalog into ``video_catalog`` when it is empty; returns rows loaded."""
    table_id = settings.table_id(CATALOG_TABLE)
    existing = next(iter(client.query(f"SELECT COUNT(*) AS n FROM `{table_id}`").result())).n
    if existing:
        return 0
    rows = [video.to_row() for video in generate_videos(settings.catalog_size)]
    payload = io.BytesIO("\n".join(json.dumps(row) for row in rows).encode())
    config = bigquery.LoadJobConfig(
        source_format=bigquery.SourceFormat.NEWLINE_DELIMITED_JSON,
        schema=table_specs()[CATALOG_TABLE].schema(),
        write_disposition=bigquery.WriteDisposition.WRITE_APPEND,
    )
    client.load_table_from_file(payload, table_id, job_config=config).result()
    return len(rows)


def ensure_pseudonym_key(settings: Settings) -> None:
    """The local pseudonymisation key file, created once (mode 0600) and then kept: a new key
    would give every user new pseudonyms. A Secret Manager version is never created here
    (docs/privacy.md: its value is added with gcloud, never by a tool that logs or stores it)."""
    source = settings.pseudonym_key_source
    if not source.startswith(SECRET_PREFIX):
        create_key_file(Path(source))


def provision(settings: Settings) -> None:
    """Every resource the pipeline and the emitters need: the pseudonymisation key (local),
    Pub/Sub and BigQuery."""
    ensure_pseudonym_key(settings)
    ensure_schema(settings)
    ensure_topics_and_subscriptions(settings)
    client = bigquery_client(settings)
    ensure_dataset_and_tables(client, settings.project, settings.dataset)
    ensure_views(client, settings.project, settings.dataset)
    seed_video_catalog(client, settings)
