"""Pub/Sub clients that point at the local emulator when Settings say so.

Real Google Cloud is the default; a set ``pubsub_emulator_host`` switches to the
emulator (plaintext gRPC, no credentials), so no login is ever attempted offline.
BigQuery clients live in ``bigquery_clients`` so that the emitter library installs
without google-cloud-bigquery.
"""

from __future__ import annotations

from typing import Any

import grpc
from google.api_core import exceptions as gexc
from google.cloud import pubsub_v1
from google.pubsub_v1.services.publisher import PublisherClient as PublisherGapicClient
from google.pubsub_v1.services.publisher.transports import PublisherGrpcTransport
from google.pubsub_v1.services.schema_service.transports import SchemaServiceGrpcTransport
from google.pubsub_v1.services.subscriber.transports import SubscriberGrpcTransport

from clickstream.core.config import Settings

# Publish errors that pass: retried in place, with backoff, by every publisher of ours (the
# emitter and the collector). Anything else is about the message or the configuration.
RETRYABLE_PUBLISH_ERRORS: tuple[type[BaseException], ...] = (
    gexc.ServiceUnavailable,
    gexc.DeadlineExceeded,
    gexc.InternalServerError,
    gexc.Aborted,
    gexc.ResourceExhausted,
    gexc.Unknown,
    gexc.Cancelled,
)


def _emulator_channel(host: str) -> grpc.Channel:
    # The emulator speaks plaintext gRPC; large messages must pass like on Pub/Sub (10 MB).
    # Reconnect quickly after an emulator restart instead of gRPC's default 120 s backoff cap.
    return grpc.insecure_channel(
        host,
        options=[
            ("grpc.max_send_message_length", -1),
            ("grpc.max_receive_message_length", -1),
            ("grpc.initial_reconnect_backoff_ms", 200),
            ("grpc.max_reconnect_backoff_ms", 2000),
        ],
    )


def publisher_client(settings: Settings, **kwargs: Any) -> pubsub_v1.PublisherClient:
    if settings.pubsub_emulator_host:
        kwargs["transport"] = PublisherGrpcTransport(channel=_emulator_channel(settings.pubsub_emulator_host))
    return pubsub_v1.PublisherClient(**kwargs)


def publisher_api(settings: Settings) -> PublisherGapicClient:
    """The unbatched publish API: one request per call, for synchronous sends."""
    if settings.pubsub_emulator_host:
        channel = _emulator_channel(settings.pubsub_emulator_host)
        return PublisherGapicClient(transport=PublisherGrpcTransport(channel=channel))
    return PublisherGapicClient()


def subscriber_client(settings: Settings) -> pubsub_v1.SubscriberClient:
    if settings.pubsub_emulator_host:
        channel = _emulator_channel(settings.pubsub_emulator_host)
        return pubsub_v1.SubscriberClient(transport=SubscriberGrpcTransport(channel=channel))
    return pubsub_v1.SubscriberClient()


def schema_client(settings: Settings) -> pubsub_v1.SchemaServiceClient:
    if settings.pubsub_emulator_host:
        channel = _emulator_channel(settings.pubsub_emulator_host)
        return pubsub_v1.SchemaServiceClient(transport=SchemaServiceGrpcTransport(channel=channel))
    return pubsub_v1.SchemaServiceClient()
