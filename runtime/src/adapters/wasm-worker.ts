/**
 * The dedicated Worker that owns a SQLite WASM database on the `opfs-sahpool` VFS, which needs
 * neither SharedArrayBuffer nor COOP/COEP headers but only runs in a Worker. Import it from the
 * app's worker module (`import "drizzlesync/adapters/wasm-worker"`), start that module with
 * `new Worker(new URL("./worker.ts", import.meta.url), { type: "module" })`, and hand the Worker
 * to `openSqliteWasm` on the main thread.
 */
import sqlite3InitModule, { type Database, type SqlValue } from "@sqlite.org/sqlite-wasm";
import type { QueryResult } from "./adapter.ts";
import type { WorkerRequest, WorkerResponse } from "./wasm-protocol.ts";

/** The part of a dedicated Worker's global scope used here (the DOM and WebWorker libs exclude each other). */
interface WorkerScope {
  onmessage: ((event: MessageEvent<WorkerRequest>) => void) | null;
  postMessage(message: WorkerResponse): void;
}

const scope = globalThis as unknown as WorkerScope;
let db: Database | undefined;

async function handle(request: WorkerRequest): Promise<QueryResult> {
  switch (request.kind) {
    case "open": {
      const sqlite3 = await sqlite3InitModule();
      const pool = await sqlite3.installOpfsSAHPoolVfs({ name: request.vfsName });
      db = new pool.OpfsSAHPoolDb(request.filename);
      return { columns: [], rows: [] };
    }
    case "run": {
      if (db === undefined) throw new Error("the database is not open");
      const columns: string[] = [];
      const rows: SqlValue[][] = [];
      db.exec({ sql: request.sql, bind: [...request.params], rowMode: "array", resultRows: rows, columnNames: columns });
      return { columns, rows };
    }
    case "close": {
      db?.close();
      db = undefined;
      return { columns: [], rows: [] };
    }
  }
}

// Requests arrive one at a time (the main thread's adapter serialises them), so they are answered in order.
scope.onmessage = (event) => {
  const request = event.data;
  handle(request).then(
    (result) => {
      scope.postMessage({ id: request.id, result });
    },
    (error: unknown) => {
      scope.postMessage({ id: request.id, error: error instanceof Error ? error.message : String(error) });
    },
  );
};
