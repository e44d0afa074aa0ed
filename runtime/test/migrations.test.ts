import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { eq } from "drizzle-orm";
import type { SqliteAdapter } from "../src/adapters/adapter.ts";
import { openNodeSqlite } from "../src/adapters/node-sqlite.ts";
import { SyncDatabaseNewerError } from "../src/client/errors.ts";
import { migrate, type ClientMigration } from "../src/client/migrations.ts";
import { discardTransaction } from "../src/client/outbox.ts";
import { storedSchemaVersion } from "../src/client/state.ts";
import { SyncClient } from "../src/client/sync-client.ts";
import { SyncedTables } from "../src/client/tables.ts";
import type { TableMeta } from "../src/protocol/tables.ts";
import { countingAdapter } from "./support/counting-adapter.ts";
import { clientMigrations, meta, openExample, schema } from "./support/example.ts";
import { ScriptedTransport } from "./support/scripted-transport.ts";

const directory = mkdtempSync(join(tmpdir(), "drizzlesync-migrations-"));
after(() => {
  rmSync(directory, { recursive: true, force: true });
});

/** Version 2 of the example: todos.project_id dropped (its triggers go with it; this test writes no more). */
const dropProjectId: ClientMigration = {
  version: 2,
  statements: [
    ...["insert", "update", "delete", "rekey"].map((kind) => `DROP TRIGGER "todos_outbox_${kind}"`),
    'ALTER TABLE "todos" DROP COLUMN "project_id"',
    'UPDATE "_sync_state" SET "schema_version" = 2, "cursor" = NULL',
  ],
};

const metaV2 = {
  schemaVersion: 2,
  syncTables: {
    ...meta.syncTables,
    todos: { ...meta.syncTables.todos, columns: meta.syncTables.todos.columns.filter((c) => c.name !== "project_id") },
  } satisfies Record<string, TableMeta>,
};

/** The build at version 2 opening `file`: it migrates, and syncs only when told. */
function openAtVersion2(file: string, transport: ScriptedTransport) {
  return SyncClient.open({
    adapter: openNodeSqlite(file),
    schema,
    meta: metaV2,
    migrations: [...clientMigrations, dropProjectId],
    transport,
    syncOnOpen: false,
    intervalMs: null,
  });
}

describe("client migrations on open", () => {
  it("migrate the outbox along: pending values of dropped columns are pruned, a write left with none kept as queued", async () => {
    const file = join(directory, "v1-to-v2.sqlite3");
    const v1 = await openExample(openNodeSqlite(file), new ScriptedTransport());
    await v1.db.insert(schema.todos).values({ id: "a", teamId: "t", projectId: "p", title: "one" });
    await v1.db.update(schema.todos).set({ projectId: "q" }).where(eq(schema.todos.id, "a"));
    await v1.db.update(schema.todos).set({ title: "renamed" }).where(eq(schema.todos.id, "a"));
    await v1.close();

    const transport = new ScriptedTransport();
    const v2 = await openAtVersion2(file, transport);
    assert.deepEqual({ from: v2.migration.from, to: v2.migration.to }, { from: 1, to: 2 });
    assert.deepEqual(v2.migration.pruned, [
      { id: 1, table: "todos", columns: ["project_id"], stale: false },
      { id: 2, table: "todos", columns: ["project_id"], stale: true },
    ]);
    assert.equal(v2.status.pending, 3);

    // The stale patch goes as it was queued, between the writes around it: a push that skipped its
    // id would be refused (409 mutation_gap) for good. The server rejects it by the column's name
    // (tests/client/test_schema_change.py runs this against it).
    await v2.sync();
    const [push] = transport.pushes;
    assert.ok(push !== undefined);
    assert.deepEqual(
      push.mutations.map(({ id, op, values }) => [id, op, Object.keys(values ?? {}).sort()]),
      [
        [1, "put", ["done", "id", "team_id", "title", "updated_at"]],
        [2, "patch", ["project_id"]],
        [3, "patch", ["title"]],
      ],
    );
    assert.deepEqual(push.mutations[1]?.values, { project_id: "q" });
    assert.equal(v2.status.pending, 0);
    await v2.close();
  });

  it("give a stale write a client transaction of its own, after the writes of its transaction that the new version keeps", async () => {
    const file = join(directory, "stale-in-transaction.sqlite3");
    const v1 = await openExample(openNodeSqlite(file), new ScriptedTransport());
    await v1.db.insert(schema.todos).values({ id: "a", teamId: "t", projectId: "p", title: "one" });
    await v1.transaction(async (tx) => {
      await tx.update(schema.todos).set({ projectId: "q" }).where(eq(schema.todos.id, "a"));
      await tx.update(schema.todos).set({ title: "renamed" }).where(eq(schema.todos.id, "a"));
      await tx.update(schema.todos).set({ projectId: "r" }).where(eq(schema.todos.id, "a"));
      await tx.update(schema.todos).set({ done: true }).where(eq(schema.todos.id, "a"));
    });
    await v1.close();

    const transport = new ScriptedTransport();
    const v2 = await openAtVersion2(file, transport);
    // Rejected in the transaction of the title and done patches, the stale patches took them along
    // (transaction_rolled_back): lost, where one statement setting all three loses only project_id.
    assert.deepEqual(v2.migration.pruned, [
      { id: 1, table: "todos", columns: ["project_id"], stale: false },
      { id: 4, table: "todos", columns: ["project_id"], stale: true },
      { id: 5, table: "todos", columns: ["project_id"], stale: true },
    ]);
    await v2.sync();
    const [push] = transport.pushes;
    assert.ok(push !== undefined);
    const [, { tx }] = push.mutations as [unknown, { tx: number }];
    assert.deepEqual(
      push.mutations.map((m) => [m.id, m.tx, m.op, m.values]),
      [
        [1, push.mutations[0]?.tx, "put", { id: "a", team_id: "t", title: "one", done: false, updated_at: push.mutations[0]?.values?.updated_at }],
        [2, tx, "patch", { title: "renamed" }],
        [3, tx, "patch", { done: true }],
        [4, -1, "patch", { project_id: "q" }],
        [5, -2, "patch", { project_id: "r" }],
      ],
    );
    await v2.close();
  });

  it("give each isolated stale write a transaction no pending write has, after a refused transaction was discarded and ids moved down", async () => {
    const adapter = openNodeSqlite(":memory:");
    await migrate(adapter, clientMigrations, new SyncedTables(meta.syncTables));
    const queue = async (id: number, tx: number, op: string, values: object) => {
      await adapter.execute('INSERT INTO "_sync_outbox" ("id", "tx", "table", "op", "pk", "values") VALUES (?, ?, \'todos\', ?, \'{"id":"a"}\', ?)', [
        id,
        tx,
        op,
        JSON.stringify(values),
      ]);
    };
    await queue(1, 1, "put", { id: "a", team_id: "t", title: "huge", done: false, updated_at: 0 }); // refused: 413
    await queue(2, 1, "patch", { title: "huge" });
    await queue(3, 2, "patch", { project_id: "q" });
    await queue(4, 2, "patch", { title: "kept" });
    await queue(5, 2, "patch", { done: true });
    // Version 2 drops project_id: the title and done patches keep transaction 2 as ids 3 and 4, the
    // stale patch goes to 5, alone; the discard moves them to 1, 2 and 3.
    await migrate(adapter, [...clientMigrations, dropProjectId], new SyncedTables(metaV2.syncTables));
    await discardTransaction(adapter, 1, 0);
    await queue(4, 3, "patch", { title: "later" });
    await queue(5, 3, "patch", { done: false });
    // Version 3 drops done: the patches of it (2, 5) are stale in transactions with kept ones, and are
    // isolated. Numbered by the negative of its new id, as they were, 5's would be the transaction 3 had.
    const dropDone: ClientMigration = { version: 3, statements: ['UPDATE "_sync_state" SET "schema_version" = 3'] };
    const todos = { ...metaV2.syncTables.todos, columns: metaV2.syncTables.todos.columns.filter((c) => c.name !== "done") };
    await migrate(adapter, [...clientMigrations, dropProjectId, dropDone], new SyncedTables({ ...metaV2.syncTables, todos }));
    const outbox = (await adapter.execute('SELECT "id", "tx" FROM "_sync_outbox" ORDER BY "id"')).rows.map(([id, tx]) => [Number(id), Number(tx)]);
    assert.deepEqual(outbox.map(([id]) => id), [1, 2, 3, 4, 5]);
    // The server refuses a batch in which one transaction's writes are not adjacent (400 tx_not_contiguous).
    const runs = outbox.map(([, tx]) => tx).filter((tx, index, all) => index === 0 || all[index - 1] !== tx);
    assert.equal(new Set(runs).size, runs.length, `a transaction split in two runs: ${JSON.stringify(outbox)}`);
    await adapter.close();
  });

  it("list as stale a write whose key lacks a column the new version added to the key: the server refuses it (invalid_key)", async () => {
    const file = join(directory, "rekeyed.sqlite3");
    const v1 = await openExample(openNodeSqlite(file), new ScriptedTransport());
    await v1.db.insert(schema.todos).values({ id: "a", teamId: "t", title: "one" });
    await v1.db.insert(schema.projects).values({ id: "p", teamId: "t", name: "kept" });
    await v1.close();

    // todos keyed by (id, team_id) from version 2; the step's rebuild aside, the outbox is what counts here.
    const rekey: ClientMigration = { version: 2, statements: ['UPDATE "_sync_state" SET "schema_version" = 2, "cursor" = NULL'] };
    const todos = { ...meta.syncTables.todos, primaryKey: ["id", "team_id"] };
    const v2 = await SyncClient.open({
      adapter: openNodeSqlite(file),
      schema,
      meta: { schemaVersion: 2, syncTables: { ...meta.syncTables, todos } },
      migrations: [...clientMigrations, rekey],
      transport: new ScriptedTransport(),
      syncOnOpen: false,
      intervalMs: null,
    });
    // Not listed, the app had no word of the write until the server refused it.
    assert.deepEqual(v2.migration.pruned, [{ id: 1, table: "todos", columns: ["id", "team_id", "project_id", "title", "done", "updated_at"], stale: true }]);
    await v2.close();
  });

  it("do not list as stale a patch whose only value a step removed (a null of a column made NOT NULL): it is no write of dropped columns", async () => {
    const file = join(directory, "tightened.sqlite3");
    const v1 = await openExample(openNodeSqlite(file), new ScriptedTransport());
    await v1.db.insert(schema.todos).values({ id: "a", teamId: "t", projectId: "p", title: "one" });
    await v1.db.update(schema.todos).set({ projectId: null }).where(eq(schema.todos.id, "a"));
    await v1.close();

    // What the generated step does for todos.project_id made NOT NULL (docs/codegen.md, "Client
    // migrations"): the pending null goes, and the server keeps the row's value. The docs say the
    // steps' removals are not listed in `pruned`; listed as stale, the app expects a rejection
    // by name that never comes, since the server takes the empty patch.
    const tighten: ClientMigration = {
      version: 2,
      statements: [
        `UPDATE "_sync_outbox" SET "values" = json_remove("values", '$."project_id"') WHERE "table" = 'todos' AND json_type("values", '$."project_id"') = 'null'`,
        'UPDATE "_sync_state" SET "schema_version" = 2',
      ],
    };
    const v2 = await SyncClient.open({
      adapter: openNodeSqlite(file),
      schema,
      meta: { ...meta, schemaVersion: 2 },
      migrations: [...clientMigrations, tighten],
      transport: new ScriptedTransport(),
      syncOnOpen: false,
      intervalMs: null,
    });
    assert.deepEqual(v2.migration, { from: 1, to: 2, pruned: [], repaired: [] });
    assert.equal(v2.status.pending, 2);
    await v2.close();
  });

  it("prune in the last step's transaction: a tab closed right after it leaves no dropped column in a pending write", async () => {
    const file = join(directory, "closed-after-step.sqlite3");
    const v1 = await openExample(openNodeSqlite(file), new ScriptedTransport());
    await v1.db.insert(schema.todos).values({ id: "a", teamId: "t", projectId: "p", title: "one" });
    await v1.close();

    // The tab dies as step 2's transaction commits: nothing after it may be needed.
    const options = { schema, meta: metaV2, migrations: [...clientMigrations, dropProjectId], syncOnOpen: false, intervalMs: null } as const;
    const dying = openNodeSqlite(file);
    const diesAfterStep: SqliteAdapter = {
      execute: (sql, params) => dying.execute(sql, params),
      batch: (statements) => dying.batch(statements),
      close: () => dying.close(),
      transaction: async (work) => {
        await dying.transaction(work);
        throw new Error("tab closed");
      },
    };
    await assert.rejects(SyncClient.open({ ...options, adapter: diesAfterStep, transport: new ScriptedTransport() }), /tab closed/);
    const reopened = openNodeSqlite(file);
    assert.equal(await storedSchemaVersion(reopened), 2);
    await reopened.close();

    const transport = new ScriptedTransport();
    const v2 = await SyncClient.open({ ...options, adapter: openNodeSqlite(file), transport });
    await v2.sync();
    assert.deepEqual(Object.keys(transport.pushes[0]?.mutations[0]?.values ?? {}).sort(), ["done", "id", "team_id", "title", "updated_at"]);
    await v2.close();
  });

  it("send each step to the database in one trip (a Worker message), and a failing step leaves the version before it", async () => {
    const { adapter, trips } = countingAdapter();
    const [first] = clientMigrations;
    assert.ok(first !== undefined);
    const broken: ClientMigration = { version: 2, statements: ['CREATE TABLE "half_done" ("id" TEXT)', "NOT SQL"] };
    await assert.rejects(migrate(adapter, [first, broken], new SyncedTables(meta.syncTables)), /syntax error/);
    const migrationTrips = trips.log.filter((trip) => trip !== "SELECT");
    assert.deepEqual(migrationTrips, ["BEGIN", `batch of ${first.statements.length}`, "COMMIT", "BEGIN", "batch of 2", "ROLLBACK"]);
    assert.equal(await storedSchemaVersion(adapter), 1);
    const halfDone = await adapter.execute("SELECT 1 FROM sqlite_master WHERE name = 'half_done'");
    assert.equal(halfDone.rows.length, 0);
    await adapter.close();
  });

  it("give a database at the build's version its outbox triggers where an earlier build made them otherwise, and write nothing when they match", async () => {
    const { adapter, trips } = countingAdapter();
    const tables = new SyncedTables(meta.syncTables);
    await migrate(adapter, clientMigrations, tables);
    const generated = clientMigrations.at(-1)?.triggers?.find((trigger) => trigger.name === "todos_outbox_update");
    assert.ok(generated !== undefined);
    // An earlier build's trigger under the same name, one that records no patch.
    await adapter.execute('DROP TRIGGER "todos_outbox_update"');
    await adapter.execute('CREATE TRIGGER "todos_outbox_update" AFTER UPDATE ON "todos" BEGIN SELECT 1; END');
    const stored = async () => (await adapter.execute("SELECT sql FROM sqlite_master WHERE name = 'todos_outbox_update'")).rows[0]?.[0];

    trips.log.length = 0;
    assert.deepEqual(await migrate(adapter, clientMigrations, tables), { from: 1, to: 1, pruned: [], repaired: [] });
    const writes = () => trips.log.filter((trip) => trip !== "SELECT");
    assert.deepEqual(writes(), ["BEGIN", "batch of 2", "COMMIT"], "the one trigger replaced, in one transaction");
    assert.equal(await stored(), generated.sql);
    await adapter.execute(`INSERT INTO "todos" ("id", "team_id", "title", "updated_at") VALUES ('a', 't', 'one', 1796601600000)`);
    await adapter.execute(`UPDATE "todos" SET "title" = 'two' WHERE "id" = 'a'`);
    const outbox = await adapter.execute('SELECT "op", "values" FROM "_sync_outbox" ORDER BY "id"');
    assert.deepEqual(outbox.rows.at(-1), ["patch", '{"title":"two"}']);

    trips.log.length = 0;
    await migrate(adapter, clientMigrations, tables);
    assert.deepEqual(writes(), [], "triggers that match are read, not written");
    await adapter.close();
  });

  it("add a column this build syncs that the device's table lacks, its step changed since the device ran it, and bootstrap to fill it", async () => {
    const adapter = openNodeSqlite();
    await migrate(adapter, clientMigrations, new SyncedTables(meta.syncTables));
    await adapter.execute(`UPDATE "_sync_state" SET "cursor" = 'c1'`);
    // The same schema version, its step rewritten to sync projects.color too: this device ran it as first written.
    const color = { name: "color", key: "color", column: "color", codec: "text", nullable: true, pushed: true } as const;
    const projects = { ...meta.syncTables.projects, columns: [...meta.syncTables.projects.columns, color] };
    const rewritten = new SyncedTables({ ...meta.syncTables, projects });
    await assert.rejects(adapter.execute('SELECT "color" FROM "projects"'), /no such column/);

    const result = await migrate(adapter, clientMigrations, rewritten);
    assert.deepEqual(result.repaired, [{ table: "projects", columns: ["color"] }]);
    assert.deepEqual((await adapter.execute('SELECT "cursor" FROM "_sync_state"')).rows, [[null]], "the next pull bootstraps");
    assert.deepEqual((await adapter.execute('SELECT "color" FROM "projects"')).rows, []);
    assert.deepEqual((await migrate(adapter, clientMigrations, rewritten)).repaired, []);
    await adapter.close();
  });

  it("refuses a build older than the database, and closes the adapter it was given", async () => {
    const file = join(directory, "newer.sqlite3");
    const adapter = openNodeSqlite(file);
    for (const step of [...clientMigrations, dropProjectId]) {
      await adapter.transaction(async (tx) => {
        for (const statement of step.statements) await tx.execute(statement);
      });
    }
    await assert.rejects(
      openExample(adapter, new ScriptedTransport()),
      (error) => error instanceof SyncDatabaseNewerError && error.databaseVersion === 2 && error.buildVersion === 1,
    );
    // Closed by the failed open, as the client's close() would: a Worker left open would hold the file.
    await assert.rejects(adapter.execute("SELECT 1"), /not open/);
  });
});
