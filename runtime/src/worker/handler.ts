/**
 * `createSyncHandler`: the sync endpoints as a Cloudflare Worker. Like the Python host it only
 * authenticates, checks the request against the contract, calls one SQL function and returns
 * its JSON as the database wrote it (no parse and re-encode of a page of rows).
 *
 * The order of the checks is the Python host's, so that a request gets the same answer from
 * either: identity (401), content type (415), body size (413), then the request itself (400,
 * 413), then the database (its DZ<status> errors, 503 when it is busy).
 */
import { RETRY_AFTER_SECONDS, syncError, SyncError } from "./contract.ts";
import { discardBody, readBody } from "./body.ts";
import { checkOrigin, isPreflight, preflight, withCors, type CorsOptions } from "./cors.ts";
import { pull, push, statements, type DatabaseOptions, type HyperdriveBinding } from "./database.ts";
import type { Identity } from "./identity.ts";
import { checkJwtOptions, verifyBearer, type JwtOptions } from "./jwt.ts";
import { DEFAULT_LIMITS, type Limits } from "./limits.ts";
import { checkExactNumbers, checkIdentity, parsePull, parsePush, readJson } from "./request.ts";

/** What the Worker's `fetch` receives besides the request; only `waitUntil` is used. */
export interface ExecutionContext {
  waitUntil(promise: Promise<unknown>): void;
}

/**
 * Turns a request into an identity: null answers 401 `unauthenticated`; throwing a
 * `SyncError` (e.g. `syncError("token_expired", …)`) answers with its code.
 */
export type Authenticate<Env> = (request: Request, env: Env) => Promise<Identity | null> | Identity | null;

/** A value, or how to read it from the Worker's env (secrets and vars live there, not in code). */
export type FromEnv<Env, T> = T | ((env: Env) => T);

interface CommonOptions extends DatabaseOptions {
  readonly cors?: CorsOptions;
  readonly limits?: Partial<Limits>;
  /** The name of the Hyperdrive binding in wrangler.toml (default `HYPERDRIVE`). */
  readonly binding?: string;
}

export type SyncHandlerOptions<Env> = CommonOptions &
  (
    | { readonly jwt: FromEnv<Env, JwtOptions>; readonly authenticate?: never }
    | { readonly authenticate: Authenticate<Env>; readonly jwt?: never }
  );

export interface SyncHandler<Env> {
  fetch(request: Request, env: Env, ctx: ExecutionContext): Promise<Response>;
}

const JSON_TYPE = "application/json";

export function createSyncHandler<Env = Record<string, unknown>>(
  options: SyncHandlerOptions<Env>,
): SyncHandler<Env> {
  const limits: Limits = { ...DEFAULT_LIMITS, ...options.limits };
  const sql = statements(options);
  const bindingName = options.binding ?? "HYPERDRIVE";
  const authenticate = authenticator(options);
  checkExactNumbers();
  options.cors?.origins.forEach(checkOrigin);
  if (options.jwt !== undefined && typeof options.jwt !== "function") {
    checkJwtOptions(options.jwt);
  }

  async function serve(
    request: Request,
    env: Env,
    ctx: ExecutionContext,
    endpoint: "push" | "pull",
  ): Promise<Response> {
    try {
      const identity = await authenticate(request, env);
      if (identity === null) {
        throw syncError("unauthenticated", "sign in to sync");
      }
      checkIdentity(identity);
      checkContentType(request.headers.get("content-type") ?? "");
      checkContentEncoding(request.headers.get("content-encoding") ?? "");
      const { payload, text: body } = readJson(await readBody(request, limits.maxBodyBytes));
      const database = hyperdrive(env, bindingName);
      const waitUntil = ctx.waitUntil.bind(ctx);
      const text =
        endpoint === "push"
          ? await push(database, waitUntil, sql, identity, parsePush(payload, limits, body))
          : await pull(database, waitUntil, sql, identity, parsePull(payload, limits));
      return new Response(text, { status: 200, headers: { "content-type": JSON_TYPE } });
    } catch (error) {
      if (error instanceof SyncError) {
        return json(error.status, error.body());
      }
      console.error("drizzlesync: internal error", error);
      return json(500, syncError("internal", "internal server error").body());
    }
  }

  return {
    async fetch(request, env, ctx) {
      if (options.cors !== undefined && isPreflight(request)) {
        return preflight(request, options.cors);
      }
      const endpoint = new URL(request.url).pathname.match(/\/(push|pull)$/)?.[1] as
        | "push"
        | "pull"
        | undefined;
      const response =
        endpoint === undefined
          ? new Response("Not Found", {
              status: 404,
              headers: { "content-type": "text/plain; charset=utf-8" },
            })
          : request.method !== "POST"
            ? new Response("Method Not Allowed", {
                status: 405,
                headers: { allow: "POST", "content-type": "text/plain; charset=utf-8" },
              })
            : await serve(request, env, ctx, endpoint);
      await discardBody(request, limits.maxBodyBytes);
      return withCors(request, response, options.cors);
    },
  };
}

function authenticator<Env>(options: SyncHandlerOptions<Env>): Authenticate<Env> {
  if (options.authenticate !== undefined) {
    return options.authenticate;
  }
  const jwt = options.jwt;
  return (request, env) =>
    verifyBearer(request.headers.get("authorization"), typeof jwt === "function" ? jwt(env) : jwt);
}

/** `application/json`, with parameters or without: a cross-site "simple" POST (form, text/plain) never reaches push. */
function checkContentType(header: string): void {
  if ((header.split(";")[0] ?? "").trim().toLowerCase() !== JSON_TYPE) {
    throw syncError(
      "unsupported_media_type",
      `Content-Type must be application/json (got ${header.slice(0, 100) || "none"})`,
    );
  }
}

/**
 * No `Content-Encoding`, or `identity` (RFC 9110's 415): a compressed body read as JSON would be
 * refused as malformed, which hides the cause, and the Python host decodes none either.
 */
function checkContentEncoding(header: string): void {
  if (!["", "identity"].includes(header.trim().toLowerCase())) {
    throw syncError(
      "unsupported_media_type",
      `Content-Encoding must be identity (got ${header.slice(0, 100)}): send the body as is`,
    );
  }
}

function hyperdrive(env: unknown, name: string): HyperdriveBinding {
  const binding = (env as Record<string, unknown> | undefined)?.[name];
  if (typeof (binding as HyperdriveBinding | undefined)?.connectionString !== "string") {
    throw new TypeError(
      `env.${name} is not a Hyperdrive binding: add [[hyperdrive]] binding = "${name}" to wrangler.toml`,
    );
  }
  return binding as HyperdriveBinding;
}

function json(status: number, body: unknown): Response {
  const headers: Record<string, string> = { "content-type": JSON_TYPE };
  if (status === 503) {
    // Every 503 is one to retry (a busy or unreachable database or key server, a database the
    // operator must put right): say when, for the client and any proxy in between.
    headers["retry-after"] = String(RETRY_AFTER_SECONDS);
  }
  return new Response(JSON.stringify(body), { status, headers });
}
