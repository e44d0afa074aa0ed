// The Worker of opfs.mjs: SQLite WASM on opfs-sahpool, 100,000 todos of the example's table (same
// DDL, primary key and team index) inserted in pages of 5,000 under each variant, or local writes
// of one todo each, with every read, write and flush of the pool's sync access handles counted and
// timed.
import sqlite3InitModule from "./sqlite/index.mjs";

const stats = { reads: 0, readMs: 0, writes: 0, writeMs: 0, writeBytes: 0, flushes: 0, flushMs: 0 };
const handle = FileSystemSyncAccessHandle.prototype;
const timed = (name, count, ms, bytes) => {
  const original = handle[name];
  handle[name] = function (...args) {
    const started = performance.now();
    try {
      return original.apply(this, args);
    } finally {
      stats[count] += 1;
      stats[ms] += performance.now() - started;
      if (bytes) stats[bytes] += args[0].byteLength;
    }
  };
};
timed("read", "reads", "readMs");
timed("write", "writes", "writeMs", "writeBytes");
timed("flush", "flushes", "flushMs");

const sqlite3 = await sqlite3InitModule();
const pool = await sqlite3.installOpfsSAHPoolVfs({ name: "opfs-bench" });
const DDL = [
  `CREATE TABLE "todos" ("id" TEXT NOT NULL, "team_id" TEXT NOT NULL, "project_id" TEXT, "title" TEXT NOT NULL,
     "done" INTEGER NOT NULL DEFAULT 0, "updated_at" INTEGER NOT NULL, PRIMARY KEY ("id")) STRICT`,
  `CREATE INDEX "todos_team_id_idx" ON "todos" ("team_id")`,
  `CREATE TABLE "_sync_state" ("applying" INTEGER, "cursor" TEXT)`,
  `INSERT INTO "_sync_state" VALUES (0, NULL)`,
];
const team = crypto.randomUUID();
// One team's rows in key order, as the server's snapshot sends them.
const rows = Array.from({ length: 100_000 }, (_, i) => [crypto.randomUUID(), team, null, `todo number ${i}`, i % 3 === 0 ? 1 : 0, 1_700_000_000_000 + i]).sort(
  (a, b) => (a[0] < b[0] ? -1 : 1),
);
const pages = [];
for (let i = 0; i < rows.length; i += 5000) pages.push(JSON.stringify(rows.slice(i, i + 5000)));
const INSERT = `INSERT OR REPLACE INTO "todos" SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, value ->> 5 FROM json_each(?)`;

/** A new database file under `pragmas` with `schema` made, and the counts set to zero. */
function fresh(file, pragmas, schema) {
  try {
    pool.unlink(file);
  } catch {
    // not there yet
  }
  const db = new pool.OpfsSAHPoolDb(file);
  for (const pragma of pragmas) db.exec(pragma);
  for (const sql of schema) db.exec(sql);
  for (const key of Object.keys(stats)) stats[key] = 0;
  return db;
}

/** `pagesPerCommit` pages a transaction (each with the engine's bookkeeping statements), after `pragmas`. */
function variant({ name, pragmas = [], pagesPerCommit = 1 }) {
  const db = fresh("/bench.sqlite3", pragmas, DDL);
  let insertMs = 0;
  let commitMs = 0;
  const started = performance.now();
  for (let i = 0; i < pages.length; i += pagesPerCommit) {
    db.exec("BEGIN IMMEDIATE");
    const inserting = performance.now();
    for (const page of pages.slice(i, i + pagesPerCommit)) {
      db.exec('UPDATE "_sync_state" SET "applying" = 1');
      db.exec({ sql: INSERT, bind: [page] });
      db.exec({ sql: 'UPDATE "_sync_state" SET "cursor" = ?, "applying" = 0', bind: [String(i)] });
    }
    const committing = performance.now();
    insertMs += committing - inserting;
    db.exec("COMMIT");
    commitMs += performance.now() - committing;
  }
  const totalMs = performance.now() - started;
  const result = {
    name,
    journal: db.selectValue("PRAGMA journal_mode"),
    pageSize: db.selectValue("PRAGMA page_size"),
    count: db.selectValue('SELECT count(*) FROM "todos"'),
    totalMs,
    insertMs,
    commitMs,
    ...stats,
  };
  db.close();
  return result;
}

/**
 * `local.writes` local writes of one todo under `pragmas`, each as the engine makes it: its own
 * transaction numbering the client transaction, the insert (its outbox trigger records it) and the
 * count of what it wrote, on the example's client schema (`local.schema`).
 */
function localWrites({ name, pragmas = [] }, local) {
  const db = fresh("/writes.sqlite3", pragmas, local.schema);
  const insert = 'INSERT INTO "todos" ("id", "team_id", "title", "updated_at") VALUES (?, ?, ?, ?)';
  const started = performance.now();
  for (let i = 0; i < local.writes; i += 1) {
    db.exec("BEGIN IMMEDIATE");
    db.exec(local.nextTx);
    db.exec({ sql: insert, bind: [crypto.randomUUID(), team, `local ${i}`, Date.now()] });
    db.exec({ sql: local.written, bind: [0] });
    db.exec("COMMIT");
  }
  const totalMs = performance.now() - started;
  const result = {
    name,
    journal: db.selectValue("PRAGMA journal_mode"),
    count: db.selectValue('SELECT count(*) FROM "_sync_outbox"'),
    totalMs,
    ...stats,
  };
  db.close();
  return result;
}

onmessage = ({ data }) => {
  const run = data.local.writes > 0 ? (v) => localWrites(v, data.local) : variant;
  const results = [];
  for (let round = 0; round < data.rounds; round += 1) for (const v of data.variants) results.push({ round, ...run(v) });
  postMessage(results);
};
postMessage("ready");
