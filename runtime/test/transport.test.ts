import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { SyncHttpError } from "../src/client/errors.ts";
import { httpTransport } from "../src/client/transport.ts";
import type { PushRequest } from "../src/protocol/messages.ts";

describe("httpTransport", () => {
  it("sends a write carrying a value nested 10,000 deep, for the host to refuse by its path", async () => {
    // JSON.stringify threw on it: the push failed as a network error, retried on the backoff for good.
    const deep = `${"[".repeat(10_000)}${"]".repeat(10_000)}`;
    const sent: string[] = [];
    const transport = httpTransport({
      url: "http://sync.test/sync",
      fetch: (_input, init) => {
        sent.push(init?.body as string);
        return Promise.resolve(Response.json({ lastMutationId: 1, rejected: [] }));
      },
    });
    const request: PushRequest = {
      protocol: 1,
      schemaVersion: 1,
      clientId: "c",
      mutations: [{ id: 1, tx: 1, table: "docs", op: "put", pk: { id: "a" }, values: { id: "a", body: JSON.parse(deep) as unknown } }],
    };
    assert.deepEqual(await transport.push(request), { lastMutationId: 1, rejected: [] });
    assert.equal(sent[0], JSON.stringify({ ...request, mutations: [{ ...request.mutations[0], values: { id: "a", body: [] } }] }).replace('"body":[]', `"body":${deep}`));
  });

  it("measures a Retry-After date from the response's Date, whatever the device's clock", async () => {
    const day = 86_400_000;
    const refusal = async (server: number, withDate: boolean): Promise<number | undefined> => {
      const headers = new Headers({ "content-type": "application/json", "retry-after": new Date(server + 30_000).toUTCString() });
      if (withDate) headers.set("date", new Date(server).toUTCString());
      const body = JSON.stringify({ error: { code: "temporarily_unavailable", message: "busy" } });
      const transport = httpTransport({ url: "http://sync.test", fetch: () => Promise.resolve(new Response(body, { status: 503, headers })) });
      const error = await transport.pull({ protocol: 1, schemaVersion: 1, clientId: "c", cursor: null, limit: 1 }).catch((e: unknown) => e);
      assert.ok(error instanceof SyncHttpError);
      return error.retryAfterMs;
    };
    // The server's clock a day ahead of the device's (the device's a day behind): it waited a day
    // and 30 s; a day behind, not at all. HTTP dates have whole seconds.
    for (const server of [Date.now() + day, Date.now() - day]) {
      const after = await refusal(Math.floor(server / 1000) * 1000, true);
      assert.equal(after, 30_000);
    }
    // Without a Date (a cross-origin response that does not expose it) the device's clock is all there is.
    const after = (await refusal(Date.now(), false)) ?? 0;
    assert.ok(after > 28_000 && after <= 30_000, String(after));
  });
});
