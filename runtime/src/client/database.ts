/** Drizzle over an adapter: the app's ordinary Drizzle calls, through `drizzle-orm/sqlite-proxy`. */
import { drizzle, type SqliteRemoteDatabase } from "drizzle-orm/sqlite-proxy";
import type { QueryResult, SqlExecutor, SqlValue, Statement } from "../adapters/adapter.ts";

type Method = "run" | "all" | "values" | "get";

/** Drizzle's own `db.transaction()` sends these; the engine's `transaction()` replaces it. */
const CONTROL = /^\s*(?:begin|commit|end|rollback|savepoint|release)\b/i;

export function refuseControl(sql: string): void {
  if (CONTROL.test(sql)) {
    throw new Error("drizzlesync: use client.transaction(), not db.transaction() or raw BEGIN/COMMIT");
  }
}

/** A result in the shape the proxy driver reads: all rows by position, or the first row for `get`. */
function proxyRows(result: QueryResult, method: Method): { rows: unknown[] } {
  if (method === "run") return { rows: [] };
  if (method === "get") return { rows: result.rows[0] as unknown[] };
  return { rows: result.rows as unknown[][] };
}

/** Where the proxy's statements go: one at a time, or a `db.batch()` as one unit. */
export interface StatementRunner {
  run(statement: Statement): Promise<QueryResult>;
  runBatch(statements: readonly Statement[]): Promise<QueryResult[]>;
}

/** A typed Drizzle database whose statements all go through `runner`. */
export function drizzleOver<TSchema extends Record<string, unknown>>(
  runner: StatementRunner,
  schema: TSchema,
): SqliteRemoteDatabase<TSchema> {
  return drizzle<TSchema>(
    async (sql, params, method) => proxyRows(await runner.run({ sql, params: params as SqlValue[] }), method),
    async (batch) => {
      const results = await runner.runBatch(batch.map(({ sql, params }) => ({ sql, params: params as SqlValue[] })));
      return results.map((result, index) => proxyRows(result, batch[index]?.method ?? "all"));
    },
    { schema },
  );
}

/** Runs statements in order on one executor, refusing transaction control. */
export async function runAll(tx: SqlExecutor, statements: readonly Statement[]): Promise<QueryResult[]> {
  const results: QueryResult[] = [];
  for (const { sql, params } of statements) {
    refuseControl(sql);
    results.push(await tx.execute(sql, params));
  }
  return results;
}

/** Drizzle bound to one open transaction's executor (the engine's `transaction()`). */
export function drizzleInTransaction<TSchema extends Record<string, unknown>>(
  tx: SqlExecutor,
  schema: TSchema,
): SqliteRemoteDatabase<TSchema> {
  return drizzleOver(
    {
      run: async (statement) => (await runAll(tx, [statement]))[0] ?? { columns: [], rows: [] },
      runBatch: (statements) => runAll(tx, statements),
    },
    schema,
  );
}
