"""Clients a DoFn keeps for the life of its worker thread, not of one bundle.

Beam's local streaming runner unpickles a fresh copy of every DoFn and calls its ``setup()``
for every bundle (``_ParDoEvaluator.start_bundle`` in ``apache_beam/runners/direct``), where
Dataflow calls it once per DoFn instance. A client built in ``setup()`` was therefore a new
client, connection and credentials lookup per bundle and per step (six BigQuery sinks and the
parking publisher; docs/local-streaming.md). On Dataflow a thread's client serves the DoFn
instances that run on that thread, one bundle at a time; one per thread needs no answer to
whether a client's HTTP session may be shared between threads.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import TypeVar

T = TypeVar("T")

_kept = threading.local()


def kept_per_thread(key: tuple[Hashable, ...], build: Callable[[], T]) -> T:
    """The client this thread built for ``key``, built with ``build()`` the first time.

    Put the factory in ``key``: a test that installs its own factory then gets its own client."""
    clients: dict[tuple[Hashable, ...], T] = _kept.__dict__.setdefault("clients", {})
    if key not in clients:
        clients[key] = build()
    return clients[key]
