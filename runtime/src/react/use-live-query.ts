import type { Table } from "drizzle-orm";
import { useEffect, useState } from "react";
import type { ObservedClient } from "./observed-client.ts";

/** A query's latest result; `data` keeps the previous result while a re-run is under way. */
export interface LiveQuery<T> {
  readonly data: T | undefined;
  readonly error: Error | null;
}

/**
 * Runs `query` now and again whenever a local write or a pull changes one of `tables`, so the
 * component shows the local database as it is. `deps` are the values `query` closes over, as for
 * `useEffect`; `tables` may be Drizzle tables or SQLite names.
 */
export function useLiveQuery<T>(
  client: ObservedClient,
  tables: readonly (Table | string)[],
  query: () => Promise<T>,
  deps: readonly unknown[],
): LiveQuery<T> {
  const [state, setState] = useState<LiveQuery<T>>({ data: undefined, error: null });
  useEffect(() => {
    // Results arrive out of order when changes come fast: only the newest run may set the state.
    let latest = 0;
    let active = true;
    const run = (): void => {
      const id = ++latest;
      query().then(
        (data) => {
          if (active && id === latest) setState({ data, error: null });
        },
        (error: unknown) => {
          if (active && id === latest) setState((previous) => ({ data: previous.data, error: toError(error) }));
        },
      );
    };
    const unsubscribe = client.subscribe(tables, run);
    run();
    return () => {
      active = false;
      unsubscribe();
    };
    // The caller's deps stand for what `query` and `tables` close over, as with useEffect.
  }, [client, ...deps]);
  return state;
}

function toError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}
