/** Requests and responses of the sync protocol, version 1 (JSON over HTTP POST). */

export const PROTOCOL_VERSION = 1;

/** A JSON object keyed by Postgres column name, values in their wire form. */
export type WireRow = Record<string, unknown>;

export type MutationOp = "put" | "patch" | "delete";

export interface Mutation {
  /** The outbox id: increasing per client, acknowledged through `lastMutationId`. */
  readonly id: number;
  /** The client transaction: mutations sharing it are adjacent and apply atomically. */
  readonly tx: number;
  /** The wire name of the table. */
  readonly table: string;
  readonly op: MutationOp;
  readonly pk: WireRow;
  /** Absent for deletes. */
  readonly values?: WireRow;
}

export interface PushRequest {
  readonly protocol: typeof PROTOCOL_VERSION;
  readonly schemaVersion: number;
  readonly clientId: string;
  readonly mutations: readonly Mutation[];
}

export interface Rejection {
  readonly id: number;
  readonly code: string;
  readonly message: string;
}

export interface PushResponse {
  readonly lastMutationId: number;
  readonly rejected: readonly Rejection[];
}

export interface PullRequest {
  readonly protocol: typeof PROTOCOL_VERSION;
  readonly schemaVersion: number;
  readonly clientId: string;
  /** Null bootstraps: a paged snapshot of every row the user may see. */
  readonly cursor: string | null;
  readonly limit: number;
}

export type Change =
  | { readonly table: string; readonly op: "upsert"; readonly row: WireRow }
  | { readonly table: string; readonly op: "delete"; readonly pk: WireRow };

export interface PullResponse {
  readonly cursor: string;
  readonly hasMore: boolean;
  /** Pull again with a null cursor: the client's synced rows are to be replaced. */
  readonly reset: boolean;
  /** Every mutation up to it has its effects in the changes served by the time `hasMore` is false. */
  readonly lastMutationId: number;
  /**
   * On every page of a snapshot from a null cursor, and no other: about how many changes the whole
   * snapshot serves, estimated once when it started (exact for small tables). A progress bar's total.
   */
  readonly estimatedTotal?: number;
  readonly changes: readonly Change[];
}

/** The body of every error response. */
export interface ErrorBody {
  readonly error: {
    readonly code: string;
    readonly message: string;
    readonly path?: string;
    readonly [detail: string]: unknown;
  };
}
