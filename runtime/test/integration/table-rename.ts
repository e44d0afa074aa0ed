/**
 * One device across a revision that renames a synced table (todos to tasks, or to app.todos: the
 * SQLite table NEW_TABLE), run by
 * tests/client/test_table_rename.py in phases, each a separate process on the same database file,
 * as successive app builds would be:
 *   write      build 1: bootstrap (the server's todos), then offline a new todo (put), a pulled one
 *              retitled (patch) and another deleted (delete): three pending writes;
 *   new-build  build 2, after the server renamed todos to tasks: opening migrates (the rows kept
 *              under the new name, the pending writes moved to it, nothing pruned), then syncs.
 * GENERATED names the build's generated directory; KEEP and DROP the pulled todos to retitle and
 * delete. Prints one JSON report.
 */
import { sql } from "drizzle-orm";
import { rowObjects } from "../../src/adapters/adapter.ts";
import { openBuild } from "../support/build.ts";
import { required } from "../support/env.ts";

const phase = required("PHASE");
const { client, adapter } = await openBuild();
const report: Record<string, unknown> = { phase, migration: client.migration };

if (phase === "write") {
  await client.sync();
  report.pulled = rowObjects(await adapter.execute("SELECT id FROM todos ORDER BY id")).map((row) => row.id);
  const made = crypto.randomUUID();
  await client.db.run(
    sql`INSERT INTO todos (id, team_id, title, updated_at) VALUES (${made}, ${required("TEAM_ID")}, 'made offline', ${Date.now()})`,
  );
  await client.db.run(sql`UPDATE todos SET title = 'retitled offline' WHERE id = ${required("KEEP")}`);
  await client.db.run(sql`DELETE FROM todos WHERE id = ${required("DROP")}`);
  report.made = made;
} else {
  const renamed = JSON.stringify(required("NEW_TABLE"));
  report.local = rowObjects(await adapter.execute(`SELECT id, title FROM ${renamed} ORDER BY id`));
  report.outbox = rowObjects(await adapter.execute('SELECT "table", "op" FROM "_sync_outbox" ORDER BY "id"'));
  const rejected: unknown[] = [];
  client.registerListener({ rejected: (writes) => rejected.push(...writes.map(({ id, table, op, code }) => ({ id, table, op, code }))) });
  await client.sync();
  report.rejected = rejected;
  report.synced = rowObjects(await adapter.execute(`SELECT id, title FROM ${renamed} ORDER BY id`));
}
Object.assign(report, { state: client.status.state, pending: client.status.pending });
await client.close();
console.log(JSON.stringify(report));
