/** Delays between failed attempts: exponential, with jitter so that clients do not retry in step. */

export interface BackoffOptions {
  /** The first delay's upper bound (default 1 s). */
  readonly initialMs?: number;
  /** No delay exceeds this (default 60 s), except a server's Retry-After. */
  readonly maxMs?: number;
  /** A number in [0, 1); injectable for tests. */
  readonly random?: () => number;
}

export class Backoff {
  readonly #initialMs: number;
  readonly #maxMs: number;
  readonly #random: () => number;
  #attempt = 0;

  constructor(options: BackoffOptions = {}) {
    this.#initialMs = options.initialMs ?? 1000;
    this.#maxMs = options.maxMs ?? 60_000;
    this.#random = options.random ?? Math.random;
  }

  /**
   * The delay before the next attempt: half the capped exponential bound plus a random part of
   * the other half (never near zero, never in step), and at least what the server asked for.
   */
  next(retryAfterMs = 0): number {
    const bound = Math.min(this.#maxMs, this.#initialMs * 2 ** this.#attempt);
    this.#attempt += 1;
    return Math.max(retryAfterMs, bound / 2 + this.#random() * (bound / 2));
  }

  reset(): void {
    this.#attempt = 0;
  }
}
