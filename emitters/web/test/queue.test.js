import assert from "node:assert/strict";
import { test } from "node:test";

import { createTracker } from "../src/tracker.js";
import { click, fakeFetch, fakes, options } from "./fakes.js";

const offline = () => fakeFetch(...Array(50).fill(new TypeError("Failed to fetch")));

test("a full queue drops its oldest events and counts them", async () => {
  const dropped = [];
  const env = fakes({ fetch: offline() });
  const tracker = createTracker(
    options(env, { maxQueue: 5, batchSize: 100, onDrop: (reason, n) => dropped.push([reason, n]) }),
  );
  for (let slot = 1; slot <= 8; slot++) tracker.thumbnailClicked(click(slot));
  assert.equal(tracker.stats().queued, 5);
  assert.equal(tracker.stats().overflow, 3);
  assert.deepEqual(dropped, [["overflow", 1], ["overflow", 1], ["overflow", 1]]);
  env.fetch = fakeFetch();
  const fresh = createTracker(options(env, { maxQueue: 5 }));
  await fresh.flush();
  assert.deepEqual(env.fetch.events().map((e) => e.payload.slot), [4, 5, 6, 7, 8]);
});

test("queued events survive a reload: a new tracker on the same storage sends them", async () => {
  const env = fakes({ fetch: offline() });
  const first = createTracker(options(env, { flushIntervalMs: 1000 }));
  const ids = [first.thumbnailClicked(click(1)), first.videoPaused({ video_id: "v", position_ms: 7 })];
  await env.clock.advance(1000); // the attempt fails; both stay queued
  first.stop(); // the page goes away
  env.fetch = fakeFetch();
  const second = createTracker(options(env));
  assert.equal(second.stats().queued, 2);
  assert.equal(await second.flush(), true);
  assert.deepEqual(env.fetch.events().map((e) => e.event_id), ids);
  assert.equal(createTracker(options(env)).stats().queued, 0, "sent events leave the stored queue");
});

test("a stored queue larger than maxQueue is cut to its newest events, counted", () => {
  const env = fakes({ fetch: offline() });
  const big = createTracker(options(env, { maxQueue: 10, batchSize: 100 }));
  for (let slot = 1; slot <= 10; slot++) big.thumbnailClicked(click(slot));
  big.stop();
  const small = createTracker(options(env, { maxQueue: 4 }));
  assert.deepEqual(small.stats().queued, 4);
  assert.equal(small.stats().overflow, 6);
});

test("unreadable stored data is ignored, not fatal", () => {
  const env = fakes();
  env.storage.setItem("clickstream:queue", "{not json");
  assert.equal(createTracker(options(env)).stats().queued, 0);
});

test("a storage that refuses writes (quota, private mode) still queues in memory", async () => {
  const env = fakes();
  env.storage.quota = 10;
  const tracker = createTracker(options(env, { deviceId: "d" }));
  tracker.thumbnailClicked(click(1));
  assert.equal(await tracker.flush(), true);
  assert.equal(env.fetch.events().length, 1);
});
