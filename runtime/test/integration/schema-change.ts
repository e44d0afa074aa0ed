/**
 * One device across a server schema change, run by tests/client/test_schema_change.py in phases,
 * each a separate process on the same database file, as successive app builds would be:
 *   write      build 1: bootstrap, then a todo written offline, then its project changed, then its
 *              title (three pending writes);
 *   old-build  build 1 again after the server moved to version 2: the sync is refused (409);
 *   new-build  build 2: opening migrates (the outbox kept: a dropped column's value pruned from the
 *              todo's put, the patch of that column alone kept as it was), then syncs: the server
 *              rejects the stale patch and applies the writes around it.
 * GENERATED names the build's generated directory. Prints one JSON report.
 */
import { sql } from "drizzle-orm";
import { rowObjects } from "../../src/adapters/adapter.ts";
import { SyncHttpError } from "../../src/client/errors.ts";
import { openBuild } from "../support/build.ts";
import { required } from "../support/env.ts";

const phase = required("PHASE");
const team = required("TEAM_ID");
const { client, adapter } = await openBuild();
const report: Record<string, unknown> = { phase, migration: client.migration };

if (phase === "write") {
  await client.sync();
  const project = crypto.randomUUID();
  await client.db.run(sql`INSERT INTO projects (id, team_id, name) VALUES (${project}, ${team}, 'Launch')`);
  await client.sync();
  const todo = crypto.randomUUID();
  await client.db.run(
    sql`INSERT INTO todos (id, team_id, project_id, title, updated_at) VALUES (${todo}, ${team}, ${project}, 'written offline', ${Date.now()})`,
  );
  const other = crypto.randomUUID();
  await client.db.run(sql`INSERT INTO projects (id, team_id, name) VALUES (${other}, ${team}, 'Later')`);
  await client.db.run(sql`UPDATE todos SET project_id = ${other} WHERE id = ${todo}`);
  await client.db.run(sql`UPDATE todos SET title = 'renamed offline' WHERE id = ${todo}`);
  Object.assign(report, { todo, project });
} else if (phase === "old-build") {
  const error = await client.sync().then(
    () => null,
    (failure: unknown) => failure,
  );
  report.error = error instanceof SyncHttpError ? { status: error.status, code: error.code } : String(error);
} else {
  const rejected: unknown[] = [];
  client.registerListener({ rejected: (writes) => rejected.push(...writes.map(({ id, table, op, code }) => ({ id, table, op, code }))) });
  await client.sync();
  report.todos = rowObjects(await adapter.execute("SELECT * FROM todos"));
  report.rejected = rejected;
}
Object.assign(report, { state: client.status.state, pending: client.status.pending });
await client.close();
console.log(JSON.stringify(report));
