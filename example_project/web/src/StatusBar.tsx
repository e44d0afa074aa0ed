import type { SyncStatus } from "drizzlesync/client";

/**
 * Online or offline as the engine last found the host, what it is doing, how far a first load has
 * come, and what is not yet synced.
 */
export function StatusBar({ status }: { status: SyncStatus }) {
  const online = status.state !== "offline";
  return (
    <div
      className="status"
      data-testid="status"
      data-state={status.state}
      data-pending={status.pending}
      data-synced-at={status.lastSyncedAt?.toISOString() ?? ""}
    >
      <span className={online ? "dot online" : "dot offline"} />
      <span data-testid="connection">{online ? "online" : "offline"}</span>
      <span>· {status.state}</span>
      <span data-testid="pending">
        · {status.pending === 0 ? "all changes synced" : `${status.pending} pending change(s)`}
      </span>
      {status.bootstrap !== null && !status.bootstrap.done && (
        <span data-testid="bootstrap">
          · loading {status.bootstrap.received}
          {status.bootstrap.total === null ? "" : ` of ~${status.bootstrap.total}`} rows
        </span>
      )}
      {status.error !== null && status.state !== "offline" && <span className="error">· {status.error.message}</span>}
    </div>
  );
}
