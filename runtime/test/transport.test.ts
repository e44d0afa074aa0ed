import assert from "node:assert/strict";
import { describe, it } from "node:test";
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
});
