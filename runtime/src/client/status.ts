/** What the engine is doing, as an immutable value: listeners get a new one on every change. */

export type SyncState = "idle" | "pushing" | "pulling" | "offline" | "error" | "update-required" | "auth-required";

/** How far a bootstrap (a pull from a null cursor, which replaces the synced rows) has come. */
export interface BootstrapProgress {
  /** Changes received and applied so far. */
  readonly received: number;
  /**
   * About how many changes the whole bootstrap brings, as the server estimated it when the bootstrap
   * started (exact for small tables); null until the first page, or from a server that gives none.
   * `received` may end above or below it: show it as "n of ~total".
   */
  readonly total: number | null;
  readonly done: boolean;
}

export interface SyncStatusFields {
  readonly state: SyncState;
  /** Local writes not yet acknowledged by the server. */
  readonly pending: number;
  readonly lastSyncedAt: Date | null;
  /** The last bootstrap's progress; null until the first one starts. */
  readonly bootstrap: BootstrapProgress | null;
  /**
   * Why the state is offline, error, update-required or auth-required. A retry under way (pushing,
   * pulling) keeps the failure before it until a sync succeeds, so a status display does not flicker.
   */
  readonly error: Error | null;
  /** When the next automatic attempt is due after a failure (epoch ms); null once it has begun. */
  readonly retryAt: number | null;
}

export class SyncStatus implements SyncStatusFields {
  static readonly initial = new SyncStatus({
    state: "idle",
    pending: 0,
    lastSyncedAt: null,
    bootstrap: null,
    error: null,
    retryAt: null,
  });

  readonly state: SyncState;
  readonly pending: number;
  readonly lastSyncedAt: Date | null;
  readonly bootstrap: BootstrapProgress | null;
  readonly error: Error | null;
  readonly retryAt: number | null;

  private constructor(fields: SyncStatusFields) {
    this.state = fields.state;
    this.pending = fields.pending;
    this.lastSyncedAt = fields.lastSyncedAt;
    this.bootstrap = fields.bootstrap;
    this.error = fields.error;
    this.retryAt = fields.retryAt;
  }

  /** True while the engine waits for the app: a new token, or a new build. */
  get paused(): boolean {
    return this.state === "auth-required" || this.state === "update-required";
  }

  with(changes: Partial<SyncStatusFields>): SyncStatus {
    const fields: SyncStatusFields = {
      state: this.state,
      pending: this.pending,
      lastSyncedAt: this.lastSyncedAt,
      bootstrap: this.bootstrap,
      error: this.error,
      retryAt: this.retryAt,
    };
    return new SyncStatus({ ...fields, ...changes });
  }

  equals(other: SyncStatus): boolean {
    return (
      this.state === other.state &&
      this.pending === other.pending &&
      this.lastSyncedAt?.getTime() === other.lastSyncedAt?.getTime() &&
      this.bootstrap?.received === other.bootstrap?.received &&
      this.bootstrap?.total === other.bootstrap?.total &&
      this.bootstrap?.done === other.bootstrap?.done &&
      this.error === other.error &&
      this.retryAt === other.retryAt
    );
  }
}
