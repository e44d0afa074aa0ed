/**
 * The synced tables as the engine uses them: the generated metadata plus the SQL and value
 * conversions derived from it once, at open.
 */
import type { SqlValue, Statement } from "../adapters/adapter.ts";
import { fromWire, toWire, wireCodecs, type Codec } from "../protocol/codecs.ts";
import type { WireRow } from "../protocol/messages.ts";
import type { ColumnMeta, TableMeta } from "../protocol/tables.ts";

export function quote(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/**
 * What SQLite stores for a wire null in `column`. The wire has one null where a JSON column has
 * two, SQL's NULL and the JSON value null; in a NOT NULL column it can only be the JSON value,
 * stored as its text. Stored as NULL it broke the constraint, failing the whole page on every
 * pull: one such row (SQLAlchemy writes Python's None to a JSON column so by default) stopped
 * every device syncing.
 */
function storedNull(column: ColumnMeta): SqlValue {
  return column.codec === "json" && !column.nullable ? "null" : null;
}

/** An outbox value (storage form, blobs as hex) as SQLite stores it: through the wire form and back. */
function storedFromOutbox(column: ColumnMeta, value: unknown): SqlValue {
  const wire = toWire(column.codec, value);
  return wire === null ? storedNull(column) : (fromWire(column.codec, wire) as SqlValue);
}

/**
 * `rows` as the JSON text of an array of arrays, when JSON carries every value unchanged into
 * SQLite (`->>` gives back the same text or integer): null, well-formed strings and integers up to
 * 2^53. Null when one is anything else, which only a bound parameter keeps exactly: a blob, a
 * bigint, a string with a lone surrogate, and any other number (SQLite's reading of a decimal is
 * not always the double JavaScript wrote, e.g. 1e-300 or 2^60; -0 and the infinities have no JSON).
 */
export function jsonOfRows(rows: readonly (readonly SqlValue[])[]): string | null {
  for (const row of rows) {
    for (const value of row) {
      if (value === null) continue;
      if (typeof value === "string" ? LONE_SURROGATE.test(value) : !Number.isSafeInteger(value) || Object.is(value, -0)) return null;
    }
  }
  return JSON.stringify(rows);
}

/** In a `u` regex a pair is one code point, so only an unpaired surrogate matches. */
const LONE_SURROGATE = /\p{Cs}/u;

/**
 * Stored key values as one text: a bigint too (past 2^53, `parseJson`), which JSON.stringify
 * refuses; the replacer only then, as a page's every row goes through here.
 */
function keyText(values: readonly unknown[]): string {
  if (!values.some((value) => typeof value === "bigint")) return JSON.stringify(values);
  return JSON.stringify(values, (_, value: unknown) => (typeof value === "bigint" ? `${value}n` : value));
}

/** `value ->> 0, value ->> 1, …`: the elements of each array of `json_each(?)`, as SQL values. */
function elements(count: number): string {
  return Array.from({ length: count }, (_, index) => `value ->> ${index}`).join(", ");
}

/** A wire row's values of `columns`, in order, as SQLite stores them (a missing value is null). */
function decoded(row: WireRow, names: readonly string[], codecs: readonly Codec[], nulls: readonly SqlValue[]): SqlValue[] {
  const values = new Array<SqlValue>(names.length);
  for (let index = 0; index < names.length; index += 1) {
    const value = row[names[index] as string] ?? null;
    values[index] = value === null ? (nulls[index] as SqlValue) : (codecs[index] as Codec).fromWire(value) as SqlValue;
  }
  return values;
}

export class SyncedTable {
  readonly meta: TableMeta;
  readonly #columns: ReadonlyMap<string, ColumnMeta>;
  readonly #keyColumns: readonly ColumnMeta[];
  readonly #replaceSql: string;
  readonly #deleteSql: string;
  readonly #where: string;
  /** The same as `#replaceSql` and `#deleteSql` over a JSON array of rows: one statement a page. */
  readonly #replaceJsonSql: string;
  readonly #deleteJsonSql: string;
  /** Wire names and codecs of every column and of the key, in column order, looked up once. */
  readonly #names: readonly string[];
  readonly #codecs: readonly Codec[];
  readonly #nulls: readonly SqlValue[];
  readonly #keyNames: readonly string[];
  readonly #keyCodecs: readonly Codec[];
  readonly #keyNulls: readonly SqlValue[];

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
    // json_each walks the array in order, so a key repeated in one page ends as its last row says.
    this.#replaceJsonSql = `INSERT OR REPLACE INTO ${table} (${columns}) SELECT ${elements(meta.columns.length)} FROM json_each(?)`;
    const keys = this.#keyColumns.map((column) => quote(column.column)).join(", ");
    const keyTuple = this.#keyColumns.length === 1 ? keys : `(${keys})`;
    this.#deleteJsonSql = `DELETE FROM ${table} WHERE ${keyTuple} IN (SELECT ${elements(this.#keyColumns.length)} FROM json_each(?))`;
    this.#names = meta.columns.map((column) => column.name);
    this.#codecs = meta.columns.map((column) => wireCodecs[column.codec]);
    this.#nulls = meta.columns.map(storedNull);
    this.#keyNames = this.#keyColumns.map((column) => column.name);
    this.#keyCodecs = this.#keyColumns.map((column) => wireCodecs[column.codec]);
    this.#keyNulls = this.#keyColumns.map(storedNull);
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

  /**
   * Pulled rows written as they are, in order (the server sends whole current rows): one statement
   * over their JSON, or one per row when a value needs a bound parameter (see `jsonOfRows`).
   */
  upsertAll(rows: readonly WireRow[]): Statement[] {
    return this.#each(rows, this.#names, this.#codecs, this.#nulls, this.#replaceSql, this.#replaceJsonSql);
  }

  /** Pulled deletes by key, the same way. */
  deleteAll(pks: readonly WireRow[]): Statement[] {
    return this.#each(pks, this.#keyNames, this.#keyCodecs, this.#keyNulls, this.#deleteSql, this.#deleteJsonSql);
  }

  #each(
    rows: readonly WireRow[],
    names: readonly string[],
    codecs: readonly Codec[],
    nulls: readonly SqlValue[],
    oneSql: string,
    jsonSql: string,
  ): Statement[] {
    const values = rows.map((row) => decoded(row, names, codecs, nulls));
    const json = jsonOfRows(values);
    return json === null ? values.map((params) => ({ sql: oneSql, params })) : [{ sql: jsonSql, params: [json] }];
  }

  /** A row's identity, comparable between a pulled key or row (wire form) and an outbox key. */
  keyOfWire(values: WireRow): string {
    return keyText(this.#keyColumns.map((column) => fromWire(column.codec, values[column.name])));
  }

  keyOfOutbox(pk: WireRow): string {
    return keyText(this.#keyColumns.map((column) => storedFromOutbox(column, pk[column.name])));
  }

  /**
   * An outbox entry's values (storage form) as they go on the wire. A column this build does not
   * have (a stale write's, see `PrunedWrite`) goes as it was stored: the server rejects the write
   * by its name.
   */
  toWire(values: WireRow): WireRow {
    return Object.fromEntries(
      Object.entries(values).map(([name, value]) => {
        const column = this.#columns.get(name);
        return [name, column === undefined ? value : toWire(column.codec, value)];
      }),
    );
  }

  /**
   * A put's values as the server is to take them: without the nulls of the columns the server fills
   * in (`serverDefault`), so a row inserted on the device without such a column gets the server's
   * value (the next sequence number, the default expression's), which the next pull brings, where
   * its null would be stored as null, or fail `NOT NULL`. A put that `moved` a row to a new key
   * (`isMove`) keeps them where the server allows null: they are the row's values. In a `NOT NULL`
   * column null only says the row was made on this device and has no value from the server yet.
   * Outbox and wire forms alike: null is null in both.
   */
  putValues(values: WireRow, moved: boolean): WireRow {
    return Object.fromEntries(
      Object.entries(values).filter(([name, value]) => {
        const column = this.#columns.get(name);
        return value !== null || column?.serverDefault !== true || (moved && column.nullable);
      }),
    );
  }

  /**
   * The statement that re-applies a pending local write on top of pulled rows, as the server will
   * apply it: put inserts or overwrites the columns it carries (those `putValues` keeps, so a pulled
   * value of a column it leaves out stays), patch updates an existing row only; null for a patch left
   * with no known column (nothing to do).
   */
  replay(op: "put" | "patch" | "delete", pk: WireRow, values: WireRow, moved = false): [string, SqlValue[]] | null {
    const table = quote(this.meta.sqliteTable);
    const keyValues = this.#keyColumns.map((column) => storedFromOutbox(column, pk[column.name]));
    if (op === "delete") return [this.#deleteSql, keyValues];
    const carried = Object.keys(op === "put" ? this.putValues(values, moved) : values).filter((name) => this.hasColumn(name)).map((name) => this.column(name));
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
