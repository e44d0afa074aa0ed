// The adapters the engine's tests run on, each a fresh in-memory database.
import initSqlJs from "sql.js";
import type { SqliteAdapter } from "../../src/adapters/adapter.ts";
import { openNodeSqlite } from "../../src/adapters/node-sqlite.ts";
import { openSqlJs } from "../../src/adapters/sql-js.ts";

const SQL = await initSqlJs();

export const adapterFactories: readonly { readonly name: string; open(): SqliteAdapter }[] = [
  { name: "node:sqlite", open: () => openNodeSqlite(":memory:") },
  { name: "sql.js", open: () => openSqlJs(new SQL.Database()) },
];
