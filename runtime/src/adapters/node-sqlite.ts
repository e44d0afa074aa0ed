import { rm } from "node:fs/promises";
import { DatabaseSync, type StatementSync } from "node:sqlite";
import { isRead, runBatchSync, SerialAdapter, type Connection, type QueryResult, type SqlValue, type SqliteAdapter } from "./adapter.ts";

/** Prepared statements kept per connection; generous for an app's queries, bounded for ad-hoc SQL. */
const CACHED_STATEMENTS = 256;

/** node:sqlite's refusal of an integer past 2^53 as a number (`ERR_OUT_OF_RANGE`). */
function isOutOfRange(error: unknown): boolean {
  return error instanceof RangeError && (error as { code?: unknown }).code === "ERR_OUT_OF_RANGE";
}

const MIN_SAFE = BigInt(Number.MIN_SAFE_INTEGER);
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * A read again, its integers as the WASM build gives them: a number where one holds it exactly, a
 * bigint past 2^53. node:sqlite refuses such an integer as a number, so one row holding it made
 * every query of its table throw. Bigints for every integer cost a read twice the time, so they are
 * asked for only when a read failed so; only a read is run twice.
 */
function readWithBigInts(statement: StatementSync, params: readonly SqlValue[]): unknown[][] {
  statement.setReadBigInts(true);
  try {
    const rows = statement.all(...params) as unknown as unknown[][];
    for (const row of rows) {
      for (let index = 0; index < row.length; index += 1) {
        const value = row[index];
        if (typeof value === "bigint" && value >= MIN_SAFE && value <= MAX_SAFE) row[index] = Number(value);
      }
    }
    return rows;
  } finally {
    statement.setReadBigInts(false);
  }
}

/** Node's built-in SQLite (`node:sqlite`, Node 22): a file path, or ":memory:". */
export function openNodeSqlite(path = ":memory:"): SqliteAdapter {
  const db = new DatabaseSync(path);
  // Column names are read once per statement: columns() allocates on every call.
  const statements = new Map<string, { statement: StatementSync; columns: string[] }>();

  function prepared(sql: string): { statement: StatementSync; columns: string[] } {
    let entry = statements.get(sql);
    if (entry === undefined) {
      if (statements.size >= CACHED_STATEMENTS) statements.clear();
      const statement = db.prepare(sql);
      statement.setReturnArrays(true);
      entry = { statement, columns: statement.columns().map((column) => column.name) };
      statements.set(sql, entry);
    }
    return entry;
  }

  function run(sql: string, params: readonly SqlValue[]): QueryResult {
    const { statement, columns } = prepared(sql);
    if (columns.length === 0) {
      statement.run(...params);
      return { columns, rows: [] };
    }
    try {
      // With setReturnArrays(true) each row is an array, whatever the declared type says.
      return { columns, rows: statement.all(...params) as unknown as unknown[][] };
    } catch (error) {
      if (!isOutOfRange(error) || !isRead(sql)) throw error;
      return { columns, rows: readWithBigInts(statement, params) };
    }
  }

  const connection: Connection = {
    run,
    // Synchronous, so a whole batch costs the caller one await instead of one per statement.
    runBatch: (batch, inTransaction) => runBatchSync(run, batch, inTransaction),
    close() {
      statements.clear();
      db.close();
    },
    async delete() {
      statements.clear();
      db.close();
      if (path === ":memory:" || path === "") return;
      // The journal or WAL files SQLite may have left beside the database hold its data too.
      await Promise.all(["", "-journal", "-wal", "-shm"].map((suffix) => rm(path + suffix, { force: true })));
    },
  };
  return new SerialAdapter(connection);
}
