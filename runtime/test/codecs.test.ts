import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { fromWire, toWire, type WireCodec } from "../src/protocol/codecs.ts";
import { jsonText } from "../src/protocol/json.ts";

describe("wire codecs", () => {
  it("keep null as null both ways for every codec", () => {
    const codecs: WireCodec[] = ["int", "float", "text", "bool", "json", "timestamp", "bytes"];
    for (const codec of codecs) {
      assert.equal(fromWire(codec, null), null, codec);
      assert.equal(toWire(codec, null), null, codec);
    }
  });

  it("float: NaN and infinities travel as strings", () => {
    assert.equal(toWire("float", Infinity), "Infinity");
    assert.equal(toWire("float", -Infinity), "-Infinity");
    assert.equal(toWire("float", 1.5), 1.5);
    assert.equal(fromWire("float", "-Infinity"), -Infinity);
    assert.ok(Number.isNaN(fromWire("float", "NaN")));
  });

  it("text: a string-mode timestamp is stored and sent back as the wire's string, never through a Date", () => {
    // What timestamp_mode = "string" gives timestamp columns: a Date would cut the microseconds, and has no
    // form for years past 9999 or for Postgres' infinity.
    for (const wire of ["2024-02-29T23:59:59.123456+00:00", "2024-02-29T23:59:59", "infinity", "+010000-01-01T00:00:00Z"]) {
      assert.equal(fromWire("text", wire), wire);
      assert.equal(toWire("text", fromWire("text", wire)), wire);
    }
    assert.notEqual(toWire("timestamp", fromWire("timestamp", "2024-02-29T23:59:59.123456+00:00")), "2024-02-29T23:59:59.123456+00:00");
  });

  it("text: a JSON number (numeric) is stored as its text", () => {
    assert.equal(fromWire("text", 1.5), "1.5");
    assert.equal(fromWire("text", "1.50"), "1.50");
  });

  it("bool: stored as 0/1, sent as a boolean", () => {
    assert.equal(fromWire("bool", true), 1);
    assert.equal(fromWire("bool", false), 0);
    assert.equal(toWire("bool", 1), true);
    assert.equal(toWire("bool", 0), false);
  });

  it("json: stored as JSON text", () => {
    assert.equal(fromWire("json", { x: 1, y: [2] }), '{"x":1,"y":[2]}');
    assert.deepEqual(toWire("json", '{"x":1,"y":[2]}'), { x: 1, y: [2] });
  });

  it("json: a value nested 10,000 deep, which Postgres holds, is stored as its text", () => {
    // JSON.stringify threw "Maximum call stack size exceeded" under 5,000 levels: the pulled row
    // failed its page, and every pull and bootstrap after it.
    const depth = 10_000;
    const level = '{"k\u2028":[1.5,"a\\"b",null,true,{},[]],"n":';
    const text = `${level.repeat(depth)}[]${"}".repeat(depth)}`;
    assert.equal(fromWire("json", JSON.parse(text)), text);
  });

  it("jsonText: a request body holding such a value is written as JSON.stringify would, undefined left out", () => {
    // A put carrying a pulled value back made JSON.stringify throw in the transport: reported as a
    // network failure and retried for good, where the host refuses it by its path (nesting_too_deep).
    const deep: unknown = JSON.parse(`${"[".repeat(10_000)}${"]".repeat(10_000)}`);
    const body = { mutations: [{ id: 1, op: "delete", values: undefined }, { id: 2, op: "put", values: { j: deep, u: undefined } }], list: [undefined] };
    const text = jsonText(body);
    const shallow = { ...body, mutations: [body.mutations[0], { id: 2, op: "put", values: { j: [], u: undefined } }] };
    assert.equal(text, JSON.stringify(shallow).replace('"j":[]', `"j":${"[".repeat(10_000)}${"]".repeat(10_000)}`));
  });

  it("timestamp: ISO with offset to epoch ms, and a zoneless one as UTC", () => {
    assert.equal(fromWire("timestamp", "2024-02-29T23:59:59.123+00:00"), Date.UTC(2024, 1, 29, 23, 59, 59, 123));
    assert.equal(fromWire("timestamp", "2024-02-29T23:59:59.123+02:00"), Date.UTC(2024, 1, 29, 21, 59, 59, 123));
    assert.equal(fromWire("timestamp", "2024-02-29T23:59:59.123"), Date.UTC(2024, 1, 29, 23, 59, 59, 123));
    assert.equal(toWire("timestamp", Date.UTC(2024, 1, 29, 23, 59, 59, 123)), "2024-02-29T23:59:59.123Z");
  });

  it("timestamp: years outside 0-9999 in the extended form, ±infinity as the Date extremes, no NaN", () => {
    // Date.UTC reads years 0-99 as 1900-1999; setUTCFullYear takes any year as it is.
    const utc = (year: number, month: number, day: number, ms = 0) =>
      new Date(Date.UTC(2000, month, day, 12, 0, 0, ms)).setUTCFullYear(year);
    for (const [wire, time] of [
      ["+010000-01-01T12:00:00.000Z", utc(10000, 0, 1)],
      ["-000043-03-15T12:00:00.005Z", utc(-43, 2, 15, 5)],
      ["0000-06-01T12:00:00.000Z", utc(0, 5, 1)],
      ["infinity", 8.64e15],
      ["-infinity", -8.64e15],
    ] as const) {
      assert.equal(fromWire("timestamp", wire), time, wire);
      assert.equal(toWire("timestamp", time), wire, wire);
    }
    // Postgres reaches year 294276, a Date +275760: later instants are the latest a Date holds.
    assert.equal(fromWire("timestamp", "+290000-01-01T00:00:00.000Z"), 8.64e15);
  });

  it("send a value queued before a migration changed its column's type, converted where it can be, never throwing", () => {
    // Each once failed every push of the device (JSON.parse, a Date of NaN), or sent a number where
    // the server now takes text, which refused the write.
    assert.equal(toWire("text", 3), "3");
    assert.equal(toWire("text", 2n ** 60n), "1152921504606846976");
    assert.equal(toWire("json", "plain words"), "plain words");
    assert.deepEqual(toWire("json", "[1]"), [1]);
    assert.equal(toWire("timestamp", "2024-05-01"), "2024-05-01");
    assert.equal(toWire("timestamp", Number.NaN), Number.NaN);
    assert.equal(toWire("bool", true), true);
  });

  it("int, float: a number's text queued while the column held text goes as the number", () => {
    // The server takes JSON numbers only: each was refused (invalid_value), "expected an integer, got a string".
    assert.equal(toWire("int", "42"), 42);
    assert.equal(toWire("int", " -7 "), -7);
    assert.equal(toWire("int", "2.5"), "2.5");
    assert.equal(toWire("int", "99999999999999999999"), "99999999999999999999");
    assert.equal(toWire("int", "many"), "many");
    assert.equal(toWire("float", "2.5"), 2.5);
    assert.equal(toWire("float", "-1e-3"), -0.001);
    assert.equal(toWire("float", ".5"), 0.5);
    assert.equal(toWire("float", "NaN"), "NaN");
    assert.equal(toWire("float", "1e400"), "1e400");
    assert.equal(toWire("float", "half"), "half");
  });

  it("bool: a value queued while the column held numbers or text goes as Postgres casts it, or as it is", () => {
    // Each was sent as false, which the server stored without a word.
    assert.equal(toWire("bool", 2), true);
    assert.equal(toWire("bool", 2n), true);
    assert.equal(toWire("bool", 0n), false);
    assert.equal(toWire("bool", "true"), true);
    assert.equal(toWire("bool", " Yes "), true);
    assert.equal(toWire("bool", "t"), true);
    assert.equal(toWire("bool", "off"), false);
    assert.equal(toWire("bool", "maybe"), "maybe");
  });

  it("bytes: Postgres hex to bytes, and bytes or the outbox's upper-case hex back", () => {
    assert.deepEqual(fromWire("bytes", "\\x00ff10"), new Uint8Array([0, 255, 16]));
    assert.deepEqual(fromWire("bytes", "\\x"), new Uint8Array([]));
    assert.equal(toWire("bytes", new Uint8Array([1, 254])), "\\x01fe");
    assert.equal(toWire("bytes", "01FE"), "\\x01fe");
  });
});
