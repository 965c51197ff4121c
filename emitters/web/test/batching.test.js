import assert from "node:assert/strict";
import { test } from "node:test";

import { createTracker } from "../src/tracker.js";
import { click, fakes, options } from "./fakes.js";

test("a full batch is sent at once, a partial one after the flush interval", async () => {
  const env = fakes();
  const tracker = createTracker(options(env, { batchSize: 3, flushIntervalMs: 5000 }));
  for (const slot of [1, 2, 3, 4]) tracker.thumbnailClicked(click(slot));
  await env.clock.advance(0);
  assert.equal(env.fetch.calls.length, 1);
  assert.deepEqual(env.fetch.calls[0].body.events.map((e) => e.payload.slot), [1, 2, 3]);
  await env.clock.advance(4999);
  assert.equal(env.fetch.calls.length, 1, "the fourth waits for the interval");
  await env.clock.advance(1);
  assert.equal(env.fetch.calls.length, 2);
  assert.deepEqual(env.fetch.calls[1].body.events.map((e) => e.payload.slot), [4]);
  assert.equal(tracker.stats().queued, 0);
  assert.equal(tracker.stats().sent, 4);
});

test("a batch stays under maxBatchBytes", async () => {
  const env = fakes();
  const tracker = createTracker(options(env, { batchSize: 100, maxBatchBytes: 2000 }));
  for (let i = 0; i < 10; i++) tracker.thumbnailClicked(click(i + 1, { surface: "s".repeat(300) }));
  assert.equal(await tracker.flush(), true);
  assert.ok(env.fetch.calls.length > 1);
  for (const call of env.fetch.calls) assert.ok(new TextEncoder().encode(call.init.body).length <= 2000);
  assert.equal(env.fetch.events().length, 10);
});

test("events the collector lists as rejected are counted, not resent", async () => {
  const { fakeFetch, response } = await import("./fakes.js");
  const env = fakes({ fetch: fakeFetch(response(202, { accepted: 1, rejected: [{ index: 1, reason: "x" }] })) });
  const tracker = createTracker(options(env));
  tracker.thumbnailClicked(click(1));
  tracker.thumbnailClicked(click(2));
  assert.equal(await tracker.flush(), true);
  assert.deepEqual(tracker.stats(), {
    queued: 0, sent: 1, rejected: 1, refused: 0, overflow: 0, retries: 0, droppedNoConsent: 0,
  });
});

test("stop() ends timers and listeners; the queue stays stored", async () => {
  const env = fakes();
  const tracker = createTracker(options(env, { flushIntervalMs: 1000 }));
  tracker.thumbnailClicked(click(1));
  tracker.stop();
  await env.clock.advance(10_000);
  env.window.dispatchEvent(new Event("pagehide"));
  assert.equal(env.fetch.calls.length, 0);
  assert.equal(env.navigator.beacons.length, 0);
  assert.equal(createTracker(options(env)).stats().queued, 1);
});

test("a maxBatchBytes over the collector's request limit is capped to it", async () => {
  const env = fakes();
  const tracker = createTracker(options(env, { batchSize: 500, maxBatchBytes: 10_000_000, flushIntervalMs: 1000 }));
  for (let i = 0; i < 60; i++) tracker.thumbnailClicked(click(1, { surface: "s".repeat(20_000) }));
  await env.clock.advance(10_000);
  assert.ok(env.fetch.calls.length > 1, "split into several requests");
  for (const c of env.fetch.calls) assert.ok(new TextEncoder().encode(c.init.body).length <= 512 * 1024);
  assert.equal(tracker.stats().sent, 60);
});
