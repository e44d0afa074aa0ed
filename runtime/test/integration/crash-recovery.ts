/**
 * A device on a node:sqlite database file that SIGKILLs itself at one named point, run by
 * tests/client/test_crash_recovery.py against a real sync host; the next run opens the same file
 * and syncs to the end, as an app opened again after it was killed would.
 *
 * STEP=work: bootstraps, writes (two statements, a two-row client transaction, an update), syncs,
 * then starts one more client transaction; KILL_AT names the point it dies at:
 *   `bootstrap-tx:N`  before the N-th transaction of the bootstrap commits (one page each), once
 *                     the page asked for ahead of it has been answered
 *   `push-sent`       the push has gone out, nothing has come back
 *   `push-answered`   the host applied the push and answered; the answer is not processed
 *   `sync-tx:N`       before the N-th transaction of the sync after the writes commits (the push's
 *                     acknowledgement, then the pull's pages)
 *   `write`           inside the last client transaction, before it commits
 * Each write is reported (`committed`) once it has committed locally.
 * STEP=finish: opens the same file, syncs until nothing is pending, reports the rows.
 */
import { eq } from "drizzle-orm";
import type { SqliteAdapter, TransactionExecutor } from "../../src/adapters/adapter.ts";
import { openNodeSqlite } from "../../src/adapters/node-sqlite.ts";
import type { BootstrapProgress } from "../../src/client/status.ts";
import { openExample, schema } from "../support/example.ts";
import { required } from "../support/env.ts";

const { todos } = schema;
const team = required("TEAM_ID");
const killAt = process.env.KILL_AT ?? "";
let phase = "open";
const reached = new Map<string, number>();

function report(line: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

/** Pull requests answered so far. */
let pullsAnswered = 0;

/**
 * Dies here if this is the point (the n-th time it is reached) that KILL_AT names. Inside the
 * bootstrap's n-th transaction it first waits for the answer to the page asked for ahead (the
 * n+1-th), so that the host has seen a cursor newer than the one the device stores.
 */
async function point(name: string): Promise<void> {
  const n = (reached.get(name) ?? 0) + 1;
  reached.set(name, n);
  if (killAt !== name && killAt !== `${name}:${n}`) return;
  while (name === "bootstrap-tx" && pullsAnswered <= n) await new Promise((resolve) => setTimeout(resolve, 5));
  process.kill(process.pid, "SIGKILL");
}

/** The adapter, with the points before each transaction's commit. */
function withPoints(adapter: SqliteAdapter): SqliteAdapter {
  return {
    execute: (sql, params) => adapter.execute(sql, params),
    batch: (statements) => adapter.batch(statements),
    transaction: (work) =>
      adapter.transaction(async (tx: TransactionExecutor) => {
        const result = await work(tx);
        await point(`${phase}-tx`);
        return result;
      }),
    close: () => adapter.close(),
  };
}

const fetchWithPoints: typeof fetch = async (input, init) => {
  // The engine's transport always passes the URL as a string.
  const push = (input as string).endsWith("/push");
  if (push) await point("push-sent");
  const response = await fetch(input, init);
  const body = await response.text();
  if (push) await point("push-answered");
  else pullsAnswered += 1;
  return new Response(body, { status: response.status, headers: response.headers });
};

const client = await openExample(
  withPoints(openNodeSqlite(required("DB_FILE"))),
  { url: required("SYNC_URL"), getToken: () => required("USER_ID"), fetch: fetchWithPoints },
  // Small pages, one per transaction: the bootstrap is several commits, each a point to die at.
  { pullLimit: 3, pullPagesAhead: 1, pullTransactionRows: 1 },
);
const progress: (BootstrapProgress | null)[] = [];
client.registerListener({ statusChanged: (status) => progress.push(status.bootstrap) });

if (required("STEP") === "work") {
  phase = "bootstrap";
  await client.sync();
  phase = "write";
  const [a, b, c, d, e] = ["a", "b", "c", "d", "e"].map(() => crypto.randomUUID()) as [string, string, string, string, string];
  await client.db.insert(todos).values({ id: a, teamId: team, title: "a" });
  report({ committed: a, title: "a" });
  await client.db.insert(todos).values({ id: b, teamId: team, title: "b" });
  report({ committed: b, title: "b" });
  await client.transaction(async (tx) => {
    await tx.insert(todos).values({ id: c, teamId: team, title: "c" });
    await tx.insert(todos).values({ id: d, teamId: team, title: "d" });
  });
  report({ committed: c, title: "c" });
  report({ committed: d, title: "d" });
  await client.db.update(todos).set({ title: "a2" }).where(eq(todos.id, a));
  report({ committed: a, title: "a2" });
  phase = "sync";
  await client.sync();
  phase = "last";
  report({ started: e, title: "e" });
  await client.transaction(async (tx) => {
    await tx.insert(todos).values({ id: e, teamId: team, title: "e" });
    await point("write");
  });
  report({ committed: e, title: "e" });
  await client.close();
  report({ survived: true });
} else {
  let error: unknown = null;
  for (let attempt = 0; attempt < 10; attempt += 1) {
    try {
      await client.sync();
      error = null;
      if (client.status.pending === 0) break;
    } catch (caught) {
      error = caught;
    }
  }
  const rows = await client.db.select({ id: todos.id, title: todos.title }).from(todos);
  report({
    todos: Object.fromEntries(rows.map((row) => [row.id, row.title])),
    pending: client.status.pending,
    state: client.status.state,
    error: error instanceof Error ? String(error) : error === null ? null : "failed",
    bootstrap: progress.filter((step) => step !== null).at(-1) ?? null,
  });
  await client.close();
}
