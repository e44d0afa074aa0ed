export { useLiveQuery, type LiveQuery } from "./use-live-query.ts";
export { useSyncStatus } from "./use-sync-status.ts";
export type { ObservedClient } from "./observed-client.ts";
