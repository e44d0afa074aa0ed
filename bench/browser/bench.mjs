// The browser benchmark's Chromium side (bench/browser/run.py starts the host and seeds Postgres).
// Usage: node bench.mjs <origin> <config JSON>; prints one JSON line of measurements.
//
// 1. Bootstrap: the bench user signs in to the built PWA and the engine pulls every row of their
//    teams into OPFS (from the click to the first completed sync). The app shows an empty team, so
//    React renders none of the rows: this is the engine, not the DOM.
// 2. Raw: on the same origin, a Worker of the same build (the adapter's worker, sqlite-wasm on
//    opfs-sahpool) opens the same database file and inserts the same rows into a table made by
//    todos' own DDL (same columns, primary key and team index; no outbox triggers), in one
//    transaction, as one INSERT … SELECT FROM json_each(?) message; timed from the new Worker
//    through the open, the DDL and the rows, as the engine's span (timed on the page from the
//    click) also holds its Worker, open and schema. "Engine SQL": the engine's own
//    messages and statements for pages of 5,000, five to a transaction as the engine applies pages
//    already there, JSON made beforehand (no HTTP, no page-thread work). "Pull only": the same bootstrap's pages fetched over HTTP from the page and parsed,
//    nothing applied: the server's share, which the engine overlaps with applying (it asks for a
//    page ahead). The bootstrap itself is instrumented on the page (`instrument`): HTTP, JSON.parse,
//    JSON.stringify and each Worker message, summed, and the batch time of each page.
//    `persistent` in the config: the bootstrap's device has a profile on disk (see
//    `openPersistentDevice`) instead of Playwright's incognito context.
// 3. Latency: a todo added on one device, until it is on the other's screen (the app's schedule).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { launch, openDevice, signIn, addTodo, todo } from "../../tests/e2e/browser/app.mjs";

const [origin, configJson] = process.argv.slice(2);
const config = JSON.parse(configJson);
const TIMEOUT_MS = 600_000;

/**
 * Records, on the page, when each pull request starts and its body arrives, how long each large
 * `JSON.parse` and `JSON.stringify` takes, and each Worker batch's round trip (post to answer):
 * the client side of a bootstrap, apart, without changing the engine. Installed after the app
 * loaded and before sign-in, when the engine builds its transport and starts its Worker.
 */
function instrument() {
  const now = () => performance.now();
  const log = { pulls: [], parses: [], stringifies: [], batches: [] };
  globalThis.__benchLog = log;
  const fetch = globalThis.fetch;
  globalThis.fetch = async (input, init) => {
    const url = String(input instanceof Request ? input.url : input);
    if (!url.endsWith("/sync/pull")) return fetch(input, init);
    const entry = { start: now(), headers: 0, body: 0 };
    log.pulls.push(entry);
    const response = await fetch(input, init);
    entry.headers = now();
    const text = response.text.bind(response);
    response.text = async () => {
      const body = await text();
      entry.body = now();
      return body;
    };
    return response;
  };
  const large = 100_000;
  const { parse, stringify } = JSON;
  JSON.parse = (text, reviver) => {
    if (typeof text !== "string" || text.length < large) return parse(text, reviver);
    const start = now();
    const value = parse(text, reviver);
    log.parses.push({ start, end: now() });
    return value;
  };
  JSON.stringify = (value, replacer, space) => {
    const start = now();
    const text = stringify(value, replacer, space);
    if (text !== undefined && text.length >= large) log.stringifies.push({ start, end: now() });
    return text;
  };
  // The bootstrap's span, taken on the page as the raw side's is: from the sign-in click (a capture
  // listener, before React's) to the first time the status shows a completed sync and idle (a
  // MutationObserver, in the microtask after React writes it). Timing it from Node instead added
  // Playwright's click dispatch and a 50 ms poll to the engine's side only.
  document.addEventListener(
    "click",
    (event) => {
      if (log.clicked === undefined && event.target instanceof Element && event.target.closest('[data-testid^="sign-in-"]') !== null) log.clicked = now();
    },
    true,
  );
  const synced = () => {
    const status = document.querySelector('[data-testid="status"]');
    return status !== null && status.getAttribute("data-synced-at") !== "" && status.getAttribute("data-state") === "idle";
  };
  const observer = new MutationObserver(() => {
    if (log.done === undefined && synced()) {
      log.done = now();
      observer.disconnect();
    }
  });
  observer.observe(document.body, { subtree: true, childList: true, attributes: true, attributeFilter: ["data-state", "data-synced-at"] });
  const posted = new Map();
  const postMessage = Worker.prototype.postMessage;
  Worker.prototype.postMessage = function (message, ...rest) {
    if (message?.kind === "open") log.open = { start: now(), end: 0, id: message.id };
    if (message?.kind === "batch" || message?.kind === "run") {
      const statements = message.kind === "batch" ? message.statements : [message];
      const bytes = statements.reduce(
        (total, { params }) => params.reduce((size, value) => size + (typeof value === "string" ? value.length : 8), total),
        0,
      );
      const sql = statements.map((statement) => statement.sql.slice(0, 24)).slice(0, 2).join(" + ") + (statements.length > 2 ? ` + ${statements.length - 2} more` : "");
      posted.set(message.id, { start: now(), end: 0, bytes, sql });
    }
    return postMessage.call(this, message, ...rest);
  };
  const addEventListener = Worker.prototype.addEventListener;
  Worker.prototype.addEventListener = function (type, listener, ...rest) {
    if (type !== "message") return addEventListener.call(this, type, listener, ...rest);
    const timed = (event) => {
      if (log.open?.id === event.data?.id && log.open.end === 0) log.open.end = now();
      const entry = posted.get(event.data?.id);
      if (entry !== undefined) {
        posted.delete(event.data.id);
        entry.end = now();
        log.batches.push(entry);
      }
      return listener.call(this, event);
    };
    return addEventListener.call(this, type, timed, ...rest);
  };
  return now();
}

/** The instrumented bootstrap's times, summed (seconds), and the batch holding each page's rows. */
async function breakdown(page, clickedAt) {
  const { log, doneAt } = await page.evaluate(() => ({ log: globalThis.__benchLog, doneAt: performance.now() }));
  // The app's next sync (its 5 s interval fires during a long bootstrap, and runs right after it)
  // may have begun since: it starts with the first pull after the last page's batch; leave it out.
  const lastPage = log.batches.filter((batch) => batch.bytes >= 10_000).at(-1)?.start ?? doneAt;
  const next = log.pulls.find((pull) => pull.start > lastPage)?.start ?? doneAt;
  log.pulls = log.pulls.filter((pull) => pull.start < lastPage);
  log.batches = log.batches.filter((batch) => batch.start < next);
  const sum = (entries, from, to) => entries.reduce((total, entry) => total + (entry[to] - entry[from]), 0) / 1000;
  // A page's rows go in one batch as JSON text; the other messages are its transaction's bookkeeping.
  const pages = log.batches.filter((batch) => batch.bytes >= 10_000);
  const firstPull = log.pulls[0]?.start ?? clickedAt;
  const lastBatch = log.batches.at(-1)?.end ?? clickedAt;
  return {
    pages: log.pulls.length,
    startup: (firstPull - clickedAt) / 1000,
    // Within the start: until the Worker is asked to open the database (sign-in, React, the tab
    // lock), the open itself (SQLite WASM and the OPFS pool), and from there to the first pull.
    startupParts: log.open ? [log.open.start - clickedAt, log.open.end - log.open.start, firstPull - log.open.end].map((ms) => Math.round(ms)) : [],
    httpWall: sum(log.pulls, "start", "body"),
    lastBodyToEnd: (lastBatch - (log.pulls.at(-1)?.body ?? lastBatch)) / 1000,
    parse: sum(log.parses, "start", "end"),
    stringify: sum(log.stringifies, "start", "end"),
    pageBatches: sum(pages, "start", "end"),
    otherMessages: sum(log.batches, "start", "end") - sum(pages, "start", "end"),
    messages: log.batches.length,
    // Between the first pull and the end, the time no Worker message was outstanding: the page's
    // thread waiting on HTTP or busy with its own work (parse, decode, stringify).
    workerIdle: (lastBatch - firstPull - log.batches.filter((batch) => batch.start >= firstPull).reduce((total, b) => total + (b.end - b.start), 0)) / 1000,
    bySql: Object.entries(
      log.batches.filter((batch) => batch.bytes < 10_000).reduce((totals, batch) => {
        const [ms, count] = totals[batch.sql] ?? [0, 0];
        totals[batch.sql] = [ms + (batch.end - batch.start), count + 1];
        return totals;
      }, {}),
    )
      .sort(([, [a]], [, [b]]) => b - a)
      .slice(0, 6)
      .map(([sql, [ms, count]]) => `${sql}: ${Math.round(ms)} ms (${count}x)`),
    pageBatchMs: pages.map((batch) => Math.round(batch.end - batch.start)),
    // The start's Worker messages, in order: when each was posted (ms after the click), its round trip (ms), its SQL.
    startMessages: log.batches.filter((batch) => batch.start < firstPull).map((batch) => `${Math.round(batch.start - clickedAt)}+${Math.round(batch.end - batch.start)} ${batch.sql}`),
    pullMs: log.pulls.map((pull) => Math.round(pull.body - pull.start)),
  };
}

/**
 * A device with a profile on disk, as an installed app has. Playwright's `newContext` is an
 * incognito context, which keeps OPFS off the disk: there a sync access handle's write took about
 * 1.4 ms (a round trip to the browser process) and a flush nothing, against about 0.15 ms and 5 ms
 * in a profile on disk (bench/browser/opfs.mjs measures both).
 */
async function openPersistentDevice(origin, name) {
  const dir = mkdtempSync(join(tmpdir(), "drizzlesync-bench-profile-"));
  const context = await chromium.launchPersistentContext(dir, {
    executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox"],
    viewport: { width: 720, height: 640 },
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.on("pageerror", (error) => console.error(`[${name}] page error: ${error.message}`));
  await page.goto(origin);
  const close = context.close.bind(context);
  context.close = async () => {
    await close();
    rmSync(dir, { recursive: true, force: true });
  };
  return { context, page, name };
}

async function bootstrap(browser, user) {
  const device = config.persistent ? await openPersistentDevice(origin, "bootstrap") : await openDevice(browser, origin, "bootstrap");
  device.context.setDefaultTimeout(TIMEOUT_MS);
  await device.page.evaluate(instrument);
  await device.page.getByTestId(`sign-in-${user.email}`).click();
  await device.page.waitForFunction(
    () => {
      const status = document.querySelector('[data-testid="status"]');
      return status?.getAttribute("data-synced-at") !== "" && status?.getAttribute("data-state") === "idle";
    },
    null,
    { timeout: TIMEOUT_MS, polling: 50 },
  );
  const { clicked, done } = await device.page.evaluate(() => globalThis.__benchLog);
  return { device, seconds: (done - clicked) / 1000, client: await breakdown(device.page, clicked) };
}

/** Inserts the bootstrapped todos again, raw, into `raw_todos` of the same OPFS database file. */
async function raw(device, user) {
  const page = device.page;
  // Leaving the app ends its Worker, which releases the OPFS pool for the one opened here.
  await page.goto(`${origin}/precache.json`);
  const files = JSON.parse(await page.locator("body").innerText());
  const worker = files.find((file) => /^\/assets\/worker-.*\.js$/.test(file));
  return page.evaluate(
    async ({ worker, filename, vfsName, userId }) => {
      /** A Worker of the adapter's worker module, spoken to as the adapter does (one request at a time). */
      const connect = () => {
        const db = new Worker(worker, { type: "module" });
        let next = 0;
        const pending = new Map();
        db.onmessage = ({ data }) => {
          const { resolve, reject } = pending.get(data.id);
          pending.delete(data.id);
          if ("error" in data) reject(new Error(data.error));
          else resolve(data.result);
        };
        const send = (message) =>
          new Promise((resolve, reject) => {
            const id = (next += 1);
            pending.set(id, { resolve, reject });
            db.postMessage({ id, ...message });
          });
        return { db, send, run: (sql, params = []) => send({ kind: "run", sql, params }) };
      };
      let { db, send, run } = connect();
      await send({ kind: "open", filename, vfsName });
      const [[count]] = (await run("SELECT count(*) FROM todos")).rows;
      const [[json]] = (
        await run("SELECT json_group_array(json_array(id, team_id, project_id, title, done, updated_at)) FROM todos")
      ).rows;
      const rows = JSON.parse(json);
      // The server's side alone: the same bootstrap's pages over HTTP, parsed and dropped.
      const [[clientId, schemaVersion]] = (await run('SELECT "client_id", "schema_version" FROM "_sync_state"')).rows;
      const pullStarted = performance.now();
      for (let cursor = null; ; ) {
        const response = await fetch("/sync/pull", {
          method: "POST",
          headers: { "content-type": "application/json", authorization: `Bearer ${userId}` },
          body: JSON.stringify({ protocol: 1, schemaVersion, clientId, cursor, limit: 5000 }),
        });
        const page = JSON.parse(await response.text());
        if (!page.hasMore) break;
        cursor = page.cursor;
      }
      const pullOnly = (performance.now() - pullStarted) / 1000;
      // The raw table is made by todos' own DDL (the client migration's), renamed: the same columns,
      // STRICT, primary key and team index. Only the outbox triggers are left out: they are the engine's.
      const ddl = (await run("SELECT sql FROM sqlite_master WHERE tbl_name = 'todos' AND type IN ('table', 'index') AND sql IS NOT NULL ORDER BY type DESC")).rows;
      const elements = "value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, value ->> 5";
      // The raw side's clock covers what the engine's covers short of HTTP and the app: a new Worker,
      // SQLite WASM and the OPFS pool, the open, the table's DDL (its own commit), then the rows in
      // one transaction. (The engine's span starts at the sign-in click and pays all of that too.)
      // The pool is exclusive and the Worker above still holds it: an attempt that finds it held
      // is dropped and not timed.
      await send({ kind: "close" });
      db.terminate();
      let attempts = 0;
      let started;
      for (;;) {
        attempts += 1;
        started = performance.now();
        ({ db, send, run } = connect());
        try {
          await send({ kind: "open", filename, vfsName });
          break;
        } catch (error) {
          db.terminate();
          if (attempts >= 50) throw error;
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      }
      const opened = performance.now();
      await run("BEGIN");
      for (const [sql] of ddl) await run(sql.replaceAll('"todos', '"raw_todos'));
      await run("COMMIT");
      const inserting = performance.now();
      await run("BEGIN");
      await run(`INSERT INTO raw_todos SELECT ${elements} FROM json_each(?)`, [JSON.stringify(rows)]);
      await run("COMMIT");
      const ended = performance.now();
      const oneMessage = (ended - started) / 1000;
      const rawParts = { open: (opened - started) / 1000, ddl: (inserting - opened) / 1000, insert: (ended - inserting) / 1000, attempts };
      await run("DROP TABLE raw_todos");
      // The engine's SQL alone: its messages and statements for each page of 5,000 (as the server sent
      // them), into todos itself with the outbox triggers' checks, the JSON made beforehand: the
      // bootstrap without HTTP and without the page thread's parse, decode and stringify.
      const pages = [];
      for (let index = 0; index < rows.length; index += 5000) pages.push(JSON.stringify(rows.slice(index, index + 5000)));
      const applying = (on) => ({ sql: 'UPDATE "_sync_state" SET "applying" = ?', params: [on ? 1 : 0] });
      await send({ kind: "batch", statements: [applying(true), { sql: "DELETE FROM todos", params: [] }, applying(false)], inTransaction: false });
      const columns = '"id", "team_id", "project_id", "title", "done", "updated_at"';
      const engineSqlStarted = performance.now();
      // Every page is there at once, so the engine would apply them five to a transaction (its bound
      // of 25,000 changes): a batch per page, one outbox read, the cursor, one COMMIT.
      for (let first = 0; first < pages.length; first += 5) {
        await run("BEGIN IMMEDIATE");
        for (const [index, json] of pages.slice(first, first + 5).entries()) {
          const insert = { sql: `INSERT OR REPLACE INTO "todos" (${columns}) SELECT ${elements} FROM json_each(?)`, params: [json] };
          await send({ kind: "batch", statements: [...(index === 0 ? [applying(true)] : []), insert], inTransaction: true });
        }
        await run('SELECT "id" FROM "_sync_outbox" WHERE "id" > 0');
        await send({ kind: "batch", statements: [{ sql: 'UPDATE "_sync_state" SET "cursor" = "cursor"', params: [] }, applying(false)], inTransaction: true });
        await run("COMMIT");
      }
      const engineSql = (performance.now() - engineSqlStarted) / 1000;
      await send({ kind: "close" });
      db.terminate();
      return { count, oneMessage, rawParts, engineSql, pullOnly };
    },
    { worker, filename: `/user-${user.id}.sqlite3`, vfsName: `drizzlesync-${user.id}`, userId: user.id },
  );
}

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function latency(browser, [writer, reader], samples) {
  const a = await openDevice(browser, origin, "writer");
  const b = await openDevice(browser, origin, "reader");
  await signIn(a.page, writer.email);
  await signIn(b.page, reader.email);
  const seconds = [];
  for (let i = 0; i < samples; i += 1) {
    const title = `latency ${i}`;
    // A random pause first: writing just after the reader's pull would always wait a whole interval.
    await new Promise((resolve) => setTimeout(resolve, Math.random() * config.intervalMs));
    const started = Date.now();
    await addTodo(a.page, title);
    await todo(b.page, title).waitFor({ timeout: 60_000 });
    seconds.push((Date.now() - started) / 1000);
  }
  seconds.sort((x, y) => x - y);
  return { samples, p50: percentile(seconds, 50), p95: percentile(seconds, 95), max: seconds.at(-1) };
}

const browser = await launch();
try {
  const result = { chromium: browser.version() };
  if (config.bootstrapUser) {
    const { device, seconds, client } = await bootstrap(browser, config.bootstrapUser);
    result.bootstrap = { seconds, client, ...(config.raw ? await raw(device, config.bootstrapUser) : {}) };
    await device.context.close();
  }
  if (config.latencyUsers) result.latency = await latency(browser, config.latencyUsers, config.samples);
  console.log(JSON.stringify(result));
} finally {
  await browser.close();
}
