// The example project's generated files, as an app imports them, and a client over them.
import { clientMigrations } from "../../../example_project/web/src/db/generated/client-migrations.ts";
import * as schema from "../../../example_project/web/src/db/generated/schema.sqlite.ts";
import * as meta from "../../../example_project/web/src/db/generated/sync-meta.ts";
import type { SqliteAdapter } from "../../src/adapters/adapter.ts";
import type { HttpTransportOptions, Transport } from "../../src/client/transport.ts";
import { SyncClient, type SyncClientOptions } from "../../src/client/sync-client.ts";

export { clientMigrations, meta, schema };

export type ExampleSchema = typeof schema;

type Extra = Partial<Omit<SyncClientOptions<ExampleSchema>, "transport" | "url" | "fetch" | "getToken">>;

/** A client of the example schema that syncs only when asked (no timers unless the test passes a clock). */
export function openExample(
  adapter: SqliteAdapter,
  connection: Transport | HttpTransportOptions,
  options: Extra = {},
): Promise<SyncClient<ExampleSchema>> {
  const link = "url" in connection ? connection : { transport: connection };
  return SyncClient.open<ExampleSchema>({
    adapter,
    schema,
    meta,
    migrations: clientMigrations,
    syncOnOpen: false,
    intervalMs: null,
    ...options,
    ...link,
  });
}
