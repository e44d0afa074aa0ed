import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { errorAction } from "../src/protocol/errors.ts";

describe("errorAction", () => {
  it("decides by error code first, then by HTTP status", () => {
    assert.equal(errorAction(409, "schema_version_unsupported"), "update");
    assert.equal(errorAction(409, "mutation_gap"), "fail");
    assert.equal(errorAction(401, undefined), "reauthenticate");
    assert.equal(errorAction(403, "client_id_taken"), "reauthenticate");
    assert.equal(errorAction(403, undefined), "fail");
    assert.equal(errorAction(503, "temporarily_unavailable"), "retry");
    assert.equal(errorAction(502, undefined), "retry");
    assert.equal(errorAction(400, "invalid_type"), "fail");
  });
});
