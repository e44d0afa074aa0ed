/**
 * One device across server schema changes, run by tests/client/test_schema_evolution.py in phases,
 * each a separate process on the same database file, as successive app builds would be:
 *   write  bootstrap, then rename the todo TODO_ID offline (one pending write);
 *   together  bootstrap, then in one client transaction give the todo a project and rename it
 *          offline (two pending writes, one transaction);
 *   flags  bootstrap, then set the todo's `urgent` to 'yes' and its `starred` to 2 offline (one
 *          pending write; the build's todos have those columns, as text and integer);
 *   open   open with the build (which migrates), then sync: the report says how the open went
 *          (`openError` when it threw), the migration, and what is left pending;
 *   insert open with the build, sync, add a project in the todo's team naming only its key, team
 *          and name, sync: the report has the projects as the device holds them then;
 *   rekey  open with the build, sync, give every project a new key, sync: the same report.
 * GENERATED names the build's generated directory. Prints one JSON report.
 */
import { sql } from "drizzle-orm";
import { rowObjects } from "../../src/adapters/adapter.ts";
import { openBuild } from "../support/build.ts";
import { required } from "../support/env.ts";

const { client, adapter } = await openBuild().catch((failure: unknown) => {
  // A step that fails fails every open of this build: the device cannot start.
  console.log(JSON.stringify({ openError: String(failure) }));
  process.exit(0);
});
const report: Record<string, unknown> = { migration: client.migration };

if (required("PHASE") === "write") {
  await client.sync();
  await client.db.run(sql`UPDATE todos SET title = 'renamed offline' WHERE id = ${required("TODO_ID")}`);
} else if (required("PHASE") === "together") {
  await client.sync();
  await client.transaction(async (tx) => {
    await tx.run(sql`UPDATE todos SET project_id = ${crypto.randomUUID()} WHERE id = ${required("TODO_ID")}`);
    await tx.run(sql`UPDATE todos SET title = 'renamed offline' WHERE id = ${required("TODO_ID")}`);
  });
} else if (required("PHASE") === "flags") {
  await client.sync();
  await client.db.run(sql`UPDATE todos SET urgent = 'yes', starred = 2 WHERE id = ${required("TODO_ID")}`);
} else if (required("PHASE") === "insert") {
  await client.sync();
  const [todo] = rowObjects(await adapter.execute("SELECT team_id FROM todos WHERE id = ?", [required("TODO_ID")]));
  await client.db.run(sql`INSERT INTO projects (id, team_id, name) VALUES (${crypto.randomUUID()}, ${todo?.team_id}, 'made offline')`);
  await client.sync();
  report.projects = rowObjects(await adapter.execute("SELECT * FROM projects"));
} else if (required("PHASE") === "rekey") {
  await client.sync();
  await client.db.run(sql`UPDATE projects SET id = ${crypto.randomUUID()}`);
  await client.sync();
  report.projects = rowObjects(await adapter.execute("SELECT * FROM projects"));
} else {
  await client.sync();
  report.todos = rowObjects(await adapter.execute("SELECT id, title FROM todos ORDER BY id"));
}
Object.assign(report, { state: client.status.state, pending: client.status.pending });
await client.close();
console.log(JSON.stringify(report));
