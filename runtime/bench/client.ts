/**
 * Client benchmarks, measured side by side in one run (best of 5, the sides alternating); prints
 * ratios and rows/s.
 *
 *     npm run bench --workspace drizzlesync [-- rows writes]     (defaults: 100000 5000)
 *
 * 1. Bootstrap of `rows` todos through the engine (pages of 5,000 parsed from JSON, decoded by the
 *    codecs, applied a page per transaction, cursor and outbox bookkeeping), against the same JSON
 *    inserted raw into the same SQLite schema in one transaction with one prepared statement
 *    (target: at most 2x). The server is left out: both sides start from the response bodies.
 * 2. `writes` single-row inserts through the engine's Drizzle database (outbox triggers, a client
 *    transaction each, change notification), against the same inserts through plain
 *    drizzle-orm/sqlite-proxy on the same adapter and schema without the outbox triggers
 *    (target: at most 1.5x).
 * Both on node:sqlite in memory.
 */
import { DatabaseSync } from "node:sqlite";
import { drizzle } from "drizzle-orm/sqlite-proxy";
import { openNodeSqlite } from "../src/adapters/node-sqlite.ts";
import type { SqlValue } from "../src/adapters/adapter.ts";
import type { PullResponse } from "../src/protocol/messages.ts";
import { clientMigrations, openExample, schema } from "../test/support/example.ts";
import { ScriptedTransport } from "../test/support/scripted-transport.ts";

const [rows = 100_000, writes = 5_000] = process.argv.slice(2).map(Number);
const PAGE = 5_000;
const TEAM = "5b0f0c8e-6d1e-4c1a-9d43-3f3b2a0c1e11";

interface WireTodo {
  id: string;
  team_id: string;
  project_id: string | null;
  title: string;
  done: boolean;
  updated_at: string;
}

/** The pull response bodies of a bootstrap, as the server would send them. */
function bodies(): string[] {
  const pages: string[] = [];
  for (let start = 0; start < rows; start += PAGE) {
    const changes = [];
    for (let i = start; i < Math.min(rows, start + PAGE); i += 1) {
      const row: WireTodo = {
        id: `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`,
        team_id: TEAM,
        project_id: null,
        title: `todo number ${i}`,
        done: i % 3 === 0,
        updated_at: new Date(Date.UTC(2026, 0, 1) + i * 1000).toISOString().replace("Z", "+00:00"),
      };
      changes.push({ table: "todos", op: "upsert", row });
    }
    const hasMore = start + PAGE < rows;
    pages.push(JSON.stringify({ cursor: `c${start}`, hasMore, reset: false, lastMutationId: 0, changes }));
  }
  return pages;
}

function migrated(db: DatabaseSync): void {
  for (const step of clientMigrations) for (const statement of step.statements) db.exec(statement);
}

/**
 * The best time of each side over `times` rounds, the two sides alternating within a round, so
 * that both meet the same load on a shared machine.
 */
async function sideBySide(times: number, ours: () => Promise<number>, baseline: () => Promise<number>): Promise<[number, number]> {
  let best: [number, number] = [Infinity, Infinity];
  for (let i = 0; i < times; i += 1) best = [Math.min(best[0], await ours()), Math.min(best[1], await baseline())];
  return best;
}

const pages = bodies();

async function engineBootstrap(): Promise<number> {
  const transport = new ScriptedTransport().onPull(...pages.map((body) => () => JSON.parse(body) as PullResponse));
  const client = await openExample(openNodeSqlite(":memory:"), transport, { pullLimit: PAGE });
  const started = performance.now();
  await client.sync();
  const elapsed = performance.now() - started;
  await client.close();
  return elapsed;
}

async function rawBootstrap(): Promise<number> {
  const db = new DatabaseSync(":memory:");
  migrated(db);
  const started = performance.now();
  db.exec('BEGIN; UPDATE "_sync_state" SET "applying" = 1');
  const insert = db.prepare("INSERT INTO todos (id, team_id, project_id, title, done, updated_at) VALUES (?, ?, ?, ?, ?, ?)");
  for (const body of pages) {
    const page = JSON.parse(body) as { changes: { row: WireTodo }[] };
    for (const { row } of page.changes) {
      insert.run(row.id, row.team_id, row.project_id, row.title, row.done ? 1 : 0, Date.parse(row.updated_at));
    }
  }
  db.exec('UPDATE "_sync_state" SET "applying" = 0; COMMIT');
  const elapsed = performance.now() - started;
  db.close();
  return Promise.resolve(elapsed);
}

async function engineWrites(): Promise<number> {
  const client = await openExample(openNodeSqlite(":memory:"), new ScriptedTransport());
  const started = performance.now();
  for (let i = 0; i < writes; i += 1) await client.db.insert(schema.todos).values({ teamId: TEAM, title: `local ${i}` });
  const elapsed = performance.now() - started;
  await client.close();
  return elapsed;
}

async function plainWrites(): Promise<number> {
  const adapter = openNodeSqlite(":memory:");
  for (const step of clientMigrations) for (const statement of step.statements) await adapter.execute(statement);
  for (const kind of ["insert", "update", "delete", "rekey"]) await adapter.execute(`DROP TRIGGER "todos_outbox_${kind}"`);
  const db = drizzle(
    async (sql, params) => ({ rows: (await adapter.execute(sql, params as SqlValue[])).rows as unknown[] }),
    { schema },
  );
  const started = performance.now();
  for (let i = 0; i < writes; i += 1) await db.insert(schema.todos).values({ teamId: TEAM, title: `local ${i}` });
  const elapsed = performance.now() - started;
  await adapter.close();
  return elapsed;
}

const [bootstrapOurs, bootstrapRaw] = await sideBySide(5, engineBootstrap, rawBootstrap);
const [writesOurs, writesPlain] = await sideBySide(5, engineWrites, plainWrites);

const perSecond = (count: number, ms: number): string => Math.round((count / ms) * 1000).toLocaleString("en-US");
const line = (name: string, ours: number, baseline: number, count: number, target: number): string =>
  `| ${name} | ${(ours / 1000).toFixed(2)} s (${perSecond(count, ours)} rows/s) | ${(baseline / 1000).toFixed(2)} s (${perSecond(count, baseline)} rows/s) | ${(ours / baseline).toFixed(2)}x | ${target}x |`;
console.log("| measured | engine | baseline | ratio | target |");
console.log("|---|---|---|---|---|");
console.log(line(`bootstrap of ${rows.toLocaleString("en-US")} rows vs raw inserts in one transaction`, bootstrapOurs, bootstrapRaw, rows, 2));
console.log(line(`${writes.toLocaleString("en-US")} local writes vs the same without outbox triggers`, writesOurs, writesPlain, writes, 1.5));
