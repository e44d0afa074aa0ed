/**
 * Bearer JWTs: a shared secret (HS256), or the public keys of a JWKS URL (RS256/ES256, as
 * Supabase, Auth0 or Clerk publish them), fetched once per isolate and refetched when a token
 * names an unknown `kid`. `jose` checks the signature; the claims are checked here, by the
 * rules the Python host checks them by (`claimsFailure`), so that a token gets the same answer
 * behind either host whatever its claims hold. Each way a token fails is a 401 with its own
 * code from `protocol/errors.json`, so that a client can tell an expired session from a
 * misconfigured one.
 */
import { compactVerify, decodeProtectedHeader, errors } from "jose";

import rules from "../../protocol/jwt.json" with { type: "json" };
import { syncError, SyncError } from "./contract.ts";
import type { Identity } from "./identity.ts";
import { SigningKeys } from "./jwks.ts";

export interface JwtOptions {
  /** The HMAC secret (HS256 unless `algorithms` says otherwise); keep it in a Worker secret. */
  readonly secret?: string;
  /** Where the public keys are published, e.g. `https://<project>.supabase.co/auth/v1/.well-known/jwks.json`. */
  readonly jwksUrl?: string;
  readonly issuer?: string;
  readonly audience?: string | readonly string[];
  /** Default: HS256 with a secret, RS256 and ES256 with a JWKS. */
  readonly algorithms?: readonly string[];
  /** Clock skew allowed on `exp`, `nbf` and `iat`, in seconds (default 30, at most 300). */
  readonly leewaySeconds?: number;
}

type Claims = Readonly<Record<string, unknown>>;

function unauthenticated(code: string, message: string): SyncError {
  return syncError(code, message);
}

const MALFORMED = "the bearer token is not a well-formed JWT";

/** The identity an `Authorization` header value proves, or a 401 (503 when the keys cannot be fetched). */
export async function verifyBearer(authorization: string | null, options: JwtOptions): Promise<Identity> {
  const algorithms = acceptedAlgorithms(options);
  // As the Python host reads it: the scheme, any run of spaces or tabs, and a token without any.
  const [scheme = "", token = "", ...rest] = (authorization ?? "").trim().split(/\s+/);
  if (scheme.toLowerCase() !== "bearer" || !token) {
    throw unauthenticated("token_missing", "send Authorization: Bearer <token>");
  }
  if (rest.length > 0) {
    throw unauthenticated("token_malformed", MALFORMED);
  }
  let header: Readonly<Record<string, unknown>>;
  try {
    header = decodeProtectedHeader(token);
  } catch {
    throw unauthenticated("token_malformed", MALFORMED);
  }
  // A kid is a string (PyJWT refuses any other before looking at a key); an unencoded payload
  // (`b64: false`) is no JWT.
  if ((header.kid !== undefined && typeof header.kid !== "string") || header.b64 === false) {
    throw unauthenticated("token_malformed", MALFORMED);
  }
  // Before any key lookup: `alg: none`, or an HMAC token against a JWKS, never gets that far.
  const algorithm = header.alg;
  if (typeof algorithm !== "string" || !algorithms.includes(algorithm)) {
    throw unauthenticated("token_unsupported_algorithm", `alg ${JSON.stringify(algorithm)} is not accepted`);
  }
  let payload: Uint8Array;
  try {
    payload =
      options.secret !== undefined
        ? (await compactVerify(token, new TextEncoder().encode(options.secret), { algorithms: [algorithm] })).payload
        : await verifyWithKeySet(token, options.jwksUrl ?? "", { algorithms: [algorithm] });
  } catch (error) {
    throw failure(error);
  }
  const claims = readClaims(payload);
  const audience = options.audience === undefined ? [] : [options.audience].flat();
  const failed = claimsFailure(claims, Date.now() / 1000, leewayOf(options), options.issuer, audience);
  if (failed !== undefined) {
    throw unauthenticated(...failed);
  }
  return { userId: claims.sub as string, claims };
}

// Fatal on bytes that are not UTF-8, and a byte order mark kept (JSON.parse refuses it), as Python reads them.
const UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

function readClaims(payload: Uint8Array): Claims {
  let claims: unknown;
  try {
    claims = JSON.parse(UTF8.decode(payload));
  } catch {
    throw unauthenticated("token_malformed", "the bearer token is not a valid JWT: the claims are not JSON");
  }
  if (typeof claims !== "object" || claims === null || Array.isArray(claims)) {
    throw unauthenticated("token_malformed", "the bearer token is not a valid JWT: the claims are not a JSON object");
  }
  return claims as Claims;
}

/** A claim that is null, an empty string or an empty list counts as absent (PyJWT's rule for `aud`). */
function absent(value: unknown): boolean {
  return value === undefined || value === null || value === "" || (Array.isArray(value) && value.length === 0);
}

/**
 * The code and message of the first check the claims fail, else undefined: the Python host's
 * `tokens.claims_failure`, rule for rule and in its order; tests/conformance/test_auth.py holds
 * both to one table of tokens.
 */
export function claimsFailure(
  claims: Claims,
  now: number,
  leeway: number,
  issuer: string | undefined,
  audience: readonly string[],
): [code: string, message: string] | undefined {
  const required = ["exp", "sub", ...(issuer ? ["iss"] : []), ...(audience.length > 0 ? ["aud"] : [])];
  for (const name of required) {
    if (absent(claims[name])) {
      return ["token_missing_claim", `the token has no ${name}`];
    }
  }
  const dates: Record<string, number> = {};
  for (const name of ["exp", "nbf", "iat"]) {
    const value = claims[name];
    if (value !== undefined && value !== null) {
      // A NumericDate: a finite number (JSON.parse makes one past a double's range Infinity).
      if (typeof value !== "number" || !Number.isFinite(value)) {
        return ["token_malformed", `the token's ${name} is not a number of seconds`];
      }
      dates[name] = value;
    }
  }
  if ((dates.exp as number) <= now - leeway) {
    return ["token_expired", "the token has expired"];
  }
  if ((dates.nbf ?? now) > now + leeway) {
    return ["token_not_yet_valid", "the token is not valid yet (nbf)"];
  }
  if ((dates.iat ?? now) > now + leeway) {
    return ["token_not_yet_valid", "the token was issued in the future (iat)"];
  }
  if (issuer && claims.iss !== issuer) {
    return ["token_invalid_issuer", "the token's iss is not the configured issuer"];
  }
  const aud = claims.aud;
  if (audience.length > 0) {
    const named: unknown[] = typeof aud === "string" ? [aud] : Array.isArray(aud) ? aud : [];
    if (!audience.some((name) => named.includes(name))) {
      return ["token_invalid_audience", "the token's aud names none of the configured audiences"];
    }
  } else if (!absent(aud)) {
    return ["token_invalid_audience", "the token has an aud but no audience is configured"];
  }
  if (typeof claims.sub !== "string") {
    return ["token_malformed", "the token's sub (user id) is not a string"];
  }
  return undefined;
}

/** Checked when the handler is made: one source of keys, algorithms that fit it, a small leeway. */
export function checkJwtOptions(options: JwtOptions): void {
  if ((options.secret === undefined) === (options.jwksUrl === undefined)) {
    throw new TypeError("jwt: set exactly one of secret (HS256) and jwksUrl (RS256/ES256)");
  }
  if (options.secret === "") {
    // HMAC with an empty key verifies no token the provider signed (WebCrypto refuses the key, which
    // answered every token 503, retried for ever): the server's mistake, refused like an unset one.
    throw new TypeError("jwt.secret: empty; pass the HS256 secret the identity provider signs with");
  }
  const allowed = options.secret === undefined ? rules.algorithms.keys : rules.algorithms.secret;
  for (const algorithm of options.algorithms ?? []) {
    if (!allowed.includes(algorithm)) {
      // A public key taken as an HMAC secret would let anyone who has it sign tokens.
      throw new TypeError(
        `jwt.algorithms: ${algorithm} cannot be used with ${options.secret === undefined ? "jwksUrl" : "secret"}`,
      );
    }
  }
  const leeway = leewayOf(options);
  if (!(leeway >= 0 && leeway <= rules.maxLeewaySeconds)) {
    throw new TypeError(`jwt.leewaySeconds: expected 0 to ${rules.maxLeewaySeconds} seconds`);
  }
}

function leewayOf(options: JwtOptions): number {
  return options.leewaySeconds ?? rules.leewaySeconds;
}

function acceptedAlgorithms(options: JwtOptions): string[] {
  checkJwtOptions(options);
  if (options.algorithms?.length) {
    return [...options.algorithms];
  }
  return [...(options.secret === undefined ? rules.defaultAlgorithms.keys : rules.defaultAlgorithms.secret)];
}

// Module scope lives as long as the isolate: one key set per URL, fetched by the first request that needs it.
const keySets = new Map<string, SigningKeys>();

function verifyWithKeySet(
  token: string,
  url: string,
  verify: Parameters<typeof compactVerify>[2],
): Promise<Uint8Array> {
  let keys = keySets.get(url);
  if (keys === undefined) {
    keys = new SigningKeys(url);
    keySets.set(url, keys);
  }
  return keys.verify(token, verify);
}

function failure(error: unknown): SyncError {
  if (error instanceof SyncError) {
    return error;
  }
  if (error instanceof errors.JWSSignatureVerificationFailed) {
    return unauthenticated("token_invalid_signature", "the token's signature does not verify");
  }
  if (error instanceof errors.JOSEAlgNotAllowed) {
    return unauthenticated("token_unsupported_algorithm", error.message);
  }
  if (error instanceof errors.JWKSNoMatchingKey || error instanceof errors.JWKSMultipleMatchingKeys) {
    return unauthenticated("token_unknown_key", "no published key fits the token");
  }
  // Fetching the keys fails as a SyncError (jwks.ts); anything else not jose's is a published key
  // WebCrypto would not import: the key server's fault, not the token's.
  if (!(error instanceof errors.JOSEError)) {
    return syncError("temporarily_unavailable", "the token's signing keys cannot be used; retry");
  }
  return unauthenticated("token_malformed", `the bearer token is not a valid JWT: ${error.message}`);
}
