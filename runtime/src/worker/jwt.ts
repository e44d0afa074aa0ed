/**
 * Bearer JWTs verified with `jose`: a shared secret (HS256), or the public keys of a JWKS
 * URL (RS256/ES256, as Supabase, Auth0 or Clerk publish them), fetched once per isolate and
 * refetched when a token names an unknown `kid`. `iss` and `aud` are checked when configured,
 * `exp` always, each with a small leeway for clock skew. Each way a token fails is a 401 with
 * its own code from `protocol/errors.json`, so that a client can tell an expired session from
 * a misconfigured one.
 */
import { decodeProtectedHeader, errors, jwtVerify, type JWTPayload } from "jose";

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
  /** Clock skew allowed on `exp`, `nbf` and `iat`, in seconds (default 30). */
  readonly leewaySeconds?: number;
}

const HMAC = ["HS256", "HS384", "HS512"];
const PUBLIC_KEY = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"];

function unauthenticated(code: string, message: string): SyncError {
  return syncError(code, message);
}

/** The identity an `Authorization` header value proves, or a 401 (503 when the keys cannot be fetched). */
export async function verifyBearer(authorization: string | null, options: JwtOptions): Promise<Identity> {
  const algorithms = acceptedAlgorithms(options);
  // As the Python host reads it: the scheme, any run of spaces or tabs, and a token without any.
  const [scheme = "", token = "", ...rest] = (authorization ?? "").trim().split(/\s+/);
  if (scheme.toLowerCase() !== "bearer" || !token) {
    throw unauthenticated("token_missing", "send Authorization: Bearer <token>");
  }
  if (rest.length > 0) {
    throw unauthenticated("token_malformed", "the bearer token is not a well-formed JWT");
  }
  let algorithm: unknown;
  try {
    algorithm = decodeProtectedHeader(token).alg;
  } catch {
    throw unauthenticated("token_malformed", "the bearer token is not a well-formed JWT");
  }
  // Before any key lookup: `alg: none`, or an HMAC token against a JWKS, never gets that far.
  if (typeof algorithm !== "string" || !algorithms.includes(algorithm)) {
    throw unauthenticated("token_unsupported_algorithm", `alg ${JSON.stringify(algorithm)} is not accepted`);
  }
  const leeway = options.leewaySeconds ?? 30;
  const verify = {
    algorithms,
    clockTolerance: leeway,
    requiredClaims: ["exp", "sub", ...(options.issuer ? ["iss"] : []), ...(options.audience ? ["aud"] : [])],
    ...(options.issuer ? { issuer: options.issuer } : {}),
    ...(options.audience ? { audience: [options.audience].flat() } : {}),
  };
  let claims: JWTPayload;
  try {
    claims =
      options.secret !== undefined
        ? (await jwtVerify(token, new TextEncoder().encode(options.secret), verify)).payload
        : await verifyWithKeySet(token, options.jwksUrl ?? "", verify);
  } catch (error) {
    throw failure(error);
  }
  // jose leaves an `iat` in the future alone; PyJWT, and so the Python host, refuses it.
  if (typeof claims.iat === "number" && claims.iat > Date.now() / 1000 + leeway) {
    throw unauthenticated("token_not_yet_valid", "the token was issued in the future (iat)");
  }
  // jose checks `aud` only when told one; PyJWT refuses a token for an audience nobody configured.
  if (!options.audience && claims.aud !== undefined) {
    throw unauthenticated("token_invalid_audience", "the token has an aud but no audience is configured");
  }
  if (typeof claims.sub !== "string" || !claims.sub) {
    throw unauthenticated("token_missing_claim", "the token has no sub (user id)");
  }
  return { userId: claims.sub, claims };
}

/** Checked when the handler is made: one source of keys, algorithms that fit it. */
export function checkJwtOptions(options: JwtOptions): void {
  if ((options.secret === undefined) === (options.jwksUrl === undefined)) {
    throw new TypeError("jwt: set exactly one of secret (HS256) and jwksUrl (RS256/ES256)");
  }
  const allowed = options.secret === undefined ? PUBLIC_KEY : HMAC;
  for (const algorithm of options.algorithms ?? []) {
    if (!allowed.includes(algorithm)) {
      // A public key taken as an HMAC secret would let anyone who has it sign tokens.
      throw new TypeError(
        `jwt.algorithms: ${algorithm} cannot be used with ${options.secret === undefined ? "jwksUrl" : "secret"}`,
      );
    }
  }
}

function acceptedAlgorithms(options: JwtOptions): string[] {
  checkJwtOptions(options);
  if (options.algorithms?.length) {
    return [...options.algorithms];
  }
  return options.secret === undefined ? ["RS256", "ES256"] : ["HS256"];
}

// Module scope lives as long as the isolate: one key set per URL, fetched by the first request that needs it.
const keySets = new Map<string, SigningKeys>();

function verifyWithKeySet(token: string, url: string, verify: Parameters<typeof jwtVerify>[2]): Promise<JWTPayload> {
  let keys = keySets.get(url);
  if (keys === undefined) {
    keys = new SigningKeys(url);
    keySets.set(url, keys);
  }
  return keys.verify(token, verify);
}

const CLAIM_CODES: Readonly<Record<string, string>> = {
  nbf: "token_not_yet_valid",
  iat: "token_not_yet_valid",
  aud: "token_invalid_audience",
  iss: "token_invalid_issuer",
};

function failure(error: unknown): SyncError {
  if (error instanceof SyncError) {
    return error;
  }
  if (error instanceof errors.JWTExpired) {
    return unauthenticated("token_expired", "the token has expired");
  }
  if (error instanceof errors.JWTClaimValidationFailed) {
    const code =
      error.reason === "missing" ? "token_missing_claim" : (CLAIM_CODES[error.claim] ?? "token_malformed");
    return unauthenticated(code, error.message);
  }
  if (error instanceof errors.JWSSignatureVerificationFailed) {
    return unauthenticated("token_invalid_signature", "the token's signature does not verify");
  }
  if (error instanceof errors.JOSEAlgNotAllowed) {
    return unauthenticated("token_unsupported_algorithm", error.message);
  }
  if (error instanceof errors.JWKSNoMatchingKey || error instanceof errors.JWKSMultipleMatchingKeys) {
    return unauthenticated("token_unknown_key", "the token's kid names no published key");
  }
  // Fetching the keys fails as a SyncError (jwks.ts); anything else not jose's is a published key
  // WebCrypto would not import: the key server's fault, not the token's.
  if (!(error instanceof errors.JOSEError)) {
    return syncError("temporarily_unavailable", "the token's signing keys cannot be used; retry");
  }
  return unauthenticated("token_malformed", `the bearer token is not a valid JWT: ${error.message}`);
}
