import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createElement } from "react";
import { renderToString } from "react-dom/server";
import { openNodeSqlite } from "../src/adapters/node-sqlite.ts";
import { useLiveQuery, useSyncStatus } from "../src/react/index.ts";
import { LiveQuery, syncStatusStore } from "../src/react/stores.ts";
import { openExample, schema } from "./support/example.ts";
import { page, ScriptedTransport } from "./support/scripted-transport.ts";

const { todos, projects } = schema;

/** Waits (a bounded number of event-loop turns) until `condition` holds. */
async function until(condition: () => boolean): Promise<void> {
  for (let turn = 0; turn < 100 && !condition(); turn += 1) await new Promise((resolve) => setImmediate(resolve));
  assert.ok(condition(), "the condition never held");
}

/** Resolves once `count` notifications have arrived. */
function notifications(subscribe: (onChange: () => void) => () => void, count: number): Promise<void> {
  return new Promise((resolve) => {
    let seen = 0;
    const stop = subscribe(() => {
      if (++seen === count) {
        stop();
        resolve();
      }
    });
  });
}

describe("React stores", () => {
  it("a live query runs on first subscribe and again when one of its tables changes, not for others", async () => {
    const client = await openExample(openNodeSqlite(), new ScriptedTransport());
    let runs = 0;
    const live = new LiveQuery(client, [todos], async () => {
      runs += 1;
      return (await client.db.select({ id: todos.id }).from(todos)).map((row) => row.id);
    });
    assert.deepEqual(live.getSnapshot(), { data: undefined, error: null, loading: true });
    let notified = 0;
    const stop = live.subscribe(() => (notified += 1));
    await until(() => notified === 1);
    assert.deepEqual(live.getSnapshot(), { data: [], error: null, loading: false });
    assert.equal(live.getSnapshot(), live.getSnapshot(), "a stable snapshot between changes");

    await client.db.insert(projects).values({ id: "p", teamId: "t", name: "P" });
    await client.db.insert(todos).values({ id: "a", teamId: "t", title: "one" });
    await until(() => notified === 2);
    assert.deepEqual(live.getSnapshot().data, ["a"]);
    assert.equal(runs, 2, "the write to projects did not re-run it");

    stop();
    await client.db.insert(todos).values({ id: "b", teamId: "t", title: "two" });
    assert.equal(runs, 2, "no subscribers: no runs");
    await client.close();
  });

  it("a live query runs once at a time: changes during a run make one more run after it", async () => {
    const client = await openExample(openNodeSqlite(), new ScriptedTransport());
    const releases: (() => void)[] = [];
    const live = new LiveQuery(client, [todos], async () => {
      const count = (await client.db.select({ id: todos.id }).from(todos)).length;
      return new Promise<number>((resolve) => releases.push(() => { resolve(count); }));
    });
    const seen: (number | undefined)[] = [];
    const stop = live.subscribe(() => seen.push(live.getSnapshot().data));
    await until(() => releases.length === 1);
    for (const id of ["a", "b", "c"]) await client.db.insert(todos).values({ id, teamId: "t", title: id });
    assert.equal(releases.length, 1, "no second run while the first is under way");
    releases[0]?.();
    await until(() => releases.length === 2);
    assert.deepEqual(seen, [0], "the first run's result shows, though changes followed it");
    releases[1]?.();
    await until(() => seen.length === 2);
    assert.deepEqual(seen, [0, 3]);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(releases.length, 2, "three changes during a run: one more run, not three");
    stop();
    await client.close();
  });

  it("a live query shows a bootstrap's rows as its commits land, though each run outlasts a commit", async () => {
    const pages = 5;
    const transport = new ScriptedTransport().onPull(
      ...Array.from({ length: pages }, (_, p) => async () => {
        await new Promise((resolve) => setTimeout(resolve, 10));
        return page({
          cursor: `c${String(p)}`,
          hasMore: p < pages - 1,
          changes: [{ table: "todos", op: "upsert", row: { id: `t${String(p)}`, team_id: "t", project_id: null, title: "x", done: false, updated_at: "2026-01-02T03:04:05.678+00:00" } }],
        });
      }),
    );
    // Pages 10 ms apart, one to a commit, and a query that ends only after the next commit (or the sync's end):
    // changes always come faster than a run. Before, every run was dropped for the newer one a
    // commit started, and the list showed nothing until the bootstrap had ended.
    const client = await openExample(openNodeSqlite(), transport, { pullTransactionRows: 1 });
    let commits = 0;
    let synced = false;
    client.subscribe([todos], () => (commits += 1));
    let runs = 0;
    const live = new LiveQuery(client, [todos], async () => {
      runs += 1;
      const count = (await client.db.select({ id: todos.id }).from(todos)).length;
      const before = commits;
      while (commits === before && !synced) await new Promise((resolve) => setImmediate(resolve));
      return count;
    });
    const seen: (number | undefined)[] = [];
    const stop = live.subscribe(() => seen.push(live.getSnapshot().data));
    await client.sync();
    synced = true;
    await until(() => seen.at(-1) === pages);
    assert.ok(seen.some((count) => count !== undefined && count > 0 && count < pages), `partial rows shown: ${JSON.stringify(seen)}`);
    assert.ok(runs <= commits + 1, `${String(runs)} runs for ${String(commits)} commits`);
    stop();
    await client.close();
  });

  it("a live query under StrictMode's mount, unmount and mount runs twice, and lets go of the client when the last one leaves", async () => {
    const client = await openExample(openNodeSqlite(), new ScriptedTransport());
    let active = 0;
    const source = {
      subscribe(tables: Parameters<typeof client.subscribe>[0], callback: () => void): () => void {
        active += 1;
        const stop = client.subscribe(tables, callback);
        return () => {
          active -= 1;
          stop();
        };
      },
    };
    let runs = 0;
    const live = new LiveQuery(source, [todos], async () => {
      runs += 1;
      return (await client.db.select({ id: todos.id }).from(todos)).length;
    });
    let notified = 0;
    live.subscribe(() => (notified += 1))();
    const stop = live.subscribe(() => (notified += 1));
    assert.equal(active, 1);
    await until(() => runs === 2 && notified === 2);
    await client.db.insert(todos).values({ id: "a", teamId: "t", title: "one" });
    await until(() => live.getSnapshot().data === 1);
    assert.equal(runs, 3);

    // Unmounted while a run is under way: it ends without a listener to call, and no run follows.
    await client.db.insert(todos).values({ id: "b", teamId: "t", title: "two" });
    stop();
    assert.equal(active, 0);
    const before = notified;
    await client.db.insert(todos).values({ id: "c", teamId: "t", title: "three" });
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(notified, before);
    assert.equal(runs, 4);
    await client.close();
  });

  it("the status store follows the client", async () => {
    const client = await openExample(openNodeSqlite(), new ScriptedTransport());
    const store = syncStatusStore(client);
    const before = store.getSnapshot();
    const changed = notifications(store.subscribe, 1);
    await client.db.insert(todos).values({ id: "a", teamId: "t", title: "one" });
    await changed;
    assert.notEqual(store.getSnapshot(), before);
    assert.equal(store.getSnapshot().pending, 1);
    await client.close();
  });

  it("the hooks render with the current snapshot", async () => {
    const client = await openExample(openNodeSqlite(), new ScriptedTransport());
    function Status() {
      const status = useSyncStatus(client);
      const list = useLiveQuery(client, [todos], () => client.db.select().from(todos), []);
      return createElement("p", null, `${status.state} ${String(status.pending)} ${list.loading ? "loading" : "ready"}`);
    }
    assert.equal(renderToString(createElement(Status)), "<p>idle 0 loading</p>");
    await client.close();
  });
});
