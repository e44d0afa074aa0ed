/**
 * How a column travels between the SQLite store and the wire. The wire form
 * is mostly what Postgres' `to_jsonb` gives and `jsonb_populate_record` takes;
 * numerics go as text, point and line as objects. The code generator picks a
 * codec per column (`sync-meta.ts`); this module is the only implementation.
 */
import { jsonText, parseJson } from "./json.ts";

export type WireCodec =
  | "int" // integer ↔ number
  | "float" // real ↔ number; NaN and ±Infinity as the strings "NaN", "Infinity", "-Infinity"
  | "text" // text ↔ string (a number is taken as its text)
  | "bool" // 0/1 ↔ boolean
  | "json" // JSON text ↔ JSON value
  | "timestamp" // epoch milliseconds ↔ ISO 8601 string (UTC when it names no zone); ±8.64e15 ↔ "±infinity"
  | "bytes"; // blob ↔ Postgres hex string "\\x00ff" (bare hex in the outbox)

export interface Codec {
  /** A wire value (not null) as SQLite stores it. */
  fromWire(value: unknown): unknown;
  /**
   * A stored value, or its outbox form, (not null) as it goes on the wire. Never throws: a pending
   * write queued before a migration changed its column's type holds a value of the old type (a
   * text where JSON is now stored, a date's text where a timestamp's milliseconds are), and one
   * that cannot be converted goes as it is, for the server to take (Postgres reads a date's text
   * as a timestamp, text as a JSON string) or refuse by name, rather than failing every push.
   */
  toWire(value: unknown): unknown;
}

const zoned = /(?:[zZ]|[+-]\d\d(?::?\d\d)?)$/;

/**
 * The last instant a Date holds (+275760-09-13): Postgres' `infinity` is stored as it, and
 * `-infinity` as its negative. A later Postgres timestamp (its range ends in 294276) is
 * stored as it too, the nearest a Date comes.
 */
const LATEST = 8.64e15;

function timeOf(text: string): number {
  if (text === "infinity" || text === "-infinity") {
    return text === "infinity" ? LATEST : -LATEST;
  }
  const time = Date.parse(zoned.test(text) ? text : `${text}Z`);
  return Number.isNaN(time) && text.startsWith("+") ? LATEST : time;
}

function isoOf(time: number): string {
  return time >= LATEST ? "infinity" : time <= -LATEST ? "-infinity" : new Date(time).toISOString();
}

/** JSON text as its value; other text (queued while the column held text) as a JSON string. */
function jsonOf(value: unknown): unknown {
  if (typeof value !== "string") return value;
  try {
    return parseJson(value);
  } catch {
    return value;
  }
}

const INTEGER_TEXT = /^\s*[+-]?\d+\s*$/;
const DECIMAL_TEXT = /^\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\s*$/;

/**
 * A number's text, queued while the column held text, as the number: the server takes only JSON
 * numbers for a number column, and refused the write that the revision's own cast
 * (`USING code::integer`) would have taken. Other values go as they are; so does a text whose
 * number JavaScript cannot hold exactly as an integer, or at all, for the server to refuse by name.
 */
function numberOf(value: unknown, text: RegExp, holds: (number: number) => boolean): unknown {
  if (typeof value !== "string" || !text.test(value)) return value;
  const number = Number(value);
  return holds(number) ? number : value;
}

/**
 * int64's ends. Where JSON.parse cannot keep it exact (`parseJson`), a pulled `bigint` past ±2^53
 * arrives as the nearest double, and near int64's ends (its largest value, a common "never"
 * sentinel, among them) that double is ±2^63, past what a SQLite INTEGER holds: a STRICT table
 * refused the row, and with it the page, on every pull. It is stored as the end it rounded to, a
 * bigint, so 2^63 − 1 and −2^63 themselves are stored exactly.
 */
const INT64_MAX = 2n ** 63n - 1n;
const INT64_MIN = -(2n ** 63n);

function int64Of(value: unknown): unknown {
  if (typeof value !== "number" || Math.abs(value) < 2 ** 63) return value;
  return value > 0 ? INT64_MAX : INT64_MIN;
}

/** Postgres' spellings of a boolean (its `boolin`, prefixes aside), lower case. */
const BOOLEAN_TEXT: ReadonlyMap<string, boolean> = new Map([
  ...["t", "true", "y", "yes", "on", "1"].map((text) => [text, true] as const),
  ...["f", "false", "n", "no", "off", "0"].map((text) => [text, false] as const),
]);

/**
 * A stored 0/1 as a boolean. Another value was queued while the column held something else, and
 * goes as Postgres casts it (`2::boolean`, `'true'::boolean`), or as it is for the server to refuse
 * by name: taken for false, a pending `'true'` or `2` was stored as false without a word.
 */
function booleanOf(value: unknown): unknown {
  if (typeof value === "number") return value !== 0;
  if (typeof value === "bigint") return value !== 0n;
  if (typeof value === "string") return BOOLEAN_TEXT.get(value.trim().toLowerCase()) ?? value;
  return value;
}

function hexOf(bytes: Uint8Array): string {
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

function bytesOf(hex: string): Uint8Array {
  return Uint8Array.from(hex.match(/../g) ?? [], (pair) => parseInt(pair, 16));
}

export const wireCodecs: { readonly [C in WireCodec]: Codec } = {
  int: { fromWire: int64Of, toWire: (value) => numberOf(value, INTEGER_TEXT, Number.isSafeInteger) },
  float: {
    // A bigint only if a float came as a long integer literal (`parseJson`), which Postgres never writes.
    fromWire: (value) => (typeof value === "string" || typeof value === "bigint" ? Number(value) : value),
    toWire: (value) => (typeof value === "number" && !Number.isFinite(value) ? String(value) : numberOf(value, DECIMAL_TEXT, Number.isFinite)),
  },
  text: {
    fromWire: (value) => (typeof value === "string" ? value : String(value)),
    // A number is a value queued while the column held numbers (a migration made it text).
    toWire: (value) => (typeof value === "number" || typeof value === "bigint" ? String(value) : value),
  },
  bool: { fromWire: (value) => (value ? 1 : 0), toWire: booleanOf },
  json: { fromWire: (value) => jsonText(value), toWire: (value): unknown => jsonOf(value) },
  timestamp: {
    // A timestamp without a zone means UTC, not the client's local time. Years outside
    // 0-9999 travel in the extended form toISOString writes (+010000-01-01T00:00:00.000Z).
    fromWire: (value) => timeOf(String(value)),
    // A string is a value queued while the column held text (a date, say): Postgres reads it.
    toWire: (value) => (typeof value === "string" || Number.isNaN(Number(value)) ? value : isoOf(Number(value))),
  },
  bytes: {
    fromWire: (value) => bytesOf(String(value).slice(2)),
    // The outbox triggers store blobs as bare hex (SQLite's hex() is upper case).
    toWire: (value) => `\\x${typeof value === "string" ? value.toLowerCase() : hexOf(value as Uint8Array)}`,
  },
};

/** A wire value as SQLite stores it (null stays null). */
export function fromWire(codec: WireCodec, value: unknown): unknown {
  return value === null ? null : wireCodecs[codec].fromWire(value);
}

/** A stored or outbox value as it goes on the wire (null stays null). */
export function toWire(codec: WireCodec, value: unknown): unknown {
  return value === null ? null : wireCodecs[codec].toWire(value);
}
