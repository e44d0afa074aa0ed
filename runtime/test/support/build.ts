/** An app build's generated files (`GENERATED`) and a client of them, for the integration scripts that play successive builds. */
import type { SqliteAdapter } from "../../src/adapters/adapter.ts";
import { openNodeSqlite } from "../../src/adapters/node-sqlite.ts";
import type { ClientMigration } from "../../src/client/migrations.ts";
import { SyncClient, type SyncMeta } from "../../src/client/sync-client.ts";
import { required } from "./env.ts";

/**
 * Opens `DB_FILE` with the build in `GENERATED` (which migrates it), syncing with `SYNC_URL` as
 * `USER_ID` only when asked: the database file carries the device from one build's process to the next.
 */
export async function openBuild(): Promise<{ client: SyncClient<Record<string, unknown>>; adapter: SqliteAdapter }> {
  const generated = required("GENERATED");
  const user = required("USER_ID");
  const { clientMigrations } = (await import(`${generated}/client-migrations.ts`)) as { clientMigrations: readonly ClientMigration[] };
  const schema = (await import(`${generated}/schema.sqlite.ts`)) as Record<string, unknown>;
  const meta = (await import(`${generated}/sync-meta.ts`)) as SyncMeta;
  const adapter = openNodeSqlite(required("DB_FILE"));
  const client = await SyncClient.open({
    adapter,
    schema,
    meta,
    migrations: clientMigrations,
    url: required("SYNC_URL"),
    getToken: () => user,
    syncOnOpen: false,
    intervalMs: null,
  });
  return { client, adapter };
}
