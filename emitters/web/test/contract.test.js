import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { render, newestRevision, TARGET } from "../scripts/generate-contract.js";
import { SCHEMA_VERSION, PAYLOADS } from "../src/contract.js";

test("the generated contract module matches schemas/avro (run `npm run generate` when it does not)", () => {
  assert.equal(readFileSync(TARGET, "utf8"), render());
});

test("schema_version is the newest revision in schemas/avro", () => {
  assert.equal(SCHEMA_VERSION, newestRevision().version);
});

test("every payload type of the contract has a tracker method's field list", () => {
  const { schema } = newestRevision();
  const names = schema.fields.find((f) => f.name === "payload").type.map((r) => r.name);
  assert.deepEqual(Object.keys(PAYLOADS), names);
});

test("the collector's limits in src/contract.js are the defaults in collector/config.py", async () => {
  const contract = await import("../src/contract.js");
  const generator = await import("../scripts/generate-contract.js");
  assert.equal(typeof generator.collectorLimits, "function", "the generator reads collector/config.py");
  const limits = generator.collectorLimits();
  assert.deepEqual(limits, { MAX_EVENT_BYTES: 32 * 1024, MAX_REQUEST_BYTES: 512 * 1024, MAX_EVENTS: 500 });
  for (const [name, value] of Object.entries(limits)) assert.equal(contract[name], value, name);
});
