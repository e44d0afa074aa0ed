/**
 * Push and pull requests checked before anything reaches the database, as the Python host
 * checks them: the contract's schemas, then what JSON Schema cannot say (strings Postgres
 * cannot store, numbers JSON cannot carry, ids increasing and each `tx` adjacent within a
 * batch) and this server's limits. Garbage costs no round trip.
 */
import { PROTOCOL, requestSchemas, syncError, SyncError } from "./contract.ts";
import { INTEGER_LITERAL, rawJson, type ReviverContext } from "../protocol/json.ts";
import type { Identity } from "./identity.ts";
import defaults from "../../protocol/limits.json" with { type: "json" };
import type { Limits } from "./limits.ts";
import { RequestSchema, fieldPath } from "./violation.ts";

export interface PushCall {
  readonly schemaVersion: number;
  readonly clientId: string;
  /** The mutations as the database function takes them (JSON text). */
  readonly mutations: string;
}

export interface PullCall {
  readonly schemaVersion: number;
  readonly clientId: string;
  readonly cursor: string | null;
  readonly limit: number;
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Mutation = Record<string, Json> & { id: number; tx: number | string };

const PUSH = new RequestSchema(requestSchemas.push);
const PULL = new RequestSchema(requestSchemas.pull);
/** Extras some codes carry: a client on another protocol learns which one this server speaks. */
const EXTRA: Readonly<Record<string, Record<string, unknown>>> = {
  protocol_unsupported: { supported: PROTOCOL },
};
// A leading byte-order mark is dropped, as Python's json drops it; bytes that are not UTF-8 are malformed.
const UTF8 = new TextDecoder("utf-8", { fatal: true });
const LONE_SURROGATE = /\p{Cs}/u;
// Strings match whole first, so that a NaN inside one is left alone.
const NON_FINITE_OUTSIDE_STRINGS = /"(?:[^"\\]|\\.)*"|-?Infinity|-?NaN/gs;

function invalid(code: string, message: string, path?: string): SyncError {
  return syncError(code, message, path);
}

export function parseJson(body: Uint8Array): Json {
  return readJson(body).payload;
}

/** The checked request body, and its text, which a push's mutations are taken from exactly. */
export function readJson(body: Uint8Array): { readonly payload: Json; readonly text: string } {
  let payload: Json;
  let text: string;
  try {
    text = UTF8.decode(body);
    payload = parseWithNonFinite(text);
  } catch {
    throw invalid("malformed_json", "the request body is not valid JSON");
  }
  const sourced = MAY_BE_UNSTORABLE.test(text) || MAY_OVERFLOW.test(text);
  checkStorable(sourced ? (readBySource(text) ?? payload) : payload);
  return { payload, text };
}

/**
 * What Postgres's numeric, and so jsonb, holds (`protocol/limits.json`): digits after and before
 * the point, and the exponent it reads (it refuses `0e1073741823`, though that is zero).
 */
const { maxNumberScale: MAX_NUMBER_SCALE, maxNumberDigits: MAX_NUMBER_DIGITS, maxNumberExponent: MAX_NUMBER_EXPONENT } = defaults;
/**
 * How deep arrays and objects may nest in a body or in claims (`protocol/limits.json`): Postgres
 * fails a whole statement on a value nested some 20,000 deep (a 500), and the Python host's parser
 * gives up some 900 down.
 */
const MAX_DEPTH = defaults.maxDepth;
/**
 * A body that may hold a number jsonb cannot hold though JSON.parse reads it (`1e-16384`, made 0;
 * `0e1073741823`, 0): only then is it read again. A number without an exponent of -1000 or less,
 * nor one of ten digits, nor 1,000 digits after its point, is within the limits.
 */
const MAY_BE_UNSTORABLE = /[eE]-0*\d{4}|[eE]\+?0*\d{10}|\.\d{1000}/;
/** What such a number is read as, with why, for `checkStorable` to refuse at its path. */
class Unstorable {
  readonly message: string;

  constructor(message: string) {
    this.message = message;
  }
}
/**
 * A body that may hold an integer past a double's range, which JSON.parse makes ±Infinity though
 * it is finite, and exact in a numeric column up to its digit limit (the Python host takes it):
 * only then is it read again.
 */
const MAY_OVERFLOW = /\d{309}/;

/**
 * The body read again with each number's source text at hand: one jsonb cannot hold is
 * `Unstorable`, and a whole number past a double's range the largest double of its sign, for
 * `checkStorable` to pass. The request takes its mutations from the body's text, exactly.
 */
function readBySource(text: string): Json | undefined {
  try {
    return JSON.parse(text, (_key: string, value: unknown, context?: ReviverContext) => {
      if (typeof value !== "number" || context?.source === undefined) return value;
      const refusal = unstorable(context.source);
      if (refusal !== undefined) return new Unstorable(refusal);
      if (!Number.isFinite(value) && INTEGER_LITERAL.test(context.source)) return Math.sign(value) * Number.MAX_VALUE;
      return value;
    }) as Json;
  } catch {
    return undefined; // NaN or Infinity as bare words: refused as not finite
  }
}

/** Why jsonb cannot hold the number written `source`, if it cannot. */
function unstorable(source: string): string | undefined {
  const [mantissa = "", written = "0"] = source.toLowerCase().split("e");
  const exponent = Number(written);
  if (exponent > MAX_NUMBER_EXPONENT) return `numbers may have an exponent of at most ${MAX_NUMBER_EXPONENT}`;
  if ((mantissa.split(".")[1] ?? "").length - exponent > MAX_NUMBER_SCALE) {
    return `numbers may have at most ${MAX_NUMBER_SCALE} digits after the point`;
  }
  if (INTEGER_LITERAL.test(source) && source.replace("-", "").length > MAX_NUMBER_DIGITS) {
    return `numbers may have at most ${MAX_NUMBER_DIGITS} digits before the point`;
  }
  return undefined;
}

/** A number JSON.parse may round: a fraction, an exponent, or more digits than a double holds. */
const MAY_ROUND = /\d[.eE]|\d{16}/;

/** Throws unless this runtime can pass numbers on exactly; the handler checks it when it is made. */
export function checkExactNumbers(): void {
  if (rawJson === undefined) {
    throw new TypeError("drizzlesync: this runtime lacks JSON.rawJSON (Node 21+, workerd): pushed numbers would be rounded");
  }
}

/** The highest mutation id the protocol allows (a Postgres bigint), which the schema's double cannot say. */
const LAST_MUTATION_ID = 2n ** 63n - 1n;

/**
 * The mutations as written: JSON.parse makes numbers doubles (`1.00499999999999999999` becomes
 * 1.005, the id 9007199254740993 becomes 9007199254740992), so a body that may hold such a
 * number is read again keeping each number's source text (jsonb stores numbers exactly).
 * Undefined when every number is short enough to be a double exactly.
 */
function exactMutations(text: string | undefined): Record<string, unknown>[] | undefined {
  if (text === undefined || rawJson === undefined || !MAY_ROUND.test(text)) {
    return undefined;
  }
  const raw = rawJson;
  return (
    JSON.parse(text, (_key: string, value: unknown, context?: ReviverContext) =>
      typeof value === "number" && context?.source !== undefined && context.source !== String(value)
        ? raw(context.source)
        : value,
    ) as { mutations: Record<string, unknown>[] }
  ).mutations;
}

/**
 * An integer the schema accepted, exactly: from its source digits when JSON.parse rounded it,
 * else from the double (`1.0` and `1e2` are the integers they equal, as in Python).
 */
function exactInteger(exact: unknown, rounded: number): bigint {
  const source = (exact as { rawJSON?: unknown } | null)?.rawJSON;
  return typeof source === "string" && INTEGER_LITERAL.test(source) ? BigInt(source) : BigInt(rounded);
}

/** A mutation's id and tx as the checks compare them and the database receives them. */
interface MutationIds {
  readonly id: bigint;
  readonly tx: bigint | string;
}

function exactIds(mutations: readonly Mutation[], exact: Record<string, unknown>[] | undefined): MutationIds[] {
  return mutations.map((mutation, index) => {
    const written = exact?.[index];
    if (written === undefined && !Number.isSafeInteger(mutation.id)) {
      // No source text to read it from (a caller without the body): a rounded id must not reach the database.
      throw invalid("out_of_range", "mutation ids above 2^53 need the request's text", `mutations[${index}].id`);
    }
    const { id, tx } = mutation;
    return {
      id: exactInteger(written?.id, id),
      tx: typeof tx === "string" ? tx : exactInteger(written?.tx, tx),
    };
  });
}

/** The mutations as the database function takes them (JSON text), with the ids and tx the checks read. */
function mutationsJson(
  checked: readonly Mutation[],
  exact: Record<string, unknown>[] | undefined,
  ids: readonly MutationIds[],
): string {
  if (exact === undefined || rawJson === undefined) {
    return JSON.stringify(checked);
  }
  const raw = rawJson;
  exact.forEach((mutation, index) => {
    const { id, tx } = ids[index] as MutationIds;
    mutation.id = raw(id.toString());
    mutation.tx = typeof tx === "string" ? tx : raw(tx.toString());
  });
  return JSON.stringify(exact);
}

/**
 * JSON.parse, also reading what Python's json (and so the Python host) reads: `NaN`,
 * `Infinity` and `-Infinity` as bare words, so that they are refused as `invalid_number` at
 * their path, not as malformed JSON. Only a body JSON.parse refused is looked at twice.
 */
function parseWithNonFinite(text: string): Json {
  try {
    return JSON.parse(text) as Json;
  } catch (error) {
    const numeric = text.replace(NON_FINITE_OUTSIDE_STRINGS, (token) =>
      token.startsWith('"') || token === "-NaN" ? token : "1e999",
    );
    if (numeric === text) {
      throw error;
    }
    return JSON.parse(numeric) as Json;
  }
}

/**
 * 401 for an identity the database cannot take: a NUL or an unpaired surrogate in the user id or
 * a claim (a signed token may carry any text a user could edit, a display name say). Checked
 * before the query, which would otherwise fail with a 500 on every request of that user.
 */
export function checkIdentity(identity: Identity): void {
  try {
    checkText(identity.userId, ["user_id"]);
    checkStorable(identity.claims as Json, ["claims"]);
  } catch (error) {
    if (!(error instanceof SyncError)) {
      throw error;
    }
    const where = error.path ? `${error.path}: ` : "";
    throw syncError("unauthenticated", `the identity cannot be stored: ${where}${error.message}`);
  }
}

/** NUL characters, lone surrogates and infinities (`1e999`) would surface as driver errors, not 400s. */
function checkStorable(payload: Json, root: (string | number)[] = []): void {
  // A stack of its own (a deeply nested body must not overflow the isolate's), visited in
  // document order: an object's key before its value, as the Python host walks it. Each value's
  // place is a link to its parent's, spelled out only for an error: a path copied at every level
  // made a body nested 200,000 deep cost a minute of CPU.
  const base = root.reduce<Place | null>((parent, step) => ({ step, parent }), null);
  const pending: Pending[] = [{ value: payload, place: base, depth: 1 }];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const { value, place, depth } = next;
    if (value instanceof Unstorable) {
      throw invalid("invalid_number", value.message, fieldPath(stepsTo(place)));
    }
    if (depth > MAX_DEPTH && value !== null && typeof value === "object") {
      const message = `arrays and objects may nest at most ${MAX_DEPTH} levels`;
      throw invalid("nesting_too_deep", message, fieldPath(stepsTo(place)));
    }
    if (typeof value === "string") {
      checkText(value, stepsTo(next.key ? (place?.parent ?? null) : place));
    } else if (typeof value === "number" && !Number.isFinite(value)) {
      throw invalid("invalid_number", "numbers must be finite", fieldPath(stepsTo(place)));
    } else if (Array.isArray(value)) {
      for (let index = value.length - 1; index >= 0; index--) {
        pending.push({ value: value[index] as Json, place: { step: index, parent: place }, depth: depth + 1 });
      }
    } else if (value !== null && typeof value === "object") {
      for (const [key, item] of Object.entries(value).reverse()) {
        const at = { step: key, parent: place };
        pending.push({ value: item, place: at, depth: depth + 1 }, { value: key, place: at, depth, key: true });
      }
    }
  }
}

/** Where a value sits: its step from its parent's place (null: the payload itself). */
interface Place {
  readonly step: string | number;
  readonly parent: Place | null;
}

/** The steps from the payload to `place`. */
function stepsTo(place: Place | null): (string | number)[] {
  const steps: (string | number)[] = [];
  for (let at = place; at !== null; at = at.parent) steps.push(at.step);
  return steps.reverse();
}

/**
 * A value to check, where it sits and how deep (the payload: 1); `key`: the value is its place's
 * name, reported at its object.
 */
interface Pending {
  readonly value: Json;
  readonly place: Place | null;
  readonly depth: number;
  readonly key?: true;
}

function checkText(text: string, steps: (string | number)[]): void {
  if (text.includes("\0")) {
    throw invalid("invalid_string", "strings must not contain NUL characters", fieldPath(steps));
  }
  if (LONE_SURROGATE.test(text)) {
    throw invalid("invalid_string", "strings must be valid Unicode", fieldPath(steps));
  }
}

function checkShape(schema: RequestSchema, payload: Json): void {
  const violation = schema.violation(payload);
  if (violation !== undefined) {
    throw syncError(violation.code, violation.message, violation.path, EXTRA[violation.code]);
  }
}

/** `text`: the body `payload` was read from (`readJson`), for its numbers' exact digits. */
export function parsePush(payload: Json, limits: Limits, text?: string): PushCall {
  const mutations = isObject(payload) ? payload.mutations : undefined;
  if (Array.isArray(mutations) && mutations.length > limits.maxMutations) {
    throw syncError("batch_too_large", `at most ${limits.maxMutations} mutations per push`, "mutations", {
      maxMutations: limits.maxMutations,
    });
  }
  checkShape(PUSH, payload);
  const request = payload as { schemaVersion: number; clientId: string; mutations: Mutation[] };
  const exact = exactMutations(text);
  const ids = exactIds(request.mutations, exact);
  checkOrder(ids);
  return {
    schemaVersion: request.schemaVersion,
    clientId: request.clientId,
    mutations: mutationsJson(request.mutations, exact, ids),
  };
}

/** Ids strictly increase, up to a bigint; the mutations of one `tx` are adjacent, as they apply together. */
function checkOrder(ids: readonly MutationIds[]): void {
  const seenTx = new Set<string>();
  ids.forEach((mutation, index) => {
    const path = `mutations[${index}].id`;
    if (mutation.id > LAST_MUTATION_ID) {
      // The schema's maximum, read as a double, lets 2^63 itself through.
      throw invalid("out_of_range", `expected an integer from 1 to ${LAST_MUTATION_ID}`, path);
    }
    const before = ids[index - 1];
    if (before === undefined) {
      return;
    }
    if (mutation.id === before.id) {
      throw invalid("duplicate_mutation_id", `mutation id ${mutation.id} appears twice`, path);
    }
    if (mutation.id < before.id) {
      throw invalid("unordered_mutation_ids", "mutation ids must increase within a push", path);
    }
    if (mutation.tx !== before.tx) {
      seenTx.add(txKey(before.tx));
      if (seenTx.has(txKey(mutation.tx))) {
        throw invalid(
          "tx_not_contiguous",
          "the mutations of one transaction must be adjacent",
          `mutations[${index}].tx`,
        );
      }
    }
  });
}

/** `tx` 1 and `tx` "1" are different transactions. */
function txKey(tx: bigint | string): string {
  return `${typeof tx}:${tx}`;
}

export function parsePull(payload: Json, limits: Limits): PullCall {
  checkShape(PULL, payload);
  const request = payload as {
    schemaVersion: number;
    clientId: string;
    cursor?: string | null;
    limit?: number;
  };
  const limit = request.limit ?? limits.maxChanges;
  if (limit > limits.maxChanges) {
    throw invalid("out_of_range", `expected an integer from 1 to ${limits.maxChanges}`, "limit");
  }
  return {
    schemaVersion: request.schemaVersion,
    clientId: request.clientId,
    cursor: request.cursor ?? null,
    limit,
  };
}

function isObject(value: Json): value is { [key: string]: Json } {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}
