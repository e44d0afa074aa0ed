// Client migrations in a WASM SQLite (sql.js), run by tests/codegen/test_client_migrations_wasm.py:
// gen1/ and gen2/ are two generations, schema versions N and N+1, of the same database.
// Prints a JSON report on stdout.
import initSqlJs, { type Database } from "sql.js";
import { clientMigrations as first, type ClientMigration } from "./gen1/client-migrations.js";
import { clientMigrations as second } from "./gen2/client-migrations.js";

function version(db: Database): number {
  const state = db.exec("SELECT 1 FROM sqlite_master WHERE name = '_sync_state'");
  return state.length ? Number(db.exec('SELECT "schema_version" FROM "_sync_state"')[0].values[0][0]) : 0;
}

function migrate(db: Database, steps: readonly ClientMigration[]): number {
  for (const step of steps.filter((s) => s.version > version(db))) {
    db.exec("BEGIN");
    for (const statement of step.statements) db.exec(statement);
    db.exec("COMMIT");
  }
  return version(db);
}

function outbox(db: Database): unknown[][] {
  return db.exec('SELECT "table", "op", "pk", "values" FROM "_sync_outbox" ORDER BY "id"')[0]?.values ?? [];
}

const SQL = await initSqlJs();
const db = new SQL.Database();
const versions = [migrate(db, first)];
db.exec("INSERT INTO orgs (id, name, slug) VALUES (1, 'Acme', 'acme')");
db.exec("UPDATE orgs SET name = 'Acme Inc' WHERE id = 1");
const pending = outbox(db);
versions.push(migrate(db, second));
const kept = outbox(db);
db.exec("UPDATE orgs SET motto = 'later' WHERE id = 1");
const rows = db.exec("SELECT id, name, motto FROM orgs")[0].values;
console.log(JSON.stringify({ versions, pending, kept, after: outbox(db).slice(kept.length), rows }));
