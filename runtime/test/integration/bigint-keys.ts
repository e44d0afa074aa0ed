/**
 * One device syncing a table keyed by 64-bit ids past 2^53 (tickets), run by
 * tests/client/test_bigint_keys.py against a build that syncs it: a bootstrap, then offline an edit
 * of one ticket, a delete of another and a new one, each by its exact id, then a sync. JSON.parse
 * rounded such ids onto each other: the device held two tickets as one, and wrote to ids no ticket
 * has. Takes the ids (decimal text) from the environment; prints one JSON report.
 */
import { sql } from "drizzle-orm";
import { rowObjects } from "../../src/adapters/adapter.ts";
import { openBuild } from "../support/build.ts";
import { required } from "../support/env.ts";

const { client, adapter } = await openBuild();
const tickets = async () => rowObjects(await adapter.execute('SELECT CAST("id" AS TEXT) AS "id", "title" FROM "tickets" ORDER BY "id"'));

await client.sync();
const pulled = await tickets();
await client.db.run(sql`UPDATE tickets SET title = 'edited offline' WHERE id = ${BigInt(required("EDITED_ID"))}`);
await client.db.run(sql`DELETE FROM tickets WHERE id = ${BigInt(required("DELETED_ID"))}`);
await client.db.run(
  sql`INSERT INTO tickets (id, team_id, title) VALUES (${BigInt(required("MADE_ID"))}, ${required("TEAM_ID")}, 'made offline')`,
);
const outbox = rowObjects(await adapter.execute('SELECT "op", "pk" FROM "_sync_outbox" ORDER BY "id"'));
const rejected: unknown[] = [];
client.registerListener({ rejected: (writes) => rejected.push(...writes.map(({ op, code }) => ({ op, code }))) });
await client.sync();
const report = { pulled, outbox, rejected, synced: await tickets(), state: client.status.state, pending: client.status.pending };
await client.close();
console.log(JSON.stringify(report));
