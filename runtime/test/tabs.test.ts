import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { DatabaseSync } from "node:sqlite";
import { sql } from "drizzle-orm";
import { openNodeSqlite } from "../src/adapters/node-sqlite.ts";
import type { SqlExecutor } from "../src/adapters/adapter.ts";
import { SyncDatabaseNewerError, SyncHttpError, SyncPausedError, SyncTabOutdatedError, TabLeaderLostError } from "../src/client/errors.ts";
import { TabClient, type ChannelLike } from "../src/client/tab-client.ts";
import { decodeResults, encodeResults, type TabMessage } from "../src/client/tab-protocol.ts";
import type { PushResponse } from "../src/protocol/messages.ts";
import { LocalLocks } from "./support/locks.ts";
import { clientMigrations, meta, openExample, schema, type ExampleSchema } from "./support/example.ts";
import { ScriptedTransport } from "./support/scripted-transport.ts";

const { todos } = schema;
const TEAM = "team-1";
const directory = mkdtempSync(join(tmpdir(), "drizzlesync-tabs-"));
after(() => {
  rmSync(directory, { recursive: true, force: true });
});

let databases = 0;

/** One database file shared by the tabs of a test, as one origin's OPFS file is. */
function setup(): { name: string; path: string; locks: LocalLocks; transport: ScriptedTransport; outbox(): number } {
  const name = `db-${++databases}`;
  const path = join(directory, `${name}.sqlite3`);
  return {
    name,
    path,
    locks: new LocalLocks(),
    transport: new ScriptedTransport(),
    outbox() {
      const db = new DatabaseSync(path, { readOnly: true });
      try {
        return (db.prepare('SELECT count(*) AS n FROM "_sync_outbox"').get() as { n: number }).n;
      } finally {
        db.close();
      }
    },
  };
}

function tab(
  world: ReturnType<typeof setup>,
  channel?: (name: string) => ChannelLike,
): Promise<TabClient<ExampleSchema>> {
  return TabClient.open<ExampleSchema>({
    name: world.name,
    schema,
    schemaVersion: meta.schemaVersion,
    locks: world.locks,
    open: () => openExample(openNodeSqlite(world.path), world.transport),
    ...(channel ? { channel } : {}),
  });
}

/** The example's next build: schema version 2, which adds a column to todos. */
function newerTab(world: ReturnType<typeof setup>, opened: { count: number } = { count: 0 }): Promise<TabClient<ExampleSchema>> {
  const next = { version: 2, statements: ['ALTER TABLE "todos" ADD COLUMN "priority" INTEGER', 'UPDATE "_sync_state" SET "schema_version" = 2'] };
  return TabClient.open<ExampleSchema>({
    name: world.name,
    schema,
    schemaVersion: 2,
    locks: world.locks,
    open: () => {
      opened.count += 1;
      return openExample(openNodeSqlite(world.path), world.transport, {
        meta: { ...meta, schemaVersion: 2 },
        migrations: [...clientMigrations, next],
      });
    },
  });
}

/** Whether `error` is, or (wrapped by Drizzle) was caused by, a `SyncTabOutdatedError`. */
function outdated(error: unknown): boolean {
  return error instanceof SyncTabOutdatedError || (error instanceof Error && error.cause instanceof SyncTabOutdatedError);
}

async function until(check: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** `promise`, failing the test if it has not settled within `until`'s time. */
async function settles<T>(promise: Promise<T>, what: string): Promise<T> {
  let settled = false;
  promise.then(
    () => (settled = true),
    () => (settled = true),
  );
  await until(() => settled, what);
  return promise;
}

/** A BroadcastChannel that can go deaf and mute at once (its tab is gone), or drop some messages. */
function faultyChannel(drop: (message: TabMessage) => boolean): { factory: (name: string) => ChannelLike; kill(): void } {
  let channel: BroadcastChannel | undefined;
  return {
    factory: (name) => {
      const real = new BroadcastChannel(name);
      channel = real;
      return {
        postMessage: (message) => {
          if (!drop(message)) real.postMessage(message);
        },
        addEventListener: (type, listener) => {
          real.addEventListener(type, listener as (event: Event) => void);
        },
        close: () => {
          real.close();
        },
      };
    },
    kill: () => channel?.close(),
  };
}

describe("several tabs on one database", () => {
  it("elects one leader; a follower's reads, writes and transactions go through it; changes and status reach every tab", async () => {
    const world = setup();
    const first = await tab(world);
    const second = await tab(world);
    assert.equal(first.isLeader, true);
    assert.equal(second.isLeader, false);
    const heard: string[] = [];
    first.subscribe([todos], () => heard.push("first"));
    second.subscribe([todos], () => heard.push("second"));

    await second.db.insert(todos).values({ id: "b", teamId: TEAM, title: "from the follower" });
    await first.db.insert(todos).values({ id: "a", teamId: TEAM, title: "from the leader" });
    await second.transaction(async (tx) => {
      await tx.insert(todos).values({ id: "c", teamId: TEAM, title: "one" });
      await tx.insert(todos).values({ id: "d", teamId: TEAM, title: "two" });
    });
    const rows = await second.db.select({ id: todos.id }).from(todos).orderBy(todos.id);
    assert.deepEqual(rows.map((row) => row.id), ["a", "b", "c", "d"]);
    assert.equal(world.outbox(), 4);
    await until(() => second.status.pending === 4, "the follower sees the leader's pending count");
    await until(() => heard.filter((who) => who === "second").length === 3, "the follower hears every write");
    assert.equal(heard.filter((who) => who === "first").length, 3);

    await second.sync();
    assert.deepEqual(world.transport.pushes.flatMap((push) => push.mutations.map((m) => m.pk.id)), ["b", "a", "c", "d"]);
    const [, , third, fourth] = world.transport.pushes.flatMap((push) => push.mutations.map((m) => m.tx));
    assert.equal(third, fourth, "the follower's transaction is one client transaction");
    await until(() => second.status.pending === 0 && second.status.lastSyncedAt !== null, "the follower sees the sync");
    await second.close();
    await first.close();
  });

  it("gives the database to a tab of a newer build: the older tabs stop leading and following, and say update-required", async () => {
    // Sharing it, a tab reloaded into the new build followed the old leader, and its writes failed.
    const world = setup();
    const leader = await tab(world);
    const follower = await tab(world);
    await follower.db.insert(todos).values({ id: "a", teamId: TEAM, title: "written by the old build" });
    const newer = await newerTab(world);
    await until(() => newer.isLeader, "the newer build's tab leads");
    for (const older of [leader, follower]) {
      assert.equal(older.isLeader, false);
      assert.equal(older.status.state, "update-required");
      assert.ok(outdated(older.status.error), String(older.status.error));
      await assert.rejects(older.db.select().from(todos), outdated);
    }
    await newer.db.insert(todos).values({ id: "b", teamId: TEAM, title: "written by the new build" });
    const rows = await newer.db.select({ id: todos.id }).from(todos).orderBy(todos.id);
    assert.deepEqual(rows.map((row) => row.id), ["a", "b"], "every write kept");
    assert.equal(world.outbox(), 2);
    const file = new DatabaseSync(world.path, { readOnly: true });
    assert.deepEqual({ ...file.prepare('SELECT "schema_version" FROM "_sync_state"').get() }, { schema_version: 2 }, "migrated by the newer build");
    file.close();
    await Promise.all([leader.close(), follower.close(), newer.close()]);
  });

  it("keeps a tab that gave the database up update-required, whatever its closing engine said last", async () => {
    const world = setup();
    let answer!: (response: PushResponse) => void;
    let pushed!: () => void;
    const pushing = new Promise<void>((resolve) => (pushed = resolve));
    world.transport.onPush(() => {
      pushed();
      return new Promise<PushResponse>((resolve) => (answer = resolve));
    });
    const leader = await tab(world);
    await leader.db.insert(todos).values({ id: "a", teamId: TEAM, title: "pushed as the newer tab comes" });
    const syncing = leader.sync().catch(() => undefined);
    await pushing;
    const newer = newerTab(world);
    await until(() => leader.status.state === "update-required", "the leader hears the newer tab");
    // The push's answer was on its way: the engine goes on to pull, and says so, while it closes.
    answer({ lastMutationId: 1, rejected: [] });
    const opened = await newer;
    await syncing;
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(leader.status.state, "update-required");
    assert.ok(outdated(leader.status.error), String(leader.status.error));
    await Promise.all([leader.close(), opened.close()]);
  });

  it("gives a follower's write in flight when a newer build's tab comes its leader's answer", async () => {
    // Rejected at once, it was committed all the same, and retyped after the reload it was there twice.
    const world = setup();
    const leader = await tab(world);
    const follower = await tab(world);
    // Sent now (a Drizzle query runs when awaited or thenned), before the newer tab's hello.
    const write = follower.db.insert(todos).values({ id: "w", teamId: TEAM, title: "typed as the newer tab comes" }).then(() => "answered");
    const newer = await newerTab(world);
    assert.equal(await write, "answered");
    assert.deepEqual((await newer.db.select({ id: todos.id }).from(todos)).map((row) => row.id), ["w"]);
    await Promise.all([leader.close(), follower.close(), newer.close()]);
  });

  it("never follows a tab of a build from before tabs compared builds: it waits for the lock, saying so", async () => {
    const world = setup();
    // The older build's messages carry no schema version, and it hears none in others'.
    const unversioned = (name: string): ChannelLike => {
      const real = new BroadcastChannel(name);
      const strip = (message: TabMessage): TabMessage => {
        if (message.type !== "hello" && message.type !== "leader") return message;
        return Object.fromEntries(Object.entries(message).filter(([key]) => key !== "schemaVersion")) as TabMessage;
      };
      return {
        postMessage: (message) => {
          real.postMessage(strip(message));
        },
        addEventListener: (type, listener) => {
          real.addEventListener(type, ((event: MessageEvent<TabMessage>) => {
            listener(new MessageEvent("message", { data: strip(event.data) }));
          }) as (event: Event) => void);
        },
        close: () => {
          real.close();
        },
      };
    };
    const older = await tab(world, unversioned);
    const newer = await newerTab(world);
    assert.equal(newer.isLeader, false);
    assert.equal(newer.status.state, "error");
    assert.match(String(newer.status.error), /older build/);
    const write = newer.db.insert(todos).values({ id: "n", teamId: TEAM, title: "waits for the older tab to close" });
    await older.close();
    await until(() => newer.isLeader, "the newer tab leads once the older one closed");
    await write;
    assert.equal(world.outbox(), 1);
    await newer.close();
  });

  it("never lets a tab of an older build lead or follow a newer one: it opens update-required, without opening the database", async () => {
    const world = setup();
    const newer = await newerTab(world);
    let opened = 0;
    const older = await TabClient.open<ExampleSchema>({
      name: world.name,
      schema,
      schemaVersion: meta.schemaVersion,
      locks: world.locks,
      open: () => {
        opened += 1;
        return openExample(openNodeSqlite(world.path), world.transport);
      },
    });
    assert.equal(older.status.state, "update-required");
    await assert.rejects(older.db.select().from(todos), outdated);
    await newer.close();
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(opened, 0, "the lock the newer tab let go of is not taken by the older one");
    await older.close();
  });

  it("opens a tab of an older build update-required when a newer build, since closed, migrated the database", async () => {
    const world = setup();
    const newer = await newerTab(world);
    await newer.close();
    // The older build's tab (a stale copy of the app from a cache) comes when no newer tab is left
    // to tell it: opening the database tells it instead. Before, it retried the open for 10 s, then
    // gave up as an `error` and tried again every 30 s, for good.
    const started = Date.now();
    const older = await settles(tab(world), "the older tab opens");
    try {
      assert.ok(Date.now() - started < 2_000, "no retries of an open that cannot succeed");
      assert.equal(older.status.state, "update-required");
      const error = older.status.error;
      assert.ok(error instanceof SyncDatabaseNewerError, `a SyncDatabaseNewerError, not ${String(error)}`);
      assert.deepEqual([error.databaseVersion, error.buildVersion], [2, meta.schemaVersion]);
      await assert.rejects(older.db.select().from(todos), (thrown) => thrown instanceof SyncDatabaseNewerError || (thrown instanceof Error && thrown.cause instanceof SyncDatabaseNewerError));
    } finally {
      await older.close();
    }
  });

  it("hands over when the leader closes: the next tab opens the database and keeps every write", async () => {
    const world = setup();
    const first = await tab(world);
    const second = await tab(world);
    const third = await tab(world);
    await second.db.insert(todos).values({ id: "a", teamId: TEAM, title: "before the handover" });
    await first.close();
    await until(() => second.isLeader, "the second tab leads");
    assert.equal(third.isLeader, false);
    await third.db.insert(todos).values({ id: "b", teamId: TEAM, title: "after the handover" });
    assert.deepEqual((await third.db.select({ id: todos.id }).from(todos).orderBy(todos.id)).map((row) => row.id), ["a", "b"]);
    assert.equal(world.outbox(), 2);
    await third.sync();
    assert.equal(world.transport.pushes.flatMap((push) => push.mutations).length, 2);
    await third.close();
    await second.close();
  });

  it("commits a write in flight once when its leader dies before answering", async () => {
    const world = setup();
    // The leader commits but never answers: its tab is gone right after.
    const leaderChannel = faultyChannel((message) => message.type === "response" || message.type === "failure");
    const first = await tab(world, leaderChannel.factory);
    const second = await tab(world);
    let settled = false;
    const write = second.db
      .insert(todos)
      .values({ id: "a", teamId: TEAM, title: "in flight" })
      .returning({ id: todos.id })
      .finally(() => (settled = true));
    await until(() => world.outbox() === 1, "the leader committed the write");
    assert.equal(settled, false);
    leaderChannel.kill();
    world.locks.crash(`drizzlesync:${world.name}`);
    assert.deepEqual(await write, [{ id: "a" }], "answered from the new leader's record, with its result");
    assert.equal(second.isLeader, true);
    assert.equal(world.outbox(), 1, "not applied twice");
    await second.close();
    await first.close();
  });

  it("forgets the records of followers' writes past their day while one leader stays open", async () => {
    const world = setup();
    const leader = await tab(world);
    const follower = await tab(world);
    const day = 24 * 60 * 60 * 1000;
    await leader.db.run(sql`INSERT INTO "_sync_tab_writes" ("id", "results", "at") VALUES ('old', '[]', ${Date.now() - day - 1000}), ('recent', '[]', ${Date.now() - day + 60_000})`);
    await follower.db.insert(todos).values({ id: "a", teamId: TEAM, title: "a" });
    await follower.transaction((tx) => tx.insert(todos).values({ id: "b", teamId: TEAM, title: "b" }));
    // Raw rows through sqlite-proxy: arrays of values.
    const kept = await leader.db.all(sql`SELECT "id" FROM "_sync_tab_writes" WHERE "id" IN ('old', 'recent')`);
    const records = await leader.db.all(sql`SELECT count(*) FROM "_sync_tab_writes"`);
    await follower.close();
    await leader.close();
    assert.deepEqual(kept, [["recent"]]);
    assert.deepEqual(records, [[3]], "the write and the transaction recorded beside the recent one");
  });

  it("asks the new leader whether a transaction whose commit was in flight committed", async () => {
    const world = setup();
    const leaderChannel = faultyChannel((message) => message.type === "response" && world.outbox() === 2);
    const first = await tab(world, leaderChannel.factory);
    const second = await tab(world);
    const committed = second.transaction(async (tx) => {
      await tx.insert(todos).values({ id: "a", teamId: TEAM, title: "one" });
      await tx.insert(todos).values({ id: "b", teamId: TEAM, title: "two" });
    });
    await until(() => world.outbox() === 2, "the leader committed the transaction");
    leaderChannel.kill();
    world.locks.crash(`drizzlesync:${world.name}`);
    await committed;
    assert.equal(world.outbox(), 2);
    await second.close();
    await first.close();
  });

  it("fails a follower's transaction visibly, keeping nothing, when the leader closes before it commits", async () => {
    const world = setup();
    const first = await tab(world);
    const second = await tab(world);
    let inside!: () => void;
    const begun = new Promise<void>((resolve) => (inside = resolve));
    let resume!: () => void;
    const gate = new Promise<void>((resolve) => (resume = resolve));
    const failed = second.transaction(async (tx) => {
      await tx.insert(todos).values({ id: "a", teamId: TEAM, title: "half" });
      inside();
      await gate;
      await tx.insert(todos).values({ id: "b", teamId: TEAM, title: "never" });
    });
    await begun;
    await first.close();
    await until(() => second.isLeader, "the follower took over");
    resume();
    await assert.rejects(failed, TabLeaderLostError);
    assert.deepEqual(await second.db.select().from(todos), []);
    assert.equal(world.outbox(), 0);
    await second.close();
  });

  it("ends the transaction of a follower whose tab is gone, so the leader is not blocked", async () => {
    const world = setup();
    const first = await tab(world);
    const secondChannel = faultyChannel(() => false);
    const second = await tab(world, secondChannel.factory);
    let inside!: () => void;
    const begun = new Promise<void>((resolve) => (inside = resolve));
    void second
      .transaction(async (tx) => {
        await tx.insert(todos).values({ id: "a", teamId: TEAM, title: "abandoned" });
        inside();
        await new Promise(() => undefined);
      })
      .catch(() => undefined);
    await begun;
    secondChannel.kill();
    world.locks.crash(`drizzlesync:${world.name}:tab:${second.tabId}`);
    await first.db.insert(todos).values({ id: "b", teamId: TEAM, title: "the leader goes on" });
    assert.deepEqual((await first.db.select({ id: todos.id }).from(todos)).map((row) => row.id), ["b"]);
    await first.close();
    // Its channel is dead, so its takeover fails and it would ask again later: end it.
    await second.close();
  });

  it("frees the lock and closes the engine when closed while taking over", async () => {
    for (const step of ["opening the engine", "setting the engine up"] as const) {
      const world = setup();
      const first = await tab(world);
      let reached!: () => void;
      const atGate = new Promise<void>((resolve) => (reached = resolve));
      let proceed!: () => void;
      const gate = new Promise<void>((resolve) => (proceed = resolve));
      let engineClosed = false;
      const second = await TabClient.open<ExampleSchema>({
        name: world.name,
        schema,
        schemaVersion: meta.schemaVersion,
        locks: world.locks,
        open: async () => {
          const engine = await openExample(openNodeSqlite(world.path), world.transport);
          const close = engine.close.bind(engine);
          engine.close = async () => {
            engineClosed = true;
            await close();
          };
          if (step === "opening the engine") {
            reached();
            await gate;
          } else {
            // Setting up writes first: the tab is closed while that write waits.
            const writeTransaction = engine.writeTransaction.bind(engine);
            engine.writeTransaction = async <T>(work: (tx: SqlExecutor) => Promise<T>): Promise<T> => {
              reached();
              await gate;
              return writeTransaction(work);
            };
          }
          return engine;
        },
      });
      const roles: boolean[] = [];
      second.registerListener({ roleChanged: (leader) => roles.push(leader) });
      await first.close();
      await atGate;
      const closed = second.close();
      proceed();
      await settles(closed, `the tab closes while ${step}`);
      assert.equal(second.isLeader, false, step);
      assert.deepEqual(roles, [], `a tab closed while ${step} never said it led`);
      await until(() => engineClosed, `the engine opened while ${step} is closed`);
      await until(() => !world.locks.held(`drizzlesync:${world.name}`), `the lock is freed after ${step}`);
      const third = await settles(tab(world), `a new tab leads after ${step}`);
      assert.equal(third.isLeader, true);
      await third.db.insert(todos).values({ id: "a", teamId: TEAM, title: step });
      await third.close();
    }
  });

  it("syncs on the leader when a follower's page is shown again", async () => {
    const world = setup();
    const leader = await tab(world);
    // The document exists for the follower alone (the leader's engine listened before there was
    // one), as each tab has a page of its own: a pull now can only come through the follower.
    const page = Object.assign(new EventTarget(), { visibilityState: "visible" });
    const scope = globalThis as unknown as { document?: typeof page };
    scope.document = page;
    const follower = await tab(world);
    try {
      assert.equal(follower.isLeader, false);
      page.dispatchEvent(new Event("visibilitychange"));
      await until(() => world.transport.pulls.length === 1, "the leader pulls for the follower's page");
      await follower.close();
      page.dispatchEvent(new Event("visibilitychange"));
      await leader.sync();
      assert.equal(world.transport.pulls.length, 2, "a closed follower stops listening: only the leader's own sync pulled");
    } finally {
      delete scope.document;
      await follower.close();
      await leader.close();
    }
  });

  it("gives a follower the engine's error classes, with their fields, and gives up on the leader the transaction it was refused", async () => {
    const world = setup();
    const leader = await tab(world);
    const follower = await tab(world);
    try {
      await follower.db.insert(todos).values({ id: "huge", teamId: TEAM, title: "x".repeat(1000) });
      world.transport.onPush(() => {
        throw new SyncHttpError(413, { error: { code: "request_too_large", message: "too large" } }, 2_000);
      });
      await assert.rejects(follower.sync(), (error) => error instanceof SyncHttpError && error.status === 413 && error.code === "request_too_large");
      await until(() => follower.status.state === "error", "the follower hears the refusal");
      // The check docs/client.md gives before discardRefusedTransaction(), as a follower's app runs it.
      const refusal = follower.status.error;
      assert.ok(refusal instanceof SyncHttpError, `a SyncHttpError, not ${String(refusal)}`);
      assert.equal(refusal.status, 413);
      assert.equal(refusal.retryAfterMs, 2_000);
      assert.equal(refusal.body?.error.code, "request_too_large");
      assert.equal(refusal.message, leader.status.error?.message);
      const discarded = await follower.discardRefusedTransaction();
      assert.deepEqual(discarded.map((write) => [write.code, write.pk.id]), [["request_too_large", "huge"]]);
      assert.equal(world.outbox(), 0);

      world.transport.onPush(() => {
        throw new SyncHttpError(401, { error: { code: "unauthenticated", message: "expired" } }, undefined);
      });
      await follower.db.insert(todos).values({ id: "later", teamId: TEAM, title: "later" });
      await assert.rejects(follower.sync(), (error) => error instanceof SyncHttpError && error.action === "reauthenticate");
      await until(() => follower.status.state === "auth-required", "the follower hears auth-required");
      await assert.rejects(
        follower.sync(),
        (error) => error instanceof SyncPausedError && error.state === "auth-required" && error.cause instanceof SyncHttpError && error.cause.status === 401,
      );
    } finally {
      await follower.close();
      await leader.close();
    }
  });

  it("refuses a follower's transaction that reaches a closing leader, so no tab waits on it", async () => {
    const world = setup();
    let firstClosed: Promise<void> | undefined;
    // The leader closes as soon as a follower's begin reaches it, before SQLite opened that transaction.
    const closeOnBegin = (name: string): ChannelLike => {
      const real = new BroadcastChannel(name);
      return {
        postMessage: (message) => {
          real.postMessage(message);
        },
        addEventListener: (type, listener) => {
          real.addEventListener(type, (event) => {
            const message = event as MessageEvent<TabMessage>;
            listener(message);
            if (message.data.type === "request" && message.data.call.kind === "begin") firstClosed ??= first.close();
          });
        },
        close: () => {
          real.close();
        },
      };
    };
    const first = await tab(world, closeOnBegin);
    const second = await tab(world);
    const failed = second.transaction(async (tx) => {
      await tx.insert(todos).values({ id: "a", teamId: TEAM, title: "never" });
    });
    // It may reject while the leader is still closing, before the assertion below looks at it.
    failed.catch(() => undefined);
    await until(() => firstClosed !== undefined, "the begin reached the leader");
    await settles(firstClosed ?? Promise.resolve(), "the leader closes");
    await assert.rejects(settles(failed, "the follower's transaction settles"), TabLeaderLostError);
    await until(() => second.isLeader, "the follower took over");
    await second.db.insert(todos).values({ id: "b", teamId: TEAM, title: "the new leader writes" });
    assert.deepEqual((await second.db.select({ id: todos.id }).from(todos)).map((row) => row.id), ["b"]);
    await second.close();
  });

  it("fails the calls waiting when it cannot open the database after the leader closed, and tries to lead again later", async (t) => {
    const world = setup();
    const first = await tab(world);
    let broken = true;
    let attempts = 0;
    const second = await TabClient.open<ExampleSchema>({
      name: world.name,
      schema,
      schemaVersion: meta.schemaVersion,
      locks: world.locks,
      open: () => {
        attempts += 1;
        if (broken) return Promise.reject(new Error("the file is still held"));
        return openExample(openNodeSqlite(world.path), world.transport);
      },
    });
    // The tab retries opening for seconds, and asks again after longer: let that time pass at once.
    t.mock.timers.enable({ apis: ["setTimeout"] });
    async function advance(done: () => boolean): Promise<boolean> {
      for (let step = 0; step < 2_000 && !done(); step += 1) {
        await new Promise((resolve) => setImmediate(resolve));
        t.mock.timers.tick(250);
      }
      return done();
    }
    await first.close();
    // Sent to the leader that just closed: only the next one could answer them.
    const outcomes: (Error | "done")[] = [];
    for (const call of [second.sync(), second.transaction(() => Promise.resolve())]) {
      call.then(
        () => outcomes.push("done"),
        (error: unknown) => outcomes.push(error as Error),
      );
    }
    assert.equal(await advance(() => outcomes.length === 2), true, "the calls waiting settle");
    assert.equal(attempts, 40);
    for (const outcome of outcomes) {
      assert.ok(outcome instanceof Error);
      assert.match(outcome.message, /no tab has the database open: this one could not open it \(the file is still held\)/);
    }
    assert.equal(second.status.state, "error");
    await assert.rejects(second.sync(), /no tab has the database open/, "a later call fails at once");

    broken = false;
    assert.equal(await advance(() => second.isLeader), true, "the tab leads once it can open the database");
    await second.db.insert(todos).values({ id: "a", teamId: TEAM, title: "after all" });
    assert.equal(world.outbox(), 1);
    await second.close();
  });

  it("keeps bigints and blobs of a recorded result", () => {
    const results = [{ columns: ["n", "data"], rows: [[2n ** 60n, new Uint8Array([1, 2, 255])]] }];
    assert.deepEqual(decodeResults(encodeResults(results)), results);
  });
});
