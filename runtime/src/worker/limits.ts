import defaults from "../../protocol/limits.json" with { type: "json" };

/** Request limits; a request over one is refused whole, with 413 (a pull's `limit`: 400). */
export interface Limits {
  /** The largest body read, counted as it streams in. */
  readonly maxBodyBytes: number;
  /** The most mutations one push may carry. */
  readonly maxMutations: number;
  /** The largest pull page, and a pull's `limit` when it gives none. */
  readonly maxChanges: number;
}

/** The defaults of every host (`protocol/limits.json`), so that a client meets the same limits behind either. */
export const DEFAULT_LIMITS: Limits = {
  maxBodyBytes: defaults.maxBodyBytes,
  maxMutations: defaults.maxMutations,
  maxChanges: defaults.maxChanges,
};
