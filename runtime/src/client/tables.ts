/**
 * The synced tables as the engine uses them: the generated metadata plus the SQL and value
 * conversions derived from it once, at open.
 */
import type { SqlValue } from "../adapters/adapter.ts";
import { fromWire, toWire } from "../protocol/codecs.ts";
import type { WireRow } from "../protocol/messages.ts";
import type { ColumnMeta, TableMeta } from "../protocol/tables.ts";

export function quote(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** An outbox value (storage form, blobs as hex) as SQLite stores it: through the wire form and back. */
function storedFromOutbox(column: ColumnMeta, value: unknown): SqlValue {
  return fromWire(column.codec, toWire(column.codec, value)) as SqlValue;
}

export class SyncedTable {
  readonly meta: TableMeta;
  readonly #columns: ReadonlyMap<string, ColumnMeta>;
  readonly #keyColumns: readonly ColumnMeta[];
  readonly #replaceSql: string;
  readonly #deleteSql: string;
  readonly #where: string;

  constructor(meta: TableMeta) {
    this.meta = meta;
    this.#columns = new Map(meta.columns.map((column) => [column.name, column]));
    this.#keyColumns = meta.primaryKey.map((name) => this.column(name));
    const table = quote(meta.sqliteTable);
    const columns = meta.columns.map((column) => quote(column.column)).join(", ");
    const slots = meta.columns.map(() => "?").join(", ");
    this.#where = this.#keyColumns.map((column) => `${quote(column.column)} = ?`).join(" AND ");
    this.#replaceSql = `INSERT OR REPLACE INTO ${table} (${columns}) VALUES (${slots})`;
    this.#deleteSql = `DELETE FROM ${table} WHERE ${this.#where}`;
  }

  get clearSql(): string {
    return `DELETE FROM ${quote(this.meta.sqliteTable)}`;
  }

  column(name: string): ColumnMeta {
    const column = this.#columns.get(name);
    if (column === undefined) throw new Error(`sync: table ${this.meta.name} has no column ${name}`);
    return column;
  }

  hasColumn(name: string): boolean {
    return this.#columns.has(name);
  }

  /** A pulled row written as it is (the server sends whole current rows). */
  upsert(row: WireRow): [string, SqlValue[]] {
    return [this.#replaceSql, this.meta.columns.map((column) => fromWire(column.codec, row[column.name] ?? null) as SqlValue)];
  }

  delete(pk: WireRow): [string, SqlValue[]] {
    return [this.#deleteSql, this.#keyColumns.map((column) => fromWire(column.codec, pk[column.name]) as SqlValue)];
  }

  /** A row's identity, comparable between a pulled key or row (wire form) and an outbox key. */
  keyOfWire(values: WireRow): string {
    return JSON.stringify(this.#keyColumns.map((column) => fromWire(column.codec, values[column.name])));
  }

  keyOfOutbox(pk: WireRow): string {
    return JSON.stringify(this.#keyColumns.map((column) => storedFromOutbox(column, pk[column.name])));
  }

  /** An outbox entry's values (storage form) as they go on the wire. */
  toWire(values: WireRow): WireRow {
    return Object.fromEntries(Object.entries(values).map(([name, value]) => [name, toWire(this.column(name).codec, value)]));
  }

  /**
   * The statement that re-applies a pending local write on top of pulled rows, as the server will
   * apply it: put inserts or overwrites the columns it carries, patch updates an existing row only;
   * null for a patch left with no known column (nothing to do).
   */
  replay(op: "put" | "patch" | "delete", pk: WireRow, values: WireRow): [string, SqlValue[]] | null {
    const table = quote(this.meta.sqliteTable);
    const keyValues = this.#keyColumns.map((column) => storedFromOutbox(column, pk[column.name]));
    if (op === "delete") return [this.#deleteSql, keyValues];
    const carried = Object.keys(values).filter((name) => this.hasColumn(name)).map((name) => this.column(name));
    const carriedValues = carried.map((column) => storedFromOutbox(column, values[column.name]));
    if (op === "patch") {
      if (carried.length === 0) return null;
      const set = carried.map((column) => `${quote(column.column)} = ?`).join(", ");
      return [`UPDATE ${table} SET ${set} WHERE ${this.#where}`, [...carriedValues, ...keyValues]];
    }
    const names = carried.map((column) => quote(column.column)).join(", ");
    const slots = carried.map(() => "?").join(", ");
    const updated = carried.filter((column) => !this.meta.primaryKey.includes(column.name));
    const onConflict = updated.length
      ? `DO UPDATE SET ${updated.map((column) => `${quote(column.column)} = excluded.${quote(column.column)}`).join(", ")}`
      : "DO NOTHING";
    const conflictTarget = this.#keyColumns.map((column) => quote(column.column)).join(", ");
    return [`INSERT INTO ${table} (${names}) VALUES (${slots}) ON CONFLICT (${conflictTarget}) ${onConflict}`, carriedValues];
  }
}

/** Every synced table, found by its wire name (the outbox's and the protocol's `table`). */
export class SyncedTables {
  readonly #byName: ReadonlyMap<string, SyncedTable>;

  constructor(tables: Readonly<Record<string, TableMeta>>) {
    this.#byName = new Map(Object.values(tables).map((meta) => [meta.name, new SyncedTable(meta)]));
  }

  get(name: string): SyncedTable {
    const table = this.#byName.get(name);
    if (table === undefined) throw new Error(`sync: ${name} is not a synced table of this build`);
    return table;
  }

  find(name: string): SyncedTable | undefined {
    return this.#byName.get(name);
  }

  all(): SyncedTable[] {
    return [...this.#byName.values()];
  }
}
