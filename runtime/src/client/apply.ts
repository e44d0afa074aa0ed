/**
 * Applying a pull page to the local tables, and the rebase that keeps pending local writes
 * visible on top of what the server sent.
 */
import type { SqlExecutor, Statement, TransactionExecutor } from "../adapters/adapter.ts";
import type { Change, PullResponse, WireRow } from "../protocol/messages.ts";
import { dropAcknowledged, readOutbox } from "./outbox.ts";
import { applyingStatement, cursorStatement } from "./state.ts";
import type { SyncedTables } from "./tables.ts";

/** Which rows a page overwrote: per table (wire name), the keys. "all" after a bootstrap clears the tables. */
export type Touched = ReadonlyMap<string, ReadonlySet<string>> | "all";

export interface ApplyOptions {
  /** The first page of a bootstrap replaces the synced rows: clear them first (never the outbox). */
  readonly clear: boolean;
  /** Off only to show what goes wrong without it (tests): pending writes then vanish until acknowledged. */
  readonly rebase: boolean;
}

/** A change's row (upsert) or key (delete). */
function valuesOf(change: Change): WireRow {
  return change.op === "upsert" ? change.row : change.pk;
}

/**
 * The statements that write a page's changes, in order: each run of consecutive changes of one
 * table and op is one statement over the run's rows as JSON (see `SyncedTable.upsertAll`), so a
 * bootstrap page of thousands of rows is a few statements, decoded and built in one pass.
 */
export function pageStatements(tables: SyncedTables, changes: readonly Change[]): Statement[] {
  const statements: Statement[] = [];
  let start = 0;
  while (start < changes.length) {
    const first = changes[start] as Change;
    let end = start + 1;
    while (end < changes.length && changes[end]?.table === first.table && changes[end]?.op === first.op) end += 1;
    const table = tables.get(first.table);
    const run = changes.slice(start, end).map(valuesOf);
    statements.push(...(first.op === "upsert" ? table.upsertAll(run) : table.deleteAll(run)));
    start = end;
  }
  return statements;
}

/**
 * Applies one page in the caller's transaction with the outbox triggers silent, rebases, stores the
 * cursor, and on the last page drops the outbox entries the server has acknowledged. Returns the
 * SQLite names of the tables whose rows changed. The page's rows go to the database as one batch
 * (one message to a Worker), whatever their number.
 */
export async function applyPage(
  tx: TransactionExecutor,
  tables: SyncedTables,
  page: PullResponse,
  options: ApplyOptions,
): Promise<Set<string>> {
  const changed = new Set<string>();
  const clears: Statement[] = [];
  if (options.clear) {
    for (const table of tables.all()) {
      clears.push({ sql: table.clearSql, params: [] });
      changed.add(table.meta.sqliteTable);
    }
  }
  const touched = new Map<string, Set<string>>();
  for (const change of page.changes) {
    const table = tables.get(change.table);
    changed.add(table.meta.sqliteTable);
    if (options.clear) continue; // every pending write is replayed after a clear: no keys needed
    let keys = touched.get(change.table);
    if (keys === undefined) touched.set(change.table, (keys = new Set()));
    keys.add(table.keyOfWire(valuesOf(change)));
  }
  await tx.batch([applyingStatement(true), ...clears, ...pageStatements(tables, page.changes)]);
  if (options.rebase) await rebase(tx, tables, options.clear ? "all" : touched, page.lastMutationId);
  if (!page.hasMore) await dropAcknowledged(tx, page.lastMutationId);
  await tx.batch([cursorStatement(page.cursor), applyingStatement(false)]);
  return changed;
}

/**
 * Re-applies the pending outbox entries (ids above `lastMutationId`) whose rows the page overwrote,
 * in id order, as the server will apply them. Entries up to `lastMutationId` are not replayed: their
 * effects, or their undoing when rejected, are in the changes by the end of the pull.
 */
export async function rebase(tx: SqlExecutor, tables: SyncedTables, touched: Touched, lastMutationId: number): Promise<void> {
  if (touched !== "all" && touched.size === 0) return;
  for (const entry of await readOutbox(tx, lastMutationId, Number.MAX_SAFE_INTEGER)) {
    const table = tables.find(entry.table);
    if (table === undefined) continue;
    if (touched !== "all" && touched.get(entry.table)?.has(table.keyOfOutbox(entry.pk)) !== true) continue;
    const statement = table.replay(entry.op, entry.pk, entry.values ?? {});
    if (statement !== null) await tx.execute(...statement);
  }
}
