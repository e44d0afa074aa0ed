import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { rowObjects } from "../src/adapters/adapter.ts";
import { openNodeSqlite } from "../src/adapters/node-sqlite.ts";
import { openSqliteWasm, type WorkerLike } from "../src/adapters/wasm.ts";
import type { WorkerRequest, WorkerResponse } from "../src/adapters/wasm-protocol.ts";
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

describe("adapter node:sqlite", () => {
  it("reads an integer past 2^53 as a bigint, as the WASM build does, where it threw on every read of its table", async () => {
    const db = openNodeSqlite(":memory:");
    await db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, big INTEGER, name TEXT)");
    await db.execute("INSERT INTO t VALUES (1, 1234567890123456789, 'far'), (2, 5, 'near')");
    const { rows } = await db.execute("SELECT id, big, name FROM t ORDER BY id");
    assert.deepEqual(rows, [[1, 1234567890123456789n, "far"], [2, 5, "near"]]);
    assert.deepEqual((await db.execute("SELECT big FROM t WHERE id = 2")).rows, [[5]], "a read that fits stays numbers");
    // A write is never run twice: its refusal to read back the integer reaches the caller.
    await assert.rejects(db.execute("UPDATE t SET big = big + 1 WHERE id = 1 RETURNING big"), RangeError);
    assert.deepEqual((await db.execute("SELECT big FROM t WHERE id = 1")).rows, [[1234567890123456790n]]);
    await db.close();
  });
});

// What the browser hands to openSqliteWasm must fit the interface it takes (checked by tsc).
export const fitsWorkerLike: readonly ((worker: Worker) => WorkerLike)[] = [(worker) => worker];

/** A dedicated Worker as the main thread sees it: the test answers its requests, or makes it fail. */
class FakeWorker implements WorkerLike {
  readonly requests: WorkerRequest[] = [];
  terminated = false;
  readonly #listeners = new EventTarget();

  postMessage(message: WorkerRequest): void {
    this.requests.push(message);
  }

  addEventListener(type: "message", listener: (event: MessageEvent<WorkerResponse>) => void): void;
  addEventListener(type: "error" | "messageerror", listener: (event: Event) => void): void;
  addEventListener(type: string, listener: (event: MessageEvent<WorkerResponse>) => void): void {
    this.#listeners.addEventListener(type, listener as (event: Event) => void);
  }

  terminate(): void {
    this.terminated = true;
  }

  answer(response: WorkerResponse): void {
    this.#listeners.dispatchEvent(new MessageEvent("message", { data: response }));
  }

  /** As a browser does when the script is not found or throws. */
  fail(message: string): void {
    this.#listeners.dispatchEvent(Object.assign(new Event("error"), { message }));
  }

  /** As a browser does when an answer cannot be deserialised. */
  garble(): void {
    this.#listeners.dispatchEvent(new MessageEvent("messageerror"));
  }
}

/** `call`, or a rejection if it has not settled within a moment: a call a Worker dropped never would. */
async function settling<T>(call: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const waiting = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      reject(new Error("still waiting after 200 ms"));
    }, 200);
  });
  try {
    return await Promise.race([call, waiting]);
  } finally {
    clearTimeout(timer);
  }
}

describe("adapter SQLite WASM (main-thread side)", () => {
  it("rejects the open, and every later call, when the Worker fails to load", async () => {
    const worker = new FakeWorker();
    const opening = openSqliteWasm(worker, { filename: "/app.sqlite3" });
    assert.equal(worker.requests.length, 1);
    worker.fail("404 worker.js");
    await assert.rejects(opening, /SQLite worker failed \(404 worker\.js\)/);
    assert.equal(worker.terminated, true);
  });

  it("rejects the calls waiting, and every later one, when the Worker errs or an answer cannot be read", async () => {
    for (const failure of ["error", "messageerror"] as const) {
      const worker = new FakeWorker();
      const opening = openSqliteWasm(worker, { filename: "/app.sqlite3" });
      worker.answer({ id: 1, result: { columns: [], rows: [] } });
      const db = await opening;
      const waiting = db.execute("SELECT 1");
      // The adapter posts once its queue reaches the statement.
      await new Promise((resolve) => setImmediate(resolve));
      assert.equal(worker.requests.at(-1)?.kind, "run");
      if (failure === "error") worker.fail("uncaught ReferenceError");
      else worker.garble();
      await assert.rejects(waiting, /SQLite worker failed/, failure);
      await assert.rejects(db.execute("SELECT 2"), /SQLite worker failed/, failure);
      await assert.rejects(db.batch([{ sql: "SELECT 3", params: [] }]), /SQLite worker failed/, failure);
      assert.equal(worker.requests.length, 2, "nothing more is posted to a failed Worker");
      assert.equal(worker.terminated, true);
      await db.close();
    }
  });

  it("ends the Worker when it fails to open the database, so that it keeps no OPFS file", async () => {
    const worker = new FakeWorker();
    const opening = openSqliteWasm(worker, { filename: "/app.sqlite3" });
    worker.answer({ id: 1, error: "NoModificationAllowedError: Access Handles cannot be created" });
    await assert.rejects(opening, /SQLite: NoModificationAllowedError/);
    assert.equal(worker.terminated, true);
  });

  it("rejects every call after the database is closed or deleted, instead of posting it to the ended Worker", async () => {
    const cases = [
      { end: "close", answer: { columns: [], rows: [] }, after: /the SQLite database is closed/ },
      // Its close failed, but the app is done with it all the same.
      { end: "close", answer: "disk I/O error", after: /the SQLite database is closed/ },
      { end: "delete", answer: { columns: [], rows: [] }, after: /the SQLite database was deleted/ },
    ] as const;
    for (const { end, answer, after } of cases) {
      const worker = new FakeWorker();
      const opening = openSqliteWasm(worker, { filename: "/app.sqlite3" });
      worker.answer({ id: 1, result: { columns: [], rows: [] } });
      const db = await opening;
      const ending = end === "close" ? db.close() : (db.deleteDatabase?.() ?? Promise.resolve());
      // The adapter posts once its queue reaches it.
      await new Promise((resolve) => setImmediate(resolve));
      assert.equal(worker.requests.at(-1)?.kind, end);
      worker.answer(typeof answer === "string" ? { id: 2, error: answer } : { id: 2, result: answer });
      if (typeof answer === "string") await assert.rejects(ending, /disk I\/O error/);
      else await ending;
      assert.equal(worker.terminated, true, end);
      await assert.rejects(settling(db.execute("SELECT 1")), after, end);
      await assert.rejects(settling(db.batch([{ sql: "SELECT 2", params: [] }])), after, end);
      await assert.rejects(settling(db.transaction((tx) => tx.execute("SELECT 3"))), after, end);
      await assert.rejects(settling(db.deleteDatabase?.() ?? Promise.resolve()), after, end);
      await settling(db.close());
      assert.equal(worker.requests.length, 2, "nothing more is posted to an ended Worker");
    }
  });

  it("deletes through the Worker and ends it; a failed Worker cannot pass for having deleted", async () => {
    for (const failed of [false, true]) {
      const worker = new FakeWorker();
      const opening = openSqliteWasm(worker, { filename: "/app.sqlite3" });
      worker.answer({ id: 1, result: { columns: [], rows: [] } });
      const db = await opening;
      assert.equal(typeof db.deleteDatabase, "function");
      if (failed) worker.fail("uncaught ReferenceError");
      const deleting = db.deleteDatabase?.();
      if (failed) {
        await assert.rejects(deleting ?? Promise.resolve(), /SQLite worker failed/);
        assert.deepEqual(worker.requests.map((request) => request.kind), ["open"]);
      } else {
        // The adapter posts once its queue reaches the deletion.
        await new Promise((resolve) => setImmediate(resolve));
        assert.deepEqual(worker.requests.map((request) => request.kind), ["open", "delete"]);
        assert.equal(worker.terminated, false, "ended only once the Worker has deleted");
        worker.answer({ id: 2, result: { columns: [], rows: [] } });
        await deleting;
        assert.equal(worker.terminated, true);
      }
    }
  });
});
