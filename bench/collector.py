"""The HTTP collector's throughput and latency, against the bare Python publisher in the same run.

Every figure goes into the same schema-checked topic on the same Pub/Sub emulator:

* baseline: the bare google-cloud-pubsub client publishing the same events, Avro-encoded in
  the loop (``bench.emitter.bare_client``): the broker's rate for these events from Python;
* the collector (``clickstream collector serve``, one worker process) under granian and under
  uvicorn, loaded by **wrk** (Debian's, a C load generator on its own core, closed loop with
  ``--connections`` keep-alive connections) with batches of 20 and of 100 events. An event is
  counted only when its request was answered 202, which the collector does once Pub/Sub acked it;
* latency at half of the peak rate, open loop: an asyncio client (httpx) sends on a fixed
  schedule and measures each request from the moment it was due, so a slow answer delays
  nobody's clock (no coordinated omission); beside it, the bare publisher on the same schedule
  (a batch due every 1/rate s, done when Pub/Sub acked its last message): the broker's own
  latency at that load.

Goal (issue 12): the collector reaches at least 0.8x the bare publisher's events/s, p99 < 50 ms
at half load. The emulator, the server and the load generator share this machine's cores.

    python -m bench.collector [--seconds 10] [--connections 16]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import httpx

from bench.common import machine, table
from bench.emitter import _events, bare_client, topic_settings
from clickstream.app.collector_client import event_json
from clickstream.app.local import services
from clickstream.app.local.collector import settings_env
from clickstream.app.local.processes import free_port
from clickstream.core.config import Settings
from emitters.events import Event, encode_event, now_ms

WRITE_KEY = "bench-write-key"
SERVERS = ("granian", "uvicorn")
BATCH_SIZES = (20, 100)


def batch_body(events: list[Event]) -> bytes:
    """A batch in the collector's JSON shape (the same one ``demo --via collector`` posts)."""
    return json.dumps({"events": [event_json(e, now_ms()) for e in events]}).encode()


@contextmanager
def collector(settings: Settings, server: str) -> Iterator[str]:
    """``clickstream collector serve`` in its own process; yields its events URL, stops it by PID."""
    port = free_port()
    env = {**os.environ, **settings_env(settings), "CLICKSTREAM_COLLECTOR_WRITE_KEYS": WRITE_KEY}
    command = [sys.executable, "-m", "clickstream.app.cli", "collector", "serve", "--port", str(port)]
    process = subprocess.Popen(
        [*command, "--server", server], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"collector ({server}) exited: {process.stderr.read() if process.stderr else ''}")
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"collector ({server}) not ready after 60 s")
            time.sleep(0.2)
        yield f"{base}/v1/events"
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wrk_peak(url: str, body: bytes, batch: int, seconds: int, connections: int) -> dict[str, float]:
    """Closed-loop peak with wrk: events/s answered 202, and how many requests were not 2xx."""
    wrk = shutil.which("wrk")
    if wrk is None:
        raise RuntimeError("wrk is not installed (Debian package wrk; .ci/run and the README list it)")
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(
            'wrk.method = "POST"\n'
            'wrk.headers["Content-Type"] = "application/json"\n'
            f'wrk.headers["X-Write-Key"] = "{WRITE_KEY}"\n'
            f"wrk.body = [==[{body.decode()}]==]\n"
        )
    try:
        out = subprocess.run(
            [wrk, "-t1", f"-c{connections}", f"-d{seconds}s", "-s", script.name, url],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        os.unlink(script.name)
    requests = float(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    elapsed = float(re.search(r"requests in ([\d.]+)s", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    refused = float(bad.group(1)) if bad else 0.0
    return {
        "events_per_s": (requests - refused) * batch / elapsed,
        "requests_per_s": requests / elapsed,
        "not_2xx": refused,
        "socket_errors": 0.0 if errors is None else float(sum(int(n) for n in re.findall(r"\d+", errors.group(1)))),
    }


async def _open_loop(url: str, body: bytes, rate: float, seconds: float) -> tuple[list[float], int]:
    latencies: list[float] = []
    failures = 0
    headers = {"Content-Type": "application/json", "X-Write-Key": WRITE_KEY}
    limits = httpx.Limits(max_connections=256, max_keepalive_connections=256)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:

        async def one(due: float) -> None:
            nonlocal failures
            response = await client.post(url, content=body, headers=headers)
            if response.status_code == 202:
                latencies.append(time.perf_counter() - due)
            else:
                failures += 1

        tasks = []
        start = time.perf_counter() + 0.1
        for i in itertools.count():
            due = start + i / rate
            if due - start >= seconds:
                break
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            tasks.append(asyncio.create_task(one(due)))
        await asyncio.gather(*tasks)
    return latencies, failures


def latency_at(url: str, body: bytes, requests_per_s: float, seconds: float) -> dict[str, float]:
    latencies, failures = asyncio.run(_open_loop(url, body, requests_per_s, seconds))
    cuts = statistics.quantiles(latencies, n=100)
    return {"p50_ms": cuts[49] * 1000, "p99_ms": cuts[98] * 1000, "failures": float(failures)}


def bare_latency_at(settings: Settings, events: list[Event], batch: int, batches_per_s: float, seconds: float) -> dict:
    """The bare publisher on the same open-loop schedule: a batch of ``batch`` events is due every
    1/rate s and counts as done when Pub/Sub acked its last message. The broker's own latency at
    that load, beside the collector's."""
    from google.cloud import pubsub_v1

    from clickstream.core.pubsub_clients import publisher_client

    client = publisher_client(settings, batch_settings=pubsub_v1.types.BatchSettings(max_messages=500))
    encoded = [(encode_event(e), e.attributes()) for e in events]
    latencies: list[float] = []
    lock = threading.Lock()
    start = time.perf_counter() + 0.1
    for i in itertools.count():
        due = start + i / batches_per_s
        if due - start >= seconds:
            break
        time.sleep(max(0.0, due - time.perf_counter()))
        remaining = [batch]

        def one_done(_future: object, due: float = due, remaining: list[int] = remaining) -> None:
            with lock:
                remaining[0] -= 1
                if remaining[0] == 0:
                    latencies.append(time.perf_counter() - due)

        for k in range(batch):
            data, attrs = encoded[(i * batch + k) % len(encoded)]
            client.publish(settings.topic_path, data, **attrs).add_done_callback(one_done)
    deadline = time.monotonic() + 30
    while len(latencies) < i and time.monotonic() < deadline:
        time.sleep(0.05)
    client.stop()
    cuts = statistics.quantiles(latencies, n=100)
    return {"p50_ms": cuts[49] * 1000, "p99_ms": cuts[98] * 1000}


def measure(settings: Settings, seconds: int, connections: int, rounds: int) -> dict[str, float]:
    events = _events(max(BATCH_SIZES) * 50)
    bodies = {size: batch_body(events[:size]) for size in BATCH_SIZES}
    bare_client(settings, events[:500], encode_in_loop=True)  # warm up the emulator's schema check
    bare_rate = statistics.median(
        len(events) / bare_client(settings, events, encode_in_loop=True) for _ in range(rounds)
    )
    peaks: dict[tuple[str, int], dict[str, float]] = {}
    for server in SERVERS:
        with collector(settings, server) as url:
            wrk_peak(url, bodies[BATCH_SIZES[0]], BATCH_SIZES[0], 2, connections)  # warm-up
            for size in BATCH_SIZES:
                peaks[server, size] = wrk_peak(url, bodies[size], size, seconds, connections)
    best = {size: max(SERVERS, key=lambda s, size=size: peaks[s, size]["events_per_s"]) for size in BATCH_SIZES}
    winner = max(SERVERS, key=lambda s: sum(peaks[s, size]["events_per_s"] for size in BATCH_SIZES))
    half_load: dict[int, dict[str, float]] = {}
    bare_half_load: dict[int, dict[str, float]] = {}
    with collector(settings, winner) as url:
        for size in BATCH_SIZES:
            rate = peaks[winner, size]["requests_per_s"] / 2
            half_load[size] = latency_at(url, bodies[size], rate, seconds)
            bare_half_load[size] = bare_latency_at(settings, events, size, rate, seconds)
    rows = [("bare Python publisher (baseline)", "-", f"{bare_rate:,.0f}", "1.00", "-", "-", "-")]
    for size, lat in bare_half_load.items():
        rows.append(
            ("bare publisher, same schedule", str(size), "-", "-", "-", f"{lat['p50_ms']:.1f}", f"{lat['p99_ms']:.1f}")
        )
    for server in SERVERS:
        for size in BATCH_SIZES:
            peak = peaks[server, size]
            lat = half_load.get(size) if server == winner else None
            rows.append(
                (
                    f"collector on {server}" + (" (chosen)" if server == winner else ""),
                    str(size),
                    f"{peak['events_per_s']:,.0f}",
                    f"{peak['events_per_s'] / bare_rate:.2f}",
                    f"{int(peak['not_2xx'] + peak['socket_errors'])}",
                    f"{lat['p50_ms']:.1f}" if lat else "-",
                    f"{lat['p99_ms']:.1f}" if lat else "-",
                )
            )
    print(
        table(
            f"collector: events/s into the Pub/Sub emulator, wrk -c{connections} for {seconds}s; "
            f"latency open-loop at half the peak ({machine()})",
            rows,
            ("sender", "batch", "events/s", "ratio", "refused", "p50 ms", "p99 ms"),
        )
    )
    other = next(s for s in SERVERS if s != winner)
    lead = [peaks[winner, size]["events_per_s"] / peaks[other, size]["events_per_s"] for size in BATCH_SIZES]
    print(
        f"{winner} served {', '.join(f'{x:.2f}x' for x in lead)} the events/s of {other} "
        f"(batches of {', '.join(map(str, BATCH_SIZES))}); best per batch: "
        + ", ".join(f"{size}: {best[size]}" for size in BATCH_SIZES)
        + "; goal: collector >= 0.8x the bare publisher, p99 < 50 ms at half load"
    )
    figures: dict[str, float] = {"collector_bare_publisher_events_per_s": bare_rate}
    for (server, size), peak in peaks.items():
        figures[f"collector_{server}_batch{size}_events_per_s"] = peak["events_per_s"]
    for size, lat in bare_half_load.items():
        figures[f"bare_publisher_batch{size}_half_load_p99_ms"] = lat["p99_ms"]
    for size, lat in half_load.items():
        figures[f"collector_batch{size}_half_load_p50_ms"] = lat["p50_ms"]
        figures[f"collector_batch{size}_half_load_p99_ms"] = lat["p99_ms"]
    return figures


def collector_topic_settings(base: Settings) -> Settings:
    """A fresh schema-checked events topic and a rejected topic (no subscriptions: nothing accumulates)."""
    settings = topic_settings(base)
    settings = replace(settings, rejected_topic=f"bench-rejected-{uuid.uuid4().hex[:8]}")
    from clickstream.core.pubsub_clients import publisher_client

    publisher_client(settings).create_topic(request={"name": settings.rejected_topic_path})
    return settings


def main(argv: list[str] | None = None, base: Settings | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=10, help="length of each wrk run and each latency run")
    parser.add_argument("--connections", type=int, default=16, help="wrk's keep-alive connections")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the bare publisher (median)")
    args = parser.parse_args(argv)
    if base is not None or Settings.from_env().pubsub_emulator_host:
        settings = collector_topic_settings(base or Settings.from_env())
        return measure(settings, args.seconds, args.connections, args.rounds)
    with tempfile.TemporaryDirectory() as state:
        own = services.own_stack_settings(Path(state))
        services.start_service(own, "pubsub")
        try:
            settings = collector_topic_settings(own.with_local_endpoints())
            return measure(settings, args.seconds, args.connections, args.rounds)
        finally:
            services.stop_service(own, "pubsub")


if __name__ == "__main__":
    main()
