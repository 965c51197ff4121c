"""Replay input from a Pub/Sub subscription: pull until it is empty, acknowledge only after the
pipeline has written.

``leased`` leases every message the subscription holds (synchronous pulls until ``EMPTY_PULLS``
in a row come back empty) and keeps the lease alive while the batch pipeline runs;
``Lease.ack`` acknowledges them once the pipeline has finished; if it fails, they go back at
once. Handing a message back counts as a delivery attempt, so a subscription with a
dead-letter policy moves a message that keeps failing to its dead-letter topic: Pub/Sub-side
dead-lettering that works, because this consumer, unlike Dataflow, acknowledges only what it
wrote.

The messages are held in memory: this is for dead-letter and parked subscriptions and for
replays of a bounded backlog, not for a live topic (that is the streaming pipeline's job).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

from google.api_core import exceptions as gexc
from google.cloud import pubsub_v1

from clickstream.core.config import Settings
from clickstream.core.pubsub_clients import subscriber_client
from pipelines.messages import RawMessage
from pipelines.transforms.decode import from_pubsub

log = logging.getLogger(__name__)

SCHEME = "pubsub://"
PULL_BATCH = 1000  # Pub/Sub's most messages per pull
EMPTY_PULL_WAIT_S = 5.0  # how long one pull waits for messages
# Pulls in a row that must come back with nothing before the subscription counts as empty. One
# is not proof: Pub/Sub answers a pull with nothing also when none "could be returned before the
# request timeout" (PullResponse), as from a busy service, while the backlog still holds messages.
EMPTY_PULLS = 2  # each waits EMPTY_PULL_WAIT_S on the emulator: a replay ends that much later
LEASE_S = 120  # each extension keeps the messages this long ...
EXTEND_EVERY_S = 30.0  # ... and comes this often, well before the lease runs out
_ACK_IDS_PER_REQUEST = 1000  # well under the 512 kB request limit


@dataclass
class Lease:
    """Messages pulled from ``subscription`` and not yet acknowledged, kept leased until
    ``ack`` or ``nack`` (a thread extends their ack deadline meanwhile)."""

    subscriber: pubsub_v1.SubscriberClient
    subscription: str
    messages: list[RawMessage] = field(default_factory=list)
    ack_ids: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)

    def _chunks(self, ack_ids: list[str]) -> Iterator[list[str]]:
        for start in range(0, len(ack_ids), _ACK_IDS_PER_REQUEST):
            yield ack_ids[start : start + _ACK_IDS_PER_REQUEST]

    def _set_deadline(self, ack_ids: list[str], seconds: int) -> None:
        for chunk in self._chunks(ack_ids):
            self.subscriber.modify_ack_deadline(
                request={"subscription": self.subscription, "ack_ids": chunk, "ack_deadline_seconds": seconds}
            )

    def _keep(self) -> None:
        while not self._stop.wait(EXTEND_EVERY_S):
            with self._lock:
                ack_ids = list(self.ack_ids)
            try:
                self._set_deadline(ack_ids, LEASE_S)
            except gexc.GoogleAPICallError as exc:  # the next extension tries again
                log.warning("could not extend the lease on %s: %s", self.subscription, exc)

    def _pull_until_empty(self) -> None:
        seen: set[str] = set()
        empty_in_a_row = 0
        while empty_in_a_row < EMPTY_PULLS:
            try:
                pulled = self.subscriber.pull(
                    request={"subscription": self.subscription, "max_messages": PULL_BATCH}, timeout=EMPTY_PULL_WAIT_S
                ).received_messages
            except gexc.DeadlineExceeded:
                pulled = []  # out of time: an empty answer too
            if not pulled:
                empty_in_a_row += 1
                continue
            empty_in_a_row = 0
            ack_ids = [received.ack_id for received in pulled]
            # At once: a pull leases its messages for the subscription's ack deadline only, and
            # one that ran out would come back (a delivery attempt) while the next pull waits.
            self._set_deadline(ack_ids, LEASE_S)
            with self._lock:
                self.ack_ids.extend(ack_ids)
            for received in pulled:
                if received.message.message_id in seen:  # delivered twice while pulling: one message
                    continue
                seen.add(received.message.message_id)
                # As the streaming pipeline reads it, so the ledger knows the message by the same
                # id and publish time.
                self.messages.append(from_pubsub(received.message))

    def ack(self) -> None:
        """The pipeline has written every outcome: the messages may go."""
        with self._lock:
            ack_ids, self.ack_ids = self.ack_ids, []
        for chunk in self._chunks(ack_ids):
            self.subscriber.acknowledge(request={"subscription": self.subscription, "ack_ids": chunk})

    def nack(self) -> None:
        """The pipeline failed: hand every message back for redelivery (a delivery attempt)."""
        with self._lock:
            ack_ids, self.ack_ids = self.ack_ids, []
        self._set_deadline(ack_ids, 0)


def subscription_path(source: str) -> str:
    path = source.removeprefix(SCHEME)
    parts = path.split("/")
    if len(parts) != 4 or parts[0] != "projects" or parts[2] != "subscriptions" or not all(parts):
        raise ValueError(f"{source!r} is not pubsub://projects/PROJECT/subscriptions/SUBSCRIPTION")
    return path


@contextlib.contextmanager
def leased(source: str, settings: Settings | None = None) -> Iterator[Lease]:
    """Every message of ``pubsub://projects/P/subscriptions/S``, leased for the ``with`` block.

    The block calls ``Lease.ack`` once the pipeline has written; if it raises instead, every
    message goes back to the subscription at once."""
    path = subscription_path(source)
    settings = settings or Settings.from_env(project=path.split("/")[1])
    lease = Lease(subscriber_client(settings), path)
    keeper = threading.Thread(target=lease._keep, name="pubsub-lease", daemon=True)
    keeper.start()
    try:
        lease._pull_until_empty()
        log.info("leased %d messages from %s", len(lease.messages), path)
        yield lease
    except BaseException:
        lease.nack()
        raise
    finally:
        lease._stop.set()
        keeper.join()
        lease.subscriber.close()
