/**
 * The sync engine: opens the local database (client migrations), gives the app a typed Drizzle
 * database whose writes land in the outbox, and pushes and pulls on open, after local writes, when
 * the browser comes online, when its page is shown again, on an interval and on demand.
 */
import { getTableName, type Table } from "drizzle-orm";
import type { SqliteRemoteDatabase } from "drizzle-orm/sqlite-proxy";
import limits from "../../protocol/limits.json" with { type: "json" };
import { isRead, type QueryResult, type SqliteAdapter, type SqlExecutor, type Statement } from "../adapters/adapter.ts";
import { jsonText } from "../protocol/json.ts";
import { PROTOCOL_VERSION, type PullResponse, type PushRequest, type Rejection, type WireRow } from "../protocol/messages.ts";
import type { TableMeta } from "../protocol/tables.ts";
import { PageGroup } from "./apply.ts";
import { Backoff, type BackoffOptions } from "./backoff.ts";
import { systemClock, type Clock } from "./clock.ts";
import { drizzleInTransaction, drizzleOver, refuseControl } from "./database.ts";
import { SyncClosedError, SyncDatabaseNewerError, SyncHttpError, SyncNetworkError, SyncPausedError } from "./errors.ts";
import { migrate, type ClientMigration, type MigrationResult } from "./migrations.ts";
import { BaseObserver } from "./observer.ts";
import { onOnline, onVisible } from "./page-events.ts";
import { PageQueue } from "./pages.ts";
import {
  discardTransaction,
  dropAcknowledged,
  fitBytes,
  lastOutboxId,
  nextBatch,
  pendingCount,
  readWritten,
  toMutation,
  utf8Length,
  writtenSince,
  type OutboxEntry,
  type Written,
} from "./outbox.ts";
import { NEXT_TX, readState, writeCursor } from "./state.ts";
import { SyncStatus, type SyncStatusFields } from "./status.ts";
import { SyncedTables } from "./tables.ts";
import { httpTransport, type HttpTransportOptions, type Transport } from "./transport.ts";

/** The generated `sync-meta.ts` module, as the engine reads it. */
export interface SyncMeta {
  readonly schemaVersion: number;
  readonly syncTables: Readonly<Record<string, TableMeta>>;
}

/** A local write the server refused for good; the next pull undoes its optimistic effect. */
export interface RejectedWrite extends Rejection {
  readonly table: string;
  readonly op: "put" | "patch" | "delete";
  /** The row's key in storage form, keyed by Postgres column name. */
  readonly pk: WireRow;
}

export interface SyncClientListener {
  statusChanged(status: SyncStatus): void;
  /** Reported once per rejected write, after its outbox entry is gone. */
  rejected(writes: readonly RejectedWrite[]): void;
  /** SQLite names of the tables whose rows changed, by a local write or a pull. */
  tablesChanged(tables: ReadonlySet<string>): void;
}

interface CommonOptions<TSchema extends Record<string, unknown>> {
  readonly adapter: SqliteAdapter;
  /** The generated `schema.sqlite.ts` module (`import * as schema from ".../schema.sqlite"`). */
  readonly schema: TSchema;
  /** The generated `sync-meta.ts` module. */
  readonly meta: SyncMeta;
  /** `clientMigrations` of the generated `client-migrations.ts`. */
  readonly migrations: readonly ClientMigration[];
  /** Changes per pull page (default 5,000, the hosts' largest: fewer round trips, fewer transactions). */
  readonly pullLimit?: number;
  /**
   * Pull pages asked for ahead of the one being applied (default 4): each is asked for as soon as
   * the one before it arrives, so a host quicker than the apply has several waiting.
   */
  readonly pullPagesAhead?: number;
  /**
   * Pages that have already arrived are applied together in one SQLite transaction, up to about
   * this many changes (default 25,000: five pages of 5,000), never waiting for a page, and not while
   * the app waits for the database. One commit for several pages: on OPFS a commit costs about as
   * much as applying a page of 5,000 rows.
   */
  readonly pullTransactionRows?: number;
  /** Mutations per push (default 500); a client transaction larger than this goes alone. */
  readonly pushBatchSize?: number;
  /** Quiet time after a local write before a sync starts (default 25 ms). */
  readonly writeDebounceMs?: number;
  /** Time between syncs when nothing else triggers one (default 60 s); null: never. */
  readonly intervalMs?: number | null;
  /** Sync as soon as the database is open (default true). */
  readonly syncOnOpen?: boolean;
  readonly backoff?: BackoffOptions;
  readonly clock?: Clock;
  /**
   * Re-apply pending local writes on top of pulled rows (default true). Only tests turn it off, to
   * show that optimistic writes otherwise disappear until the server acknowledges them.
   */
  readonly rebase?: boolean;
}

export type SyncClientOptions<TSchema extends Record<string, unknown>> = CommonOptions<TSchema> &
  (HttpTransportOptions | { readonly transport: Transport });

interface Deferred {
  readonly promise: Promise<void>;
  resolve(): void;
  reject(error: unknown): void;
}

function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

type TimerName = "debounce" | "retry" | "interval";

/** What `deleteDatabase` rejects with, nothing deleted, when the adapter cannot delete. */
export function cannotDelete(): Error {
  return new Error("drizzlesync: this adapter cannot delete its database");
}

/** A listener that calls `callback` when rows of one of `tables` change: what `subscribe` registers. */
export function tablesListener(
  tables: readonly (Table | string)[],
  callback: (changed: ReadonlySet<string>) => void,
): Partial<SyncClientListener> {
  const names = new Set(tables.map((table) => (typeof table === "string" ? table : getTableName(table))));
  return {
    tablesChanged: (changed) => {
      if ([...changed].some((name) => names.has(name))) callback(changed);
    },
  };
}

/**
 * The write of `batch` whose values or key a 400 refusal names by its `path`
 * (`mutations[3].values.title`): the host cannot take it as it is, whatever the batch around it.
 */
function refusedWrite(error: SyncHttpError, batch: readonly OutboxEntry[]): OutboxEntry | undefined {
  const index = /^mutations\[(\d+)\]\.(?:values|pk)(?:\.|\[|$)/.exec(error.body?.error.path ?? "")?.[1];
  return index === undefined ? undefined : batch[Number(index)];
}

/** The hosts' default `maxChanges`: the largest page they serve, so the fewest round trips and transactions. */
const DEFAULT_PULL_LIMIT = limits.maxChanges;

/** How many `reset` answers in a row one pull accepts before it gives up (a server bug otherwise loops). */
const MAX_RESETS = 3;

/** Asks the host for the pull page after `cursor`. */
type PullRequester = (cursor: string | null) => Promise<PullResponse>;

/**
 * Whether a 409 `schema_version_unsupported` says the server is behind this build: the newest
 * version it serves (`supported.max`) is below this build's. That is a deploy under way (the app
 * shipped before the server's migration ran), which no new build of the app fixes: the engine
 * retries on its backoff, and syncs once the server is migrated. Paused in `update-required`
 * instead, it stayed paused after the migration, and a reload brought the same build back to it.
 */
function serverBehind(error: SyncHttpError, schemaVersion: number): boolean {
  const supported = error.body?.error["supported"];
  return typeof supported === "object" && supported !== null && "max" in supported && typeof supported.max === "number" && supported.max < schemaVersion;
}

function pullRequester(transport: Transport, schemaVersion: number, clientId: string, limit: number, signal: AbortSignal): PullRequester {
  return (cursor) => transport.pull({ protocol: PROTOCOL_VERSION, schemaVersion, clientId, cursor, limit }, signal);
}

/** The first pages of a new database's bootstrap, asked for while it was being created (see `open`). */
interface EarlyPages {
  readonly clientId: string;
  readonly pages: PageQueue;
}

export class SyncClient<TSchema extends Record<string, unknown>> extends BaseObserver<SyncClientListener> {
  /** The app's database: Drizzle typed by the generated schema. Each write statement is its own client transaction. */
  readonly db: SqliteRemoteDatabase<TSchema>;
  readonly clientId: string;
  /** What opening did: the versions migrated between, and pending writes pruned by the migration. */
  readonly migration: MigrationResult;

  readonly #adapter: SqliteAdapter;
  readonly #schema: TSchema;
  readonly #tables: SyncedTables;
  readonly #schemaVersion: number;
  readonly #transport: Transport;
  /** Aborted by `close()`: a request under way then ends at once rather than when the host answers. */
  readonly #closing: AbortController;
  readonly #clock: Clock;
  readonly #backoff: Backoff;
  readonly #pullLimit: number;
  readonly #pullPagesAhead: number;
  readonly #pullTransactionRows: number;
  /** The app's statements and transactions waiting for or holding the database: a pull's transaction then takes no more pages. */
  #appWaiting = 0;
  /**
   * Mutations the next push may carry: halved after a body over the host's byte limit, and doubled
   * back after each accepted push of a sync that had no such refusal, up to `#pushBatchLimit`.
   * Kept halved, a single large write once refused left every later push one transaction long
   * (10,000 offline writes: 10,000 requests); doubled back within the sync that refused, it would
   * reach the refused size again, every other request a body the host refuses.
   */
  #pushBatchSize: number;
  /** Whether this sync's push had a batch refused for its bytes: its batches grow no more. */
  #pushNarrowed = false;
  /** The host's body limit, once a 413 named it (`maxBytes`): each batch is cut to fit it. */
  #pushMaxBytes: number | null = null;
  /** The app's `pushBatchSize`, lowered for good to the server's `maxMutations` when it names one. */
  #pushBatchLimit: number;
  readonly #writeDebounceMs: number;
  readonly #intervalMs: number | null;
  readonly #rebase: boolean;
  #status = SyncStatus.initial;
  #requested: Deferred | null = null;
  /** The loop serving sync requests; `#draining` is cleared in the same tick the loop finds none left. */
  #running: Promise<void> | null = null;
  #draining = false;
  #closed = false;
  readonly #timers = new Map<TimerName, unknown>();
  #stopListeningToPage: () => void = () => undefined;
  /** When the last local write committed (clock ms), for the debounce. */
  #lastWriteAt = 0;
  /** The newest outbox id seen: a local write's entries are the ones above it. */
  #lastOutboxId: number;
  /** Raised when the outbox is numbered anew: a write that read `#lastOutboxId` before must not set it. */
  #outboxEpoch = 0;
  /**
   * The client transaction the host refuses for good, with its refusal: too large even alone, or
   * a write of it whose values or key the host cannot take (a 400 naming it).
   */
  #refused: { readonly tx: number; readonly error: SyncHttpError } | null = null;
  /** The outbox id the next push stops before: the writes ahead of a refused one go on their own. */
  #pushBefore: number | null = null;
  /** A `discardRefusedTransaction()` waiting for the sync loop. */
  #discardAsked: {
    readonly promise: Promise<readonly RejectedWrite[]>;
    resolve(writes: readonly RejectedWrite[]): void;
    reject(error: unknown): void;
  } | null = null;
  /**
   * A new database's bootstrap pages, asked for before it was open; the first pull takes them
   * unless something was pushed first (the host's answer may then predate the push).
   */
  #earlyPages: EarlyPages | null;

  private constructor(
    options: SyncClientOptions<TSchema>,
    transport: Transport,
    clientId: string,
    migration: MigrationResult,
    tables: SyncedTables,
    lastOutboxId: number,
    earlyPages: EarlyPages | null,
    closing: AbortController,
  ) {
    super();
    this.#adapter = options.adapter;
    this.#schema = options.schema;
    this.#tables = tables;
    this.#schemaVersion = options.meta.schemaVersion;
    this.#transport = transport;
    this.#closing = closing;
    this.#clock = options.clock ?? systemClock;
    this.#backoff = new Backoff(options.backoff);
    this.#pullLimit = options.pullLimit ?? DEFAULT_PULL_LIMIT;
    this.#pullPagesAhead = options.pullPagesAhead ?? 4;
    this.#pullTransactionRows = options.pullTransactionRows ?? 25_000;
    this.#pushBatchLimit = options.pushBatchSize ?? 500;
    this.#pushBatchSize = this.#pushBatchLimit;
    this.#writeDebounceMs = options.writeDebounceMs ?? 25;
    this.#intervalMs = options.intervalMs === undefined ? 60_000 : options.intervalMs;
    this.#rebase = options.rebase ?? true;
    this.clientId = clientId;
    this.migration = migration;
    this.#lastOutboxId = lastOutboxId;
    this.#earlyPages = earlyPages;
    this.db = drizzleOver<TSchema>({ run: (statement) => this.run(statement), runBatch: (statements) => this.runBatch(statements) }, options.schema);
  }

  /**
   * Opens the local database: runs the client migrations above its stored version (a fresh one goes
   * to the newest), then starts syncing unless told not to.
   *
   * A new database's first sync is a bootstrap with nothing to push, so its first pull page is asked
   * for as soon as the migration has generated the client id, before the migration commits and the
   * rest of the open: the host prepares the page (and the next ones, up to `pullPagesAhead`) while
   * the database is still being set up.
   *
   * The client owns `options.adapter`: `close()` closes it, and so does an open that fails.
   */
  static async open<TSchema extends Record<string, unknown>>(options: SyncClientOptions<TSchema>): Promise<SyncClient<TSchema>> {
    const tables = new SyncedTables(options.meta.syncTables);
    const transport = "transport" in options ? options.transport : httpTransport(options);
    const syncOnOpen = options.syncOnOpen ?? true;
    const schemaVersion = options.meta.schemaVersion;
    let early: EarlyPages | null = null;
    const closing = new AbortController();
    const created = (clientId: string) => {
      const request = pullRequester(transport, schemaVersion, clientId, options.pullLimit ?? DEFAULT_PULL_LIMIT, closing.signal);
      early = { clientId, pages: new PageQueue(request, null, options.pullPagesAhead ?? 4) };
    };
    try {
      const migration = await migrate(options.adapter, options.migrations, tables, syncOnOpen ? created : undefined);
      if (migration.to > schemaVersion) throw new SyncDatabaseNewerError(migration.to, schemaVersion);
      if (migration.to !== schemaVersion) {
        throw new Error(
          `drizzlesync: the database is at schema version ${migration.to} but this build's sync-meta is at ` +
            `${schemaVersion}; the generated files do not belong together, or the database is newer than the build`,
        );
      }
      const state = await readState(options.adapter);
      const pages = early as EarlyPages | null;
      if (pages !== null && (pages.clientId !== state.clientId || state.cursor !== null)) {
        pages.pages.stop();
        early = null;
      }
      const client = new SyncClient(options, transport, state.clientId, migration, tables, await lastOutboxId(options.adapter), early, closing);
      await client.#refreshPending();
      client.#start(syncOnOpen);
      return client;
    } catch (error) {
      (early as EarlyPages | null)?.pages.stop();
      closing.abort(error);
      // The client owns its adapter, as close() does: left open, a SQLite WASM Worker would keep
      // the database's OPFS files from the next attempt (a TabClient leader tries again at once).
      await options.adapter.close().catch(() => undefined);
      throw error;
    }
  }

  get status(): SyncStatus {
    return this.#status;
  }

  /**
   * One statement as `db` runs it: a read as it is, anything else as a local write (its own client
   * transaction). For code that holds SQL rather than a Drizzle query (the tab coordinator).
   */
  async run(statement: Statement): Promise<QueryResult> {
    if (isRead(statement.sql)) return this.#app(() => this.#adapter.execute(statement.sql, statement.params));
    const [result] = await this.runBatch([statement]);
    return result ?? { columns: [], rows: [] };
  }

  /** Statements as one local write: one client transaction, one SQLite transaction. */
  async runBatch(statements: readonly Statement[]): Promise<QueryResult[]> {
    for (const { sql } of statements) refuseControl(sql);
    const since = this.#lastOutboxId;
    const epoch = this.#outboxEpoch;
    // The numbering, the write and its outbox count go in one batch: one trip to the database.
    const results = await this.#app(() => this.#adapter.batch([NEXT_TX, ...statements, writtenSince(since)]));
    const counted = results.pop();
    results.shift();
    if (counted !== undefined) this.#written(readWritten(counted, since), epoch);
    return results;
  }

  /**
   * Runs `work` in one SQLite transaction with a Drizzle database bound to it; its writes form one
   * client transaction, which the server applies all or nothing.
   */
  async transaction<T>(work: (db: SqliteRemoteDatabase<TSchema>) => Promise<T>): Promise<T> {
    return this.writeTransaction((tx) => work(drizzleInTransaction(tx, this.#schema)));
  }

  /** `transaction` over the executor itself, for code that holds SQL rather than Drizzle queries. */
  async writeTransaction<T>(work: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    const since = this.#lastOutboxId;
    const epoch = this.#outboxEpoch;
    const { result, written } = await this.#app(() =>
      this.#adapter.transaction(async (tx) => {
        await tx.execute(NEXT_TX.sql);
        const result = await work(tx);
        const { sql, params } = writtenSince(since);
        return { result, written: readWritten(await tx.execute(sql, params), since) };
      }),
    );
    this.#written(written, epoch);
    return result;
  }

  /**
   * Pushes and pulls now (after the cycle under way, if any). Resolves when a whole cycle that
   * began after the call is done; rejects with what made it fail (the status says it too).
   */
  sync(): Promise<void> {
    if (this.#closed) return Promise.reject(new SyncClosedError());
    if (this.#status.paused) return Promise.reject(new SyncPausedError(this.#status.state as "auth-required" | "update-required", this.#status.error));
    this.#requested ??= deferred();
    const { promise } = this.#requested;
    if (!this.#draining) this.#running = this.#drain();
    return promise;
  }

  /** Calls `callback` whenever rows of one of `tables` (Drizzle tables or SQLite names) change. */
  subscribe(tables: readonly (Table | string)[], callback: (changed: ReadonlySet<string>) => void): () => void {
    return this.registerListener(tablesListener(tables, callback));
  }

  /** After `auth-required`: the app has a new token (`getToken` will return it); sync resumes. */
  tokenChanged(): void {
    if (this.#status.state !== "auth-required") return;
    this.#setStatus({ state: "idle", error: null });
    this.#trigger();
  }

  /**
   * The page became visible again: a sync now, so that the user sees what changed while it was away
   * (a hidden page's timers are slowed or frozen), and the interval counts from it. None while a
   * retry after a failure is scheduled: switching tabs does not cut a backoff short. The engine
   * calls this for its own page; `TabClient` for a follower's.
   */
  pageVisible(): void {
    if (this.#closed || this.#timers.has("retry")) return;
    this.#armInterval();
    this.#trigger();
  }

  /** Stops syncing, waits for a cycle under way, and closes the database. */
  async close(): Promise<void> {
    if (this.#closed) return;
    await this.#stop();
    await this.#adapter.close();
  }

  /** Whether `deleteDatabase` can work: the adapter can delete its database. */
  get canDeleteDatabase(): boolean {
    return this.#adapter.deleteDatabase !== undefined;
  }

  /**
   * Stops syncing as `close()` does, then deletes the local database: the synced rows, the outbox
   * and the client's state. For signing out of a shared device; the next `open` on the same name
   * starts a new client that bootstraps. Writes the server has not acknowledged (`status.pending`)
   * are lost with it: sync first, or ask the user. Rejects, with nothing deleted and the client still
   * open, when the adapter cannot delete (`canDeleteDatabase` false); when deleting itself fails, the
   * client is closed and the database is as the failure left it.
   */
  async deleteDatabase(): Promise<void> {
    if (this.#closed) throw new SyncClosedError();
    const adapter = this.#adapter;
    if (adapter.deleteDatabase === undefined) throw cannotDelete();
    await this.#stop();
    try {
      await adapter.deleteDatabase();
    } catch (error) {
      // The engine is closed either way: the connection must not outlive it.
      await adapter.close().catch(() => undefined);
      throw error;
    }
  }

  /**
   * Gives up the client transaction the host refuses for good, which `status.error` shows: too
   * large even alone (413 `request_too_large`, or `batch_too_large` for it by itself), or a write
   * of it whose values or key the host cannot take (a 400 whose `path` names the write, such as
   * `invalid_string` for a NUL character, which Postgres cannot store). It holds back every write
   * after it, since the server takes writes in order. Runs at the start of the next sync: asks the
   * server where it stands (an empty push), removes the transaction from the outbox, numbers the
   * later writes to follow on, and bootstraps, so the local rows lose its effect; the later writes
   * are pushed and rebased as usual. Resolves with the writes given up, also reported to
   * `rejected` listeners with the refusal's code; with none if the server had applied the
   * transaction after all. Rejects when no transaction is refused so.
   */
  discardRefusedTransaction(): Promise<readonly RejectedWrite[]> {
    if (this.#closed) return Promise.reject(new SyncClosedError());
    if (this.#status.paused) return Promise.reject(new SyncPausedError(this.#status.state as "auth-required" | "update-required", this.#status.error));
    if (this.#refused === null) return Promise.reject(new Error("sync: the host refuses no client transaction for good: nothing to discard"));
    // Asked again before it ran: the same discard answers both.
    if (this.#discardAsked !== null) return this.#discardAsked.promise;
    let settle!: { resolve(writes: readonly RejectedWrite[]): void; reject(error: unknown): void };
    const promise = new Promise<readonly RejectedWrite[]>((resolve, reject) => (settle = { resolve, reject }));
    this.#discardAsked = { promise, ...settle };
    this.sync().catch(() => undefined);
    return promise;
  }

  async #discardIfAsked(): Promise<void> {
    const asked = this.#discardAsked;
    if (asked === null) return;
    this.#discardAsked = null;
    try {
      asked.resolve(await this.#discardRefused());
    } catch (error) {
      asked.reject(error);
      throw error;
    }
  }

  async #discardRefused(): Promise<readonly RejectedWrite[]> {
    const refused = this.#refused;
    if (refused === null) return [];
    this.#setStatus({ state: "pushing", retryAt: null });
    const request: PushRequest = { protocol: PROTOCOL_VERSION, schemaVersion: this.#schemaVersion, clientId: this.clientId, mutations: [] };
    const { lastMutationId } = await this.#transport.push(request, this.#closing.signal);
    const { removed, newest } = await this.#adapter.transaction(async (tx) => {
      const removed = await discardTransaction(tx, refused.tx, lastMutationId);
      // The server never saw these writes, so no pull would undo them here: a bootstrap does.
      if (removed.length > 0) await writeCursor(tx, null);
      return { removed, newest: await lastOutboxId(tx) };
    });
    this.#refused = null;
    this.#outboxEpoch += 1;
    this.#lastOutboxId = newest;
    this.#dropEarlyPages();
    await this.#refreshPending();
    const code = refused.error.code ?? "request_too_large";
    const writes = removed.map((entry) => ({ id: entry.id, code, message: refused.error.message, table: entry.table, op: entry.op, pk: entry.pk }));
    if (writes.length > 0) this.iterateListeners((listener) => listener.rejected?.(writes));
    return writes;
  }

  /** What closing and deleting share: no more syncs, and the cycle under way finished. */
  async #stop(): Promise<void> {
    this.#closed = true;
    for (const name of this.#timers.keys()) this.#cancel(name);
    this.#stopListeningToPage();
    // A request under way (a host that never answers included) ends now; the cycle then fails, quietly.
    this.#closing.abort(new SyncClosedError());
    await this.#running?.catch(() => undefined);
    this.#requested?.reject(new SyncClosedError());
    this.#requested = null;
    this.#discardAsked?.reject(new SyncClosedError());
    this.#discardAsked = null;
    this.#dropEarlyPages();
  }

  #start(syncNow: boolean): void {
    const stopOnline = onOnline(() => {
      this.#cancel("retry");
      this.#trigger();
    });
    const stopVisible = onVisible(() => {
      this.pageVisible();
    });
    this.#stopListeningToPage = () => {
      stopOnline();
      stopVisible();
    };
    this.#armInterval();
    if (syncNow) this.#trigger();
  }

  /** An automatic sync: failures show in the status and schedule their own retry. */
  #trigger(): void {
    if (this.#closed || this.#status.paused) return;
    this.sync().catch(() => undefined);
  }

  async #drain(): Promise<void> {
    this.#draining = true;
    try {
      // No await between settling a request and the loop's check: a sync() called from the
      // settled promise's continuation must find either this loop still running or none.
      while (this.#requested !== null && !this.#closed) {
        const request = this.#requested;
        this.#requested = null;
        if (this.#status.paused) {
          const paused = new SyncPausedError(this.#status.state as "auth-required" | "update-required", this.#status.error);
          request.reject(paused);
          this.#discardAsked?.reject(paused);
          this.#discardAsked = null;
          continue;
        }
        this.#cancel("retry");
        // This sync pushes every write committed so far: their debounced sync would find nothing to
        // do. A write during it arms the debounce again.
        this.#cancel("debounce");
        try {
          // A sync that discards nothing takes no extra turn before its push.
          if (this.#discardAsked !== null) await this.#discardIfAsked();
          const refused = await this.#pushOrRefusal();
          await this.#pull();
          if (refused !== null) throw refused;
          this.#backoff.reset();
          this.#setStatus({ state: "idle", lastSyncedAt: new Date(this.#clock.now()), error: null, retryAt: null });
          request.resolve();
        } catch (error) {
          this.#failed(error);
          request.reject(error);
        }
      }
    } finally {
      this.#draining = false;
    }
  }

  /**
   * Pushes; a push the host refused as a wrong request (action `fail`: a 413, such as a write
   * over its byte limit even alone, a 400, 403 or 409) is returned rather than thrown, so that the
   * pull still runs: the writes wait in the outbox, rebased on what arrives, and the device keeps
   * receiving the others' changes instead of none until the refusal is resolved. The sync then
   * fails with it. A network failure, a busy server or a token to renew ends the sync at once: a
   * pull could not do better.
   */
  async #pushOrRefusal(): Promise<SyncHttpError | null> {
    try {
      await this.#push();
      return null;
    } catch (error) {
      if (error instanceof SyncHttpError && error.action === "fail") return error;
      throw error;
    }
  }

  async #push(): Promise<void> {
    this.#pushNarrowed = false;
    for (;;) {
      const before = this.#pushBefore;
      this.#pushBefore = null;
      const oldest = await nextBatch(this.#adapter, this.#pushBatchSize);
      const ahead = oldest.filter((entry) => before === null || entry.id < before);
      const { batch, request } = this.#fitted(ahead.length > 0 ? ahead : oldest);
      const first = batch[0];
      const last = batch[batch.length - 1];
      if (first === undefined || last === undefined) return;
      // The early pages were asked for before these writes reach the host: a pull must follow the push.
      this.#dropEarlyPages();
      this.#setStatus({ state: "pushing", retryAt: null });
      const response = await this.#transport.push(request, this.#closing.signal).catch((error: unknown) => {
        if (!(error instanceof SyncHttpError)) throw error;
        // A smaller batch may go through: sent at once, so that a sync ends with a refusal only
        // when it is the transaction's own, the one `discardRefusedTransaction` gives up.
        if (this.#narrowed(error, batch)) return null;
        // Too large even alone: no smaller batch will carry it.
        if (error.status === 413) this.#refused = { tx: first.tx, error };
        throw error;
      });
      if (response === null) continue;
      this.#refused = null;
      this.#pushAccepted();
      // The ack and the outbox rows it covers go together: a crash between them resends, and the
      // server skips what it already applied.
      await this.#adapter.transaction((tx) => dropAcknowledged(tx, response.lastMutationId));
      await this.#refreshPending();
      const entries = new Map(batch.map((entry) => [entry.id, entry]));
      const rejected = response.rejected.flatMap((rejection) => {
        const entry = entries.get(rejection.id);
        return entry ? [{ ...rejection, table: entry.table, op: entry.op, pk: entry.pk }] : [];
      });
      if (rejected.length > 0) this.iterateListeners((listener) => listener.rejected?.(rejected));
      if (response.lastMutationId < last.id) {
        throw new Error(`sync: the server acknowledged up to ${response.lastMutationId} of a batch ending at ${last.id}`);
      }
    }
  }

  /**
   * The push of `entries`, once the host has said how many bytes a body may have (`maxBytes` of a
   * 413 `request_too_large`) only the whole transactions from the first that fit in it: the host
   * refuses no other body, so the batch need not shrink for every later write, nor stop growing.
   */
  #fitted(entries: readonly OutboxEntry[]): { batch: readonly OutboxEntry[]; request: PushRequest } {
    const envelope: Omit<PushRequest, "mutations"> = { protocol: PROTOCOL_VERSION, schemaVersion: this.#schemaVersion, clientId: this.clientId };
    const mutations = entries.map((entry, n) => toMutation(entry, this.#tables, entries[n - 1]));
    const maxBytes = this.#pushMaxBytes;
    if (maxBytes === null) return { batch: entries, request: { ...envelope, mutations } };
    // The body is the transport's jsonText of the request: the envelope, then each mutation and a comma.
    const sizes = mutations.map((mutation) => utf8Length(jsonText(mutation)) + 1);
    const fit = fitBytes(entries, sizes, maxBytes - utf8Length(jsonText({ ...envelope, mutations: [] })) + 1);
    return { batch: entries.slice(0, fit), request: { ...envelope, mutations: mutations.slice(0, fit) } };
  }

  /** A push went through: its batch size doubles back, unless this sync had a body refused. */
  #pushAccepted(): void {
    if (!this.#pushNarrowed) this.#pushBatchSize = Math.min(this.#pushBatchLimit, this.#pushBatchSize * 2);
  }

  /**
   * Whether the refusal of `batch` leaves a smaller batch to try: fewer writes after a body over
   * the host's byte limit (half as many, down to one transaction) or over its `maxMutations`;
   * after a 400 naming a write the host cannot take as it is, the writes before that write's
   * transaction, on their own, so that it is refused at the head of a batch. A 400 naming the
   * first transaction's write makes it the refused one.
   */
  #narrowed(error: SyncHttpError, batch: readonly OutboxEntry[]): boolean {
    const alone = batch[0]?.tx === batch[batch.length - 1]?.tx;
    if (error.status === 413) {
      const maxMutations = error.body?.error.maxMutations;
      const limited = error.code === "batch_too_large" && typeof maxMutations === "number";
      if (limited) this.#pushBatchLimit = Math.max(1, Math.min(this.#pushBatchLimit, maxMutations));
      // The host's byte limit, newly learnt: the retry is cut to fit it (see `#fitted`). Known
      // already, it failed to (another limit in front of the host): halved as when none is known.
      const maxBytes = error.body?.error.maxBytes;
      if (!limited && typeof maxBytes === "number" && maxBytes !== this.#pushMaxBytes) {
        this.#pushMaxBytes = maxBytes;
        return !alone;
      }
      const fewer = limited ? maxMutations : Math.floor(batch.length / 2);
      if (!limited) this.#pushNarrowed = true;
      this.#pushBatchSize = Math.max(1, Math.min(this.#pushBatchSize, fewer));
      return !alone && this.#pushBatchSize < batch.length;
    }
    if (error.status !== 400) return false;
    const named = refusedWrite(error, batch);
    if (named === undefined) return false;
    if (named.tx === batch[0]?.tx) {
      this.#refused = { tx: named.tx, error };
      return false;
    }
    this.#pushBefore = batch.find((entry) => entry.tx === named.tx)?.id ?? null;
    return true;
  }

  async #pull(): Promise<void> {
    this.#setStatus({ state: "pulling", retryAt: null });
    let { cursor } = await readState(this.#adapter);
    let received = 0;
    let resets = 0;
    if (cursor === null) this.#setStatus({ bootstrap: { received, total: null, done: false } });
    const request = pullRequester(this.#transport, this.#schemaVersion, this.clientId, this.#pullLimit, this.#closing.signal);
    // The next pages are on their way while one is applied: the server's time and the database's
    // overlap. A pull reads only, so an unused one costs the server a page, nothing more.
    const early = cursor === null ? this.#earlyPages?.pages : undefined;
    if (early === undefined) this.#dropEarlyPages();
    this.#earlyPages = null;
    let pages = early ?? new PageQueue(request, cursor, this.#pullPagesAhead);
    try {
      for (;;) {
        const first = await pages.next();
        if (first.reset) {
          if (++resets > MAX_RESETS) throw new Error("sync: the server asked for a reset again and again");
          cursor = null;
          received = 0;
          this.#setStatus({ bootstrap: { received, total: null, done: false } });
          pages.stop();
          pages = new PageQueue(request, cursor, this.#pullPagesAhead);
          continue;
        }
        // A page that carries `estimatedTotal` is one of a bootstrap's snapshot, whatever this engine
        // knows: one resumed from the stored cursor by a new engine (the app was killed, or closed,
        // during its bootstrap) still reports its progress, rather than none, as if it were done.
        const bootstrapping = cursor === null || this.#status.bootstrap?.done === false || typeof first.estimatedTotal === "number";
        const group: PullResponse[] = [first];
        const changed = await this.#adapter.transaction(async (tx) => {
          const applied = new PageGroup(tx, this.#tables, { clear: cursor === null, rebase: this.#rebase });
          await applied.add(first);
          // Pages that have already arrived join this transaction (one commit for several: a commit
          // is the largest cost of a page on OPFS), never waiting for one, up to a bound, and not
          // while the app waits for the database: a local write waits for one page at most.
          let rows = first.changes.length;
          for (let page = first; page.hasMore && rows < this.#pullTransactionRows && this.#appWaiting === 0; ) {
            const next = pages.ready();
            if (next === null) break;
            await applied.add(next);
            group.push(next);
            rows += next.changes.length;
            page = next;
          }
          return applied.finish();
        });
        const last = group.at(-1) ?? first;
        cursor = last.cursor;
        if (bootstrapping) {
          for (const page of group) {
            received += page.changes.length;
            // Every page of the server's snapshot repeats its estimate; one resumed from a stored cursor
            // learns it from its first page.
            const total = page.estimatedTotal ?? this.#status.bootstrap?.total ?? null;
            this.#setStatus({ bootstrap: { received, total, done: !page.hasMore } });
          }
        }
        if (changed.size > 0) this.iterateListeners((listener) => listener.tablesChanged?.(changed));
        if (!last.hasMore) break;
      }
    } finally {
      pages.stop();
    }
    await this.#refreshPending();
  }

  /** The early pages are for the first pull only, and only when nothing was pushed before it. */
  #dropEarlyPages(): void {
    this.#earlyPages?.pages.stop();
    this.#earlyPages = null;
  }

  #failed(error: unknown): void {
    if (this.#closed) return;
    if (error instanceof SyncHttpError && error.code === "invalid_cursor") {
      // The stored cursor is not one the server can read (a corrupted or foreign database):
      // the retry bootstraps instead of failing the same way for ever. The adapter runs this before
      // the retry's first statement; if it fails, that retry reports the broken adapter.
      writeCursor(this.#adapter, null).catch(() => undefined);
    }
    if (error instanceof SyncHttpError && error.action === "reauthenticate") {
      this.#setStatus({ state: "auth-required", error, retryAt: null });
    } else if (error instanceof SyncHttpError && error.action === "update" && !serverBehind(error, this.#schemaVersion)) {
      this.#setStatus({ state: "update-required", error, retryAt: null });
    } else {
      const delay = this.#backoff.next(error instanceof SyncHttpError ? error.retryAfterMs : undefined);
      const state = error instanceof SyncNetworkError ? "offline" : "error";
      this.#setStatus({ state, error: error instanceof Error ? error : new Error(String(error)), retryAt: this.#clock.now() + delay });
      this.#schedule("retry", delay, () => {
        this.#trigger();
      });
    }
  }

  /** After a local write commits: change notifications and a debounced sync. */
  #written({ counts, lastId }: Written, epoch: number): void {
    // After the outbox was numbered anew, the bootstrap that follows reports every table.
    if (epoch === this.#outboxEpoch) this.#lastOutboxId = Math.max(this.#lastOutboxId, lastId);
    if (counts.size === 0) return;
    const changed = new Set([...counts.keys()].map((name) => this.#tables.get(name).meta.sqliteTable));
    const added = [...counts.values()].reduce((sum, count) => sum + count, 0);
    this.#setStatus({ pending: this.#status.pending + added });
    this.iterateListeners((listener) => listener.tablesChanged?.(changed));
    this.#scheduleAfterWrite();
  }

  /** Waits for a quiet moment; a retry already scheduled (offline, backing off) pushes the write instead. */
  #scheduleAfterWrite(): void {
    this.#lastWriteAt = this.#clock.now();
    if (this.#closed || this.#timers.has("retry") || this.#timers.has("debounce")) return;
    this.#armDebounce(this.#writeDebounceMs);
  }

  /**
   * One timer for a burst of writes, not one per write (clearing and setting a timer costs as much
   * as a small write): when it fires before the quiet time since the last write has passed, it waits
   * for the rest. A last write that seems to lie in the future was made before the device's clock
   * was set back: the timer has waited its time, so it syncs (waiting for the clock to catch up
   * would hold the write back for as long as the clock went back).
   */
  #armDebounce(ms: number): void {
    this.#schedule("debounce", ms, () => {
      const quiet = this.#clock.now() - this.#lastWriteAt;
      if (quiet >= 0 && quiet < this.#writeDebounceMs) this.#armDebounce(this.#writeDebounceMs - quiet);
      else this.#trigger();
    });
  }

  #armInterval(): void {
    const interval = this.#intervalMs;
    if (interval === null || this.#closed) return;
    this.#schedule("interval", interval, () => {
      this.#trigger();
      this.#armInterval();
    });
  }

  /** One timer per purpose: scheduling one replaces the one before. */
  #schedule(name: TimerName, ms: number, callback: () => void): void {
    this.#cancel(name);
    this.#timers.set(
      name,
      this.#clock.setTimeout(() => {
        this.#timers.delete(name);
        callback();
      }, ms),
    );
  }

  #cancel(name: TimerName): void {
    if (this.#timers.has(name)) this.#clock.clearTimeout(this.#timers.get(name));
    this.#timers.delete(name);
  }

  /** The app's use of the database, counted while it waits or runs (see `#appWaiting`). */
  async #app<T>(use: () => Promise<T>): Promise<T> {
    this.#appWaiting += 1;
    try {
      return await use();
    } finally {
      this.#appWaiting -= 1;
    }
  }

  async #refreshPending(): Promise<void> {
    this.#setStatus({ pending: await pendingCount(this.#adapter) });
  }

  #setStatus(changes: Partial<SyncStatusFields>): void {
    const next = this.#status.with(changes);
    if (next.equals(this.#status)) return;
    this.#status = next;
    this.iterateListeners((listener) => listener.statusChanged?.(next));
  }
}
