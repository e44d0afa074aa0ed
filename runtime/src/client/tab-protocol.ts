/**
 * Messages between the tabs of one database on a BroadcastChannel: followers send their statements,
 * writes and sync requests to the leader (the tab that holds the Web Lock and owns the database);
 * the leader answers and tells every tab about status and table changes.
 */
import type { QueryResult, Statement } from "../adapters/adapter.ts";
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

/** A `SyncStatus` as it crosses the channel (an Error does not survive structured cloning whole). */
export interface StatusMessage {
  readonly state: SyncState;
  readonly pending: number;
  readonly lastSyncedAt: number | null;
  readonly bootstrap: BootstrapProgress | null;
  readonly error: { readonly name: string; readonly message: string } | null;
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
  | { readonly type: "failure"; readonly to: string; readonly id: number; readonly name: string; readonly message: string }
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
    error: status.error === null ? null : { name: status.error.name, message: status.error.message },
    retryAt: status.retryAt,
  };
}

export function statusFromMessage(message: StatusMessage): SyncStatus {
  return SyncStatus.initial.with({
    ...message,
    lastSyncedAt: message.lastSyncedAt === null ? null : new Date(message.lastSyncedAt),
    error: message.error === null ? null : namedError(message.error.name, message.error.message),
  });
}

/** An error as it crossed the channel: its class is gone, its name and message are kept. */
export function namedError(name: string, message: string): Error {
  const error = new Error(message);
  error.name = name;
  return error;
}
