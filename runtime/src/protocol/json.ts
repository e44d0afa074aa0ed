/**
 * JSON text in and out of the engine: pages, push bodies, the outbox's values. Postgres' `bigint`
 * travels as a JSON number, which JSON.parse rounds to a double past 2^53: 64-bit keys (made from a
 * timestamp and a counter, as Snowflake-style id functions make them) rounded onto each other, so
 * that a device held two rows as one and wrote to a key no row has. Where JSON.parse gives its
 * reviver the source text and JSON.stringify takes raw JSON (every current browser, Node 21+,
 * workerd), such an integer is kept exact as a bigint on the way in and written as its digits on
 * the way out; elsewhere it is the nearest double, as it always was.
 */

/** What JSON.parse gives a reviver besides the key and value, where it gives the source text. */
export interface ReviverContext {
  readonly source?: string;
}

type RawJson = (text: string) => unknown;
/** `JSON.rawJSON`, which makes a value JSON.stringify writes as the text given. */
export const rawJson = (JSON as unknown as { rawJSON?: RawJson }).rawJSON;

/**
 * An integer literal of 16 digits or more, which a double may not hold, right after a separator (so
 * not a fraction's digits): both hosts and SQLite's JSON functions write JSON without spaces. A
 * scan of a 5,000-row page takes about a quarter of its JSON.parse; matched inside a string, it
 * only costs the slower parse below.
 */
const LONG_INTEGER = /[:,[]-?\d{16}/;
/** A JSON number written as an integer: no point, no exponent. */
export const INTEGER_LITERAL = /^-?\d+$/;

/** Parsed, an integer a double cannot hold as a bigint (only where it can be written back exactly). */
function exactInteger(_key: string, value: unknown, context?: ReviverContext): unknown {
  const source = context?.source;
  if (typeof value !== "number" || Number.isSafeInteger(value) || source === undefined) return value;
  return INTEGER_LITERAL.test(source) ? BigInt(source) : value;
}

/**
 * JSON text as its value, integers past 2^53 as bigints where the platform keeps them exact. A
 * reviver recurses where JSON.parse alone does not: a value nested some thousands deep (which
 * jsonb holds) overflows the stack with it, and is parsed without, its long integers rounded.
 */
export function parseJson(text: string): unknown {
  if (rawJson === undefined || !LONG_INTEGER.test(text)) return JSON.parse(text);
  try {
    return JSON.parse(text, exactInteger);
  } catch (error) {
    if (!(error instanceof RangeError)) throw error;
    return JSON.parse(text);
  }
}

/**
 * The JSON text of a plain JSON value (a pulled row's, a request body); a bigint (`parseJson`'s)
 * is written as its digits. `JSON.stringify` recurses, and throws a RangeError ("Maximum call
 * stack size exceeded") on a value nested a few thousand levels deep (under 5,000 in Node 22),
 * which Postgres holds (jsonb nests some 10,000 deep): the pulled row failed its page, every pull
 * after it, and every bootstrap of its table. Such a value is written out with a stack of its
 * own, in the order `JSON.stringify` writes it, to the same text: an `undefined` property left
 * out, an `undefined` element as null.
 */
export function jsonText(value: unknown): string {
  try {
    return JSON.stringify(value);
  } catch (error) {
    const raw = rawJson;
    if (error instanceof TypeError && raw !== undefined) {
      try {
        // A bigint's TypeError; one left (a cycle) is thrown again, a deep value goes on below.
        return JSON.stringify(value, (_key, item: unknown) => (typeof item === "bigint" ? raw(String(item)) : item));
      } catch (again) {
        if (!(again instanceof RangeError)) throw again;
      }
    } else if (!(error instanceof RangeError)) {
      throw error;
    }
  }
  const parts: string[] = [];
  // Work left to do, the next piece last: a value to write out, or text to append as it is.
  const work: ({ text: string } | { value: unknown })[] = [{ value }];
  for (let item = work.pop(); item !== undefined; item = work.pop()) {
    if ("text" in item) {
      parts.push(item.text);
      continue;
    }
    const next = item.value;
    if (next === null || typeof next !== "object") {
      parts.push(typeof next === "bigint" ? String(next) : JSON.stringify(next));
      continue;
    }
    const entries: [string | null, unknown][] = Array.isArray(next)
      ? next.map((element: unknown) => [null, element ?? null])
      : Object.entries(next).filter(([, element]) => element !== undefined);
    const [open, close] = Array.isArray(next) ? ["[", "]"] : ["{", "}"];
    work.push({ text: close });
    for (let index = entries.length - 1; index >= 0; index -= 1) {
      const [key, element] = entries[index] as [string | null, unknown];
      work.push({ value: element });
      if (key !== null) work.push({ text: `${JSON.stringify(key)}:` });
      if (index > 0) work.push({ text: "," });
    }
    work.push({ text: open });
  }
  return parts.join("");
}
