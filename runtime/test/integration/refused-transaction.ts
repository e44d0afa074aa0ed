/**
 * A client transaction too large for the host even alone, against a real sync host run with a small
 * `--max-body-bytes` (tests/client/test_refused_transaction.py): the device keeps pulling while the
 * host refuses it, then gives it up with `discardRefusedTransaction()`, and the write made after it
 * reaches the server. Then a write the host cannot store (a NUL character, 400 `invalid_string`
 * naming it) between two others: the one ahead of it is pushed on its own, it is given up, and the
 * one behind it reaches the server. Prints one JSON report.
 */
import { openNodeSqlite } from "../../src/adapters/node-sqlite.ts";
import type { RejectedWrite } from "../../src/client/sync-client.ts";
import { openExample, schema } from "../support/example.ts";
import { required } from "../support/env.ts";

const { todos } = schema;

const url = required("SYNC_URL");
const team = required("TEAM_ID");
const user = required("USER_A");
const client = await openExample(openNodeSqlite(":memory:"), { url, getToken: () => user });
const rejected: RejectedWrite[] = [];
client.registerListener({ rejected: (writes) => rejected.push(...writes) });

async function shown(): Promise<string[]> {
  return (await client.db.select({ title: todos.title }).from(todos).orderBy(todos.title)).map((row) => row.title.slice(0, 20));
}

async function failure(): Promise<string | null> {
  return client.sync().then(
    () => null,
    (error: unknown) => (error instanceof Error ? error.message : String(error)),
  );
}

await client.sync();
await client.db.insert(todos).values({ teamId: team, title: "before" });
await client.sync();
await client.db.insert(todos).values({ teamId: team, title: "huge ".repeat(10_000) });
await client.db.insert(todos).values({ teamId: team, title: "after" });
const steps: Record<string, unknown> = {};
// One sync: the batch of both refused, then at once the large one alone; the sync pulls all the same.
steps.refusals = [await failure()];
steps.whileRefused = { shown: await shown(), pending: client.status.pending, state: client.status.state };
steps.discarded = (await client.discardRefusedTransaction()).map((write) => ({ code: write.code, op: write.op }));
await client.sync();
steps.after = { shown: await shown(), pending: client.status.pending, state: client.status.state };

await client.db.insert(todos).values({ teamId: team, title: "ahead" });
await client.db.insert(todos).values({ teamId: team, title: "nul \u0000 inside" });
await client.db.insert(todos).values({ teamId: team, title: "behind" });
// One sync: the batch of three refused for its second write, then the first pushed alone, and the
// other two refused for the one now at their head.
steps.nulRefusals = [await failure()];
steps.nulDiscarded = (await client.discardRefusedTransaction()).map((write) => ({ code: write.code, op: write.op }));
await client.sync();
steps.nulAfter = { shown: await shown(), pending: client.status.pending, state: client.status.state };
steps.rejected = rejected.map((write) => write.code);
await client.close();
console.log(JSON.stringify(steps));
