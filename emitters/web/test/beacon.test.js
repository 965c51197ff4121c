import assert from "node:assert/strict";
import { test } from "node:test";

import { createTracker } from "../src/tracker.js";
import { click, fakeFetch, fakeNavigator, fakes, options, response } from "./fakes.js";

const beaconed = (env) => env.navigator.beacons.flatMap((b) => JSON.parse(b.data).events);

test("pagehide sends the queue with sendBeacon: a text/plain string body, the write key in the query", async () => {
  const env = fakes();
  const tracker = createTracker(options(env, { flushIntervalMs: 60_000 }));
  const ids = [tracker.thumbnailClicked(click(1)), tracker.thumbnailClicked(click(2))];
  await env.clock.advance(500);
  env.window.dispatchEvent(new Event("pagehide"));
  assert.equal(env.fetch.calls.length, 0);
  assert.equal(env.navigator.beacons.length, 1);
  const [beacon] = env.navigator.beacons;
  assert.equal(beacon.url, "https://collector.test/v1/events?write_key=local-write-key");
  assert.equal(typeof beacon.data, "string", "a string is sent as text/plain, which needs no CORS preflight");
  assert.deepEqual(beaconed(env).map((e) => e.event_id), ids);
  assert.ok(beaconed(env).every((e) => e.sent_at === env.clock.now()));
  assert.equal(tracker.stats().queued, 0);
});

test("visibilitychange to hidden sends the beacon too; to visible does not", () => {
  const env = fakes();
  const tracker = createTracker(options(env, { flushIntervalMs: 60_000 }));
  tracker.thumbnailClicked(click(1));
  env.document.dispatchEvent(new Event("visibilitychange"));
  assert.equal(env.navigator.beacons.length, 0);
  env.document.visibilityState = "hidden";
  env.document.dispatchEvent(new Event("visibilitychange"));
  assert.equal(env.navigator.beacons.length, 1);
  env.window.dispatchEvent(new Event("pagehide"));
  assert.equal(env.navigator.beacons.length, 1, "nothing left to send");
});

test("a big queue goes out in several beacons, each under the 64 KiB beacon budget", () => {
  const env = fakes();
  const tracker = createTracker(options(env, { batchSize: 1000, flushIntervalMs: 60_000 }));
  for (let i = 0; i < 300; i++) tracker.thumbnailClicked(click(1, { surface: "s".repeat(400) }));
  env.window.dispatchEvent(new Event("pagehide"));
  assert.ok(env.navigator.beacons.length > 1);
  for (const b of env.navigator.beacons) assert.ok(new TextEncoder().encode(b.data).length <= 60_000);
  assert.equal(beaconed(env).length, 300);
});

test("events the browser refuses to beacon stay queued for the next page", () => {
  const env = fakes({ navigator: fakeNavigator({ accept: false }) });
  const tracker = createTracker(options(env, { flushIntervalMs: 60_000 }));
  tracker.thumbnailClicked(click(1));
  env.window.dispatchEvent(new Event("pagehide"));
  assert.equal(createTracker(options(env)).stats().queued, 1);
});

test("while the collector is failing the beacon is a bonus try: the events stay queued", async () => {
  const env = fakes({ fetch: fakeFetch(new TypeError("Failed to fetch")) });
  const tracker = createTracker(options(env, { flushIntervalMs: 1000, baseDelayMs: 60_000 }));
  tracker.thumbnailClicked(click(1));
  await env.clock.advance(1000);
  env.window.dispatchEvent(new Event("pagehide"));
  assert.equal(env.navigator.beacons.length, 1);
  assert.equal(tracker.stats().queued, 1, "kept: the same event_id sent twice is deduplicated downstream");
});

test("offline, no beacon is tried: the events wait in storage", () => {
  const env = fakes({ navigator: fakeNavigator({ onLine: false }) });
  const tracker = createTracker(options(env, { flushIntervalMs: 60_000 }));
  tracker.thumbnailClicked(click(1));
  env.window.dispatchEvent(new Event("pagehide"));
  assert.equal(env.navigator.beacons.length, 0);
  assert.equal(tracker.stats().queued, 1);
});

test("a beacon on hide leaves out the events of a fetch still in flight", async () => {
  let answer;
  const env = fakes({ fetch: fakeFetch(() => new Promise((resolve) => (answer = resolve))) });
  const tracker = createTracker(options(env, { batchSize: 2, flushIntervalMs: 60_000 }));
  tracker.thumbnailClicked(click(1));
  tracker.thumbnailClicked(click(2)); // a full batch: its fetch leaves and waits for an answer
  const third = tracker.thumbnailClicked(click(3));
  await env.clock.advance(0);
  assert.equal(env.fetch.calls.length, 1);
  env.window.dispatchEvent(new Event("pagehide"));
  assert.deepEqual(beaconed(env).map((e) => e.event_id), [third], "the in-flight batch is not sent twice");
  answer(response(202, { accepted: 2, rejected: [] }));
  await env.clock.advance(0);
  assert.equal(tracker.stats().queued, 0);
  assert.equal(tracker.stats().sent, 2);
});

test("visibilitychange to hidden and then pagehide send the kept queue once per hide episode", async () => {
  const env = fakes({ fetch: fakeFetch(new TypeError("Failed to fetch")) });
  const tracker = createTracker(options(env, { flushIntervalMs: 1000, baseDelayMs: 60_000 }));
  tracker.thumbnailClicked(click(1));
  await env.clock.advance(1000); // the collector is failing: a beacon keeps the events queued
  env.document.visibilityState = "hidden";
  env.document.dispatchEvent(new Event("visibilitychange"));
  env.window.dispatchEvent(new Event("pagehide"));
  assert.deepEqual(beaconed(env).map((e) => e.payload.slot), [1], "sent once, not once per event");
  tracker.thumbnailClicked(click(2)); // tracked while hidden: it has had no beacon yet
  env.window.dispatchEvent(new Event("pagehide"));
  assert.deepEqual(beaconed(env).map((e) => e.payload.slot), [1, 2]);
  env.document.visibilityState = "visible";
  env.document.dispatchEvent(new Event("visibilitychange"));
  env.document.visibilityState = "hidden";
  env.document.dispatchEvent(new Event("visibilitychange"));
  assert.deepEqual(beaconed(env).map((e) => e.payload.slot), [1, 2, 1, 2], "a new hide episode tries again");
  assert.equal(tracker.stats().queued, 2);
});
