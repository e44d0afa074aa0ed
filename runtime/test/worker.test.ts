// The Worker host's request checks, auth and HTTP face, in Node without a database: every
// request here is refused before the one SQL call. The same answers over HTTP from workerd,
// and from the Python host, are tests/conformance's business.
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { SignJWT } from "jose";

import { bearerUserForDevelopment, createSyncHandler, type JwtOptions } from "../src/worker/index.ts";
import { readBody } from "../src/worker/body.ts";
import { literal, pull, statements } from "../src/worker/database.ts";
import { parseJson, parsePull, parsePush, readJson } from "../src/worker/request.ts";
import { DEFAULT_LIMITS } from "../src/worker/limits.ts";

const SECRET = "a-test-secret-of-at-least-thirty-two-bytes";
const ctx = { waitUntil: () => undefined };
const handler = createSyncHandler({
  jwt: { secret: SECRET },
  cors: { origins: ["https://app.example.com"] },
});

function refusal(run: () => unknown): { status: number; code: string; path: string | undefined } {
  try {
    run();
  } catch (error) {
    const { status, code, path } = error as { status: number; code: string; path: string | undefined };
    return { status, code, path };
  }
  assert.fail("expected a refusal");
}

function push(payload: unknown) {
  return refusal(() =>
    parsePush(parseJson(new TextEncoder().encode(JSON.stringify(payload))), DEFAULT_LIMITS),
  );
}

describe("worker request checks", () => {
  it("pass pushed numbers on with the digits the client wrote", () => {
    const body = new TextEncoder().encode(
      '{"protocol": 1, "schemaVersion": 1, "clientId": "a", "mutations": [{"id": 1.0, "tx": 1e0, ' +
        '"table": "t", "op": "put", "pk": {"id": 12345678901234567890}, ' +
        '"values": {"n": 1.00499999999999999999, "m": 1.50, "k": 1e2, "s": "1.0e5", "f": 0.5}}]}',
    );
    const { payload, text } = readJson(body);
    assert.equal(
      parsePush(payload, DEFAULT_LIMITS, text).mutations,
      '[{"id":1,"tx":1,"table":"t","op":"put","pk":{"id":12345678901234567890},' +
        '"values":{"n":1.00499999999999999999,"m":1.50,"k":1e2,"s":"1.0e5","f":0.5}}]',
    );
  });

  it("read mutation ids and tx past 2^53 exactly, up to a bigint", () => {
    // Two delete mutations with these ids and tx, written as JSON numbers.
    const body = ([firstId, secondId]: [string, string], [firstTx, secondTx]: [string, string]) => {
      const mutation = (id: string, tx: string) => `{"id": ${id}, "tx": ${tx}, "table": "t", "op": "delete", "pk": {"id": 1}}`;
      return readJson(
        new TextEncoder().encode(
          `{"protocol": 1, "schemaVersion": 1, "clientId": "a", "mutations": [${mutation(firstId, firstTx)}, ${mutation(secondId, secondTx)}]}`,
        ),
      );
    };
    // Two ids one apart that are one double: both reach the database as written.
    const { payload, text } = body(["9007199254740992", "9007199254740993"], ["9007199254740992", "9007199254740993"]);
    assert.equal(
      parsePush(payload, DEFAULT_LIMITS, text).mutations,
      '[{"id":9007199254740992,"tx":9007199254740992,"table":"t","op":"delete","pk":{"id":1}},' +
        '{"id":9007199254740993,"tx":9007199254740993,"table":"t","op":"delete","pk":{"id":1}}]',
    );
    const last = body(["9223372036854775806", "9223372036854775807"], ["1", "2"]);
    assert.match(parsePush(last.payload, DEFAULT_LIMITS, last.text).mutations, /"id":9223372036854775807,/);
    const refuse = (ids: [string, string]) => {
      const { payload: request, text: written } = body(ids, ["1", "2"]);
      return refusal(() => parsePush(request, DEFAULT_LIMITS, written));
    };
    // 2^63 is the schema's maximum as a double; exactly, it is one past the last id.
    assert.deepEqual(refuse(["1", "9223372036854775808"]), { status: 400, code: "out_of_range", path: "mutations[1].id" });
    assert.deepEqual(refuse(["9007199254740993", "9007199254740992"]), {
      status: 400,
      code: "unordered_mutation_ids",
      path: "mutations[1].id",
    });
    assert.deepEqual(refuse(["9007199254740993", "9007199254740993"]), {
      status: 400,
      code: "duplicate_mutation_id",
      path: "mutations[1].id",
    });
  });

  // The answers of the Python host's contract checks for the same bodies.
  it("name the first violation as the Python host does", () => {
    const header = { protocol: 1, schemaVersion: 1, clientId: "a" };
    assert.deepEqual(push({ ...header, clientId: "", mutations: [] }), {
      status: 400,
      code: "out_of_range",
      path: "clientId",
    });
    assert.deepEqual(push({ ...header, mutations: [{ id: 1, extra: 1, op: "put" }] }), {
      status: 400,
      code: "missing_field",
      path: "mutations[0].tx",
    });
    assert.deepEqual(
      push({ ...header, mutations: [{ zz: 1, id: 1, tx: 1, table: "t", op: "put", pk: { a: 1 }, aa: 2 }] }),
      {
        status: 400,
        code: "unknown_field",
        path: "mutations[0].zz",
      },
    );
    assert.deepEqual(push({ zz: 1, protocol: 1 }), {
      status: 400,
      code: "missing_field",
      path: "schemaVersion",
    });
    assert.deepEqual(push({ ...header, schemaVersion: 1.5, mutations: [] }), {
      status: 400,
      code: "invalid_type",
      path: "schemaVersion",
    });
    assert.deepEqual(
      push({ ...header, schemaVersion: 0, mutations: [{ id: 1, tx: 1, table: "t", op: "x", pk: {} }] }),
      {
        status: 400,
        code: "invalid_op",
        path: "mutations[0].op",
      },
    );
    assert.deepEqual(
      push({ ...header, mutations: [{ id: 1, tx: "", table: "t", op: "put", pk: { a: [] }, values: {} }] }),
      {
        status: 400,
        code: "invalid_pk",
        path: "mutations[0].pk.a",
      },
    );
    assert.deepEqual(push({ ...header, protocol: 2, bad: 1 }), {
      status: 400,
      code: "protocol_unsupported",
      path: "protocol",
    });
  });

  it("check what a schema cannot say", () => {
    const mutation = { id: 1, tx: 1, table: "todos", op: "delete", pk: { id: "x" } };
    const header = { protocol: 1, schemaVersion: 1, clientId: "a" };
    assert.deepEqual(
      push({ ...header, mutations: [mutation, { ...mutation, id: 2, tx: 2 }, { ...mutation, id: 3 }] }),
      {
        status: 400,
        code: "tx_not_contiguous",
        path: "mutations[2].tx",
      },
    );
    assert.deepEqual(push({ ...header, mutations: [{ ...mutation, id: 2 }, mutation] }), {
      status: 400,
      code: "unordered_mutation_ids",
      path: "mutations[1].id",
    });
    assert.deepEqual(push({ ...header, mutations: [{ ...mutation, id: 2 ** 60 }] }), {
      status: 400,
      code: "out_of_range",
      path: "mutations[0].id",
    });
    assert.deepEqual(push({ ...header, mutations: Array.from({ length: DEFAULT_LIMITS.maxMutations + 1 }, () => mutation) }), {
      status: 413,
      code: "batch_too_large",
      path: "mutations",
    });
    const text = (body: string) => refusal(() => parseJson(new TextEncoder().encode(body)));
    assert.equal(text('{"a": 1e999}').code, "invalid_number");
    assert.deepEqual(text('{"a": [1, -Infinity]}'), { status: 400, code: "invalid_number", path: "a[1]" });
    assert.deepEqual(text('{"a": NaN}'), { status: 400, code: "invalid_number", path: "a" });
    assert.equal(text('{"a": -NaN}').code, "malformed_json");
    assert.equal(text('{"a": "NaN", "b": NaNa}').code, "malformed_json");
    assert.deepEqual(text('{"a": {"b\\u0000": 1}}'), { status: 400, code: "invalid_string", path: "a" });
    assert.equal(text('{"a": "\\ud800"}').code, "invalid_string");
    assert.equal(text("[".repeat(100_000)).code, "malformed_json");
    // A whole number past a double's range is finite, and exact in a numeric column; a decimal one is not kept.
    assert.deepEqual(parseJson(new TextEncoder().encode(`{"a": -1${"0".repeat(400)}}`)), { a: -Infinity });
    assert.deepEqual(text(`{"a": 1.5${"0".repeat(400)}e400}`), { status: 400, code: "invalid_number", path: "a" });
    const pull = refusal(() =>
      parsePull({ protocol: 1, schemaVersion: 1, clientId: "a", limit: DEFAULT_LIMITS.maxChanges + 1 }, DEFAULT_LIMITS),
    );
    assert.deepEqual(pull, { status: 400, code: "out_of_range", path: "limit" });
  });

  it("refuse a body nested past 512 levels at the first array past them, in time that grows with its size", () => {
    // A path copied at every level made this body nested 50,000 deep (100 KB) cost 3 s of CPU, and
    // one 200,000 deep a minute; the walk now stops 513 levels down, and names that level's array.
    const depth = 50_000;
    const deep = `{"a": ${"[".repeat(depth)}1e999${"]".repeat(depth)}}`;
    const started = performance.now();
    const refused = refusal(() => parseJson(new TextEncoder().encode(deep)));
    const elapsed = performance.now() - started;
    assert.equal(refused.code, "nesting_too_deep");
    assert.equal(refused.path, `a${"[0]".repeat(511)}`);
    assert.ok(elapsed < 1_000, `${Math.round(elapsed)} ms`);
    // Up to the limit, what lies deepest is still checked.
    const limit = `{"a": ${"[".repeat(511)}1e999${"]".repeat(511)}}`;
    const deepest = refusal(() => parseJson(new TextEncoder().encode(limit)));
    assert.deepEqual([deepest.code, deepest.path], ["invalid_number", `a${"[0]".repeat(511)}`]);
  });

  it("stop reading a streamed body past the limit", async () => {
    const chunks = new ReadableStream<Uint8Array>({
      pull(controller) {
        controller.enqueue(new Uint8Array(1000));
      },
    });
    const request = new Request("https://sync.example.com/push", {
      method: "POST",
      body: chunks,
      duplex: "half",
    } as RequestInit);
    await assert.rejects(readBody(request, 10_000), { code: "request_too_large" });
  });

  it("refuse a body that breaks off before its end as a bad request, not a failure of the host", async () => {
    let sent = false;
    const broken = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent) {
          controller.error(new Error("Network connection lost."));
        } else {
          sent = true;
          controller.enqueue(new TextEncoder().encode('{"protocol": 1, "schemaVersion"'));
        }
      },
    });
    const request = new Request("https://sync.example.com/push", { method: "POST", body: broken, duplex: "half" } as RequestInit);
    await assert.rejects(readBody(request, 10_000), { status: 400, code: "malformed_json" });
  });
});

async function post(init: RequestInit & { path?: string }): Promise<Response> {
  return handler.fetch(
    new Request(`https://sync.example.com/api/sync${init.path ?? "/pull"}`, { method: "POST", ...init }),
    {},
    ctx,
  );
}

async function token(claims: Record<string, unknown>, secret = SECRET): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: "HS256" }).sign(new TextEncoder().encode(secret));
}

describe("development auth", () => {
  it("trusts Bearer <user id> and nothing else", () => {
    const identity = (authorization?: string) =>
      bearerUserForDevelopment(
        new Request("https://sync.example.com/push", authorization === undefined ? {} : { headers: { authorization } }),
      );
    assert.deepEqual(identity("Bearer user-1"), { userId: "user-1", claims: {} });
    assert.deepEqual(identity("bearer  user-2 "), { userId: "user-2", claims: {} });
    for (const refused of [undefined, "", "Bearer", "Bearer   ", "Basic user-1", "Bearer\tuser-1"]) {
      assert.equal(identity(refused), null, `${JSON.stringify(refused)} should not sign anyone in`);
    }
  });
});

describe("JWT options", () => {
  it("are refused when the handler is made: keys and algorithms that do not fit, an empty secret, a leeway past 300 s", () => {
    const made = (jwt: JwtOptions) => () => createSyncHandler({ jwt });
    assert.throws(made({ secret: SECRET, jwksUrl: "https://keys.example.com" }), /exactly one of secret/);
    assert.throws(made({ secret: SECRET, algorithms: ["RS256"] }), /RS256 cannot be used with secret/);
    assert.throws(made({ secret: "" }), /jwt.secret: empty/);
    assert.throws(made({ secret: SECRET, leewaySeconds: 301 }), /leewaySeconds: expected 0 to 300/);
    assert.throws(made({ secret: SECRET, leewaySeconds: Number.NaN }), /leewaySeconds/);
    assert.doesNotThrow(made({ secret: SECRET, leewaySeconds: 300 }));
  });
});

describe("worker HTTP face", () => {
  it("answers each token failure with its code", async () => {
    const now = Math.floor(Date.now() / 1000);
    const cases: [string | undefined, string][] = [
      [undefined, "token_missing"],
      ["Bearer x.y", "token_malformed"],
      [
        `Bearer ${await token({ sub: "u", exp: now + 60 }, "another-secret-of-at-least-thirty-two-bytes")}`,
        "token_invalid_signature",
      ],
      [`Bearer ${await token({ sub: "u", exp: now - 120 })}`, "token_expired"],
      [`Bearer ${await token({ sub: "u", exp: now + 60, nbf: now + 120 })}`, "token_not_yet_valid"],
      [`Bearer ${await token({ sub: "u" })}`, "token_missing_claim"],
    ];
    for (const [authorization, code] of cases) {
      const response = await post(authorization === undefined ? {} : { headers: { authorization } });
      assert.equal(response.status, 401, code);
      assert.equal(((await response.json()) as { error: { code: string } }).error.code, code);
    }
  });

  it("reads only JSON bodies, after the identity", async () => {
    const authorization = `Bearer ${await token({ sub: "u", exp: Math.floor(Date.now() / 1000) + 60 })}`;
    const response = await post({ headers: { authorization, "content-type": "text/plain" }, body: "{}" });
    assert.equal(response.status, 415);
    assert.equal((await post({ headers: { "content-type": "text/plain" }, body: "{}" })).status, 401);
  });

  it("routes …/push and …/pull, POST only, with CORS for listed origins", async () => {
    assert.equal((await post({ path: "/elsewhere" })).status, 404);
    assert.equal((await post({ method: "GET" })).status, 405);
    const preflight = await post({
      method: "OPTIONS",
      headers: { origin: "https://app.example.com", "access-control-request-method": "POST" },
    });
    assert.equal(preflight.status, 200);
    assert.equal(preflight.headers.get("access-control-allow-origin"), "https://app.example.com");
    const stranger = await post({
      method: "OPTIONS",
      headers: { origin: "https://evil.example", "access-control-request-method": "POST" },
    });
    assert.equal(stranger.headers.get("access-control-allow-origin"), null);
  });
});

describe("worker SQL text", () => {
  it("writes values as literals that read back as sent, whatever the server's string syntax", () => {
    assert.equal(literal("plain"), "'plain'");
    assert.equal(literal("it's"), "'it''s'");
    // A backslash: an E'' literal, its backslashes doubled (standard_conforming_strings on or off).
    assert.equal(literal("a\\b"), "E'a\\\\b'");
    assert.equal(literal("\\' OR 1=1 --"), "E'\\\\'' OR 1=1 --'");
    assert.equal(literal("$$ ünï 😀"), "'$$ ünï 😀'");
    assert.equal(refusal(() => literal("a\u0000b")).code, "invalid_string");
  });

  it("sends a pull as one transaction of one call, and a push as one statement", () => {
    const text = statements({ librarySchema: "sync_lib" });
    const identity = { userId: "u'1", claims: { role: "it's" } };
    assert.equal(
      text.pull(identity, { schemaVersion: 3, clientId: "c", cursor: null, limit: 50 }),
      "BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT CAST(sync_lib.pull(CAST('u''1' AS text), " +
        "CAST('{\"role\":\"it''s\"}' AS jsonb), CAST('c' AS text), CAST(3 AS integer), " +
        "CAST(NULL AS text), CAST(50 AS integer)) AS text) AS result; COMMIT",
    );
    assert.equal(
      text.push(identity, { schemaVersion: 3, clientId: "c", mutations: "[]" }),
      "SELECT CAST(sync_lib.push(CAST('u''1' AS text), CAST('{\"role\":\"it''s\"}' AS jsonb), " +
        "CAST('c' AS text), CAST(3 AS integer), CAST('[]' AS jsonb)) AS text) AS result",
    );
  });
});

describe("worker database errors", () => {
  it("logs a 503's cause, as the Python host does: the client retries it without a word", async (t) => {
    const warn = t.mock.method(console, "warn", () => undefined);
    // Nothing listens there: postgres.js's ECONNREFUSED, as a database that went away.
    const binding = { connectionString: "postgres://sync:pw@127.0.0.1:18399/app" };
    const identity = { userId: "alice-secret-id", claims: {} };
    const call = { schemaVersion: 1, clientId: "c", cursor: null, limit: 10 };
    const error = await pull(binding, () => undefined, statements({}), identity, call).then(
      () => assert.fail("expected a refusal"),
      (refused: unknown) => refused as { status: number; code: string },
    );
    assert.deepEqual([error.status, error.code], [503, "temporarily_unavailable"]);
    const logged = warn.mock.calls.map((c) => String(c.arguments[0]));
    assert.equal(logged.length, 1);
    assert.match(logged[0] ?? "", /^drizzlesync: answered 503, retry later: .*ECONNREFUSED/);
    assert.ok(!(logged[0] ?? "").includes("alice-secret-id"));
  });
});
