/** `_sync_outbox`: local writes recorded by the generated triggers, pushed in id order. */
import { rowObjects, type QueryResult, type SqlExecutor, type Statement } from "../adapters/adapter.ts";
import { parseJson } from "../protocol/json.ts";
import type { Mutation, MutationOp, WireRow } from "../protocol/messages.ts";
import type { SyncedTables } from "./tables.ts";

export interface OutboxEntry {
  readonly id: number;
  readonly tx: number;
  /** The table's wire name. */
  readonly table: string;
  readonly op: MutationOp;
  /** Storage-form values keyed by Postgres column name (blobs as hex). */
  readonly pk: WireRow;
  readonly values: WireRow | null;
}

const SELECT = 'SELECT "id", "tx", "table", "op", "pk", "values" FROM "_sync_outbox"';

function entries(rows: Record<string, unknown>[]): OutboxEntry[] {
  return rows.map((row) => ({
    id: Number(row.id),
    tx: Number(row.tx),
    table: String(row.table),
    op: String(row.op) as MutationOp,
    pk: parseJson(String(row.pk)) as WireRow,
    values: typeof row.values === "string" ? (parseJson(row.values) as WireRow) : null,
  }));
}

export async function readOutbox(db: SqlExecutor, afterId: number, limit: number): Promise<OutboxEntry[]> {
  return entries(rowObjects(await db.execute(`${SELECT} WHERE "id" > ? ORDER BY "id" LIMIT ?`, [afterId, limit])));
}

async function readTransaction(db: SqlExecutor, tx: number): Promise<OutboxEntry[]> {
  return entries(rowObjects(await db.execute(`${SELECT} WHERE "tx" = ? ORDER BY "id"`, [tx])));
}

/**
 * The entries of a batch of at most `max` (read `max + 1`, oldest first) that end on a client
 * transaction's boundary, since a transaction must reach the server whole; null when the first
 * transaction alone exceeds `max`.
 */
export function cutAtTransaction(oldest: readonly OutboxEntry[], max: number): OutboxEntry[] | null {
  if (oldest.length <= max) return [...oldest];
  const next = oldest[max];
  const batch = oldest.slice(0, max);
  while (batch.length > 0 && batch[batch.length - 1]?.tx === next?.tx) batch.pop();
  return batch.length > 0 ? batch : null;
}

/** The UTF-8 length of `text`, which `JSON.stringify` leaves without lone surrogates. */
export function utf8Length(text: string): number {
  let bytes = text.length;
  for (let index = 0; index < text.length; index += 1) {
    const code = text.charCodeAt(index);
    // A surrogate pair is two UTF-16 units and four bytes: two more per unit.
    if (code >= 0x800) bytes += code >= 0xd800 && code <= 0xdfff ? 1 : 2;
    else if (code >= 0x80) bytes += 1;
  }
  return bytes;
}

/**
 * How many of `batch`'s entries, whole client transactions from the first, fit in `budget` bytes,
 * `sizes[n]` being entry n's; at least the first transaction, which the host then refuses alone.
 */
export function fitBytes(batch: readonly OutboxEntry[], sizes: readonly number[], budget: number): number {
  let used = 0;
  let fit = 0;
  for (let index = 0; index < batch.length; index += 1) {
    used += sizes[index] ?? 0;
    const next = batch[index + 1];
    const ends = next === undefined || next.tx !== batch[index]?.tx;
    if (ends && used <= budget) fit = index + 1;
    if (used > budget) break;
  }
  if (fit > 0) return fit;
  const first = batch[0]?.tx;
  const alone = batch.findIndex((entry) => entry.tx !== first);
  return alone < 0 ? batch.length : alone;
}

/** The next batch to push: whole client transactions in id order, one oversized transaction alone. */
export async function nextBatch(db: SqlExecutor, max: number): Promise<OutboxEntry[]> {
  const oldest = await readOutbox(db, 0, max + 1);
  const first = oldest[0];
  if (first === undefined) return [];
  return cutAtTransaction(oldest, max) ?? (await readTransaction(db, first.tx));
}

/**
 * Is this put the second half of an update that changed the row's key (the outbox trigger writes a
 * delete of the old key, then a put of the whole row under the new one, one after the other in one
 * transaction)? Its nulls are the row's values, not columns an insert left out: they are sent, so
 * that the server's default does not replace them.
 */
export function isMove(entry: OutboxEntry, previous: OutboxEntry | undefined): boolean {
  return (
    entry.op === "put" &&
    previous !== undefined &&
    previous.op === "delete" &&
    previous.id === entry.id - 1 &&
    previous.tx === entry.tx &&
    previous.table === entry.table
  );
}

/**
 * An entry as the server reads it. A stale write, whose table or columns this build no longer has
 * (kept by a migration so that its id reaches the server, see `PrunedWrite`), goes as it was
 * queued: the server rejects it by those names before it reads a value.
 */
export function toMutation(entry: OutboxEntry, tables: SyncedTables, previous?: OutboxEntry): Mutation {
  const table = tables.find(entry.table);
  const wire = (row: WireRow): WireRow => (table === undefined ? row : table.toWire(row));
  const base = { id: entry.id, tx: entry.tx, table: entry.table, op: entry.op, pk: wire(entry.pk) };
  if (entry.values === null) return base;
  const values = entry.op === "put" && table !== undefined ? table.putValues(entry.values, isMove(entry, previous)) : entry.values;
  return { ...base, values: wire(values) };
}

export async function pendingCount(db: SqlExecutor): Promise<number> {
  return Number((await db.execute('SELECT count(*) FROM "_sync_outbox"')).rows[0]?.[0]);
}

/** Forgets the entries the server has applied or rejected for good. */
export async function dropAcknowledged(db: SqlExecutor, lastMutationId: number): Promise<void> {
  await db.execute('DELETE FROM "_sync_outbox" WHERE "id" <= ?', [lastMutationId]);
}

/**
 * Removes client transaction `tx`, the oldest pending one, from the outbox, and numbers the entries
 * after it down to follow `lastMutationId`, the last id the server applied: the server takes a batch
 * only when it starts right after that id (`mutation_gap`), and has seen none of these ids, since
 * every push that carried them began with the transaction it refused. The outbox's sequence goes
 * down as far, so that the next write follows on. Returns the removed entries; none when the
 * server had applied the transaction after all (an answer lost before its limit changed).
 */
export async function discardTransaction(db: SqlExecutor, tx: number, lastMutationId: number): Promise<OutboxEntry[]> {
  await dropAcknowledged(db, lastMutationId);
  const removed = await readTransaction(db, tx);
  const first = removed[0];
  const last = removed[removed.length - 1];
  if (first === undefined || last === undefined) return [];
  const shift = last.id - lastMutationId;
  if (first.id !== lastMutationId + 1 || shift !== removed.length) {
    throw new Error(`sync: client transaction ${tx} is not the run of outbox ids right after the server's ${lastMutationId}`);
  }
  await db.execute('DELETE FROM "_sync_outbox" WHERE "tx" = ?', [tx]);
  // Through negative ids, so that no step of the update meets a key still taken, whatever its order.
  await db.execute('UPDATE "_sync_outbox" SET "id" = -("id" - ?) WHERE "id" > ?', [shift, last.id]);
  await db.execute('UPDATE "_sync_outbox" SET "id" = -"id" WHERE "id" < 0');
  await db.execute(`UPDATE "sqlite_sequence" SET "seq" = "seq" - ? WHERE "name" = '_sync_outbox'`, [shift]);
  return removed;
}

/** What a local write added to the outbox: entries per table (wire name), and the newest id. */
export interface Written {
  readonly counts: ReadonlyMap<string, number>;
  readonly lastId: number;
}

/**
 * The statement that finds the entries of the current client transaction, run at its end. Outbox
 * ids only grow (AUTOINCREMENT never reuses one), so any id the engine saw before the write began
 * bounds a short range scan of the primary key; the `tx` filter leaves out other writes that
 * committed since that id was read.
 */
export function writtenSince(afterId: number): Statement {
  return {
    sql:
      'SELECT "table", count(*), max("id") FROM "_sync_outbox" ' +
      'WHERE "id" > ? AND "tx" = (SELECT "tx" FROM "_sync_state") GROUP BY "table"',
    params: [afterId],
  };
}

export function readWritten(result: QueryResult, afterId: number): Written {
  const counts = new Map(result.rows.map((row) => [String(row[0]), Number(row[1])]));
  const lastId = result.rows.reduce((last, row) => Math.max(last, Number(row[2])), afterId);
  return { counts, lastId };
}

/** The newest outbox id, where a new engine starts counting its writes. */
export async function lastOutboxId(db: SqlExecutor): Promise<number> {
  return Number((await db.execute('SELECT coalesce(max("id"), 0) FROM "_sync_outbox"')).rows[0]?.[0]);
}
