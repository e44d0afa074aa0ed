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
 * `tables` change. One run at a time: changes during a run make one more run after it, however
 * many they are. Starting a run per change instead, and dropping every result but the newest
 * run's, published nothing while changes kept coming faster than a run took (a bootstrap's
 * commits: the list stayed empty until the last page) and ran the query once per change, all at
 * once. Each run's result is published when it ends, so a slow read never overwrites a fresher
 * one. Snapshots are new objects only when something changed.
 */
export class LiveQuery<T> implements ExternalStore<LiveQueryState<T>> {
  readonly #source: TableChangeSource;
  readonly #tables: readonly (Table | string)[];
  readonly #query: () => Promise<T>;
  readonly #listeners = new Set<() => void>();
  #state: LiveQueryState<T> = { data: undefined, error: null, loading: true };
  /** A run is under way; `#changes` counts the requests, so one made during a run is seen after it. */
  #running = false;
  #changes = 0;
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
        this.#request();
      });
      this.#request();
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

  #request(): void {
    this.#changes += 1;
    if (!this.#running) void this.#run();
  }

  async #run(): Promise<void> {
    this.#running = true;
    try {
      let seen: number;
      do {
        seen = this.#changes;
        let next: LiveQueryState<T>;
        try {
          next = { data: await this.#query(), error: null, loading: false };
        } catch (error) {
          next = { data: this.#state.data, error: error instanceof Error ? error : new Error(String(error)), loading: false };
        }
        this.#state = next;
        for (const listener of [...this.#listeners]) listener();
        // With no subscriber left nobody reads the rows; the next `subscribe` runs it afresh.
      } while (this.#changes !== seen && this.#stop !== null);
    } finally {
      this.#running = false;
    }
  }
}
