export type { Connection, QueryResult, SqlExecutor, SqliteAdapter, SqlValue, Statement, TransactionExecutor } from "../adapters/adapter.ts";
export { SerialAdapter, rowObjects } from "../adapters/adapter.ts";
export type { BackoffOptions } from "./backoff.ts";
export type { Clock } from "./clock.ts";
export {
  SyncClosedError,
  SyncDatabaseDeletedError,
  SyncDatabaseNewerError,
  SyncHttpError,
  SyncNetworkError,
  SyncPausedError,
  SyncTabOutdatedError,
  TabLeaderLostError,
} from "./errors.ts";
export type { ClientMigration, ClientTrigger, MigrationResult, PrunedWrite } from "./migrations.ts";
export { SyncStatus, type BootstrapProgress, type SyncState } from "./status.ts";
export {
  SyncClient,
  type RejectedWrite,
  type SyncClientListener,
  type SyncClientOptions,
  type SyncMeta,
} from "./sync-client.ts";
export { httpTransport, type HttpTransportOptions, type Transport } from "./transport.ts";
export { TabClient, type ChannelLike, type LockManagerLike, type TabClientListener, type TabClientOptions } from "./tab-client.ts";
