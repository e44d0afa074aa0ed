// JSON in and out of the engine with integers past 2^53 kept exact (Postgres' bigint keys and values).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { fromWire, toWire } from "../src/protocol/codecs.ts";
import { jsonText, parseJson } from "../src/protocol/json.ts";

const PAST = "9007199254740993"; // 2^53 + 1: JSON.parse makes it 2^53, the key of another row

describe("exact JSON", () => {
  it("parses an integer a double cannot hold as a bigint, and nothing else", () => {
    const text = `{"changes":[{"pk":{"id":${PAST}}},{"pk":{"id":-${PAST}}}],"n":9007199254740991,"f":0.30000000000000004,"s":"${PAST}","e":1e+20}`;
    const parsed = parseJson(text) as { changes: { pk: { id: unknown } }[]; n: unknown; f: unknown; s: unknown; e: unknown };
    assert.deepEqual(
      parsed.changes.map((change) => change.pk.id),
      [BigInt(PAST), -BigInt(PAST)],
    );
    assert.equal(parsed.n, 9007199254740991);
    assert.equal(parsed.f, 0.30000000000000004);
    assert.equal(parsed.s, PAST);
    assert.equal(parsed.e, 1e20);
    assert.deepEqual(parseJson('{"a":[1,2.5,"x"]}'), JSON.parse('{"a":[1,2.5,"x"]}'));
  });

  it("writes a bigint as its digits, in a shallow value and in one nested past JSON.stringify's depth", () => {
    assert.equal(jsonText({ pk: { id: BigInt(PAST) }, values: [1n, "x"] }), `{"pk":{"id":${PAST}},"values":[1,"x"]}`);
    const deep = `${"[".repeat(10_000)}1${"]".repeat(10_000)}`;
    assert.equal(jsonText([BigInt(PAST), JSON.parse(deep)]), `[${PAST},${deep}]`);
    // Too deep for a reviver: parsed as JSON.parse parses it, its long integer rounded, not refused.
    assert.equal(jsonText(parseJson(`[${PAST},${deep}]`)), `[9007199254740992,${deep}]`);
    assert.throws(() => jsonText({ cycle: ((value: Record<string, unknown>) => ((value.self = value), value))({}) }), TypeError);
  });

  it("carries such an integer through the codecs unchanged: an int key, a JSON document", () => {
    const id = BigInt(PAST);
    assert.equal(fromWire("int", id), id);
    assert.equal(toWire("int", id), id);
    const document = `{"ids":[${PAST},1]}`;
    assert.equal(fromWire("json", parseJson(document)), document);
    assert.equal(jsonText(toWire("json", document)), document);
    assert.equal(fromWire("float", BigInt(PAST)), Number(PAST));
  });
});
