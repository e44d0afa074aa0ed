/**
 * The storage interface every SQLite the engine runs on implements: run a
 * statement, run several in one transaction, close, and optionally delete.
 * Small on purpose, so a platform (Node's built-in SQLite, sql.js, SQLite WASM
 * in a Worker) needs a few lines of its own and shares the rest here.
 */

/** What a statement takes as a parameter; booleans and dates are converted before they get here. */
export type SqlValue = null | number | bigint | string | Uint8Array;

export interface QueryResult {
  readonly columns: readonly string[];
  /** One array per row, in column order (drizzle's proxy driver reads rows by position). */
  readonly rows: readonly (readonly unknown[])[];
}

export interface SqlExecutor {
  execute(sql: string, params?: readonly SqlValue[]): Promise<QueryResult>;
}

export interface Statement {
  readonly sql: string;
  readonly params: readonly SqlValue[];
}

/** The executor of an open transaction: statements one at a time, or several in one trip. */
export interface TransactionExecutor extends SqlExecutor {
  /**
   * Runs `statements` in order inside the open transaction and returns their results, in one trip
   * to the database where the platform allows it (one message to a Worker): how a pull page of
   * thousands of rows costs a few messages instead of one per row. A failing statement rejects the
   * call; the transaction's work then throws and the transaction rolls back as a whole.
   */
  batch(statements: readonly Statement[]): Promise<QueryResult[]>;
}

export interface SqliteAdapter extends SqlExecutor {
  /**
   * Runs `work` inside one SQLite transaction: committed when it resolves, rolled back when it
   * throws. Statements of the adapter outside `work` wait until it is done, so `work` must use
   * the executor it is given, never the adapter itself (that would wait for itself).
   */
  transaction<T>(work: (tx: TransactionExecutor) => Promise<T>): Promise<T>;
  /**
   * Runs `statements` in order in one transaction (all or nothing) and returns their results: the
   * same as `transaction` over them, but in one trip to the database where the platform allows it
   * (one message to a Worker instead of one per statement).
   */
  batch(statements: readonly Statement[]): Promise<QueryResult[]>;
  close(): Promise<void>;
  /**
   * Closes the connection and deletes the database, leaving none of its data on the device: what
   * signing out of a shared device asks for. Optional: an adapter without it cannot be asked to.
   */
  deleteDatabase?(): Promise<void>;
}

/** The one primitive a platform supplies: run one statement now. */
export interface Connection {
  run(sql: string, params: readonly SqlValue[]): QueryResult | Promise<QueryResult>;
  /**
   * Optional: `statements` in one call, in a transaction of their own (`inTransaction` false), or
   * inside the transaction already open (true: no BEGIN or COMMIT of its own). Without it each
   * statement is its own `run`.
   */
  runBatch?(statements: readonly Statement[], inTransaction: boolean): QueryResult[] | Promise<QueryResult[]>;
  close(): void | Promise<void>;
  /** Optional: closes the connection and deletes the database's files (`SqliteAdapter.deleteDatabase`). */
  delete?(): void | Promise<void>;
}

/** Statements that only read; everything else runs as a local write (its own client transaction). */
const READ = /^\s*(?:select|pragma|explain)\b/i;

/** Whether `sql` only reads: safe to run again, and sent to a follower tab's leader as a read. */
export function isRead(sql: string): boolean {
  return READ.test(sql);
}

/**
 * `statements` on a synchronous `run`, in one transaction of their own (BEGIN IMMEDIATE … COMMIT,
 * ROLLBACK when one fails) unless `inTransaction` says one is open: what a platform whose
 * statements run in the caller's thread, or in a Worker that answers a whole batch in one message,
 * uses as its `runBatch`.
 */
export function runBatchSync(
  run: (sql: string, params: readonly SqlValue[]) => QueryResult,
  statements: readonly Statement[],
  inTransaction = false,
): QueryResult[] {
  if (inTransaction) return statements.map(({ sql, params }) => run(sql, params));
  run("BEGIN IMMEDIATE", []);
  try {
    const results = statements.map(({ sql, params }) => run(sql, params));
    run("COMMIT", []);
    return results;
  } catch (error) {
    run("ROLLBACK", []);
    throw error;
  }
}

/**
 * Serialises every statement and transaction of one connection: SQLite has one transaction per
 * connection, and an async caller could otherwise slip a statement into another's transaction.
 */
export class SerialAdapter implements SqliteAdapter {
  #queue: Promise<unknown> = Promise.resolve();
  readonly #connection: Connection;

  /** There only when the connection can delete: its absence is how a caller knows it cannot. */
  readonly deleteDatabase?: () => Promise<void>;

  constructor(connection: Connection) {
    this.#connection = connection;
    const remove = connection.delete?.bind(connection);
    if (remove !== undefined) this.deleteDatabase = () => this.#exclusive(async () => remove());
  }

  execute(sql: string, params: readonly SqlValue[] = []): Promise<QueryResult> {
    return this.#exclusive(async () => this.#connection.run(sql, params));
  }

  transaction<T>(work: (tx: TransactionExecutor) => Promise<T>): Promise<T> {
    const connection = this.#connection;
    return this.#exclusive(async () => {
      let open = true;
      const refuseEnded = () => {
        if (!open) throw new Error("drizzlesync: a transaction's executor was used after the transaction ended");
      };
      const tx: TransactionExecutor = {
        execute: async (sql, params = []) => {
          refuseEnded();
          return connection.run(sql, params);
        },
        batch: async (statements) => {
          refuseEnded();
          if (connection.runBatch !== undefined) return connection.runBatch(statements, true);
          const results: QueryResult[] = [];
          for (const { sql, params } of statements) results.push(await connection.run(sql, params));
          return results;
        },
      };
      await this.#connection.run("BEGIN IMMEDIATE", []);
      try {
        const result = await work(tx);
        await this.#connection.run("COMMIT", []);
        return result;
      } catch (error) {
        await this.#connection.run("ROLLBACK", []);
        throw error;
      } finally {
        open = false;
      }
    });
  }

  batch(statements: readonly Statement[]): Promise<QueryResult[]> {
    const connection = this.#connection;
    if (connection.runBatch === undefined) {
      return this.transaction((tx) => tx.batch(statements));
    }
    return this.#exclusive(async () => (await connection.runBatch?.(statements, false)) ?? []);
  }

  close(): Promise<void> {
    return this.#exclusive(async () => this.#connection.close());
  }

  #exclusive<T>(task: () => Promise<T>): Promise<T> {
    const result = this.#queue.then(task);
    this.#queue = result.catch(() => undefined);
    return result;
  }
}

/** The rows of a result as objects keyed by column name. */
export function rowObjects(result: QueryResult): Record<string, unknown>[] {
  return result.rows.map((row) => Object.fromEntries(result.columns.map((name, index) => [name, row[index]])));
}
