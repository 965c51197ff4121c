// Builds the minified ES module bundle (dist/tracker.min.js) and prints its size, raw and gzipped:
// the figure docs/web-tracker.md quotes. test/size.test.js keeps it under 5 KB (5120 bytes).
// Usage: node scripts/build.js [--out DIR]
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

import { build } from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
export const ENTRY = join(here, "..", "src", "tracker.js");
/** The budget of the issue: under 5 KB minified and gzipped. */
export const BUDGET_BYTES = 5120;

/** Bundle and minify the tracker; returns the code and its sizes (gzip level 9, as `gzip -9`). */
export async function bundle() {
  const result = await build({
    entryPoints: [ENTRY],
    bundle: true,
    minify: true,
    format: "esm",
    target: "es2020",
    write: false,
    legalComments: "none",
  });
  const code = result.outputFiles[0].contents;
  return { code, minified: code.length, gzipped: gzipSync(code, { level: 9 }).length };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const at = process.argv.indexOf("--out");
  const out = resolve(at > 0 ? process.argv[at + 1] : join(here, "..", "dist"));
  const { code, minified, gzipped } = await bundle();
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, "tracker.min.js"), code);
  console.log(`${join(out, "tracker.min.js")}: ${minified} bytes minified, ${gzipped} bytes gzipped (budget ${BUDGET_BYTES})`);
}
