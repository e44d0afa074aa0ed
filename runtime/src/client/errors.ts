import { errorAction, type ErrorAction } from "../protocol/errors.ts";
import type { ErrorBody } from "../protocol/messages.ts";

/** The server could not be reached, or the connection broke before a response arrived. */
export class SyncNetworkError extends Error {
  constructor(cause: unknown) {
    super(`sync: the server could not be reached (${cause instanceof Error ? cause.message : String(cause)})`, { cause });
    this.name = "SyncNetworkError";
  }
}

/** The server answered with an error status. */
export class SyncHttpError extends Error {
  readonly status: number;
  /** `error.code` of the body; undefined when the body was not a protocol error. */
  readonly code: string | undefined;
  readonly action: ErrorAction;
  /** From the Retry-After header, in milliseconds. */
  readonly retryAfterMs: number | undefined;
  readonly body: ErrorBody | undefined;

  constructor(status: number, body: ErrorBody | undefined, retryAfterMs: number | undefined) {
    super(`sync: HTTP ${status}${body ? ` ${body.error.code}: ${body.error.message}` : ""}`);
    this.name = "SyncHttpError";
    this.status = status;
    this.code = body?.error.code;
    this.action = errorAction(status, this.code);
    this.retryAfterMs = retryAfterMs;
    this.body = body;
  }
}

/**
 * sync() was called while the engine waits for the app (a new token or a new build). `cause` is
 * the error that paused it (`status.error`: the 401 or 409 with its code), so that a caller of
 * sync() alone learns why.
 */
export class SyncPausedError extends Error {
  readonly state: "auth-required" | "update-required";

  constructor(state: "auth-required" | "update-required", cause: Error | null = null) {
    super(`sync: paused (${state})${cause === null ? "" : `: ${cause.message}`}`, cause === null ? undefined : { cause });
    this.state = state;
    this.name = "SyncPausedError";
  }
}

/** sync() was called on, or was waiting for, a closed client. */
export class SyncClosedError extends Error {
  constructor(message = "sync: the client is closed") {
    super(message);
    this.name = "SyncClosedError";
  }
}

/**
 * `TabClient.open()` failed because another tab deleted the database (`deleteDatabase`) while this
 * one was joining: the tab is closed, as every other one is, and has nothing to open.
 */
export class SyncDatabaseDeletedError extends SyncClosedError {
  constructor() {
    super("sync: the database was deleted (by another tab) while this tab was opening it");
    this.name = "SyncDatabaseDeletedError";
  }
}

/**
 * `SyncClient.open` found the local database at a higher schema version than this build's: a newer
 * build of the app migrated it (in another tab since closed, or before a stale copy of the app was
 * served from a cache). This build cannot use it; the app should load the newer one (a reload),
 * as for `update-required`. `TabClient` turns it into that state. Nothing was changed.
 */
export class SyncDatabaseNewerError extends Error {
  readonly databaseVersion: number;
  readonly buildVersion: number;

  constructor(databaseVersion: number, buildVersion: number) {
    super(
      `sync: the local database is at schema version ${databaseVersion}, newer than this build's ${buildVersion}: ` +
        "a newer build of this app opened it; reload into that build",
    );
    this.name = "SyncDatabaseNewerError";
    this.databaseVersion = databaseVersion;
    this.buildVersion = buildVersion;
  }
}

/**
 * Another tab of this database runs a newer build of the app (a higher schema version): this tab
 * gave the database up to it, and every call of its `db` fails until the page is reloaded. Its
 * status is `update-required`, as when the server needs a newer build. A write or commit already
 * sent to the leader gets that leader's answer if it comes within two seconds; one failed so after
 * that may have been applied, as when a leader is lost.
 */
export class SyncTabOutdatedError extends Error {
  readonly schemaVersion: number;
  readonly newerSchemaVersion: number;

  constructor(schemaVersion: number, newerSchemaVersion: number) {
    super(`sync: another tab runs a newer build of this app (schema version ${newerSchemaVersion}, this tab ${schemaVersion}) and owns the database now: reload this tab`);
    this.name = "SyncTabOutdatedError";
    this.schemaVersion = schemaVersion;
    this.newerSchemaVersion = newerSchemaVersion;
  }
}

/**
 * A `transaction()` in a tab that does not own the database failed because the tab that does (the
 * leader) closed before the transaction committed: nothing of it was kept, so it may be retried.
 */
export class TabLeaderLostError extends Error {
  constructor() {
    super("sync: the tab that owned the database closed before this transaction committed; nothing of it was kept");
    this.name = "TabLeaderLostError";
  }
}
