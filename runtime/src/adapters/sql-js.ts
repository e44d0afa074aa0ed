import type { Database } from "sql.js";
import { runBatchSync, SerialAdapter, type Connection, type QueryResult, type SqlValue, type SqliteAdapter } from "./adapter.ts";

/**
 * An in-memory sql.js database (`new SQL.Database()` after `initSqlJs()`): the adapter does not
 * load sql.js itself, so the app picks how its WASM file is located.
 */
export function openSqlJs(db: Database): SqliteAdapter {
  function run(sql: string, params: readonly SqlValue[]): QueryResult {
    const statement = db.prepare(sql);
    try {
      // sql.js binds numbers, strings, blobs and null; bigints beyond 2^53 are the caller's to avoid.
      statement.bind(params.map((value) => (typeof value === "bigint" ? Number(value) : value)));
      const columns = statement.getColumnNames();
      const rows: unknown[][] = [];
      while (statement.step()) rows.push(statement.get());
      return { columns, rows };
    } finally {
      statement.free();
    }
  }

  const connection: Connection = {
    run,
    runBatch: (batch, inTransaction) => runBatchSync(run, batch, inTransaction),
    close() {
      db.close();
    },
    // The database lives in memory: closing frees it, and the app's own copies (an export) are the app's.
    delete() {
      db.close();
    },
  };
  return new SerialAdapter(connection);
}
