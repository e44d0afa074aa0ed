import react from "@vitejs/plugin-react";
import { readdirSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { defineConfig, type Plugin } from "vite";

/** Every file under `dir`, as URL paths from the site's root. */
function filesUnder(dir: string, root = dir): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    return entry.isDirectory() ? filesUnder(path, root) : [`/${relative(root, path).split("\\").join("/")}`];
  });
}

/**
 * Writes precache.json, the list of the build's files that public/sw.js caches on install. It lists
 * the output directory once everything is written, so the worker's chunk and sqlite3.wasm, emitted
 * by nested builds, are in it too.
 */
function precacheList(): Plugin {
  let outDir = "dist";
  return {
    name: "precache-list",
    apply: "build",
    configResolved(config) {
      outDir = config.build.outDir.startsWith("/") ? config.build.outDir : join(config.root, config.build.outDir);
    },
    closeBundle() {
      const files = filesUnder(outDir).filter((file) => file !== "/sw.js" && file !== "/precache.json");
      writeFileSync(join(outDir, "precache.json"), JSON.stringify(files, null, 1));
    },
  };
}

export default defineConfig({
  plugins: [react(), precacheList()],
  // SQLite WASM finds its .wasm file next to its own module; pre-bundling would move the module.
  optimizeDeps: { exclude: ["@sqlite.org/sqlite-wasm"] },
  worker: { format: "es" },
  server: { proxy: { "/sync": "http://127.0.0.1:8787", "/demo": "http://127.0.0.1:8787" } },
});
