// Applying pull pages: a page's rows as few statements (JSON) and few trips to the database, with
// the same stored values and order as one bound statement per row; the next pages fetched ahead, and
// those already there applied in one transaction.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { SqliteAdapter, SqlValue } from "../src/adapters/adapter.ts";
import { applyPage, pageStatements } from "../src/client/apply.ts";
import { SyncedTables, quote } from "../src/client/tables.ts";
import { fromWire } from "../src/protocol/codecs.ts";
import { parseJson } from "../src/protocol/json.ts";
import type { Change, WireRow } from "../src/protocol/messages.ts";
import type { ColumnMeta, TableMeta } from "../src/protocol/tables.ts";
import { adapterFactories } from "./support/adapters.ts";
import { countingAdapter } from "./support/counting-adapter.ts";
import { openExample } from "./support/example.ts";
import { page, ScriptedTransport } from "./support/scripted-transport.ts";

function column(name: string, codec: ColumnMeta["codec"]): ColumnMeta {
  return { name, key: name, column: name, codec, nullable: true, pushed: true };
}

/** A table with a column of every codec, and one keyed by two columns. */
const META: Record<string, TableMeta> = {
  things: {
    name: "things",
    sqliteTable: "things",
    primaryKey: ["id"],
    scope: null,
    columns: [
      column("id", "text"),
      column("n", "int"),
      column("x", "float"),
      column("t", "text"),
      column("b", "bool"),
      column("j", "json"),
      column("at", "timestamp"),
      column("raw", "bytes"),
    ],
  },
  docs: {
    name: "docs",
    sqliteTable: "docs",
    primaryKey: ["id"],
    scope: null,
    columns: [column("id", "text"), { ...column("body", "json"), nullable: false }, column("extra", "json")],
  },
  ends: {
    name: "ends",
    sqliteTable: "ends",
    primaryKey: ["id"],
    scope: null,
    columns: [column("id", "int"), column("v", "text")],
  },
  pairs: {
    name: "app.pairs",
    sqliteTable: "app_pairs",
    primaryKey: ["a", "b"],
    scope: null,
    columns: [column("a", "text"), column("b", "int"), column("v", "text")],
  },
};

const SCHEMA = [
  'CREATE TABLE "_sync_state" ("cursor" TEXT, "applying" INTEGER NOT NULL DEFAULT 0)',
  'INSERT INTO "_sync_state" DEFAULT VALUES',
  'CREATE TABLE "_sync_outbox" ("id" INTEGER PRIMARY KEY AUTOINCREMENT, "tx" INTEGER, "table" TEXT, "op" TEXT, "pk" TEXT, "values" TEXT)',
  "CREATE TABLE things (id TEXT PRIMARY KEY, n INTEGER, x REAL, t TEXT, b INTEGER, j TEXT, at INTEGER, raw BLOB)",
  "CREATE TABLE app_pairs (a TEXT, b INTEGER, v TEXT, PRIMARY KEY (a, b))",
  "CREATE TABLE docs (id TEXT PRIMARY KEY, body TEXT NOT NULL, extra TEXT) STRICT",
  "CREATE TABLE ends (id INTEGER PRIMARY KEY, v TEXT) STRICT",
];

const tables = new SyncedTables(META);

async function migrated(adapter: SqliteAdapter): Promise<SqliteAdapter> {
  for (const sql of SCHEMA) await adapter.execute(sql);
  return adapter;
}

/** Each stored value with its SQLite type, in key order: what two ways of writing must agree on. */
async function stored(adapter: SqliteAdapter, table: string): Promise<unknown[][]> {
  const columns = tables.get(table).meta.columns.map((meta) => quote(meta.column));
  const shown = columns.map((name) => `typeof(${name}), quote(${name})`).join(", ");
  const sqliteTable = quote(tables.get(table).meta.sqliteTable);
  return (await adapter.execute(`SELECT ${shown} FROM ${sqliteTable} ORDER BY 1, 2, 3, 4`)).rows.map((row) => [...row]);
}

/** The reference: every change as its own statement with bound parameters, the way the engine wrote a page before. */
async function boundOneByOne(adapter: SqliteAdapter, changes: readonly Change[]): Promise<void> {
  for (const change of changes) {
    const { meta } = tables.get(change.table);
    const table = quote(meta.sqliteTable);
    if (change.op === "upsert") {
      const params = meta.columns.map((c) => fromWire(c.codec, change.row[c.name] ?? null) as SqlValue);
      const slots = params.map(() => "?").join(", ");
      await adapter.execute(`INSERT OR REPLACE INTO ${table} VALUES (${slots})`, params);
    } else {
      const keys = meta.primaryKey.map((name) => meta.columns.find((c) => c.name === name) as ColumnMeta);
      const where = keys.map((c) => `${quote(c.column)} = ?`).join(" AND ");
      await adapter.execute(`DELETE FROM ${table} WHERE ${where}`, keys.map((c) => fromWire(c.codec, change.pk[c.name]) as SqlValue));
    }
  }
}

function thing(id: string, fields: WireRow = {}): Change {
  return { table: "things", op: "upsert", row: { id, ...fields } };
}

/** Values JSON carries as they are, and their edges: the largest safe integers, whole floats, escapes, astral characters. */
const JSON_SAFE: Change[] = [
  thing("a", { n: 1, x: 2, t: "plain", b: true, j: { k: [1.5, "two", null] }, at: "2026-01-02T03:04:05.678+00:00" }),
  thing("b", { n: 2 ** 53 - 1, x: -(2 ** 53 - 1), t: 'quote " backslash \\ newline \n tab \t nul \u0000', b: false, j: "a string", at: "2026-01-02T03:04:05" }),
  thing("c", { n: -1, x: 0, t: "emoji 😀 and é", j: null, at: null }),
  thing("d", { n: 0, t: "42", j: 3.25, at: "1969-12-31T23:59:59.999Z" }),
  thing("e"),
];

/**
 * Values only a bound parameter keeps: a blob, infinities, NaN, -0, a string with a lone surrogate,
 * and numbers whose decimal SQLite reads as another double (1e-300) or integer (2^60).
 */
const BOUND_ONLY: Change[] = [
  thing("f", { raw: "\\x00ff10", x: "Infinity" }),
  thing("g", { x: "-Infinity", t: "lone \ud800 surrogate" }),
  thing("h", { x: "NaN", n: 7 }),
  thing("i", { x: -1e-300 }),
  thing("j", { n: 2 ** 60 }),
  thing("k", { x: -0 }),
  thing("l", { x: 0.1 }),
];

for (const factory of adapterFactories) {
  describe(`applying a page on ${factory.name}`, () => {
    it("stores every value as a bound parameter would: through JSON when JSON keeps it, bound when not", async () => {
      for (const changes of [JSON_SAFE, ...BOUND_ONLY.map((one) => [...JSON_SAFE, one])]) {
        const reference = await migrated(factory.open());
        await boundOneByOne(reference, changes);
        const adapter = await migrated(factory.open());
        await adapter.transaction((tx) => applyPage(tx, tables, page({ changes }), { clear: false, rebase: false }));
        assert.deepEqual(await stored(adapter, "things"), await stored(reference, "things"));
        assert.equal((await stored(adapter, "things")).length, changes.length);
        await Promise.all([adapter.close(), reference.close()]);
      }
      // The JSON-safe rows are one statement; a run with one value JSON cannot carry goes row by row.
      assert.equal(pageStatements(tables, JSON_SAFE).length, 1);
      for (const one of BOUND_ONLY) assert.equal(pageStatements(tables, [...JSON_SAFE, one]).length, JSON_SAFE.length + 1);
    });

    it("stores a null in a NOT NULL JSON column as the JSON value null, pulled or replayed, where a nullable one stores NULL", async () => {
      // As NULL it broke the constraint and failed the page on every pull: the device never synced again.
      const adapter = await migrated(factory.open());
      const changes: Change[] = [
        { table: "docs", op: "upsert", row: { id: "a", body: null, extra: null } },
        { table: "docs", op: "upsert", row: { id: "b", body: { k: 1 }, extra: [] } },
      ];
      await adapter.transaction((tx) => applyPage(tx, tables, page({ changes }), { clear: false, rebase: false }));
      const rows = async () => (await adapter.execute("SELECT id, body, extra FROM docs ORDER BY id")).rows.map((row) => [...row]);
      assert.deepEqual(await rows(), [["a", "null", null], ["b", '{"k":1}', "[]"]]);
      // A pending put of the row as the outbox holds it (the JSON text), replayed over a pulled row.
      const replay = tables.get("docs").replay("put", { id: "b" }, { id: "b", body: "null", extra: null });
      assert.ok(replay !== null);
      await adapter.execute(...replay);
      assert.deepEqual((await rows())[1], ["b", "null", null]);
      await adapter.close();
    });

    it("stores a bigint that arrives as ±2^63 (int64's ends, as the nearest double) as that end, a key too", async () => {
      // As the double, the STRICT INTEGER column refused it, and the page, on every pull.
      const adapter = await migrated(factory.open());
      const end = (id: number, v: string): Change => ({ table: "ends", op: "upsert", row: { id, v } });
      const apply = (changes: Change[]) => adapter.transaction((tx) => applyPage(tx, tables, page({ changes }), { clear: false, rebase: true }));
      await apply([end(2 ** 63, "largest"), end(-(2 ** 63), "smallest"), end(2 ** 53 + 2, "past 2^53")]);
      const rows = async () => (await adapter.execute("SELECT CAST(id AS TEXT), v FROM ends ORDER BY id")).rows.map((row) => [...row]);
      assert.deepEqual(await rows(), [
        ["-9223372036854775808", "smallest"],
        ["9007199254740994", "past 2^53"],
        ["9223372036854775807", "largest"],
      ]);
      await apply([{ table: "ends", op: "delete", pk: { id: 2 ** 63 } }]);
      assert.equal((await rows()).length, 2);
      // A pending write's key (JSON in the outbox) names the same row as the pulled one.
      const ends = tables.get("ends");
      assert.equal(ends.keyOfOutbox({ id: 2 ** 63 }), ends.keyOfWire({ id: 2 ** 63 }));
      assert.notEqual(ends.keyOfWire({ id: 2 ** 63 }), ends.keyOfWire({ id: -(2 ** 63) }));
      await adapter.close();
    });

    it("keeps keys past 2^53 apart, exact as the page's text has them (parseJson)", async () => {
      // JSON.parse made 2^53 + 1 the double 2^53: two rows of the server were one on the device.
      const adapter = await migrated(factory.open());
      const apply = (text: string) =>
        adapter.transaction((tx) => applyPage(tx, tables, page({ changes: parseJson(text) as Change[] }), { clear: false, rebase: true }));
      await apply('[{"table":"ends","op":"upsert","row":{"id":9007199254740993,"v":"odd"}},{"table":"ends","op":"upsert","row":{"id":9007199254740994,"v":"even"}}]');
      const rows = async () => (await adapter.execute("SELECT CAST(id AS TEXT), v FROM ends ORDER BY id")).rows.map((row) => [...row]);
      assert.deepEqual(await rows(), [["9007199254740993", "odd"], ["9007199254740994", "even"]]);
      await apply('[{"table":"ends","op":"delete","pk":{"id":9007199254740993}}]');
      assert.deepEqual(await rows(), [["9007199254740994", "even"]]);
      await adapter.close();
    });

    it("keeps the page's order: runs of upserts and deletes, a key repeated, keys of two columns", async () => {
      const pair = (a: string, b: number, v: string): Change => ({ table: "app.pairs", op: "upsert", row: { a, b, v } });
      const unpair = (a: string, b: number): Change => ({ table: "app.pairs", op: "delete", pk: { a, b } });
      const changes: Change[] = [
        thing("k", { t: "first" }),
        thing("k", { t: "second" }),
        thing("gone", { t: "short-lived" }),
        { table: "things", op: "delete", pk: { id: "k" } },
        { table: "things", op: "delete", pk: { id: "gone" } },
        thing("k", { t: "third" }),
        pair("x", 1, "one"),
        pair("x", 2, "two"),
        pair("y", 1, "three"),
        unpair("x", 2),
        unpair("y", 2), // no such row: nothing happens
        pair("x", 2, "back"),
        unpair("y", 1),
      ];
      const reference = await migrated(factory.open());
      await boundOneByOne(reference, changes);
      const adapter = await migrated(factory.open());
      const changed = await adapter.transaction((tx) => applyPage(tx, tables, page({ changes }), { clear: false, rebase: false }));
      assert.deepEqual([...changed].sort(), ["app_pairs", "things"]);
      for (const table of ["things", "app.pairs"]) assert.deepEqual(await stored(adapter, table), await stored(reference, table));
      assert.deepEqual((await adapter.execute("SELECT id, t FROM things")).rows, [["k", "third"]]);
      assert.deepEqual((await adapter.execute("SELECT a, b, v FROM app_pairs ORDER BY a, b")).rows, [["x", 1, "one"], ["x", 2, "back"]]);
      await Promise.all([adapter.close(), reference.close()]);
    });
  });
}

function wireTodo(i: number): WireRow {
  const id = `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`;
  return { id, team_id: "team", project_id: null, title: `todo ${i}`, done: i % 2 === 0, updated_at: "2026-01-02T03:04:05.678+00:00" };
}

function todoPages(pages: number, rows: number): ReturnType<typeof page>[] {
  return Array.from({ length: pages }, (_, p) =>
    page({
      cursor: `c${p}`,
      hasMore: p < pages - 1,
      changes: Array.from({ length: rows }, (_, i) => ({ table: "todos", op: "upsert", row: wireTodo(p * rows + i) }) as const),
    }),
  );
}

describe("a pull", () => {
  it("costs a few trips to the database a page, whatever the page's size", async () => {
    const tripsFor = async (rows: number): Promise<number> => {
      const { adapter, trips } = countingAdapter();
      const client = await openExample(adapter, new ScriptedTransport().onPull(...todoPages(3, rows)));
      const before = trips.count;
      await client.sync();
      const used = trips.count - before;
      assert.equal(Number((await adapter.execute("SELECT count(*) FROM todos")).rows[0]?.[0]), 3 * rows);
      await client.close();
      return used;
    };
    const small = await tripsFor(10);
    assert.equal(await tripsFor(2_000), small, "trips do not grow with the rows");
    assert.ok(small <= 3 * 6 + 4, `${small} trips for 3 pages`);
  });

  it("asks for the next page when a page arrives, before applying it, and pages of the hosts' largest size", async () => {
    const adapter = adapterFactories[0]?.open();
    assert.ok(adapter);
    const [first, second] = todoPages(2, 3);
    assert.ok(first && second);
    let applied = 0;
    const appliedWhenAsked: number[] = [];
    const transport = new ScriptedTransport().onPull(
      () => {
        appliedWhenAsked.push(applied);
        return first;
      },
      () => {
        appliedWhenAsked.push(applied);
        return second;
      },
    );
    const client = await openExample(adapter, transport);
    client.subscribe(["todos"], () => (applied += 1));
    await client.sync();
    assert.deepEqual(appliedWhenAsked, [0, 0], "the second page was asked for before the first was applied");
    assert.ok(applied >= 1);
    assert.equal(Number((await adapter.execute("SELECT count(*) FROM todos")).rows[0]?.[0]), 6);
    assert.deepEqual(transport.pulls.map((pull) => [pull.cursor, pull.limit]), [[null, 5_000], ["c0", 5_000]]);
    await client.close();
  });

  it("asks for pages ahead while one is applied, and applies those already there in one transaction, up to a bound", async () => {
    const commitsFor = async (pullTransactionRows: number) => {
      const { adapter, trips } = countingAdapter();
      // The host answers at once: by the time the first page is applied, the next ones are there.
      const transport = new ScriptedTransport().onPull(...todoPages(6, 10));
      const client = await openExample(adapter, transport, { pullTransactionRows });
      const before = trips.log.length;
      await client.sync();
      const commits = trips.log.slice(before).filter((sql) => sql === "COMMIT").length;
      assert.equal(Number((await adapter.execute("SELECT count(*) FROM todos")).rows[0]?.[0]), 60);
      assert.deepEqual((await adapter.execute('SELECT "cursor" FROM "_sync_state"')).rows, [["c5"]]);
      assert.deepEqual(transport.pulls.map((pull) => pull.cursor), [null, "c0", "c1", "c2", "c3", "c4"]);
      await client.close();
      return commits;
    };
    // Six pages: the first alone (nothing else has arrived when it starts), then the rest together;
    // without the grouping, six. The push check commits nothing (an empty outbox).
    assert.ok((await commitsFor(25_000)) <= 3, "pages already there share a commit");
    assert.equal(await commitsFor(10), 6, "a bound of one page's rows: a commit per page");
  });

  it("a local write during a pull waits for one page's transaction, not for the pages already there", async () => {
    const base = adapterFactories[0]?.open();
    assert.ok(base);
    const transport = new ScriptedTransport().onPull(...todoPages(4, 5));
    const app: { client?: Awaited<ReturnType<typeof openExample>> } = {};
    let write: Promise<unknown> | undefined;
    // The app writes while the first page's rows are being applied, once every page has arrived.
    const adapter: SqliteAdapter = {
      execute: (sql, params) => base.execute(sql, params),
      batch: (statements) => base.batch(statements),
      close: () => base.close(),
      transaction: (work) =>
        base.transaction((tx) =>
          work({
            execute: (sql, params) => tx.execute(sql, params),
            batch: async (statements) => {
              const results = await tx.batch(statements);
              const client = app.client;
              if (write === undefined && client !== undefined && statements.some(({ sql }) => sql.startsWith("INSERT OR REPLACE"))) {
                while (transport.pulls.length < 4) await new Promise((resolve) => setTimeout(resolve, 1));
                await new Promise((resolve) => setTimeout(resolve, 5));
                write = client.writeTransaction(async (tx) => (await tx.execute('SELECT "cursor" FROM "_sync_state"')).rows[0]?.[0]);
              }
              return results;
            },
          }),
        ),
    };
    const client = (app.client = await openExample(adapter, transport));
    await client.sync();
    assert.equal(await write, "c0", "the write ran right after the first page's commit");
    assert.equal(Number((await adapter.execute("SELECT count(*) FROM todos")).rows[0]?.[0]), 20);
    await client.close();
  });

  it("fails with the page that failed to apply; the page fetched ahead is dropped, and the next sync starts over", async () => {
    const adapter = adapterFactories[0]?.open();
    assert.ok(adapter);
    const broken = page({ cursor: "c1", hasMore: true, changes: [{ table: "nowhere", op: "upsert", row: {} }] });
    const transport = new ScriptedTransport().onPull(broken, () => Promise.reject(new Error("the network is gone")), page({ cursor: "c2" }));
    const client = await openExample(adapter, transport);
    await assert.rejects(client.sync(), /nowhere is not a synced table/);
    await client.sync();
    // The failed page left no cursor: the retry bootstraps again.
    assert.deepEqual(transport.pulls.map((pull) => pull.cursor), [null, "c1", null]);
    await client.close();
  });
});
