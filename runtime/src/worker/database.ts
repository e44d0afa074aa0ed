/**
 * The one SQL call a request makes, through Hyperdrive with postgres.js, and the database's
 * errors in protocol terms, as the Python host maps them: DZ<status> errors raised by the
 * protocol functions verbatim (their DETAIL holds the code, path and extras), transient ones
 * (the SQLSTATEs `protocol/errors.json` calls transient, or a connection lost or never made)
 * as 503 so that the client retries, anything else re-thrown as the bug it is: a permanent
 * failure retried would fail forever.
 */
import postgres from "postgres";

import { isTransient, SyncError, syncError } from "./contract.ts";
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

export interface Statements {
  readonly push: string;
  readonly pull: string;
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
  // Claims and mutations travel as text: typed jsonb, postgres.js would encode the JSON string once more.
  const call = (name: string, rest: string): string =>
    `SELECT CAST(${schema}.${name}($1::text, CAST($2::text AS jsonb), $3::text, $4::integer, ${rest}) AS text) AS result`;
  return { push: call("push", "CAST($5::text AS jsonb)"), pull: call("pull", "$5::text, $6::integer") };
}

type Runner = (sql: postgres.Sql) => Promise<readonly { result: string }[]>;

/** A connection for this request only: a Worker may not reuse a socket across requests; Hyperdrive pools. */
async function run(
  binding: HyperdriveBinding,
  waitUntil: (promise: Promise<unknown>) => void,
  runner: Runner,
): Promise<string> {
  const sql = postgres(binding.connectionString, { max: 1, fetch_types: false, onnotice: () => undefined });
  try {
    const [row] = await runner(sql);
    if (row === undefined) {
      throw new Error("the protocol function returned no row");
    }
    return row.result;
  } catch (error) {
    throw databaseError(error);
  } finally {
    waitUntil(sql.end());
  }
}

/** Applies a batch; READ COMMITTED (one statement, no transaction block) so that concurrent pushes apply in arrival order. */
export function push(
  binding: HyperdriveBinding,
  waitUntil: (promise: Promise<unknown>) => void,
  text: Statements,
  identity: Identity,
  call: PushCall,
): Promise<string> {
  return run(binding, waitUntil, (sql) =>
    sql.unsafe(text.push, [
      identity.userId,
      JSON.stringify(identity.claims),
      call.clientId,
      call.schemaVersion,
      call.mutations,
    ]),
  );
}

/** Reads a page; REPEATABLE READ so that every statement of the pull function sees one snapshot. */
export function pull(
  binding: HyperdriveBinding,
  waitUntil: (promise: Promise<unknown>) => void,
  text: Statements,
  identity: Identity,
  call: PullCall,
): Promise<string> {
  return run(binding, waitUntil, (sql) =>
    sql.begin("isolation level repeatable read", (tx) =>
      tx.unsafe<{ result: string }[]>(text.pull, [
        identity.userId,
        JSON.stringify(identity.claims),
        call.clientId,
        call.schemaVersion,
        call.cursor,
        call.limit,
      ]),
    ),
  );
}

function databaseError(error: unknown): unknown {
  if (!(error instanceof postgres.PostgresError)) {
    // postgres.js throws plain errors (CONNECTION_CLOSED, ECONNREFUSED, ...) for a connection it lost or never got.
    return error instanceof Error && "code" in error
      ? syncError("temporarily_unavailable", "the database is busy or unreachable; retry")
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
    return syncError("temporarily_unavailable", "the database is busy or unreachable; retry");
  }
  return error;
}
