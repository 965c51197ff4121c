// tracker.shown: one ThumbnailsShown (contract 1.3) per rendered row, with an impression id per
// thumbnail that the page passes on to thumbnailClicked, so a click joins to what was shown.
import assert from "node:assert/strict";
import { test } from "node:test";

import { createTracker } from "../src/tracker.js";
import { fakes, options } from "./fakes.js";

const row = (extra = {}) => ({
  requestId: "req-1",
  surface: "home",
  items: [
    { videoId: "v-a", slot: 1, rank: 3 },
    { videoId: "v-b", slot: 2, rank: 2, row: 1, col: 2, visibleMs: 1200 },
    { videoId: "v-c", slot: 3, rank: 1 },
  ],
  ...extra,
});

const ids = () => {
  let n = 0;
  return () => `00000000-0000-4000-8000-${String(++n).padStart(12, "0")}`;
};

test("shown queues one ThumbnailsShown with an impression id per thumbnail and returns them", async () => {
  const env = fakes();
  const tracker = createTracker(options(env, { randomUUID: ids() }));
  const { eventId, impressionIds } = tracker.shown(row());
  assert.equal(impressionIds.length, 3);
  assert.equal(new Set(impressionIds).size, 3, "unique within the row");
  assert.equal(await tracker.flush(), true);
  const [event] = env.fetch.events();
  assert.equal(event.event_id, eventId);
  assert.equal(event.event_type, "ThumbnailsShown");
  assert.equal(event.schema_version, "1.3");
  assert.deepEqual(event.payload, {
    request_id: "req-1",
    surface: "home",
    items: [
      { video_id: "v-a", impression_id: impressionIds[0], slot: 1, rank: 3 },
      { video_id: "v-b", impression_id: impressionIds[1], slot: 2, rank: 2, row: 1, col: 2, visible_ms: 1200 },
      { video_id: "v-c", impression_id: impressionIds[2], slot: 3, rank: 1 },
    ],
  });
});

test("a click on a shown thumbnail carries its impression id and the row's request id", async () => {
  const env = fakes();
  const tracker = createTracker(options(env));
  const shown = row();
  const { impressionIds } = tracker.shown(shown);
  const item = shown.items[1];
  tracker.thumbnailClicked({
    video_id: item.videoId,
    impression_id: impressionIds[1],
    surface: shown.surface,
    slot: item.slot,
    rank: item.rank,
    recommendation_request_id: shown.requestId,
  });
  assert.equal(await tracker.flush(), true);
  const [rendered, click] = env.fetch.events();
  assert.equal(click.payload.impression_id, rendered.payload.items[1].impression_id);
  assert.equal(click.payload.recommendation_request_id, rendered.payload.request_id);
});

test("model version, experiments, exploration and the page's own impression ids are kept", async () => {
  const env = fakes();
  const tracker = createTracker(options(env));
  const given = row({
    modelVersion: "ranker-7",
    experimentIds: ["exp-a"],
    exploration: { method: "swap_first", swappedRank: 3, propensity: 0.05 },
  });
  given.items[0].impressionId = "imp-from-server";
  const { impressionIds } = tracker.shown(given);
  assert.equal(impressionIds[0], "imp-from-server");
  assert.equal(await tracker.flush(), true);
  const { payload } = env.fetch.events()[0];
  assert.equal(payload.model_version, "ranker-7");
  assert.deepEqual(payload.experiment_ids, ["exp-a"]);
  assert.deepEqual(payload.exploration, { method: "swap_first", swapped_rank: 3, propensity: 0.05 });
  assert.equal(payload.items[0].impression_id, "imp-from-server");
});

test("track() takes a ThumbnailsShown in the contract's own field names", async () => {
  const env = fakes();
  const tracker = createTracker(options(env));
  const payload = {
    request_id: "r",
    surface: "search",
    items: [{ video_id: "v", impression_id: "imp-1", slot: 1, rank: 1 }],
  };
  tracker.track("ThumbnailsShown", payload);
  assert.equal(await tracker.flush(), true);
  assert.deepEqual(env.fetch.events()[0].payload, payload);
});

for (const [name, change, message] of [
  ["a missing slot", (r) => delete r.items[1].slot, /ThumbnailsShown: items\[1\]\.slot is required/],
  ["a slot that is a string", (r) => (r.items[0].slot = "1"), /items\[0\]\.slot must be a number/],
  ["a fractional rank", (r) => (r.items[2].rank = 1.5), /items\[2\]\.rank must be an integer/],
  ["a misspelt item field", (r) => (r.items[0].video = "x"), /items\[0\]: unknown field video/],
  ["items that are no list", (r) => (r.items = { videoId: "v" }), /items must be an array/],
  ["an item that is no object", (r) => r.items.push("v-d"), /items\[3\] must be an object/],
  ["an exploration without propensity", (r) => (r.exploration = { method: "swap_first", swappedRank: 2 }), /exploration\.propensity is required/],
  ["no request id", (r) => delete r.requestId, /ThumbnailsShown: request_id is required/],
]) {
  test(`${name} is a TypeError at the call and nothing is queued`, () => {
    const env = fakes();
    const tracker = createTracker(options(env));
    const given = row();
    change(given);
    assert.throws(() => tracker.shown(given), (e) => e instanceof TypeError && message.test(e.message));
    assert.equal(tracker.stats().queued, 0);
  });
}

test("under requireConsent a row shown before consent is dropped and counted, like any event", async () => {
  const env = fakes();
  const tracker = createTracker(options(env, { userId: undefined, requireConsent: true }));
  const { eventId, impressionIds } = tracker.shown(row());
  assert.equal(eventId, null, "not queued");
  assert.equal(impressionIds.length, 3, "the page still gets ids to hand to the (equally dropped) click");
  assert.equal(await tracker.flush(), true);
  assert.equal(env.fetch.calls.length, 0);
  assert.deepEqual([...env.storage.map.keys()], []);
  assert.equal(tracker.stats().droppedNoConsent, 1);
  tracker.setConsent({ analytics: true, personalization: true });
  assert.ok(tracker.shown(row()).eventId);
  assert.equal(await tracker.flush(), true);
  assert.equal(env.fetch.events().length, 1);
});
