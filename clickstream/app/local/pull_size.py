"""Bigger Pub/Sub pulls for the local runner: one of the two places this project reaches into Beam
(the other is ``runner_patches``).

Beam's in-process streaming runner (``BundleBasedDirectRunner``) reads Pub/Sub with a
synchronous pull of at most **10 messages**, acknowledges them and makes one bundle of them
(``apache_beam/runners/direct/transform_evaluator.py``, ``_PubSubReadEvaluator``). Every
bundle pays the runner's fixed costs (measured with py-spy on a running local pipeline: 37%
of its time re-inspecting DoFn signatures per bundle, 26% scanning pending timers), so a
local pipeline tops out at about 20 events/s and, once behind, cannot catch up: a bundle
never holds more than 10 messages. Asking for more per pull lets it catch up in larger
bundles; when it keeps up, a pull still returns only what has arrived, so bundles (and what
a crash loses, since the runner acks on pull) stay small.

The runner also long-polls each subscription on its single executor thread, so the second
read (the collector's rejected events, nearly always empty) would hold that thread for up to
30 s per pull; pulls here return at once instead.

The pull size is not an option of the runner, so ``enable`` wraps the subscriber client the
runner's evaluator uses. It is applied only by ``clickstream.app.local.runner`` (local runs),
never on Dataflow, and only on the Beam versions it was written against (``pyproject.toml``
pins the same range): on another version it logs a warning and changes nothing.
"""

from __future__ import annotations

import logging
import time
import warnings
from typing import Any

import apache_beam

log = logging.getLogger(__name__)

BEAM_VERSIONS = ("2.77.",)  # the range pyproject.toml pins: >=2.77,<2.78
PULL_MAX_MESSAGES = 500
EMPTY_PULL_PAUSE_S = 0.1


class _BiggerPulls:
    """A subscriber client whose ``pull`` asks for ``max_messages`` messages; the rest passes through."""

    def __init__(self, client: Any, max_messages: int):
        self._client = client
        self._max_messages = max_messages

    def pull(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["max_messages"] = max(int(kwargs.get("max_messages") or 0), self._max_messages)
        # Two reads (the events and the collector's rejected topic) share the runner's one
        # executor thread: a long poll on an empty subscription (up to 30 s) stalled the other
        # (measured: 600 events in over 200 s instead of 6 s). Return at once, and pause
        # briefly when nothing came so that an idle pipeline does not spin.
        kwargs["return_immediately"] = True
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # deprecated; the emulator honours it
            response = self._client.pull(*args, **kwargs)
        if not response.received_messages:
            time.sleep(EMPTY_PULL_PAUSE_S)
        return response

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def supported(version: str = apache_beam.__version__) -> bool:
    return version.startswith(BEAM_VERSIONS)


def enable(max_messages: int = PULL_MAX_MESSAGES) -> bool:
    """Make the local runner's Pub/Sub reads pull up to ``max_messages``; True when applied."""
    if not supported():
        log.warning(
            "apache-beam %s is not one of %s: the local runner keeps its 10-message pulls",
            apache_beam.__version__,
            BEAM_VERSIONS,
        )
        return False
    # A private class: imported only once the version is known to have it.
    from apache_beam.runners.direct.transform_evaluator import _PubSubReadEvaluator

    current = _PubSubReadEvaluator.__dict__["_get_subscriber_client"]
    original = getattr(current, "__clickstream_original__", current)

    def _get_subscriber_client(cls, transform):
        return _BiggerPulls(original.__func__(cls, transform), max_messages)

    wrapped = classmethod(_get_subscriber_client)
    wrapped.__clickstream_original__ = original  # type: ignore[attr-defined]
    _PubSubReadEvaluator._get_subscriber_client = wrapped
    return True
