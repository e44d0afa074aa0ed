// How a commit costs on opfs-sahpool, apart from the engine: 100,000 todos in pages of 5,000 into
// the example's table, a commit per page against fewer commits and other settings, interleaved in
// one run, with the pool's reads, writes and flushes counted and timed.
//
//   node bench/browser/opfs.mjs [--rounds 2] [--persistent] [--variants default,one-transaction,...]
//                               [--local-writes N]
//
// --persistent: a browser profile on disk instead of Playwright's incognito context (whose OPFS
// files are kept by the browser process: see bench.mjs). --local-writes N: instead of the pages,
// N local writes of one todo each, as the engine makes them (a transaction each: the client
// transaction's number, the insert and its outbox trigger, the count of what it wrote), on the
// example's whole client schema. Prints one line per variant and round.
import { createReadStream, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { dirname, extname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { chromium } from "playwright-core";
import { clientMigrations } from "../../example_project/web/src/db/generated/client-migrations.ts";
import { writtenSince } from "../../runtime/src/client/outbox.ts";
import { NEXT_TX } from "../../runtime/src/client/state.ts";

const VARIANTS = {
  default: {},
  "four-pages-a-commit": { pagesPerCommit: 4 },
  "one-transaction": { pagesPerCommit: 1000 },
  "synchronous-normal": { pragmas: ["PRAGMA synchronous=NORMAL"] },
  "synchronous-off": { pragmas: ["PRAGMA synchronous=OFF"] },
  "journal-persist": { pragmas: ["PRAGMA journal_mode=PERSIST"] },
  "journal-truncate": { pragmas: ["PRAGMA journal_mode=TRUNCATE"] },
  "locking-exclusive": { pragmas: ["PRAGMA locking_mode=EXCLUSIVE"] },
  "wal-exclusive": { pragmas: ["PRAGMA locking_mode=EXCLUSIVE", "PRAGMA journal_mode=WAL"] },
  "page-size-16k": { pragmas: ["PRAGMA page_size=16384"] },
  "page-size-64k": { pragmas: ["PRAGMA page_size=65536"] },
  "cache-16mb": { pragmas: ["PRAGMA cache_size=-16000"] },
};

const { values } = parseArgs({
  options: {
    rounds: { type: "string", default: "2" },
    persistent: { type: "boolean", default: false },
    variants: { type: "string", default: Object.keys(VARIANTS).join(",") },
    "local-writes": { type: "string", default: "0" },
  },
});
const here = dirname(fileURLToPath(import.meta.url));
const sqlite = join(here, "../../node_modules/@sqlite.org/sqlite-wasm/dist");
const types = { ".html": "text/html", ".mjs": "text/javascript", ".js": "text/javascript", ".wasm": "application/wasm" };
const server = createServer((request, response) => {
  const path = new URL(request.url, "http://x").pathname;
  const file = path === "/" ? join(here, "opfs/index.html") : path.startsWith("/sqlite/") ? join(sqlite, path.slice(8)) : join(here, "opfs", path.slice(1));
  const stream = createReadStream(file);
  stream.on("error", () => response.writeHead(404).end());
  stream.on("open", () => {
    response.writeHead(200, { "content-type": types[extname(file)] ?? "application/octet-stream" });
    stream.pipe(response);
  });
});
await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
const origin = `http://127.0.0.1:${server.address().port}`;

const options = { executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium", headless: true, args: ["--no-sandbox"] };
const profile = values.persistent ? mkdtempSync(join(tmpdir(), "drizzlesync-opfs-profile-")) : null;
const context = profile ? await chromium.launchPersistentContext(profile, options) : await (await chromium.launch(options)).newContext();
try {
  const page = context.pages()[0] ?? (await context.newPage());
  await page.goto(origin);
  const variants = values.variants.split(",").map((name) => ({ name, ...VARIANTS[name] }));
  const localWrites = Number(values["local-writes"]);
  // The engine's own statements for a local write's bookkeeping, and the example's client schema.
  const local = { writes: localWrites, schema: clientMigrations.flatMap((step) => step.statements), nextTx: NEXT_TX.sql, written: writtenSince(0).sql };
  const results = await page.evaluate(
    async ({ variants, rounds, local }) => {
      const worker = new Worker("/worker.mjs", { type: "module" });
      await new Promise((resolve, reject) => {
        worker.onmessage = ({ data }) => data === "ready" && resolve();
        worker.onerror = (event) => reject(new Error(event.message));
      });
      return new Promise((resolve) => {
        worker.onmessage = ({ data }) => resolve(data);
        worker.postMessage({ variants, rounds, local });
      });
    },
    { variants, rounds: Number(values.rounds), local },
  );
  const where = `opfs-sahpool in ${profile ? "a profile on disk" : "an incognito context"}`;
  console.log(localWrites > 0 ? `${where}, ${localWrites} local writes of one todo` : `${where}, 100,000 rows in pages of 5,000`);
  for (const r of results) {
    const ms = (value) => `${Math.round(value)} ms`;
    if (localWrites > 0) {
      console.log(
        `round ${r.round} ${r.name.padEnd(20)} ${(r.totalMs / localWrites).toFixed(2).padStart(6)} ms a write (${ms(r.totalMs)}); ` +
          `${(r.writes / localWrites).toFixed(1)} handle writes a write (${ms(r.writeMs)}), ${(r.flushes / localWrites).toFixed(1)} flushes (${ms(r.flushMs)}); ` +
          `journal ${r.journal}, ${r.count} outbox entries`,
      );
      continue;
    }
    console.log(
      `round ${r.round} ${r.name.padEnd(20)} ${ms(r.totalMs).padStart(8)} (inserts ${ms(r.insertMs)}, commits ${ms(r.commitMs)}); ` +
        `${r.writes} writes ${ms(r.writeMs)} (${(r.writeBytes / 1e6).toFixed(1)} MB), ${r.flushes} flushes ${ms(r.flushMs)}, ` +
        `${r.reads} reads ${ms(r.readMs)}; journal ${r.journal}, page ${r.pageSize} B, ${r.count} rows`,
    );
  }
} finally {
  await context.close();
  await context.browser()?.close();
  server.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
}
