// The browser benchmark's Chromium side (bench/browser/run.py starts the host and seeds Postgres).
// Usage: node bench.mjs <origin> <config JSON>; prints one JSON line of measurements.
//
// 1. Bootstrap: the bench user signs in to the built PWA and the engine pulls every row of their
//    teams into OPFS (from the click to the first completed sync). The app shows an empty team, so
//    React renders none of the rows: this is the engine, not the DOM.
// 2. Raw: on the same origin, a Worker of the same build (the adapter's worker, sqlite-wasm on
//    opfs-sahpool) opens the same database file and inserts the same rows into a table of the same
//    shape, in one transaction. "One message": one INSERT … SELECT FROM json_each(?) inside SQLite.
//    "A message per row": one INSERT per row through the worker protocol, how the engine talked to
//    its database before a page became one batch, isolating the cost of a round trip to the Worker. "Pull only": the
//    same bootstrap's pages fetched over HTTP from the page and parsed, nothing applied: the
//    server's share, which the engine overlaps with applying (it asks for a page ahead).
// 3. Latency: a todo added on one device, until it is on the other's screen (the app's schedule).
import { launch, openDevice, signIn, addTodo, todo } from "../../tests/e2e/browser/app.mjs";

const [origin, configJson] = process.argv.slice(2);
const config = JSON.parse(configJson);
const TIMEOUT_MS = 600_000;

async function bootstrap(browser, user) {
  const device = await openDevice(browser, origin, "bootstrap");
  device.context.setDefaultTimeout(TIMEOUT_MS);
  const started = Date.now();
  await device.page.getByTestId(`sign-in-${user.email}`).click();
  await device.page.waitForFunction(
    () => {
      const status = document.querySelector('[data-testid="status"]');
      return status?.getAttribute("data-synced-at") !== "" && status?.getAttribute("data-state") === "idle";
    },
    null,
    { timeout: TIMEOUT_MS, polling: 50 },
  );
  return { device, seconds: (Date.now() - started) / 1000 };
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
      const run = (sql, params = []) => send({ kind: "run", sql, params });
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
      const create = "CREATE TABLE raw_todos AS SELECT * FROM todos WHERE 0";
      const timed = async (body) => {
        await run("DROP TABLE IF EXISTS raw_todos");
        await run(create);
        const started = performance.now();
        await run("BEGIN");
        await body();
        await run("COMMIT");
        return (performance.now() - started) / 1000;
      };
      const oneMessage = await timed(() =>
        run(
          `INSERT INTO raw_todos SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, value ->> 5
             FROM json_each(?)`,
          [JSON.stringify(rows)],
        ),
      );
      const perRow = await timed(async () => {
        for (const row of rows) await run("INSERT INTO raw_todos VALUES (?, ?, ?, ?, ?, ?)", row);
      });
      await run("DROP TABLE raw_todos");
      await send({ kind: "close" });
      db.terminate();
      return { count, oneMessage, perRow, pullOnly };
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
    const { device, seconds } = await bootstrap(browser, config.bootstrapUser);
    result.bootstrap = { seconds, ...(config.raw ? await raw(device, config.bootstrapUser) : {}) };
    await device.context.close();
  }
  if (config.latencyUsers) result.latency = await latency(browser, config.latencyUsers, config.samples);
  console.log(JSON.stringify(result));
} finally {
  await browser.close();
}
