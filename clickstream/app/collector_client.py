"""Sends emitter ``Event``s to the HTTP collector as JSON batches: the demo's ``--via collector``.

It stands where ``emitters.publisher.EventPublisher`` stands for ``emitters.traffic.play``
(``publish``, ``flush``, ``report``, ``close``) and accounts in the same ``PublishReport``:
an event is ``delivered`` once the collector answered 202 for it (Pub/Sub holds it, on the
events topic or, refused, on the rejected topic), ``rejected`` when the collector listed it
as refused, ``lost`` when the collector would not take the batch before ``deadline_s``. The
sending is synchronous, from the caller's thread, one batch at a time: it is a local tool,
not a browser tracker (that is ``emitters/web``).
"""

from __future__ import annotations

import json
import time
from typing import Any

import httpx

from emitters.events import Event, now_ms
from emitters.publisher import PublishReport

RETRY_STATUSES = (429, 500, 502, 503, 504)


def event_json(event: Event, sent_at_ms: int) -> dict[str, Any]:
    """The plain-JSON form of an event the collector reads (the payload without its Avro branch)."""
    record = event.to_record(sent_at_ms)
    record["payload"] = record["payload"][1]
    return record


class CollectorSender:
    def __init__(
        self,
        endpoint: str,
        write_key: str,
        *,
        batch_size: int = 100,
        linger_s: float = 0.2,
        deadline_s: float = 30.0,
    ) -> None:
        self._url = endpoint
        self._http = httpx.Client(headers={"X-Write-Key": write_key}, timeout=30)
        self._batch_size = batch_size
        self._linger_s = linger_s
        self._deadline_s = deadline_s
        self._buffer: list[dict[str, Any]] = []
        self._oldest = 0.0
        self._report = PublishReport()

    def publish(self, event: Event) -> None:
        item = event_json(event, event.sent_at_ms if event.sent_at_ms is not None else now_ms())
        if not self._buffer:
            self._oldest = time.monotonic()
        self._buffer.append(item)
        self._report.accepted += 1
        self._report.pending += 1
        if len(self._buffer) >= self._batch_size or time.monotonic() - self._oldest >= self._linger_s:
            self._send()

    def _send(self) -> None:
        batch, self._buffer = self._buffer, []
        if not batch:
            return
        body = json.dumps({"events": batch}).encode()
        self._report.accepted_bytes += len(body)
        deadline = time.monotonic() + self._deadline_s
        failure = ""
        while time.monotonic() < deadline:
            try:
                response = self._http.post(self._url, content=body, headers={"Content-Type": "application/json"})
            except httpx.TransportError as exc:
                failure = f"{type(exc).__name__}: {exc}"
                time.sleep(0.5)
                continue
            if response.status_code == 202:
                refused = response.json()["rejected"]
                self._report.pending -= len(batch)
                self._report.delivered += len(batch) - len(refused)
                self._report.rejected += len(refused)
                self._report.rejections += [(str(batch[r["index"]].get("event_id")), r["reason"]) for r in refused]
                return
            failure = f"HTTP {response.status_code}: {response.text[:200]}"
            if response.status_code not in RETRY_STATUSES:
                break
            time.sleep(min(float(response.headers.get("retry-after", "1")), 5.0))
        self._report.pending -= len(batch)
        self._report.lost += len(batch)
        self._report.rejections += [(str(item.get("event_id")), failure) for item in batch]

    def report(self) -> PublishReport:
        return self._report

    def flush(self, timeout: float | None = None) -> PublishReport:
        self._send()
        return self._report

    def close(self, timeout: float | None = None) -> PublishReport:
        self._send()
        self._http.close()
        return self._report

    def __enter__(self) -> CollectorSender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
