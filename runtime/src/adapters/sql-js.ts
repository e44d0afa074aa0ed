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
      // sql.js (1.13) binds bigints exactly, though its types name only numbers, strings, blobs and null.
      statement.bind(params as (number | string | Uint8Array | null)[]);
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
