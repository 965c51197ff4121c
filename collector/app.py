"""The collector's ASGI app: ``POST /v1/events``, ``GET /healthz``, ``GET /readyz`` (docs/collector.md).

A request is answered **202** only once Pub/Sub has acknowledged every message it produced:
each event that fits the contract on the events topic, each one that does not on the
rejected topic (with the reason; the pipeline writes it to ``dead_letters``, so the ledger
holds). The checks run cheapest first: write key (401), origin (403), size (413), body
(400), then each event. Pub/Sub trouble is a 429 or 503 (retry) or, when it
refuses for good, a 500 (misconfigured; no retry).
"""

from __future__ import annotations

import contextlib
import json
import time
import zlib
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from clickstream.core import attributes
from clickstream.core.config import Settings
from clickstream.core.network import ip_prefix
from collector.config import CollectorConfig
from collector.events import Accepted, convert, item_json
from collector.network import client_address
from collector.publishing import Busy, Misconfigured, Publisher, Unavailable
from collector.tracing import RequestTrace, Tracing

EVENTS_PATH = "/v1/events"
WRITE_KEY_HEADER = "x-write-key"
WRITE_KEY_PARAM = "write_key"  # navigator.sendBeacon cannot set headers


class _Refusal(Exception):
    """A request answered with an error status before any event was looked at."""

    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"error": message, **extra}


def _error(status: int, message: str, retry_after: int | None = None, **extra: Any) -> JSONResponse:
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return JSONResponse({"error": message, **extra}, status_code=status, headers=headers)


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _Refusal(413, f"request body of {declared} bytes is over the limit of {limit}", limit=limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _Refusal(413, f"request body is over the limit of {limit} bytes", limit=limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _inflate(body: bytes, encoding: str, limit: int) -> bytes:
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding not in ("gzip", "x-gzip"):
        raise _Refusal(400, f"unsupported Content-Encoding {encoding!r}; send gzip or none")
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        inflated = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise _Refusal(400, f"the body is not valid gzip: {exc}") from None
    if len(inflated) > limit:
        raise _Refusal(413, f"the inflated body is over the limit of {limit} bytes", limit=limit)
    if not inflater.eof:
        raise _Refusal(400, "the gzip body is truncated")
    return inflated


def _refuse_constant(name: str) -> Any:
    # NaN, Infinity and -Infinity are not JSON: accepted, they would reach the rejected topic
    # as bytes no JSON reader can parse.
    raise ValueError(f"{name} is not a JSON value")


def _items(body: bytes, config: CollectorConfig) -> list[Any]:
    try:
        document = json.loads(body, parse_constant=_refuse_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise _Refusal(400, f"the body is not JSON: {exc}") from None
    except RecursionError:  # nesting deeper than the parser's stack: no event is that deep
        raise _Refusal(400, "the body is nested too deeply to be an event") from None
    if not isinstance(document, dict):
        raise _Refusal(400, 'the body must be one event object or a batch {"events": [...]}')
    if "events" not in document:
        items = [document]  # one event: the same per-event limit as in a batch
    elif set(document) != {"events"} or not isinstance(document["events"], list):
        raise _Refusal(400, 'a batch is {"events": [...]} and nothing else')
    else:
        items = document["events"]
    if not items:
        raise _Refusal(400, "the batch is empty")
    if len(items) > config.max_events:
        raise _Refusal(
            413, f"{len(items)} events is over the limit of {config.max_events} per request", limit=config.max_events
        )
    if len(body) > config.max_event_bytes:  # a smaller body cannot hold an event over the limit
        for index, item in enumerate(items):
            size = len(item_json(item))
            if size > config.max_event_bytes:
                raise _Refusal(
                    413,
                    f"event {index} is {size} bytes, over the limit of {config.max_event_bytes}",
                    index=index,
                    limit=config.max_event_bytes,
                )
    return items


def _origin_allowed(origin: str | None, config: CollectorConfig) -> bool:
    return origin is None or "*" in config.allowed_origins or origin in config.allowed_origins


class Collector:
    """The request handlers and what they share: configuration, publisher, tracing."""

    def __init__(self, config: CollectorConfig, settings: Settings, span_exporter: Any = None) -> None:
        self.config = config
        self.settings = settings
        self.tracing = Tracing(config, span_exporter, settings.project)
        self._publisher: Publisher | None = None

    @property
    def publisher(self) -> Publisher:
        # Made on first use, inside the serving process: gRPC channels do not survive a fork.
        if self._publisher is None:
            self._publisher = Publisher(self.settings, self.config)
        return self._publisher

    def close(self) -> None:
        if self._publisher is not None:
            self._publisher.close()
        self.tracing.shutdown()

    async def events(self, request: Request) -> JSONResponse:
        headers = request.headers
        with self.tracing.request(f"POST {EVENTS_PATH}", headers.get("traceparent"), headers.get("tracestate")) as rt:
            response = await self._events(request, rt)
            rt.annotate(**{"http.request.method": "POST", "http.response.status_code": response.status_code})
            return response

    async def _events(self, request: Request, trace: RequestTrace) -> JSONResponse:
        received_at = time.time_ns() // 1_000_000
        config = self.config
        key = request.headers.get(WRITE_KEY_HEADER) or request.query_params.get(WRITE_KEY_PARAM)
        if key not in config.write_keys:
            return _error(401, f"unknown or missing write key (header {WRITE_KEY_HEADER} or ?{WRITE_KEY_PARAM}=)")
        if not _origin_allowed(request.headers.get("origin"), config):
            return _error(403, "this origin may not send events")
        try:
            body = await _read_body(request, config.max_request_bytes)
            body = _inflate(body, request.headers.get("content-encoding", ""), config.max_request_bytes)
            items = _items(body, config)
        except _Refusal as refusal:
            return JSONResponse(refusal.body, status_code=refusal.status)

        peer = request.client.host if request.client else None
        address = client_address(peer, request.headers.get("x-forwarded-for"), config.trusted_proxy_hops)
        stamps = {attributes.RECEIVED_AT: str(received_at), attributes.TRACEPARENT: trace.traceparent}
        prefix = ip_prefix(address)
        if prefix is not None:
            stamps[attributes.CLIENT_IP_PREFIX] = prefix
        user_agent = request.headers.get("user-agent")

        publisher = self.publisher
        futures = []
        rejected: list[dict[str, Any]] = []
        try:
            for index, item in enumerate(items):
                result = convert(item, received_at_ms=received_at, user_agent=user_agent)
                if isinstance(result, Accepted):
                    message = {**result.attributes, **stamps}
                    if result.event_id_generated:
                        message[attributes.EVENT_ID_GENERATED] = "true"
                    futures.append(publisher.submit(publisher.events_topic, result.data, message))
                else:
                    message = {
                        attributes.REJECT_REASON: result.reason.value,
                        attributes.REJECT_DETAIL: result.detail,
                        **stamps,
                    }
                    if result.event_id is not None:
                        message[attributes.EVENT_ID] = result.event_id
                    futures.append(publisher.submit(publisher.rejected_topic, result.data, message))
                    rejected.append({"index": index, "reason": result.reason.value, "detail": result.detail})
            await publisher.settle(futures)
        except Busy:
            return _error(429, "the collector is busy; retry later", config.busy_retry_after_s)
        except Unavailable as exc:
            return _error(503, f"transient error, please retry: {exc}", config.unavailable_retry_after_s)
        except Misconfigured as exc:
            # No Retry-After: the same request would fail the same way until an operator acts.
            return _error(500, f"the collector is misconfigured, retrying will not help: {exc}")
        trace.annotate(**{"clickstream.accepted": len(items) - len(rejected), "clickstream.rejected": len(rejected)})
        return JSONResponse({"accepted": len(items) - len(rejected), "rejected": rejected}, status_code=202)

    async def healthz(self, request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def readyz(self, request: Request) -> JSONResponse:
        ready, why = await self.publisher.ready()
        if ready:
            return JSONResponse({"ready": True})
        return JSONResponse(
            {"ready": False, "error": why},
            status_code=503,
            headers={"Retry-After": str(self.config.unavailable_retry_after_s)},
        )


def create_app(config: CollectorConfig, settings: Settings, span_exporter: Any = None) -> Starlette:
    """The collector as an ASGI app (``span_exporter``: an OpenTelemetry exporter, for tests)."""
    collector = Collector(config, settings, span_exporter)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        collector.publisher  # noqa: B018 - connect before the first request
        try:
            yield
        finally:
            collector.close()

    cors = Middleware(
        CORSMiddleware,
        allow_origins=list(config.allowed_origins),
        allow_methods=["POST"],
        allow_headers=["content-type", "content-encoding", WRITE_KEY_HEADER, "traceparent", "tracestate"],
        expose_headers=["retry-after"],
        max_age=config.cors_max_age_s,
    )
    app = Starlette(
        routes=[
            Route(EVENTS_PATH, collector.events, methods=["POST"]),
            Route("/healthz", collector.healthz, methods=["GET"]),
            Route("/readyz", collector.readyz, methods=["GET"]),
        ],
        middleware=[cors],
        lifespan=lifespan,
    )
    app.state.collector = collector
    return app


def app_from_env() -> Starlette:
    """The factory servers import (``collector.app:app_from_env``): configuration from the environment."""
    return create_app(CollectorConfig.from_env(), Settings.from_env())
