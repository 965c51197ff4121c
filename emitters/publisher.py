"""Fire-and-forget event publisher with retries, rejection isolation and a disk spool.

Delivery contract for the caller:

* ``publish(event)`` validates against the contract and returns at once; a
  malformed event raises ``ContractError`` right there.
* Transient broker failures are retried with exponential backoff for up to
  ``publish_deadline_s``. What still fails goes to a bounded on-disk spool, and
  from then on new events queue behind it, so the spool drains in order once the
  broker answers again (only the few events in flight at the moment of the
  failure can land out of order).
* Pub/Sub rejects a whole batch when any one message in it fails the topic's
  schema, so on a rejection each message is re-published on its own once: good
  neighbours get through, and only the bad message is reported as rejected
  (``on_rejected``, ``PublishReport.rejected``, an ERROR log line). Nothing is
  dropped silently.
* The spool file is this publisher's alone while it runs (a second process or
  publisher on the same path gets a sibling file), and what an ended publisher
  left in any of them is taken over and drained by the next one.
* ``flush()`` and ``close()`` wait until every accepted event was delivered,
  rejected or written to the spool. A publish still in flight when ``close()``'s
  timeout runs out is not abandoned: close waits for it (at most
  ``publish_deadline_s``, the bound on any publish), and the spool stays open
  until the last one has settled. A spool left non-empty by ``close()`` is
  drained by the next publisher that opens the same spool file.
* Every accepted event is accounted for in ``PublishReport``: delivered, spooled,
  lost (neither Pub/Sub nor the spool took it), rejected, or still pending.

Duplicates: a publish that timed out may still have reached Pub/Sub, so a spooled
retry can deliver an event twice. That is the at-least-once hop; the pipeline
de-duplicates by ``event_id``.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

from google.api_core import exceptions as gexc
from google.api_core.retry import Retry, if_exception_type
from google.cloud.pubsub_v1 import types

from clickstream.core.config import Settings
from clickstream.core.pubsub_clients import RETRYABLE_PUBLISH_ERRORS, publisher_api, publisher_client
from emitters.events import Consent, Event, encode_event, now_ms
from emitters.spool import DiskSpool, SpooledMessage, SpoolFullError

log = logging.getLogger(__name__)

# Retried in place, with backoff, until publish_deadline_s.
RETRYABLE_ERRORS = RETRYABLE_PUBLISH_ERRORS
# The only errors that condemn the message itself (schema mismatch, bad attributes).
# Everything else - an outage, a missing topic, missing permissions - is about the
# broker or its configuration, so the event waits in the spool until that is fixed.
MESSAGE_ERRORS: tuple[type[BaseException], ...] = (gexc.InvalidArgument,)

__all__ = ["EventPublisher", "PublishReport", "PublisherConfig", "SpoolFullError"]


@dataclass(frozen=True)
class PublisherConfig:
    topic_path: str
    spool_path: Path
    pubsub_emulator_host: str | None = None
    # Batching: the google-cloud-pubsub defaults, tunable per emitter.
    max_messages: int = 100
    max_bytes: int = 1_000_000
    max_latency_s: float = 0.01
    # Retry with backoff for this long before an event is spooled.
    publish_deadline_s: float = 30.0
    # Bounded memory while the broker is slow: publish() blocks while this many events, or this
    # many bytes of their data, are in flight (an event alone bigger than the byte bound goes
    # once nothing else is in flight).
    max_in_flight_messages: int = 10_000
    max_in_flight_bytes: int = 20 * 1024 * 1024
    spool_max_bytes: int = 256 * 1024 * 1024
    spool_max_messages: int = 2_000_000
    drain_batch: int = 500
    max_drain_backoff_s: float = 10.0
    # The client library's own OpenTelemetry option: a span per publish, whose context travels in
    # the message's ``googclient_traceparent`` attribute (what the collector sets, and what
    # Pub/Sub-traced consumers continue). It uses the process's tracer provider: configure the
    # OpenTelemetry SDK and an exporter (docs/emitters.md#tracing), or no span is recorded.
    open_telemetry_tracing: bool = False

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: object) -> PublisherConfig:
        config = cls(
            topic_path=settings.topic_path,
            spool_path=settings.state_dir / "spool" / f"{settings.topic}.sqlite",
            pubsub_emulator_host=settings.pubsub_emulator_host,
        )
        return replace(config, **overrides)  # type: ignore[arg-type]


@dataclass
class PublishReport:
    """What became of the events a publisher accepted, and of its spool.

    Two balances hold in every report (``imbalances()`` names any that does not):

    * each accepted event is in exactly one place:
      ``accepted == delivered + spooled + lost + rejected_on_publish + pending``;
    * the spool: ``inherited + spooled == drained + rejected_from_spool + spool_depth``.

    ``rejected`` counts every event the topic refused, on publish or later out of the
    spool, so a caller that checks ``rejected`` and ``lost`` sees every failure.
    """

    accepted: int = 0  # publish() calls that returned without raising
    accepted_bytes: int = 0
    delivered: int = 0  # accepted and taken by Pub/Sub on the first send
    rejected: int = 0  # refused by the topic for what the message holds (on publish or out of the spool)
    spooled: int = 0  # accepted and written to the spool (Pub/Sub failed, or the spool was not empty)
    drained: int = 0  # sent from the spool and taken by Pub/Sub
    lost: int = 0  # accepted, but neither Pub/Sub nor the spool took it (a full spool or disk)
    spool_depth: int = 0  # events in the spool now
    pending: int = 0  # accepted and still in flight: outcome not known yet
    inherited: int = 0  # in the spool when this publisher opened it (an earlier run's events)
    rejected_from_spool: int = 0  # the part of ``rejected`` refused when sent from the spool
    rejections: list[tuple[str, str]] = field(default_factory=list)

    @property
    def rejected_on_publish(self) -> int:
        return self.rejected - self.rejected_from_spool

    def imbalances(self) -> list[str]:
        """The balances (class docstring) this report breaks; empty for every report a publisher gives."""
        broken = []
        placed = self.delivered + self.spooled + self.lost + self.rejected_on_publish + self.pending
        if self.accepted != placed:
            broken.append(
                f"accepted {self.accepted} != delivered {self.delivered} + spooled {self.spooled} + lost {self.lost}"
                f" + rejected on publish {self.rejected_on_publish} + pending {self.pending}"
            )
        if self.inherited + self.spooled != self.drained + self.rejected_from_spool + self.spool_depth:
            broken.append(
                f"inherited {self.inherited} + spooled {self.spooled} != drained {self.drained}"
                f" + rejected from spool {self.rejected_from_spool} + spool depth {self.spool_depth}"
            )
        return broken

    def raise_for_rejections(self) -> None:
        if self.rejected or self.lost:
            sample = "; ".join(f"{eid}: {err}" for eid, err in self.rejections[:5])
            raise PublishRejectedError(
                f"{self.rejected} event(s) rejected by the topic, {self.lost} lost (the spool could not take them): "
                f"{sample}"
            )


class PublishRejectedError(RuntimeError):
    """Raised by ``PublishReport.raise_for_rejections``."""


def _is_transient(exc: BaseException) -> bool:
    """True unless the broker rejected this message for what it contains."""
    return not isinstance(exc, MESSAGE_ERRORS)


class EventPublisher:
    def __init__(
        self,
        config: PublisherConfig,
        on_rejected: Callable[[str, BaseException], None] | None = None,
    ):
        self.config = config
        self._on_rejected = on_rejected
        settings = Settings(pubsub_emulator_host=config.pubsub_emulator_host)
        retry = Retry(
            initial=0.1,
            maximum=2.0,
            multiplier=2.0,
            timeout=config.publish_deadline_s,
            predicate=if_exception_type(*RETRYABLE_ERRORS),
        )
        # No flow control in the client: publish_encoded applies it with the counts it keeps
        # anyway (``pending``, ``_in_flight_bytes``, under ``_lock``). The client's own took a
        # second lock on publish and on every release, and failed an event bigger than the
        # byte bound with an error taken for an outage.
        options = types.PublisherOptions(
            retry=retry,
            timeout=min(config.publish_deadline_s, 60.0),
            enable_open_telemetry_tracing=config.open_telemetry_tracing,
        )
        batching = types.BatchSettings(
            max_messages=config.max_messages, max_bytes=config.max_bytes, max_latency=config.max_latency_s
        )
        self._new_client = lambda: publisher_client(settings, batch_settings=batching, publisher_options=options)
        self._client = self._new_client()
        self._client_lock = threading.Lock()
        # Unbatched, synchronous sends for the spool drain and for isolating the bad
        # message of a rejected batch.
        self._api = publisher_api(settings)
        self._retry = retry
        self._isolation = ThreadPoolExecutor(max_workers=1, thread_name_prefix="publish-isolate")
        # A spool file of this publisher's own (another process may be spooling to the
        # configured one), holding what publishers that have ended left behind.
        self._spool = DiskSpool.claim(config.spool_path, config.spool_max_bytes, config.spool_max_messages)
        self._lock = threading.Condition()
        self._report = PublishReport(inherited=len(self._spool))
        self._in_flight_bytes = 0  # data bytes of the ``pending`` events: flow control's bound
        self._waiting = 0  # threads in ``_wait``: a settling event notifies only when there are some
        self._rejections: deque[tuple[str, str]] = deque(maxlen=1000)
        self._consent: Consent | None = None
        self._degraded = len(self._spool) > 0
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._closing = False  # close() has begun; _closed: publish() refuses from now on
        self._closed = False
        # The spool closes only once nothing can touch it any more: close() was called, no
        # publish is pending and the drain thread has ended (``_close_spool_when_idle``).
        self._drainer_done = False
        # Events the drain sent (or found refused) but could not take out of the spool yet.
        self._sent_not_removed: tuple[list[SpooledMessage], list[tuple[SpooledMessage, BaseException]]] | None = None
        self._drainer = threading.Thread(target=self._drain_loop, name="spool-drainer", daemon=True)
        self._drainer.start()
        if self._degraded:
            log.warning("spool %s holds %d events from an earlier run; draining", self.spool_path, len(self._spool))
            self._wake.set()

    # ------------------------------------------------------------------ public API
    def set_consent(self, consent: Consent | None) -> None:
        """What the person answered to the consent banner: stamped on every event published from
        now on that carries no consent of its own (None: stop stamping; the pipeline's
        ``consent_default`` then decides). Events published before the answer keep none, as the
        person had not said anything yet."""
        self._consent = consent

    @property
    def consent(self) -> Consent | None:
        """The consent ``publish`` stamps on events without one (``set_consent``)."""
        return self._consent

    def publish(self, event: Event) -> None:
        """Validate, encode and send ``event`` without waiting for the broker.

        An event without consent gets the publisher's (``set_consent``). Raises
        ``ContractError`` for an event that breaks the contract and ``SpoolFullError``
        when the broker is down and the spool is at its bound (or its disk is full).
        """
        consent = self._consent  # read once: set_consent may run on another thread
        if event.consent is None and consent is not None:
            event = replace(event, consent=consent)
        data = encode_event(event, sent_at_ms=now_ms() if event.sent_at_ms is None else None)
        self.publish_encoded(data, event.attributes())

    def publish_encoded(self, data: bytes, attributes: dict[str, str]) -> None:
        """Send bytes that are already Avro-encoded (replays, or tests of topic validation).

        Blocks while ``max_in_flight_messages`` events or ``max_in_flight_bytes`` bytes are in
        flight (the broker is slow), so memory stays bounded."""
        size = len(data)
        with self._lock:
            while True:
                if self._closed:  # under the lock: the spool may be closed right after close() sets it
                    raise RuntimeError("publisher is closed")
                if self._degraded or not self._over_flow_limits(size):
                    break
                self._wait(0.2)  # a settling event notifies
            if self._degraded:
                # SpoolFullError goes to the caller before anything is counted: an event the
                # publisher refused was never accepted.
                self._spool.append(data, attributes)
                self._report.accepted += 1
                self._report.accepted_bytes += size
                self._report.spooled += 1
                self._wake.set()
                return
            self._report.accepted += 1
            self._report.accepted_bytes += size
            self._report.pending += 1
            self._in_flight_bytes += size
        try:
            future = self._batched_publish(data, attributes)
        except Exception:
            # Refused before sending (e.g. MessageTooLargeError): the caller gets the error,
            # and flush() must not wait for an event that never left.
            with self._lock:
                self._report.accepted -= 1
                self._report.accepted_bytes -= size
                self._report.pending -= 1
                self._in_flight_bytes -= size
                self._lock.notify_all()
            raise
        future.add_done_callback(functools.partial(self._on_done, data, attributes))

    def flush(self, timeout: float | None = None, drain: bool = False) -> PublishReport:
        """Wait until every accepted event is delivered, rejected or spooled.

        With ``drain=True`` also wait until the spool is empty (the broker is back).
        Returns the report so far; on timeout the report shows what is outstanding.
        """
        deadline = None if timeout is None else time.monotonic() + timeout

        def remaining() -> float | None:
            return None if deadline is None else max(0.0, deadline - time.monotonic())

        with self._lock:
            while self._report.pending or (drain and len(self._spool)):
                if drain and len(self._spool):
                    self._wake.set()
                left = remaining()
                if left == 0.0:
                    break
                self._wait(0.2 if left is None else min(left, 0.2))
        return self.report()

    def close(self, timeout: float | None = None, drain: bool = False) -> PublishReport:
        """Flush, stop the background threads and release the clients; idempotent.

        ``timeout`` bounds the flush. Publishes still in flight after it are sent and
        waited for (at most ``publish_deadline_s`` more: no publish outlives it), so
        each ends up delivered, rejected, spooled or lost rather than abandoned. Should
        one still be pending after that, the report says so and the spool stays open
        until it settles.
        """
        with self._lock:
            if self._closing:
                return self.report()
            self._closing = True
        self.flush(timeout=timeout, drain=drain)
        with self._lock:
            self._closed = True
        with self._client_lock:
            self._client.stop()  # sends what the batches hold; their futures still resolve
        grace = self.config.publish_deadline_s + 5
        self._wait_until_settled(grace)
        self._stop.set()
        self._wake.set()
        self._drainer.join(timeout=grace)
        self._isolation.shutdown(wait=True)
        with self._lock:
            if self._report.pending:
                log.warning(
                    "closing with %d publish(es) still in flight; spool %s stays open until they settle",
                    self._report.pending,
                    self.spool_path,
                )
            self._close_spool_when_idle()
            return self.report()

    def report(self) -> PublishReport:
        """A snapshot; both balances of ``PublishReport`` hold in it."""
        with self._lock:
            snapshot = replace(self._report, spool_depth=len(self._spool), rejections=list(self._rejections))
        return snapshot

    @property
    def degraded(self) -> bool:
        return self._degraded

    @property
    def spool_path(self) -> Path:
        """The file this publisher spools to: ``config.spool_path``, or a sibling of it while
        another publisher holds that one."""
        return self._spool.path

    def __enter__(self) -> EventPublisher:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ------------------------------------------------------------------ internals
    def _batched_publish(self, data: bytes, attributes: dict[str, str]):  # -> Future
        """Publish through the batching client, replacing it if a failed batch jammed it.

        google-cloud-pubsub keeps a batch whose commit failed as the topic's current
        batch, and the next publish then trips ``AssertionError("Publish after stop()
        or publish error.")``. A fresh client starts with a clean batch; the old one's
        futures still resolve.
        """
        client = self._client
        try:
            return client.publish(self.config.topic_path, data, **attributes)
        except AssertionError:
            with self._client_lock:
                if self._client is client:
                    self._client = self._new_client()
                    client.stop()
            return self._client.publish(self.config.topic_path, data, **attributes)

    def _send_now(self, messages: list[tuple[bytes, dict[str, str]]]) -> None:
        """One synchronous publish request, with the same retry and deadline as batches."""
        self._api.publish(
            request={
                "topic": self.config.topic_path,
                "messages": [{"data": data, "attributes": attrs} for data, attrs in messages],
            },
            retry=self._retry,
            timeout=min(self.config.publish_deadline_s, 60.0),
        )

    def _over_flow_limits(self, size: int) -> bool:
        """Under ``_lock``: would one more event of ``size`` bytes exceed the in-flight bounds?"""
        pending = self._report.pending
        return pending >= self.config.max_in_flight_messages or (
            pending > 0 and self._in_flight_bytes + size > self.config.max_in_flight_bytes
        )

    def _on_done(self, data: bytes, attributes: dict[str, str], future: object) -> None:
        exc = future.exception()  # type: ignore[attr-defined]
        if exc is None:
            self._settle(len(data), delivered=1)
        elif _is_transient(exc):
            self._spool_after_failure(data, attributes, exc)
        else:
            # Possibly a neighbour's fault: retry alone before calling it rejected.
            try:
                self._isolation.submit(self._publish_alone, data, attributes, exc)
            except RuntimeError:  # closed past its grace period: the next run sends it alone
                self._spool_after_failure(data, attributes, exc)

    def _publish_alone(self, data: bytes, attributes: dict[str, str], first_error: BaseException) -> None:
        try:
            self._send_now([(data, attributes)])
        except Exception as exc:
            if _is_transient(exc):
                self._spool_after_failure(data, attributes, exc)
            else:
                event_id = attributes.get("event_id", "?")
                with self._lock:
                    self._count_rejection(event_id, exc)
                    self._settled(len(data))
                self._tell_rejected(event_id, exc)
            return
        self._settle(len(data), delivered=1)

    def _spool_after_failure(self, data: bytes, attributes: dict[str, str], exc: BaseException) -> None:
        """Runs in a publish callback: whatever the spool does, the event ends up counted
        (spooled or lost) and no longer pending, or flush() would wait for it forever."""
        with self._lock:
            if not self._degraded:
                log.warning("Pub/Sub unavailable (%s); spooling to %s", type(exc).__name__, self.spool_path)
            self._degraded = True
            try:
                self._spool.append(data, attributes)
                self._report.spooled += 1
            except Exception as failure:  # a full spool or disk, or any other SQLite error
                reason = failure if isinstance(failure, SpoolFullError) else f"{type(failure).__name__}: {failure}"
                self._report.lost += 1
                self._rejections.append((attributes.get("event_id", "?"), f"not spooled: {reason}"))
                log.error(
                    "event %s lost: Pub/Sub failed (%s) and the spool refused it: %s",
                    attributes.get("event_id"),
                    type(exc).__name__,
                    reason,
                )
            finally:
                self._settled(len(data))
        self._wake.set()

    def _count_rejection(self, event_id: str, exc: BaseException) -> None:
        """Under ``_lock``, together with the count the event leaves (pending, or the spool)."""
        self._report.rejected += 1
        self._rejections.append((event_id, f"{type(exc).__name__}: {exc}"))

    def _tell_rejected(self, event_id: str, exc: BaseException) -> None:
        log.error("Pub/Sub rejected event %s: %s: %s", event_id, type(exc).__name__, exc)
        if self._on_rejected is not None:
            try:
                self._on_rejected(event_id, exc)
            except Exception:  # a caller's callback must not break delivery of others
                log.exception("on_rejected callback failed")

    def _settle(self, size: int, delivered: int = 0) -> None:
        with self._lock:
            self._report.delivered += delivered
            self._settled(size)

    def _settled(self, size: int) -> None:
        """Under ``_lock``: an event of ``size`` bytes left ``pending`` (delivered, rejected,
        spooled or lost); its bytes leave the in-flight bound with it."""
        self._report.pending -= 1
        self._in_flight_bytes -= size
        if self._waiting:  # notify_all costs 0.2-0.8 µs per event even when nobody waits
            self._lock.notify_all()
        if self._closed:
            self._close_spool_when_idle()

    def _wait(self, timeout: float) -> None:
        """Under ``_lock``: wait for a settling event (or ``timeout``)."""
        self._waiting += 1
        try:
            self._lock.wait(timeout=timeout)
        finally:
            self._waiting -= 1

    def _wait_until_settled(self, limit_s: float) -> None:
        deadline = time.monotonic() + limit_s
        with self._lock:
            while self._report.pending and (left := deadline - time.monotonic()) > 0:
                self._wait(min(left, 0.2))

    def _close_spool_when_idle(self) -> None:
        """Under ``_lock``: close the spool once closed, nothing pending and the drainer gone."""
        if self._closed and not self._report.pending and self._drainer_done:
            self._spool.close()

    def _drain_loop(self) -> None:
        try:
            self._drain_until_stopped()
        finally:
            with self._lock:
                self._drainer_done = True
                self._close_spool_when_idle()

    def _drain_until_stopped(self) -> None:
        backoff = 0.5
        while not self._stop.is_set():
            self._wake.wait(timeout=backoff)
            self._wake.clear()
            if self._stop.is_set():
                return
            with self._lock:
                if not len(self._spool):
                    if self._degraded and not self._report.pending:
                        self._degraded = False
                        log.info("spool empty; publishing directly again")
                    continue
            try:
                ok = self._drain_once()
            except Exception:
                # Anything unexpected (a spool that cannot be written, a full disk, a bug): the
                # drain is the only way out of degraded mode, so it must outlive the error.
                backoff = min(backoff * 2, self.config.max_drain_backoff_s)
                log.exception("draining spool %s failed; trying again in %.1fs", self.spool_path, backoff)
                self._stop.wait(backoff)  # not cut short by flush(drain=True)'s wake-ups
                continue
            if ok:
                backoff = 0.5
                self._wake.set()  # more to drain, or time to leave degraded mode
            else:
                backoff = min(backoff * 2, self.config.max_drain_backoff_s)

    def _drain_once(self) -> bool:
        """Send the oldest spooled events in one request; False when the broker is still down."""
        if self._sent_not_removed is not None:
            # Sent by an earlier round that could not remove them: remove them, do not send again.
            self._remove_drained(*self._sent_not_removed)
            self._sent_not_removed = None
            return True
        batch = self._spool.peek(self.config.drain_batch)
        refused: list[tuple[SpooledMessage, BaseException]] = []
        try:
            self._send_now([(m.data, m.attributes) for m in batch])
            delivered, ok = batch, True
        except Exception as exc:
            if _is_transient(exc):
                return False
            # The request was rejected as a whole: send one by one to find the culprit.
            delivered, ok = [], True
            for message in batch:
                try:
                    self._send_now([(message.data, message.attributes)])
                    delivered.append(message)
                except Exception as alone_exc:
                    if _is_transient(alone_exc):
                        ok = False
                        break
                    refused.append((message, alone_exc))
        self._sent_not_removed = (delivered, refused)
        self._remove_drained(delivered, refused)
        self._sent_not_removed = None
        return ok

    def _remove_drained(
        self, delivered: list[SpooledMessage], refused: list[tuple[SpooledMessage, BaseException]]
    ) -> None:
        """Take what Pub/Sub answered for out of the spool, and count it only once it is out,
        so the spool's balance holds in every report."""
        with self._lock:
            self._spool.remove([m.seq for m in delivered] + [m.seq for m, _ in refused])
            self._report.drained += len(delivered)
            for message, exc in refused:
                self._count_rejection(message.attributes.get("event_id", "?"), exc)
                self._report.rejected_from_spool += 1
            self._lock.notify_all()
        for message, exc in refused:
            self._tell_rejected(message.attributes.get("event_id", "?"), exc)
