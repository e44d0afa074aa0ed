import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Backoff } from "../src/client/backoff.ts";
import { SyncHttpError, SyncNetworkError, SyncPausedError } from "../src/client/errors.ts";
import { openNodeSqlite } from "../src/adapters/node-sqlite.ts";
import type { PullResponse, PushRequest } from "../src/protocol/messages.ts";
import type { SyncStatus } from "../src/client/status.ts";
import { openExample, schema } from "./support/example.ts";
import { FakeClock } from "./support/fake-clock.ts";

const EMPTY_PAGE: PullResponse = { cursor: "c", hasMore: false, reset: false, lastMutationId: 0, changes: [] };

/** Lets the engine's promise chains (SQLite calls, fetch) run to the end after a timer fired. */
async function settle(): Promise<void> {
  for (let turn = 0; turn < 30; turn += 1) await new Promise((resolve) => setImmediate(resolve));
}

/** A response, a network failure, or null for what a server that applies everything answers. */
type Reply = Response | Error | null;

/** What a server answers to a push it applies whole. */
function ackAll(body: unknown): { lastMutationId: number; rejected: [] } {
  const { mutations } = body as PushRequest;
  return { lastMutationId: mutations.at(-1)?.id ?? 0, rejected: [] };
}

/** A fetch answering from a queue (an Error is a network failure, null the default), recording what was asked. */
function fakeFetch(...replies: Reply[]) {
  const calls: { url: string; authorization: string | null; body: unknown }[] = [];
  // The engine's transport always passes a URL string and a JSON string body.
  const fetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const url = input as string;
    const headers = new Headers(init?.headers);
    calls.push({ url, authorization: headers.get("authorization"), body: JSON.parse(init?.body as string) });
    await Promise.resolve();
    const reply = replies.shift() ?? Response.json(url.endsWith("/push") ? ackAll(calls.at(-1)?.body) : EMPTY_PAGE);
    if (reply instanceof Error) throw reply;
    return reply;
  };
  return { fetch, calls };
}

function errorResponse(status: number, code: string, headers: Record<string, string> = {}): Response {
  return Response.json({ error: { code, message: code } }, { status, headers });
}

async function openClient(fetch: typeof globalThis.fetch, clock: FakeClock, token = "user-1") {
  let current = token;
  const client = await openExample(
    openNodeSqlite(),
    { url: "http://sync.test/sync/", fetch, getToken: () => current },
    { clock, backoff: { initialMs: 1000, maxMs: 8000, random: () => 0.5 } },
  );
  return { client, setToken: (next: string) => (current = next) };
}

describe("backoff", () => {
  it("grows exponentially with jitter up to the cap, and honours Retry-After", () => {
    const backoff = new Backoff({ initialMs: 1000, maxMs: 8000, random: () => 0.5 });
    assert.deepEqual([1, 2, 3, 4, 5].map(() => backoff.next()), [750, 1500, 3000, 6000, 6000]);
    assert.equal(backoff.next(30_000), 30_000);
    backoff.reset();
    assert.equal(backoff.next(), 750);
    const low = new Backoff({ initialMs: 1000, random: () => 0 });
    const high = new Backoff({ initialMs: 1000, random: () => 0.999 });
    assert.ok(low.next() >= 500 && high.next() < 1000, "jitter stays within half to all of the bound");
  });
});

describe("scheduling and faults (fake clock)", () => {
  it("goes offline on a network error, retries on the backoff timer, and recovers", async () => {
    const clock = new FakeClock();
    const { fetch, calls } = fakeFetch(new TypeError("fetch failed"), new TypeError("fetch failed"));
    const { client } = await openClient(fetch, clock);
    await assert.rejects(client.sync(), SyncNetworkError);
    assert.equal(client.status.state, "offline");
    assert.equal(client.status.retryAt, clock.now() + 750);
    const seen: SyncStatus[] = [];
    client.registerListener({ statusChanged: (status) => seen.push(status) });
    clock.advance(749);
    await settle();
    assert.equal(calls.length, 1);
    clock.advance(1);
    await settle();
    assert.equal(calls.length, 2);
    // The retry under way: no attempt is due any more, and the failure before it stays the reason.
    const retrying = seen.find((status) => status.state === "pulling");
    assert.ok(retrying !== undefined);
    assert.equal(retrying.retryAt, null);
    assert.ok(retrying.error instanceof SyncNetworkError);
    assert.equal(client.status.state, "offline");
    assert.equal(client.status.retryAt, clock.now() + 1500, "the second delay doubles");
    clock.advance(1500);
    await settle();
    assert.equal(client.status.state, "idle");
    assert.equal(client.status.retryAt, null);
    assert.equal(client.status.lastSyncedAt?.getTime(), clock.now());
    assert.deepEqual(calls.map((call) => call.url), Array(3).fill("http://sync.test/sync/pull"));
    await client.close();
  });

  it("waits at least as long as a 503's Retry-After", async () => {
    const clock = new FakeClock();
    const { fetch, calls } = fakeFetch(errorResponse(503, "temporarily_unavailable", { "retry-after": "30" }));
    const { client } = await openClient(fetch, clock);
    const failure = await client.sync().catch((error: unknown) => error);
    assert.ok(failure instanceof SyncHttpError);
    assert.equal(failure.code, "temporarily_unavailable");
    assert.equal(client.status.state, "error");
    assert.equal(client.status.retryAt, clock.now() + 30_000);
    clock.advance(29_999);
    await settle();
    assert.equal(calls.length, 1);
    clock.advance(1);
    await settle();
    assert.equal(calls.length, 2);
    assert.equal(client.status.state, "idle");
    await client.close();
  });

  // A 403 client_id_taken too: the database's client id is another user's, so only that user's
  // token (or another database) helps, and retrying with this one never would.
  for (const [status, code] of [[401, "unauthenticated"], [403, "client_id_taken"]] as const) {
    it(`pauses on ${status} ${code} until the app has a new token, and sends it as a bearer token`, async () => {
      const clock = new FakeClock();
      const { fetch, calls } = fakeFetch(errorResponse(status, code));
      const { client, setToken } = await openClient(fetch, clock, "expired");
      await assert.rejects(client.sync(), SyncHttpError);
      assert.equal(client.status.state, "auth-required");
      assert.equal(client.status.retryAt, null);
      // A caller of sync() alone learns why it is paused: the response that paused it.
      await assert.rejects(client.sync(), (error: unknown) => {
        assert.ok(error instanceof SyncPausedError && error.cause instanceof SyncHttpError);
        assert.equal(error.cause.code, code);
        assert.match(error.message, /^sync: paused \(auth-required\): /);
        return true;
      });
      clock.advance(120_000);
      await settle();
      assert.equal(calls.length, 1, "no retries while paused");
      setToken("fresh");
      client.tokenChanged();
      await settle();
      assert.equal(client.status.state, "idle");
      assert.deepEqual(calls.map((call) => call.authorization), ["Bearer expired", "Bearer fresh"]);
      await client.close();
    });
  }

  it("pauses with update-required when the server does not serve this schema version", async () => {
    const clock = new FakeClock();
    const { fetch } = fakeFetch(errorResponse(409, "schema_version_unsupported"));
    const { client } = await openClient(fetch, clock);
    await assert.rejects(client.sync(), SyncHttpError);
    assert.equal(client.status.state, "update-required");
    await assert.rejects(client.sync(), SyncPausedError);
    assert.deepEqual(clock.pending(), []);
    await client.close();
  });

  it("retries, not update-required, when the server serves an older schema version than this build", async () => {
    // The app's new build shipped before the server's migration ran: no newer build of the app
    // helps, the server's migration does, so the engine waits for it on its backoff.
    const clock = new FakeClock();
    const behind = Response.json(
      { error: { code: "schema_version_unsupported", message: "not served", supported: { min: 0, max: 0 } } },
      { status: 409 },
    );
    const { fetch, calls } = fakeFetch(behind);
    const { client } = await openClient(fetch, clock);
    await assert.rejects(client.sync(), (error) => error instanceof SyncHttpError && error.code === "schema_version_unsupported");
    assert.equal(client.status.state, "error");
    assert.equal(client.status.paused, false);
    assert.deepEqual(clock.pending(), [750]);
    clock.advance(750);
    await settle();
    assert.equal(client.status.state, "idle", "the server, migrated meanwhile, is synced with");
    assert.deepEqual(calls.map((call) => call.url), ["http://sync.test/sync/pull", "http://sync.test/sync/pull"]);
    await client.close();
  });

  it("syncs at once when the browser comes back online, instead of waiting for the backoff", async () => {
    // Node has no window events: lend globalThis an EventTarget's, as a browser's window has.
    const window = new EventTarget();
    const scope = globalThis as unknown as Partial<EventTarget>;
    scope.addEventListener = window.addEventListener.bind(window);
    scope.removeEventListener = window.removeEventListener.bind(window);
    try {
      const clock = new FakeClock();
      const { fetch, calls } = fakeFetch(new TypeError("fetch failed"));
      const { client } = await openClient(fetch, clock);
      await assert.rejects(client.sync(), SyncNetworkError);
      assert.deepEqual(clock.pending(), [750]);
      window.dispatchEvent(new Event("online"));
      await settle();
      assert.equal(calls.length, 2);
      assert.equal(client.status.state, "idle");
      assert.deepEqual(clock.pending(), [], "the retry timer was cancelled");
      await client.close();
      window.dispatchEvent(new Event("online"));
      await settle();
      assert.equal(calls.length, 2, "a closed client stops listening");
    } finally {
      delete scope.addEventListener;
      delete scope.removeEventListener;
    }
  });

  it("syncs when its page is shown again, restarting the interval, but not during a backoff", async () => {
    // Node has no document: lend globalThis one whose visibility the test sets, as a tab's changes.
    const page = Object.assign(new EventTarget(), { visibilityState: "visible" });
    const scope = globalThis as unknown as { document?: typeof page };
    scope.document = page;
    const show = (state: "visible" | "hidden") => {
      page.visibilityState = state;
      page.dispatchEvent(new Event("visibilitychange"));
    };
    try {
      const clock = new FakeClock();
      const { fetch, calls } = fakeFetch(Response.json(EMPTY_PAGE), Response.json(EMPTY_PAGE), new TypeError("fetch failed"));
      const client = await openExample(
        openNodeSqlite(),
        { url: "http://sync.test/sync/", fetch, getToken: () => "user-1" },
        { clock, intervalMs: 60_000, backoff: { initialMs: 1000, maxMs: 8000, random: () => 0.5 } },
      );
      clock.advance(45_000);
      show("hidden");
      await settle();
      assert.equal(calls.length, 0, "hiding the page syncs nothing");
      show("visible");
      await settle();
      assert.equal(calls.length, 1, "one pull when the page is shown");
      assert.deepEqual(clock.pending(), [60_000], "the interval counts from that pull");

      show("visible");
      await settle();
      assert.equal(calls.length, 2);
      show("visible");
      await settle();
      assert.equal(calls.length, 3, "the third pull fails");
      assert.equal(client.status.state, "offline");
      show("visible");
      await settle();
      assert.equal(calls.length, 3, "no sync while the retry after the failure is scheduled");
      await client.close();
      show("visible");
      await settle();
      assert.equal(calls.length, 3, "a closed client stops listening");
    } finally {
      delete scope.document;
    }
  });

  it("bootstraps on the retry after the server could not read the stored cursor", async () => {
    const clock = new FakeClock();
    const { fetch, calls } = fakeFetch(Response.json({ ...EMPTY_PAGE, cursor: "c1" }), errorResponse(400, "invalid_cursor"));
    const { client } = await openClient(fetch, clock);
    await client.sync();
    await assert.rejects(client.sync(), SyncHttpError);
    assert.equal(client.status.state, "error");
    clock.advance(750);
    await settle();
    assert.deepEqual(
      calls.map((call) => (call.body as { cursor: string | null }).cursor),
      [null, "c1", null],
    );
    assert.equal(client.status.state, "idle");
    await client.close();
  });

  it("pushes smaller batches at once after the server refused one as too large", async () => {
    const clock = new FakeClock();
    const tooLarge = Response.json({ error: { code: "batch_too_large", message: "too many", maxMutations: 2 } }, { status: 413 });
    const { fetch, calls } = fakeFetch(tooLarge);
    const { client } = await openClient(fetch, clock);
    for (const id of ["a", "b", "c", "d", "e"]) await client.db.insert(schema.todos).values({ id, teamId: "t", title: id });
    await client.sync();
    const pushes = calls.filter((call) => call.url.endsWith("/push")).map((call) => (call.body as PushRequest).mutations.length);
    assert.deepEqual(pushes, [5, 2, 2, 1], "the server's maxMutations stays the limit after accepted pushes");
    assert.equal(client.status.pending, 0);
    await client.close();
  });

  it("does not sync again after a write that a sync called meanwhile already pushed", async () => {
    const clock = new FakeClock();
    const { fetch, calls } = fakeFetch();
    const { client } = await openClient(fetch, clock);
    await client.db.insert(schema.todos).values({ id: "a", teamId: "t", title: "one" });
    await client.sync();
    assert.deepEqual(calls.map((call) => call.url.split("/").at(-1)), ["push", "pull"]);
    clock.advance(100);
    await settle();
    assert.equal(calls.length, 2, "the write's debounced sync has nothing left to do");
    assert.equal(client.status.state, "idle");
    await client.close();
  });

  it("syncs after a local write's debounce when the device's clock was set back meanwhile", async () => {
    const clock = new FakeClock();
    const { fetch, calls } = fakeFetch();
    const { client } = await openClient(fetch, clock);
    await client.db.insert(schema.todos).values({ id: "a", teamId: "t", title: "one" });
    clock.jump(-3_600_000);
    clock.advance(25);
    await settle();
    assert.deepEqual(calls.map((call) => call.url.split("/").at(-1)), ["push", "pull"], "not an hour later");
    assert.equal(client.status.pending, 0);
    await client.close();
  });

  it("syncs once after a burst of local writes (debounced), and on the interval", async () => {
    const clock = new FakeClock();
    const { fetch, calls } = fakeFetch();
    const { client } = await openClient(fetch, clock);
    await client.db.insert(schema.todos).values({ id: "a", teamId: "t", title: "one" });
    clock.advance(10);
    await client.db.insert(schema.todos).values({ id: "b", teamId: "t", title: "two" });
    clock.advance(24);
    await settle();
    assert.equal(calls.length, 0, "still inside the debounce window of the second write");
    clock.advance(1);
    await settle();
    assert.deepEqual(calls.map((call) => call.url.split("/").at(-1)), ["push", "pull"]);
    assert.deepEqual((calls[0]?.body as PushRequest).mutations.map((m) => m.pk), [{ id: "a" }, { id: "b" }]);
    assert.equal(client.status.pending, 0);
    await client.close();

    const interval = new FakeClock();
    const second = fakeFetch();
    const periodic = await openExample(
      openNodeSqlite(),
      { url: "http://sync.test/sync", fetch: second.fetch },
      { clock: interval, intervalMs: 1000 },
    );
    for (let tick = 0; tick < 3; tick += 1) {
      interval.advance(1000);
      await settle();
    }
    assert.equal(second.calls.length, 3, "one pull per interval");
    await periodic.close();
  });
});

describe("requests that take too long or too much", () => {
  /** A fetch that never answers (a half-open connection), until its request is aborted. */
  function silentFetch() {
    const aborted: unknown[] = [];
    const fetch = (_input: string | URL | Request, init?: RequestInit): Promise<Response> =>
      new Promise((_resolve, reject) => {
        init?.signal?.addEventListener("abort", () => {
          aborted.push(init.signal?.reason);
          reject(new DOMException("aborted", "AbortError"));
        });
      });
    return { fetch, aborted };
  }

  it("gives up a request the host never answers after requestTimeoutMs, as a network failure to retry", async () => {
    const { fetch, aborted } = silentFetch();
    const clock = new FakeClock();
    const client = await openExample(openNodeSqlite(), { url: "http://sync.test/sync", fetch, requestTimeoutMs: 20 }, { clock });
    const failure = await client.sync().then(
      () => null,
      (error: unknown) => error,
    );
    assert.ok(failure instanceof SyncNetworkError, String(failure));
    assert.match(failure.message, /no answer from the host within 20 ms/);
    assert.equal(aborted.length, 1);
    assert.equal(client.status.state, "offline");
    assert.ok(client.status.retryAt !== null, "retried on the backoff");
    await client.close();
  });

  it("close() ends a request under way instead of waiting for the host", async () => {
    const { fetch, aborted } = silentFetch();
    const client = await openExample(openNodeSqlite(), { url: "http://sync.test/sync", fetch }, { clock: new FakeClock() });
    await client.db.insert(schema.todos).values({ id: "a", teamId: "t", title: "one" });
    const syncing = client.sync();
    await settle();
    assert.equal(client.status.state, "pushing");
    await client.close(); // with the default timeout of a minute, this would wait that long without the abort
    assert.equal(aborted.length, 1);
    await assert.rejects(syncing, SyncNetworkError);
  });

  it("gives up a getToken() that never answers after requestTimeoutMs, and close() ends one, as a request", async () => {
    const { fetch, calls } = fakeFetch();
    // A token refresh whose request never comes back.
    const getToken = () => new Promise<string>(() => undefined);
    const timingOut = await openExample(openNodeSqlite(), { url: "http://sync.test/sync", fetch, getToken, requestTimeoutMs: 20 }, { clock: new FakeClock() });
    const failure = await timingOut.sync().then(
      () => null,
      (error: unknown) => error,
    );
    assert.ok(failure instanceof SyncNetworkError, String(failure));
    assert.match(failure.message, /no token from getToken\(\) within 20 ms/);
    assert.equal(timingOut.status.state, "offline");
    await timingOut.close();

    const closing = await openExample(openNodeSqlite(), { url: "http://sync.test/sync", fetch, getToken }, { clock: new FakeClock() });
    const syncing = closing.sync();
    await settle();
    assert.equal(closing.status.state, "pulling");
    await closing.close(); // the default timeout is a minute: this would wait that long, or for good before
    await assert.rejects(syncing, SyncNetworkError);
    assert.equal(calls.length, 0, "nothing was sent without a token");
  });

  it("pushes half the batch at once after the host refused its body as too large, down to one write, and doubles it back after each accepted push", async () => {
    const clock = new FakeClock();
    const tooLarge = () => errorResponse(413, "request_too_large");
    // Within one sync: halved twice, then refused alone, which ends the push; the sync's pull follows.
    const { fetch, calls } = fakeFetch(tooLarge(), tooLarge(), tooLarge(), Response.json(EMPTY_PAGE));
    const { client } = await openClient(fetch, clock);
    for (const id of ["a", "b", "c", "d", "e"]) await client.db.insert(schema.todos).values({ id, teamId: "t", title: id });
    await assert.rejects(client.sync(), SyncHttpError);
    assert.deepEqual(calls.map((call) => call.url.slice(call.url.lastIndexOf("/") + 1)), ["push", "push", "push", "pull"]);
    await client.sync();
    const pushes = calls.filter((call) => call.url.endsWith("/push")).map((call) => (call.body as PushRequest).mutations.length);
    // Accepted pushes double the batch again (1, 2, 4): kept at one, every later write was a request of its own.
    assert.deepEqual(pushes, [5, 2, 1, 1, 2, 2]);
    assert.equal(client.status.pending, 0);
    await client.close();
  });

  it("cuts every later batch to the host's maxBytes once a 413 names it, rather than pushing the rest of the outbox in halved batches", async () => {
    const clock = new FakeClock();
    const maxBytes = 6000;
    const bodies: { size: number; ids: number[]; status: number }[] = [];
    // A host with a body limit, as both hosts refuse a body over it: 413 with its maxBytes.
    const fetch = (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
      const body = init?.body as string;
      if (!(input as string).endsWith("/push")) return Promise.resolve(Response.json(EMPTY_PAGE));
      const size = new TextEncoder().encode(body).length;
      const ids = (JSON.parse(body) as PushRequest).mutations.map((mutation) => mutation.id);
      const status = size > maxBytes ? 413 : 200;
      bodies.push({ size, ids, status });
      if (status === 413) return Promise.resolve(Response.json({ error: { code: "request_too_large", message: "too large", maxBytes } }, { status }));
      return Promise.resolve(Response.json(ackAll(JSON.parse(body))));
    };
    const { client } = await openClient(fetch, clock);
    // A long note ("é": two bytes each), then many small writes, as a device that was offline queues them.
    await client.db.insert(schema.todos).values({ id: "note", teamId: "t", title: "é".repeat(2000) });
    for (let n = 0; n < 60; n += 1) await client.db.insert(schema.todos).values({ id: `t${n}`, teamId: "t", title: `todo ${n}` });
    await client.sync();
    assert.equal(client.status.pending, 0);
    // One refusal. Before, the batch was halved until a body passed (three refusals) and kept at
    // that size for the rest of the sync: a request per few writes, however small.
    assert.deepEqual(bodies.filter((body) => body.status === 413).length, 1);
    const accepted = bodies.filter((body) => body.status === 200);
    assert.deepEqual(accepted.flatMap((body) => body.ids), Array.from({ length: 61 }, (_, n) => n + 1), "every write once, in order");
    assert.ok(accepted.length <= 4, JSON.stringify(bodies));
    // Each batch as full as the limit lets it be: the next write would not have fit.
    for (const body of accepted.slice(0, -1)) assert.ok(body.size > maxBytes - 150, JSON.stringify(bodies));
    await client.close();
  });

  it("grows the push batch back only in a sync that had no body refused, so it does not reach the refused size again", async () => {
    const clock = new FakeClock();
    const tooLarge = () => errorResponse(413, "request_too_large");
    const { fetch, calls } = fakeFetch(tooLarge());
    const { client } = await openClient(fetch, clock);
    const pushed = () => calls.filter((call) => call.url.endsWith("/push")).map((call) => (call.body as PushRequest).mutations.length);
    for (const id of ["a", "b", "c", "d", "e"]) await client.db.insert(schema.todos).values({ id, teamId: "t", title: id });
    await client.sync();
    assert.deepEqual(pushed(), [5, 2, 2, 1], "within the sync that refused 5, batches stay at the 2 that passed");
    calls.length = 0;
    for (const id of ["f", "g", "h", "i", "j", "k", "l", "m"]) await client.db.insert(schema.todos).values({ id, teamId: "t", title: id });
    await client.sync();
    assert.deepEqual(pushed(), [2, 4, 2], "the next sync doubles them back");
    await client.close();
  });

  it("discards a transaction too large even alone: the writes after it are pushed right after the server's last id, and a bootstrap undoes it", async () => {
    const clock = new FakeClock();
    const tooLarge = () => errorResponse(413, "request_too_large");
    const empty = () => Response.json(EMPTY_PAGE);
    const row = (id: string) => ({ id, team_id: "t", project_id: null, title: id, done: false, updated_at: "2026-01-02T03:04:05.678+00:00" });
    const bootstrap: PullResponse = { ...EMPTY_PAGE, changes: ["b", "c"].map((id) => ({ table: "todos", op: "upsert", row: row(id) })) };
    // One sync refused (the batch of three, then at once the large one alone), then the discard's
    // empty push, the two later writes one batch each (the batch size, down to one, doubles after each accepted push), and the bootstrap.
    const { fetch, calls } = fakeFetch(tooLarge(), tooLarge(), empty(), null, null, null, Response.json(bootstrap));
    const { client } = await openClient(fetch, clock);
    const heard: string[] = [];
    client.registerListener({ rejected: (writes) => heard.push(...writes.map((write) => `${write.code} ${String(write.pk.id)}`)) });
    await assert.rejects(client.discardRefusedTransaction(), /nothing to discard/);
    await client.db.insert(schema.todos).values({ id: "huge", teamId: "t", title: "x".repeat(1000) });
    for (const id of ["b", "c"]) await client.db.insert(schema.todos).values({ id, teamId: "t", title: id });
    await assert.rejects(client.sync(), SyncHttpError);
    assert.deepEqual((calls.at(-2)?.body as PushRequest).mutations.map((mutation) => mutation.id), [1], "the large one was refused alone");

    const pulls = calls.length;
    const discarded = await client.discardRefusedTransaction();
    assert.deepEqual(discarded.map((write) => [write.id, write.code, write.pk.id]), [[1, "request_too_large", "huge"]]);
    assert.deepEqual(heard, ["request_too_large huge"]);
    // The sync it ran goes on with the push and the bootstrap; one more sync waits for that one.
    await client.sync();
    const after = calls.slice(pulls).map((call) => [call.url.slice(call.url.lastIndexOf("/") + 1), call.url.endsWith("/push") ? (call.body as PushRequest).mutations.map((m) => m.id) : (call.body as { cursor: string | null }).cursor]);
    assert.deepEqual(after, [["push", []], ["push", [1]], ["push", [2]], ["pull", null], ["pull", "c"]]);
    const ids = (await client.db.select({ id: schema.todos.id }).from(schema.todos).orderBy(schema.todos.id)).map((r) => r.id);
    assert.deepEqual(ids, ["b", "c"], "the bootstrap took the discarded row away");
    assert.equal(client.status.pending, 0);
    assert.equal(client.status.state, "idle");

    // A write after it is numbered on, and heard as any write.
    const changed: string[] = [];
    client.subscribe([schema.todos], () => changed.push("todos"));
    await client.db.insert(schema.todos).values({ id: "d", teamId: "t", title: "d" });
    assert.deepEqual(changed, ["todos"]);
    assert.equal(client.status.pending, 1);
    await client.sync();
    assert.deepEqual((calls.filter((call) => call.url.endsWith("/push")).at(-1)?.body as PushRequest).mutations.map((m) => m.id), [3]);
    await client.close();
  });

  it("pushes the writes ahead of one the host cannot take (a 400 naming it), then lets it be discarded", async () => {
    const clock = new FakeClock();
    const cannotStore = (index: number) =>
      Response.json({ error: { code: "invalid_string", message: "strings must not contain NUL characters", path: `mutations[${index}].values.title` } }, { status: 400 });
    const empty = () => Response.json(EMPTY_PAGE);
    // Within one sync: the batch of three refused for its second write, the first pushed alone,
    // the other two refused for the one now at their head, and the sync's pull; then the discard's
    // empty push (the server holds write 1), write 3 numbered 2, and the bootstrap.
    const { fetch, calls } = fakeFetch(cannotStore(1), null, cannotStore(0), empty(), Response.json({ lastMutationId: 1, rejected: [] }));
    const { client } = await openClient(fetch, clock);
    for (const title of ["a", "nul \u0000 inside", "c"]) await client.db.insert(schema.todos).values({ id: title.slice(0, 1), teamId: "t", title });
    await assert.rejects(client.sync(), (error: unknown) => error instanceof SyncHttpError && error.code === "invalid_string");
    const pushed = calls.filter((call) => call.url.endsWith("/push")).map((call) => (call.body as PushRequest).mutations.map((m) => m.id));
    assert.deepEqual(pushed, [[1, 2, 3], [1], [2, 3]]);
    assert.equal(client.status.pending, 2);

    const discarded = await client.discardRefusedTransaction();
    assert.deepEqual(discarded.map((write) => [write.id, write.code, write.pk.id]), [[2, "invalid_string", "n"]]);
    await client.sync();
    const after = calls.slice(4).map((call) => [call.url.slice(call.url.lastIndexOf("/") + 1), call.url.endsWith("/push") ? (call.body as PushRequest).mutations.map((m) => [m.id, m.pk.id]) : null]);
    assert.deepEqual(after, [["push", []], ["push", [[2, "c"]]], ["pull", null], ["pull", null]]);
    assert.equal(client.status.pending, 0);
    await client.close();
  });

  it("discards nothing when the server turns out to have applied the refused transaction", async () => {
    const clock = new FakeClock();
    const { fetch } = fakeFetch(errorResponse(413, "batch_too_large"), Response.json(EMPTY_PAGE), Response.json({ lastMutationId: 1, rejected: [] }));
    const { client } = await openClient(fetch, clock);
    await client.db.insert(schema.todos).values({ id: "a", teamId: "t", title: "a" });
    await assert.rejects(client.sync(), SyncHttpError);
    assert.deepEqual(await client.discardRefusedTransaction(), []);
    assert.equal(client.status.pending, 0);
    assert.deepEqual((await client.db.select({ id: schema.todos.id }).from(schema.todos)).map((r) => r.id), ["a"], "no bootstrap");
    await client.close();
  });

  it("still pulls while the host refuses a write that alone is over its byte limit, which waits in the outbox", async () => {
    const clock = new FakeClock();
    const tooLarge = () => errorResponse(413, "request_too_large");
    const row = { id: "theirs", team_id: "t", project_id: null, title: "from another device", done: false, updated_at: "2026-01-02T03:04:05.678+00:00" };
    const theirs: PullResponse = { ...EMPTY_PAGE, changes: [{ table: "todos", op: "upsert", row }] };
    const { fetch, calls } = fakeFetch(tooLarge(), Response.json(theirs), tooLarge());
    const { client } = await openClient(fetch, clock);
    await client.db.insert(schema.todos).values({ id: "huge", teamId: "t", title: "x".repeat(1000) });
    await assert.rejects(client.sync(), (error: unknown) => error instanceof SyncHttpError && error.code === "request_too_large");
    assert.deepEqual(
      calls.map((call) => call.url.slice(call.url.lastIndexOf("/") + 1)),
      ["push", "pull"],
    );
    const ids = (await client.db.select({ id: schema.todos.id }).from(schema.todos).orderBy(schema.todos.id)).map((row) => row.id);
    assert.deepEqual(ids, ["huge", "theirs"], "the other device's row arrived, the refused write is still shown");
    assert.equal(client.status.pending, 1);
    assert.equal(client.status.state, "error");
    assert.equal(client.status.error instanceof SyncHttpError && client.status.error.code, "request_too_large");
    // Without the refusal (the host's limit raised), the write goes through.
    await assert.rejects(client.sync(), SyncHttpError);
    await client.sync();
    assert.equal(client.status.pending, 0);
    await client.close();
  });
});
