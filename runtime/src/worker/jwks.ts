/**
 * The signing keys a JWKS URL publishes, as the Worker's JWT check looks them up: the
 * Python host's policy (`jwks.SigningKeys`) with the timings of `protocol/jwks.json`, so
 * that both hosts answer a token alike while the identity provider misbehaves.
 *
 * jose's `createRemoteJWKSet` decides when to fetch in ways that fail a sync host: past its
 * cache's age every request refetches, and while that fetch fails every request is refused,
 * so an identity provider's outage signs every user out; its cooldown runs from every fetch,
 * so a key rotated in just after the periodic one is taken for a forged one. Here jose only
 * verifies, against the keys last fetched (`createLocalJWKSet`):
 *
 * - keys fetched before stay in use while their refetch fails;
 * - for `RETRY_MS` after a failed fetch, requests get the same 503 at once instead of
 *   another fetch, so a hanging endpoint is not waited on by every request;
 * - an answer over `maxBytes` is no key set, refused as its bytes arrive;
 * - a `kid` missing from the keys refetches them at most once per cooldown; one that a
 *   refetch cannot confirm now (cooling down) is a 503, which the client retries, and only a
 *   `kid` missing from keys fetched for this very token is the token's fault (401).
 *
 * Requests of one isolate share the keys (plain data), not a fetch in flight: a Worker may
 * not await I/O begun by another request, so two requests that find the keys stale each fetch.
 */
import { base64url, compactVerify, createLocalJWKSet, errors, type CompactVerifyGetKey } from "jose";

import timings from "../../protocol/jwks.json" with { type: "json" };
import rules from "../../protocol/jwt.json" with { type: "json" };
import { readLimited } from "./body.ts";
import { syncError, type SyncError } from "./contract.ts";

const SECOND_MS = 1_000;
/** How long fetched keys are used before they are fetched again. */
export const LIFESPAN_MS = timings.lifespanSeconds * SECOND_MS;
/** An unknown `kid` refetches the keys at most this often: made-up kids must not flood the provider. */
const COOLDOWN_MS = timings.refetchCooldownSeconds * SECOND_MS;
/** After a failed fetch, how long requests are answered 503 without fetching again. */
export const RETRY_MS = timings.retrySeconds * SECOND_MS;
const TIMEOUT_MS = timings.timeoutSeconds * SECOND_MS;
const NOT_A_KEY_SET = "the key endpoint's answer is not a set of signing keys; retry";

type VerifyOptions = Parameters<typeof compactVerify>[2];

export class SigningKeys {
  readonly #url: string;
  readonly #clock: () => number;
  #keys: CompactVerifyGetKey | undefined;
  #fetchedAt = -Infinity;
  /** When an unknown `kid` last forced a refetch. */
  #refreshedAt = -Infinity;
  #failedAt = -Infinity;
  #failure = "";

  /** `clock` in milliseconds; tests pass their own to step past the lifespan and the delays. */
  constructor(url: string, clock: () => number = Date.now) {
    this.#url = url;
    this.#clock = clock;
  }

  /** The token's payload once its signature verifies; jose's errors, or a 503 `SyncError`. */
  async verify(token: string, options: VerifyOptions): Promise<Uint8Array> {
    const now = this.#clock();
    let fetched = false;
    if (this.#keys === undefined || now - this.#fetchedAt >= LIFESPAN_MS) {
      try {
        await this.#fetch(now);
        fetched = true;
      } catch (error) {
        if (this.#keys === undefined) {
          throw error; // nothing fetched before to fall back on
        }
      }
    }
    const keys = this.#keys as CompactVerifyGetKey;
    try {
      return (await compactVerify(token, keys, options)).payload;
    } catch (error) {
      if (!(error instanceof errors.JWKSNoMatchingKey) || fetched) {
        throw error;
      }
      if (now - this.#refreshedAt < COOLDOWN_MS) {
        throw syncError(
          "temporarily_unavailable",
          "the token's kid is not among the keys fetched, which cannot be refetched yet; retry",
        );
      }
      this.#refreshedAt = now;
      await this.#fetch(now);
      return (await compactVerify(token, this.#keys as CompactVerifyGetKey, options)).payload;
    }
  }

  async #fetch(now: number): Promise<void> {
    if (now - this.#failedAt < RETRY_MS) {
      throw syncError("temporarily_unavailable", this.#failure);
    }
    let body: string;
    let response: Response | undefined;
    try {
      response = await fetch(this.#url, {
        headers: { accept: "application/json" },
        redirect: "manual",
        signal: AbortSignal.timeout(TIMEOUT_MS),
      });
      if (response.status !== 200) {
        await response.body?.cancel();
        throw new Error(`status ${response.status}`);
      }
      // A key set is a few kilobytes: an isolate must not buffer whatever an endpoint sends.
      const bytes = await readLimited(response, timings.maxBytes, {
        tooLarge: () => new TooLong(),
        broken: (error) => (error instanceof Error ? error : new Error(String(error))),
      });
      body = new TextDecoder().decode(bytes);
    } catch (error) {
      if (error instanceof TooLong) {
        await response?.body?.cancel().catch(() => undefined); // declared too long: never read
        throw this.#failed(NOT_A_KEY_SET);
      }
      throw this.#failed("the token's signing keys cannot be fetched; retry");
    }
    this.#keys = this.#parse(body);
    this.#fetchedAt = now;
    this.#failedAt = -Infinity;
  }

  #parse(body: string): CompactVerifyGetKey {
    let set: unknown;
    try {
      set = JSON.parse(body);
    } catch {
      throw this.#failed(NOT_A_KEY_SET);
    }
    if (!isRecord(set) || !Array.isArray(set.keys)) {
      throw this.#failed(NOT_A_KEY_SET);
    }
    // An entry that is not a JSON object is no key: skipped, as RFC 7517 asks of keys a host does
    // not understand, as on the Python host. Encryption keys (`use: "enc"`) never verify a signature.
    const keys = set.keys.filter(
      (key: unknown): key is Record<string, unknown> => isRecord(key) && (key.use === undefined || key.use === "sig"),
    );
    if (keys.length === 0) {
      throw this.#failed("the key endpoint publishes no signing key; retry");
    }
    // Left out as if not published (`protocol/jwt.json`, minRsaBits): jose refuses them when a
    // token names one, which no refetch mends, so their tokens find no key (401), as on the Python host.
    const short = keys.filter(isShortRsa);
    if (short.length > 0) {
      const kids = short.map((key) => String(key.kid)).join(", ");
      console.warn(`drizzlesync: ${this.#url} publishes RSA keys under ${rules.minRsaBits} bits, not used (kid ${kids})`);
    }
    return createLocalJWKSet({ keys: keys.filter((key) => !isShortRsa(key)) });
  }

  /** Stamped when the fetch ended, not began: a timeout must not use up the retry delay. */
  #failed(message: string): SyncError {
    this.#failedAt = this.#clock();
    this.#failure = message;
    return syncError("temporarily_unavailable", message);
  }
}

/** A key set answer over `maxBytes`. */
class TooLong extends Error {}

const BASE64URL = /^[A-Za-z0-9_-]*$/;

/**
 * An RSA key whose modulus is under minRsaBits bits, counted as the Python host counts them; one
 * whose `n` is no base64url is left to WebCrypto to refuse, as PyJWT refuses it there.
 */
function isShortRsa(key: Record<string, unknown>): boolean {
  const modulus = key.n;
  if (key.kty !== "RSA" || typeof modulus !== "string" || !BASE64URL.test(modulus)) {
    return false;
  }
  let bytes: Uint8Array;
  try {
    bytes = base64url.decode(modulus);
  } catch {
    return false; // a length no base64 text has
  }
  const first = bytes.findIndex((byte) => byte !== 0);
  const bits = first < 0 ? 0 : (bytes.length - first - 1) * 8 + (32 - Math.clz32(bytes[first] as number));
  return bits < rules.minRsaBits;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
