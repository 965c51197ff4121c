"""Publishing for the collector: the google-cloud-pubsub batching publisher, awaited from asyncio.

The request handler submits every message of a request, then awaits all their futures
without blocking the event loop (the client library completes them on its own threads; the
loop is woken once per request, when the last one is done). A request is answered 202 only
once every one is acknowledged.

Two kinds of trouble, two answers:

* our own flow control is full (too much is waiting for Pub/Sub): ``Busy`` -> 429. The
  client library's ``LimitExceededBehavior.ERROR`` refuses at once rather than blocking
  the event loop;
* Pub/Sub does not acknowledge within ``publish_timeout_s`` (unreachable, or a transient
  error the client's retry did not get past): ``Unavailable`` -> 503 with Retry-After;
* Pub/Sub refuses for good (a missing topic, no permission, an invalid request: any error
  that is not transient): ``Misconfigured`` -> 500 without Retry-After. Retrying cannot
  help, so clients must not be told to; an operator has to fix the deployment.

There is no disk spool here: on Cloud Run the disk is memory, so the client keeps the
events and retries. Messages already submitted when a request fails may still be
published; the client's retry then repeats them, and the pipeline drops a repeated event by
``event_id`` (a collector-generated id cannot be matched: clients should send their own). A
repeated refused item is a second ``collect`` dead letter (docs/collector.md, Answers).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Iterable

from google.api_core import exceptions as gexc
from google.api_core.retry import Retry, if_exception_type
from google.cloud.pubsub_v1 import types
from google.cloud.pubsub_v1.publisher.exceptions import FlowControlLimitError
from google.cloud.pubsub_v1.publisher.futures import Future

from clickstream.core.config import Settings
from clickstream.core.pubsub_clients import RETRYABLE_PUBLISH_ERRORS, publisher_client
from collector.config import CollectorConfig

log = logging.getLogger(__name__)

_TRANSIENT = RETRYABLE_PUBLISH_ERRORS


class Busy(RuntimeError):
    """The publisher's flow control is full: answer 429, the client comes back shortly."""


class Unavailable(RuntimeError):
    """Pub/Sub did not acknowledge in time or failed transiently: answer 503, the client retries."""


class Misconfigured(RuntimeError):
    """Pub/Sub refused for good (NotFound, PermissionDenied, InvalidArgument...): answer 500, no retry."""


def _all_done(futures: list[Future]) -> asyncio.Future[None]:
    """One asyncio future that completes when every client-library future has.

    The client completes its futures on its own threads. Waking the event loop once per
    request, when the last one is done, rather than once per message (``asyncio.wrap_future``
    on each) is what keeps the loop free for other requests at batches of 100.
    """
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()
    remaining = len(futures)
    lock = threading.Lock()

    def finish() -> None:
        if not done.done():
            done.set_result(None)

    def one_done(_future: Future) -> None:
        nonlocal remaining
        with lock:
            remaining -= 1
            last = remaining == 0
        if last:
            loop.call_soon_threadsafe(finish)

    for future in futures:
        future.add_done_callback(one_done)
    return done


class Publisher:
    """One batching PublisherClient for the events topic and the rejected topic."""

    def __init__(self, settings: Settings, config: CollectorConfig) -> None:
        self._config = config
        self.events_topic = settings.topic_path
        self.rejected_topic = settings.rejected_topic_path
        retry = Retry(
            predicate=if_exception_type(*_TRANSIENT),
            initial=0.1,
            maximum=1.0,
            multiplier=2.0,
            timeout=config.publish_timeout_s,
        )
        self._client = publisher_client(
            settings,
            batch_settings=types.BatchSettings(
                max_messages=config.batch_max_messages, max_latency=config.batch_max_latency_s
            ),
            publisher_options=types.PublisherOptions(
                flow_control=types.PublishFlowControl(
                    message_limit=config.flow_control_max_messages,
                    byte_limit=config.flow_control_max_bytes,
                    limit_exceeded_behavior=types.LimitExceededBehavior.ERROR,
                ),
                retry=retry,
                timeout=config.publish_timeout_s,
            ),
        )
        self._ready_checked_at = float("-inf")
        self._ready: tuple[bool, str] = (False, "not checked yet")

    def submit(self, topic: str, data: bytes, attributes: dict[str, str]) -> Future:
        """Hand one message to the batching client; raises Busy when flow control is full."""
        try:
            return self._client.publish(topic, data, **attributes)
        except FlowControlLimitError as exc:
            raise Busy(str(exc)) from None

    async def settle(self, futures: Iterable[Future]) -> None:
        """Wait, without blocking the loop, until Pub/Sub acknowledged every message."""
        pending = list(futures)
        if not pending:
            return
        try:
            # The client's own retry gives up after publish_timeout_s; this bound only guards
            # against a future that never completes.
            await asyncio.wait_for(_all_done(pending), timeout=self._config.publish_timeout_s + 5)
            for future in pending:
                future.result(timeout=0)  # raises the first failure
        except FlowControlLimitError as exc:
            # The client library may report full flow control through the future, not the call.
            raise Busy(str(exc)) from None
        except gexc.GoogleAPICallError as exc:
            self._ready_checked_at = float("-inf")  # the next /readyz asks again
            if isinstance(exc, _TRANSIENT):
                log.warning("publish failed: %s", exc)
                raise Unavailable(f"Pub/Sub did not acknowledge: {type(exc).__name__}") from exc
            log.error("publish refused, the collector is misconfigured: %s", exc)
            raise Misconfigured(f"Pub/Sub refused: {type(exc).__name__}") from exc
        except (TimeoutError, gexc.RetryError) as exc:
            self._ready_checked_at = float("-inf")
            log.warning("publish failed: %s", exc)
            raise Unavailable(f"Pub/Sub did not acknowledge: {type(exc).__name__}") from exc

    async def ready(self) -> tuple[bool, str]:
        """Whether both topics answer (asked at most every ``readiness_cache_s``), and why not."""
        if time.monotonic() - self._ready_checked_at < self._config.readiness_cache_s:
            return self._ready
        self._ready = await asyncio.to_thread(self._check_topics)
        self._ready_checked_at = time.monotonic()
        return self._ready

    def _check_topics(self) -> tuple[bool, str]:
        for topic in (self.events_topic, self.rejected_topic):
            try:
                self._client.get_topic(request={"topic": topic}, timeout=2.0, retry=None)
            except gexc.GoogleAPICallError as exc:
                return False, f"{topic}: {type(exc).__name__}"
        return True, "ok"

    def close(self) -> None:
        self._client.stop()
