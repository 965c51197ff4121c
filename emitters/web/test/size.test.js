import assert from "node:assert/strict";
import { test } from "node:test";

import { BUDGET_BYTES, bundle } from "../scripts/build.js";

test("the minified bundle stays under 5 KB gzipped", async () => {
  const { gzipped, minified } = await bundle();
  console.log(`tracker bundle: ${minified} bytes minified, ${gzipped} bytes gzipped`);
  assert.ok(gzipped < BUDGET_BYTES, `${gzipped} bytes gzipped, budget ${BUDGET_BYTES}`);
});

test("the bundle is an ES module exporting createTracker and SCHEMA_VERSION", async () => {
  const { code } = await bundle();
  const url = `data:text/javascript;base64,${Buffer.from(code).toString("base64")}`;
  const mod = await import(url);
  assert.equal(typeof mod.createTracker, "function");
  assert.match(mod.SCHEMA_VERSION, /^\d+\.\d+$/);
});
