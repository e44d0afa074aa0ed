// Several tabs of one device (pages of one browser context), run by tests/e2e/test_tabs.py.
// Usage: node tabs.mjs <origin> <postgres url>. Exit status 0 means every check held.
import assert from "node:assert/strict";
import pg from "pg";
import { addTodo, launch, openDevice, signIn, todo, waitSynced } from "./app.mjs";

const [origin, postgresUrl] = process.argv.slice(2);
const TIMEOUT_MS = 30_000;

/** Each page's role as the app shows it on its root element, once every page has one. */
async function roles(pages) {
  return Promise.all(
    pages.map(async (page) => {
      const root = page.locator("html[data-sync-role]");
      await root.waitFor({ state: "attached" });
      return root.getAttribute("data-sync-role");
    }),
  );
}

async function onlyLeader(pages) {
  const deadline = Date.now() + TIMEOUT_MS;
  for (;;) {
    const found = await roles(pages);
    const leaders = pages.filter((_, index) => found[index] === "leader");
    if (leaders.length === 1 && found.every((role) => role === "leader" || role === "follower")) return leaders[0];
    if (Date.now() > deadline) assert.fail(`expected exactly one leader, found roles ${found.join(", ")}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/**
 * Shows `shown` again (a visibilitychange event; headless pages are always visible) just after one of
 * the leader's interval pulls ended, and returns how long until the leader's next pull started.
 * The app pulls every 5 s: a pull well within that came from the page being shown.
 */
async function pullAfterShowing(leader, shown) {
  const isPull = (request) => request.method() === "POST" && request.url().endsWith("/sync/pull");
  await leader.waitForEvent("requestfinished", { predicate: isPull, timeout: TIMEOUT_MS });
  const started = Date.now();
  const next = leader.waitForEvent("request", { predicate: isPull, timeout: TIMEOUT_MS });
  await shown.evaluate(() => document.dispatchEvent(new Event("visibilitychange")));
  await next;
  return Date.now() - started;
}

/** The names at the root of the origin's OPFS, where each `opfs-sahpool` pool has its directory. */
async function opfsEntries(page) {
  return page.evaluate(async () => {
    const names = [];
    for await (const name of (await navigator.storage.getDirectory()).keys()) names.push(name);
    return names;
  });
}

async function countsInPostgres(db) {
  const { rows } = await db.query("SELECT title, count(*)::int AS n FROM todos GROUP BY title ORDER BY title");
  return Object.fromEntries(rows.map((row) => [row.title, row.n]));
}

const browser = await launch();
const db = new pg.Client({ connectionString: postgresUrl });
await db.connect();
try {
  const response = await fetch(`${origin}/demo/users`);
  const [ada] = await response.json();
  const first = await openDevice(browser, origin, "tab 1");
  await signIn(first.page, ada.email);
  // Later tabs of the same context find the signed-in user in localStorage.
  const pages = [first.page];
  for (const name of ["tab 2", "tab 3"]) {
    const page = await first.context.newPage();
    page.on("pageerror", (error) => console.error(`[${name}] page error: ${error.message}`));
    await page.goto(origin);
    await page.getByTestId("new-todo").waitFor();
    pages.push(page);
  }
  const leader = await onlyLeader(pages);
  console.log(`leader: tab ${pages.indexOf(leader) + 1}`);

  // A write from every tab shows in every tab (live queries hear the leader) and syncs once.
  for (const [index, page] of pages.entries()) await addTodo(page, `From tab ${index + 1}`);
  for (const page of pages) for (const index of [1, 2, 3]) await todo(page, `From tab ${index}`).waitFor();
  for (const page of pages) await waitSynced(page);
  const synced = await countsInPostgres(db);
  for (const index of [1, 2, 3]) assert.equal(synced[`From tab ${index}`], 1, `From tab ${index} in Postgres once`);

  // A page shown again syncs at once, the leader's own or a follower's (through the leader).
  for (const shown of [leader, pages.find((page) => page !== leader)]) {
    const waited = await pullAfterShowing(leader, shown);
    console.log(`pull ${waited} ms after showing the ${shown === leader ? "leader" : "follower"}`);
    assert.ok(waited < 2_000, `the page shown again pulled after ${waited} ms, as the 5 s interval would`);
  }

  // The handover: a follower writes while offline (the write waits in the leader's outbox), then
  // writes again and the leader tab closes at once, with that write possibly in flight.
  const followers = pages.filter((page) => page !== leader);
  const [writer, other] = followers;
  await first.context.setOffline(true);
  await addTodo(writer, "Pending at the handover");
  await writer.getByTestId("new-todo").fill("Written as the leader closes");
  await writer.getByTestId("new-todo").press("Enter");
  await leader.close();
  await first.context.setOffline(false);
  const next = await onlyLeader(followers);
  console.log(`new leader: tab ${pages.indexOf(next) + 1}`);
  await todo(writer, "Written as the leader closes").waitFor();
  for (const page of followers) await todo(page, "Pending at the handover").waitFor();
  // The new leader syncs: a write after the handover reaches Postgres too.
  await addTodo(other, "After the handover");
  for (const page of followers) await waitSynced(page);
  const after = await countsInPostgres(db);
  for (const title of ["Pending at the handover", "Written as the leader closes", "After the handover"]) {
    assert.equal(after[title], 1, `${title} in Postgres once`);
  }

  // "Sign out and remove data" in a follower deletes the user's database for every tab: each shows
  // the sign-in screen, the user's OPFS pool is gone, and signing in again brings the rows back.
  const asker = followers.find((page) => page !== next);
  const pool = `.drizzlesync-${ada.id}`;
  assert.ok((await opfsEntries(asker)).includes(pool), `${pool} in OPFS before`);
  await asker.getByTestId("remove-data").click();
  for (const page of followers) await page.getByTestId(`sign-in-${ada.email}`).waitFor({ timeout: TIMEOUT_MS });
  assert.ok(!(await opfsEntries(asker)).includes(pool), `${pool} gone from OPFS, found ${(await opfsEntries(asker)).join(", ")}`);
  await signIn(asker, ada.email);
  await todo(asker, "After the handover").waitFor({ timeout: TIMEOUT_MS });
  console.log("tabs: ok");
} finally {
  await db.end();
  await browser.close();
}
