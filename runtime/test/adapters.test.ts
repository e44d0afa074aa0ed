import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { rowObjects } from "../src/adapters/adapter.ts";
import { adapterFactories } from "./support/adapters.ts";

for (const factory of adapterFactories) {
  describe(`adapter ${factory.name}`, () => {
    it("runs statements with parameters and returns rows by position", async () => {
      const db = factory.open();
      await db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, data BLOB)");
      await db.execute("INSERT INTO t VALUES (?, ?, ?)", [1, "a", new Uint8Array([1, 2])]);
      const result = await db.execute("SELECT id, name, data, id AS id FROM t WHERE id = ?", [1]);
      assert.deepEqual(result.columns, ["id", "name", "data", "id"]);
      assert.equal(result.rows.length, 1);
      const [row] = result.rows;
      assert.ok(row);
      assert.deepEqual(row.slice(0, 2), [1, "a"]);
      assert.deepEqual(new Uint8Array(row[2] as Uint8Array), new Uint8Array([1, 2]));
      assert.deepEqual(rowObjects(await db.execute("SELECT name FROM t")), [{ name: "a" }]);
      await db.close();
    });

    it("commits a transaction, and rolls it back when the work throws", async () => {
      const db = factory.open();
      await db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)");
      await db.transaction(async (tx) => {
        await tx.execute("INSERT INTO t VALUES (1)");
        await tx.execute("INSERT INTO t VALUES (2)");
      });
      await assert.rejects(
        db.transaction(async (tx) => {
          await tx.execute("INSERT INTO t VALUES (3)");
          throw new Error("boom");
        }),
        /boom/,
      );
      assert.deepEqual((await db.execute("SELECT id FROM t ORDER BY id")).rows, [[1], [2]]);
      await db.close();
    });

    it("runs a batch in one transaction: every statement's result, or none of its effects", async () => {
      const db = factory.open();
      await db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)");
      const results = await db.batch([
        { sql: "INSERT INTO t VALUES (?)", params: [1] },
        { sql: "SELECT count(*) AS n FROM t", params: [] },
      ]);
      assert.deepEqual(results.map((result) => result.rows), [[], [[1]]]);
      await assert.rejects(
        db.batch([
          { sql: "INSERT INTO t VALUES (?)", params: [2] },
          { sql: "INSERT INTO t VALUES (?)", params: [1] },
        ]),
        /UNIQUE/,
      );
      assert.deepEqual((await db.execute("SELECT id FROM t ORDER BY id")).rows, [[1]]);
      await db.close();
    });

    it("runs a batch inside an open transaction, which commits or rolls back with it", async () => {
      const db = factory.open();
      await db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)");
      const seen = await db.transaction(async (tx) => {
        await tx.execute("INSERT INTO t VALUES (1)");
        const results = await tx.batch([
          { sql: "INSERT INTO t VALUES (?)", params: [2] },
          { sql: "SELECT count(*) FROM t", params: [] },
        ]);
        // Still inside the transaction: a later statement sees the batch's rows.
        const after = await tx.execute("SELECT max(id) FROM t");
        return [...results.map((result) => result.rows), after.rows];
      });
      assert.deepEqual(seen, [[], [[2]], [[2]]]);
      // A failing statement fails the batch; the work throws, and the whole transaction rolls back,
      // the statements before it and the batch's earlier ones included.
      await assert.rejects(
        db.transaction(async (tx) => {
          await tx.execute("INSERT INTO t VALUES (3)");
          await tx.batch([
            { sql: "INSERT INTO t VALUES (?)", params: [4] },
            { sql: "INSERT INTO t VALUES (?)", params: [1] },
          ]);
        }),
        /UNIQUE/,
      );
      assert.deepEqual((await db.execute("SELECT id FROM t ORDER BY id")).rows, [[1], [2]]);
      let leaked: { batch(statements: { sql: string; params: never[] }[]): Promise<unknown> } | undefined;
      await db.transaction(async (tx) => {
        leaked = tx;
        await tx.batch([]);
      });
      await assert.rejects(leaked?.batch([{ sql: "SELECT 1", params: [] }]) ?? Promise.resolve(), /after the transaction ended/);
      await db.close();
    });

    it("keeps other statements out of a running transaction", async () => {
      const db = factory.open();
      await db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)");
      const order: string[] = [];
      const inside = db.transaction(async (tx) => {
        await tx.execute("INSERT INTO t VALUES (1)");
        await new Promise((resolve) => setTimeout(resolve, 20));
        order.push("transaction");
        throw new Error("rolled back");
      });
      const outside = db.execute("SELECT count(*) FROM t").then((result) => {
        order.push("outside");
        return result.rows[0]?.[0];
      });
      await assert.rejects(inside);
      assert.equal(await outside, 0);
      assert.deepEqual(order, ["transaction", "outside"]);
      await db.close();
    });

    it("refuses a transaction's executor once the transaction is over", async () => {
      const db = factory.open();
      let leaked: { execute(sql: string): Promise<unknown> } | undefined;
      await db.transaction(async (tx) => {
        leaked = tx;
        await tx.execute("SELECT 1");
      });
      await assert.rejects(leaked?.execute("SELECT 1") ?? Promise.resolve(), /after the transaction ended/);
      await db.close();
    });
  });
}
