/**
 * Applying a pull page to the local tables, and the rebase that keeps pending local writes
 * visible on top of what the server sent.
 */
import type { SqlExecutor } from "../adapters/adapter.ts";
import type { PullResponse } from "../protocol/messages.ts";
import { dropAcknowledged, readOutbox } from "./outbox.ts";
import { setApplying, writeCursor } from "./state.ts";
import type { SyncedTables } from "./tables.ts";

/** Which rows a page overwrote: per table (wire name), the keys. "all" after a bootstrap clears the tables. */
export type Touched = ReadonlyMap<string, ReadonlySet<string>> | "all";

export interface ApplyOptions {
  /** The first page of a bootstrap replaces the synced rows: clear them first (never the outbox). */
  readonly clear: boolean;
  /** Off only to show what goes wrong without it (tests): pending writes then vanish until acknowledged. */
  readonly rebase: boolean;
}

/**
 * Applies one page in the caller's transaction with the outbox triggers silent, rebases, stores the
 * cursor, and on the last page drops the outbox entries the server has acknowledged. Returns the
 * SQLite names of the tables whose rows changed.
 */
export async function applyPage(
  tx: SqlExecutor,
  tables: SyncedTables,
  page: PullResponse,
  options: ApplyOptions,
): Promise<Set<string>> {
  await setApplying(tx, true);
  const changed = new Set<string>();
  if (options.clear) {
    for (const table of tables.all()) {
      await tx.execute(table.clearSql);
      changed.add(table.meta.sqliteTable);
    }
  }
  const touched = new Map<string, Set<string>>();
  for (const change of page.changes) {
    const table = tables.get(change.table);
    const values = change.op === "upsert" ? change.row : change.pk;
    const [sql, params] = change.op === "upsert" ? table.upsert(values) : table.delete(values);
    await tx.execute(sql, params);
    changed.add(table.meta.sqliteTable);
    if (options.clear) continue; // every pending write is replayed after a clear: no keys needed
    let keys = touched.get(change.table);
    if (keys === undefined) touched.set(change.table, (keys = new Set()));
    keys.add(table.keyOfWire(values));
  }
  if (options.rebase) await rebase(tx, tables, options.clear ? "all" : touched, page.lastMutationId);
  await writeCursor(tx, page.cursor);
  if (!page.hasMore) await dropAcknowledged(tx, page.lastMutationId);
  await setApplying(tx, false);
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
