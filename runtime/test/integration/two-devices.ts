/**
 * Two devices of one team against a real sync host, run by tests/client/test_two_devices.py:
 * device A on node:sqlite, device B on sql.js, both through the HTTP transport. Takes the host's
 * base URL, the two users and their team from the environment; prints one JSON report.
 *
 * Each step is written as an app would write it (Drizzle calls); the test on the Python side
 * compares the report with the server's rows.
 */
import { eq } from "drizzle-orm";
import initSqlJs from "sql.js";
import { openNodeSqlite } from "../../src/adapters/node-sqlite.ts";
import { openSqlJs } from "../../src/adapters/sql-js.ts";
import type { RejectedWrite, SyncClient } from "../../src/client/sync-client.ts";
import { openExample, schema, type ExampleSchema } from "../support/example.ts";
import { required } from "../support/env.ts";

const { todos, projects } = schema;

const url = required("SYNC_URL");
const team = required("TEAM_ID");
const otherTeam = required("OTHER_TEAM_ID");

interface Device {
  readonly client: SyncClient<ExampleSchema>;
  readonly rejected: RejectedWrite[];
}

async function device(adapter: Parameters<typeof openExample>[0], user: string): Promise<Device> {
  const client = await openExample(adapter, { url, getToken: () => user });
  const rejected: RejectedWrite[] = [];
  client.registerListener({ rejected: (writes) => rejected.push(...writes) });
  return { client, rejected };
}

async function titles(d: Device): Promise<Record<string, { title: string; done: boolean }>> {
  const rows = await d.client.db.select({ id: todos.id, title: todos.title, done: todos.done }).from(todos);
  return Object.fromEntries(rows.map((row) => [row.id, { title: row.title, done: row.done }]));
}

const SQL = await initSqlJs();
const a = await device(openNodeSqlite(":memory:"), required("USER_A"));
const b = await device(openSqlJs(new SQL.Database()), required("USER_B"));
const steps: Record<string, unknown> = {};

await Promise.all([a.client.sync(), b.client.sync()]);
steps.bootstrap = { a: a.client.status.bootstrap, teams: (await a.client.db.select().from(schema.teams)).length };

// A writes a project and a todo in one client transaction; B writes a todo while "offline" (no sync).
const projectId = crypto.randomUUID();
const first = crypto.randomUUID();
const second = crypto.randomUUID();
await a.client.transaction(async (tx) => {
  await tx.insert(projects).values({ id: projectId, teamId: team, name: "Launch" });
  await tx.insert(todos).values({ id: first, teamId: team, projectId, title: "write docs" });
});
await b.client.db.insert(todos).values({ id: second, teamId: team, title: "fix bug" });
steps.optimistic = { a: await titles(a), pendingA: a.client.status.pending };
await a.client.sync();
await b.client.sync();
await a.client.sync();
steps.afterExchange = { a: await titles(a), b: await titles(b) };

// Both edit the same todo offline, different columns: per-column last writer wins, both kept.
await a.client.db.update(todos).set({ title: "write better docs" }).where(eq(todos.id, first));
await b.client.db.update(todos).set({ done: true }).where(eq(todos.id, first));
await b.client.sync();
await a.client.sync();
await b.client.sync();
steps.columnMerge = { a: (await titles(a))[first], b: (await titles(b))[first] };

// A deletes a todo that B edits offline: deletes win, B's patch is rejected and its row goes.
await a.client.db.delete(todos).where(eq(todos.id, second));
await a.client.sync();
await b.client.db.update(todos).set({ title: "edited after delete" }).where(eq(todos.id, second));
await b.client.sync();
steps.deleteWins = { b: (await titles(b))[second] ?? null };

// B writes into a team it is not a member of: rejected, and the optimistic row vanishes.
const foreign = crypto.randomUUID();
await b.client.db.insert(todos).values({ id: foreign, teamId: otherTeam, title: "not my team" });
steps.foreignBeforeSync = (await titles(b))[foreign] ?? null;
await b.client.sync();
steps.foreignAfterSync = (await titles(b))[foreign] ?? null;

await a.client.sync();
await b.client.sync();
const report = {
  steps,
  devices: Object.fromEntries(
    await Promise.all(
      Object.entries({ a, b }).map(async ([name, d]) => [
        name,
        {
          todos: await titles(d),
          projects: (await d.client.db.select({ id: projects.id }).from(projects)).map((row) => row.id),
          pending: d.client.status.pending,
          state: d.client.status.state,
          rejected: d.rejected.map((write) => ({ code: write.code, op: write.op, pk: write.pk })),
        },
      ]),
    ),
  ) as Record<string, unknown>,
  ids: { projectId, first, second, foreign },
};
await a.client.close();
await b.client.close();
console.log(JSON.stringify(report));
