/**
 * Copies the protocol contract (the repository's `protocol/*.json` and `protocol/schemas/*.json`,
 * which the Python host reads too) into `runtime/protocol/`, so that the npm package carries it:
 * `npm pack` takes nothing from outside the package folder and skips symlinks. The sources import
 * `../../protocol/…` from `src/<folder>/`, which is this copy both from `src/` and from `dist/`,
 * in the checkout and in an installed package.
 *
 * The copy is committed (the sources type-check and run without a build step first), so it can
 * go stale: `node scripts/sync-protocol.ts` writes it, `--check` lists what differs and exits 1,
 * and test/protocol-copy.test.ts fails while anything does.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const RUNTIME = join(dirname(fileURLToPath(import.meta.url)), "..");
/** The single source: what both hosts and the Python package read. */
export const SOURCE = join(RUNTIME, "..", "protocol");
/** The package's copy. */
export const COPY = join(RUNTIME, "protocol");
/** The folders copied, as the Python package ships them (`*.json`, `schemas/*.json`). */
const FOLDERS = [".", "schemas"];

/** The JSON files of `root`'s copied folders, as paths relative to it, sorted. */
function jsonFiles(root: string): string[] {
  return FOLDERS.flatMap((folder) => {
    const path = join(root, folder);
    if (!existsSync(path)) return [];
    return readdirSync(path, { withFileTypes: true })
      .filter((entry) => entry.isFile() && entry.name.endsWith(".json"))
      .map((entry) => relative(root, join(path, entry.name)));
  }).sort();
}

/** What differs between the source and the copy, one line a file; empty when they match byte for byte. */
export function drift(): string[] {
  const source = jsonFiles(SOURCE);
  const copy = new Set(jsonFiles(COPY));
  const lines: string[] = [];
  for (const file of source) {
    if (!copy.has(file)) lines.push(`missing: protocol/${file}`);
    else if (!readFileSync(join(SOURCE, file)).equals(readFileSync(join(COPY, file)))) lines.push(`changed: protocol/${file}`);
    copy.delete(file);
  }
  for (const file of copy) lines.push(`extra: runtime/protocol/${file}`);
  return lines;
}

/** Makes the copy match the source: writes every file and removes the JSON files the source no longer has. */
export function sync(): void {
  const source = jsonFiles(SOURCE);
  for (const file of jsonFiles(COPY)) if (!source.includes(file)) rmSync(join(COPY, file));
  for (const file of source) {
    mkdirSync(dirname(join(COPY, file)), { recursive: true });
    writeFileSync(join(COPY, file), readFileSync(join(SOURCE, file)));
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  if (process.argv.includes("--check")) {
    const lines = drift();
    if (lines.length > 0) {
      console.error(`runtime/protocol/ differs from protocol/ (run \`npm run sync-protocol\` in runtime/):\n${lines.join("\n")}`);
      process.exitCode = 1;
    }
  } else {
    sync();
  }
}
