/**
 * The dedicated Worker that owns a SQLite WASM database on the `opfs-sahpool` VFS, which needs
 * neither SharedArrayBuffer nor COOP/COEP headers but only runs in a Worker. Import it from the
 * app's worker module (`import "drizzlesync/adapters/wasm-worker"`), start that module with
 * `new Worker(new URL("./worker.ts", import.meta.url), { type: "module" })`, and hand the Worker
 * to `openSqliteWasm` on the main thread.
 */
import sqlite3InitModule, { type Database, type SAHPoolUtil, type SqlValue } from "@sqlite.org/sqlite-wasm";
import { runBatchSync, type QueryResult, type SqlValue as ParamValue } from "./adapter.ts";
import type { WorkerRequest, WorkerResponse } from "./wasm-protocol.ts";

/** The part of a dedicated Worker's global scope used here (the DOM and WebWorker libs exclude each other). */
interface WorkerScope {
  onmessage: ((event: MessageEvent<WorkerRequest>) => void) | null;
  postMessage(message: WorkerResponse): void;
}

const scope = globalThis as unknown as WorkerScope;
let db: Database | undefined;
let opened: { readonly pool: SAHPoolUtil; readonly filename: string } | undefined;

function run(sql: string, params: readonly ParamValue[]): QueryResult {
  if (db === undefined) throw new Error("the database is not open");
  const columns: string[] = [];
  const rows: SqlValue[][] = [];
  db.exec({ sql, bind: [...params], rowMode: "array", resultRows: rows, columnNames: columns });
  return { columns, rows };
}

async function handle(request: WorkerRequest): Promise<QueryResult | QueryResult[]> {
  switch (request.kind) {
    case "open": {
      const sqlite3 = await sqlite3InitModule();
      const pool = await sqlite3.installOpfsSAHPoolVfs({ name: request.vfsName });
      db = new pool.OpfsSAHPoolDb(request.filename);
      opened = { pool, filename: request.filename };
      return { columns: [], rows: [] };
    }
    case "run":
      return run(request.sql, request.params);
    // A local write and its bookkeeping, or a pull page's rows, in one message: the round trip,
    // not SQLite, is the cost of a small statement.
    case "batch":
      return runBatchSync(run, request.statements, request.inTransaction);
    case "close": {
      db?.close();
      db = undefined;
      return { columns: [], rows: [] };
    }
    case "delete": {
      db?.close();
      db = undefined;
      if (opened !== undefined) {
        const { pool, filename } = opened;
        opened = undefined;
        // Unlinking empties the file's slot in the pool (truncated, not just unnamed); a pool left
        // with no file is removed whole, so nothing of this database stays in the origin's OPFS.
        pool.unlink(filename);
        if (pool.getFileCount() === 0) await pool.removeVfs();
      }
      return { columns: [], rows: [] };
    }
  }
}

// Requests arrive one at a time (the main thread's adapter serialises them), so they are answered in order.
scope.onmessage = (event) => {
  const request = event.data;
  handle(request).then(
    (result) => {
      scope.postMessage(Array.isArray(result) ? { id: request.id, results: result } : { id: request.id, result });
    },
    (error: unknown) => {
      scope.postMessage({ id: request.id, error: error instanceof Error ? error.message : String(error) });
    },
  );
};
