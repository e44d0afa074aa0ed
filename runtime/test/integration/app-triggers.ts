/**
 * One device against a server whose todos have a BEFORE trigger that skips some writes (returns
 * NULL), run by tests/client/test_app_triggers.py: the device edits and deletes a todo the trigger
 * keeps as it is and adds one it ignores, offline, then syncs. Takes the host's base URL, the user,
 * the team and the locked todos from the environment; prints one JSON report.
 */
import { eq } from "drizzle-orm";
import { openNodeSqlite } from "../../src/adapters/node-sqlite.ts";
import type { RejectedWrite } from "../../src/client/sync-client.ts";
import { openExample, schema } from "../support/example.ts";
import { required } from "../support/env.ts";

const { todos } = schema;
const user = required("USER_ID");
const client = await openExample(openNodeSqlite(":memory:"), { url: required("SYNC_URL"), getToken: () => user });
const rejected: RejectedWrite[] = [];
client.registerListener({ rejected: (writes) => rejected.push(...writes) });

async function titles(): Promise<Record<string, string>> {
  const rows = await client.db.select({ id: todos.id, title: todos.title }).from(todos);
  return Object.fromEntries(rows.map((row) => [row.id, row.title]));
}

await client.sync();
const ignored = crypto.randomUUID();
await client.db.update(todos).set({ title: "edited offline" }).where(eq(todos.id, required("EDITED_ID")));
await client.db.delete(todos).where(eq(todos.id, required("DELETED_ID")));
await client.db.insert(todos).values({ id: ignored, teamId: required("TEAM_ID"), title: "ignored" });
const optimistic = await titles();
await client.sync();
const report = {
  ignored,
  optimistic,
  todos: await titles(),
  rejected: rejected.map((write) => ({ code: write.code, op: write.op })),
  pending: client.status.pending,
  state: client.status.state,
};
await client.close();
console.log(JSON.stringify(report));
