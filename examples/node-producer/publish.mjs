#!/usr/bin/env node
// Publishes one VideoPaused and one ThumbnailClicked event to the clickstream topic from Node.js,
// with the official Pub/Sub client and avsc, following the README's "Publishing from another
// language". What a direct Pub/Sub producer must get right, each marked below:
//   1. Avro BINARY against the newest revision in schemas/avro (the one source of the contract);
//      schema_version is that file's version (e.g. "1.3"), not a Pub/Sub schema revision id.
//   2. The payload union needs the namespaced branch name: {"io.clickstream.v1.VideoPaused": {...}}.
//   3. Timestamps are milliseconds since the epoch (Date.now()), never seconds.
//   4. Attributes event_id, event_type, schema_version and event_ts (ms, as a string) on every message.
//   5. Pub/Sub fails a whole batch when one message in it does not fit the topic's schema: the
//      messages of a failed batch are re-sent alone, so only the bad one is refused.
//
// Usage: node publish.mjs [--project P] [--topic T] [--user-id U] [--device-id D]
//                         [--video-id V] [--schemas-dir DIR] [--with-bad-message]
// Environment: CLICKSTREAM_PROJECT, CLICKSTREAM_TOPIC, CLICKSTREAM_SCHEMAS_DIR; PUBSUB_EMULATOR_HOST
// points the client at the emulator (no credentials needed there).
// Output: one JSON line per message ({event_id, event_type, outcome, message_id | error}).
// Exit status: 0 when every message was published, 2 when Pub/Sub refused any, 1 on bad usage.

import { randomUUID } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

import { PubSub } from "@google-cloud/pubsub";
import avro from "avsc";

const HERE = dirname(fileURLToPath(import.meta.url));
const SCHEMA_FILE = /^clickstream_event\.v(\d+)\.(\d+)\.avsc$/;

/** The newest contract revision in <schemas>/avro: {version: "1.3", type, namespace}. (1) */
export function loadContract(schemasDir) {
  const dir = join(schemasDir, "avro");
  const revisions = readdirSync(dir)
    .map((name) => ({ name, match: SCHEMA_FILE.exec(name) }))
    .filter(({ match }) => match)
    .map(({ name, match }) => ({ name, major: Number(match[1]), minor: Number(match[2]) }))
    .sort((a, b) => a.major - b.major || a.minor - b.minor);
  if (revisions.length === 0) throw new Error(`no clickstream_event.v*.avsc in ${dir}`);
  const newest = revisions[revisions.length - 1];
  const schema = JSON.parse(readFileSync(join(dir, newest.name), "utf8"));
  // wrapUnions "auto": ["null", T] fields take a plain value or null; the payload union of its
  // records is wrapped, keyed by the record's full name. (2)
  const type = avro.Type.forSchema(schema, { wrapUnions: "auto" });
  return { version: `${newest.major}.${newest.minor}`, type, namespace: schema.namespace };
}

/** A contract record: payload wrapped in its namespaced branch, times in ms. (2, 3) */
export function makeEvent(contract, eventType, payload, ids) {
  const now = Date.now(); // milliseconds since the epoch (3)
  return {
    event_id: randomUUID(),
    event_type: eventType,
    schema_version: contract.version,
    event_ts: now,
    sent_at: now,
    user_id: ids.userId,
    device_id: ids.deviceId,
    client: {
      platform: "web",
      app_version: "node-producer-1.0.0",
      user_agent: `node/${process.versions.node}`,
      locale: "en-GB",
    },
    payload: { [`${contract.namespace}.${eventType}`]: payload },
  };
}

/** Avro BINARY bytes and the four attributes, or a clear error naming the bad fields. (1, 4) */
export function encode(contract, record) {
  const bad = [];
  if (!contract.type.isValid(record, { errorHook: (path, value) => bad.push(`${path.join(".")}=${JSON.stringify(value)}`) })) {
    throw new Error(`event ${record.event_id} does not fit contract ${contract.version}: ${bad.join("; ")}`);
  }
  return {
    data: contract.type.toBuffer(record),
    attributes: {
      event_id: record.event_id,
      event_type: record.event_type,
      schema_version: record.schema_version,
      event_ts: String(record.event_ts), // ms, as a string: attributes are strings
    },
  };
}

/**
 * Publish every message; the ones whose batch failed are re-sent alone, so a bad message cannot
 * take its good neighbours down with it. (5) Returns one outcome per message, in order.
 */
export async function publishAll(pubsub, topicName, messages) {
  // Batched like a real producer: these messages travel in one request.
  const batched = pubsub.topic(topicName, { batching: { maxMessages: 100, maxMilliseconds: 100 } });
  const alone = pubsub.topic(topicName, { batching: { maxMessages: 1 } });
  const first = await Promise.allSettled(messages.map((m) => batched.publishMessage(m)));
  const outcomes = [];
  for (const [i, result] of first.entries()) {
    const { event_id: eventId, event_type: eventType } = messages[i].attributes;
    if (result.status === "fulfilled") {
      outcomes.push({ event_id: eventId, event_type: eventType, outcome: "published", message_id: result.value });
      continue;
    }
    try {
      const messageId = await alone.publishMessage(messages[i]);
      outcomes.push({ event_id: eventId, event_type: eventType, outcome: "published", message_id: messageId, resent_alone: true });
    } catch (error) {
      outcomes.push({ event_id: eventId, event_type: eventType, outcome: "rejected", error: String(error.message || error) });
    }
  }
  await Promise.all([batched.flush(), alone.flush()]);
  return outcomes;
}

async function main() {
  const { values } = parseArgs({
    options: {
      project: { type: "string", default: process.env.CLICKSTREAM_PROJECT || "clickstream-local" },
      topic: { type: "string", default: process.env.CLICKSTREAM_TOPIC || "clickstream-events" },
      "schemas-dir": { type: "string", default: process.env.CLICKSTREAM_SCHEMAS_DIR || resolve(HERE, "../../schemas") },
      "user-id": { type: "string", default: "node-user-1" },
      "device-id": { type: "string", default: "node-device-1" },
      "video-id": { type: "string", default: "vid-000001" },
      // Demonstrates (5): one message that is not the contract, in the same batch as the events.
      "with-bad-message": { type: "boolean", default: false },
    },
  });
  const contract = loadContract(values["schemas-dir"]);
  const ids = { userId: values["user-id"], deviceId: values["device-id"] };
  const events = [
    makeEvent(contract, "VideoPaused", {
      video_id: values["video-id"],
      position_ms: 61_000,
      video_duration_ms: 300_000,
      playback_rate: 1.0,
    }, ids),
    makeEvent(contract, "ThumbnailClicked", {
      video_id: values["video-id"],
      impression_id: randomUUID(),
      surface: "home",
      slot: 3,
      rank: 5,
      recommendation_request_id: null,
      thumbnail_variant: null,
    }, ids),
  ];
  const messages = events.map((event) => encode(contract, event));
  if (values["with-bad-message"]) {
    const id = randomUUID();
    const attributes = { event_id: id, event_type: "VideoPaused", schema_version: contract.version, event_ts: String(Date.now()) };
    messages.splice(1, 0, { data: Buffer.from("this is not Avro BINARY"), attributes });
  }
  const pubsub = new PubSub({ projectId: values.project });
  try {
    const outcomes = await publishAll(pubsub, values.topic, messages);
    for (const outcome of outcomes) console.log(JSON.stringify(outcome));
    return outcomes.some((o) => o.outcome !== "published") ? 2 : 0;
  } finally {
    await pubsub.close();
  }
}

if (resolve(process.argv[1] || "") === fileURLToPath(import.meta.url)) {
  main().then(
    (code) => process.exit(code),
    (error) => {
      console.error(`clickstream-node-producer: ${error.message || error}`);
      process.exit(1);
    },
  );
}
