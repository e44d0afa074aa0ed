import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { after, describe, it } from "node:test";
import type { SqliteAdapter } from "../src/adapters/adapter.ts";
import { openNodeSqlite } from "../src/adapters/node-sqlite.ts";
import { SyncClosedError, SyncDatabaseDeletedError } from "../src/client/errors.ts";
import { TabClient } from "../src/client/tab-client.ts";
import { meta, openExample, schema, type ExampleSchema } from "./support/example.ts";
import { LocalLocks } from "./support/locks.ts";
import { ScriptedTransport } from "./support/scripted-transport.ts";

const { todos } = schema;
const TEAM = "team-1";
const directory = mkdtempSync(join(tmpdir(), "drizzlesync-delete-"));
after(() => {
  rmSync(directory, { recursive: true, force: true });
});

let files = 0;
function newPath(): string {
  return join(directory, `db-${++files}.sqlite3`);
}

/** The names of the files of the database at `path`: its own, and the journal or WAL files beside it. */
function filesOf(path: string): string[] {
  const name = basename(path);
  return readdirSync(directory)
    .filter((file) => file.startsWith(name))
    .sort();
}

/** An adapter as a custom platform might write it: everything but `deleteDatabase`. */
function withoutDelete(adapter: SqliteAdapter): SqliteAdapter {
  return {
    execute: (sql, params) => adapter.execute(sql, params),
    transaction: (work) => adapter.transaction(work),
    batch: (statements) => adapter.batch(statements),
    close: () => adapter.close(),
  };
}

async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe("deleting the local database", () => {
  it("node:sqlite deletes the file and the WAL files beside it", async () => {
    const path = newPath();
    const adapter = openNodeSqlite(path);
    await adapter.execute("PRAGMA journal_mode = WAL");
    await adapter.execute("CREATE TABLE t (x TEXT)");
    await adapter.execute("INSERT INTO t VALUES ('private')");
    const name = basename(path);
    assert.deepEqual(filesOf(path), [name, `${name}-shm`, `${name}-wal`]);
    assert.equal(typeof adapter.deleteDatabase, "function");
    await adapter.deleteDatabase?.();
    assert.deepEqual(filesOf(path), []);
  });

  it("SyncClient stops syncing and deletes rows, outbox and state; a client opened again is new and bootstraps", async () => {
    const path = newPath();
    const transport = new ScriptedTransport();
    const client = await openExample(openNodeSqlite(path), transport);
    await client.db.insert(todos).values({ id: "a", teamId: TEAM, title: "not yet pushed" });
    assert.equal(client.status.pending, 1);
    const firstId = client.clientId;
    await client.deleteDatabase();
    assert.equal(existsSync(path), false);
    await assert.rejects(client.sync(), SyncClosedError);
    await assert.rejects(client.deleteDatabase(), SyncClosedError);
    assert.equal(transport.pushes.length + transport.pulls.length, 0, "nothing was sent");

    const again = await openExample(openNodeSqlite(path), transport);
    assert.notEqual(again.clientId, firstId);
    assert.deepEqual(await again.db.select().from(todos), []);
    await again.sync();
    assert.equal(transport.pushes.length, 0, "the deleted outbox sent nothing");
    assert.equal(transport.pulls[0]?.cursor, null, "the new client bootstraps");
    await again.close();
  });

  it("refuses, deleting and closing nothing, with an adapter that cannot delete", async () => {
    const path = newPath();
    const client = await openExample(withoutDelete(openNodeSqlite(path)), new ScriptedTransport());
    await client.db.insert(todos).values({ id: "a", teamId: TEAM, title: "kept" });
    await assert.rejects(client.deleteDatabase(), /cannot delete its database/);
    await client.db.insert(todos).values({ id: "b", teamId: TEAM, title: "still writable" });
    assert.equal((await client.db.select().from(todos)).length, 2);
    await client.close();
    assert.equal(existsSync(path), true);
  });
});

describe("deleting the database of several tabs", () => {
  function world(adapter: (path: string) => SqliteAdapter = openNodeSqlite) {
    const path = newPath();
    const locks = new LocalLocks();
    const transport = new ScriptedTransport();
    let opened = 0;
    return {
      path,
      opened: () => opened,
      lockFree: () => !locks.held(`drizzlesync:${path}`),
      tab: () =>
        TabClient.open<ExampleSchema>({
          name: path,
          schema,
          schemaVersion: meta.schemaVersion,
          locks,
          open: () => {
            opened += 1;
            return openExample(adapter(path), transport);
          },
        }),
    };
  }

  it("a follower asks, the leader deletes, and every tab hears it and closes without opening it again", async () => {
    const tabs = world();
    const leader = await tabs.tab();
    const asker = await tabs.tab();
    const other = await tabs.tab();
    await asker.db.insert(todos).values({ id: "a", teamId: TEAM, title: "private" });
    const heard: string[] = [];
    leader.registerListener({ deleted: () => heard.push("leader") });
    asker.registerListener({ deleted: () => heard.push("asker") });
    other.registerListener({ deleted: () => heard.push("other") });

    await asker.deleteDatabase();
    assert.equal(existsSync(tabs.path), false);
    await until(() => heard.length === 3, "every tab hears the deletion");
    assert.deepEqual(heard.sort(), ["asker", "leader", "other"]);
    await assert.rejects(other.sync(), SyncClosedError);
    await assert.rejects(leader.sync(), SyncClosedError);
    // Once the leader lets go of the lock, a tab still waiting for it would open (so create) the
    // file again, and the asker would send its deletion to itself: every tab withdrew instead.
    await until(tabs.lockFree, "the leader lets go of the lock");
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(tabs.opened(), 1);
    assert.equal(existsSync(tabs.path), false);
    assert.deepEqual(heard.length, 3);
  });

  it("refuses, the leader leading on, when its adapter cannot delete", async () => {
    const tabs = world((path) => withoutDelete(openNodeSqlite(path)));
    const leader = await tabs.tab();
    const asker = await tabs.tab();
    await asker.db.insert(todos).values({ id: "a", teamId: TEAM, title: "kept" });
    await assert.rejects(asker.deleteDatabase(), /cannot delete its database/);
    await assert.rejects(leader.deleteDatabase(), /cannot delete its database/);
    assert.equal(leader.isLeader, true);
    assert.deepEqual((await asker.db.select({ id: todos.id }).from(todos)).map((row) => row.id), ["a"]);
    await asker.close();
    await leader.close();
  });

  it("rejects the open() of a tab joining while the database is deleted, which opens nothing", async () => {
    let deleting = false;
    let finishDeleting: () => void = () => undefined;
    const finished = new Promise<void>((resolve) => (finishDeleting = resolve));
    // node:sqlite whose deletion takes a while, as an OPFS one may: a tab joins meanwhile.
    const tabs = world((path) => {
      const adapter = openNodeSqlite(path);
      return Object.assign(withoutDelete(adapter), {
        deleteDatabase: async () => {
          deleting = true;
          await finished;
          await adapter.deleteDatabase?.();
        },
      });
    });
    const leader = await tabs.tab();
    const deleted = leader.deleteDatabase();
    await until(() => deleting, "the leader is deleting");
    let outcome: unknown = "waiting";
    tabs.tab().then(
      () => (outcome = "opened"),
      (error: unknown) => (outcome = error),
    );
    // Its hello reaches the leader, which no longer has an engine to announce.
    await new Promise((resolve) => setTimeout(resolve, 20));
    finishDeleting();
    await deleted;
    await until(() => outcome !== "waiting", "the joining tab's open() settles");
    assert.ok(outcome instanceof SyncDatabaseDeletedError, String(outcome));
    assert.ok(outcome instanceof SyncClosedError);
    assert.match(outcome.message, /the database was deleted \(by another tab\) while this tab was opening it/);
    await until(tabs.lockFree, "the leader lets go of the lock");
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(tabs.opened(), 1, "the joining tab did not open the database again");
    assert.equal(existsSync(tabs.path), false);
  });

  it("when deleting fails midway, the asker hears why and takes over the database as it was", async () => {
    const tabs = world((path) => {
      const adapter = openNodeSqlite(path);
      return Object.assign(withoutDelete(adapter), {
        deleteDatabase: () => Promise.reject(new Error("disk I/O error")),
      });
    });
    const leader = await tabs.tab();
    const asker = await tabs.tab();
    await asker.db.insert(todos).values({ id: "a", teamId: TEAM, title: "kept" });
    await assert.rejects(asker.deleteDatabase(), /disk I\/O error/);
    await assert.rejects(leader.sync(), SyncClosedError);
    await until(() => asker.isLeader, "the asker takes over");
    assert.deepEqual((await asker.db.select({ id: todos.id }).from(todos)).map((row) => row.id), ["a"]);
    await asker.close();
  });
});
