import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";

const manifest = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as {
  exports: Record<string, { types: string; default: string }>;
};

describe("package exports", () => {
  // Through the workspace link, as an app resolves them: the built files must exist and load.
  // The Worker entry is left out: loading it starts serving messages.
  for (const subpath of Object.keys(manifest.exports).filter((path) => path !== "./adapters/wasm-worker")) {
    const specifier = subpath === "." ? "drizzlesync" : `drizzlesync/${subpath.slice(2)}`;
    it(`${specifier} loads from its build`, async () => {
      const module = (await import(specifier)) as Record<string, unknown>;
      assert.ok(Object.keys(module).length > 0);
    });
  }
});
