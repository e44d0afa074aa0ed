import { DatabaseSync } from "node:sqlite";
import { SerialAdapter, runBatchSync, type QueryResult, type SqliteAdapter, type SqlValue } from "../../src/adapters/adapter.ts";

/** What `countingAdapter` saw: trips to the database, and each trip's first word ("batch of n" for a batch). */
export interface Trips {
  count: number;
  readonly log: string[];
}

/** node:sqlite in memory behind a connection that counts the trips the engine makes to it. */
export function countingAdapter(): { adapter: SqliteAdapter; trips: Trips } {
  const db = new DatabaseSync(":memory:");
  const trips: Trips = { count: 0, log: [] };
  const run = (sql: string, params: readonly SqlValue[]): QueryResult => {
    const statement = db.prepare(sql);
    statement.setReturnArrays(true);
    const columns = statement.columns().map((meta) => meta.name);
    if (columns.length === 0) {
      statement.run(...params);
      return { columns, rows: [] };
    }
    return { columns, rows: statement.all(...params) as unknown as unknown[][] };
  };
  const adapter = new SerialAdapter({
    run: (sql, params) => {
      trips.count += 1;
      trips.log.push(sql.split(" ")[0] ?? "");
      return run(sql, params);
    },
    runBatch: (statements, inTransaction) => {
      trips.count += 1;
      trips.log.push(`batch of ${statements.length}`);
      return runBatchSync(run, statements, inTransaction);
    },
    close: () => {
      db.close();
    },
  });
  return { adapter, trips };
}
