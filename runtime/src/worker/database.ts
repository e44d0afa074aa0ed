/**
 * The one SQL call a request makes, through Hyperdrive with postgres.js, and the database's
 * errors in protocol terms, as the Python host maps them: DZ<status> errors raised by the
 * protocol functions verbatim (their DETAIL holds the code, path and extras), transient ones
 * (the SQLSTATEs `protocol/errors.json` calls transient, or a connection lost or never made)
 * as 503 so that the client retries, those saying the database lacks what the functions name
 * (a table renamed by hand, the migrations not run) as 503 too, logged for the operator whose
 * fix ends them, anything else re-thrown as the bug it is.
 *
 * Each call goes out as one simple query, its values written in as literals, as the Python host
 * sends it: one round trip. With parameters, postgres.js asks the server to describe a statement
 * it has not prepared on this connection (every connection is new) before it binds the values,
 * and a transaction takes its BEGIN and COMMIT as round trips of their own: four round trips for
 * a pull, two for a push, each one to the database behind Hyperdrive's pool.
 */
import postgres from "postgres";

import { isMisconfiguration, isTransient, MISCONFIGURED_MESSAGE, SyncError, syncError } from "./contract.ts";
import type { Identity } from "./identity.ts";
import type { PullCall, PushCall } from "./request.ts";

/** What `[[hyperdrive]]` binds in the Worker's env. */
export interface HyperdriveBinding {
  readonly connectionString: string;
}

export interface DatabaseOptions {
  /** The library schema the migrations installed the protocol functions in (default `drizzlesync`). */
  readonly librarySchema?: string;
}

// The library schema is spliced into SQL text, so it is kept to plain lower-case words.
const IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/;

/** The text of each request's one query. */
export interface Statements {
  /** A push, one statement in autocommit (READ COMMITTED): concurrent pushes apply in arrival order. */
  push(identity: Identity, call: PushCall): string;
  /** A pull in a REPEATABLE READ transaction, so that every statement of the function sees one snapshot. */
  pull(identity: Identity, call: PullCall): string;
}

/**
 * `value` as an SQL string literal, as libpq's PQescapeLiteral writes one: quotes doubled, and a
 * value with a backslash written as an E'' literal with its backslashes doubled, which reads the
 * same whatever the server's standard_conforming_strings says. A NUL cannot travel in a query's
 * text: the request checks refuse one first, and this refuses it again rather than cut the text.
 */
export function literal(value: string): string {
  if (value.includes("\0")) {
    throw syncError("invalid_string", "strings must not contain NUL characters");
  }
  const quoted = value.replaceAll("'", "''");
  return value.includes("\\") ? `E'${quoted.replaceAll("\\", "\\\\")}'` : `'${quoted}'`;
}

function integer(value: number): string {
  if (!Number.isSafeInteger(value)) {
    throw new TypeError(`expected an integer, got ${value}`);
  }
  return String(value);
}

/**
 * The two statements, made once per handler. The functions resolve the user's scope keys
 * themselves (`user_scopes(user_id, claims)`, made from the project's `user_scopes_query` by its
 * migrations), in their own snapshot: the Worker keeps no scope logic of its own.
 */
export function statements(options: DatabaseOptions): Statements {
  const schema = options.librarySchema ?? "drizzlesync";
  if (!IDENTIFIER.test(schema)) {
    throw new TypeError(
      `librarySchema: expected a plain lower-case identifier, got ${JSON.stringify(schema)}`,
    );
  }
  // Claims and mutations travel as text cast to jsonb, as the Python host sends them.
  const call = (
    name: string,
    identity: Identity,
    clientId: string,
    schemaVersion: number,
    rest: string,
  ): string =>
    `SELECT CAST(${schema}.${name}(CAST(${literal(identity.userId)} AS text), ` +
    `CAST(${literal(JSON.stringify(identity.claims))} AS jsonb), CAST(${literal(clientId)} AS text), ` +
    `CAST(${integer(schemaVersion)} AS integer), ${rest}) AS text) AS result`;
  return {
    push: (identity, c) =>
      call("push", identity, c.clientId, c.schemaVersion, `CAST(${literal(c.mutations)} AS jsonb)`),
    pull: (identity, c) => {
      const cursor = c.cursor === null ? "NULL" : literal(c.cursor);
      const page = `CAST(${cursor} AS text), CAST(${integer(c.limit)} AS integer)`;
      return `BEGIN ISOLATION LEVEL REPEATABLE READ; ${call("pull", identity, c.clientId, c.schemaVersion, page)}; COMMIT`;
    },
  };
}

/**
 * Runs `text` on a connection for this request only (a Worker may not reuse a socket across
 * requests; Hyperdrive pools) and returns the call's `result`. In a `transaction`, a failed
 * statement leaves it open and aborted: it is rolled back before the connection goes, so that the
 * pool behind it gets its connection back clean.
 */
async function run(
  binding: HyperdriveBinding,
  waitUntil: (promise: Promise<unknown>) => void,
  text: string,
  transaction: boolean,
): Promise<string> {
  const sql = postgres(binding.connectionString, { max: 1, fetch_types: false, onnotice: () => undefined });
  let results: readonly (Row | readonly Row[])[];
  try {
    // One statement answers its rows; several (BEGIN; SELECT; COMMIT), a list of each one's.
    results = await sql.unsafe(text);
  } catch (error) {
    if (transaction && error instanceof postgres.PostgresError) {
      await sql.unsafe("ROLLBACK").catch(() => undefined);
    }
    throw databaseError(error);
  } finally {
    waitUntil(sql.end());
  }
  const row = results.flat().find((candidate) => typeof candidate.result === "string");
  if (row === undefined) {
    throw new Error("the protocol function returned no row");
  }
  return row.result as string;
}

type Row = Readonly<Record<string, unknown>>;

/** Applies a batch (`Statements.push`). */
export function push(
  binding: HyperdriveBinding,
  waitUntil: (promise: Promise<unknown>) => void,
  text: Statements,
  identity: Identity,
  call: PushCall,
): Promise<string> {
  return run(binding, waitUntil, text.push(identity, call), false);
}

/** Reads a page (`Statements.pull`). */
export function pull(
  binding: HyperdriveBinding,
  waitUntil: (promise: Promise<unknown>) => void,
  text: Statements,
  identity: Identity,
  call: PullCall,
): Promise<string> {
  return run(binding, waitUntil, text.pull(identity, call), true);
}

/**
 * 503 `temporarily_unavailable`, its cause logged as the Python host logs it: a client retries a
 * 503 without a word, so without a line an operator would not see statement timeouts or a database
 * that went away. The primary message only (postgres.js's `message`): a DETAIL may quote a row.
 */
function unavailable(cause: string): SyncError {
  console.warn(`drizzlesync: answered 503, retry later: ${cause}`);
  return syncError("temporarily_unavailable", "the database is busy or unreachable; retry");
}

function databaseError(error: unknown): unknown {
  if (!(error instanceof postgres.PostgresError)) {
    // A connection lost or never made: postgres.js's own errors carry a code (CONNECTION_CLOSED,
    // ECONNREFUSED, ...), the Workers runtime's socket errors are plain Errors without one
    // (`connection attempt failed`, `Network connection lost.`). A TypeError and the like is a bug.
    return error instanceof Error && ("code" in error || Object.getPrototypeOf(error) === Error.prototype)
      ? unavailable(error.message.split("\n")[0] || error.name)
      : error;
  }
  const state = error.code;
  if (/^DZ\d+$/.test(state)) {
    const { code, path, ...extra } = JSON.parse(error.detail ?? "{}") as {
      code?: string;
      path?: string;
    } & Record<string, unknown>;
    return new SyncError(
      Number(state.slice(2)),
      code ?? "rejected",
      error.message || (code ?? "rejected"),
      path,
      extra,
    );
  }
  if (isTransient(state)) {
    return unavailable(`${error.message} (SQLSTATE ${state})`);
  }
  if (isMisconfiguration(state)) {
    // Not the request's fault, nor a passing one: the operator must hear of it, and the client
    // keeps its writes and retries until the database is put right.
    console.error(`drizzlesync: the database does not match its sync setup: ${error.message} (SQLSTATE ${state})`);
    return syncError("server_misconfigured", MISCONFIGURED_MESSAGE);
  }
  return error;
}
