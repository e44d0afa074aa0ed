/** `_sync_state`, the one-row table the generated first client migration creates. */
import { rowObjects, type SqlExecutor, type Statement } from "../adapters/adapter.ts";

export interface StoredState {
  readonly clientId: string;
  readonly cursor: string | null;
  readonly schemaVersion: number;
}

/** The schema version of the local database; 0 before the first client migration. */
export async function storedSchemaVersion(db: SqlExecutor): Promise<number> {
  const exists = await db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_sync_state'");
  if (exists.rows.length === 0) return 0;
  return (await readState(db)).schemaVersion;
}

export async function readState(db: SqlExecutor): Promise<StoredState> {
  const [row] = rowObjects(await db.execute('SELECT "client_id", "cursor", "schema_version" FROM "_sync_state"'));
  if (row === undefined) throw new Error("sync: _sync_state has no row");
  return {
    clientId: String(row.client_id),
    cursor: typeof row.cursor === "string" ? row.cursor : null,
    schemaVersion: Number(row.schema_version),
  };
}

export function cursorStatement(cursor: string | null): Statement {
  return { sql: 'UPDATE "_sync_state" SET "cursor" = ?', params: [cursor] };
}

export async function writeCursor(db: SqlExecutor, cursor: string | null): Promise<void> {
  const { sql, params } = cursorStatement(cursor);
  await db.execute(sql, params);
}

/** While set, the outbox triggers stay silent: pulled rows and their rebase are not local writes. */
export function applyingStatement(applying: boolean): Statement {
  return { sql: 'UPDATE "_sync_state" SET "applying" = ?', params: [applying ? 1 : 0] };
}

/**
 * Starts a new client transaction: the outbox rows written until the next one share its `tx`. Run
 * with the write it numbers, in one SQLite transaction.
 */
export const NEXT_TX: Statement = { sql: 'UPDATE "_sync_state" SET "tx" = "tx" + 1', params: [] };
