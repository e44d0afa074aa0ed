import { openSqliteWasm } from "drizzlesync/adapters/wasm";
import { SyncClient } from "drizzlesync/client";
import { clientMigrations } from "./generated/client-migrations";
import * as schema from "./generated/schema.sqlite";
import * as meta from "./generated/sync-meta";

export type TodoClient = SyncClient<typeof schema>;

/**
 * Opens the signed-in user's local database and starts syncing it with the host on this origin.
 * Each user gets a database file of their own, so signing in as someone else never shows the
 * previous user's rows. The dev host trusts `Bearer <user id>` (see docs/pwa.md).
 */
export async function openClient(userId: string): Promise<TodoClient> {
  const worker = new Worker(new URL("./worker.ts", import.meta.url), { type: "module" });
  return SyncClient.open({
    adapter: await openSqliteWasm(worker, { filename: `/user-${userId}.sqlite3` }),
    schema,
    meta,
    migrations: clientMigrations,
    url: new URL("/sync", location.origin).href,
    getToken: () => userId,
    // Short waits between retries, so a device that comes back online catches up within seconds.
    backoff: { initialMs: 500, maxMs: 5_000 },
    intervalMs: 5_000,
  });
}
