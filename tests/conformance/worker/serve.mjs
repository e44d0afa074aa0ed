// Serves tests/conformance/worker/entry.ts (or the entry given as the first argument: the demo's
// --worker mode serves example_project/worker/src/dev.ts) under workerd through Miniflare, bundled
// the way Wrangler bundles a Worker (esbuild, the workerd export conditions, nodejs_compat).
//
// Reads one JSON line per configuration on stdin, `{"database": "postgres://…", "config": {…}}`,
// (re)starts the Worker with it and answers the URL it listens on; exits when stdin closes.
// One process serves a whole test session: a test's own database is one line away.
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

import { build } from "esbuild";
import { Miniflare, convertV4MiniflareOptions } from "miniflare";

export const COMPATIBILITY_DATE = "2026-11-01";

const here = fileURLToPath(new URL(".", import.meta.url));

/** The entry bundled as one ES module; drizzlesync/worker from source, so no stale dist/ is tested. */
export async function bundle(entry = `${here}entry.ts`) {
  const result = await build({
    entryPoints: [entry],
    bundle: true,
    write: false,
    format: "esm",
    platform: "neutral",
    target: "es2022",
    conditions: ["workerd", "worker", "browser"],
    mainFields: ["module", "main"],
    external: ["cloudflare:*", "node:*"],
    alias: { "drizzlesync/worker": `${here}../../../runtime/src/worker/index.ts` },
    logLevel: "error",
  });
  return result.outputFiles[0].text;
}

/** Miniflare's options for one configuration (its version 5, which Wrangler pins, still reads version 4's). */
export function options(script, { database, config }) {
  return convertV4MiniflareOptions({
    modules: true,
    script,
    compatibilityDate: COMPATIBILITY_DATE,
    compatibilityFlags: ["nodejs_compat"],
    // Miniflare wants a password in the URL even where Postgres trusts local connections.
    hyperdrives: { HYPERDRIVE: database },
    bindings: { CONFIG: config },
    host: "127.0.0.1",
    port: 0,
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const script = await bundle(process.argv[2]);
  let miniflare;
  for await (const line of createInterface({ input: process.stdin })) {
    const wanted = options(script, JSON.parse(line));
    if (miniflare === undefined) {
      miniflare = new Miniflare(wanted);
    } else {
      await miniflare.setOptions(wanted);
    }
    const url = await miniflare.ready;
    process.stdout.write(`${url.origin}\n`);
  }
  await miniflare?.dispose();
}
