"""When a replay from a subscription decides the subscription is empty.

Pub/Sub's own answer cannot be caused on demand here: a pull may come back empty, or run out
of time, while the backlog still holds messages ("empty if there are no more messages
available in the backlog, or if no messages could be returned before the request timeout",
PullResponse). So these tests give the lease a subscriber whose pulls answer in a set order.
Replays against the real emulator are tests/integration/test_replay_subscription.py.
"""

from __future__ import annotations

from google.api_core import exceptions as gexc
from google.pubsub_v1 import types

from pipelines import subscription
from pipelines.subscription import Lease

PATH = "projects/p/subscriptions/s"


class PullsInTurn:
    """A subscriber whose pulls give ``answers`` in turn (message ids, or an error to raise),
    then nothing."""

    def __init__(self, *answers: list[str] | Exception) -> None:
        self.answers = list(answers)
        self.pulls = 0

    def pull(self, request: dict, timeout: float) -> types.PullResponse:
        self.pulls += 1
        answer = self.answers.pop(0) if self.answers else []
        if isinstance(answer, Exception):
            raise answer
        return types.PullResponse(
            received_messages=[
                types.ReceivedMessage(ack_id=f"ack-{i}", message=types.PubsubMessage(data=b"{}", message_id=i))
                for i in answer
            ]
        )

    def modify_ack_deadline(self, request: dict) -> None:
        pass


def _leased(subscriber: PullsInTurn) -> list[str]:
    lease = Lease(subscriber, PATH)  # type: ignore[arg-type]
    lease._pull_until_empty()
    return [m.message_id for m in lease.messages]


def test_one_empty_or_timed_out_pull_is_not_taken_for_an_empty_subscription() -> None:
    pulls = PullsInTurn(["m1", "m2"], [], ["m3"], gexc.DeadlineExceeded("slow"), ["m4"])
    assert _leased(pulls) == ["m1", "m2", "m3", "m4"]


def test_the_subscription_is_empty_after_enough_empty_pulls_in_a_row() -> None:
    pulls = PullsInTurn(["m1"])
    assert _leased(pulls) == ["m1"]
    assert pulls.pulls == 1 + subscription.EMPTY_PULLS
