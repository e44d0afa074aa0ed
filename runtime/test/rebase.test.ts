import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { rowObjects, type SqliteAdapter } from "../src/adapters/adapter.ts";
import { openNodeSqlite } from "../src/adapters/node-sqlite.ts";
import { rebase } from "../src/client/apply.ts";
import { SyncedTables } from "../src/client/tables.ts";
import { clientMigrations, meta } from "./support/example.ts";

const tables = new SyncedTables(meta.syncTables);

/** The example schema with one server row, and outbox entries as the triggers would have written them. */
async function database(outbox: [op: string, pk: object, values: object | null][]): Promise<SqliteAdapter> {
  const db = openNodeSqlite();
  for (const step of clientMigrations) for (const statement of step.statements) await db.execute(statement);
  await db.execute('UPDATE "_sync_state" SET "applying" = 1');
  await db.execute("INSERT INTO todos (id, team_id, title, done, updated_at) VALUES ('a', 't', 'server', 0, 0)");
  for (const [op, pk, values] of outbox) {
    await db.execute('INSERT INTO "_sync_outbox" ("tx", "table", "op", "pk", "values") VALUES (1, \'todos\', ?, ?, ?)', [
      op,
      JSON.stringify(pk),
      values === null ? null : JSON.stringify(values),
    ]);
  }
  return db;
}

async function todos(db: SqliteAdapter): Promise<Record<string, unknown>[]> {
  return rowObjects(await db.execute("SELECT id, title, done FROM todos ORDER BY id"));
}

describe("rebase", () => {
  it("replays put, patch and delete in id order on the rows a page touched", async () => {
    const db = await database([
      ["patch", { id: "a" }, { title: "mine", done: 1 }],
      ["put", { id: "b" }, { id: "b", team_id: "t", project_id: null, title: "new", done: 0, updated_at: 5 }],
      ["patch", { id: "b" }, { title: "newer" }],
      ["delete", { id: "c" }, null],
    ]);
    await db.execute("INSERT INTO todos (id, team_id, title, done, updated_at) VALUES ('c', 't', 'pulled', 0, 0)");
    const touched = new Map([["todos", new Set(['["a"]', '["b"]', '["c"]'])]]);
    await db.transaction((tx) => rebase(tx, tables, touched, 0));
    assert.deepEqual(await todos(db), [
      { id: "a", title: "mine", done: 1 },
      { id: "b", title: "newer", done: 0 },
    ]);
  });

  it("leaves rows the page did not touch, and entries the server has acknowledged, alone", async () => {
    const db = await database([
      ["patch", { id: "a" }, { title: "acknowledged" }],
      ["patch", { id: "a" }, { done: 1 }],
    ]);
    await db.transaction((tx) => rebase(tx, tables, new Map([["todos", new Set(['["zzz"]'])]]), 0));
    assert.deepEqual(await todos(db), [{ id: "a", title: "server", done: 0 }]);
    await db.transaction((tx) => rebase(tx, tables, new Map([["todos", new Set(['["a"]'])]]), 1));
    assert.deepEqual(await todos(db), [{ id: "a", title: "server", done: 1 }], "entry 1 is acknowledged: not replayed");
  });

  it("does not resurrect a row with a patch: the server would refuse it too", async () => {
    const db = await database([["patch", { id: "gone" }, { title: "edited" }]]);
    await db.transaction((tx) => rebase(tx, tables, "all", 0));
    assert.deepEqual(await todos(db), [{ id: "a", title: "server", done: 0 }]);
  });
});
