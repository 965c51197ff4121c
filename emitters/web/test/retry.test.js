import assert from "node:assert/strict";
import { test } from "node:test";

import { createTracker } from "../src/tracker.js";
import { click, fakeFetch, fakes, options, response } from "./fakes.js";

const FAIL = () => new TypeError("Failed to fetch");

/** The delay of each retry timer: every timer the tracker sets after its first (the flush interval). */
async function retryDelays(env, tracker, n) {
  const scheduled = [];
  const setTimeout = env.clock.setTimeout;
  env.clock.setTimeout = (fn, ms) => (scheduled.push(ms), setTimeout(fn, ms));
  tracker.thumbnailClicked(click(1));
  await env.clock.advance(600_000);
  assert.equal(scheduled[0], 1000, "the first timer is the flush interval");
  return scheduled.slice(1, n + 1);
}

test("retries back off exponentially with full jitter, capped", async () => {
  for (const [r, pick] of [
    [0.999999, (cap) => cap],
    [0, () => 0],
  ]) {
    const env = fakes({ fetch: fakeFetch(...Array(12).fill(0).map(FAIL)), random: () => r });
    const tracker = createTracker(
      options(env, { flushIntervalMs: 1000, baseDelayMs: 100, maxDelayMs: 3000, setTimeout: (...a) => env.clock.setTimeout(...a) }),
    );
    const delays = await retryDelays(env, tracker, 7);
    const caps = [100, 200, 400, 800, 1600, 3000, 3000];
    delays.forEach((d, i) => assert.ok(Math.abs(d - pick(caps[i])) <= 1, `retry ${i + 1}: ${d} vs cap ${caps[i]}`));
    assert.equal(tracker.stats().retries, 12, "twelve failures, each retried");
    assert.equal(tracker.stats().sent, 1);
  }
});

test("every retry delay lies in [0, min(cap, base * 2^attempt))", async () => {
  let seed = 7;
  const random = () => ((seed = (seed * 16807) % 2147483647) - 1) / 2147483646;
  const env = fakes({ fetch: fakeFetch(...Array(12).fill(0).map(FAIL)), random });
  const tracker = createTracker(
    options(env, { flushIntervalMs: 1000, baseDelayMs: 100, maxDelayMs: 3000, setTimeout: (...a) => env.clock.setTimeout(...a) }),
  );
  const delays = await retryDelays(env, tracker, 10);
  delays.forEach((d, i) => assert.ok(d >= 0 && d < Math.min(3000, 100 * 2 ** i), `retry ${i + 1}: ${d}`));
  assert.ok(new Set(delays).size > 5, "jitter spreads the delays");
});

test("a 429 is retried after its Retry-After, not sooner", async () => {
  const env = fakes({ fetch: fakeFetch(response(429, {}, { "Retry-After": "30" })) });
  const tracker = createTracker(options(env, { flushIntervalMs: 1000, baseDelayMs: 100 }));
  tracker.thumbnailClicked(click(1));
  await env.clock.advance(1000);
  assert.equal(env.fetch.calls.length, 1);
  assert.equal(await tracker.flush(), false, "an explicit flush also waits for Retry-After");
  tracker.thumbnailClicked(click(2));
  await env.clock.advance(29_999);
  assert.equal(env.fetch.calls.length, 1);
  await env.clock.advance(1 + 100); // plus a jitter of at most the backoff (baseDelayMs)
  assert.equal(env.fetch.calls.length, 2);
  assert.deepEqual(env.fetch.calls[1].body.events.map((e) => e.payload.slot), [1, 2]);
  assert.equal(tracker.stats().queued, 0);
});

test("a 503 with an HTTP-date Retry-After waits until that date, plus a jitter of at most the backoff", async () => {
  const env = fakes();
  const until = new Date(env.clock.now() + 1000 + 12_000).toUTCString();
  env.fetch = fakeFetch(response(503, {}, { "Retry-After": until }));
  const tracker = createTracker(options(env, { flushIntervalMs: 1000 }));
  tracker.thumbnailClicked(click(1));
  await env.clock.advance(1000);
  const [delay] = env.clock.pending();
  assert.ok(delay > 11_000 && delay <= 12_000 + 1000, String(delay));
});

test("5xx without Retry-After is retried with backoff and then delivered", async () => {
  const env = fakes({ fetch: fakeFetch(response(500), response(502)) });
  const tracker = createTracker(options(env, { flushIntervalMs: 1000, baseDelayMs: 100 }));
  tracker.thumbnailClicked(click(1));
  await env.clock.advance(10_000);
  assert.equal(env.fetch.calls.length, 3);
  assert.deepEqual(tracker.stats(), {
    queued: 0, sent: 1, rejected: 0, refused: 0, overflow: 0, retries: 2, droppedNoConsent: 0,
  });
});

test("a 4xx other than 429 drops the batch, counted, and is not retried", async () => {
  const dropped = [];
  const env = fakes({ fetch: fakeFetch(response(401), response(413)) });
  const tracker = createTracker(
    options(env, { batchSize: 2, flushIntervalMs: 1000, onDrop: (reason, n) => dropped.push([reason, n]) }),
  );
  for (const slot of [1, 2, 3, 4]) tracker.thumbnailClicked(click(slot));
  await env.clock.advance(60_000);
  assert.equal(env.fetch.calls.length, 2);
  assert.deepEqual(tracker.stats(), {
    queued: 0, sent: 0, rejected: 0, refused: 4, overflow: 0, retries: 0, droppedNoConsent: 0,
  });
  assert.deepEqual(dropped, [["refused", 2], ["refused", 2]]);
});

test("going back online retries at once instead of waiting out the backoff", async () => {
  const env = fakes({ fetch: fakeFetch(FAIL()) });
  const tracker = createTracker(options(env, { flushIntervalMs: 1000, baseDelayMs: 60_000 }));
  tracker.thumbnailClicked(click(1));
  await env.clock.advance(1000);
  assert.equal(env.fetch.calls.length, 1);
  env.window.dispatchEvent(new Event("online"));
  await env.clock.advance(0);
  assert.equal(env.fetch.calls.length, 2);
  assert.equal(tracker.stats().queued, 0);
});

/** Fire the pending timer with the clock `skewMs` away from its due time (a wall clock that drifted or stepped). */
async function fireTimerAt(env, skewMs) {
  const [[id, timer]] = [...env.clock.timers.entries()];
  env.clock.timers.delete(id);
  env.clock.t = timer.at + skewMs;
  timer.fn();
  await env.clock.advance(0);
}

test("a retry timer that fires 1 ms early by the wall clock does not stall the queue", async () => {
  const env = fakes({ fetch: fakeFetch(response(503)) });
  const tracker = createTracker(options(env, { batchSize: 1, baseDelayMs: 1000 }));
  tracker.videoPaused({ video_id: "v", position_ms: 1 });
  await env.clock.advance(0);
  assert.equal(env.fetch.calls.length, 1);
  await fireTimerAt(env, -1);
  assert.equal(env.clock.pending().length, 1, "a timer is left for the rest of the wait");
  await env.clock.advance(1);
  assert.equal(env.fetch.calls.length, 2);
  assert.equal(tracker.stats().queued, 0);
});

test("a clock stepped backwards during a retry wait neither stalls the queue nor stretches the wait", async () => {
  const env = fakes({ fetch: fakeFetch(response(503)) });
  const tracker = createTracker(options(env, { batchSize: 1, baseDelayMs: 1000 }));
  tracker.videoPaused({ video_id: "v", position_ms: 1 });
  await env.clock.advance(0);
  await fireTimerAt(env, -3_600_000); // NTP stepped the clock back an hour
  const [wait] = env.clock.pending();
  assert.ok(wait > 0 && wait <= 1000, `waits at most the chosen backoff again, not an hour: ${wait}`);
  await env.clock.advance(1000);
  assert.equal(env.fetch.calls.length, 2);
  assert.equal(tracker.stats().queued, 0);
});

test("after a 503 with Retry-After, browsers do not all retry at the same instant: jitter on top, never sooner", async () => {
  const waits = [];
  for (const r of [0, 0.25, 0.5, 0.999]) {
    const env = fakes({ fetch: fakeFetch(response(503, {}, { "Retry-After": "5" })), random: () => r });
    const tracker = createTracker(options(env, { batchSize: 1, baseDelayMs: 1000 }));
    tracker.videoPaused({ video_id: "v", position_ms: 1 });
    await env.clock.advance(0);
    const [wait] = env.clock.pending();
    assert.ok(wait >= 5000 && wait < 5000 + 1000, `Retry-After 5 s plus at most the backoff (1 s): ${wait}`);
    waits.push(wait);
  }
  assert.equal(new Set(waits).size, 4, `spread: ${waits}`);
});
