/**
 * The leader's side of multi-tab: runs what follower tabs ask of it on the engine it owns. A
 * follower's write carries an id, recorded in the same SQLite transaction as the write, so a write
 * resent after a leader change is answered from the record instead of being applied twice.
 */
import type { QueryResult, SqlExecutor, Statement } from "../adapters/adapter.ts";
import { refuseControl } from "./database.ts";
import type { SyncClient } from "./sync-client.ts";
import { decodeResults, encodeResults, type TabCall } from "./tab-protocol.ts";

/** The part of the Web Locks API (`navigator.locks`) the tabs use. */
export interface LockManagerLike {
  request(name: string, options: { readonly signal?: AbortSignal }, callback: () => Promise<unknown>): Promise<unknown>;
}

/** How long a follower's committed writes are remembered: far longer than any leader change takes. */
const WRITE_RECORD_TTL_MS = 24 * 60 * 60 * 1000;

const RECORDS = `CREATE TABLE IF NOT EXISTS "_sync_tab_writes" (
  "id" TEXT PRIMARY KEY,
  "results" TEXT NOT NULL,
  "at" INTEGER NOT NULL
) STRICT`;
/** Each record goes with the expired ones, found through it, so none outlives its day under one leader. */
const RECORDS_BY_AGE = 'CREATE INDEX IF NOT EXISTS "_sync_tab_writes_at" ON "_sync_tab_writes" ("at")';

interface RemoteTransaction {
  readonly tx: SqlExecutor;
  commit(): void;
  rollback(reason: Error): void;
  /** Settles when the SQLite transaction has committed or rolled back. */
  readonly done: Promise<unknown>;
  readonly stopWatching: AbortController;
}

export class TabHost<TSchema extends Record<string, unknown>> {
  readonly #client: SyncClient<TSchema>;
  readonly #locks: LockManagerLike;
  readonly #tabLock: (tabId: string) => string;
  readonly #transactions = new Map<string, RemoteTransaction>();
  /** Set by `abortAll`: the engine is closing, and waits for every transaction to end. */
  #closing = false;

  private constructor(client: SyncClient<TSchema>, locks: LockManagerLike, tabLock: (tabId: string) => string) {
    this.#client = client;
    this.#locks = locks;
    this.#tabLock = tabLock;
  }

  /** Sets up the record of followers' writes (the engine's own table, outside the generated schema). */
  static async start<TSchema extends Record<string, unknown>>(client: SyncClient<TSchema>, locks: LockManagerLike, tabLock: (tabId: string) => string): Promise<TabHost<TSchema>> {
    await client.writeTransaction(async (tx) => {
      await tx.execute(RECORDS);
      await tx.execute(RECORDS_BY_AGE);
    });
    return new TabHost(client, locks, tabLock);
  }

  async handle(from: string, call: TabCall): Promise<unknown> {
    switch (call.kind) {
      case "read":
        return this.#client.run(call.statement);
      case "write":
        return this.#client.writeTransaction(async (tx) => {
          const done = await committedResults(tx, call.writeId);
          if (done !== null) return done;
          const results = await runStatements(tx, call.statements);
          await record(tx, call.writeId, results);
          return results;
        });
      case "begin":
        return this.#begin(from, call.txId);
      case "tx-run": {
        const transaction = this.#transactions.get(call.txId);
        if (transaction === undefined) throw new Error("sync: that transaction is no longer open");
        return (await runStatements(transaction.tx, [call.statement]))[0];
      }
      case "commit":
        return this.#end(call.txId, true);
      case "rollback":
        return this.#end(call.txId, false);
      case "committed":
        return (await committedResults({ execute: (sql, params = []) => this.#client.run({ sql, params }) }, call.writeId)) !== null;
      case "sync":
        return this.#client.sync();
      case "token-changed":
        this.#client.tokenChanged();
        return undefined;
      case "visible":
        this.#client.pageVisible();
        return undefined;
      case "discard":
        return this.#client.discardRefusedTransaction();
      case "delete":
        // It closes every tab, so the leader's TabClient runs it, never the engine's host.
        throw new Error("sync: deleting the database is the leader tab's to do");
    }
  }

  /**
   * Rolls back every follower's open transaction, and refuses those not open yet: the leader is
   * closing, and its engine closes only once no transaction holds the database.
   */
  abortAll(): void {
    this.#closing = true;
    for (const transaction of this.#transactions.values()) transaction.rollback(closingError());
  }

  async #begin(from: string, txId: string): Promise<void> {
    if (this.#transactions.has(txId)) return;
    if (this.#closing) throw closingError();
    let opened!: (transaction: RemoteTransaction) => void;
    let refused!: (error: unknown) => void;
    const started = new Promise<RemoteTransaction>((resolve, reject) => {
      opened = resolve;
      refused = reject;
    });
    const stopWatching = new AbortController();
    const done = this.#client
      .writeTransaction(
        (tx) =>
          new Promise<void>((commit, rollback) => {
            opened({ tx, commit, rollback, done, stopWatching });
          }),
      )
      .finally(() => {
        this.#transactions.delete(txId);
        stopWatching.abort();
      });
    // Ended before it opened (the engine refused it): the begin fails with why.
    done.catch(refused);
    const transaction = await started;
    // abortAll may have run while SQLite opened this one; unseen by it, it would hold the database forever.
    if (this.#isClosing()) {
      transaction.rollback(closingError());
      throw closingError();
    }
    this.#transactions.set(txId, transaction);
    // The follower's own lock is free only once its tab is gone: then nobody will commit this.
    this.#locks
      .request(this.#tabLock(from), { signal: stopWatching.signal }, () => {
        transaction.rollback(new Error("sync: the tab that opened this transaction closed"));
        return Promise.resolve();
      })
      .catch(() => undefined);
  }

  /** Read anew after an await: `abortAll` may have run meanwhile. */
  #isClosing(): boolean {
    return this.#closing;
  }

  async #end(txId: string, commit: boolean): Promise<void> {
    const transaction = this.#transactions.get(txId);
    if (transaction === undefined) {
      if (commit) throw new Error("sync: that transaction is no longer open; nothing of it was kept");
      return;
    }
    if (!commit) {
      transaction.rollback(new Error("sync: rolled back by the tab that opened it"));
      await transaction.done.catch(() => undefined);
      return;
    }
    try {
      await record(transaction.tx, txId, []);
    } catch (error) {
      transaction.rollback(error instanceof Error ? error : new Error(String(error)));
      throw error;
    }
    transaction.commit();
    await transaction.done;
  }
}

function closingError(): Error {
  return new Error("sync: the leader tab is closing");
}

async function runStatements(tx: SqlExecutor, statements: readonly Statement[]): Promise<QueryResult[]> {
  const results: QueryResult[] = [];
  for (const { sql, params } of statements) {
    refuseControl(sql);
    results.push(await tx.execute(sql, params));
  }
  return results;
}

async function committedResults(db: SqlExecutor, writeId: string): Promise<QueryResult[] | null> {
  const found = await db.execute('SELECT "results" FROM "_sync_tab_writes" WHERE "id" = ?', [writeId]);
  const text = found.rows[0]?.[0];
  return typeof text === "string" ? decodeResults(text) : null;
}

/**
 * Records a follower's write in its transaction, and forgets the records past their day: a leader
 * tab may stay open for weeks, and each record holds the write's results.
 */
async function record(tx: SqlExecutor, writeId: string, results: readonly QueryResult[]): Promise<void> {
  const now = Date.now();
  await tx.execute('DELETE FROM "_sync_tab_writes" WHERE "at" < ?', [now - WRITE_RECORD_TTL_MS]);
  await tx.execute('INSERT INTO "_sync_tab_writes" ("id", "results", "at") VALUES (?, ?, ?)', [writeId, encodeResults(results), now]);
}
