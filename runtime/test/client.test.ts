import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { rowObjects, type SqliteAdapter } from "../src/adapters/adapter.ts";
import { openNodeSqlite } from "../src/adapters/node-sqlite.ts";
import { SyncNetworkError } from "../src/client/errors.ts";
import type { RejectedWrite } from "../src/client/sync-client.ts";
import { adapterFactories } from "./support/adapters.ts";
import { openExample, schema } from "./support/example.ts";
import { page, ScriptedTransport } from "./support/scripted-transport.ts";

const { todos } = schema;
const TEAM = "team-1";

async function outbox(adapter: SqliteAdapter): Promise<Record<string, unknown>[]> {
  return rowObjects(await adapter.execute('SELECT "id", "tx", "table", "op", "pk", "values" FROM "_sync_outbox" ORDER BY "id"'));
}

function wireTodo(id: string, title: string, done = false): Record<string, unknown> {
  return { id, team_id: TEAM, project_id: null, title, done, updated_at: "2026-01-02T03:04:05.678+00:00" };
}

for (const factory of adapterFactories) {
  describe(`client on ${factory.name}`, () => {
    it("opens a fresh database at the newest schema version", async () => {
      const adapter = factory.open();
      const client = await openExample(adapter, new ScriptedTransport());
      assert.deepEqual({ from: client.migration.from, to: client.migration.to }, { from: 0, to: 1 });
      assert.match(client.clientId, /^[0-9a-f]{32}$/);
      await client.close();
    });

    it("records each Drizzle write as its own client transaction, and transaction() as one", async () => {
      const adapter = factory.open();
      const client = await openExample(adapter, new ScriptedTransport());
      await client.db.insert(todos).values({ id: "a", teamId: TEAM, title: "one" });
      await client.db.update(todos).set({ done: true }).where(eq(todos.id, "a"));
      await client.transaction(async (tx) => {
        await tx.insert(todos).values({ id: "b", teamId: TEAM, title: "two" });
        await tx.delete(todos).where(eq(todos.id, "a"));
      });
      const rows = await outbox(adapter);
      assert.deepEqual(rows.map((row) => row.op), ["put", "patch", "put", "delete"]);
      const [first, second, third, fourth] = rows.map((row) => row.tx);
      assert.notEqual(first, second);
      assert.notEqual(second, third);
      assert.equal(third, fourth);
      assert.equal(client.status.pending, 4);
      assert.deepEqual(await client.db.select({ id: todos.id, done: todos.done }).from(todos), [{ id: "b", done: false }]);
      await client.close();
    });

    it("counts and announces concurrent writes once each", async () => {
      const adapter = factory.open();
      const client = await openExample(adapter, new ScriptedTransport());
      const announced: string[][] = [];
      client.registerListener({ tablesChanged: (tables) => announced.push([...tables]) });
      await Promise.all([
        client.db.insert(todos).values({ id: "a", teamId: TEAM, title: "one" }),
        client.db.insert(todos).values({ id: "b", teamId: TEAM, title: "two" }),
        client.transaction(async (tx) => {
          await tx.insert(todos).values({ id: "c", teamId: TEAM, title: "three" });
          await tx.insert(todos).values({ id: "d", teamId: TEAM, title: "four" });
        }),
        client.db.update(todos).set({ done: true }).where(eq(todos.id, "nobody")),
      ]);
      assert.equal(client.status.pending, 4);
      assert.equal((await outbox(adapter)).length, 4);
      assert.deepEqual(announced, [["todos"], ["todos"], ["todos"]], "one notice per write that changed rows");
      await client.close();
    });

    it("rolls a transaction() back whole when its work throws", async () => {
      const adapter = factory.open();
      const client = await openExample(adapter, new ScriptedTransport());
      await assert.rejects(
        client.transaction(async (tx) => {
          await tx.insert(todos).values({ id: "a", teamId: TEAM, title: "one" });
          throw new Error("changed my mind");
        }),
      );
      assert.deepEqual(await outbox(adapter), []);
      assert.deepEqual(await client.db.select().from(todos), []);
      await client.close();
    });

    it("pushes in id order, groups by tx, drops acknowledged entries and reports a rejection once", async () => {
      const adapter = factory.open();
      const transport = new ScriptedTransport().onPush((request) => ({
        lastMutationId: request.mutations.at(-1)?.id ?? 0,
        rejected: [{ id: request.mutations[1]?.id ?? 0, code: "forbidden", message: "not yours" }],
      }));
      const client = await openExample(adapter, transport, { pushBatchSize: 2 });
      const rejected: RejectedWrite[] = [];
      client.registerListener({ rejected: (writes) => rejected.push(...writes) });
      await client.db.insert(todos).values({ id: "a", teamId: TEAM, title: "one", updatedAt: new Date(Date.UTC(2026, 0, 1)) });
      await client.db.update(todos).set({ done: true }).where(eq(todos.id, "a"));
      await client.transaction(async (tx) => {
        await tx.insert(todos).values({ id: "b", teamId: TEAM, title: "two" });
        await tx.insert(todos).values({ id: "c", teamId: TEAM, title: "three" });
      });
      await client.sync();
      assert.deepEqual(
        transport.pushes.map((push) => push.mutations.map((m) => m.id)),
        [[1, 2], [3, 4]],
      );
      const [put, patch] = transport.pushes[0]?.mutations ?? [];
      assert.deepEqual(put?.values, {
        id: "a",
        team_id: TEAM,
        project_id: null,
        title: "one",
        done: false,
        updated_at: "2026-01-01T00:00:00.000Z",
      });
      assert.deepEqual(patch?.values, { done: true });
      assert.equal(transport.pushes[0]?.clientId, client.clientId);
      assert.deepEqual(rejected.map((write) => [write.id, write.code, write.op, write.pk]), [[2, "forbidden", "patch", { id: "a" }]]);
      assert.deepEqual(await outbox(adapter), []);
      assert.equal(client.status.pending, 0);
      assert.equal(client.status.state, "idle");
      await client.sync();
      assert.equal(rejected.length, 1);
      await client.close();
    });

    it("refuses a uuid key Postgres would spell otherwise, which would come back as a second row, and writes nothing", async () => {
      const adapter = factory.open();
      const key = "6f9619ff-8b86-d011-b42d-00c04fc964ff";
      const transport = new ScriptedTransport().onPull(page({ cursor: "c1", changes: [{ table: "todos", op: "upsert", row: wireTodo(key.toUpperCase(), "pulled as sent") }] }));
      const client = await openExample(adapter, transport);
      // What the server sends is the server's spelling: applied as it comes.
      await client.sync();
      assert.deepEqual((await client.db.select({ id: todos.id }).from(todos)).map((row) => row.id), [key.toUpperCase()]);
      for (const spelling of [key.toUpperCase(), `{${key}}`, key.replaceAll("-", "")]) {
        await assert.rejects(client.db.insert(todos).values({ id: spelling, teamId: TEAM, title: "one" }), (error: Error) => {
          assert.match(`${error.message} ${String(error.cause)}`, /drizzlesync: write todos\.id as Postgres writes a uuid, lowercase with hyphens/);
          return true;
        });
      }
      assert.deepEqual(await outbox(adapter), []);
      await client.db.insert(todos).values({ id: key, teamId: TEAM, title: "one" });
      await assert.rejects(client.db.update(todos).set({ id: key.replaceAll("-", "") }).where(eq(todos.id, key)));
      // A row kept under another spelling (here the pulled one) can still be changed.
      await client.db.update(todos).set({ title: "two" }).where(eq(todos.id, key.toUpperCase()));
      assert.deepEqual((await outbox(adapter)).map((row) => row.op), ["put", "patch"]);
      await client.close();
    });

    for (const rebase of [true, false]) {
      it(`bootstraps: replaces synced rows, keeps the outbox, ${rebase ? "rebases pending writes on top" : "and without rebase loses them"}`, async () => {
        const adapter = factory.open();
        const transport = new ScriptedTransport();
        const client = await openExample(adapter, transport, { rebase });
        await adapter.transaction(async (tx) => {
          // A synced row from an earlier life of this database: a bootstrap must replace it.
          await tx.execute('UPDATE "_sync_state" SET "applying" = 1');
          await tx.execute("INSERT INTO todos (id, team_id, title, updated_at) VALUES ('stale', ?, 'old', 0)", [TEAM]);
          await tx.execute('UPDATE "_sync_state" SET "applying" = 0');
        });
        transport.onPull(
          async () => {
            // The app writes while the first page is on its way: that write is pending throughout.
            await client.db.insert(todos).values({ id: "mine", teamId: TEAM, title: "offline" });
            return page({ cursor: "c1", hasMore: true, changes: [{ table: "todos", op: "upsert", row: wireTodo("x", "from server") }] });
          },
          page({ cursor: "c2", changes: [{ table: "todos", op: "upsert", row: wireTodo("mine", "server's version", true) }] }),
        );
        await client.sync();
        const rows = await client.db.select({ id: todos.id, title: todos.title }).from(todos).orderBy(todos.id);
        const mine = rebase ? { id: "mine", title: "offline" } : { id: "mine", title: "server's version" };
        assert.deepEqual(rows, [mine, { id: "x", title: "from server" }]);
        assert.deepEqual(transport.pulls.map((pull) => pull.cursor), [null, "c1"]);
        assert.equal((await outbox(adapter)).length, 1, "the pending write is still in the outbox");
        assert.deepEqual(client.status.bootstrap, { received: 2, total: null, done: true });
        await client.close();
      });
    }

    it("bootstrap progress counts the changes received against the server's estimated total", async () => {
      const adapter = factory.open();
      const upsert = (id: string) => ({ table: "todos", op: "upsert", row: wireTodo(id, id) }) as const;
      const transport = new ScriptedTransport().onPull(
        page({ cursor: "c1", hasMore: true, estimatedTotal: 3, changes: [upsert("a"), upsert("b")] }),
        page({ cursor: "c2", estimatedTotal: 3, changes: [upsert("c")] }),
        page({ cursor: "c3", changes: [upsert("d")] }),
      );
      const client = await openExample(adapter, transport);
      const seen: unknown[] = [];
      client.registerListener({ statusChanged: (status) => seen.push(status.bootstrap) });
      await client.sync();
      const steps = seen.filter((progress, i) => progress !== null && progress !== seen[i - 1]);
      assert.deepEqual(steps, [
        { received: 0, total: null, done: false },
        { received: 2, total: 3, done: false },
        { received: 3, total: 3, done: true },
      ]);
      await client.sync(); // an incremental pull leaves the finished bootstrap's progress alone
      assert.deepEqual(client.status.bootstrap, { received: 3, total: 3, done: true });
      await client.close();
    });

    it("acknowledged writes leave the outbox; rejected ones vanish with the pull that follows", async () => {
      const adapter = factory.open();
      const transport = new ScriptedTransport()
        .onPush((request) => ({ lastMutationId: 2, rejected: [{ id: request.mutations[1]?.id ?? 0, code: "forbidden", message: "no" }] }))
        .onPull(
          page({
            cursor: "c1",
            lastMutationId: 2,
            changes: [
              { table: "todos", op: "upsert", row: wireTodo("good", "kept") },
              { table: "todos", op: "delete", pk: { id: "bad" } },
            ],
          }),
        );
      const client = await openExample(adapter, transport);
      await client.db.insert(todos).values({ id: "good", teamId: TEAM, title: "kept" });
      await client.db.insert(todos).values({ id: "bad", teamId: "not-my-team", title: "refused" });
      await client.sync();
      assert.deepEqual(await client.db.select({ id: todos.id }).from(todos), [{ id: "good" }]);
      assert.deepEqual(await outbox(adapter), []);
      await client.close();
    });

    it("a reset from the server bootstraps again", async () => {
      const adapter = factory.open();
      const transport = new ScriptedTransport().onPull(
        page({ cursor: "c1", changes: [{ table: "todos", op: "upsert", row: wireTodo("a", "first life") }] }),
        page({ reset: true }),
        page({ cursor: "c9", changes: [{ table: "todos", op: "upsert", row: wireTodo("b", "second life") }] }),
      );
      const client = await openExample(adapter, transport);
      await client.sync();
      await client.sync();
      assert.deepEqual(transport.pulls.map((pull) => pull.cursor), [null, "c1", null]);
      assert.deepEqual(await client.db.select({ id: todos.id }).from(todos), [{ id: "b" }]);
      await client.close();
    });

    it("tells subscribers which tables changed, by local writes and by pulls", async () => {
      const adapter = factory.open();
      const transport = new ScriptedTransport().onPull(
        page({ cursor: "c1", changes: [{ table: "projects", op: "upsert", row: { id: "p", team_id: TEAM, name: "P" } }] }),
      );
      const client = await openExample(adapter, transport);
      const seen: string[][] = [];
      const unsubscribe = client.subscribe([todos], (changed) => seen.push([...changed].sort()));
      await client.db.insert(todos).values({ id: "a", teamId: TEAM, title: "one" });
      await client.db.select().from(todos);
      await client.sync(); // bootstrap: every synced table is replaced, todos among them
      unsubscribe();
      await client.db.insert(todos).values({ id: "b", teamId: TEAM, title: "two" });
      assert.deepEqual(seen, [["todos"], ["memberships", "projects", "teams", "todos"]]);
      await client.close();
    });
  });
}

describe("client on a database file reopened after its app was killed", () => {
  it("a bootstrap resumed from the stored cursor reports its progress, and is not taken for done", async () => {
    const directory = await mkdtemp(join(tmpdir(), "drizzlesync-resume-"));
    const file = join(directory, "app.sqlite3");
    const upsert = (id: string) => ({ table: "todos", op: "upsert", row: wireTodo(id, id) }) as const;
    try {
      // The first page of the snapshot commits; the app dies before the next one is applied.
      const killed = new ScriptedTransport().onPull(
        page({ cursor: "c1", hasMore: true, estimatedTotal: 3, changes: [upsert("a"), upsert("b")] }),
        () => Promise.reject(new SyncNetworkError(new Error("the app was killed"))),
      );
      const before = await openExample(openNodeSqlite(file), killed, { pullPagesAhead: 1 });
      await assert.rejects(before.sync(), SyncNetworkError);
      await before.close();

      const transport = new ScriptedTransport().onPull(
        page({ cursor: "c2", hasMore: true, estimatedTotal: 3, changes: [upsert("c")] }),
        page({ cursor: "c3", changes: [upsert("d")] }),
      );
      const client = await openExample(openNodeSqlite(file), transport, { pullPagesAhead: 1 });
      const seen: unknown[] = [];
      client.registerListener({ statusChanged: (status) => seen.push(status.bootstrap) });
      await client.sync();
      assert.deepEqual(transport.pulls.map((pull) => pull.cursor), ["c1", "c2"], "resumed from the stored cursor");
      const steps = seen.filter((progress, i) => progress !== null && progress !== seen[i - 1]);
      assert.deepEqual(steps, [
        { received: 1, total: 3, done: false },
        { received: 2, total: 3, done: true },
      ]);
      assert.equal((await client.db.select().from(todos)).length, 4);
      await client.close();
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });
});
