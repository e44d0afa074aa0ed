import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { describe, it } from "node:test";
import { cutAtTransaction, toMutation, type OutboxEntry } from "../src/client/outbox.ts";
import { SyncedTables } from "../src/client/tables.ts";
import type { ColumnMeta } from "../src/protocol/tables.ts";
import { clientMigrations } from "./support/example.ts";

function entries(...txs: number[]): OutboxEntry[] {
  return txs.map((tx, index) => ({ id: index + 1, tx, table: "todos", op: "patch", pk: { id: "a" }, values: {} }));
}

describe("cutAtTransaction", () => {
  it("takes everything when all of it fits", () => {
    assert.deepEqual(cutAtTransaction(entries(1, 1, 2), 3)?.map((e) => e.id), [1, 2, 3]);
  });

  it("ends the batch before a transaction that would be split", () => {
    // Four read for a batch of three: entry 4 belongs to tx 2, so tx 2 waits for the next batch.
    assert.deepEqual(cutAtTransaction(entries(1, 2, 2, 2), 3)?.map((e) => e.id), [1]);
  });

  it("keeps a transaction that ends exactly at the limit", () => {
    assert.deepEqual(cutAtTransaction(entries(1, 2, 2, 3), 3)?.map((e) => e.id), [1, 2, 3]);
  });

  it("says so when the first transaction alone is larger than the limit", () => {
    assert.equal(cutAtTransaction(entries(5, 5, 5, 5), 3), null);
  });
});

describe("the _sync_outbox table", () => {
  it("takes the three operations and refuses any other", () => {
    const db = new DatabaseSync(":memory:");
    for (const step of clientMigrations) for (const statement of step.statements) db.exec(statement);
    const insert = db.prepare(`INSERT INTO "_sync_outbox" ("tx", "table", "op", "pk") VALUES (1, 'todos', ?, '{}')`);
    for (const op of ["put", "patch", "delete"]) insert.run(op);
    for (const op of ["upsert", "PUT", ""]) assert.throws(() => insert.run(op), /CHECK constraint failed/);
    assert.equal(db.prepare('SELECT count(*) AS n FROM "_sync_outbox"').get()?.n, 3);
    db.close();
  });
});

describe("columns the server fills in", () => {
  const column = (name: string, serverDefault = false): ColumnMeta => ({
    name,
    key: name,
    column: name,
    codec: "text",
    nullable: true,
    pushed: true,
    ...(serverDefault ? { serverDefault } : {}),
  });
  // `code text DEFAULT upper(...)`, `ticket bigserial`: defaults the device cannot compute.
  const tables = new SyncedTables({
    tickets: {
      name: "tickets",
      sqliteTable: "tickets",
      primaryKey: ["id"],
      scope: null,
      columns: [column("id"), column("title"), column("code", true), column("ticket", true)],
    },
  });
  const entry = (op: OutboxEntry["op"], values: Record<string, unknown>): OutboxEntry => ({
    id: 1,
    tx: 1,
    table: "tickets",
    op,
    pk: { id: "a" },
    values: { id: "a", ...values },
  });

  it("leaves a put's nulls of those columns out, so that the server fills them in", () => {
    const put = toMutation(entry("put", { title: null, code: null, ticket: "7" }), tables);
    assert.deepEqual(put.values, { id: "a", title: null, ticket: "7" });
  });

  it("keeps the nulls of a put that moves a row to a new key: they are the row's values", () => {
    const moved = { ...entry("put", { title: null, code: null, ticket: null }), id: 2, pk: { id: "b" }, values: { id: "b", title: null, code: null, ticket: null } };
    const deleted: OutboxEntry = { id: 1, tx: 1, table: "tickets", op: "delete", pk: { id: "a" }, values: null };
    assert.deepEqual(toMutation(moved, tables, deleted).values, { id: "b", title: null, code: null, ticket: null });
    assert.deepEqual(toMutation(moved, tables, { ...deleted, tx: 0 }).values, { id: "b", title: null });
    const replayed = tables.get("tickets").replay("put", { id: "b" }, moved.values, true);
    assert.deepEqual(replayed?.[1], ["b", null, null, null]);
  });

  it("keeps a patch's null: setting such a column to null is the app's own write", () => {
    assert.deepEqual(toMutation(entry("patch", { code: null }), tables).values, { id: "a", code: null });
  });

  it("replays a pending put as the server will apply it, over the pulled value", () => {
    const replayed = tables.get("tickets").replay("put", { id: "a" }, { id: "a", title: "t", code: null, ticket: null });
    assert.ok(replayed !== null);
    const [sql, params] = replayed;
    assert.equal(sql, 'INSERT INTO "tickets" ("id", "title") VALUES (?, ?) ON CONFLICT ("id") DO UPDATE SET "title" = excluded."title"');
    assert.deepEqual(params, ["a", "t"]);
  });
});
