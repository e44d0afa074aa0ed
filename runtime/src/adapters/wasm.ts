import { SerialAdapter, type QueryResult, type SqliteAdapter } from "./adapter.ts";
import type { WorkerRequest, WorkerResponse } from "./wasm-protocol.ts";

/** The part of a Worker this adapter talks through (a `Worker`, or a port to one). */
export interface WorkerLike {
  postMessage(message: WorkerRequest): void;
  addEventListener(type: "message", listener: (event: MessageEvent<WorkerResponse>) => void): void;
  /** `error`: the Worker's script failed to load or threw; `messageerror`: an answer could not be read. */
  addEventListener(type: "error" | "messageerror", listener: (event: Event) => void): void;
  terminate?(): void;
}

/** Distributes each `WorkerRequest` without its id. */
type Request = WorkerRequest extends infer R ? (R extends { id: number } ? Omit<R, "id"> : never) : never;

export interface SqliteWasmOptions {
  /** The database file inside the VFS's pool, e.g. "/app.sqlite3". */
  readonly filename: string;
  /** The opfs-sahpool VFS name; one per app on an origin, since the pool is exclusive. */
  readonly vfsName?: string;
}

/**
 * SQLite WASM on OPFS (`opfs-sahpool`) in a dedicated Worker that imports `drizzlesync/adapters/wasm-worker`:
 * the browser default. Every statement, or batch of statements, is a message to the Worker.
 */
export async function openSqliteWasm(worker: WorkerLike, options: SqliteWasmOptions): Promise<SqliteAdapter> {
  let nextId = 0;
  const waiting = new Map<number, { resolve(response: WorkerResponse): void; reject(error: Error): void }>();
  /**
   * Set once the Worker is gone (it failed, or the database was closed or deleted): a terminated
   * Worker drops what is posted to it, so every call rejects with this instead of waiting for good.
   */
  let ended: Error | null = null;
  function end(reason: Error): void {
    if (ended !== null) return;
    ended = reason;
    for (const pending of waiting.values()) pending.reject(reason);
    waiting.clear();
    // A Worker whose script threw, or whose open or close failed, may still run, and hold the database's OPFS files.
    worker.terminate?.();
  }
  function fail(reason: string): void {
    end(new Error(`drizzlesync: the SQLite worker failed (${reason}); open the database again with a new Worker`));
  }
  worker.addEventListener("error", (event) => {
    const message = "message" in event && typeof event.message === "string" && event.message !== "" ? event.message : "it could not be loaded or threw";
    fail(message);
  });
  // The answer could not be deserialised: its call, whichever it was, would wait forever.
  worker.addEventListener("messageerror", () => {
    fail("an answer from it could not be read");
  });
  worker.addEventListener("message", (event) => {
    const response = event.data;
    const pending = waiting.get(response.id);
    waiting.delete(response.id);
    if ("error" in response) pending?.reject(new Error(`SQLite: ${response.error}`));
    else pending?.resolve(response);
  });
  function send(request: Request): Promise<WorkerResponse> {
    if (ended !== null) return Promise.reject(ended);
    const id = ++nextId;
    return new Promise((resolve, reject) => {
      waiting.set(id, { resolve, reject });
      worker.postMessage({ ...request, id });
    });
  }
  async function one(request: Request): Promise<QueryResult> {
    const response = await send(request);
    if (!("result" in response)) throw new Error("drizzlesync: the SQLite worker answered a statement with a batch");
    return response.result;
  }

  try {
    await one({ kind: "open", filename: options.filename, vfsName: options.vfsName ?? "drizzlesync" });
  } catch (error) {
    // The caller opens again with a new Worker (TabClient retries for seconds): this one must not
    // keep the pool's access handles it may have taken before failing.
    end(new Error("drizzlesync: the SQLite database could not be opened; open it again with a new Worker"));
    throw error;
  }
  return new SerialAdapter({
    run: (sql, params) => one({ kind: "run", sql, params }),
    runBatch: async (statements, inTransaction) => {
      const response = await send({ kind: "batch", statements, inTransaction });
      if (!("results" in response)) throw new Error("drizzlesync: the SQLite worker answered a batch with one result");
      return [...response.results];
    },
    close: async () => {
      // A Worker already ended has nothing left to close: closing must not fail.
      try {
        if (ended === null) await one({ kind: "close" });
      } finally {
        // Ended even when its close failed: the app is done with it, and it may hold the OPFS files.
        end(new Error("drizzlesync: the SQLite database is closed"));
      }
    },
    delete: async () => {
      // Unlike closing, deleting must not pass for done when the Worker can no longer do it.
      if (ended !== null) throw ended;
      await one({ kind: "delete" });
      end(new Error("drizzlesync: the SQLite database was deleted"));
    },
  });
}
