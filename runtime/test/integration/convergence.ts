/**
 * A seeded property run against a real sync host, run by tests/client/test_convergence.py.
 *
 * Three devices (two of user 1 on node:sqlite, one of user 2 on sql.js) write at random to todos
 * of two teams, move todos between teams, go offline and online, and sync while writing; a faulty
 * fetch drops responses after the server has answered and sends requests twice; an SQL writer
 * edits todos on the server and takes user 2 in and out of team 2. Checked all along:
 *   - scope: after a sync, a device holds no pulled row of a team its user is not in;
 *   - optimistic writes: after a sync, each row with pending writes is what those writes make of
 *     the pulled row, exactly as the engine's rebase promises (a patch never revives a row the
 *     pull deleted: deletes win).
 * At quiescence every device's todos equal the server's rows in its user's scope, and nothing
 * is pending. Prints one JSON report.
 */
import { eq } from "drizzle-orm";
import pg from "pg";
import initSqlJs from "sql.js";
import { rowObjects, type SqliteAdapter } from "../../src/adapters/adapter.ts";
import { openNodeSqlite } from "../../src/adapters/node-sqlite.ts";
import { openSqlJs } from "../../src/adapters/sql-js.ts";
import type { SyncClient } from "../../src/client/sync-client.ts";
import { openExample, schema, type ExampleSchema } from "../support/example.ts";
import { FakeClock } from "../support/fake-clock.ts";
import { required } from "../support/env.ts";

const { todos } = schema;

/** mulberry32: a small seeded generator, so a failing seed replays exactly. */
function generator(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const url = required("SYNC_URL");
const seed = Number(required("SEED"));
const stepCount = Number(required("STEPS"));
const rebase = required("REBASE") === "1";
const [user1, user2] = [required("USER_1"), required("USER_2")];
const [team1, team2] = [required("TEAM_1"), required("TEAM_2")];
const random = generator(seed);
const pick = <T>(items: readonly T[]): T | undefined => items[Math.floor(random() * items.length)];
/** A version 4 UUID from the seeded generator: the rows' order, and so every later pick, replays too. */
function seededUuid(): string {
  const hex = Array.from({ length: 32 }, () => Math.floor(random() * 16).toString(16));
  hex[12] = "4";
  hex[16] = "89ab"[Math.floor(random() * 4)] ?? "8";
  const text = hex.join("");
  return `${text.slice(0, 8)}-${text.slice(8, 12)}-${text.slice(12, 16)}-${text.slice(16, 20)}-${text.slice(20)}`;
}

const server = new pg.Client(required("DATABASE_URL"));
await server.connect();

interface Device {
  readonly name: string;
  readonly user: string;
  readonly adapter: SqliteAdapter;
  readonly client: SyncClient<ExampleSchema>;
  offline: boolean;
}

const faults = { lost: 0, duplicated: 0, offline: 0 };
let faulty = true;

/** The network between one device and the host: offline, responses lost after the server answered, requests sent twice. */
function network(link: { readonly offline: boolean }): typeof fetch {
  return async (input, init) => {
    if (link.offline) {
      faults.offline += 1;
      throw new TypeError("offline");
    }
    const roll = random();
    if (faulty && roll < 0.08) {
      faults.lost += 1;
      await fetch(input, init);
      throw new TypeError("connection reset after the request was served");
    }
    if (faulty && roll < 0.16) {
      faults.duplicated += 1;
      await fetch(input, init);
    }
    return fetch(input, init);
  };
}

const SQL = await initSqlJs();
async function open(name: string, user: string, adapter: SqliteAdapter): Promise<Device> {
  const link = { offline: false };
  const client = await openExample(
    adapter,
    { url, getToken: () => user, fetch: network(link) },
    // A clock that never moves: no debounced or retry syncs behind the script's back, so a seed replays exactly.
    { rebase, pullLimit: 4, pushBatchSize: 3, clock: new FakeClock() },
  );
  return Object.assign(link, { name, user, adapter, client });
}
const devices = [
  await open("d1", user1, openNodeSqlite(":memory:")),
  await open("d2", user2, openSqlJs(new SQL.Database())),
  await open("d3", user1, openNodeSqlite(":memory:")),
];

async function teamsOf(user: string): Promise<Set<string>> {
  const result = await server.query<{ team_id: string }>("SELECT team_id::text FROM memberships WHERE user_id = $1", [user]);
  return new Set(result.rows.map((row) => row.team_id));
}

type Todo = { id: string; team_id: string; title: string; done: number };

async function localTodos(device: Device): Promise<Todo[]> {
  const rows = rowObjects(await device.adapter.execute("SELECT id, team_id, title, done FROM todos ORDER BY id"));
  return rows as Todo[];
}

async function pendingEntries(device: Device): Promise<{ table: string; op: string; pk: { id: string }; values: Record<string, unknown> | null }[]> {
  const rows = rowObjects(await device.adapter.execute('SELECT "table", "op", "pk", "values" FROM "_sync_outbox" ORDER BY "id"'));
  return rows.map((row) => ({
    table: String(row.table),
    op: String(row.op),
    pk: JSON.parse(String(row.pk)) as { id: string },
    values: typeof row.values === "string" ? (JSON.parse(row.values) as Record<string, unknown>) : null,
  }));
}

const violations = { scope: [] as unknown[], optimistic: [] as unknown[] };

type Entry = Awaited<ReturnType<typeof pendingEntries>>[number];

/**
 * What a row's pending entries make of it locally, by the documented rebase semantics (put inserts
 * or overwrites the columns it carries, patch updates an existing row only, delete deletes), in id
 * order: whether it exists ("pulled" when only patches are pending: as the pull left it, since a
 * patch never creates a row) and the values it must show.
 */
function expectedRow(entries: readonly Entry[]): { exists: boolean | "pulled"; values: Record<string, unknown> } {
  let exists: boolean | "pulled" = "pulled";
  let values: Record<string, unknown> = {};
  for (const entry of entries) {
    if (entry.op === "delete") {
      exists = false;
      values = {};
    } else if (entry.op === "put") {
      values = exists === false ? { ...entry.values } : { ...values, ...entry.values };
      exists = true;
    } else if (exists !== false) {
      values = { ...values, ...entry.values };
    }
  }
  return { exists, values };
}

/**
 * The two invariants, checked on a device right after one of its syncs completed (nothing writes
 * to the server between that sync and this check, so the server is what the sync's last pull saw).
 */
async function check(device: Device, step: number): Promise<void> {
  const pending = (await pendingEntries(device)).filter((entry) => entry.table === "todos");
  const byRow = new Map<string, Entry[]>();
  for (const entry of pending) byRow.set(entry.pk.id, [...(byRow.get(entry.pk.id) ?? []), entry]);
  const teams = await teamsOf(device.user);
  for (const todo of await localTodos(device)) {
    if (!byRow.has(todo.id) && !teams.has(todo.team_id)) violations.scope.push({ step, device: device.name, todo });
  }
  const every = rowObjects(await device.adapter.execute("SELECT * FROM todos"));
  const local = new Map(every.map((row) => [String(row.id), row]));
  const onServer = await server.query<{ id: string }>(
    "SELECT id::text FROM todos WHERE id::text = ANY($1) AND team_id::text = ANY($2)",
    [[...byRow.keys()], [...teams]],
  );
  const visibleOnServer = new Set(onServer.rows.map((row) => row.id));
  for (const [id, entries] of byRow) {
    const row = local.get(id);
    const { exists, values } = expectedRow(entries);
    // Only patches pending: the row is there exactly when the server shows it to this user (a
    // patch of a row the pull deleted is dropped locally and refused `not_found` by the server).
    const present = exists === "pulled" ? visibleOnServer.has(id) : exists;
    const visible = present
      ? row !== undefined && Object.entries(values).every(([column, value]) => row[column] === value)
      : row === undefined;
    if (!visible) violations.optimistic.push({ step, device: device.name, entries, row: row ?? null });
  }
}

/** A random local write: mostly to rows the device sees, sometimes into a team its user may not be in. */
async function write(device: Device): Promise<void> {
  const { db } = device.client;
  const target = pick(await localTodos(device));
  const roll = random();
  if (roll < 0.3 || target === undefined) {
    const teamId = random() < 0.7 ? team1 : team2;
    await db.insert(todos).values({ id: seededUuid(), teamId, title: `${device.name}-new-${Math.floor(random() * 1000)}` });
  } else if (roll < 0.6) {
    await db.update(todos).set({ title: `${device.name}-${Math.floor(random() * 1000)}` }).where(eq(todos.id, target.id));
  } else if (roll < 0.75) {
    await db.update(todos).set({ done: target.done === 0 }).where(eq(todos.id, target.id));
  } else if (roll < 0.88) {
    await db.update(todos).set({ teamId: target.team_id === team1 ? team2 : team1 }).where(eq(todos.id, target.id));
  } else {
    await db.delete(todos).where(eq(todos.id, target.id));
  }
}

/** What other writers do on the server meanwhile: edit a todo, or take user 2 in or out of team 2. */
async function serverWrite(): Promise<void> {
  if (random() < 0.6) {
    const count = Number((await server.query<{ n: string }>("SELECT count(*) AS n FROM todos")).rows[0]?.n ?? 0);
    if (count === 0) return;
    await server.query(
      "UPDATE todos SET title = $1 WHERE id = (SELECT id FROM todos ORDER BY id OFFSET $2 LIMIT 1)",
      [`server-${Math.floor(random() * 1000)}`, Math.floor(random() * count)],
    );
  } else if ((await teamsOf(user2)).has(team2)) {
    await server.query("DELETE FROM memberships WHERE user_id = $1 AND team_id = $2", [user2, team2]);
  } else {
    await server.query("INSERT INTO memberships (user_id, team_id) VALUES ($1, $2)", [user2, team2]);
  }
}

let syncs = 0;
let failedSyncs = 0;
for (let step = 0; step < stepCount; step += 1) {
  const device = pick(devices);
  if (device === undefined) break;
  const roll = random();
  if (roll < 0.45) {
    await write(device);
  } else if (roll < 0.8) {
    // Half the time the app writes while the sync runs: the write lands between its steps.
    const syncing = device.client.sync().then(
      () => true,
      () => false,
    );
    if (random() < 0.5) await write(device);
    const synced = await syncing;
    syncs += 1;
    if (synced) await check(device, step);
    else failedSyncs += 1;
  } else if (roll < 0.9) {
    device.offline = !device.offline;
  } else {
    await serverWrite();
  }
}

// Quiescence: everyone online, no more faults; sync until nothing is pending, then once more so
// that every device has pulled the others' last pushes.
faulty = false;
for (const device of devices) device.offline = false;
for (let round = 0; round < 6; round += 1) {
  for (const device of devices) await device.client.sync();
  const pending = await Promise.all(devices.map(async (device) => (await pendingEntries(device)).length));
  if (pending.every((count) => count === 0)) break;
}
for (const device of devices) await device.client.sync();

const mismatches: unknown[] = [];
for (const device of devices) {
  const teams = [...(await teamsOf(device.user))];
  const expected = await server.query<Todo>(
    "SELECT id::text, team_id::text, title, done::int AS done FROM todos WHERE team_id::text = ANY($1) ORDER BY id::text",
    [teams],
  );
  const actual = await localTodos(device);
  if (JSON.stringify(actual) !== JSON.stringify(expected.rows)) {
    mismatches.push({ device: device.name, expected: expected.rows, actual });
  }
  await check(device, stepCount);
}
const report = {
  seed,
  rebase,
  syncs,
  failedSyncs,
  faults,
  serverTodos: Number((await server.query<{ n: string }>("SELECT count(*) AS n FROM todos")).rows[0]?.n ?? 0),
  pending: await Promise.all(devices.map(async (device) => (await pendingEntries(device)).length)),
  violations: { scope: violations.scope.length, optimistic: violations.optimistic.length },
  examples: { scope: violations.scope.slice(0, 3), optimistic: violations.optimistic.slice(0, 3) },
  mismatches,
};
for (const device of devices) await device.client.close();
await server.end();
console.log(JSON.stringify(report));
