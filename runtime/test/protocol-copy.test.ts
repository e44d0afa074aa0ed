// runtime/protocol/ is a committed copy of the repository's protocol/ (the package must carry the
// contract): a change to protocol/ not copied over fails here rather than shipping a stale contract.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { drift } from "../scripts/sync-protocol.ts";

describe("the package's copy of protocol/", () => {
  it("matches protocol/ byte for byte (else run `npm run sync-protocol` in runtime/)", () => {
    assert.deepEqual(drift(), []);
  });
});
