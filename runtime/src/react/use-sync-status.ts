import { useCallback, useSyncExternalStore } from "react";
import type { SyncStatus } from "../client/index.ts";
import type { ObservedClient } from "./observed-client.ts";

/**
 * The client's `SyncStatus`, re-rendering on every change. The engine hands out a new immutable
 * value per change, so it serves as the external store's snapshot as it is.
 */
export function useSyncStatus(client: ObservedClient): SyncStatus {
  const subscribe = useCallback(
    (onChange: () => void) => client.registerListener({ statusChanged: onChange }),
    [client],
  );
  return useSyncExternalStore(subscribe, () => client.status);
}
