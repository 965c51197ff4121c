import assert from "node:assert/strict";
import { test } from "node:test";

import { createTracker } from "../src/tracker.js";
import { SCHEMA_VERSION } from "../src/contract.js";
import { click, fakes, options } from "./fakes.js";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

test("a thumbnail click is sent in the contract's plain JSON shape", async () => {
  const env = fakes();
  const tracker = createTracker(options(env, { deviceId: "d-1" }));
  const id = tracker.thumbnailClicked(click(3, { recommendation_request_id: "req-7" }));
  assert.match(id, UUID);
  assert.equal(await tracker.flush(), true);
  const [call] = env.fetch.calls;
  assert.equal(call.url, "https://collector.test/v1/events");
  assert.equal(call.init.method, "POST");
  assert.equal(call.init.headers["Content-Type"], "application/json");
  assert.equal(call.init.headers["X-Write-Key"], "local-write-key");
  assert.deepEqual(call.body, {
    events: [
      {
        event_id: id,
        event_type: "ThumbnailClicked",
        schema_version: SCHEMA_VERSION,
        event_ts: env.clock.now(),
        sent_at: env.clock.now(),
        user_id: "u-1",
        device_id: "d-1",
        client: { platform: "web", app_version: "9.9.9", locale: "en-GB" },
        payload: {
          video_id: "v-3",
          impression_id: "imp-1",
          surface: "home",
          slot: 3,
          rank: 13,
          recommendation_request_id: "req-7",
        },
      },
    ],
  });
});

test("a pause is sent with whole milliseconds and without the optional fields it was not given", async () => {
  const env = fakes();
  const tracker = createTracker(options(env));
  tracker.videoPaused({ video_id: "v-9", position_ms: 1234.6, playback_rate: 1.5 });
  await tracker.flush();
  const [event] = env.fetch.events();
  assert.equal(event.event_type, "VideoPaused");
  assert.deepEqual(event.payload, { video_id: "v-9", position_ms: 1235, playback_rate: 1.5 });
});

test("event_ts is when it happened and sent_at is re-stamped at each send attempt", async () => {
  const env = fakes({ fetch: undefined });
  const { fakeFetch } = await import("./fakes.js");
  env.fetch = fakeFetch(new TypeError("Failed to fetch"));
  const tracker = createTracker(options(env, { flushIntervalMs: 1000, baseDelayMs: 1000 }));
  const happened = env.clock.now();
  tracker.videoPaused({ video_id: "v-1", position_ms: 5 });
  await env.clock.advance(1000); // first attempt: network error
  await env.clock.advance(60_000); // the retry
  const [first, second] = env.fetch.calls;
  assert.equal(first.body.events[0].event_ts, happened);
  assert.equal(second.body.events[0].event_ts, happened);
  assert.equal(first.body.events[0].sent_at, happened + 1000);
  assert.ok(second.body.events[0].sent_at > first.body.events[0].sent_at);
  assert.equal(first.body.events[0].event_id, second.body.events[0].event_id, "a retry keeps the event_id");
});

test("without a device id one is made once and kept in storage; the user id defaults to it", async () => {
  const env = fakes();
  const opts = options(env, { userId: undefined });
  createTracker(opts).videoPaused({ video_id: "v", position_ms: 1 });
  createTracker(opts).videoPaused({ video_id: "v", position_ms: 2 });
  const t = createTracker(opts);
  await t.flush();
  const [a, b] = env.fetch.events();
  assert.match(a.device_id, UUID);
  assert.equal(a.device_id, b.device_id);
  assert.equal(a.user_id, a.device_id);
});

test("bad input is a clear error at the call and queues nothing", () => {
  const env = fakes();
  const tracker = createTracker(options(env));
  assert.throws(() => tracker.videoPaused({ video_id: "v" }), /VideoPaused: position_ms is required/);
  assert.throws(() => tracker.videoPaused({ video_id: "v", position_ms: "12" }), /position_ms must be a number/);
  assert.throws(() => tracker.thumbnailClicked({ ...click(1), slot: 1.5 }), /slot must be an integer/);
  assert.throws(() => tracker.thumbnailClicked({ ...click(1), videoId: "x" }), /unknown field videoId/);
  assert.throws(() => tracker.track("Nope", {}), /unknown event type Nope/);
  assert.throws(
    () => tracker.videoPaused({ video_id: "x".repeat(40_000), position_ms: 1 }),
    /over the collector's 32768-byte limit/,
  );
  assert.equal(tracker.stats().queued, 0);
  assert.throws(() => createTracker({ writeKey: "k" }), /endpoint/);
});
