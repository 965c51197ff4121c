"""The collector's own settings: write keys, allowed origins, limits, publishing and tracing.

Where the events go (project, topics, emulator) comes from ``clickstream.core.config.Settings``;
this object holds what only the HTTP front door needs. Precedence, as for Settings: explicit
value (a command-line flag) > environment variable ``CLICKSTREAM_COLLECTOR_<FIELD>`` > default.
Tuples are comma-separated in the environment.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from typing import Any

from clickstream.core.span_exporters import EXPORTERS

ENV_PREFIX = "CLICKSTREAM_COLLECTOR_"
LOCAL_WRITE_KEY = "local-write-key"


@dataclass(frozen=True)
class CollectorConfig:
    # Public per-application keys (header X-Write-Key or ?write_key=): they keep a stray site
    # from writing, they are not secrets. The local stack and the demo use LOCAL_WRITE_KEY.
    write_keys: tuple[str, ...] = (LOCAL_WRITE_KEY,)
    # Origins a browser may send from (CORS); "*" allows any. Empty: no browser origin at all.
    allowed_origins: tuple[str, ...] = ()
    # Limits (Segment's: 32 KB per event, 500 KB per batch). The request limit holds for the
    # body as sent and, for gzip, once inflated.
    max_event_bytes: int = 32 * 1024
    max_request_bytes: int = 512 * 1024
    max_events: int = 500
    # How long a request waits for Pub/Sub's acknowledgement before it answers 503.
    publish_timeout_s: float = 10.0
    # Retry-After when Pub/Sub is unreachable (503) and when our flow control is full (429).
    unavailable_retry_after_s: int = 5
    busy_retry_after_s: int = 1
    # Publisher flow control: what may wait for Pub/Sub at once; past it, requests get 429.
    flow_control_max_messages: int = 20_000
    flow_control_max_bytes: int = 64 * 1024 * 1024
    # Publisher batching: the client library's default latency, tunable for the benchmark.
    batch_max_latency_s: float = 0.01
    batch_max_messages: int = 500
    # How many proxies in front of us append to X-Forwarded-For (Cloud Run: 1). 0: ignore it.
    trusted_proxy_hops: int = 0
    # Browsers cache a preflight this long (Chromium caps it at 2 h).
    cors_max_age_s: int = 7200
    # /readyz asks Pub/Sub at most this often.
    readiness_cache_s: float = 2.0
    # Tracing (docs/collector.md): "none" keeps it to trace-context propagation only.
    tracing_exporter: str = "none"
    tracing_sample_ratio: float = 1.0

    def __post_init__(self) -> None:
        if not self.write_keys or any(not key for key in self.write_keys):
            raise ValueError("the collector needs at least one non-empty write key")
        for name in ("max_event_bytes", "max_request_bytes", "max_events", "flow_control_max_messages"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, not {getattr(self, name)}")
        if self.max_event_bytes > self.max_request_bytes:
            raise ValueError("max_event_bytes cannot exceed max_request_bytes")
        if self.tracing_exporter not in EXPORTERS:
            raise ValueError(f"tracing_exporter must be one of {EXPORTERS}, not {self.tracing_exporter!r}")
        if not 0.0 <= self.tracing_sample_ratio <= 1.0:
            raise ValueError(f"tracing_sample_ratio must be within 0..1, not {self.tracing_sample_ratio}")
        if self.trusted_proxy_hops < 0:
            raise ValueError("trusted_proxy_hops cannot be negative")

    @classmethod
    def from_env(cls, **overrides: Any) -> CollectorConfig:
        """Defaults, then ``CLICKSTREAM_COLLECTOR_*`` variables, then non-None (and non-empty) ``overrides``."""
        values: dict[str, Any] = {}
        defaults = cls()
        for f in fields(cls):
            variable = ENV_PREFIX + f.name.upper()
            raw = os.environ.get(variable)
            if raw is None or raw == "":
                continue
            default = getattr(defaults, f.name)
            try:
                if isinstance(default, tuple):
                    values[f.name] = tuple(part.strip() for part in raw.split(",") if part.strip())
                elif isinstance(default, int):
                    values[f.name] = int(raw)
                elif isinstance(default, float):
                    values[f.name] = float(raw)
                else:
                    values[f.name] = raw
            except ValueError:
                raise ValueError(f"{variable}={raw!r} is not a {type(default).__name__}") from None
        values.update({k: v for k, v in overrides.items() if v is not None and v != ()})
        return cls(**values)
