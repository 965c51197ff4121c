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
