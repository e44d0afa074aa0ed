/** React bindings: `useSyncStatus(client)` and `useLiveQuery(client, tables, query, deps)`. */
import { useMemo, useSyncExternalStore, type DependencyList } from "react";
import type { Table } from "drizzle-orm";
import type { SyncStatus } from "../client/status.ts";
import { LiveQuery, syncStatusStore, type LiveQueryState, type StatusSource, type TableChangeSource } from "./stores.ts";

export { LiveQuery, syncStatusStore, type ExternalStore, type LiveQueryState, type StatusSource, type TableChangeSource } from "./stores.ts";

/** The client's status; the component renders again on every change. */
export function useSyncStatus(client: StatusSource): SyncStatus {
  const store = useMemo(() => syncStatusStore(client), [client]);
  return useSyncExternalStore(store.subscribe, store.getSnapshot, store.getSnapshot);
}

/**
 * The result of `query` (usually a Drizzle select), kept current: it runs again whenever rows of
 * one of `tables` change, by a local write or a pull. `deps` are the values `query` reads, as for
 * `useMemo`: a change makes a new live query.
 */
export function useLiveQuery<T>(
  client: TableChangeSource,
  tables: readonly (Table | string)[],
  query: () => Promise<T>,
  deps: DependencyList,
): LiveQueryState<T> {
  // The query and tables are captured once per `deps`, like a useMemo callback's values.
  const store = useMemo(() => new LiveQuery(client, tables, query), [client, ...deps]);
  return useSyncExternalStore(store.subscribe, store.getSnapshot, store.getSnapshot);
}
