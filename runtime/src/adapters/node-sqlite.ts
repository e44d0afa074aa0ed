import { DatabaseSync, type StatementSync } from "node:sqlite";
import { SerialAdapter, type Connection, type QueryResult, type SqlValue, type SqliteAdapter } from "./adapter.ts";

/** Prepared statements kept per connection; generous for an app's queries, bounded for ad-hoc SQL. */
const CACHED_STATEMENTS = 256;

/** Node's built-in SQLite (`node:sqlite`, Node 22): a file path, or ":memory:". */
export function openNodeSqlite(path = ":memory:"): SqliteAdapter {
  const db = new DatabaseSync(path);
  const statements = new Map<string, StatementSync>();

  function prepared(sql: string): StatementSync {
    let statement = statements.get(sql);
    if (statement === undefined) {
      if (statements.size >= CACHED_STATEMENTS) statements.clear();
      statement = db.prepare(sql);
      statement.setReturnArrays(true);
      statements.set(sql, statement);
    }
    return statement;
  }

  const connection: Connection = {
    run(sql: string, params: readonly SqlValue[]): QueryResult {
      const statement = prepared(sql);
      const columns = statement.columns().map((column) => column.name);
      if (columns.length === 0) {
        statement.run(...params);
        return { columns, rows: [] };
      }
      // With setReturnArrays(true) each row is an array, whatever the declared type says.
      const rows = statement.all(...params) as unknown as unknown[][];
      return { columns, rows };
    },
    close() {
      statements.clear();
      db.close();
    },
  };
  return new SerialAdapter(connection);
}
