// Value round trip, run by tests/codegen/test_roundtrip.py next to a generated `gen/` directory:
// rows are read from Postgres through drizzle, and as the server would put them on the wire;
// the wire rows are decoded by the runtime's codecs (drizzlesync) and applied to SQLite (sql.js)
// the way a pull applies them, read back through drizzle, and compared. Prints a JSON report on stdout.
import { readFileSync } from "node:fs";
import { eq, getTableColumns, type Table } from "drizzle-orm";
import { drizzle as drizzlePg } from "drizzle-orm/node-postgres";
import { drizzle as drizzleSqlJs } from "drizzle-orm/sql-js";
import { fromWire, toWire, type TableMeta } from "drizzlesync";
import pg from "pg";
import initSqlJs from "sql.js";
import { clientMigrations } from "./gen/client-migrations.js";
import * as pgSchema from "./gen/schema.postgres.js";
import * as liteSchema from "./gen/schema.sqlite.js";
import { syncTables } from "./gen/sync-meta.js";

type Row = Record<string, unknown>;
const [wireFile, skipFile] = process.argv.slice(2);
const wire = JSON.parse(readFileSync(wireFile, "utf8")) as Record<string, Row[]>;
const skip = new Set(JSON.parse(readFileSync(skipFile, "utf8")) as string[]);

function normal(value: unknown): unknown {
  if (value instanceof Date) return { date: value.getTime() };
  if (value instanceof Uint8Array) return { bytes: Array.from(value) };
  return value;
}

function quote(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

function byKey(meta: TableMeta, rows: Row[]): Row[] {
  const keyOf = (row: Row) => JSON.stringify(meta.primaryKey.map((name) => row[meta.columns.find((c) => c.name === name)!.key]));
  return [...rows].sort((a, b) => (keyOf(a) < keyOf(b) ? -1 : keyOf(a) > keyOf(b) ? 1 : 0));
}

const client = new pg.Client(process.env.DATABASE_URL);
await client.connect();
const pgDb = drizzlePg(client);
const SQL = await initSqlJs();
const sqlite = new SQL.Database();
for (const migration of clientMigrations) {
  sqlite.exec("BEGIN");
  for (const statement of migration.statements) sqlite.exec(statement);
  sqlite.exec("COMMIT");
}
const liteDb = drizzleSqlJs(sqlite);

sqlite.exec('UPDATE "_sync_state" SET "applying" = 1');
for (const [key, rows] of Object.entries(wire)) {
  const meta: TableMeta = syncTables[key as keyof typeof syncTables];
  const columns = meta.columns.map((c) => quote(c.column)).join(", ");
  const slots = meta.columns.map(() => "?").join(", ");
  for (const row of rows) {
    const values = meta.columns.map((c) => fromWire(c.codec, row[c.name]));
    sqlite.run(`INSERT INTO ${quote(meta.sqliteTable)} (${columns}) VALUES (${slots})`, values as never[]);
  }
}
sqlite.exec('UPDATE "_sync_state" SET "applying" = 0');
const outboxAfterPull = sqlite.exec('SELECT count(*) FROM "_sync_outbox"')[0].values[0][0];

const mismatches: unknown[] = [];
let compared = 0;
for (const key of Object.keys(wire)) {
  const meta: TableMeta = syncTables[key as keyof typeof syncTables];
  const pgTable = (pgSchema as unknown as Record<string, Table>)[key];
  const liteTable = (liteSchema as unknown as Record<string, Table>)[key];
  const fromPg = byKey(meta, (await pgDb.select().from(pgTable)) as Row[]);
  const fromLite = byKey(meta, liteDb.select().from(liteTable).all() as Row[]);
  if (fromPg.length !== fromLite.length) mismatches.push({ table: key, rows: [fromPg.length, fromLite.length] });
  fromPg.forEach((pgRow, index) => {
    for (const column of Object.keys(getTableColumns(pgTable))) {
      if (skip.has(`${key}.${column}`)) continue;
      const [expected, actual] = [normal(pgRow[column]), normal(fromLite[index]?.[column])];
      compared += 1;
      if (JSON.stringify(expected) !== JSON.stringify(actual)) mismatches.push({ table: key, column, expected, actual });
    }
  });
}
await client.end();

// Local writes through drizzle land in the outbox with exactly the columns they changed,
// and toWire turns the outbox values into what the server takes.
const [first] = liteDb.select().from(liteSchema.numbers).orderBy(liteSchema.numbers.id).all();
liteDb.update(liteSchema.numbers).set({ small: 7, dbl: first.dbl }).where(eq(liteSchema.numbers.id, first.id)).run();
liteDb.update(liteSchema.misc).set({ data: new Uint8Array([1, 254]) }).where(eq(liteSchema.misc.id, 1)).run();
// An insert leaving out array columns the server defaults: the device fills them in alike.
liteDb.insert(liteSchema.arrays).values({ id: 99 }).run();
const outbox = sqlite.exec('SELECT "table", "op", "pk", "values" FROM "_sync_outbox" ORDER BY "id"')[0].values;
const pushed = outbox.map(([table, op, pk, values]) => {
  const meta = Object.values(syncTables).find((t: TableMeta) => t.name === table)!;
  const wireValues = Object.entries(JSON.parse(String(values)) as Row).map(([name, value]) => {
    const column = meta.columns.find((c) => c.name === name)!;
    return [name, toWire(column.codec, value)];
  });
  return [table, op, JSON.parse(String(pk)), Object.fromEntries(wireValues)];
});
console.log(JSON.stringify({ compared, mismatches, outboxAfterPull, pushed }));
