// Messages between the main thread's WASM adapter and the Worker that owns the database.
import type { QueryResult, SqlValue, Statement } from "./adapter.ts";

export type WorkerRequest =
  | { readonly id: number; readonly kind: "open"; readonly filename: string; readonly vfsName: string }
  | { readonly id: number; readonly kind: "run"; readonly sql: string; readonly params: readonly SqlValue[] }
  /** `inTransaction`: run inside the transaction already open, without a BEGIN and COMMIT of its own. */
  | { readonly id: number; readonly kind: "batch"; readonly statements: readonly Statement[]; readonly inTransaction: boolean }
  | { readonly id: number; readonly kind: "close" }
  /** Closes the database and deletes its file; the pool too when no other file is left in it. */
  | { readonly id: number; readonly kind: "delete" };

export type WorkerResponse =
  | { readonly id: number; readonly result: QueryResult }
  | { readonly id: number; readonly results: readonly QueryResult[] }
  | { readonly id: number; readonly error: string };
