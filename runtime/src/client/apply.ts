/**
 * Applying a pull page to the local tables, and the rebase that keeps pending local writes
 * visible on top of what the server sent.
 */
import type { SqlExecutor, Statement, TransactionExecutor } from "../adapters/adapter.ts";
import type { Change, PullResponse, WireRow } from "../protocol/messages.ts";
import { dropAcknowledged, isMove, readOutbox, type OutboxEntry } from "./outbox.ts";
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
export function applyPage(tx: TransactionExecutor, tables: SyncedTables, page: PullResponse, options: ApplyOptions): Promise<Set<string>> {
  return applyPages(tx, tables, [page], options);
}

/**
 * Applies consecutive pages of one pull in the caller's transaction, in order, as `applyPage` would
 * one after the other (each page rebased on its own), with one commit's bookkeeping for all.
 */
export async function applyPages(
  tx: TransactionExecutor,
  tables: SyncedTables,
  pages: readonly PullResponse[],
  options: ApplyOptions,
): Promise<Set<string>> {
  const group = new PageGroup(tx, tables, options);
  for (const page of pages) await group.add(page);
  return group.finish();
}

/**
 * Pages applied one after the other in one transaction, the caller deciding as it goes how many
 * (`add` each, then `finish` once): each page is rebased on its own, as if committed alone, but the
 * outbox is read once (it cannot change meanwhile: the triggers are silent and local writes wait
 * for the transaction) and only the last page's cursor is stored. A page's rows are one message to
 * a Worker; the group adds about three more in all. `options.clear` clears before the first page.
 */
export class PageGroup {
  /** SQLite names of the tables whose rows changed. */
  readonly changed = new Set<string>();
  readonly #tx: TransactionExecutor;
  readonly #tables: SyncedTables;
  readonly #options: ApplyOptions;
  #last: PullResponse | null = null;
  #outbox: Promise<OutboxEntry[]> | null = null;

  constructor(tx: TransactionExecutor, tables: SyncedTables, options: ApplyOptions) {
    this.#tx = tx;
    this.#tables = tables;
    this.#options = options;
  }

  async add(page: PullResponse): Promise<void> {
    const first = this.#last === null;
    const clear = this.#options.clear && first;
    const clears: Statement[] = [];
    if (clear) {
      for (const table of this.#tables.all()) {
        clears.push({ sql: table.clearSql, params: [] });
        this.changed.add(table.meta.sqliteTable);
      }
    }
    const touched = new Map<string, Set<string>>();
    for (const change of page.changes) {
      const table = this.#tables.get(change.table);
      this.changed.add(table.meta.sqliteTable);
      if (clear) continue; // every pending write is replayed after a clear: no keys needed
      let keys = touched.get(change.table);
      if (keys === undefined) touched.set(change.table, (keys = new Set()));
      keys.add(table.keyOfWire(valuesOf(change)));
    }
    await this.#tx.batch([...(first ? [applyingStatement(true)] : []), ...clears, ...pageStatements(this.#tables, page.changes)]);
    this.#last = page;
    if (this.#options.rebase) {
      const tx = this.#tx;
      await rebase(tx, this.#tables, clear ? "all" : touched, page.lastMutationId, () => (this.#outbox ??= readOutbox(tx, 0, Number.MAX_SAFE_INTEGER)));
    }
  }

  /** Drops the acknowledged outbox entries after a pull's last page, and stores the cursor. */
  async finish(): Promise<Set<string>> {
    const last = this.#last;
    if (last === null) throw new Error("sync: a page group finished without a page");
    if (!last.hasMore) await dropAcknowledged(this.#tx, last.lastMutationId);
    await this.#tx.batch([cursorStatement(last.cursor), applyingStatement(false)]);
    return this.changed;
  }
}

/**
 * Re-applies the pending outbox entries (ids above `lastMutationId`) whose rows the page overwrote,
 * in id order, as the server will apply them. Entries up to `lastMutationId` are not replayed: their
 * effects, or their undoing when rejected, are in the changes by the end of the pull. `outbox` gives
 * the pending entries (id order; those up to `lastMutationId` are skipped), read here by default.
 */
export async function rebase(
  tx: SqlExecutor,
  tables: SyncedTables,
  touched: Touched,
  lastMutationId: number,
  outbox: () => Promise<readonly OutboxEntry[]> = () => readOutbox(tx, lastMutationId, Number.MAX_SAFE_INTEGER),
): Promise<void> {
  if (touched !== "all" && touched.size === 0) return;
  let previous: OutboxEntry | undefined;
  for (const entry of await outbox()) {
    const before = previous;
    previous = entry;
    if (entry.id <= lastMutationId) continue;
    const table = tables.find(entry.table);
    if (table === undefined) continue;
    if (touched !== "all" && touched.get(entry.table)?.has(table.keyOfOutbox(entry.pk)) !== true) continue;
    const statement = table.replay(entry.op, entry.pk, entry.values ?? {}, isMove(entry, before));
    if (statement !== null) await tx.execute(...statement);
  }
}
