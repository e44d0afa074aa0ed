// A new database's first pull page is asked for while the database is still being created
// (SyncClient.open), so that the host prepares it meanwhile; only then, and only once.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { SyncNetworkError } from "../src/client/errors.ts";
import { migrate } from "../src/client/migrations.ts";
import type { SyncClient } from "../src/client/sync-client.ts";
import { SyncedTables } from "../src/client/tables.ts";
import { adapterFactories } from "./support/adapters.ts";
import { clientMigrations, meta, openExample, schema, type ExampleSchema } from "./support/example.ts";
import { page, ScriptedTransport } from "./support/scripted-transport.ts";

const { todos } = schema;

function wireTodo(id: string): Record<string, unknown> {
  return { id, team_id: "team-1", project_id: null, title: id, done: false, updated_at: "2026-01-02T03:04:05.678+00:00" };
}

/** Resolves once the client has completed a sync, or is offline. */
function settled(client: SyncClient<ExampleSchema>): Promise<void> {
  return new Promise((resolve) => {
    const done = () => client.status.lastSyncedAt !== null || client.status.state === "offline";
    if (done()) resolve();
    const stop = client.registerListener({
      statusChanged: () => {
        if (!done()) return;
        stop();
        resolve();
      },
    });
  });
}

for (const factory of adapterFactories) {
  describe(`the first pull of a new database on ${factory.name}`, () => {
    it("is asked for before open resolves, with the new client id, and not asked for again", async () => {
      const transport = new ScriptedTransport().onPull(
        page({ cursor: "c1", hasMore: true, changes: [{ table: "todos", op: "upsert", row: wireTodo("a") }] }),
        page({ cursor: "c2", changes: [{ table: "todos", op: "upsert", row: wireTodo("b") }] }),
      );
      const client = await openExample(factory.open(), transport, { syncOnOpen: true });
      // The first page was asked for while the database was set up (and the second may have been
      // too, as soon as the first arrived).
      assert.deepEqual(
        transport.pulls.slice(0, 1).map((pull) => [pull.cursor, pull.clientId]),
        [[null, client.clientId]],
        "the first page was requested during open",
      );
      await settled(client);
      assert.equal(client.status.state, "idle");
      assert.deepEqual(transport.pulls.map((pull) => pull.cursor), [null, "c1"]);
      assert.deepEqual(await client.db.select({ id: todos.id }).from(todos), [{ id: "a" }, { id: "b" }]);
      await client.close();
    });

    it("is not asked for during open when the database already existed", async () => {
      const adapter = factory.open();
      await migrate(adapter, clientMigrations, new SyncedTables(meta.syncTables));
      const transport = new ScriptedTransport();
      const client = await openExample(adapter, transport, { syncOnOpen: true });
      assert.equal(transport.pulls.length, 0, "no pull before open resolved");
      await settled(client);
      assert.deepEqual(transport.pulls.map((pull) => pull.cursor), [null]);
      await client.close();
    });

    it("is not asked for when the app does not sync on open", async () => {
      const transport = new ScriptedTransport();
      const client = await openExample(factory.open(), transport, { syncOnOpen: false });
      await client.sync();
      assert.deepEqual(transport.pulls.map((pull) => pull.cursor), [null], "one pull, the sync's own");
      await client.close();
    });

    it("is used once: when it failed, the retry asks for the bootstrap again", { timeout: 10_000 }, async () => {
      const transport = new ScriptedTransport().onPull(
        () => {
          throw new SyncNetworkError(new TypeError("fetch failed"));
        },
        page({ cursor: "c1", changes: [{ table: "todos", op: "upsert", row: wireTodo("a") }] }),
      );
      const client = await openExample(factory.open(), transport, { syncOnOpen: true });
      await settled(client);
      assert.equal(client.status.state, "offline");
      await client.sync();
      assert.deepEqual(transport.pulls.map((pull) => pull.cursor), [null, null]);
      assert.deepEqual(await client.db.select({ id: todos.id }).from(todos), [{ id: "a" }]);
      await client.close();
    });
  });
}
