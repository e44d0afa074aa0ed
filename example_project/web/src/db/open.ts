import { openSqliteWasm } from "drizzlesync/adapters/wasm";
import { SyncClient, TabClient } from "drizzlesync/client";
import { clientMigrations } from "./generated/client-migrations";
import * as schema from "./generated/schema.sqlite";
import * as meta from "./generated/sync-meta";

export type TodoClient = TabClient<typeof schema>;

/**
 * Joins the signed-in user's local database in this tab. The first tab of the user opens it (in a
 * Worker, on OPFS) and syncs it with the host on this origin; later tabs use it through that tab,
 * and take over when it closes. Each user gets a database file, and an OPFS pool, of their own, so
 * signing in as someone else never shows the previous user's rows and tabs of two users do not
 * contend for one pool. The dev host trusts `Bearer <user id>` (see docs/pwa.md).
 */
export async function openClient(userId: string): Promise<TodoClient> {
  const filename = `/user-${userId}.sqlite3`;
  const client = await TabClient.open({
    name: filename,
    schema,
    schemaVersion: meta.schemaVersion,
    open: async () => {
      const worker = new Worker(new URL("./worker.ts", import.meta.url), { type: "module" });
      try {
        const adapter = await openSqliteWasm(worker, { filename, vfsName: `drizzlesync-${userId}` });
        return await SyncClient.open({
          adapter,
          schema,
          meta,
          migrations: clientMigrations,
          url: new URL("/sync", location.origin).href,
          getToken: () => userId,
          // Short waits between retries, so a device that comes back online catches up within seconds.
          backoff: { initialMs: 500, maxMs: 5_000 },
          intervalMs: 5_000,
        });
      } catch (error) {
        // The previous leader's hold on the pool may outlive its tab for a moment: TabClient retries.
        worker.terminate();
        throw error;
      }
    },
  });
  // Which tab owns the database, on the page's root element: for the browser tests and devtools.
  const showRole = (leader: boolean) => {
    document.documentElement.dataset.syncRole = leader ? "leader" : "follower";
  };
  showRole(client.isLeader);
  client.registerListener({ roleChanged: showRole });
  return client;
}
