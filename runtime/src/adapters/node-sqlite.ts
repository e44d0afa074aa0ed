import { rm } from "node:fs/promises";
import { DatabaseSync, type StatementSync } from "node:sqlite";
import { runBatchSync, SerialAdapter, type Connection, type QueryResult, type SqlValue, type SqliteAdapter } from "./adapter.ts";

/** Prepared statements kept per connection; generous for an app's queries, bounded for ad-hoc SQL. */
const CACHED_STATEMENTS = 256;

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
    // With setReturnArrays(true) each row is an array, whatever the declared type says.
    const rows = statement.all(...params) as unknown as unknown[][];
    return { columns, rows };
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
