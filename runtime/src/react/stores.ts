/**
 * What the React hooks read, as external stores (`subscribe` + `getSnapshot`, the shape
 * `useSyncExternalStore` takes): plain objects over the client, so they work, and are tested,
 * without React.
 */
import type { Table } from "drizzle-orm";
import type { SyncStatus } from "../client/status.ts";
import type { SyncClientListener } from "../client/sync-client.ts";

/** Function properties, not methods: React calls them detached from the store. */
export interface ExternalStore<T> {
  readonly subscribe: (onChange: () => void) => () => void;
  readonly getSnapshot: () => T;
}

/** The part of a `SyncClient` the status store needs. */
export interface StatusSource {
  readonly status: SyncStatus;
  registerListener(listener: Partial<SyncClientListener>): () => void;
}

/** The part of a `SyncClient` a live query needs. */
export interface TableChangeSource {
  subscribe(tables: readonly (Table | string)[], callback: () => void): () => void;
}

export function syncStatusStore(client: StatusSource): ExternalStore<SyncStatus> {
  return {
    subscribe: (onChange) => client.registerListener({ statusChanged: onChange }),
    getSnapshot: () => client.status,
  };
}

export interface LiveQueryState<T> {
  /** The last result; undefined until the first run has finished. */
  readonly data: T | undefined;
  readonly error: Error | null;
  /** True until the first run has finished. */
  readonly loading: boolean;
}

/**
 * The result of `query`, run when the first subscriber arrives and again whenever rows of one of
 * `tables` change. A run that finishes after a newer one started is dropped, so a slow read never
 * overwrites a fresher one. Snapshots are new objects only when something changed.
 */
export class LiveQuery<T> implements ExternalStore<LiveQueryState<T>> {
  readonly #source: TableChangeSource;
  readonly #tables: readonly (Table | string)[];
  readonly #query: () => Promise<T>;
  readonly #listeners = new Set<() => void>();
  #state: LiveQueryState<T> = { data: undefined, error: null, loading: true };
  #runs = 0;
  #stop: (() => void) | null = null;

  constructor(source: TableChangeSource, tables: readonly (Table | string)[], query: () => Promise<T>) {
    this.#source = source;
    this.#tables = tables;
    this.#query = query;
  }

  readonly subscribe = (onChange: () => void): (() => void) => {
    this.#listeners.add(onChange);
    if (this.#stop === null) {
      this.#stop = this.#source.subscribe(this.#tables, () => {
        void this.#run();
      });
      void this.#run();
    }
    return () => {
      this.#listeners.delete(onChange);
      if (this.#listeners.size === 0) {
        this.#stop?.();
        this.#stop = null;
      }
    };
  };

  readonly getSnapshot = (): LiveQueryState<T> => this.#state;

  async #run(): Promise<void> {
    const run = ++this.#runs;
    let next: LiveQueryState<T>;
    try {
      next = { data: await this.#query(), error: null, loading: false };
    } catch (error) {
      next = { data: this.#state.data, error: error instanceof Error ? error : new Error(String(error)), loading: false };
    }
    if (run !== this.#runs) return;
    this.#state = next;
    for (const listener of [...this.#listeners]) listener();
  }
}
