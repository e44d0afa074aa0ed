// The generated key checks (a uuid key Postgres would spell otherwise, refused when written) cost
// pulled rows nothing, and a key in Postgres's own spelling little: counted on node:sqlite, whose
// SQLite (3.51) evaluates an AND's side without a subquery first, as SQLite WASM's (3.54) does.
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { describe, it } from "node:test";
import { clientMigrations } from "./support/example.ts";

/** The example at its build's version, with the triggers the runtime makes on open (key checks included). */
function example(): DatabaseSync {
  const db = new DatabaseSync(":memory:");
  for (const step of clientMigrations) for (const statement of step.statements) db.exec(statement);
  for (const trigger of clientMigrations.at(-1)?.triggers ?? []) {
    db.exec(`DROP TRIGGER IF EXISTS "${trigger.name}"`);
    db.exec(trigger.sql);
  }
  return db;
}

/** SQLite's GLOB, for the patterns the checks use: `*`, `?` and bracket classes (`[^…]` negated). */
function globMatches(pattern: string, value: string): boolean {
  const source = pattern.replace(/\[[^\]]*\]|[*?]|[^[*?]+/g, (part) =>
    part === "*" ? "[\\s\\S]*" : part === "?" ? "[\\s\\S]" : part.startsWith("[") ? part : part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"),
  );
  return new RegExp(`^${source}$`, "u").test(value);
}

describe("key checks", () => {
  it("are not evaluated for pulled rows, and cost a key made by crypto.randomUUID() two GLOBs", () => {
    // As the WHEN's second operand the check ran on every pulled row: a bootstrap of 100,000 todos
    // took 0.65 s where it takes 0.45 s without (runtime/bench/client.ts).
    const db = example();
    let globs = 0;
    // SQLite lets a function replace its own: GLOB now counts its calls, and matches nothing.
    // Two parameters, as node:sqlite registers a function by its length: GLOB's own arity.
    db.function("glob", { deterministic: true }, (pattern, value) => {
      globs += 1;
      return globMatches(String(pattern), String(value)) ? 1 : 0;
    });
    const insert = db.prepare("INSERT INTO todos (id, team_id, title, done, updated_at) VALUES (?, ?, 'x', 0, 0)");
    db.exec('UPDATE "_sync_state" SET "applying" = 1');
    insert.run(crypto.randomUUID(), crypto.randomUUID());
    assert.equal(globs, 0);
    db.exec('UPDATE "_sync_state" SET "applying" = 0');
    insert.run(crypto.randomUUID(), crypto.randomUUID());
    assert.equal(globs, 2);
    db.close();
  });

  it("still refuse a key in another spelling, and take Postgres's", () => {
    const db = example();
    const insert = db.prepare("INSERT INTO todos (id, team_id, title, done, updated_at) VALUES (?, ?, 'x', 0, 0)");
    assert.throws(() => insert.run(crypto.randomUUID().toUpperCase(), crypto.randomUUID()), /write todos\.id as Postgres writes a uuid/);
    insert.run(crypto.randomUUID(), crypto.randomUUID());
    assert.equal((db.prepare("SELECT count(*) AS n FROM todos").get() as { n: number }).n, 1);
    db.close();
  });
});
