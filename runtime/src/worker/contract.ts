/**
 * The protocol contract as the Worker reads it: `protocol/errors.json` and the request
 * schemas, imported as JSON so that the bundler inlines them at build time. Nothing here
 * restates a code or a status: an error's status is the one the contract gives its code.
 */
import common from "../../protocol/schemas/common.schema.json" with { type: "json" };
import pullRequest from "../../protocol/schemas/pull-request.schema.json" with { type: "json" };
import pushRequest from "../../protocol/schemas/push-request.schema.json" with { type: "json" };
import errors from "../../protocol/errors.json" with { type: "json" };

/** A JSON Schema document of `protocol/schemas`, as far as this host walks one. */
export type SchemaDocument = { readonly $id: string } & Readonly<Record<string, unknown>>;

export const requestSchemas = { push: pushRequest, pull: pullRequest } as const;

/** Every schema a request schema may reference, by `$id`. */
export const schemaDocuments: ReadonlyMap<string, SchemaDocument> = new Map(
  [common, pullRequest, pushRequest].map((schema) => [schema.$id, schema]),
);

/** Failing keyword → code, unless the failing subschema's `errorCodes` names another. */
export const keywordCodes: Readonly<Record<string, string>> = errors.keywordCodes;

export const PROTOCOL = errors.protocol;

/** Whether a Postgres error is temporary (503, retried), as `errors.json`'s `sqlstates` says. */
export function isTransient(sqlstate: string): boolean {
  const { classes, states } = errors.sqlstates.transient;
  return classes.includes(sqlstate.slice(0, 2)) || states.includes(sqlstate);
}

/** Whether a Postgres error reaching the host means the database lacks what the functions name. */
export function isMisconfiguration(sqlstate: string): boolean {
  return errors.sqlstates.misconfigured.states.includes(sqlstate);
}

/** The `Retry-After` every 503 carries, the same behind either host. */
export const RETRY_AFTER_SECONDS: number = errors.retryAfter.seconds;

/** What a client is told while the database lacks what the functions name (`server_misconfigured`). */
export const MISCONFIGURED_MESSAGE = errors.sqlstates.misconfigured.message;

const statuses: ReadonlyMap<string, number> = new Map(errors.errors.map((row) => [row.code, row.status]));

/** The JSON of an error response: what a client branches on, and extras such as `supported`. */
export interface ErrorBody {
  readonly error: { readonly code: string; readonly message: string; readonly path?: string } & Readonly<
    Record<string, unknown>
  >;
}

/**
 * A request that cannot be served, shaped like the JSON a client receives. Thrown by the
 * checks and by a custom `authenticate` (a 401 with a code of its own, e.g. `token_expired`).
 */
export class SyncError extends Error {
  readonly status: number;
  readonly code: string;
  readonly path: string | undefined;
  readonly extra: Readonly<Record<string, unknown>>;

  constructor(
    status: number,
    code: string,
    message: string,
    path?: string,
    extra: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = "SyncError";
    this.status = status;
    this.code = code;
    this.path = path;
    this.extra = extra;
  }

  body(): ErrorBody {
    return {
      error: {
        code: this.code,
        message: this.message,
        ...(this.path === undefined ? {} : { path: this.path }),
        ...this.extra,
      },
    };
  }
}

/** An error of the contract, with the status the contract gives its code. */
export function syncError(
  code: string,
  message: string,
  path?: string,
  extra?: Record<string, unknown>,
): SyncError {
  const status = statuses.get(code);
  if (status === undefined) {
    throw new TypeError(`${code} is not an error code of protocol/errors.json`);
  }
  return new SyncError(status, code, message, path, extra);
}
