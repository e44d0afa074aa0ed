/**
 * Messages between the tabs of one database on a BroadcastChannel: followers send their statements,
 * writes and sync requests to the leader (the tab that holds the Web Lock and owns the database);
 * the leader answers and tells every tab about status and table changes.
 */
import type { QueryResult, Statement } from "../adapters/adapter.ts";
import type { ErrorBody } from "../protocol/messages.ts";
import { SyncClosedError, SyncDatabaseDeletedError, SyncHttpError, SyncNetworkError, SyncPausedError, TabLeaderLostError } from "./errors.ts";
import { SyncStatus, type BootstrapProgress, type SyncState } from "./status.ts";
import type { RejectedWrite } from "./sync-client.ts";

/** What a follower asks of the leader. */
export type TabCall =
  | { readonly kind: "read"; readonly statement: Statement }
  /** One local write (a Drizzle statement or `db.batch()`); `writeId` makes a resend harmless. */
  | { readonly kind: "write"; readonly writeId: string; readonly statements: readonly Statement[] }
  /** Opens an interactive `transaction()` on the leader; its statements follow as `tx-run`. */
  | { readonly kind: "begin"; readonly txId: string }
  | { readonly kind: "tx-run"; readonly txId: string; readonly statement: Statement }
  | { readonly kind: "commit"; readonly txId: string }
  | { readonly kind: "rollback"; readonly txId: string }
  /** After a leader change: did the transaction (or write) with this id commit? */
  | { readonly kind: "committed"; readonly writeId: string }
  | { readonly kind: "sync" }
  | { readonly kind: "token-changed" }
  /** The follower's page became visible again (`SyncClient.pageVisible`). */
  | { readonly kind: "visible" }
  /** `SyncClient.discardRefusedTransaction`: answered with the writes given up. */
  | { readonly kind: "discard" }
  /** Delete the database (`TabClient.deleteDatabase`): answered by a `deleted` message to every tab. */
  | { readonly kind: "delete" };

/**
 * An error as it crosses the channel: structured cloning keeps neither its class nor its fields, so
 * the fields of the engine's errors that an app reads travel beside its name and message, and the
 * receiving tab makes the same class again. A follower's app checks `status.error instanceof
 * SyncHttpError` and its `status` (before `discardRefusedTransaction()`, docs/client.md) or a
 * `sync()` rejection `instanceof SyncPausedError` as the leader's does; with only the name and
 * message, those checks were false in every follower. Tabs of builds before these fields send
 * only the name and message, which still arrive as a plain `Error` so named.
 */
export interface ErrorMessage {
  readonly name: string;
  readonly message: string;
  /** A `SyncHttpError`'s response. */
  readonly http?: { readonly status: number; readonly body: ErrorBody | null; readonly retryAfterMs: number | null };
  /** A `SyncPausedError`'s state, and the error that paused the engine. */
  readonly paused?: { readonly state: "auth-required" | "update-required"; readonly cause: ErrorMessage | null };
}

/** A `SyncStatus` as it crosses the channel (an Error does not survive structured cloning whole). */
export interface StatusMessage {
  readonly state: SyncState;
  readonly pending: number;
  readonly lastSyncedAt: number | null;
  readonly bootstrap: BootstrapProgress | null;
  readonly error: ErrorMessage | null;
  readonly retryAt: number | null;
}

export type TabMessage =
  /**
   * A tab that just opened asks the leader to announce itself; sent again by a tab of a newer build
   * that hears an older leader, which gives the database up. Both carry the tab's build's schema
   * version (absent from builds before tabs compared them): tabs of two schema versions never share
   * a leader.
   */
  | { readonly type: "hello"; readonly from: string; readonly schemaVersion: number }
  | { readonly type: "leader"; readonly from: string; readonly schemaVersion: number; readonly status: StatusMessage }
  | { readonly type: "request"; readonly from: string; readonly to: string; readonly id: number; readonly call: TabCall }
  | { readonly type: "response"; readonly to: string; readonly id: number; readonly result: unknown }
  | ({ readonly type: "failure"; readonly to: string; readonly id: number } & ErrorMessage)
  | { readonly type: "status"; readonly status: StatusMessage }
  | { readonly type: "tables"; readonly tables: readonly string[] }
  | { readonly type: "rejected"; readonly writes: readonly RejectedWrite[] }
  /** The leader deleted the database and is closing: every tab closes too, and does not lead. */
  | { readonly type: "deleted" };

/**
 * Query results as JSON, for the leader's record of a follower's committed write: bigints and blobs
 * are tagged, since JSON has neither.
 */
export function encodeResults(results: readonly QueryResult[]): string {
  return JSON.stringify(results, (_key, value: unknown) => {
    if (typeof value === "bigint") return { $bigint: value.toString() };
    if (value instanceof Uint8Array) return { $bytes: [...value] };
    return value;
  });
}

export function decodeResults(text: string): QueryResult[] {
  return JSON.parse(text, (_key, value: unknown) => {
    if (typeof value === "object" && value !== null && "$bigint" in value && typeof value.$bigint === "string") return BigInt(value.$bigint);
    if (typeof value === "object" && value !== null && "$bytes" in value && Array.isArray(value.$bytes)) return Uint8Array.from(value.$bytes as number[]);
    return value;
  }) as QueryResult[];
}

export function statusMessage(status: SyncStatus): StatusMessage {
  return {
    state: status.state,
    pending: status.pending,
    lastSyncedAt: status.lastSyncedAt?.getTime() ?? null,
    bootstrap: status.bootstrap,
    error: status.error === null ? null : errorMessage(status.error),
    retryAt: status.retryAt,
  };
}

export function statusFromMessage(message: StatusMessage): SyncStatus {
  return SyncStatus.initial.with({
    ...message,
    lastSyncedAt: message.lastSyncedAt === null ? null : new Date(message.lastSyncedAt),
    error: message.error === null ? null : errorFromMessage(message.error),
  });
}

export function errorMessage(thrown: unknown): ErrorMessage {
  const error = thrown instanceof Error ? thrown : new Error(String(thrown));
  const { name, message } = error;
  if (error instanceof SyncHttpError) {
    return { name, message, http: { status: error.status, body: error.body ?? null, retryAfterMs: error.retryAfterMs ?? null } };
  }
  if (error instanceof SyncPausedError) {
    return { name, message, paused: { state: error.state, cause: error.cause === undefined ? null : errorMessage(error.cause) } };
  }
  return { name, message };
}

/** The error an `ErrorMessage` describes: the engine's own classes again, others a named `Error`. */
export function errorFromMessage(sent: ErrorMessage): Error {
  if (sent.http !== undefined) return new SyncHttpError(sent.http.status, sent.http.body ?? undefined, sent.http.retryAfterMs ?? undefined);
  if (sent.paused !== undefined) return new SyncPausedError(sent.paused.state, sent.paused.cause === null ? null : errorFromMessage(sent.paused.cause));
  let error: Error;
  switch (sent.name) {
    case "SyncNetworkError":
      error = new SyncNetworkError(null);
      break;
    case "SyncDatabaseDeletedError":
      error = new SyncDatabaseDeletedError();
      break;
    case "SyncClosedError":
      error = new SyncClosedError();
      break;
    case "TabLeaderLostError":
      error = new TabLeaderLostError();
      break;
    default:
      error = new Error();
  }
  // The sender's wording, which may say more than the class's own (a SyncNetworkError's cause).
  error.message = sent.message;
  error.name = sent.name;
  return error;
}
