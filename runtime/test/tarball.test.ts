// The package as an app gets it: `npm pack`, the tarball installed into a fresh project with the
// peer dependencies an app adds, every export imported under Node and type-checked by tsc. The
// workspace link (package.test.ts) cannot see what the tarball leaves out: a file outside
// runtime/ (the protocol contract once was) loads through the link and is missing from the pack.
// The build is npm test's pretest. The package's own dependencies come from the registry
// (`--prefer-offline`: npm's cache has them after `npm ci`); the peers are links to the
// workspace's copies, which halves the install on the loaded machine (7 s against 13 s).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";

const RUNTIME = fileURLToPath(new URL("..", import.meta.url));

interface Manifest {
  /** The root's fallbacks for resolvers that predate `exports`. */
  readonly main: string;
  readonly types: string;
  readonly exports: Record<string, { readonly types: string; readonly default: string }>;
  readonly peerDependencies: Record<string, string>;
}
const manifest = JSON.parse(readFileSync(join(RUNTIME, "package.json"), "utf8")) as Manifest;

/** What an app installs beside the package: every peer, and the type packages its imports need. */
const APP_PACKAGES = [...Object.keys(manifest.peerDependencies), "@types/node", "@types/react", "@types/sql.js"];
/** The runtime's own tsc checks the app: installing TypeScript there too would unpack 23 MB more. */
const TSC = fileURLToPath(import.meta.resolve("typescript/bin/tsc"));

/** A `file:` spec for the workspace's installed copy of `name` (npm links it: nothing to unpack). */
function workspaceCopy(name: string): string {
  const folder = [join(RUNTIME, "node_modules", name), join(RUNTIME, "..", "node_modules", name)].find((path) =>
    existsSync(join(path, "package.json")),
  );
  assert.ok(folder, `${name} is not installed in the npm workspace (npm ci at the repository's root)`);
  return `file:${folder}`;
}

function specifier(subpath: string): string {
  return subpath === "." ? "drizzlesync" : `drizzlesync/${subpath.slice(2)}`;
}

function run(command: string, args: readonly string[], cwd: string): string {
  const result = spawnSync(command, args, { cwd, encoding: "utf8" });
  assert.equal(result.status, 0, `${command} ${args.join(" ")} failed:\n${result.stdout}${result.stderr}`);
  return result.stdout;
}

describe("the npm tarball", { timeout: 180_000 }, () => {
  const root = mkdtempSync(join(tmpdir(), "drizzlesync-tarball-"));
  const app = join(root, "app");
  let packed: readonly string[] = [];
  /** Each export's runtime names, as the installed package's modules have them. */
  let names: Record<string, string[]> = {};

  before(() => {
    // --ignore-scripts: prepack would build again, and pretest just did.
    const [pack] = JSON.parse(run("npm", ["pack", "--json", "--ignore-scripts", "--pack-destination", root], RUNTIME)) as [
      { filename: string; files: { path: string }[] },
    ];
    packed = pack.files.map((file) => file.path);
    mkdirSync(app);
    writeFileSync(join(app, "package.json"), JSON.stringify({ name: "app", private: true, type: "module" }));
    const peers = APP_PACKAGES.map(workspaceCopy);
    run("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error", join(root, pack.filename), ...peers], app);
  });

  after(() => {
    rmSync(root, { recursive: true, force: true });
  });

  it("ships every export's code and types, and nothing of test/, bench/ or scripts/", () => {
    const targets: [string, string][] = [
      ["main", manifest.main],
      ["types", manifest.types],
      ...Object.entries(manifest.exports).flatMap(([subpath, target]): [string, string][] => [
        [subpath, target.types],
        [subpath, target.default],
      ]),
    ];
    for (const [entry, file] of targets) assert.ok(packed.includes(file.replace(/^\.\//, "")), `${entry}: ${file} is not packed`);
    assert.deepEqual(
      packed.filter((path) => /^(test|bench|scripts)\//.test(path)),
      [],
    );
  });

  it("imports every export under Node from the installed package", () => {
    // A script inside the app, so that bare specifiers resolve from its node_modules only.
    const specifiers = Object.keys(manifest.exports).map(specifier);
    writeFileSync(
      join(app, "imports.mjs"),
      `const names = {};\nfor (const specifier of ${JSON.stringify(specifiers)}) names[specifier] = Object.keys(await import(specifier));\n` +
        "console.log(JSON.stringify(names));\n",
    );
    names = JSON.parse(run(process.execPath, ["--disable-warning=ExperimentalWarning", "imports.mjs"], app)) as Record<string, string[]>;
    assert.deepEqual(Object.keys(names), specifiers);
  });

  // NodeNext only: Bundler resolution (Vite's) picks the same `types` condition of `exports`, is
  // checked through the workspace link by the example PWA's typecheck, and a second tsc run here
  // cost 7-13 s more on the loaded test machine.
  it("type-checks an import of every export's runtime names with tsc (NodeNext, strict)", () => {
    assert.ok(Object.keys(names).length > 0, "the Node import ran first");
    // An export the JavaScript has and the declarations lack is tsc error TS2305 here.
    const lines = Object.entries(names).map(([from, exported], index) =>
      exported.length === 0
        ? `import ${JSON.stringify(from)};`
        : `export { ${exported.map((name) => `${name} as e${index}_${name}`).join(", ")} } from ${JSON.stringify(from)};`,
    );
    writeFileSync(join(app, "check.ts"), `${lines.join("\n")}\n`);
    writeFileSync(
      join(app, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          module: "NodeNext",
          moduleResolution: "NodeNext",
          target: "ES2022",
          lib: ["ES2022", "DOM"],
          types: ["node"],
          noEmit: true,
          // drizzle-orm's own declarations do not check (they reference mysql2, gel, …).
          skipLibCheck: true,
        },
        files: ["check.ts"],
      }),
    );
    run(process.execPath, [TSC, "-p", "tsconfig.json"], app);
  });
});
