/**
 * A device that was offline a long time, run by tests/client/test_long_offline.py against a real
 * sync host, on a node:sqlite database file kept between its steps:
 *
 * STEP=bootstrap: opens, syncs once, closes.
 * STEP=offline: opens without syncing and queues WRITES-odd local writes: inserts (one by one and in
 *   client transactions), the same rows updated again and again, deletes, key changes, and writes
 *   into TEAM_LOST (a team the user leaves meanwhile). Reports the rows it expects on the server.
 * STEP=reconnect: opens and syncs until nothing is pending. The token expires (the host answers
 *   401) at the request EXPIRE_ON names; the app then renews it and calls `tokenChanged()`.
 *   Reports the local rows, the requests made, the time and the peak memory.
 */
import { eq, inArray } from "drizzle-orm";
import { openNodeSqlite } from "../../src/adapters/node-sqlite.ts";
import type { RejectedWrite } from "../../src/client/sync-client.ts";
import { openExample, schema } from "../support/example.ts";
import { required } from "../support/env.ts";

const { todos, projects, teams } = schema;
const step = required("STEP");
const team = required("TEAM_ID");
const user = required("USER_ID");

/** EXPIRE_ON=push:N or pull:N: the token expires as that request is made (the host answers 401). */
const [expireOn, expireAt] = (process.env.EXPIRE_ON ?? ":").split(":");
let expired = false;
const made: Record<string, number> = {};
const seen: Record<string, number> = {};
const timings: string[] = [];
const counting: typeof fetch = async (input, init) => {
  const path = (input as string).replace(/^.*\//, "");
  made[path] = (made[path] ?? 0) + 1;
  if (path === expireOn && String(made[path]) === expireAt) expired = true;
  // An expired token, as a JWT past its exp: the host refuses it 401 until the app renews it.
  const headers = new Headers(init?.headers);
  if (expired) headers.set("authorization", "Bearer ");
  const t0 = performance.now();
  const response = await fetch(input, { ...init, headers });
  const key = `${path} ${response.status}`;
  seen[key] = (seen[key] ?? 0) + 1;
  if (process.env.TIMINGS) {
    const body = JSON.parse(init?.body as string) as { mutations?: { op: string; tx: number; table: string }[] };
    const ops: Record<string, number> = {};
    for (const m of body.mutations ?? []) ops[`${m.table}.${m.op}`] = (ops[`${m.table}.${m.op}`] ?? 0) + 1;
    const txs = new Set((body.mutations ?? []).map((m) => m.tx)).size;
    timings.push(`${path} ${response.status} ${Math.round(performance.now() - t0)}ms txs=${txs} ${JSON.stringify(ops)}`);
  }
  return response;
};

const client = await openExample(
  openNodeSqlite(required("DB_FILE")),
  { url: required("SYNC_URL"), getToken: () => user, fetch: counting },
  { pullLimit: Number(process.env.PULL_LIMIT ?? "5000") },
);
const rejected: RejectedWrite[] = [];
client.registerListener({ rejected: (writes) => rejected.push(...writes) });

function out(line: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

async function localTodos(): Promise<Record<string, string>> {
  const rows = await client.db.select({ id: todos.id, title: todos.title }).from(todos);
  return Object.fromEntries(rows.map((row) => [row.id, row.title]));
}

if (step === "bootstrap") {
  await client.sync();
  out({ todos: await localTodos(), state: client.status.state });
} else if (step === "offline") {
  const lost = required("TEAM_LOST");
  const total = Number(required("WRITES"));
  const expected = new Map<string, string | null>();
  let seq = 0;
  const title = (): string => `w${++seq}`;
  const started = performance.now();
  const projectId = crypto.randomUUID();
  await client.db.insert(projects).values({ id: projectId, teamId: team, name: "offline" });
  const ids: string[] = [];
  // A quarter of the budget inserts, half of them one by one, half in client transactions of 100.
  const inserts = Math.floor(total / 4);
  for (let i = 0; i < inserts / 2; i += 1) {
    const id = crypto.randomUUID();
    const t = title();
    await client.db.insert(todos).values({ id, teamId: team, projectId, title: t });
    ids.push(id);
    expected.set(id, t);
  }
  for (let i = inserts / 2; i < inserts; i += 100) {
    await client.transaction(async (tx) => {
      for (let j = 0; j < 100; j += 1) {
        const id = crypto.randomUUID();
        const t = title();
        await tx.insert(todos).values({ id, teamId: team, title: t });
        ids.push(id);
        expected.set(id, t);
      }
    });
  }
  // Writes into the team the user is about to leave: refused (forbidden) when they arrive.
  for (let i = 0; i < 20; i += 1) await client.db.insert(todos).values({ id: crypto.randomUUID(), teamId: lost, title: title() });
  // Long notes pasted into a few titles (BIG of them, 100 kB each): a batch of 500 of the writes
  // around them is a body over the host's 4 MiB.
  const big = Number(process.env.BIG ?? "0");
  for (let i = 0; i < big; i += 1) {
    const id = ids[i * 7] as string;
    const t = `${title()} ${"x".repeat(100_000)}`;
    await client.db.update(todos).set({ title: t }).where(eq(todos.id, id));
    expected.set(id, t);
  }
  // Key changes of a tenth of the rows.
  for (let i = 0; i < ids.length; i += 10) {
    const from = ids[i] as string;
    const to = crypto.randomUUID();
    const t = title();
    await client.db.update(todos).set({ id: to, title: t }).where(eq(todos.id, from));
    expected.delete(from);
    expected.set(to, t);
    ids[i] = to;
  }
  // Deletes of another tenth.
  for (let i = 5; i < ids.length; i += 10) {
    const id = ids[i] as string;
    await client.db.delete(todos).where(eq(todos.id, id));
    expected.set(id, null);
  }
  // The rest of the budget: the same rows updated over and over, one statement each.
  const live = ids.filter((id) => expected.get(id) !== null);
  let n = 0;
  while (seq < total - 1) {
    const id = live[n % live.length] as string;
    n += 1;
    const t = title();
    await client.db.update(todos).set({ title: t, done: n % 2 === 0 }).where(eq(todos.id, id));
    expected.set(id, t);
  }
  out({
    writes: seq,
    pending: client.status.pending,
    writeSeconds: (performance.now() - started) / 1000,
    expected: Object.fromEntries(expected),
    projectId,
  });
} else if (step === "reconnect") {
  const started = performance.now();
  let peakRss = process.memoryUsage().rss;
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
  }, 50);
  const pendingBefore = client.status.pending;
  const errors: string[] = [];
  let renewals = 0;
  for (let attempt = 0; attempt < 20; attempt += 1) {
    try {
      await client.sync();
      if (client.status.pending === 0) break;
    } catch (error) {
      errors.push(`${client.status.state}: ${error instanceof Error ? error.message : String(error)}`);
      if (client.status.state === "auth-required") {
        // The app renews its token and says so.
        expired = false;
        renewals += 1;
        client.tokenChanged();
      }
    }
  }
  clearInterval(sampler);
  const lostTodos = await client.db.select({ id: todos.id }).from(todos).where(inArray(todos.teamId, [required("TEAM_LOST")]));
  out({
    pendingBefore,
    pending: client.status.pending,
    state: client.status.state,
    error: client.status.error?.message ?? null,
    errors,
    renewals,
    seconds: (performance.now() - started) / 1000,
    peakRssMb: Math.round(peakRss / 2 ** 20),
    requests: seen,
    bootstrap: client.status.bootstrap,
    rejected: rejected.map((write) => write.code),
    todos: await localTodos(),
    teams: (await client.db.select({ id: teams.id }).from(teams)).map((row) => row.id),
    lostTodos: lostTodos.length,
    timings,
  });
}
await client.close();
