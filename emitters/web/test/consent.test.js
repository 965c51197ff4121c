import assert from "node:assert/strict";
import { test } from "node:test";

import { createTracker } from "../src/tracker.js";
import { click, fakeFetch, fakes, options } from "./fakes.js";

const granted = { analytics: true, personalization: false, policyVersion: "2026-05" };

test("events queued before any consent call carry none; every event after setConsent carries it", async () => {
  const env = fakes();
  const tracker = createTracker(options(env, { batchSize: 100 }));
  const before = tracker.thumbnailClicked(click(1));
  tracker.setConsent(granted);
  const after = [tracker.thumbnailClicked(click(2)), tracker.videoPaused({ video_id: "v", position_ms: 7 })];
  assert.equal(await tracker.flush(), true);
  const sent = Object.fromEntries(env.fetch.events().map((e) => [e.event_id, e]));
  assert.equal("consent" in sent[before], false, "queued before the answer: the pipeline's default decides");
  for (const id of after) {
    assert.deepEqual(sent[id].consent, { analytics: true, personalization: false, policy_version: "2026-05" });
  }
});

test("the consent is kept in storage: the next page's tracker stamps it too", async () => {
  const env = fakes();
  const first = createTracker(options(env));
  first.setConsent({ analytics: true, personalization: true });
  first.stop();
  const second = createTracker(options(env));
  second.thumbnailClicked(click(1));
  assert.equal(await second.flush(), true);
  const [event] = env.fetch.events();
  assert.deepEqual(event.consent, { analytics: true, personalization: true, policy_version: null });
});

test("an event whose analytics consent is denied is still sent, stamped denied", async () => {
  const env = fakes();
  const tracker = createTracker(options(env));
  tracker.setConsent({ analytics: false, personalization: false, policyVersion: "2026-05" });
  tracker.thumbnailClicked(click(1));
  assert.equal(await tracker.flush(), true);
  const [event] = env.fetch.events();
  assert.deepEqual(event.consent, { analytics: false, personalization: false, policy_version: "2026-05" });
  assert.equal(tracker.stats().sent, 1);
});

test("setConsent(null) forgets the answer, for this page and the next", async () => {
  const env = fakes({ fetch: fakeFetch() });
  const tracker = createTracker(options(env));
  tracker.setConsent(granted);
  tracker.setConsent(null);
  tracker.thumbnailClicked(click(1));
  tracker.stop();
  const next = createTracker(options(env));
  next.thumbnailClicked(click(2));
  assert.equal(await next.flush(), true);
  assert.deepEqual(
    env.fetch.events().map((e) => "consent" in e),
    [false, false],
  );
});

test("a consent that is not two booleans and an optional policy version is a TypeError at the call", () => {
  const tracker = createTracker(options(fakes()));
  for (const bad of [
    "granted",
    { analytics: "yes", personalization: true },
    { analytics: true },
    { analytics: true, personalization: true, policyVersion: 2026 },
    { analytics: true, personalization: true, policyversion: "2026-05" },
  ]) {
    assert.throws(() => tracker.setConsent(bad), { name: "TypeError", message: /^consent: / }, JSON.stringify(bad));
  }
  tracker.thumbnailClicked(click(1));
  assert.equal(tracker.stats().queued, 1);
});
