import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createElement } from "react";
import { renderToString } from "react-dom/server";
import { openNodeSqlite } from "../src/adapters/node-sqlite.ts";
import { useLiveQuery, useSyncStatus } from "../src/react/index.ts";
import { LiveQuery, syncStatusStore } from "../src/react/stores.ts";
import { openExample, schema } from "./support/example.ts";
import { ScriptedTransport } from "./support/scripted-transport.ts";

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

  it("a live query drops a slow run's result when a newer run has finished", async () => {
    const client = await openExample(openNodeSqlite(), new ScriptedTransport());
    const releases: (() => void)[] = [];
    let runs = 0;
    const live = new LiveQuery(client, [todos], () => {
      const run = ++runs;
      return new Promise<number>((resolve) => releases.push(() => { resolve(run); }));
    });
    const stop = live.subscribe(() => undefined);
    await client.db.insert(todos).values({ id: "a", teamId: "t", title: "one" });
    assert.equal(releases.length, 2);
    releases[1]?.();
    await new Promise((resolve) => setImmediate(resolve));
    releases[0]?.();
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(live.getSnapshot().data, 2);
    stop();
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
