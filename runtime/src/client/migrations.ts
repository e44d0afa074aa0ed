/** Opening a database: the generated client migrations above its stored schema version. */
import { rowObjects, type SqliteAdapter, type SqlExecutor } from "../adapters/adapter.ts";
import type { WireCodec } from "../protocol/codecs.ts";
import type { TableMeta } from "../protocol/tables.ts";
import { readOutbox, type OutboxEntry } from "./outbox.ts";
import { cursorStatement, storedSchemaVersion } from "./state.ts";
import { quote, type SyncedTables } from "./tables.ts";

/** One step of the generated `client-migrations.ts`. */
export interface ClientMigration {
  readonly version: number;
  readonly statements: readonly string[];
  /**
   * On the last step: the triggers of its version, as the build that generated it writes them:
   * the outbox triggers, and the checks that refuse a uuid key Postgres would spell otherwise.
   */
  readonly triggers?: readonly ClientTrigger[];
}

/** A generated trigger: its name and the `CREATE TRIGGER` statement that makes it. */
export interface ClientTrigger {
  readonly name: string;
  readonly sql: string;
}

/**
 * A pending local write that a migration found its table or columns gone for. Values of dropped
 * columns are removed from a write that still has others (`stale: false`). A write left with
 * nothing the new schema has (its table no longer synced, its key changed, a patch of dropped
 * columns only) stays queued as it was (`stale: true`): its id must still reach the server, which
 * refuses a push that skips one (409 `mutation_gap`), and the server rejects it by name
 * (`unknown_table`, `invalid_key`, `unknown_column`) and moves past it. One that shares its client
 * transaction with writes the new version keeps is moved to a transaction of its own, after them,
 * so that its rejection does not take them along (`isolateStale`).
 */
export interface PrunedWrite {
  readonly id: number;
  readonly table: string;
  /** The columns whose pending values were dropped; every column of a stale write. */
  readonly columns: readonly string[];
  readonly stale: boolean;
}

/** Columns of a synced table that this build syncs and the device's table lacked, added on open. */
export interface RepairedTable {
  /** The SQLite table. */
  readonly table: string;
  /** The SQLite columns added. */
  readonly columns: readonly string[];
}

export interface MigrationResult {
  readonly from: number;
  readonly to: number;
  readonly pruned: readonly PrunedWrite[];
  /** Columns added because a step was changed after this device ran it (`addMissingColumns`). */
  readonly repaired: readonly RepairedTable[];
}

/** The client id a new database's first step generated (`_sync_state` is the first step's). */
const CLIENT_ID = { sql: 'SELECT "client_id" FROM "_sync_state"', params: [] };

/**
 * Runs every step above the stored version, each in its own transaction, so that a failure
 * leaves the database at the last complete version. The steps keep the outbox's writes (moving
 * only a renamed column's values to its new name); pending values of dropped columns are pruned
 * here (`PrunedWrite`), since the server would refuse the whole write for them. The pruning runs inside the last step's transaction: done after it commits, a
 * tab closed in between would leave a database at the new version whose next open finds nothing
 * to migrate, and so never prunes.
 *
 * `created` is called when the database is new, with the client id its first step generated, as
 * soon as that step has run and before it commits: the engine asks for its first pull page then,
 * so that the host prepares it while the migration commits (see `SyncClient.open`).
 */
export async function migrate(
  adapter: SqliteAdapter,
  steps: readonly ClientMigration[],
  tables: SyncedTables,
  created?: (clientId: string) => void,
): Promise<MigrationResult> {
  const from = await storedSchemaVersion(adapter);
  const due = steps.filter((step) => step.version > from).sort((a, b) => a.version - b.version);
  let to = from;
  let pruned: PrunedWrite[] = [];
  for (const step of due) {
    if (step.version <= to) continue;
    const first = to === 0 && created !== undefined;
    // A new database's outbox was created empty by its first step: nothing to prune.
    const last = step === due.at(-1) && from !== 0;
    // One trip to the database for the whole step (one Worker message on the web: a step is dozens
    // of statements, tables and their triggers, and a fresh database runs every step before its bootstrap).
    pruned = await adapter.transaction(async (tx) => {
      const results = await tx.batch([...step.statements.map((sql) => ({ sql, params: [] })), ...(first ? [CLIENT_ID] : [])]);
      const clientId = results.at(-1)?.rows[0]?.[0];
      if (first && typeof clientId === "string") created(clientId);
      return last ? pruneOutbox(tx, tables) : [];
    });
    to = step.version;
  }
  const latest = due.at(-1) ?? steps.find((step) => step.version === to);
  // Only at this build's own version: a database a newer build migrated may lack columns for good reason.
  const repaired = latest?.version === to ? await addMissingColumns(adapter, tables) : [];
  if (latest?.version === to && latest.triggers !== undefined) await refreshTriggers(adapter, latest.triggers);
  return { from, to, pruned, repaired };
}

/** How a column of each codec is stored, as the generated steps create it. */
const STORAGE: Readonly<Record<WireCodec, string>> = {
  int: "INTEGER",
  float: "REAL",
  text: "TEXT",
  bool: "INTEGER",
  json: "TEXT",
  timestamp: "INTEGER",
  bytes: "BLOB",
};

/**
 * Adds the columns this build syncs that the device's tables lack, and clears the cursor so that
 * the next pull bootstraps and fills them. A step changed after devices ran it (a revision that
 * changed the synced shape without a new schema version, and was shipped, then changed) left them
 * at the step's first form for good: every pull and every local write of the table failed on the
 * missing column, and their way out was `deleteDatabase()`, losing their pending writes. Each is
 * added nullable and without a default (SQLite adds no `NOT NULL` column without one to a table
 * with rows); the server's rows fill it. One read of the tables' columns on open.
 */
async function addMissingColumns(adapter: SqliteAdapter, tables: SyncedTables): Promise<RepairedTable[]> {
  const rows = await adapter.execute(
    'SELECT m."name", p."name" FROM "sqlite_master" AS m, pragma_table_info(m."name") AS p WHERE m."type" = \'table\'',
    [],
  );
  const present = new Map<string, Set<string>>();
  for (const [table, column] of rows.rows) {
    const columns = present.get(String(table)) ?? new Set<string>();
    columns.add(String(column));
    present.set(String(table), columns);
  }
  const repaired = tables
    .all()
    .map(({ meta }) => ({ meta, held: present.get(meta.sqliteTable) }))
    // A table the device lacks altogether is a step's to create: its rows have no place to go here.
    .filter((table): table is { meta: TableMeta; held: Set<string> } => table.held !== undefined)
    .map(({ meta, held }) => ({ meta, missing: meta.columns.filter((column) => !held.has(column.column)) }))
    .filter(({ missing }) => missing.length > 0);
  if (repaired.length === 0) return [];
  await adapter.transaction(async (tx) => {
    await tx.batch([
      ...repaired.flatMap(({ meta, missing }) =>
        missing.map((column) => ({
          sql: `ALTER TABLE ${quote(meta.sqliteTable)} ADD COLUMN ${quote(column.column)} ${STORAGE[column.codec]}`,
          params: [],
        })),
      ),
      cursorStatement(null),
    ]);
  });
  return repaired.map(({ meta, missing }) => ({ table: meta.sqliteTable, columns: missing.map((column) => column.column) }));
}

/**
 * Makes the database's triggers the generated ones, where an earlier build made them otherwise
 * or made none: a step creates a table's outbox triggers once, so a fix to what they record
 * (floats written with all their digits) would otherwise wait for a schema version that rebuilds
 * the table, and the key checks are made here alone. SQLite keeps each trigger's statement as it
 * was written; one read of them on open, and a transaction only when one differs.
 */
async function refreshTriggers(adapter: SqliteAdapter, triggers: readonly ClientTrigger[]): Promise<void> {
  const stored = rowObjects(await adapter.execute("SELECT \"sql\" FROM \"sqlite_master\" WHERE \"type\" = 'trigger'", []));
  const current = new Set(stored.map((row) => String(row.sql)));
  const stale = triggers.filter((trigger) => !current.has(trigger.sql));
  if (stale.length === 0) return;
  await adapter.transaction(async (tx) => {
    await tx.batch(
      stale.flatMap((trigger) => [
        { sql: `DROP TRIGGER IF EXISTS "${trigger.name.replaceAll('"', '""')}"`, params: [] },
        { sql: trigger.sql, params: [] },
      ]),
    );
  });
}

async function pruneOutbox(tx: SqlExecutor, tables: SyncedTables): Promise<PrunedWrite[]> {
  const entries = await readOutbox(tx, 0, Number.MAX_SAFE_INTEGER);
  const stale = new Set(entries.filter((entry) => isStale(entry, tables)).map((entry) => entry.id));
  const ids = await isolateStale(tx, entries, stale);
  const pruned: PrunedWrite[] = [];
  for (const entry of entries) {
    const id = ids.get(entry.id) ?? entry.id;
    const values = entry.values ?? {};
    if (stale.has(entry.id)) {
      pruned.push({ id, table: entry.table, columns: Object.keys(values), stale: true });
      continue;
    }
    const table = tables.get(entry.table);
    const gone = Object.keys(values).filter((name) => !table.hasColumn(name));
    if (gone.length > 0) {
      const kept = Object.fromEntries(Object.entries(values).filter(([name]) => table.hasColumn(name)));
      await tx.execute('UPDATE "_sync_outbox" SET "values" = ? WHERE "id" = ?', [JSON.stringify(kept), id]);
      pruned.push({ id, table: entry.table, columns: gone, stale: false });
    }
  }
  return pruned.sort((a, b) => a.id - b.id);
}

/**
 * A write left with nothing the new version has: its table no longer synced, its key not the
 * table's (a key column gone, or one added to the key: the server refuses a key that does not name
 * exactly the key columns, `invalid_key`), a patch of dropped columns only.
 */
function isStale(entry: OutboxEntry, tables: SyncedTables): boolean {
  const table = tables.find(entry.table);
  if (table === undefined) return true;
  const key = table.meta.primaryKey;
  const named = Object.keys(entry.pk);
  if (named.length !== key.length || named.some((name) => !key.includes(name))) return true;
  const names = Object.keys(entry.values ?? {});
  // A patch left empty by a step (the null of a column made NOT NULL removed) is no patch of
  // dropped columns: the server takes it, and the steps' removals are not reported.
  return entry.op === "patch" && names.length > 0 && names.every((name) => !table.hasColumn(name));
}

/**
 * Moves each stale write of a client transaction that also holds writes the new version keeps to
 * a transaction of its own, after them. The server rejects a stale write, and with it every other
 * write of its transaction (`transaction_rolled_back`): a title patched in one `client.transaction`
 * with a column since dropped was lost, where the same change made by one statement (one write,
 * pruned of the column) was kept. The transaction's writes keep their run of ids, since the server
 * takes ids in sequence, the kept ones first and in their order; each stale one gets a transaction
 * number below every pending write's, which no local write is numbered with (they count up from 1).
 * Not the negative of its new id: ids move down when a refused transaction is discarded
 * (`discardTransaction`), and a write isolated before would share a later one's number, two runs
 * of one transaction in a push, which the server refuses (400 `tx_not_contiguous`) on every retry.
 * Returns the new id of each write whose id changed.
 */
async function isolateStale(tx: SqlExecutor, entries: readonly OutboxEntry[], stale: ReadonlySet<number>): Promise<Map<number, number>> {
  const ids = new Map<number, number>();
  const moves: { from: number; to: number; tx: number }[] = [];
  let below = entries.reduce((lowest, entry) => Math.min(lowest, entry.tx), 0);
  for (const group of transactions(entries)) {
    const kept = group.filter((entry) => !stale.has(entry.id));
    if (kept.length === 0 || kept.length === group.length) continue;
    const reordered = [...kept, ...group.filter((entry) => stale.has(entry.id))];
    reordered.forEach((entry, index) => {
      const to = (group[index] as OutboxEntry).id;
      const isolated = stale.has(entry.id);
      if (to === entry.id && !isolated) return;
      ids.set(entry.id, to);
      moves.push({ from: entry.id, to, tx: isolated ? --below : entry.tx });
    });
  }
  // Through negative ids, so that no update meets an id still taken, whatever their order.
  for (const move of moves) {
    await tx.execute('UPDATE "_sync_outbox" SET "id" = ?, "tx" = ? WHERE "id" = ?', [-move.to, move.tx, move.from]);
  }
  if (moves.length > 0) await tx.execute('UPDATE "_sync_outbox" SET "id" = -"id" WHERE "id" < 0');
  return ids;
}

/** Entries (in id order) cut into their client transactions: each is one run of ids, since the engine makes one local write at a time. */
function transactions(entries: readonly OutboxEntry[]): OutboxEntry[][] {
  const groups: OutboxEntry[][] = [];
  for (const entry of entries) {
    const last = groups.at(-1);
    if (last?.[0]?.tx === entry.tx) last.push(entry);
    else groups.push([entry]);
  }
  return groups;
}
