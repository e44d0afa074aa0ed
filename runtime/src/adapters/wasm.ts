import { SerialAdapter, type QueryResult, type SqliteAdapter } from "./adapter.ts";
import type { WorkerRequest, WorkerResponse } from "./wasm-protocol.ts";

/** The part of a Worker this adapter talks through (a `Worker`, or a port to one). */
export interface WorkerLike {
  postMessage(message: WorkerRequest): void;
  addEventListener(type: "message", listener: (event: MessageEvent<WorkerResponse>) => void): void;
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
 * the browser default. Every statement is a message to the Worker.
 */
export async function openSqliteWasm(worker: WorkerLike, options: SqliteWasmOptions): Promise<SqliteAdapter> {
  let nextId = 0;
  const waiting = new Map<number, { resolve(result: QueryResult): void; reject(error: Error): void }>();
  worker.addEventListener("message", (event) => {
    const response = event.data;
    const pending = waiting.get(response.id);
    waiting.delete(response.id);
    if ("error" in response) pending?.reject(new Error(`SQLite: ${response.error}`));
    else pending?.resolve(response.result);
  });
  function send(request: Request): Promise<QueryResult> {
    const id = ++nextId;
    return new Promise((resolve, reject) => {
      waiting.set(id, { resolve, reject });
      worker.postMessage({ ...request, id });
    });
  }

  await send({ kind: "open", filename: options.filename, vfsName: options.vfsName ?? "drizzlesync" });
  return new SerialAdapter({
    run: (sql, params) => send({ kind: "run", sql, params }),
    close: async () => {
      await send({ kind: "close" });
      worker.terminate?.();
    },
  });
}
