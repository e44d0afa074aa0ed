import type { SyncClient } from "../client/index.ts";

/**
 * The part of a `SyncClient` the hooks read. Picking it, rather than taking a `SyncClient<TSchema>`,
 * lets a hook accept a client of any schema without a type parameter of its own.
 */
export type ObservedClient = Pick<SyncClient<Record<string, unknown>>, "status" | "registerListener" | "subscribe">;
