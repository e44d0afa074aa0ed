/**
 * Several tabs of one app on one database: the tab holding the Web Lock `drizzlesync:<name>` is the
 * leader; it opens the database and runs the sync loop, and every other tab sends its statements,
 * writes and sync requests to it over a BroadcastChannel and hears status and table changes from it.
 * When the leader closes, the lock passes to the next tab, which opens the database and takes over.
 */
import type { Table } from "drizzle-orm";
import type { SqliteRemoteDatabase } from "drizzle-orm/sqlite-proxy";
import { isRead, type QueryResult, type Statement } from "../adapters/adapter.ts";
import { drizzleOver } from "./database.ts";
import { SyncClosedError, SyncDatabaseDeletedError, SyncDatabaseNewerError, SyncTabOutdatedError, TabLeaderLostError } from "./errors.ts";
import { BaseObserver } from "./observer.ts";
import { onVisible } from "./page-events.ts";
import { SyncStatus } from "./status.ts";
import { cannotDelete, tablesListener, type RejectedWrite, type SyncClient, type SyncClientListener } from "./sync-client.ts";
import { TabHost, type LockManagerLike } from "./tab-host.ts";
import { errorFromMessage, errorMessage, statusFromMessage, statusMessage, type TabCall, type TabMessage } from "./tab-protocol.ts";

export type { LockManagerLike } from "./tab-host.ts";

/** The part of a BroadcastChannel the tabs talk through. */
export interface ChannelLike {
  postMessage(message: TabMessage): void;
  addEventListener(type: "message", listener: (event: MessageEvent<TabMessage>) => void): void;
  close(): void;
}

export interface TabClientListener extends SyncClientListener {
  /** This tab became the leader (true), or stopped being it by closing (false). */
  roleChanged(isLeader: boolean): void;
  /** A tab deleted the database (`deleteDatabase`): this tab is closed now, as every other one is. */
  deleted(): void;
}

export interface TabClientOptions<TSchema extends Record<string, unknown>> {
  /** The database's name (e.g. its file name): one leader per origin and name. */
  readonly name: string;
  /**
   * This build's schema version (`meta.schemaVersion` of the generated `sync-meta.ts`). A tab of a
   * newer build takes the database over: tabs of older builds give it up and turn
   * `update-required` (`SyncTabOutdatedError`), since their statements no longer fit it. Shared,
   * a tab reloaded into a new build followed an old one and its writes failed.
   */
  readonly schemaVersion: number;
  /** The generated `schema.sqlite.ts` module, for `db` in every tab. */
  readonly schema: TSchema;
  /**
   * Opens the database and its engine (`SyncClient.open(...)`): called in the tab that becomes the
   * leader, when it does. It is retried for a few seconds when it fails, since the previous leader's
   * hold on the file may outlive its tab for a moment.
   */
  readonly open: () => Promise<SyncClient<TSchema>>;
  /** Default `navigator.locks`. */
  readonly locks?: LockManagerLike;
  /** Default `new BroadcastChannel(name)`. */
  readonly channel?: (name: string) => ChannelLike;
}

interface Pending {
  readonly call: TabCall;
  resolve(result: unknown): void;
  reject(error: Error): void;
  /** The leader it was last sent to; null while there was none. */
  sentTo: string | null;
}

const OPEN_ATTEMPTS = 40;
const OPEN_RETRY_MS = 250;
/** After a tab gave up opening the database, how long before it asks to lead again. */
const LEAD_AGAIN_MS = 30_000;
/** How long a leader that deleted the database keeps the lock, for every tab to hear of it first. */
const HOLD_AFTER_DELETE_MS = 1_000;
/** How long a tab that gave the database up waits for the answers to calls it had sent the leader. */
const ANSWERS_AFTER_OUTDATED_MS = 2_000;

/** A hello's or leader's schema version; null from a build before tabs compared them. */
function schemaVersionOf(message: { readonly schemaVersion?: unknown }): number | null {
  return typeof message.schemaVersion === "number" ? message.schemaVersion : null;
}

function defaultLocks(): LockManagerLike {
  const locks = (globalThis.navigator as { locks?: LockManagerLike } | undefined)?.locks;
  if (locks === undefined) throw new Error("drizzlesync: multi-tab needs the Web Locks API (navigator.locks)");
  return locks;
}

export class TabClient<TSchema extends Record<string, unknown>> extends BaseObserver<TabClientListener> {
  /** The app's database in this tab, typed as `SyncClient.db`; in a follower every statement goes to the leader. */
  readonly db: SqliteRemoteDatabase<TSchema>;
  /** This tab's id on the channel. */
  readonly tabId = crypto.randomUUID();

  readonly #options: TabClientOptions<TSchema>;
  readonly #locks: LockManagerLike;
  readonly #channel: ChannelLike;
  readonly #lockName: string;
  #engine: SyncClient<TSchema> | null = null;
  #host: TabHost<TSchema> | null = null;
  #leaderId: string | null = null;
  #status = SyncStatus.initial;
  readonly #pending = new Map<number, Pending>();
  /** Follower transactions under way, with the leader each began on. */
  readonly #transactions = new Map<string, string | null>();
  #nextId = 0;
  #closed = false;
  readonly #stopAsking = new AbortController();
  #releaseLeadership: () => void = () => undefined;
  /** The latest takeover: resolves true once this tab leads, false if `close()` stopped it. */
  #leading: Promise<boolean> | null = null;
  /** Why no tab serves this one's calls: set when it gave up opening the database, until a tab leads. */
  #unavailable: Error | null = null;
  #leadAgain: ReturnType<typeof setTimeout> | undefined;
  #releaseTabLock: () => void = () => undefined;
  #ready: { resolve(): void; reject(error: Error): void } | null = null;
  /** Set once a tab of a newer build was heard: this one has given the database up for good. */
  #outdated: SyncTabOutdatedError | SyncDatabaseNewerError | null = null;
  #answersAfterOutdated: ReturnType<typeof setTimeout> | undefined;
  /** Stops hearing the engine this tab leads with (its status would overwrite `update-required`). */
  #stopHearingEngine: () => void = () => undefined;
  /** A leader's engine hears its own page; a follower tells the leader when its page is shown. */
  readonly #stopListeningToPage = onVisible(() => {
    if (this.#engine === null && !this.#closed) this.#call({ kind: "visible" }).catch(() => undefined);
  });

  private constructor(options: TabClientOptions<TSchema>) {
    super();
    this.#options = options;
    this.#locks = options.locks ?? defaultLocks();
    this.#lockName = `drizzlesync:${options.name}`;
    this.#channel = (options.channel ?? ((name) => new BroadcastChannel(name)))(this.#lockName);
    this.#channel.addEventListener("message", (event) => {
      this.#receive(event.data);
    });
    this.db = drizzleOver<TSchema>(
      {
        run: (statement) => this.#statement(statement),
        runBatch: async (statements) =>
          this.#engine?.runBatch(statements) ??
          ((await this.#call({ kind: "write", writeId: crypto.randomUUID(), statements })) as QueryResult[]),
      },
      options.schema,
    );
  }

  /** Joins the tabs of `options.name`: resolves once this tab leads, or a leader has answered. */
  static async open<TSchema extends Record<string, unknown>>(options: TabClientOptions<TSchema>): Promise<TabClient<TSchema>> {
    const tab = new TabClient(options);
    const ready = new Promise<void>((resolve, reject) => (tab.#ready = { resolve, reject }));
    await tab.#holdTabLock();
    tab.#elect();
    tab.#hello();
    try {
      await ready;
    } catch (error) {
      // Nobody holds this tab: leave the tabs, or its own lock and channel would live on.
      await tab.close();
      throw error;
    }
    return tab;
  }

  /** The engine's status, the leader's as every tab sees it. */
  get status(): SyncStatus {
    return this.#status;
  }

  /** True while this tab owns the database and runs the sync loop. */
  get isLeader(): boolean {
    return this.#engine !== null;
  }

  /**
   * As `SyncClient.transaction`. In a follower the statements run on the leader inside one open
   * SQLite transaction; if the leader closes before it commits, this rejects with
   * `TabLeaderLostError` and nothing of it was kept.
   */
  async transaction<T>(work: (db: SqliteRemoteDatabase<TSchema>) => Promise<T>): Promise<T> {
    if (this.#engine !== null) return this.#engine.transaction(work);
    const txId = crypto.randomUUID();
    this.#transactions.set(txId, null);
    try {
      await this.#call({ kind: "begin", txId });
      this.#transactions.set(txId, this.#leaderId);
      const tx = drizzleOver<TSchema>(
        {
          run: (statement) => this.#inTransaction(txId, statement),
          runBatch: async (statements) => {
            const results: QueryResult[] = [];
            for (const statement of statements) results.push(await this.#inTransaction(txId, statement));
            return results;
          },
        },
        this.#options.schema,
      );
      let result: T;
      try {
        result = await work(tx);
      } catch (error) {
        // Drizzle wraps a statement's error in its own: say plainly when the leader was lost.
        if (this.#transactions.get(txId) !== this.#leaderId) throw new TabLeaderLostError();
        await this.#call({ kind: "rollback", txId }).catch(() => undefined);
        throw error;
      }
      this.#alive(txId);
      await this.#call({ kind: "commit", txId });
      return result;
    } finally {
      this.#transactions.delete(txId);
    }
  }

  /** As `SyncClient.sync`, run by the leader. */
  async sync(): Promise<void> {
    if (this.#engine !== null) return this.#engine.sync();
    await this.#call({ kind: "sync" });
  }

  subscribe(tables: readonly (Table | string)[], callback: (changed: ReadonlySet<string>) => void): () => void {
    return this.registerListener(tablesListener(tables, callback));
  }

  tokenChanged(): void {
    if (this.#engine !== null) this.#engine.tokenChanged();
    else this.#call({ kind: "token-changed" }).catch(() => undefined);
  }

  /** As `SyncClient.discardRefusedTransaction`, run by the leader. */
  async discardRefusedTransaction(): Promise<readonly RejectedWrite[]> {
    if (this.#engine !== null) return this.#engine.discardRefusedTransaction();
    return (await this.#call({ kind: "discard" })) as readonly RejectedWrite[];
  }

  /**
   * Deletes the database (`SyncClient.deleteDatabase`) for every tab of it: the leader deletes it,
   * then every tab, this one included, hears `deleted` and is closed, so none opens it again. In a
   * follower this asks the leader. Writes not yet acknowledged are lost with it. If deleting fails,
   * this rejects and the leader tab closes, so that another takes over the database as it is.
   */
  async deleteDatabase(): Promise<void> {
    if (this.#engine !== null) await this.#deleteAsLeader(null);
    else await this.#call({ kind: "delete" });
  }

  /** Leaves the tabs; a leader closes its engine and the next tab takes over. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#stopAsking.abort();
    clearTimeout(this.#leadAgain);
    clearTimeout(this.#answersAfterOutdated);
    // A tab still joining has no leader to hear from now: its open() must not wait for one.
    this.#ready?.reject(new SyncClosedError());
    this.#ready = null;
    // Once this resolves, the database is closed and the lock free for the next tab.
    await this.#stopLeading();
    for (const pending of this.#pending.values()) pending.reject(new SyncClosedError());
    this.#pending.clear();
    this.#releaseLeadership();
    this.#releaseTabLock();
    this.#stopListeningToPage();
    this.#channel.close();
  }

  async #statement(statement: Statement): Promise<QueryResult> {
    if (this.#engine !== null) return this.#engine.run(statement);
    if (isRead(statement.sql)) return (await this.#call({ kind: "read", statement })) as QueryResult;
    const [result] = (await this.#call({ kind: "write", writeId: crypto.randomUUID(), statements: [statement] })) as QueryResult[];
    return result ?? { columns: [], rows: [] };
  }

  async #inTransaction(txId: string, statement: Statement): Promise<QueryResult> {
    this.#alive(txId);
    return (await this.#call({ kind: "tx-run", txId, statement })) as QueryResult;
  }

  /** A follower's transaction lives on the leader it began on; a new leader never saw it. */
  #alive(txId: string): void {
    if (this.#transactions.get(txId) !== this.#leaderId) throw new TabLeaderLostError();
  }

  #call(call: TabCall): Promise<unknown> {
    if (this.#outdated !== null) return Promise.reject(this.#outdated);
    if (this.#closed) return Promise.reject(new SyncClosedError());
    if (this.#unavailable !== null) return Promise.reject(this.#unavailable);
    return new Promise((resolve, reject) => {
      const id = ++this.#nextId;
      const pending: Pending = { call, resolve, reject, sentTo: null };
      this.#pending.set(id, pending);
      this.#send(id, pending);
    });
  }

  #send(id: number, pending: Pending): void {
    const leader = this.#leaderId;
    if (leader === null) return;
    pending.sentTo = leader;
    if (this.#host !== null) {
      this.#pending.delete(id);
      this.#handle(this.tabId, pending.call).then(
        (result) => {
          pending.resolve(result);
        },
        (error: unknown) => {
          pending.reject(error instanceof Error ? error : new Error(String(error)));
        },
      );
    } else {
      this.#post({ type: "request", from: this.tabId, to: leader, id, call: pending.call });
    }
  }

  /**
   * A new leader: what the old one may not have answered is sent again. Reads, syncs and writes
   * are safe to resend (a write's id makes the leader answer a second copy from its record); an
   * open transaction died with the old leader, and a commit in flight is asked about.
   */
  #leaderChanged(leader: string): void {
    this.#leaderId = leader;
    this.#unavailable = null;
    for (const [id, pending] of this.#pending) {
      const { call } = pending;
      if (pending.sentTo === null || pending.sentTo === leader) {
        if (pending.sentTo === null) this.#send(id, pending);
        continue;
      }
      if (call.kind === "begin" || call.kind === "tx-run" || call.kind === "rollback") {
        this.#pending.delete(id);
        pending.reject(new TabLeaderLostError());
      } else if (call.kind === "commit") {
        this.#pending.delete(id);
        this.#call({ kind: "committed", writeId: call.txId }).then(
          (committed) => {
            if (committed === true) pending.resolve(undefined);
            else pending.reject(new TabLeaderLostError());
          },
          (error: unknown) => {
            pending.reject(error instanceof Error ? error : new Error(String(error)));
          },
        );
      } else {
        this.#send(id, pending);
      }
    }
    this.#ready?.resolve();
    this.#ready = null;
  }

  #receive(message: TabMessage): void {
    if (this.#closed) return;
    // Given up, a tab still hears the answers to the calls it had sent (see #outdate), and nothing else.
    if (this.#outdated !== null && message.type !== "response" && message.type !== "failure") return;
    switch (message.type) {
      case "hello": {
        const version = schemaVersionOf(message);
        if (version !== null && version > this.#options.schemaVersion) void this.#outdate(version);
        else if (this.#engine !== null) this.#announce();
        return;
      }
      case "leader": {
        const version = schemaVersionOf(message);
        if (version !== null && version > this.#options.schemaVersion) {
          void this.#outdate(version);
          return;
        }
        if (version === null || version < this.#options.schemaVersion) {
          this.#olderLeader(version === null);
          return;
        }
        if (this.#engine !== null) return;
        this.#setStatus(statusFromMessage(message.status));
        if (message.from !== this.#leaderId) this.#leaderChanged(message.from);
        return;
      }
      case "request":
        if (message.to === this.tabId && this.#host !== null) this.#serve(message.from, message.id, message.call);
        return;
      case "response":
      case "failure": {
        if (message.to !== this.tabId) return;
        const pending = this.#pending.get(message.id);
        this.#pending.delete(message.id);
        if (message.type === "response") pending?.resolve(message.result);
        else pending?.reject(errorFromMessage(message));
        return;
      }
      case "status":
        if (this.#engine === null) this.#setStatus(statusFromMessage(message.status));
        return;
      case "tables":
        if (this.#engine === null) this.#tablesChanged(new Set(message.tables));
        return;
      case "rejected":
        if (this.#engine === null) this.#rejected(message.writes);
        return;
      case "deleted":
        void this.#closeDeleted();
        return;
    }
  }

  #serve(from: string, id: number, call: TabCall): void {
    if (call.kind === "delete") {
      this.#deleteAsLeader({ from, id }).catch(() => undefined);
      return;
    }
    this.#handle(from, call).then(
      (result) => {
        this.#post({ type: "response", to: from, id, result });
      },
      (error: unknown) => {
        this.#fail(from, id, error);
      },
    );
  }

  /** A call on this tab's engine: the host runs it, but a deletion involves the tabs. */
  #handle(from: string, call: TabCall): Promise<unknown> {
    if (call.kind === "delete") return this.#deleteAsLeader(null);
    if (this.#host === null) return Promise.reject(new SyncClosedError());
    return this.#host.handle(from, call);
  }

  #fail(to: string, id: number, error: unknown): void {
    this.#post({ type: "failure", to, id, ...errorMessage(error) });
  }

  /**
   * Deletes the database, asked by this tab (`asker` null) or by a follower. Followers' open
   * transactions end first, as when closing. Every tab is told `deleted` (the asker's answer) a
   * while before this one lets go of the lock, so none takes the lead to open the database again.
   * A failure is told to the asker before this tab closes.
   */
  async #deleteAsLeader(asker: { readonly from: string; readonly id: number } | null): Promise<void> {
    const engine = this.#engine;
    if (engine === null || this.#closed || !engine.canDeleteDatabase) {
      // Nothing changed: this tab leads on (or has closed), and only the asker hears of it.
      const refusal = engine === null || this.#closed ? new SyncClosedError() : cannotDelete();
      if (asker !== null) this.#fail(asker.from, asker.id, refusal);
      throw refusal;
    }
    this.#host?.abortAll();
    this.#engine = null;
    this.#host = null;
    this.iterateListeners((listener) => listener.roleChanged?.(false));
    try {
      await engine.deleteDatabase();
    } catch (error) {
      // The engine stopped before it failed: this tab leaves, and the next one opens what is left.
      if (asker !== null) this.#fail(asker.from, asker.id, error);
      this.#holdLeadership();
      await this.close();
      throw error;
    }
    this.#post({ type: "deleted" });
    this.#holdLeadership();
    await this.#closeDeleted();
  }

  /**
   * Keeps the lock a while after closing: a tab waiting for it is to hear first what was just
   * posted (the deletion, or why it failed). Were the lock free at once, the next tab could take
   * the lead before the message reached it, and open the database again, or resend the deletion.
   */
  #holdLeadership(): void {
    const release = this.#releaseLeadership;
    this.#releaseLeadership = () => undefined;
    setTimeout(release, HOLD_AFTER_DELETE_MS);
  }

  /**
   * The database is gone: this tab closes, a follower's own `deleteDatabase` resolving, and says so.
   * A tab still joining has no listener yet to hear it: its `open()` rejects instead.
   */
  async #closeDeleted(): Promise<void> {
    this.#ready?.reject(new SyncDatabaseDeletedError());
    this.#ready = null;
    for (const [id, pending] of this.#pending) {
      if (pending.call.kind !== "delete") continue;
      this.#pending.delete(id);
      pending.resolve(undefined);
    }
    await this.close();
    this.iterateListeners((listener) => listener.deleted?.());
  }

  /**
   * A tab of a newer build is here: this one stops asking to lead, and as the leader closes its
   * engine and lets the lock go (the newer tab is waiting for it, and migrates the database when
   * it opens it). Calls not yet sent, and those made from now on, fail with `SyncTabOutdatedError`
   * (those already sent, below); the status turns `update-required`, for the app to offer a
   * reload. A tab still joining opens so.
   */
  async #outdate(newer: number | SyncDatabaseNewerError): Promise<void> {
    const outdated = typeof newer === "number" ? new SyncTabOutdatedError(this.#options.schemaVersion, newer) : newer;
    this.#setStatus(this.#status.with({ state: "update-required", error: outdated, retryAt: null }));
    this.#outdated = outdated;
    this.#stopAsking.abort();
    clearTimeout(this.#leadAgain);
    // Calls not sent yet fail now. Those sent may be under way on the leader (a write commits even
    // as it steps down): their answers are awaited a moment, then they fail too, and a write or
    // commit among them may have been applied, as when a leader is lost.
    for (const [id, pending] of this.#pending) {
      if (pending.sentTo !== null) continue;
      this.#pending.delete(id);
      pending.reject(outdated);
    }
    this.#answersAfterOutdated = setTimeout(() => {
      for (const pending of this.#pending.values()) pending.reject(outdated);
      this.#pending.clear();
    }, ANSWERS_AFTER_OUTDATED_MS);
    this.#ready?.resolve();
    this.#ready = null;
    await this.#stopLeading().catch(() => undefined);
    this.#releaseLeadership();
  }

  /**
   * Leaves the database after `close()` or `#outdate`: a takeover under way sees either at its next
   * step and closes what it opened (see #lead); a leader ends its followers' transactions, stops
   * hearing its engine and closes it.
   */
  async #stopLeading(): Promise<void> {
    await this.#leading?.catch(() => undefined);
    const engine = this.#engine;
    if (engine === null) return;
    this.#host?.abortAll();
    this.#stopHearingEngine();
    this.#engine = null;
    this.#host = null;
    this.iterateListeners((listener) => listener.roleChanged?.(false));
    await engine.close();
  }

  /**
   * A tab of an older build leads: this one never follows it, whose database lacks what this build
   * needs. One that knows of builds (it sent its version) gives the database up when it hears this
   * tab's hello; one from before builds were compared does not, and this tab waits for the lock
   * until it closes, saying so (its hello again would only make it announce itself again).
   */
  #olderLeader(unaware: boolean): void {
    if (!unaware) {
      this.#hello();
      return;
    }
    const waiting = new Error("sync: another tab runs an older build of this app and holds the database: close or reload it");
    this.#setStatus(this.#status.with({ state: "error", error: waiting, retryAt: null }));
    this.#ready?.resolve();
    this.#ready = null;
  }

  /** This tab's own lock, held for its life: the leader watches it to end a transaction of a closed tab. */
  async #holdTabLock(): Promise<void> {
    await new Promise<void>((granted) => {
      this.#locks
        .request(`${this.#lockName}:tab:${this.tabId}`, {}, () => {
          granted();
          // Closed while asking (the database was deleted meanwhile): close() has nothing left to release it.
          if (this.#closed) return Promise.resolve();
          return new Promise<void>((release) => (this.#releaseTabLock = release));
        })
        .catch(() => undefined);
    });
  }

  #elect(): void {
    this.#locks
      .request(this.#lockName, { signal: this.#stopAsking.signal }, async () => {
        if (this.#givenUp()) return;
        // Set before the takeover starts, since close() may come at any step of it and must free the lock.
        const released = new Promise<void>((release) => (this.#releaseLeadership = release));
        this.#leading = this.#lead();
        if (await this.#leading) await released;
      })
      .catch((error: unknown) => {
        if (this.#givenUp()) return;
        // A newer build migrated the database (its tab has closed since): no retry can open it with
        // this build, so this tab is outdated, as when that tab was here, and not an `error` that
        // tries again every 30 s.
        if (error instanceof SyncDatabaseNewerError) void this.#outdate(error);
        else this.#gaveUp(error instanceof Error ? error : new Error(String(error)));
      });
  }

  /**
   * This tab got the lock but could not open the database. While joining, `open()` rejects. Later,
   * the app's calls must not wait for a leader that may never come: those waiting, and those made
   * until a tab leads, reject (a write or commit in flight to the previous leader may have been
   * applied; a failure cannot tell). The lock is free again for any other tab to try, and this one
   * asks again after a while, since what kept the file (a closed tab's Worker) may let go of it.
   */
  #gaveUp(error: Error): void {
    this.#setStatus(this.#status.with({ state: "error", error }));
    if (this.#ready !== null) {
      this.#ready.reject(error);
      this.#ready = null;
      return;
    }
    const failure = new Error(`sync: no tab has the database open: this one could not open it (${error.message}); it will try again`, {
      cause: error,
    });
    this.#unavailable = failure;
    this.#leaderId = null;
    for (const pending of this.#pending.values()) pending.reject(failure);
    this.#pending.clear();
    this.#leadAgain = setTimeout(() => {
      if (!this.#closed) this.#elect();
    }, LEAD_AGAIN_MS);
  }

  /**
   * Opens the engine and starts serving the other tabs; resolves false, with nothing left open, if
   * `close()` came meanwhile (it saw no engine yet, so what was opened is closed here).
   */
  async #lead(): Promise<boolean> {
    let engine: SyncClient<TSchema> | undefined;
    for (let attempt = 1; engine === undefined; attempt += 1) {
      try {
        engine = await this.#options.open();
      } catch (error) {
        if (this.#givenUp()) return false;
        if (attempt >= OPEN_ATTEMPTS || error instanceof SyncDatabaseNewerError) throw error;
        await new Promise((resolve) => setTimeout(resolve, OPEN_RETRY_MS));
        if (this.#givenUp()) return false;
      }
    }
    if (this.#givenUp()) {
      await engine.close();
      return false;
    }
    let host: TabHost<TSchema>;
    try {
      host = await TabHost.start(engine, this.#locks, (tabId) => `${this.#lockName}:tab:${tabId}`);
    } catch (error) {
      await engine.close().catch(() => undefined);
      throw error;
    }
    if (this.#givenUp()) {
      await engine.close();
      return false;
    }
    this.#host = host;
    this.#engine = engine;
    this.#stopHearingEngine = engine.registerListener({
      statusChanged: (status) => {
        this.#setStatus(status);
        this.#post({ type: "status", status: statusMessage(status) });
      },
      tablesChanged: (tables) => {
        this.#tablesChanged(tables);
        this.#post({ type: "tables", tables: [...tables] });
      },
      rejected: (writes) => {
        this.#rejected(writes);
        this.#post({ type: "rejected", writes });
      },
    });
    this.#setStatus(engine.status);
    this.iterateListeners((listener) => listener.roleChanged?.(true));
    this.#announce();
    this.#leaderChanged(this.tabId);
    return true;
  }

  /**
   * Whether this tab closed or gave the database up to a newer build's tab, read anew after each
   * await of a takeover: either may come in between.
   */
  #givenUp(): boolean {
    return this.#closed || this.#outdated !== null;
  }

  #hello(): void {
    this.#post({ type: "hello", from: this.tabId, schemaVersion: this.#options.schemaVersion });
  }

  #announce(): void {
    this.#post({ type: "leader", from: this.tabId, schemaVersion: this.#options.schemaVersion, status: statusMessage(this.#status) });
  }

  #post(message: TabMessage): void {
    if (!this.#closed) this.#channel.postMessage(message);
  }

  #setStatus(status: SyncStatus): void {
    // Given up, the tab says update-required for good, whatever its old engine said last.
    if (status.equals(this.#status) || this.#outdated !== null) return;
    this.#status = status;
    this.iterateListeners((listener) => listener.statusChanged?.(status));
  }

  #tablesChanged(tables: ReadonlySet<string>): void {
    this.iterateListeners((listener) => listener.tablesChanged?.(tables));
  }

  #rejected(writes: readonly RejectedWrite[]): void {
    this.iterateListeners((listener) => listener.rejected?.(writes));
  }
}
