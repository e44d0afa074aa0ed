// The Worker's JWKS policy against a real key server on 127.0.0.1, with a clock the test
// steps: what a token gets while the identity provider is down or publishes garbage. The
// same tokens over HTTP from workerd, beside the Python host, are tests/conformance's business.
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";

import { errors, exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from "jose";

import { SyncError } from "../src/worker/contract.ts";
import { LIFESPAN_MS, RETRY_MS, SigningKeys } from "../src/worker/jwks.ts";

/** What the server publishes: a key set, or a body of its own (`status` 200 unless set). */
const published: { keys: JWK[]; body: string | undefined; status: number; fetches: number } = {
  keys: [],
  body: undefined,
  status: 200,
  fetches: 0,
};
let server: Server;
let url: string;

before(async () => {
  server = createServer((_request, response) => {
    published.fetches += 1;
    response.writeHead(published.status, { "content-type": "application/json" });
    response.end(published.body ?? JSON.stringify({ keys: published.keys }));
  });
  await new Promise<void>((listening) => {
    server.listen(0, "127.0.0.1", listening);
  });
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`;
});

after(
  () =>
    new Promise<void>((closed) => {
      server.close(() => {
        closed();
      });
    }),
);

async function signingKey(kid: string): Promise<{ privateKey: CryptoKey; jwk: JWK }> {
  const { privateKey, publicKey } = await generateKeyPair("ES256");
  return { privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg: "ES256", use: "sig" } };
}

function token(privateKey: CryptoKey, kid: string): Promise<string> {
  return new SignJWT({ sub: "alice" })
    .setProtectedHeader({ alg: "ES256", kid })
    .setExpirationTime("5m")
    .sign(privateKey);
}

const VERIFY = { algorithms: ["ES256"] };

/** The `sub` of a verified token's payload. */
function subject(payload: Uint8Array): unknown {
  return (JSON.parse(new TextDecoder().decode(payload)) as { sub?: unknown }).sub;
}

async function refusal(verifying: Promise<unknown>): Promise<unknown> {
  try {
    await verifying;
  } catch (error) {
    return error;
  }
  return assert.fail("expected the token to be refused");
}

function isUnavailable(error: unknown): boolean {
  return error instanceof SyncError && error.status === 503 && error.code === "temporarily_unavailable";
}

describe("the Worker's JWKS keys", () => {
  it("stay in use while their refetch fails, and the endpoint is asked again after a pause", async () => {
    const now = [0];
    const k1 = await signingKey("k1");
    const k2 = await signingKey("k2");
    Object.assign(published, { keys: [k1.jwk], body: undefined, status: 200, fetches: 0 });
    const keys = new SigningKeys(url, () => now[0] ?? 0);
    const signedByK1 = await token(k1.privateKey, "k1");
    assert.equal(subject(await keys.verify(signedByK1, VERIFY)), "alice");

    published.body = "<html>503</html>";
    now[0] = LIFESPAN_MS + 1;
    assert.equal(subject(await keys.verify(signedByK1, VERIFY)), "alice");
    assert.equal(subject(await keys.verify(signedByK1, VERIFY)), "alice");
    assert.equal(published.fetches, 2, "the second token waits out the retry delay");
    const signedByK2 = await token(k2.privateKey, "k2");
    assert.ok(isUnavailable(await refusal(keys.verify(signedByK2, VERIFY))), "k2 cannot be looked up yet");

    now[0] += RETRY_MS;
    published.body = undefined;
    assert.ok((await refusal(keys.verify(signedByK2, VERIFY))) instanceof errors.JWKSNoMatchingKey);
    assert.equal(published.fetches, 3);
  });

  it("answer 503 without another fetch for a while after a first fetch fails", async () => {
    const now = [0];
    const k1 = await signingKey("k1");
    Object.assign(published, { keys: [k1.jwk], body: undefined, status: 502, fetches: 0 });
    const keys = new SigningKeys(url, () => now[0] ?? 0);
    const signed = await token(k1.privateKey, "k1");
    assert.ok(isUnavailable(await refusal(keys.verify(signed, VERIFY))));
    published.status = 200;
    now[0] = RETRY_MS - 1;
    assert.ok(isUnavailable(await refusal(keys.verify(signed, VERIFY))));
    assert.equal(published.fetches, 1);
    now[0] = RETRY_MS;
    assert.equal(subject(await keys.verify(signed, VERIFY)), "alice");
    assert.equal(published.fetches, 2);
  });

  for (const [what, body] of [
    ["not JSON", "<html></html>"],
    ["JSON that is not a key set", '{"keys": {}}'],
    ["a key set without a signing key", '{"keys": [{"kty": "EC", "use": "enc"}]}'],
    ["null", "null"],
  ] as const) {
    it(`answer 503 when the endpoint publishes ${what}`, async () => {
      const k1 = await signingKey("k1");
      Object.assign(published, { keys: [], body, status: 200, fetches: 0 });
      const keys = new SigningKeys(url, () => 0);
      const error = await refusal(keys.verify(await token(k1.privateKey, "k1"), VERIFY));
      assert.ok(isUnavailable(error), String(error));
    });
  }
});
