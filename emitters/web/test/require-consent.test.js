// requireConsent (issue 13, ePrivacy Art. 5(3)): before consent, and while analytics is denied, the
// tracker stores no identifier on the device and sends nothing; the stored answer itself is the one
// strictly necessary record it keeps.
import assert from "node:assert/strict";
import { test } from "node:test";

import { createTracker } from "../src/tracker.js";
import { click, fakes, options } from "./fakes.js";

const granted = { analytics: true, personalization: false, policyVersion: "2026-05" };
const denied = { analytics: false, personalization: false, policyVersion: "2026-05" };
const anonymous = (env, extra = {}) => options(env, { userId: undefined, requireConsent: true, ...extra });

test("without consent nothing is stored on the device or sent; the dropped calls are counted", async () => {
  const env = fakes();
  const tracker = createTracker(anonymous(env, { batchSize: 1 }));
  assert.equal(tracker.thumbnailClicked(click(1)), null, "not queued: no event_id");
  tracker.videoPaused({ video_id: "v", position_ms: 7 });
  await env.clock.advance(60_000);
  assert.equal(await tracker.flush(), true);
  env.document.visibilityState = "hidden";
  env.document.dispatchEvent(new Event("visibilitychange"));
  env.window.dispatchEvent(new Event("pagehide"));
  assert.deepEqual([...env.storage.map.keys()], [], "no device id, no queue");
  assert.equal(env.fetch.calls.length, 0);
  assert.equal(env.navigator.beacons.length, 0);
  assert.equal(tracker.stats().droppedNoConsent, 2);
  assert.equal(tracker.stats().queued, 0);
});

test("without consent a malformed call is still a TypeError at the call", () => {
  const tracker = createTracker(anonymous(fakes()));
  assert.throws(() => tracker.thumbnailClicked({ video_id: "v" }), TypeError);
  assert.equal(tracker.stats().droppedNoConsent, 0);
});

test("denied analytics under requireConsent: only the answer is stored, the event is dropped", async () => {
  const env = fakes();
  const tracker = createTracker(anonymous(env));
  tracker.setConsent(denied);
  tracker.thumbnailClicked(click(1));
  assert.equal(await tracker.flush(), true);
  assert.deepEqual([...env.storage.map.keys()], ["clickstream:consent"]);
  assert.equal(env.fetch.calls.length, 0);
  assert.equal(tracker.stats().droppedNoConsent, 1);
});

test("once analytics is granted the device id is made and events flow, stamped with the consent", async () => {
  const env = fakes();
  const tracker = createTracker(anonymous(env));
  tracker.thumbnailClicked(click(1)); // dropped
  tracker.setConsent(granted);
  const deviceId = env.storage.getItem("clickstream:device");
  assert.ok(deviceId, "the device id is stored once consent is given");
  const id = tracker.thumbnailClicked(click(2));
  assert.equal(await tracker.flush(), true);
  const [event] = env.fetch.events();
  assert.equal(event.event_id, id);
  assert.equal(event.device_id, deviceId);
  assert.equal(event.user_id, deviceId, "an anonymous viewer: the user id is the device id");
  assert.deepEqual(event.consent, { analytics: true, personalization: false, policy_version: "2026-05" });
  assert.equal(tracker.stats().droppedNoConsent, 1);
});

test("a stored grant lets the next page's tracker work at once", async () => {
  const env = fakes();
  createTracker(anonymous(env)).setConsent(granted);
  const next = createTracker(anonymous(env));
  next.thumbnailClicked(click(1));
  assert.equal(await next.flush(), true);
  assert.equal(env.fetch.events().length, 1);
  assert.equal(env.fetch.events()[0].device_id, env.storage.getItem("clickstream:device"));
});

test("withdrawing analytics clears the stored queue and device id, and later calls are dropped", async () => {
  const env = fakes();
  const tracker = createTracker(anonymous(env, { batchSize: 100 }));
  tracker.setConsent(granted);
  tracker.thumbnailClicked(click(1));
  assert.ok(env.storage.getItem("clickstream:queue"));
  tracker.setConsent(denied);
  assert.deepEqual([...env.storage.map.keys()], ["clickstream:consent"]);
  assert.equal(tracker.stats().queued, 0);
  tracker.thumbnailClicked(click(2));
  assert.equal(await tracker.flush(), true);
  await env.clock.advance(60_000);
  assert.equal(env.fetch.calls.length, 0, "the queued event is not sent after the withdrawal");
  assert.deepEqual([...env.storage.map.keys()], ["clickstream:consent"]);
  assert.equal(tracker.stats().droppedNoConsent, 1);
  // setConsent(null) forgets the answer: no consent again, so nothing but the (null) answer stays.
  tracker.setConsent(granted);
  tracker.setConsent(null);
  assert.deepEqual([...env.storage.map.keys()], ["clickstream:consent"]);
});

test("a tracker under requireConsent created where ids are stored but analytics is denied clears them", () => {
  const env = fakes();
  env.storage.setItem("clickstream:device", "old-device");
  env.storage.setItem("clickstream:queue", JSON.stringify([{ event_id: "e-1" }]));
  env.storage.setItem("clickstream:consent", JSON.stringify(denied));
  const tracker = createTracker(anonymous(env));
  assert.deepEqual([...env.storage.map.keys()], ["clickstream:consent"]);
  assert.equal(tracker.stats().queued, 0);
});

test("without requireConsent: the device id is stored at creation and denied events are still sent", async () => {
  const env = fakes();
  const tracker = createTracker(options(env, { userId: undefined }));
  assert.ok(env.storage.getItem("clickstream:device"));
  tracker.setConsent(denied);
  tracker.thumbnailClicked(click(1));
  assert.equal(await tracker.flush(), true);
  assert.equal(env.fetch.events().length, 1);
  assert.equal(tracker.stats().droppedNoConsent, 0);
});
