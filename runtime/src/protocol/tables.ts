import type { WireCodec } from "./codecs.ts";

/** One column of a synced table, as the generated `sync-meta.ts` describes it. */
export interface ColumnMeta {
  /** The Postgres column, as named on the wire. */
  readonly name: string;
  /** The key in the drizzle schemas. */
  readonly key: string;
  /** The SQLite column. */
  readonly column: string;
  readonly codec: WireCodec;
  readonly nullable: boolean;
  /** False for columns the server computes (generated, identity ALWAYS): the client never sends them. */
  readonly pushed: boolean;
  /**
   * True for columns the server fills in with what the client cannot make (a sequence, an identity
   * BY DEFAULT, a default expression): a put leaves out such a column's null.
   */
  readonly serverDefault?: boolean;
}

/** One synced table, as the generated `sync-meta.ts` describes it. */
export interface TableMeta {
  /** The name on the wire and in the outbox: the Postgres table, qualified outside `public`. */
  readonly name: string;
  readonly sqliteTable: string;
  readonly primaryKey: readonly string[];
  /** The SQL expression giving a row's scope key; null: visible to every authenticated user. */
  readonly scope: string | null;
  readonly columns: readonly ColumnMeta[];
}
